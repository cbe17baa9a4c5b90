// The notify queue worker: claims due notifications under a lease, runs their channel with per-channel concurrency, and records each attempt (exponential backoff with jitter between attempts).
import type { Logger } from '../lib/log.ts';
import type { Channel, ClaimedNotification, NotificationRow, NotifyQueue } from './queue.ts';
import type { NotifyMetrics } from './metrics.ts';

export type DeliveryContext = {
  owner: string;
  /** Stores the Message-ID before the message goes out; false when the lease was lost (do not send). */
  recordMessageId(messageId: string): Promise<boolean>;
};

export type Delivery =
  | { ok: true; provider?: string; providerId?: string; statusCode?: number; mailQueueId?: string; note?: string }
  | { ok: false; permanent: boolean; error: string; provider?: string; statusCode?: number };

export type ChannelHandler = (n: ClaimedNotification, context: DeliveryContext) => Promise<Delivery>;

export type RetryPolicy = { maxAttempts: number; baseMs: number; maxMs: number };

/** The original's attempts and base delays (worker.go), with more attempts for email, whose server may restart. */
export const DEFAULT_RETRY: Record<Channel, RetryPolicy> = {
  email: { maxAttempts: 5, baseMs: 5_000, maxMs: 600_000 },
  push: { maxAttempts: 3, baseMs: 1_000, maxMs: 60_000 },
  webhook: { maxAttempts: 5, baseMs: 3_000, maxMs: 600_000 },
};

export const DEFAULT_CONCURRENCY: Record<Channel, number> = { email: 20, push: 10, webhook: 10 };

export type WorkerOptions = {
  queue: NotifyQueue;
  handlers: Record<Channel, ChannelHandler>;
  owner: string;
  log: Logger;
  metrics?: NotifyMetrics;
  leaseMs?: number;
  pollMs?: number;
  concurrency?: Partial<Record<Channel, number>>;
  retry?: Partial<Record<Channel, Partial<RetryPolicy>>>;
  random?: () => number;
  /** Names a notification's message at claim time (email: its Message-ID). */
  messageIdFor?: (row: Pick<NotificationRow, 'channel' | 'options'>) => string | undefined;
};

/** Delay before attempt n+1 after attempt n failed: base·2^(n-1), capped, times a jitter factor in [0.5, 1.5). */
export function backoffMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(1, Math.round(exp * (0.5 + random())));
}

export type Worker = ReturnType<typeof createWorker>;

export function createWorker(options: WorkerOptions) {
  const { queue, handlers, owner, log, metrics } = options;
  const leaseMs = options.leaseMs ?? 120_000;
  const pollMs = options.pollMs ?? 1_000;
  const random = options.random ?? Math.random;
  const channels: Channel[] = ['email', 'webhook', 'push'];
  const concurrency = { ...DEFAULT_CONCURRENCY, ...options.concurrency };
  const retry = Object.fromEntries(channels.map((c) => [c, { ...DEFAULT_RETRY[c], ...options.retry?.[c] }])) as Record<Channel, RetryPolicy>;
  const running: Record<Channel, number> = { email: 0, webhook: 0, push: 0 };
  const inFlight = new Set<Promise<void>>();
  let stopped = true;
  let wakeUp: (() => void) | undefined;
  let loopDone: Promise<void> = Promise.resolve();
  let woken = false;
  let expiredCheckedAt = 0;

  function wake(): void {
    woken = true;
    wakeUp?.();
  }

  function sleep(ms: number): Promise<void> {
    if (woken) {
      woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      function done(): void {
        clearTimeout(timer);
        wakeUp = undefined;
        woken = false;
        resolve();
      }
      wakeUp = done;
    });
  }

  async function attempt(n: ClaimedNotification): Promise<void> {
    const started = performance.now();
    // Keep the lease while the attempt runs (a slow server can take longer than one lease).
    const heartbeat = setInterval(() => {
      queue.renew({ id: n.id, owner, leaseMs }).catch((err) => log.warn({ notificationId: n.id, err }, 'notify lease renewal failed'));
    }, Math.max(1_000, Math.floor(leaseMs / 3)));
    heartbeat.unref();
    let result: Delivery;
    try {
      result = await handlers[n.channel](n, {
        owner,
        recordMessageId: (messageId) => queue.setMessageId({ id: n.id, owner, messageId }),
      });
    } catch (err) {
      log.error({ notificationId: n.id, err }, 'notify attempt crashed');
      result = { ok: false, permanent: false, error: `internal error: ${(err as Error).message}` };
    } finally {
      clearInterval(heartbeat);
    }
    const durationMs = performance.now() - started;
    const logEntry = {
      attempt: n.attempts,
      channel: n.channel,
      success: result.ok,
      durationMs,
      ...(result.statusCode !== undefined ? { statusCode: result.statusCode } : {}),
      ...(result.provider !== undefined ? { provider: result.provider } : {}),
      ...(result.ok && result.providerId !== undefined ? { providerId: result.providerId } : {}),
      ...(!result.ok ? { errorMessage: result.error } : result.note ? { errorMessage: result.note } : {}),
    };
    const labels = { channel: n.channel, app_id: n.app_id };
    if (result.ok) {
      await queue.finish({ id: n.id, owner, outcome: { kind: 'sent', log: logEntry, ...(result.mailQueueId ? { mailQueueId: result.mailQueueId } : {}) } });
      metrics?.sent.inc(labels);
      metrics?.latency.observe({ channel: n.channel }, Math.max(0, Date.now() - n.created_at) / 1000);
      log.info({ notificationId: n.id, channel: n.channel, attempt: n.attempts, provider: result.provider, providerId: result.providerId }, 'notification sent');
      return;
    }
    const policy = retry[n.channel];
    if (!result.permanent && n.attempts < policy.maxAttempts) {
      const at = Date.now() + backoffMs(policy, n.attempts, random);
      await queue.finish({ id: n.id, owner, outcome: { kind: 'retry', log: logEntry, at, error: result.error } });
      log.warn({ notificationId: n.id, channel: n.channel, attempt: n.attempts, err: result.error, retryAt: new Date(at).toISOString() }, 'notification attempt failed');
      return;
    }
    await queue.finish({ id: n.id, owner, outcome: { kind: 'failed', log: logEntry, error: result.error } });
    metrics?.failed.inc({ ...labels, error_type: result.permanent ? 'permanent' : 'max_retries' });
    log.warn({ notificationId: n.id, channel: n.channel, attempt: n.attempts, err: result.error }, 'notification failed');
  }

  function start(n: ClaimedNotification): void {
    running[n.channel] += 1;
    const p: Promise<void> = attempt(n)
      .catch((err) => log.error({ notificationId: n.id, err }, 'notify outcome not recorded'))
      .finally(() => {
        running[n.channel] -= 1;
        inFlight.delete(p);
        wake();
      });
    inFlight.add(p);
  }

  async function loop(): Promise<void> {
    while (!stopped) {
      // Let waiting I/O (requests being accepted) run before the next claim.
      await new Promise<void>((resolve) => setImmediate(resolve));
      let claimed = 0;
      let full = false;
      try {
        const slots: Partial<Record<Channel, number>> = {};
        // Claim in batches: a channel is topped up once a quarter of its slots are free.
        for (const c of channels) if (concurrency[c] - running[c] >= Math.ceil(concurrency[c] / 4)) slots[c] = concurrency[c] - running[c];
        if (Object.keys(slots).length === 0) {
          // Enough attempts are running: one finishing wakes the loop.
          await sleep(pollMs);
          continue;
        }
        if (!stopped) {
          // Expired leases (a node died) are looked for once per poll interval, not at every claim.
          const expired = Date.now() - expiredCheckedAt >= pollMs;
          if (expired) expiredCheckedAt = Date.now();
          const rows = await queue.claim({ owner, leaseMs, slots, expired, ...(options.messageIdFor ? { messageIdFor: options.messageIdFor } : {}) });
          // One attempt per turn of the event loop: composing a batch of messages at once would hold up the requests waiting to be accepted.
          for (const [i, row] of rows.entries()) {
            if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
            start(row);
          }
          claimed = rows.length;
          full = channels.some((c) => slots[c] !== undefined && rows.filter((r) => r.channel === c).length >= slots[c]!);
        }
      } catch (err) {
        if (stopped) break;
        log.error({ err }, 'notify queue claim failed');
      }
      if (stopped) break;
      if (claimed > 0 && full) continue;
      let waitMs = pollMs;
      try {
        const due = await queue.nextDueAt();
        if (due !== undefined) waitMs = Math.min(pollMs, Math.max(0, due - Date.now()));
      } catch {
        // the store is down; poll again later
      }
      await sleep(waitMs === 0 && claimed === 0 ? Math.min(pollMs, 50) : waitMs);
    }
  }

  return {
    owner,
    /** Hands back this owner's leftover leases (restart after a crash), then starts claiming. */
    async start(): Promise<void> {
      if (!stopped) return;
      const recovered = await queue.recoverOwn(owner);
      if (recovered > 0) log.warn({ owner, recovered }, 'notify recovered interrupted attempts');
      stopped = false;
      loopDone = loop();
    },
    /** Makes the loop look for work now (a notification was just accepted). */
    wake,
    running(): Record<Channel, number> {
      return { ...running };
    },
    /** Stops claiming and waits for attempts in flight (up to graceMs; their leases then expire). */
    async stop(graceMs = 10_000): Promise<void> {
      stopped = true;
      wake();
      await loopDone;
      if (inFlight.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...inFlight]),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(timer);
    },
  };
}
