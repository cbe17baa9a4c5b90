// Tests for notification preferences: quiet hours in the user's time zone (ranges across midnight), channel switches, and the upsert that keeps old values.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { storeFactories } from '../../test/support/stores.ts';
import type { Store } from '../store/store.ts';
import { blockedBy, createPreferenceStore, inQuietHours, minutesInZone } from './preferences.ts';

describe('quiet hours', () => {
  const at = new Date('2026-01-15T21:30:00Z'); // 22:30 in Berlin (CET)
  it('reads the time in the user\'s IANA zone', () => {
    assert.equal(minutesInZone(at, 'Europe/Berlin'), 22 * 60 + 30);
    assert.equal(minutesInZone(at, 'UTC'), 21 * 60 + 30);
    assert.equal(minutesInZone(at, 'Not/AZone'), 22 * 60 + 30, 'an unknown zone falls back to Europe/Berlin');
  });
  it('a range whose end is before its start spans midnight', () => {
    assert.equal(inQuietHours({ start: '22:00', end: '07:00', timezone: 'Europe/Berlin', at }), true);
    assert.equal(inQuietHours({ start: '22:00', end: '07:00', timezone: 'UTC', at }), false);
    assert.equal(inQuietHours({ start: '23:00', end: '07:00', timezone: 'Europe/Berlin', at }), false);
  });
  it('a same-day range is [start, end)', () => {
    assert.equal(inQuietHours({ start: '21:30', end: '22:00', timezone: 'UTC', at }), true);
    assert.equal(inQuietHours({ start: '21:00', end: '21:30', timezone: 'UTC', at }), false);
    assert.equal(inQuietHours({ start: '10:00', end: '10:00', timezone: 'UTC', at }), false);
  });
});

describe('blockedBy', () => {
  const row = { user_id: 'u', email_enabled: 1, push_enabled: 1, quiet_hours_enabled: 0, quiet_hours_start: null, quiet_hours_end: null, timezone: 'UTC', category_preferences: null, created_at: 0, updated_at: 0 };
  const at = new Date('2026-01-15T03:00:00Z');
  it('no row means send; switches and quiet hours give the original reasons', () => {
    assert.equal(blockedBy(undefined, 'email', at), undefined);
    assert.equal(blockedBy(row, 'email', at), undefined);
    assert.equal(blockedBy({ ...row, email_enabled: 0 }, 'email', at), 'email notifications disabled by user');
    assert.equal(blockedBy({ ...row, email_enabled: 0 }, 'webhook', at), undefined);
    assert.equal(blockedBy({ ...row, push_enabled: 0 }, 'push', at), 'push notifications disabled by user');
    assert.equal(blockedBy({ ...row, quiet_hours_enabled: 1, quiet_hours_start: '22:00', quiet_hours_end: '06:00' }, 'email', at), 'quiet hours active');
  });
});

for (const factory of storeFactories()) {
  describe(`preference store (${factory.name})`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, cleanup } = await factory.open());
    });
    after(() => cleanup());
    it('put creates with the original defaults and later puts keep fields they do not name', async () => {
      const p = createPreferenceStore({ store });
      await p.put('u1', { quietHoursStart: '22:00' });
      let row = (await p.get('u1'))!;
      assert.equal(Boolean(row.email_enabled), false);
      assert.equal(Boolean(row.push_enabled), true);
      assert.equal(row.timezone, 'Europe/Berlin');
      await p.put('u1', { emailEnabled: true, categoryPreferences: { calendar: { reminders: true } } });
      row = (await p.get('u1'))!;
      assert.equal(Boolean(row.email_enabled), true);
      assert.equal(row.quiet_hours_start, '22:00');
      assert.deepEqual(JSON.parse(row.category_preferences!), { calendar: { reminders: true } });
    });
  });
}
