// Tests for delivery events from the mail server: HMAC-SHA256 signature (RFC 2104) over the raw body, matching by Message-ID (RFC 5322 §3.6.4), status rules, once per event id.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { storeFactories } from '../../test/support/stores.ts';
import { silentLogger } from '../lib/log.ts';
import type { Store } from '../store/store.ts';
import { applyMailEvent, mailEventSchema, normaliseMessageId, verifySignature } from './mail-events.ts';
import { createQueue } from './queue.ts';

describe('verifySignature', () => {
  const raw = Buffer.from('{"id":"1"}');
  const good = `sha256=${createHmac('sha256', 's3cret').update(raw).digest('hex')}`;
  it('accepts only sha256=<hex HMAC of the exact body>', () => {
    assert.equal(verifySignature('s3cret', raw, good), true);
    assert.equal(verifySignature('s3cret', raw, good.toUpperCase().replace('SHA256', 'sha256')), true);
    assert.equal(verifySignature('other', raw, good), false);
    assert.equal(verifySignature('s3cret', Buffer.from('{"id":"2"}'), good), false);
    assert.equal(verifySignature('s3cret', raw, undefined), false);
    assert.equal(verifySignature('s3cret', raw, good.slice(7)), false);
    assert.equal(verifySignature('s3cret', raw, 'sha256=abc'), false);
  });
  it('normalises a Message-ID to its bracketed form', () => {
    assert.equal(normaliseMessageId(' <a@b> '), '<a@b>');
    assert.equal(normaliseMessageId('a@b'), '<a@b>');
  });
});

const [sqlite] = storeFactories();

describe('applyMailEvent', () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ store, cleanup } = await sqlite!.open());
  });
  after(() => cleanup());

  async function sentNotification(messageId: string): Promise<string> {
    const q = createQueue({ store });
    const { id } = await q.insert({ appId: 'a', channel: 'email', recipient: 'r@example.org' });
    await store.run("UPDATE notify_notifications SET status = 'sent', smtp_message_id = ? WHERE id = ?", [messageId, id]);
    return id;
  }
  let seq = 0;
  const event = (type: string, messageId: string, data: Record<string, unknown> = {}) =>
    mailEventSchema.parse({ id: `e${++seq}`, type, queueId: 'Q', messageId, recipient: 'r@example.org', at: '2026-01-01T00:00:00Z', data });
  const apply = (e: ReturnType<typeof event>) => applyMailEvent({ store, event: e, log: silentLogger() });
  const status = async (id: string) => (await store.get<{ status: string; delivered_at: number | null; error_message: string | null }>('SELECT status, delivered_at, error_message FROM notify_notifications WHERE id = ?', [id]))!;

  it('delivered and captured mean delivered, with the event time as delivered_at', async () => {
    const a = await sentNotification('<a@x>');
    assert.equal((await apply(event('captured', '<a@x>'))).status, 'delivered');
    assert.equal(Number((await status(a)).delivered_at), Date.parse('2026-01-01T00:00:00Z'));
  });
  it('failed, expired and bounced mean bounced; a late bounce overrides delivered; delivered never undoes a bounce', async () => {
    for (const type of ['failed', 'expired', 'bounced']) {
      const id = await sentNotification(`<${type}@x>`);
      await apply(event(type, `<${type}@x>`, { reply: '550 5.1.1 gone' }));
      assert.equal((await status(id)).status, 'bounced');
      assert.equal((await status(id)).error_message, '550 5.1.1 gone');
    }
    const late = await sentNotification('<late@x>');
    await apply(event('delivered', '<late@x>'));
    await apply(event('bounced', '<late@x>'));
    assert.equal((await status(late)).status, 'bounced');
    await apply(event('delivered', '<late@x>'));
    assert.equal((await status(late)).status, 'bounced');
  });
  it('deferred and progress events only go into the log', async () => {
    const id = await sentNotification('<d@x>');
    for (const type of ['received', 'queued', 'signed', 'attempt', 'deferred']) await apply(event(type, '<d@x>'));
    assert.equal((await status(id)).status, 'sent');
    const logs = await store.all<{ event: string; success: number }>('SELECT event, success FROM notify_delivery_logs WHERE notification_id = ? ORDER BY id', [id]);
    assert.deepEqual(logs.map((l) => l.event), ['received', 'queued', 'signed', 'attempt', 'deferred']);
    assert.equal(Number(logs.at(-1)!.success), 0);
  });
  it('the same event id is applied once', async () => {
    const id = await sentNotification('<once@x>');
    const e = event('deferred', '<once@x>');
    assert.equal((await apply(e)).duplicate, false);
    assert.equal((await apply(e)).duplicate, true);
    const n = await store.get<{ n: number }>('SELECT COUNT(*) AS n FROM notify_delivery_logs WHERE notification_id = ?', [id]);
    assert.equal(Number(n!.n), 1);
  });
});
