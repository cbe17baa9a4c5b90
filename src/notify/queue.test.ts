// Tests for the durable notification queue: idempotent accept, leased claims, cancel, outcomes, take-over of expired leases; on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { storeFactories } from '../../test/support/stores.ts';
import type { Store } from '../store/store.ts';
import { createQueue, type NewNotification } from './queue.ts';

const email = (extra: Partial<NewNotification> = {}): NewNotification => ({ appId: 'a', channel: 'email', recipient: 'x@example.org', subject: 's', body: 'b', ...extra });

for (const factory of storeFactories()) {
  describe(`notify queue (${factory.name})`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let clock = 1_000_000;
    const now = () => clock;
    before(async () => {
      ({ store, cleanup } = await factory.open());
    });
    after(() => cleanup());
    const fresh = async () => {
      await store.run('DELETE FROM notify_delivery_logs');
      await store.run('DELETE FROM notify_notifications');
      return createQueue({ store, now });
    };
    const lease = { leaseMs: 1000 };
    const all = (n: number) => ({ slots: { email: n, webhook: n, push: n } });

    it('a duplicate externalId or idempotency key returns the first notification, created=false', async () => {
      const q = await fresh();
      const a = await q.insert(email({ externalId: 'e1' }));
      const b = await q.insert(email({ externalId: 'e1', subject: 'other' }));
      assert.equal(a.created, true);
      assert.deepEqual(b, { id: a.id, created: false });
      const c = await q.insert(email({ idempotencyKey: 'app:k' }));
      const d = await q.insert(email({ idempotencyKey: 'app:k' }));
      assert.deepEqual(d, { id: c.id, created: false });
      const concurrent = await Promise.all(Array.from({ length: 10 }, () => q.insert(email({ externalId: 'e2' }))));
      assert.equal(concurrent.filter((r) => r.created).length, 1);
      assert.equal(new Set(concurrent.map((r) => r.id)).size, 1);
    });

    it('claim leases due rows as processing and counts the attempt; scheduled rows wait for their time', async () => {
      const q = await fresh();
      const due = await q.insert(email());
      const later = await q.insert(email({ scheduledFor: clock + 5000 }));
      const claimed = await q.claim({ owner: 'w1', ...all(10), ...lease });
      assert.deepEqual(claimed.map((r) => r.id), [due.id]);
      assert.equal(claimed[0]!.status, 'processing');
      assert.equal(claimed[0]!.attempts, 1);
      assert.equal(claimed[0]!.lease_owner, 'w1');
      assert.equal(claimed[0]!.interrupted, false);
      assert.deepEqual(await q.claim({ owner: 'w2', ...all(10), ...lease }), [], 'a leased row is not handed out twice');
      await q.finish({ id: due.id, owner: 'w1', outcome: { kind: 'sent', log: { attempt: 1, channel: 'email', success: true } } });
      clock += 4999;
      assert.deepEqual(await q.claim({ owner: 'w2', ...all(10), ...lease }), []);
      clock += 1;
      assert.deepEqual((await q.claim({ owner: 'w2', ...all(10), ...lease })).map((r) => r.id), [later.id]);
    });

    it('claim honours the channel filter and the limit', async () => {
      const q = await fresh();
      await q.insert(email());
      await q.insert(email());
      const hook = await q.insert({ appId: 'a', channel: 'webhook', recipient: 'http://x' });
      assert.deepEqual((await q.claim({ owner: 'w', leaseMs: 1000, slots: { webhook: 5 } })).map((r) => r.id), [hook.id]);
      assert.equal((await q.claim({ owner: 'w', leaseMs: 1000, slots: { email: 1 } })).length, 1);
    });

    it('a cancelled notification is never claimed; a claimed one cannot be cancelled', async () => {
      const q = await fresh();
      const a = await q.insert(email());
      assert.equal(await q.cancel(a.id), true);
      assert.equal(await q.cancel(a.id), false);
      assert.deepEqual(await q.claim({ owner: 'w', ...all(10), ...lease }), []);
      const b = await q.insert(email());
      await q.claim({ owner: 'w', ...all(10), ...lease });
      assert.equal(await q.cancel(b.id), false);
      assert.equal(await q.cancel('not-a-uuid'), false);
    });

    it('concurrent claims by several workers never share a row', async () => {
      const q = await fresh();
      for (let i = 0; i < 40; i++) await q.insert(email());
      const batches = await Promise.all(Array.from({ length: 8 }, (_, i) => q.claim({ owner: `w${i}`, ...all(10), ...lease })));
      const ids = batches.flat().map((r) => r.id);
      assert.equal(ids.length, 40);
      assert.equal(new Set(ids).size, 40);
    });

    it('claim with expired: false leaves expired leases alone, still hands out pending rows, and never a leased one', async () => {
      const q = await fresh();
      const a = await q.insert(email());
      await q.claim({ owner: 'dead', ...all(1), ...lease });
      const b = await q.insert(email());
      clock += 1001;
      assert.deepEqual((await q.claim({ owner: 'alive', ...all(5), ...lease, expired: false })).map((r) => r.id), [b.id]);
      const [row] = await q.claim({ owner: 'alive', ...all(5), ...lease });
      assert.equal(row!.id, a.id);
      assert.equal(row!.interrupted, true);
    });

    it('claim hands out exactly the due rows of a backlog, oldest first, in batches', async () => {
      const q = await fresh();
      const ids: string[] = [];
      for (let i = 0; i < 60; i++) {
        ids.push((await q.insert(email())).id);
        clock += 1;
      }
      const got: string[] = [];
      for (let i = 0; i < 4; i++) got.push(...(await q.claim({ owner: 'w', ...all(15), ...lease })).map((r) => r.id));
      assert.deepEqual(got, ids);
      assert.deepEqual(await q.claim({ owner: 'w', ...all(15), ...lease }), []);
    });

    it('countWaiting counts pending and processing notifications only', async () => {
      const q = await fresh();
      const a = await q.insert(email());
      await q.insert(email());
      await q.insert(email());
      await q.claim({ owner: 'w', ...all(1), ...lease });
      await q.finish({ id: a.id, owner: 'w', outcome: { kind: 'sent', log: { attempt: 1, channel: 'email', success: true } } });
      await q.claim({ owner: 'w', ...all(1), ...lease });
      assert.deepEqual(await q.countWaiting(), { pending: 1, processing: 1 });
    });

    it('an expired lease is taken over by another worker and the cut-short attempt is logged', async () => {
      const q = await fresh();
      const a = await q.insert(email());
      await q.claim({ owner: 'dead', ...all(1), ...lease });
      clock += 999;
      assert.deepEqual(await q.claim({ owner: 'alive', ...all(1), ...lease }), [], 'not before the lease ends');
      clock += 2;
      const [row] = await q.claim({ owner: 'alive', ...all(1), ...lease });
      assert.equal(row!.id, a.id);
      assert.equal(row!.interrupted, true);
      assert.equal(row!.attempts, 2);
      const logs = await q.logs(a.id);
      assert.equal(logs.length, 1);
      assert.match(logs[0]!.error_message!, /interrupted/);
      assert.equal(await q.finish({ id: a.id, owner: 'dead', outcome: { kind: 'sent', log: { attempt: 1, channel: 'email', success: true } } }), false, 'the old holder cannot record an outcome');
    });

    it('recoverOwn hands back a restarted worker\'s rows at once', async () => {
      const q = await fresh();
      const a = await q.insert(email());
      await q.claim({ owner: 'node-1', ...all(1), ...lease });
      assert.equal(await q.recoverOwn('node-2'), 0);
      assert.equal(await q.recoverOwn('node-1'), 1);
      const [row] = await q.claim({ owner: 'node-1', ...all(1), ...lease });
      assert.equal(row!.id, a.id);
    });

    it('finish records sent, retry (back to pending at the given time) and failed, each with one log row', async () => {
      const q = await fresh();
      const a = await q.insert(email());
      await q.claim({ owner: 'w', ...all(1), ...lease });
      assert.equal(await q.finish({ id: a.id, owner: 'w', outcome: { kind: 'retry', at: clock + 100, error: '451 later', log: { attempt: 1, channel: 'email', success: false, statusCode: 451, errorMessage: '451 later' } } }), true);
      let row = (await q.get(a.id))!;
      assert.equal(row.status, 'pending');
      assert.equal(row.error_message, '451 later');
      assert.deepEqual(await q.claim({ owner: 'w', ...all(1), ...lease }), []);
      clock += 100;
      await q.claim({ owner: 'w', ...all(1), ...lease });
      assert.equal(await q.setMessageId({ id: a.id, owner: 'w', messageId: '<m@x>' }), true);
      assert.equal(await q.finish({ id: a.id, owner: 'w', outcome: { kind: 'sent', mailQueueId: 'Q1', log: { attempt: 2, channel: 'email', success: true } } }), true);
      row = (await q.get(a.id))!;
      assert.equal(row.status, 'sent');
      assert.equal(row.smtp_message_id, '<m@x>');
      assert.equal(row.mail_queue_id, 'Q1');
      assert.equal(row.lease_owner, null);
      assert.equal((await q.logs(a.id)).length, 2);
      const b = await q.insert(email());
      await q.claim({ owner: 'w', ...all(1), ...lease });
      await q.finish({ id: b.id, owner: 'w', outcome: { kind: 'failed', error: '550 no', log: { attempt: 1, channel: 'email', success: false } } });
      assert.equal((await q.get(b.id))!.status, 'failed');
      assert.deepEqual(await q.countByStatus(), { sent: 1, failed: 1 });
    });

    it('messageIdFor names the message at its first claim and the name is kept for later attempts', async () => {
      const q = await fresh();
      const a = await q.insert(email());
      let n = 0;
      const messageIdFor = () => `<m${++n}@mana.test>`;
      const [first] = await q.claim({ owner: 'w', ...all(1), ...lease, messageIdFor });
      assert.equal(first!.smtp_message_id, '<m1@mana.test>');
      await q.finish({ id: a.id, owner: 'w', outcome: { kind: 'retry', at: clock, error: 'x', log: { attempt: 1, channel: 'email', success: false } } });
      const [second] = await q.claim({ owner: 'w', ...all(1), ...lease, messageIdFor });
      assert.equal(second!.smtp_message_id, '<m1@mana.test>');
      assert.equal(n, 1);
    });

    it('nextDueAt is the earliest pending time or lease end', async () => {
      const q = await fresh();
      assert.equal(await q.nextDueAt(), undefined);
      await q.insert(email({ scheduledFor: clock + 700 }));
      assert.equal(await q.nextDueAt(), clock + 700);
      await q.insert(email());
      await q.claim({ owner: 'w', ...all(1), ...lease });
      assert.equal(await q.nextDueAt(), clock + 700);
    });
  });
}
