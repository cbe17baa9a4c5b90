// Group commit for notify's writes on an embedded store: units of work that arrive together share one transaction (one fsync), each still resolving only after the commit.
import type { Queryable, Store } from '../store/store.ts';

export type Work<T> = (q: Queryable) => Promise<T>;

type Pending = { work: Work<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void };

export type GroupCommit = { run<T>(work: Work<T>): Promise<T> };

/**
 * On SQLite every commit is an fsync and writers take turns, so writes queued in the same turn
 * of the event loop are committed together. A unit that throws is retried alone, so one bad
 * unit never fails the others. On PostgreSQL (a pool of connections) each unit is its own
 * transaction.
 */
export function createGroupCommit(options: { store: Store; maxBatch?: number }): GroupCommit {
  const { store } = options;
  const maxBatch = options.maxBatch ?? 256;
  if (store.dialect !== 'sqlite') return { run: (work) => store.tx(work) };
  let queue: Pending[] = [];
  let scheduled = false;

  async function flush(): Promise<void> {
    scheduled = false;
    const batch = queue.slice(0, maxBatch);
    queue = queue.slice(batch.length);
    if (queue.length > 0) schedule();
    if (batch.length === 1) {
      const [only] = batch;
      await store.tx(only!.work).then(only!.resolve, only!.reject);
      return;
    }
    let results: unknown[] | undefined;
    try {
      results = await store.tx(async (q) => {
        const out: unknown[] = [];
        for (const p of batch) out.push(await p.work(q));
        return out;
      });
    } catch {
      results = undefined;
    }
    if (results) {
      batch.forEach((p, i) => p.resolve(results![i]));
      return;
    }
    for (const p of batch) await store.tx(p.work).then(p.resolve, p.reject);
  }

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      flush().catch(() => {});
    });
  }

  return {
    run<T>(work: Work<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
        schedule();
      });
    },
  };
}
