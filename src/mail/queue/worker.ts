// The delivery loop: leases due recipients, delivers them per destination domain within global and per-domain limits, settles outcomes.
import type { Logger } from '../../lib/log.ts';
import type { AttemptOutcome, ClaimedMessage, ClaimedRecipient, MailQueue, Settled, SettleHook } from './queue.ts';

export type DeliverGroup = (message: ClaimedMessage, domain: string, recipients: ClaimedRecipient[]) => Promise<AttemptOutcome[]>;

export type WorkerOptions = {
  queue: MailQueue;
  log: Logger;
  /** Lease owner name, unique per process. */
  owner: string;
  concurrency: number;
  perDomainConcurrency: number;
  /** Limits of particular destination domains: concurrency and messages per minute (token bucket). */
  domainLimits?: Record<string, DomainLimit>;
  deliver: DeliverGroup;
  /** Runs inside the transaction that records outcomes: DSNs (RFC 3464), so none is lost in a crash. */
  settleHook?: SettleHook;
  /** Runs after outcomes are committed: metrics. */
  afterSettle?: (message: ClaimedMessage, settled: Settled[]) => Promise<void>;
  idleMs?: number;
};

export type DomainLimit = { concurrency?: number; messagesPerMinute?: number };

/** Token buckets per destination domain: a burst of a tenth of a minute's allowance, refilled continuously. */
export function createDomainRates(limits: Record<string, DomainLimit>, now: () => number = Date.now) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const perMinute = (domain: string) => limits[domain]?.messagesPerMinute;
  return {
    /** Whether a delivery to the domain may start now. */
    available(domain: string): boolean {
      const rate = perMinute(domain);
      if (!rate) return true;
      const burst = Math.max(1, Math.ceil(rate / 10));
      const t = now();
      const b = buckets.get(domain) ?? { tokens: burst, at: t };
      b.tokens = Math.min(burst, b.tokens + ((t - b.at) * rate) / 60_000);
      b.at = t;
      buckets.set(domain, b);
      return b.tokens >= 1;
    },
    take(domain: string): void {
      const b = buckets.get(domain);
      if (b && perMinute(domain)) b.tokens -= 1;
    },
  };
}

export function startDeliveryWorker(options: WorkerOptions) {
  const { queue, log } = options;
  const limits = options.domainLimits ?? {};
  const rates = createDomainRates(limits);
  let inflight = 0;
  const perDomain = new Map<string, number>();
  const tasks = new Set<Promise<void>>();
  /** Leased to us and waiting for a free slot of their domain: kept (leases renewed) rather than released and claimed again. */
  const backlog = new Map<string, Array<{ message: ClaimedMessage; recipients: ClaimedRecipient[] }>>();
  let backlogSize = 0;
  /** Every recipient this process holds (in flight or in the backlog), `id\0rcpt` -> message id and rcpt. */
  const held = new Map<string, { messageId: string; rcpt: string }>();
  const key = (id: string, rcpt: string) => `${id}\0${rcpt}`;
  let stopped = false;
  let wakeUp: (() => void) | undefined;
  let pending = false;

  function wake(): void {
    pending = true;
    wakeUp?.();
  }

  // A delivery can outlast a lease (slow MX, long timeouts): renew what we hold, so no other worker (or this one) starts it again.
  const renewEvery = Math.max(250, Math.floor(queue.leaseMs / 3));
  const renewal = setInterval(() => {
    if (!held.size) return;
    queue.renew(options.owner, [...held.values()]).catch((err) => log.error({ err }, 'delivery.renew_failed'));
  }, renewEvery);
  renewal.unref();

  async function runGroup(message: ClaimedMessage, domain: string, recipients: ClaimedRecipient[]): Promise<void> {
    let outcomes: AttemptOutcome[];
    try {
      outcomes = await options.deliver(message, domain, recipients);
    } catch (err) {
      log.error({ err, queueId: message.id, domain }, 'delivery.crashed');
      outcomes = recipients.map((r) => ({ rcpt: r.rcpt, status: 'deferred' as const, code: 451, text: `4.3.0 internal error: ${(err as Error).message}` }));
    }
    const settled = await queue.settle(options.owner, message, outcomes, options.settleHook);
    if (options.afterSettle && settled.length) await options.afterSettle(message, settled);
  }

  function launch(message: ClaimedMessage, domain: string, recipients: ClaimedRecipient[]): void {
    rates.take(domain);
    inflight++;
    perDomain.set(domain, (perDomain.get(domain) ?? 0) + 1);
    const task = runGroup(message, domain, recipients)
      .catch((err) => log.error({ err, queueId: message.id }, 'delivery.settle_failed'))
      .finally(() => {
        inflight--;
        const n = (perDomain.get(domain) ?? 1) - 1;
        if (n) perDomain.set(domain, n); else perDomain.delete(domain);
        for (const r of recipients) held.delete(key(message.id, r.rcpt));
        tasks.delete(task);
        wake();
      });
    tasks.add(task);
  }

  const hasSlot = (domain: string) =>
    inflight < options.concurrency && (perDomain.get(domain) ?? 0) < (limits[domain]?.concurrency ?? options.perDomainConcurrency) && rates.available(domain);

  /** Starts what waits in the backlog for domains that have room again. */
  function drainBacklog(): boolean {
    let launched = false;
    for (const [domain, list] of backlog) {
      while (list.length && hasSlot(domain)) {
        const next = list.shift()!;
        backlogSize--;
        launch(next.message, domain, next.recipients);
        launched = true;
      }
      if (!list.length) backlog.delete(domain);
      if (inflight >= options.concurrency) break;
    }
    return launched;
  }

  /** Takes a message leased to us: its recipient groups start now where their domain has room, else wait in the backlog. */
  function accept(message: ClaimedMessage): boolean {
    let launched = false;
    const groups = new Map<string, ClaimedRecipient[]>();
    for (const r of message.recipients) {
      const k = key(message.id, r.rcpt);
      if (held.has(k)) continue; // already ours (its lease ran out while it was in flight): never started twice
      held.set(k, { messageId: message.id, rcpt: r.rcpt });
      const list = groups.get(r.domain);
      if (list) list.push(r); else groups.set(r.domain, [r]);
    }
    for (const [domain, recipients] of groups) {
      if (!stopped && hasSlot(domain) && !backlog.has(domain)) {
        launch(message, domain, recipients);
        launched = true;
      } else {
        const list = backlog.get(domain);
        if (list) list.push({ message, recipients }); else backlog.set(domain, [{ message, recipients }]);
        backlogSize++;
      }
    }
    return launched;
  }

  async function loop(): Promise<void> {
    while (!stopped) {
      pending = false;
      let launchedAny = drainBacklog();
      // Claim in batches: while the backlog and deliveries in flight fill the window, a claim (one commit) would buy little.
      const room = options.concurrency - inflight - backlogSize;
      const worthIt = room >= Math.max(1, Math.floor(options.concurrency / 4)) || (inflight === 0 && backlogSize === 0 && room > 0);
      if (worthIt) {
        let messages: ClaimedMessage[] = [];
        try {
          // A domain with every slot busy and a full backlog is not claimed for: its mail cannot start, others' can.
          const skipDomains = [...backlog].filter(([d, list]) => list.length >= options.perDomainConcurrency && !hasSlot(d)).map(([d]) => d);
          messages = await queue.claim(options.owner, room, { skipDomains });
        } catch (err) {
          log.error({ err }, 'delivery.claim_failed');
        }
        for (const message of messages) if (accept(message)) launchedAny = true;
        // One busy destination must not fill the whole window: beyond two waves of its own, its mail goes back to the queue.
        const excess: Array<{ messageId: string; rcpt: string }> = [];
        for (const list of backlog.values()) {
          while (list.length > 2 * options.perDomainConcurrency) {
            const dropped = list.pop()!;
            backlogSize--;
            for (const r of dropped.recipients) {
              held.delete(key(dropped.message.id, r.rcpt));
              excess.push({ messageId: dropped.message.id, rcpt: r.rcpt });
            }
          }
        }
        if (excess.length) await queue.release(options.owner, excess).catch((err) => log.error({ err }, 'delivery.release_failed'));
        if (messages.length && inflight + backlogSize < options.concurrency && !excess.length) continue;
      }
      if (stopped) break;
      if (launchedAny && pending) continue;
      if (pending && inflight < options.concurrency && worthIt) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, options.idleMs ?? 1000);
        wakeUp = () => { clearTimeout(t); resolve(); };
      });
      wakeUp = undefined;
    }
  }

  const looping = loop();
  return {
    wake,
    /** Room for a message handed over by the queue right after it is stored (see QueueOptions.handoff). */
    accepts: () => !stopped && inflight + backlogSize < options.concurrency,
    /** A message the queue leased to us when it stored it. */
    take(message: ClaimedMessage): void {
      if (stopped) return; // its lease runs out and the next start claims it
      accept(message);
      wake();
    },
    get inflight() { return inflight; },
    /** Stops claiming, waits for deliveries in flight and gives the backlog back. */
    async stop(): Promise<void> {
      stopped = true;
      wakeUp?.();
      await looping;
      await Promise.allSettled([...tasks]);
      clearInterval(renewal);
      const waiting = [...backlog.values()].flat();
      backlog.clear();
      backlogSize = 0;
      await queue.release(options.owner, waiting.flatMap((w) => w.recipients.map((r) => ({ messageId: w.message.id, rcpt: r.rcpt })))).catch((err) => log.error({ err }, 'delivery.release_failed'));
      held.clear();
    },
  };
}
