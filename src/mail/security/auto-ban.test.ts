// Auto-ban rules: counting in a window, thresholds per kind, exempt networks, the scan-ban switch, expiry and lifting, bans kept in the store.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Store } from '../../store/store.ts';
import { storeFactories } from '../../../test/support/stores.ts';
import { silentLogger } from '../../lib/log.ts';
import { createAutoBan, isLoopback, type AutoBanOptions } from './auto-ban.ts';
import { activeBan } from './bans.ts';

const LIMITS: AutoBanOptions['limits'] = {
  banLoopback: false,
  banDuration: 600,
  authFailures: { count: 3, window: 60 },
  relayAttempts: { count: 2, window: 60 },
  protocolErrors: { count: 4, window: 60 },
};

for (const factory of storeFactories()) describe(`auto-ban (${factory.name})`, () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  let clock = 1_000_000;
  const make = (o: Partial<AutoBanOptions> = {}) =>
    createAutoBan({ store, log: silentLogger(), allowedIp: ['172.18.0.0/16'], scanBan: true, limits: LIMITS, now: () => clock, ...o });

  before(async () => {
    ({ store, cleanup } = await factory.open());
  });
  after(async () => cleanup());

  const refused = async (ban: ReturnType<typeof make>, ip: string) => {
    try {
      await ban.onConnect(ip);
      return undefined;
    } catch (err) {
      return err as Error & { responseCode?: number };
    }
  };

  it('the failed AUTH that reaches the threshold bans the address; the next connection gets 421 (RFC 5321 §3.8)', async () => {
    const ban = make();
    ban.onAuthFailure('203.0.113.1');
    ban.onAuthFailure('203.0.113.1');
    assert.equal(await refused(ban, '203.0.113.1'), undefined, 'below the threshold');
    ban.onAuthFailure('203.0.113.1');
    const err = await refused(ban, '203.0.113.1');
    assert.equal(err?.responseCode, 421);
    assert.match(err!.message, /^4\.7\.0 /);
    assert.equal((await ban.list()).find((b) => b.ip === '203.0.113.1')?.reason, 'auth');
  });

  it('events older than the window do not count', async () => {
    const ban = make();
    ban.onAuthFailure('203.0.113.2');
    ban.onAuthFailure('203.0.113.2');
    clock += 61_000;
    ban.onAuthFailure('203.0.113.2');
    await ban.idle();
    assert.equal(await activeBan(store, '203.0.113.2', clock), undefined);
  });

  it('relay attempts have their own threshold', async () => {
    const ban = make();
    ban.onRelayDenied('203.0.113.3');
    ban.onRelayDenied('203.0.113.3');
    assert.equal((await ban.banOf('203.0.113.3'))?.reason, 'relay');
  });

  it('protocol errors count only while scan-ban is on (the seed\'s analysis.scan-ban switch)', async () => {
    const off = make({ scanBan: false });
    for (let i = 0; i < 10; i++) off.onProtocolError('203.0.113.4');
    await off.idle();
    assert.equal(await off.banOf('203.0.113.4'), undefined);
    const on = make();
    for (let i = 0; i < 4; i++) on.onProtocolError('203.0.113.4');
    assert.equal((await on.banOf('203.0.113.4'))?.reason, 'protocol');
  });

  it('allowed-ip networks are never banned', async () => {
    const ban = make();
    for (let i = 0; i < 20; i++) ban.onAuthFailure('172.18.0.5');
    await ban.idle();
    assert.equal(await activeBan(store, '172.18.0.5', clock), undefined);
    await ban.ban('172.18.0.6');
    assert.equal(await refused(ban, '172.18.0.6'), undefined, 'a ban by hand of an allowed address is not enforced');
  });

  it('loopback is never banned unless banLoopback is set', async () => {
    assert.ok(isLoopback('127.0.0.1') && isLoopback('127.9.9.9') && isLoopback('::1') && isLoopback('::ffff:127.0.0.1'));
    assert.ok(!isLoopback('128.0.0.1'));
    const exempt = make();
    for (let i = 0; i < 20; i++) exempt.onAuthFailure('127.0.0.2');
    await exempt.idle();
    assert.equal(await activeBan(store, '127.0.0.2', clock), undefined);
    const strict = make({ limits: { ...LIMITS, banLoopback: true } });
    for (let i = 0; i < 3; i++) strict.onAuthFailure('127.0.0.2');
    assert.equal((await refused(strict, '127.0.0.2'))?.responseCode, 421);
    await strict.unban('127.0.0.2');
  });

  it('IPv4-mapped IPv6 addresses are the same address', async () => {
    const ban = make();
    for (let i = 0; i < 3; i++) ban.onAuthFailure('::ffff:198.51.100.7');
    assert.equal((await refused(ban, '198.51.100.7'))?.responseCode, 421);
  });

  it('a ban ends when it expires', async () => {
    const ban = make();
    for (let i = 0; i < 3; i++) ban.onAuthFailure('198.51.100.8');
    assert.ok(await refused(ban, '198.51.100.8'));
    clock += 601_000;
    assert.equal(await refused(ban, '198.51.100.8'), undefined);
  });

  it('a ban is in the store: another node (another instance) refuses the address too, and an unban lifts it for all', async () => {
    const a = make();
    const b = make();
    for (let i = 0; i < 3; i++) a.onAuthFailure('198.51.100.9');
    await a.idle();
    assert.equal((await refused(b, '198.51.100.9'))?.responseCode, 421);
    assert.equal(await b.unban('198.51.100.9'), true);
    assert.equal(await refused(a, '198.51.100.9'), undefined);
    assert.equal(await b.unban('198.51.100.9'), false, 'nothing left to lift');
  });

  it('banDuration 0 bans until lifted', async () => {
    const ban = make({ limits: { ...LIMITS, banDuration: 0 } });
    for (let i = 0; i < 3; i++) ban.onAuthFailure('198.51.100.10');
    const b = await ban.banOf('198.51.100.10');
    assert.equal(b?.expiresAt, null);
    clock += 365 * 86400_000;
    assert.ok(await refused(ban, '198.51.100.10'));
  });
});
