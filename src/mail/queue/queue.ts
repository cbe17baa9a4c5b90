// The durable outbound queue: a message is committed before its 250 (RFC 5321 §6.1), recipients carry their own state and lease.
import { randomBytes } from 'node:crypto';
import type { Queryable, Store } from '../../store/store.ts';
import { skipLocked } from '../../store/store.ts';
import type { CommitBatcher } from '../../store/batch.ts';
import type { Events } from '../events.ts';
import { domainOf } from '../accounts.ts';

/** RFC 3461 §4.1 NOTIFY values; undefined means the default (failure and delay notices). */
export type DsnNotify = Array<'NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY'>;

export type QueueRecipient = { address: string; notify?: DsnNotify; orcpt?: string };

export type Submission = {
  mailFrom: string;
  recipients: QueueRecipient[];
  raw: Buffer;
  source: 'submission' | 'inbound' | 'dsn' | 'api';
  authUser?: string;
  remoteIp?: string;
  /** RFC 3461 §4.4 ENVID */
  envId?: string;
  /** RFC 3461 §4.3 RET */
  ret?: 'FULL' | 'HDRS';
  isDsn?: boolean;
  headerMessageId?: string | null;
  /** Selectors that signed the message, for the timeline. */
  signedWith?: string[];
  /** Inbound SPF / DKIM / DMARC result words (src/mail/inbound-auth.ts), for the timeline. */
  authResults?: { spf: string; dkim: string; dmarc: string };
};

export type RecipientState = 'queued' | 'delivered' | 'failed' | 'expired' | 'cancelled';

export type ClaimedRecipient = { rcpt: string; domain: string; attempts: number; notify: DsnNotify | undefined; orcpt: string | null; delayNotified: boolean };

export type ClaimedMessage = {
  id: string;
  mailFrom: string;
  raw: Buffer;
  headerMessageId: string | null;
  envId: string | null;
  ret: string | null;
  isDsn: boolean;
  source: string;
  receivedAt: number;
  recipients: ClaimedRecipient[];
};

/** What one delivery attempt did for one recipient. */
export type AttemptOutcome = {
  rcpt: string;
  status: 'delivered' | 'deferred' | 'failed';
  code?: number;
  text?: string;
  /** Fields for the timeline: mx host, ip, tls version, route. */
  detail?: Record<string, unknown>;
};

/** Recipients whose fate a DSN must tell (RFC 3464). */
export type Settled = { rcpt: string; state: 'delivered' | 'failed' | 'expired' | 'deferred'; delayNotice: boolean; outcome: AttemptOutcome; claimed: ClaimedRecipient };

/**
 * Runs inside the transaction that records the outcomes, so what it writes (a DSN, RFC 3464) commits
 * with them or not at all. Returns true when it queued a message (the delivery loop is woken after the commit).
 */
export type SettleHook = (q: Queryable, message: ClaimedMessage, settled: Settled[]) => Promise<boolean>;

export class QueueError extends Error {
  code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export function newQueueId(): string {
  return Date.now().toString(36).padStart(9, '0') + randomBytes(6).toString('hex');
}

export type QueueOptions = {
  store: Store;
  batcher: CommitBatcher;
  events: Events;
  retrySchedule: number[];
  expireAfterMs: number;
  delayNoticeAfterMs: number;
  leaseMs: number;
  now?: () => number;
  /** Called after a message is committed, to wake the delivery loop. */
  onEnqueue?: () => void;
  /**
   * Hand-off to this process's delivery loop: when `accepts()` says it has room, a new message is
   * leased to `owner` in the same transaction that stores it and given to `take` after the commit,
   * so it is not read back from the store by a claim.
   */
  handoff?: { owner: string; accepts(): boolean; take(message: ClaimedMessage): void };
};

export function createQueue(options: QueueOptions) {
  const { store, batcher, events } = options;
  const now = options.now ?? Date.now;

  /** Seconds before attempt n+1 after n failed attempts: 2m, 5m, 10m, ... the last repeating. */
  function retryDelayMs(attempts: number): number {
    const s = options.retrySchedule;
    return s[Math.min(attempts - 1, s.length - 1)] * 1000;
  }

  async function insert(q: Queryable, id: string, sub: Submission, lease?: string): Promise<number> {
    const t = now();
    await q.run(
      'INSERT INTO mail_messages (id, mail_from, header_message_id, env_id, dsn_ret, size, raw, source, auth_user, remote_ip, is_dsn, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [id, sub.mailFrom, sub.headerMessageId ?? null, sub.envId ?? null, sub.ret ?? null, sub.raw.length, sub.raw, sub.source, sub.authUser ?? null, sub.remoteIp ?? null, sub.isDsn ? 1 : 0, t],
    );
    for (const r of sub.recipients) {
      await q.run(
        'INSERT INTO mail_recipients (message_id, rcpt, domain, status, attempts, next_attempt_at, notify, orcpt, updated_at, lease_owner, lease_until) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id, rcpt) DO NOTHING',
        [id, r.address, domainOf(r.address), 'queued', t, r.notify ? r.notify.join(',') : null, r.orcpt ?? null, t, lease ?? null, lease ? t + options.leaseMs : null],
      );
    }
    const base = { messageId: id, headerMessageId: sub.headerMessageId };
    await events.record(q, { ...base, type: 'received', data: { from: sub.mailFrom, source: sub.source, size: sub.raw.length, authUser: sub.authUser, remoteIp: sub.remoteIp, ...sub.authResults } });
    if (sub.signedWith?.length) await events.record(q, { ...base, type: 'signed', data: { selectors: sub.signedWith } });
    await events.record(q, { ...base, type: 'queued', data: { from: sub.mailFrom, recipients: sub.recipients.map((r) => r.address), size: sub.raw.length, source: sub.source } });
    return t;
  }

  /** The message as a claim would have returned it, for the hand-off. */
  function asClaimed(id: string, sub: Submission, receivedAt: number): ClaimedMessage {
    const seen = new Set<string>();
    const recipients: ClaimedRecipient[] = [];
    for (const r of sub.recipients) {
      if (seen.has(r.address)) continue;
      seen.add(r.address);
      recipients.push({ rcpt: r.address, domain: domainOf(r.address), attempts: 0, notify: r.notify, orcpt: r.orcpt ?? null, delayNotified: false });
    }
    return {
      id, mailFrom: sub.mailFrom, raw: sub.raw, headerMessageId: sub.headerMessageId ?? null, envId: sub.envId ?? null, ret: sub.ret ?? null,
      isDsn: !!sub.isDsn, source: sub.source, receivedAt, recipients,
    };
  }

  return {
    retryDelayMs,
    /** How long a claim holds a recipient before others may take it. */
    leaseMs: options.leaseMs,

    /** Resolves with the queue id once the message and its recipients are committed to disk. */
    async enqueue(sub: Submission): Promise<string> {
      if (!sub.recipients.length) throw new QueueError('queue.no_recipients', 'a message needs at least one recipient');
      const id = newQueueId();
      const handoff = options.handoff?.accepts() ? options.handoff : undefined;
      const receivedAt = await batcher.submit((q) => insert(q, id, sub, handoff?.owner));
      if (handoff) handoff.take(asClaimed(id, sub, receivedAt));
      else options.onEnqueue?.();
      return id;
    },

    /** Inserts a message inside the caller's transaction (a DSN written with the outcome it reports); the caller wakes the loop after its commit. */
    async enqueueIn(q: Queryable, sub: Submission): Promise<string> {
      if (!sub.recipients.length) throw new QueueError('queue.no_recipients', 'a message needs at least one recipient');
      const id = newQueueId();
      await insert(q, id, sub);
      return id;
    },

    /** Leases up to `limit` due recipients (grouped by message) to `owner`; others cannot take them until the lease ends. */
    async claim(owner: string, limit: number, filter: { skipDomains?: string[] } = {}): Promise<ClaimedMessage[]> {
      type DueRow = { message_id: string; rcpt: string; domain: string; attempts: number; notify: string | null; orcpt: string | null; delay_notified: number };
      type MessageRow = { id: string; mail_from: string; raw: Uint8Array; header_message_id: string | null; env_id: string | null; dsn_ret: string | null; is_dsn: number; source: string; received_at: number };
      // One commit shared with the settles and enqueues of the moment (group commit), and one read of the messages.
      const { rows, messages } = await batcher.submit(async (q) => {
        const t = now();
        // Domains the caller cannot start more deliveries for are left to later claims (or other workers).
        const skip = (filter.skipDomains ?? []).slice(0, 200);
        const notIn = skip.length ? `AND domain NOT IN (${skip.map(() => '?').join(', ')})` : '';
        const due = await q.all<DueRow>(
          `SELECT message_id, rcpt, domain, attempts, notify, orcpt, delay_notified FROM mail_recipients
           WHERE status = 'queued' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?) ${notIn}
           ORDER BY next_attempt_at LIMIT ? ${skipLocked(q.dialect)}`,
          [t, t, ...skip, limit],
        );
        for (const r of due) {
          await q.run('UPDATE mail_recipients SET lease_owner = ?, lease_until = ? WHERE message_id = ? AND rcpt = ?', [owner, t + options.leaseMs, r.message_id, r.rcpt]);
        }
        const ids = [...new Set(due.map((r) => r.message_id))];
        const found: MessageRow[] = [];
        for (let i = 0; i < ids.length; i += 100) {
          const chunk = ids.slice(i, i + 100);
          found.push(...(await q.all<MessageRow>(
            `SELECT id, mail_from, raw, header_message_id, env_id, dsn_ret, is_dsn, source, received_at FROM mail_messages WHERE id IN (${chunk.map(() => '?').join(', ')})`, chunk,
          )));
        }
        return { rows: due, messages: found };
      });
      const byMessage = new Map<string, ClaimedRecipient[]>();
      for (const r of rows) {
        const list = byMessage.get(r.message_id) ?? [];
        list.push({ rcpt: r.rcpt, domain: r.domain, attempts: Number(r.attempts), notify: r.notify ? (r.notify.split(',') as DsnNotify) : undefined, orcpt: r.orcpt, delayNotified: !!Number(r.delay_notified) });
        byMessage.set(r.message_id, list);
      }
      const out: ClaimedMessage[] = [];
      for (const m of messages) {
        const recipients = byMessage.get(m.id);
        if (!recipients) continue;
        out.push({
          id: m.id, mailFrom: m.mail_from, raw: Buffer.from(m.raw), headerMessageId: m.header_message_id, envId: m.env_id, ret: m.dsn_ret,
          isDsn: !!Number(m.is_dsn), source: m.source, receivedAt: Number(m.received_at), recipients,
        });
      }
      // Keep the order of due times (the IN query returns rows in any order).
      const order = new Map([...byMessage.keys()].map((id, i) => [id, i]));
      return out.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
    },

    /** Extends the leases of recipients still being worked on by `owner` (a delivery may outlast one lease). */
    async renew(owner: string, held: Array<{ messageId: string; rcpt: string }>): Promise<void> {
      await batcher.submit(async (q) => {
        const until = now() + options.leaseMs;
        for (const h of held) {
          await q.run("UPDATE mail_recipients SET lease_until = ? WHERE message_id = ? AND rcpt = ? AND lease_owner = ? AND status = 'queued'", [until, h.messageId, h.rcpt, owner]);
        }
      });
    },

    /**
     * Records one attempt's outcomes under the lease. Deferred recipients get their next time or expire
     * (RFC 5321 §4.5.4.1); the result says which recipients a DSN must report.
     */
    async settle(owner: string, message: ClaimedMessage, outcomes: AttemptOutcome[], hook?: SettleHook): Promise<Settled[]> {
      const t = now();
      let queued = false;
      const result = await batcher.submit(async (q) => {
        queued = false;
        const settled: Settled[] = [];
        for (const o of outcomes) {
          const claimed = message.recipients.find((r) => r.rcpt === o.rcpt);
          if (!claimed) continue;
          const attempts = claimed.attempts + 1;
          let state: Settled['state'] = o.status;
          let next = t;
          let delayNotice = false;
          if (o.status === 'deferred') {
            next = t + retryDelayMs(attempts);
            if (next - message.receivedAt > options.expireAfterMs) state = 'expired';
            else if (!claimed.delayNotified && t - message.receivedAt >= options.delayNoticeAfterMs) delayNotice = true;
          }
          const status = state === 'deferred' ? 'queued' : state;
          const r = await q.run(
            `UPDATE mail_recipients SET status = ?, attempts = ?, next_attempt_at = ?, lease_owner = NULL, lease_until = NULL,
             last_code = ?, last_reply = ?, delay_notified = CASE WHEN ? = 1 THEN 1 ELSE delay_notified END, updated_at = ?
             WHERE message_id = ? AND rcpt = ? AND lease_owner = ? AND status = 'queued'`,
            [status, attempts, next, o.code ?? null, o.text ?? null, delayNotice ? 1 : 0, t, message.id, o.rcpt, owner],
          );
          if (r.changes === 0) continue; // lease lost or cancelled meanwhile: the new owner records its own outcome
          const base = { messageId: message.id, headerMessageId: message.headerMessageId, rcpt: o.rcpt };
          await events.record(q, { ...base, type: 'attempt', data: { attempt: attempts, status: o.status, code: o.code, reply: o.text, ...o.detail } });
          if (state === 'deferred') await events.record(q, { ...base, type: 'deferred', data: { code: o.code, reply: o.text, nextAttemptAt: new Date(next).toISOString(), ...o.detail } });
          else if (state === 'expired') await events.record(q, { ...base, type: 'expired', data: { code: o.code, reply: o.text, attempts } });
          else await events.record(q, { ...base, type: state, data: { code: o.code, reply: o.text, ...o.detail } });
          settled.push({ rcpt: o.rcpt, state, delayNotice, outcome: o, claimed });
        }
        if (hook && settled.length) queued = await hook(q, message, settled);
        return settled;
      });
      if (queued) options.onEnqueue?.();
      return result;
    },

    /** Gives recipients back without counting an attempt (shutdown, more than a busy destination can take now), in one commit. */
    async release(owner: string, items: Array<{ messageId: string; rcpt: string }>): Promise<void> {
      if (!items.length) return;
      await batcher.submit(async (q) => {
        for (const it of items) {
          await q.run('UPDATE mail_recipients SET lease_owner = NULL, lease_until = NULL WHERE message_id = ? AND rcpt = ? AND lease_owner = ?', [it.messageId, it.rcpt, owner]);
        }
      });
    },

    /** Makes every queued recipient of the message due now. */
    async retryNow(messageId: string): Promise<number> {
      const changed = await store.tx(async (q) => {
        const r = await q.run("UPDATE mail_recipients SET next_attempt_at = ?, updated_at = ? WHERE message_id = ? AND status = 'queued'", [now(), now(), messageId]);
        if (r.changes) await events.record(q, { messageId, type: 'retry', data: { recipients: r.changes } });
        return r.changes;
      });
      if (changed) options.onEnqueue?.();
      return changed;
    },

    /** Cancels every recipient not yet delivered; a leased attempt in flight finishes but records nothing. */
    async cancel(messageId: string): Promise<number> {
      return store.tx(async (q) => {
        const r = await q.run("UPDATE mail_recipients SET status = 'cancelled', lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE message_id = ? AND status = 'queued'", [now(), messageId]);
        if (r.changes) await events.record(q, { messageId, type: 'cancelled', data: { recipients: r.changes } });
        return r.changes;
      });
    },
  };
}
export type MailQueue = ReturnType<typeof createQueue>;
