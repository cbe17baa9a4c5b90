// The delivery loop: leases due recipients, delivers them per destination domain within global and per-domain limits, settles outcomes.
import type { Logger } from '../../lib/log.ts';
import type { AttemptOutcome, ClaimedMessage, ClaimedRecipient, MailQueue, Settled } from './queue.ts';

export type DeliverGroup = (message: ClaimedMessage, domain: string, recipients: ClaimedRecipient[]) => Promise<AttemptOutcome[]>;

export type WorkerOptions = {
  queue: MailQueue;
  log: Logger;
  /** Lease owner name, unique per process. */
  owner: string;
  concurrency: number;
  perDomainConcurrency: number;
  deliver: DeliverGroup;
  /** Runs after outcomes are committed: DSNs, metrics. */
  afterSettle?: (message: ClaimedMessage, settled: Settled[]) => Promise<void>;
  idleMs?: number;
};

export function startDeliveryWorker(options: WorkerOptions) {
  const { queue, log } = options;
  let inflight = 0;
  const perDomain = new Map<string, number>();
  const tasks = new Set<Promise<void>>();
  let stopped = false;
  let wakeUp: (() => void) | undefined;
  let pending = false;

  function wake(): void {
    pending = true;
    wakeUp?.();
  }

  async function runGroup(message: ClaimedMessage, domain: string, recipients: ClaimedRecipient[]): Promise<void> {
    let outcomes: AttemptOutcome[];
    try {
      outcomes = await options.deliver(message, domain, recipients);
    } catch (err) {
      log.error({ err, queueId: message.id, domain }, 'delivery.crashed');
      outcomes = recipients.map((r) => ({ rcpt: r.rcpt, status: 'deferred' as const, code: 451, text: `4.3.0 internal error: ${(err as Error).message}` }));
    }
    const settled = await queue.settle(options.owner, message, outcomes);
    if (options.afterSettle && settled.length) await options.afterSettle(message, settled);
  }

  function launch(message: ClaimedMessage, domain: string, recipients: ClaimedRecipient[]): void {
    inflight++;
    perDomain.set(domain, (perDomain.get(domain) ?? 0) + 1);
    const task = runGroup(message, domain, recipients)
      .catch((err) => log.error({ err, queueId: message.id }, 'delivery.settle_failed'))
      .finally(() => {
        inflight--;
        const n = (perDomain.get(domain) ?? 1) - 1;
        if (n) perDomain.set(domain, n); else perDomain.delete(domain);
        tasks.delete(task);
        wake();
      });
    tasks.add(task);
  }

  async function loop(): Promise<void> {
    while (!stopped) {
      pending = false;
      let claimedAny = false;
      let launchedAny = false;
      const room = options.concurrency - inflight;
      if (room > 0) {
        let messages: ClaimedMessage[] = [];
        try {
          messages = await queue.claim(options.owner, room);
        } catch (err) {
          log.error({ err }, 'delivery.claim_failed');
        }
        for (const message of messages) {
          claimedAny = true;
          const groups = new Map<string, ClaimedRecipient[]>();
          for (const r of message.recipients) groups.set(r.domain, [...(groups.get(r.domain) ?? []), r]);
          for (const [domain, recipients] of groups) {
            if ((perDomain.get(domain) ?? 0) >= options.perDomainConcurrency || inflight >= options.concurrency) {
              await queue.release(options.owner, message.id, recipients.map((r) => r.rcpt));
              continue;
            }
            launch(message, domain, recipients);
            launchedAny = true;
          }
        }
      }
      if (stopped) break;
      // Claim again at once while work keeps coming; otherwise sleep until woken or the idle interval passes.
      if (launchedAny && inflight < options.concurrency) continue;
      if (pending && !(claimedAny && !launchedAny)) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, claimedAny && !launchedAny ? 50 : options.idleMs ?? 1000);
        wakeUp = () => { clearTimeout(t); resolve(); };
      });
      wakeUp = undefined;
    }
  }

  const looping = loop();
  return {
    wake,
    get inflight() { return inflight; },
    /** Stops claiming and waits for deliveries in flight. */
    async stop(): Promise<void> {
      stopped = true;
      wakeUp?.();
      await looping;
      await Promise.allSettled([...tasks]);
    },
  };
}
