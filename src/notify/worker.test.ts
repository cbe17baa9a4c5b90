// Tests for the notify worker: exponential backoff with jitter, retries until success or the last attempt, per-channel concurrency.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { storeFactories } from '../../test/support/stores.ts';
import { silentLogger } from '../lib/log.ts';
import type { Store } from '../store/store.ts';
import { createQueue, type ClaimedNotification } from './queue.ts';
import { backoffMs, createWorker, type ChannelHandler, type Delivery } from './worker.ts';

describe('backoffMs', () => {
  const policy = { maxAttempts: 5, baseMs: 1000, maxMs: 5000 };
  it('doubles per attempt from the base, capped at maxMs', () => {
    const mid = () => 0.5; // jitter factor 1.0
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffMs(policy, n, mid)), [1000, 2000, 4000, 5000, 5000]);
  });
  it('jitter keeps the delay within [0.5, 1.5) of the exponential value', () => {
    assert.equal(backoffMs(policy, 2, () => 0), 1000);
    assert.equal(backoffMs(policy, 2, () => 0.999), 2998);
  });
});

async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw Object.assign(new Error('timed out'), { code: 'test.timeout' });
    await new Promise((r) => setTimeout(r, 10));
  }
}

const [sqlite] = storeFactories();

describe('notify worker', () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ store, cleanup } = await sqlite!.open());
  });
  after(() => cleanup());

  function worker(handler: ChannelHandler, extra: { concurrency?: number; maxAttempts?: number } = {}) {
    const queue = createQueue({ store });
    const fail: ChannelHandler = async () => ({ ok: false, permanent: true, error: 'unused' });
    return {
      queue,
      worker: createWorker({
        queue,
        owner: 'test',
        log: silentLogger(),
        pollMs: 20,
        handlers: { email: handler, webhook: fail, push: fail },
        concurrency: { email: extra.concurrency ?? 5 },
        retry: { email: { baseMs: 5, maxAttempts: extra.maxAttempts ?? 3 } },
      }),
    };
  }

  it('retries a transient failure and records sent on success', async () => {
    const seen: number[] = [];
    const { queue, worker: w } = worker(async (n): Promise<Delivery> => {
      seen.push(n.attempts);
      return n.attempts < 3 ? { ok: false, permanent: false, error: `try ${n.attempts}` } : { ok: true, provider: 'primary' };
    });
    const { id } = await queue.insert({ appId: 'a', channel: 'email', recipient: 'x@example.org' });
    await w.start();
    try {
      await until(async () => (await queue.get(id))!.status === 'sent');
    } finally {
      await w.stop();
    }
    assert.deepEqual(seen, [1, 2, 3]);
    assert.deepEqual((await queue.logs(id)).map((l) => Boolean(l.success)), [false, false, true]);
  });

  it('a permanent failure or the last attempt marks the notification failed', async () => {
    const { queue, worker: w } = worker(async (n) => ({ ok: false, permanent: n.recipient === 'perm@example.org', error: 'no' }), { maxAttempts: 2 });
    const perm = await queue.insert({ appId: 'a', channel: 'email', recipient: 'perm@example.org' });
    const temp = await queue.insert({ appId: 'a', channel: 'email', recipient: 'temp@example.org' });
    await w.start();
    try {
      await until(async () => (await queue.get(perm.id))!.status === 'failed' && (await queue.get(temp.id))!.status === 'failed');
    } finally {
      await w.stop();
    }
    assert.equal((await queue.get(perm.id))!.attempts, 1);
    assert.equal((await queue.get(temp.id))!.attempts, 2);
  });

  it('never runs more attempts of a channel at once than its concurrency', async () => {
    let running = 0;
    let peak = 0;
    const { queue, worker: w } = worker(async (_n: ClaimedNotification) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 15));
      running--;
      return { ok: true };
    }, { concurrency: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await queue.insert({ appId: 'a', channel: 'email', recipient: 'x@example.org' })).id);
    await w.start();
    try {
      await until(async () => (await Promise.all(ids.map((id) => queue.get(id)))).every((r) => r!.status === 'sent'));
    } finally {
      await w.stop();
    }
    assert.equal(peak, 3);
  });
});
