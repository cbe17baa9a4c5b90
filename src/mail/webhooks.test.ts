// Mail webhooks: signed (HMAC-SHA256) POSTs of the event outbox, several at a time, each message's events in order, retries and shutdown.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEvents } from './events.ts';
import { SIGNATURE_HEADER, signBody, startWebhookSender } from './webhooks.ts';
import type { Store } from '../store/store.ts';
import { silentLogger } from '../lib/log.ts';
import { storeFactories } from '../../test/support/stores.ts';
import { poll } from '../../test/support/poll.ts';

type Received = { body: string; signature: string | undefined; event: { type: string; queueId: string } };

/** A subscriber on a real socket; `answer` decides each reply (status, delay before it). */
async function subscriber(answer: (ev: Received['event'], n: number) => { status: number; delayMs?: number }) {
  const received: Received[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let n = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const event = JSON.parse(body) as Received['event'];
      const a = answer(event, n++);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        if (a.status < 300) received.push({ body, signature: req.headers[SIGNATURE_HEADER] as string | undefined, event });
        res.writeHead(a.status).end();
      }, a.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { url, received, maxInFlight: () => maxInFlight, close: () => new Promise<void>((r) => server.close(() => r())) };
}

for (const factory of storeFactories()) describe(`mail webhooks (${factory.name})`, () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  const stops: Array<() => Promise<void>> = [];
  before(async () => ({ store, cleanup } = await factory.open()));
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    await store.run('DELETE FROM mail_webhook_outbox');
  });
  after(() => cleanup());

  async function record(url: string, secret: string, messages: number, types: string[]) {
    const events = createEvents({ log: silentLogger(), subscribers: [{ url, secret }] });
    for (let m = 0; m < messages; m++) {
      await store.tx(async (q) => {
        for (const type of types) await events.record(q, { type: type as 'queued', messageId: `msg${m}`, rcpt: `r${m}@example.org` });
      });
    }
  }

  it('posts every event once, signed with HMAC-SHA256 of the body, several messages at a time, each message\'s events in order', async () => {
    // Early events are answered slowly, so a sender that does not keep per-message order would overtake them.
    const sub = await subscriber((ev) => ({ status: 200, delayMs: ev.type === 'queued' ? 30 : 0 }));
    stops.push(sub.close);
    await record(sub.url, 'k1', 40, ['queued', 'attempt', 'delivered']);
    const sender = startWebhookSender({ store, log: silentLogger(), subscribers: [{ url: sub.url, secret: 'k1' }], concurrency: 8 });
    stops.push(() => sender.stop());
    await poll('120 webhooks', async () => (sub.received.length >= 120 ? true : undefined), 20_000);
    await poll('an empty outbox', async () => ((await store.get<{ n: number }>('SELECT COUNT(*) AS n FROM mail_webhook_outbox'))!.n === 0 ? true : undefined), 5000);
    assert.equal(sub.received.length, 120);
    for (const r of sub.received) assert.equal(r.signature, signBody(r.body, 'k1'));
    for (let m = 0; m < 40; m++) {
      assert.deepEqual(sub.received.filter((r) => r.event.queueId === `msg${m}`).map((r) => r.event.type), ['queued', 'attempt', 'delivered'], `order of msg${m}`);
    }
    assert.ok(sub.maxInFlight() > 1, 'requests to one subscriber overlap');
    assert.ok(sub.maxInFlight() <= 8, `at most the configured concurrency (saw ${sub.maxInFlight()})`);
  });

  it('a refused event is retried later, and the later events of its message wait for it', async () => {
    let refusals = 0;
    const sub = await subscriber((ev) => {
      if (ev.queueId === 'msg0' && ev.type === 'queued' && refusals === 0) {
        refusals++;
        return { status: 503 };
      }
      return { status: 200 };
    });
    stops.push(sub.close);
    await record(sub.url, 'k2', 2, ['queued', 'delivered']);
    const sender = startWebhookSender({ store, log: silentLogger(), subscribers: [{ url: sub.url, secret: 'k2' }], intervalMs: 200 });
    stops.push(() => sender.stop());
    await poll('msg1 delivered', async () => (sub.received.some((r) => r.event.queueId === 'msg1' && r.event.type === 'delivered') ? true : undefined), 5000);
    const waiting = await store.all<{ attempts: number; body: string }>('SELECT attempts, body FROM mail_webhook_outbox ORDER BY id');
    assert.deepEqual(waiting.map((w) => [JSON.parse(w.body).type, Number(w.attempts)]), [['queued', 1], ['delivered', 0]], 'msg0 waits: its queued event counted one attempt, its delivered event none');
    assert.equal(sub.received.filter((r) => r.event.queueId === 'msg0').length, 0);
    // The retry comes after the backoff (2 s for a first failure), in order.
    await poll('msg0 retried', async () => (sub.received.filter((r) => r.event.queueId === 'msg0').length === 2 ? true : undefined), 10_000);
    assert.deepEqual(sub.received.filter((r) => r.event.queueId === 'msg0').map((r) => r.event.type), ['queued', 'delivered']);
  });

  it('an event recorded after its message\'s earlier event failed waits for that one\'s retry (no queued(500) -> delivered -> queued)', async () => {
    const seen: string[] = [];
    const sub = await subscriber((ev, n) => {
      seen.push(`${ev.type}${n === 0 ? '(500)' : ''}`);
      return { status: n === 0 ? 500 : 200 };
    });
    stops.push(sub.close);
    const events = createEvents({ log: silentLogger(), subscribers: [{ url: sub.url, secret: 'k5' }] });
    await store.tx((q) => events.record(q, { type: 'queued', messageId: 'late1', rcpt: 'r@example.org' }));
    const sender = startWebhookSender({ store, log: silentLogger(), subscribers: [{ url: sub.url, secret: 'k5' }], intervalMs: 100 });
    stops.push(() => sender.stop());
    await poll('queued refused and waiting', async () => {
      const r = await store.get<{ attempts: number; lease_until: number | null }>('SELECT attempts, lease_until FROM mail_webhook_outbox');
      return r && Number(r.attempts) === 1 && r.lease_until === null ? true : undefined;
    }, 5000);
    // Written after the failure, due at once: it must still go out after the retried queued.
    await store.tx((q) => events.record(q, { type: 'delivered', messageId: 'late1', rcpt: 'r@example.org' }));
    sender.poke();
    await poll('both delivered', async () => (sub.received.length === 2 ? true : undefined), 10_000);
    assert.deepEqual(seen, ['queued(500)', 'queued', 'delivered']);
    assert.deepEqual(sub.received.map((r) => r.event.type), ['queued', 'delivered']);
  });

  it('a subscriber that is down costs one failed attempt per batch, not one timeout per event', async () => {
    const sub = await subscriber(() => ({ status: 200 }));
    await sub.close(); // nothing listens on its port any more: connection refused
    await record(sub.url, 'k3', 20, ['queued']);
    const sender = startWebhookSender({ store, log: silentLogger(), subscribers: [{ url: sub.url, secret: 'k3' }], concurrency: 1, intervalMs: 60_000 });
    stops.push(() => sender.stop());
    const rows = await poll('the batch settled', async () => {
      const r = await store.all<{ attempts: number; next_attempt_at: number; lease_until: number | null }>('SELECT attempts, next_attempt_at, lease_until FROM mail_webhook_outbox ORDER BY id');
      return r.some((x) => Number(x.attempts) > 0) && r.every((x) => x.lease_until === null) ? r : undefined;
    }, 5000);
    assert.equal(rows.length, 20, 'nothing was dropped');
    assert.deepEqual(rows.map((r) => Number(r.attempts)), [1, ...Array(19).fill(0)], 'one attempt counted, the others not tried');
    assert.ok(rows.every((r) => Number(r.next_attempt_at) > Date.now()), 'all wait before the next try');
  });

  it('stopping does not wait for a subscriber that never answers', async () => {
    let seen = 0;
    const hang = createServer(() => { seen++; }); // reads the request, never replies
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    stops.push(async () => { hang.closeAllConnections(); await new Promise<void>((r) => hang.close(() => r())); });
    const url = `http://127.0.0.1:${(hang.address() as AddressInfo).port}/hook`;
    await record(url, 'k4', 3, ['queued']);
    // A timeout far longer than the test's own: stop() must end the request, not wait for it.
    const sender = startWebhookSender({ store, log: silentLogger(), subscribers: [{ url, secret: 'k4' }], timeoutMs: 600_000 });
    await poll('a request in flight', async () => (seen > 0 ? true : undefined), 5000);
    await sender.stop();
    const rows = await store.all<{ attempts: number; lease_until: number | null }>('SELECT attempts, lease_until FROM mail_webhook_outbox');
    assert.equal(rows.length, 3, 'the events stay in the outbox');
    assert.ok(rows.every((r) => Number(r.attempts) === 0 && r.lease_until === null), 'released for the next start, no attempt counted');
  });
});
