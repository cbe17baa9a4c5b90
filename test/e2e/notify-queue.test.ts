// End to end: notify's durable queue over real SMTP: schedules, cancels, retries with backoff (RFC 5321 §4.2.1 4yz vs 5yz), lease take-over from a dead worker, two workers sharing one store, on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openSqlite } from '../../src/store/sqlite.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import type { Store } from '../../src/store/store.ts';
import { startNotify } from '../../src/notify/service.ts';
import { makeTestContext } from '../support/context.ts';
import { storeFactories } from '../support/stores.ts';
import { peerProvider, startHarness, SERVICE_KEY, type Harness } from './notify-harness.ts';

const idOf = (raw: Buffer) => /^X-Mana-Notification-Id: (\S+)/im.exec(raw.toString('latin1'))?.[1];

/** A second connection (pool) to the same database, as another notify node would have. */
async function secondStore(store: Store): Promise<Store> {
  if (store.dialect === 'sqlite') return openSqlite({ path: store.description.replace(/^sqlite:/, '') });
  const schema = (await store.get<{ s: string }>('SELECT current_schema() AS s'))!.s;
  return openPostgres({ url: process.env.DATABASE_URL!, schema, max: 5 });
}

for (const factory of storeFactories()) {
  describe(`notify durable queue (${factory.name})`, () => {
    let h: Harness;
    let cleanupStore: () => Promise<void>;
    const arrivals = new Map<string, number>();
    before(async () => {
      const opened = await factory.open();
      cleanupStore = opened.cleanup;
      h = await startHarness({
        store: opened.store,
        peer: {
          onData: (c) => {
            const id = idOf(c.raw);
            if (id && !arrivals.has(id)) arrivals.set(id, Date.now());
            return undefined;
          },
          onRcpt: (c) => {
            if (c.address.startsWith('greylist')) return c.attempt <= 2 ? '451 4.7.1 greylisted, try again later' : undefined;
            if (c.address.startsWith('always-busy')) return '452 4.2.2 mailbox busy';
            if (c.address.startsWith('unknown')) return '550 5.1.1 no such user';
            return undefined;
          },
        },
        tuning: { retry: { email: { baseMs: 40, maxAttempts: 3 } } },
      });
    });
    after(async () => {
      await h.close();
      await cleanupStore();
    });

    const send = async (body: Record<string, unknown>) => (await h.call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'q', subject: 's', body: 'b', ...body })).json.notification.id as string;

    it('a scheduled notification is not sent before its time, and is sent after it', async () => {
      const at = new Date(Date.now() + 1500);
      const r = await h.call('POST', '/api/v1/notifications/schedule', { channel: 'email', appId: 'q', recipient: 'later@example.org', body: 'b', scheduledFor: at.toISOString() });
      assert.equal(r.status, 202);
      const id = r.json.notification.id;
      await h.waitFor(id, (n) => n.status === 'sent');
      assert.ok(arrivals.get(id)! >= at.getTime(), `arrived ${arrivals.get(id)} before ${at.getTime()}`);
    });

    it('a cancelled notification is never sent, even when its time comes (fix)', async () => {
      const at = new Date(Date.now() + 800).toISOString();
      const cancelled = (await h.call('POST', '/api/v1/notifications/schedule', { channel: 'email', appId: 'q', recipient: 'cancelled@example.org', body: 'b', scheduledFor: at })).json.notification.id;
      assert.equal((await h.call('DELETE', `/api/v1/notifications/${cancelled}`)).status, 200);
      const sentinel = (await h.call('POST', '/api/v1/notifications/schedule', { channel: 'email', appId: 'q', recipient: 'sentinel@example.org', body: 'b', scheduledFor: new Date(Date.now() + 1200).toISOString() })).json.notification.id;
      await h.waitFor(sentinel, (n) => n.status === 'sent');
      assert.equal(arrivals.has(cancelled), false);
      assert.equal(h.peer.messages.some((m) => m.rcptTo.includes('cancelled@example.org')), false);
      const n = (await h.call('GET', `/api/v1/notifications/${cancelled}`)).json.notification;
      assert.equal(n.status, 'cancelled');
      assert.equal(n.attempts, 0);
    });

    it('a 4xx reply is retried with backoff and each attempt is logged; the Message-ID stays the same (RFC 5321 §4.2.1)', async () => {
      const id = await send({ recipient: 'greylist@example.org' });
      const n = await h.waitFor(id, (x) => x.status === 'sent');
      assert.equal(n.attempts, 3);
      assert.equal(n.deliveryLogs.length, 3);
      assert.deepEqual(n.deliveryLogs.map((l: any) => l.success), [false, false, true]);
      assert.equal(n.deliveryLogs[0].statusCode, 451);
      assert.match(n.deliveryLogs[0].errorMessage, /greylisted/);
      const received = h.peer.messages.filter((m) => idOf(m.raw) === id);
      assert.equal(received.length, 1);
      assert.ok(received[0]!.raw.toString().includes(`Message-ID: ${n.messageId}`));
    });

    it('a 5xx reply fails the notification at once, without retries', async () => {
      const id = await send({ recipient: 'unknown@example.org' });
      const n = await h.waitFor(id, (x) => x.status === 'failed');
      assert.equal(n.attempts, 1);
      assert.match(n.errorMessage, /550 5\.1\.1 no such user/);
    });

    it('a 4xx that never clears fails after the last attempt', async () => {
      const id = await send({ recipient: 'always-busy@example.org' });
      const n = await h.waitFor(id, (x) => x.status === 'failed');
      assert.equal(n.attempts, 3);
      assert.equal(n.deliveryLogs.length, 3);
      assert.match(n.errorMessage, /452/);
    });

    it('an email with only a userId fails with a clear message instead of retrying (fix)', async () => {
      const id = (await h.call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'sync', userId: 'u1', subject: 'Cloud Sync pausiert', body: 'b' })).json.notification.id;
      const n = await h.waitFor(id, (x) => x.status === 'failed');
      assert.equal(n.attempts, 1);
      assert.match(n.errorMessage, /no recipient address/);
    });

    it('work leased by a worker that died is taken over after its lease expires, and the cut-short attempt is logged', async () => {
      // Queued far in the future so our worker leaves it alone, then made to look claimed by a node that died.
      const r = await h.call('POST', '/api/v1/notifications/schedule', { channel: 'email', appId: 'q', recipient: 'orphan@example.org', body: 'b', scheduledFor: new Date(Date.now() + 3_600_000).toISOString() });
      const id = r.json.notification.id;
      const u = await h.t.ctx.store.run("UPDATE notify_notifications SET status = 'processing', lease_owner = 'dead-node', lease_until = ?, attempts = 1 WHERE id = ? AND status = 'pending'", [Date.now() - 1, id]);
      assert.equal(u.changes, 1);
      const n = await h.waitFor(id, (x) => x.status === 'sent' && x.deliveryLogs.some((l: any) => /interrupted/.test(l.errorMessage ?? '')));
      assert.ok(n.attempts >= 2);
      assert.equal(n.deliveryLogs.at(-1).success, true);
    });

    it('two notify nodes on one store send every notification exactly once (leases, FOR UPDATE SKIP LOCKED)', async () => {
      const store2 = await secondStore(h.t.ctx.store);
      const t2 = await makeTestContext({ store: store2, overrides: { notify: { serviceKeys: [SERVICE_KEY], webhookSecret: 'hook-secret' } } });
      const node2 = await startNotify(t2.ctx, { smtp: peerProvider(h.peer), workerId: 'node-2', tuning: { pollMs: 20 } });
      try {
        const before = h.peer.messages.length;
        const items = Array.from({ length: 100 }, (_, i) => ({ channel: 'email', appId: 'multi', recipient: `m${i}@example.org`, subject: `m${i}`, body: 'b' }));
        const r1 = await h.call('POST', '/api/v1/notifications/batch', { notifications: items.slice(0, 50) });
        const r2 = await fetch(`${node2.urls['notify-http']}/api/v1/notifications/batch`, { method: 'POST', headers: { 'X-Service-Key': SERVICE_KEY }, body: JSON.stringify({ notifications: items.slice(50) }) }).then((r) => r.json() as any);
        const ids = [...r1.json.results, ...r2.results].map((x: any) => x.id as string);
        assert.equal(ids.length, 100);
        await h.peer.waitFor(before + 100, 30_000);
        for (const id of ids) await h.waitFor(id, (x) => x.status === 'sent');
        const got = h.peer.messages.slice(before).map((m) => idOf(m.raw));
        assert.equal(got.length, 100);
        assert.deepEqual(new Set(got), new Set(ids));
        const owners = await h.t.ctx.store.all<{ n: number }>(`SELECT COUNT(*) AS n FROM notify_delivery_logs WHERE notification_id IN (${ids.map(() => '?').join(',')})`, ids);
        assert.equal(Number(owners[0]!.n), 100, 'one attempt each');
      } finally {
        await node2.close();
        await t2.cleanup();
        await store2.close();
      }
    });
  });
}

describe('notify without SMTP credentials', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ smtp: 'none' });
  });
  after(() => h.close());

  it('says "smtp not configured" in /health and fails sends at once with that text', async () => {
    const health = await fetch(`${h.url}/health`).then((r) => r.json() as any);
    assert.equal(health.services.smtp.configured, false);
    assert.equal(health.services.smtp.error, 'smtp not configured');
    const id = (await h.call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'a', recipient: 'x@example.org', body: 'b' })).json.notification.id;
    const n = await h.waitFor(id, (x) => x.status === 'failed');
    assert.equal(n.attempts, 1);
    assert.equal(n.errorMessage, 'smtp not configured');
    assert.equal(h.peer.connections.length, 0);
  });
});
