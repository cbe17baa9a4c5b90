// Durable outbox of auth's emails: a row is written in the request that causes the email, a background loop hands it to notify with retries (transactional outbox; no RFC).
import { randomUUID } from 'node:crypto';
import type { Logger } from '../lib/log.ts';
import type { Store } from '../store/store.ts';
import type { NotifyClient, NotifySendRequest } from './notify-client.ts';

export type OutboxStatus = 'pending' | 'sent' | 'rejected' | 'expired';

export type OutboxEmail = {
  /** What the email is for, e.g. 'verification'; for logs and tests. */
  kind: string;
  /** The notify request; its externalId is set from the row id, so every retry is the same notification. */
  request: Omit<NotifySendRequest, 'externalId'>;
  /** After this time (epoch ms) the email is useless (its link has expired) and is no longer sent. */
  expiresAt: number;
};

export type OutboxRow = {
  id: string;
  kind: string;
  recipient: string;
  status: OutboxStatus;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  notification_id: string | null;
};

export type Outbox = {
  /** Stores the email; returns its id. Sending happens in the background, never in the caller's time. */
  enqueue(email: OutboxEmail): Promise<string>;
  /** Runs one pass over due rows now; resolves when the pass is over. */
  flush(): Promise<void>;
  /** True the first time it is asked for this kind and user, false ever after: once-only emails such as the welcome. */
  firstTime(kind: string, userId: string): Promise<boolean>;
  start(): void;
  stop(): Promise<void>;
};

/** Seconds-scale backoff: quick at first (notify restarting), then slower; the last value repeats. */
export const DEFAULT_RETRY_DELAYS_MS = [2_000, 5_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000];

const PRUNE_EVERY_MS = 10 * 60_000;
const KEEP_FINISHED_MS = 30 * 86400_000;

export function externalIdOf(id: string): string {
  return `mana-auth:${id}`;
}

export function createOutbox(options: {
  store: Store;
  notify: NotifyClient;
  log: Logger;
  retryDelaysMs?: number[];
  pollMs?: number;
  leaseMs?: number;
  now?: () => number;
}): Outbox {
  const { store, notify, log } = options;
  const delays = options.retryDelaysMs?.length ? options.retryDelaysMs : DEFAULT_RETRY_DELAYS_MS;
  const pollMs = options.pollMs ?? 1_000;
  const leaseMs = options.leaseMs ?? 60_000;
  const now = options.now ?? Date.now;
  const owner = randomUUID();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = true;

  async function sendOne(row: { id: string; kind: string; recipient: string; payload: string; attempts: number; expires_at: number }): Promise<void> {
    const t = now();
    if (t > Number(row.expires_at)) {
      await store.run("UPDATE auth_outbox SET status = 'expired', payload = '{}', lease_owner = NULL, lease_until = NULL WHERE id = ?", [row.id]);
      log.warn({ outboxId: row.id, kind: row.kind, attempts: row.attempts }, 'auth email expired before notify took it');
      return;
    }
    const request = { ...(JSON.parse(row.payload) as NotifySendRequest), externalId: externalIdOf(row.id) };
    const outcome = await notify.send(request);
    const attempts = Number(row.attempts) + 1;
    if (outcome.status === 'sent') {
      // The link's token is in the payload; once notify has the email we keep no copy.
      await store.run(
        "UPDATE auth_outbox SET status = 'sent', payload = '{}', attempts = ?, sent_at = ?, notification_id = ?, last_error = NULL, lease_owner = NULL, lease_until = NULL WHERE id = ?",
        [attempts, now(), outcome.notificationId ?? null, row.id],
      );
      log.info({ outboxId: row.id, kind: row.kind, attempts, notificationId: outcome.notificationId, deduplicated: outcome.deduplicated }, 'auth email handed to notify');
    } else if (outcome.status === 'rejected') {
      await store.run("UPDATE auth_outbox SET status = 'rejected', attempts = ?, last_error = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?", [attempts, outcome.error, row.id]);
      log.error({ outboxId: row.id, kind: row.kind, attempts, error: outcome.error }, 'notify rejected auth email');
    } else {
      const delay = delays[Math.min(attempts - 1, delays.length - 1)]!;
      await store.run('UPDATE auth_outbox SET attempts = ?, next_attempt_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?', [attempts, now() + delay, outcome.error, row.id]);
      log.warn({ outboxId: row.id, kind: row.kind, attempts, retryInMs: delay, error: outcome.error }, 'auth email not handed to notify, will retry');
    }
  }

  let lastPrune = 0;
  async function pass(): Promise<void> {
    const t = now();
    if (t - lastPrune > PRUNE_EVERY_MS) {
      lastPrune = t;
      // Finished rows are kept a while for inspection (their payload is already blanked), then dropped.
      await store.run("DELETE FROM auth_outbox WHERE status <> 'pending' AND created_at < ?", [t - KEEP_FINISHED_MS]);
    }
    const due = await store.all<{ id: string }>(
      "SELECT id FROM auth_outbox WHERE status = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_attempt_at LIMIT 50",
      [t, t],
    );
    for (const { id } of due) {
      if (stopped && !flushing) break;
      // Claim the row; another auth node may have taken it between the SELECT and here.
      const claimed = await store.run("UPDATE auth_outbox SET lease_owner = ?, lease_until = ? WHERE id = ? AND status = 'pending' AND (lease_until IS NULL OR lease_until < ?)", [owner, now() + leaseMs, id, now()]);
      if (claimed.changes !== 1) continue;
      const row = await store.get<{ id: string; kind: string; recipient: string; payload: string; attempts: number; expires_at: number }>(
        'SELECT id, kind, recipient, payload, attempts, expires_at FROM auth_outbox WHERE id = ? AND lease_owner = ?',
        [id, owner],
      );
      if (!row) continue;
      try {
        await sendOne(row);
      } catch (err) {
        log.error({ outboxId: id, err }, 'auth outbox step failed');
        await store.run('UPDATE auth_outbox SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?', [id, owner]).catch(() => {});
      }
    }
  }

  let flushing = false;
  function run(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await pass();
        } while (again);
      } catch (err) {
        log.error({ err }, 'auth outbox pass failed');
      } finally {
        running = undefined;
      }
    })();
    return running;
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(async () => {
      timer = undefined;
      await run();
      schedule();
    }, pollMs);
  }

  return {
    async enqueue(email) {
      const id = randomUUID();
      const t = now();
      await store.run(
        "INSERT INTO auth_outbox (id, kind, recipient, payload, status, attempts, next_attempt_at, expires_at, created_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
        [id, email.kind, email.request.recipient, JSON.stringify(email.request), t, email.expiresAt, t],
      );
      if (!stopped) setImmediate(() => void run());
      return id;
    },
    async firstTime(kind, userId) {
      const r = await store.run('INSERT INTO auth_once (kind, user_id, at) VALUES (?, ?, ?) ON CONFLICT (kind, user_id) DO NOTHING', [kind, userId, now()]);
      return r.changes === 1;
    },
    async flush() {
      flushing = true;
      try {
        await run();
        if (running) await running;
      } finally {
        flushing = false;
      }
    },
    start() {
      if (!stopped) return;
      stopped = false;
      schedule();
      setImmediate(() => void run());
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (running) await running;
    },
  };
}

/** Rows of the outbox, newest first; for tests and the CLI. */
export async function listOutbox(store: Store, filter: { recipient?: string } = {}): Promise<OutboxRow[]> {
  const where = filter.recipient ? 'WHERE recipient = ?' : '';
  return store.all<OutboxRow>(
    `SELECT id, kind, recipient, status, attempts, next_attempt_at, last_error, notification_id FROM auth_outbox ${where} ORDER BY created_at DESC`,
    filter.recipient ? [filter.recipient] : [],
  );
}
