// Durable notification queue in the store: accept (idempotent insert), leased claims (FOR UPDATE SKIP LOCKED on PostgreSQL), outcomes, cancel, per-attempt delivery log.
import { randomUUIDv7 } from 'node:crypto';
import { skipLocked, type Param, type Queryable, type Store } from '../store/store.ts';
import { createGroupCommit } from './group-commit.ts';

export type Channel = 'email' | 'webhook' | 'push';
export type Priority = 'low' | 'normal' | 'high' | 'critical';
export type NotificationStatus = 'pending' | 'processing' | 'sent' | 'delivered' | 'bounced' | 'failed' | 'cancelled';

/** Channel options kept with the notification, so a retry after a restart sends the same thing. */
export type ChannelOptions = {
  email?: { from?: string; replyTo?: string; cc?: string[]; bcc?: string[]; headers?: Record<string, string> };
  webhook?: { method?: 'POST' | 'PUT'; headers?: Record<string, string>; timeout?: number };
  push?: { sound?: string; badge?: number; channelId?: string };
};

export type NotificationRow = {
  id: string;
  user_id: string | null;
  app_id: string;
  channel: Channel;
  template_id: string | null;
  subject: string | null;
  body: string | null;
  text_body: string | null;
  data: string | null;
  status: NotificationStatus;
  priority: Priority;
  scheduled_for: number | null;
  recipient: string | null;
  recipients: string | null;
  external_id: string | null;
  idempotency_key: string | null;
  options: string;
  attempts: number;
  next_attempt_at: number;
  lease_owner: string | null;
  lease_until: number | null;
  smtp_message_id: string | null;
  mail_queue_id: string | null;
  delivered_at: number | null;
  error_message: string | null;
  created_at: number;
  updated_at: number;
};

export type DeliveryLogRow = {
  id: number;
  notification_id: string;
  attempt_number: number;
  channel: Channel;
  success: number | boolean;
  status_code: number | null;
  error_message: string | null;
  provider_id: string | null;
  provider: string | null;
  event: string | null;
  duration_ms: number | null;
  created_at: number;
};

export type NewNotification = {
  appId: string;
  channel: Channel;
  userId?: string;
  templateId?: string;
  subject?: string;
  body?: string;
  textBody?: string;
  data?: Record<string, unknown>;
  priority?: Priority;
  /** Epoch ms; the worker does not send before it. */
  scheduledFor?: number;
  recipient?: string;
  recipients?: string[];
  externalId?: string;
  /** Already scoped by the caller (app id + header value). */
  idempotencyKey?: string;
  options?: ChannelOptions;
};

export type InsertResult = { id: string; created: boolean };

/** A row handed to a worker, with whether a previous holder's attempt was cut short (crash, lost lease). */
export type ClaimedNotification = NotificationRow & { interrupted: boolean };

export type AttemptLog = {
  attempt: number;
  channel: Channel;
  success: boolean;
  statusCode?: number;
  errorMessage?: string;
  providerId?: string;
  provider?: string;
  event?: string;
  durationMs?: number;
};

export type AttemptOutcome =
  | { kind: 'sent'; log: AttemptLog; mailQueueId?: string }
  | { kind: 'retry'; log: AttemptLog; at: number; error: string }
  | { kind: 'failed'; log: AttemptLog; error: string };

export type QueueOptions = { store: Store; now?: () => number };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isNotificationId(id: string): boolean {
  return UUID.test(id);
}

export type NotifyQueue = ReturnType<typeof createQueue>;

/** The queue over one store; every method is one statement or one transaction, so several processes may share it. */
export function createQueue(options: QueueOptions) {
  const { store } = options;
  const now = options.now ?? Date.now;
  const commit = createGroupCommit({ store });

  async function findDuplicate(q: Queryable, n: Pick<NewNotification, 'externalId' | 'idempotencyKey'>): Promise<string | undefined> {
    if (n.externalId !== undefined) {
      const row = await q.get<{ id: string }>('SELECT id FROM notify_notifications WHERE external_id = ?', [n.externalId]);
      if (row) return row.id;
    }
    if (n.idempotencyKey !== undefined) {
      const row = await q.get<{ id: string }>('SELECT id FROM notify_notifications WHERE idempotency_key = ?', [n.idempotencyKey]);
      if (row) return row.id;
    }
    return undefined;
  }

  function insertParams(n: NewNotification, id: string, at: number): Param[] {
    const due = n.scheduledFor !== undefined && n.scheduledFor > at ? n.scheduledFor : at;
    return [
      id, n.userId ?? null, n.appId, n.channel, n.templateId ?? null, n.subject ?? null, n.body ?? null, n.textBody ?? null,
      n.data === undefined ? null : JSON.stringify(n.data), n.priority ?? 'normal', n.scheduledFor ?? null,
      n.recipient ?? null, n.recipients && n.recipients.length > 0 ? JSON.stringify(n.recipients) : null,
      n.externalId ?? null, n.idempotencyKey ?? null, JSON.stringify(n.options ?? {}), due, at, at,
    ];
  }

  const INSERT = `INSERT INTO notify_notifications
    (id, user_id, app_id, channel, template_id, subject, body, text_body, data, status, priority, scheduled_for,
     recipient, recipients, external_id, idempotency_key, options, attempts, next_attempt_at, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)
    ON CONFLICT DO NOTHING`;

  return {
    /** The id of an existing notification with the same externalId or idempotency key, if any. */
    findDuplicate(n: Pick<NewNotification, 'externalId' | 'idempotencyKey'>): Promise<string | undefined> {
      return findDuplicate(store, n);
    },

    /**
     * Commits a pending notification. When its externalId or idempotency key is taken (also by a
     * concurrent request), returns the existing id with created=false; the unique indexes decide.
     */
    async insert(n: NewNotification): Promise<InsertResult> {
      // Time-ordered (RFC 9562 version 7): new rows land at the right edge of the id indexes
      // instead of on a random page each, so a commit writes a few pages, not one per row.
      const id = randomUUIDv7();
      const params = insertParams(n, id, now());
      const work = async (q: Queryable): Promise<InsertResult> => {
        const r = await q.run(INSERT, params);
        if (r.changes === 1) return { id, created: true };
        const existing = await findDuplicate(q, n);
        if (existing === undefined) throw Object.assign(new Error('notification insert conflicted with no visible row'), { code: 'queue.insert_conflict' });
        return { id: existing, created: false };
      };
      // PostgreSQL: the INSERT commits on its own (one round trip, not BEGIN/INSERT/COMMIT); after
      // ON CONFLICT DO NOTHING the row that won is committed, so the lookup that follows sees it.
      return store.dialect === 'postgres' ? work(store) : commit.run(work);
    },

    async get(id: string): Promise<NotificationRow | undefined> {
      if (!isNotificationId(id)) return undefined;
      return store.get<NotificationRow>('SELECT * FROM notify_notifications WHERE id = ?', [id]);
    },

    async logs(id: string): Promise<DeliveryLogRow[]> {
      return store.all<DeliveryLogRow>('SELECT * FROM notify_delivery_logs WHERE notification_id = ? ORDER BY id', [id]);
    },

    /** Cancels a notification that no worker holds yet (pending, scheduled or waiting for a retry). */
    async cancel(id: string): Promise<boolean> {
      if (!isNotificationId(id)) return false;
      const r = await store.run(
        "UPDATE notify_notifications SET status = 'cancelled', updated_at = ? WHERE id = ? AND status = 'pending'",
        [now(), id],
      );
      return r.changes === 1;
    },

    /**
     * Leases due notifications to `owner`, up to `slots[channel]` per channel: pending ones whose
     * time has come (oldest first), and processing ones whose lease ran out (their holder died).
     * Status becomes processing in the same transaction, so a notification cancelled before this
     * point is never handed out. `messageIdFor` names a row's message before it is handed out
     * (first attempt), so events about it can be matched even before the send returns.
     */
    async claim(o: {
      owner: string;
      leaseMs: number;
      slots: Partial<Record<Channel, number>>;
      messageIdFor?: (row: Pick<NotificationRow, 'channel' | 'options'>) => string | undefined;
      /** Also look for expired leases (default true); a worker claiming many times a second looks now and then. */
      expired?: boolean;
    }): Promise<ClaimedNotification[]> {
      const wanted = (Object.entries(o.slots) as Array<[Channel, number]>).filter(([, n]) => n > 0);
      if (wanted.length === 0) return [];
      const at = now();
      // Rides along in the commit of accepts arriving meanwhile (one fsync for both on SQLite).
      return commit.run(async (q) => {
        const lock = skipLocked(q.dialect);
        type Picked = Pick<NotificationRow, 'id' | 'channel' | 'options' | 'smtp_message_id'>;
        const picked: Array<Picked & { interrupted: boolean }> = [];
        const columns = 'id, channel, options, smtp_message_id';
        for (const [channel, limit] of wanted) {
          // Two index range scans (status, channel, time): no sort over the whole backlog.
          const expired = o.expired === false ? [] : await q.all<Picked>(
            `SELECT ${columns} FROM notify_notifications WHERE status = 'processing' AND channel = ? AND lease_until < ? ORDER BY lease_until LIMIT ? ${lock}`,
            [channel, at, limit],
          );
          const due = expired.length >= limit ? [] : await q.all<Picked>(
            `SELECT ${columns} FROM notify_notifications WHERE status = 'pending' AND channel = ? AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ? ${lock}`,
            [channel, at, limit - expired.length],
          );
          picked.push(...expired.map((r) => ({ ...r, interrupted: true })), ...due.map((r) => ({ ...r, interrupted: false })));
        }
        if (picked.length === 0) return [];
        const ids = picked.map((r) => r.id);
        // Messages named now (first claim) get their Message-ID in the same UPDATE.
        const named: Param[] = [];
        for (const r of picked) {
          const messageId = r.smtp_message_id === null && o.messageIdFor ? o.messageIdFor(r) : undefined;
          if (messageId !== undefined) named.push(r.id, messageId);
        }
        const setMessageId = named.length ? `, smtp_message_id = COALESCE(smtp_message_id, CASE id ${'WHEN ? THEN ? '.repeat(named.length / 2)}END)` : '';
        // The status check is a CASE on purpose: written as `status = ... OR ...`, SQLite's planner
        // prefers the status index for a dozen ids and walks every pending row (milliseconds per
        // claim with a backlog of thousands); as an expression it looks the ids up by primary key.
        const rows = await q.all<NotificationRow>(
          `UPDATE notify_notifications
              SET status = 'processing', lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?${setMessageId}
            WHERE id IN (${ids.map(() => '?').join(', ')})
              AND (CASE WHEN status = 'pending' THEN 1 WHEN status = 'processing' AND lease_until < ? THEN 1 ELSE 0 END) = 1
            RETURNING *`,
          [o.owner, at + o.leaseMs, at, ...named, ...ids, at],
        );
        const interrupted = new Set(picked.filter((r) => r.interrupted).map((r) => r.id));
        for (const row of rows) {
          if (interrupted.has(row.id)) {
            await insertLog(q, { notificationId: row.id, at, log: { attempt: row.attempts - 1, channel: row.channel, success: false, errorMessage: 'attempt interrupted: the worker holding it stopped' } });
          }
        }
        rows.sort((a, b) => a.next_attempt_at - b.next_attempt_at);
        return rows.map((row) => ({ ...row, interrupted: interrupted.has(row.id) }));
      }, { lazy: true });
    },

    /**
     * Hands back work a previous run of this worker id held when it stopped (crash, SIGKILL), so a
     * restarted node resumes at once instead of waiting for its leases to expire.
     */
    async recoverOwn(owner: string): Promise<number> {
      const at = now();
      return store.tx(async (q) => {
        const rows = await q.all<{ id: string; attempts: number; channel: Channel }>(
          "SELECT id, attempts, channel FROM notify_notifications WHERE status = 'processing' AND lease_owner = ?",
          [owner],
        );
        for (const row of rows) {
          await q.run(
            "UPDATE notify_notifications SET status = 'pending', lease_owner = NULL, lease_until = NULL, next_attempt_at = ?, updated_at = ? WHERE id = ? AND status = 'processing'",
            [at, at, row.id],
          );
          await insertLog(q, { notificationId: row.id, at, log: { attempt: row.attempts, channel: row.channel, success: false, errorMessage: 'attempt interrupted: the worker restarted' } });
        }
        return rows.length;
      });
    },

    /** Records the Message-ID before the message goes out, so the mail server's events can find it. */
    async setMessageId(o: { id: string; owner: string; messageId: string }): Promise<boolean> {
      const r = await store.run(
        "UPDATE notify_notifications SET smtp_message_id = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND status = 'processing'",
        [o.messageId, now(), o.id, o.owner],
      );
      return r.changes === 1;
    },

    /** Extends a lease during a long attempt; false when the lease was lost. */
    async renew(o: { id: string; owner: string; leaseMs: number }): Promise<boolean> {
      const r = await store.run(
        "UPDATE notify_notifications SET lease_until = ? WHERE id = ? AND lease_owner = ? AND status = 'processing'",
        [now() + o.leaseMs, o.id, o.owner],
      );
      return r.changes === 1;
    },

    /**
     * Writes the outcome of one attempt and its delivery-log row in one transaction. Returns false
     * when the row is no longer ours (lease lost, or a delivery event already moved it on); the log
     * row is written either way.
     */
    async finish(o: { id: string; owner: string; outcome: AttemptOutcome }): Promise<boolean> {
      const at = now();
      const { outcome } = o;
      return commit.run(async (q) => {
        const row = await q.get<{ channel: Channel }>('SELECT channel FROM notify_notifications WHERE id = ?', [o.id]);
        if (row === undefined) return false;
        await insertLog(q, { notificationId: o.id, at, log: outcome.log });
        const own = "WHERE id = ? AND lease_owner = ? AND status = 'processing'";
        let r: { changes: number };
        if (outcome.kind === 'sent') {
          r = await q.run(
            `UPDATE notify_notifications SET status = 'sent', lease_owner = NULL, lease_until = NULL, error_message = NULL, mail_queue_id = ?, updated_at = ? ${own}`,
            [outcome.mailQueueId ?? null, at, o.id, o.owner],
          );
          if (r.changes === 0) {
            // A delivery event got here first; keep its status, drop our lease.
            await q.run('UPDATE notify_notifications SET lease_owner = NULL, lease_until = NULL, mail_queue_id = COALESCE(mail_queue_id, ?) WHERE id = ? AND lease_owner = ?', [outcome.mailQueueId ?? null, o.id, o.owner]);
          }
        } else if (outcome.kind === 'retry') {
          r = await q.run(
            `UPDATE notify_notifications SET status = 'pending', lease_owner = NULL, lease_until = NULL, next_attempt_at = ?, error_message = ?, updated_at = ? ${own}`,
            [outcome.at, outcome.error, at, o.id, o.owner],
          );
        } else {
          r = await q.run(
            `UPDATE notify_notifications SET status = 'failed', lease_owner = NULL, lease_until = NULL, error_message = ?, updated_at = ? ${own}`,
            [outcome.error, at, o.id, o.owner],
          );
        }
        return r.changes === 1;
      }, { lazy: true });
    },

    /** When the next pending notification falls due (epoch ms), for the worker's sleep. */
    async nextDueAt(): Promise<number | undefined> {
      const row = await store.get<{ due: number | null }>(
        "SELECT MIN(next_attempt_at) AS due FROM notify_notifications WHERE status = 'pending'",
      );
      const lease = await store.get<{ due: number | null }>(
        "SELECT MIN(lease_until) AS due FROM notify_notifications WHERE status = 'processing'",
      );
      const times = [row?.due, lease?.due].filter((t): t is number => t !== null && t !== undefined).map(Number);
      return times.length ? Math.min(...times) : undefined;
    },

    /** Notifications waiting or in progress (pending, processing), for the queue-depth gauge: an index range, not the whole history. */
    async countWaiting(): Promise<{ pending: number; processing: number }> {
      const rows = await store.all<{ status: string; n: number }>(
        "SELECT status, COUNT(*) AS n FROM notify_notifications WHERE status IN ('pending', 'processing') GROUP BY status",
      );
      const counts = { pending: 0, processing: 0 };
      for (const r of rows) counts[r.status as 'pending' | 'processing'] = Number(r.n);
      return counts;
    },

    /** Notifications per status. */
    async countByStatus(): Promise<Record<string, number>> {
      const rows = await store.all<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM notify_notifications GROUP BY status');
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    },
  };
}

/** Appends one row to a notification's delivery log (an attempt, or an event from the mail server). */
export async function insertLog(q: Queryable, entry: { notificationId: string; at: number; log: AttemptLog }): Promise<void> {
  const { notificationId, at, log } = entry;
  await q.run(
    `INSERT INTO notify_delivery_logs (notification_id, attempt_number, channel, success, status_code, error_message, provider_id, provider, event, duration_ms, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      notificationId, log.attempt, log.channel, log.success ? 1 : 0, log.statusCode ?? null, log.errorMessage ?? null,
      log.providerId ?? null, log.provider ?? null, log.event ?? null, log.durationMs === undefined ? null : Math.round(log.durationMs), at,
    ],
  );
}
