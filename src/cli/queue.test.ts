// `mana queue` and `mana captured`: the durable queue's messages, retry and cancel (RFC 5321 §4.5.4), and the capture mailbox.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestContext, type TestContext } from '../../test/support/context.ts';
import { createQueue } from '../mail/queue/queue.ts';
import { createCommitBatcher } from '../store/batch.ts';
import { createEvents } from '../mail/events.ts';
import { silentLogger } from '../lib/log.ts';
import { storeInMailbox, CAPTURE_MAILBOX } from '../mail/mailbox.ts';
import { run as queue } from './queue.ts';
import { run as captured } from './captured.ts';
import type { CliIo } from './args.ts';

describe('mana queue / mana captured', () => {
  let t: TestContext;
  const out: string[] = [];
  const err: string[] = [];
  let io: CliIo;
  let id: string;
  const reset = () => { out.length = 0; err.length = 0; };

  before(async () => {
    t = await makeTestContext();
    io = { config: t.ctx.config, store: t.ctx.store, out: (s) => out.push(s), err: (s) => err.push(s) };
    const store = t.ctx.store;
    const q = createQueue({ store, batcher: createCommitBatcher(store), events: createEvents({ log: silentLogger(), subscribers: [] }), retrySchedule: [60], expireAfterMs: 86400_000, delayNoticeAfterMs: 3600_000, leaseMs: 60_000 });
    id = await q.enqueue({ mailFrom: 'noreply@mana.test', recipients: [{ address: 'a@example.org' }, { address: 'b@example.org' }], raw: Buffer.from('Subject: hi\r\n\r\nbody\r\n'), source: 'api' });
    await storeInMailbox(store, { mailbox: CAPTURE_MAILBOX, queueId: id, mailFrom: 'noreply@mana.test', rcpt: 'a@example.org', raw: Buffer.from('Subject: Verify your account\r\n\r\nclick\r\n') });
  });
  after(async () => t.cleanup());

  it('queue list shows waiting messages and their recipients', async () => {
    reset();
    assert.equal(await queue(['list'], io), 0);
    assert.match(out.join('\n'), new RegExp(`^${id}\\s+\\S+\\s+noreply@mana\\.test\\s+a@example\\.org \\(queued\\), b@example\\.org \\(queued\\)$`, 'm'));
    assert.match(out.join('\n'), /^1 of 1$/m);
  });

  it('queue show prints recipients and the timeline', async () => {
    reset();
    assert.equal(await queue(['show', id], io), 0);
    assert.match(out.join('\n'), /^a@example\.org\s+queued\s+0\s/m);
    assert.match(out.join('\n'), /\sreceived\s/);
  });

  it('queue retry makes the recipients due; cancel stops them; both land in the timeline', async () => {
    reset();
    assert.equal(await queue(['retry', id], io), 0);
    assert.match(out.join('\n'), /retrying 2 recipient/);
    assert.equal(await queue(['cancel', id], io), 0);
    assert.match(out.join('\n'), /cancelled 2 recipient/);
    reset();
    assert.equal(await queue(['cancel', id], io), 0);
    assert.match(out.join('\n'), /has no recipient waiting/);
    const types = (await t.ctx.store.all<{ type: string }>('SELECT type FROM mail_events WHERE message_id = ? ORDER BY id', [id])).map((r) => r.type);
    assert.ok(types.includes('retry') && types.includes('cancelled'), types.join(','));
    reset();
    assert.equal(await queue(['list'], io), 0);
    assert.match(out.join('\n'), /^0 of 0$/m);
    assert.equal(await queue(['list', '--status', 'cancelled'], io), 0);
    assert.match(out.join('\n'), /^1 of 1$/m);
  });

  it('queue errors: unknown message, bad status, bad usage', async () => {
    reset();
    assert.equal(await queue(['show', 'nope'], io), 1);
    assert.equal(await queue(['retry', 'nope'], io), 1);
    assert.equal(await queue(['list', '--status', 'lost'], io), 2);
    assert.equal(await queue(['list', '--limit', '0'], io), 2);
    assert.equal(await queue([], io), 2);
  });

  it('captured list and show the capture mailbox', async () => {
    reset();
    assert.equal(await captured(['list'], io), 0);
    assert.match(out.join('\n'), /^1\s+\S+\s+noreply@mana\.test\s+a@example\.org\s+Verify your account$/m);
    reset();
    assert.equal(await captured(['show', '1'], io), 0);
    assert.match(out.join('\n'), /^Subject: Verify your account/);
    assert.equal(await captured(['show', '99'], io), 1);
    assert.equal(await captured(['show', 'x'], io), 2);
    reset();
    assert.equal(await captured(['list', '--to', 'nobody@example.org'], io), 0);
    assert.equal(out.join('\n'), 'the captured mailbox is empty');
  });
});
