// Group commit: writes submitted in the same moment share one transaction, so one fsync serves many messages.
import type { Queryable, Store } from './store.ts';

type Job<T> = { fn: (q: Queryable) => Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void };

/**
 * `submit(fn)` resolves once fn's writes are committed. Jobs waiting while a commit runs go into
 * the next one. If a batch fails, its jobs are retried one by one so a bad job fails alone.
 */
export function createCommitBatcher(store: Store, options: { maxBatch?: number; windowMs?: number } = {}) {
  const maxBatch = options.maxBatch ?? 256;
  /** How long a commit waits for company when few jobs are waiting: more jobs per fsync, a little more latency. */
  const windowMs = options.windowMs ?? 0;
  let waiting: Job<any>[] = [];
  let running = false;

  async function runBatch(jobs: Job<any>[]): Promise<void> {
    const results: unknown[] = [];
    try {
      await store.tx(async (q) => {
        for (const j of jobs) results.push(await j.fn(q));
      });
      jobs.forEach((j, i) => j.resolve(results[i]));
    } catch (err) {
      if (jobs.length === 1) return jobs[0].reject(err);
      for (const j of jobs) {
        try {
          j.resolve(await store.tx(j.fn));
        } catch (e) {
          j.reject(e);
        }
      }
    }
  }

  async function drain(): Promise<void> {
    running = true;
    try {
      while (waiting.length) {
        if (windowMs > 0 && waiting.length < maxBatch) await new Promise((r) => setTimeout(r, windowMs));
        const jobs = waiting.slice(0, maxBatch);
        waiting = waiting.slice(jobs.length);
        await runBatch(jobs);
      }
    } finally {
      running = false;
    }
  }

  return {
    submit<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        waiting.push({ fn, resolve, reject });
        if (!running) setImmediate(() => { if (!running) void drain(); });
      });
    },
    /** Resolves when nothing is waiting or committing. */
    async idle(): Promise<void> {
      while (running || waiting.length) await new Promise((r) => setTimeout(r, 5));
    },
  };
}
export type CommitBatcher = ReturnType<typeof createCommitBatcher>;
