// Group commit for notify's writes on an embedded store: units of work that arrive together share one transaction (one fsync), each still resolving only after the commit.
import type { Queryable, Store } from '../store/store.ts';

export type Work<T> = (q: Queryable) => Promise<T>;

/** `lazy`: nobody is waiting on this unit's commit right now (the worker's bookkeeping); it may wait a little for company. */
export type RunOptions = { lazy?: boolean };

type Pending = { work: Work<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void; lazy: boolean };

export type GroupCommit = { run<T>(work: Work<T>, options?: RunOptions): Promise<T> };

/**
 * On SQLite every commit is an fsync that blocks the event loop, and writers take turns, so
 * writes queued in the same turn of the event loop are committed together. Lazy units (the
 * worker's claims and outcomes) wait up to `lazyMs` for an urgent unit (an HTTP request being
 * accepted) and ride along in its commit, so under load the worker adds few commits of its own.
 * A unit that throws is retried alone, so one bad unit never fails the others. On PostgreSQL
 * (a pool of connections) each unit is its own transaction.
 */
export function createGroupCommit(options: { store: Store; maxBatch?: number; lazyMs?: number }): GroupCommit {
  const { store } = options;
  const maxBatch = options.maxBatch ?? 256;
  const lazyMs = options.lazyMs ?? 4;
  if (store.dialect !== 'sqlite') return { run: (work) => store.tx(work) };
  let queue: Pending[] = [];
  let immediate = false;
  let timer: NodeJS.Timeout | undefined;

  async function flush(): Promise<void> {
    immediate = false;
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    const batch = queue.slice(0, maxBatch);
    queue = queue.slice(batch.length);
    if (queue.length > 0) schedule(queue.some((p) => !p.lazy));
    if (batch.length === 0) return;
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

  function schedule(urgent: boolean): void {
    if (immediate) return;
    if (urgent) {
      immediate = true;
      setImmediate(() => {
        flush().catch(() => {});
      });
      return;
    }
    timer ??= setTimeout(() => {
      timer = undefined;
      if (!immediate) flush().catch(() => {});
    }, lazyMs);
  }

  return {
    run<T>(work: Work<T>, runOptions: RunOptions = {}): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const lazy = runOptions.lazy === true;
        queue.push({ work, resolve: resolve as (v: unknown) => void, reject, lazy });
        schedule(!lazy);
      });
    },
  };
}
