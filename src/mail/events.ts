// One event stream for every message: the timeline in the store, the log line, and the signed webhooks to subscribers.
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../store/store.ts';
import type { Logger } from '../lib/log.ts';

export type MailEventType =
  | 'received' | 'queued' | 'signed' | 'attempt' | 'delivered' | 'deferred' | 'failed' | 'expired'
  | 'dsn_sent' | 'delay_notice' | 'captured' | 'cancelled' | 'retry'
  /** A remote MTA reported the recipient failed after accepting the message (RFC 3464 DSN, src/mail/bounces.ts). */
  | 'bounced';

export type MailEvent = {
  type: MailEventType;
  /** Queue id of the message. */
  messageId: string;
  /** The RFC 5322 Message-ID, with angle brackets, so subscribers can match their own messages. */
  headerMessageId?: string | null;
  rcpt?: string | null;
  data?: Record<string, unknown>;
};

const QUIET = new Set<MailEventType>(['received', 'signed', 'attempt']);

export type WebhookSubscriber = { url: string; secret: string };

/** Events subscribers are told about; `received`/`signed` stay in the timeline only. */
const PUSHED = new Set<MailEventType>(['queued', 'attempt', 'delivered', 'deferred', 'failed', 'expired', 'dsn_sent', 'delay_notice', 'captured', 'cancelled', 'bounced']);

export function createEvents(options: { log: Logger; subscribers: WebhookSubscriber[]; now?: () => number }) {
  const now = options.now ?? Date.now;
  return {
    subscribers: options.subscribers,
    /** Writes the event with the caller's transaction, so the timeline and the webhook outbox commit with the state change. */
    async record(q: Queryable, ev: MailEvent): Promise<void> {
      const at = now();
      const data = ev.data ?? {};
      await q.run('INSERT INTO mail_events (message_id, rcpt, type, at, data) VALUES (?, ?, ?, ?, ?)', [ev.messageId, ev.rcpt ?? null, ev.type, at, JSON.stringify(data)]);
      if (options.subscribers.length > 0 && PUSHED.has(ev.type)) {
        const body = JSON.stringify({
          id: randomUUID(), type: ev.type, queueId: ev.messageId, messageId: ev.headerMessageId ?? null,
          recipient: ev.rcpt ?? undefined, at: new Date(at).toISOString(), data,
        });
        for (const s of options.subscribers) {
          await q.run('INSERT INTO mail_webhook_outbox (url, body, attempts, next_attempt_at, created_at) VALUES (?, ?, 0, ?, ?)', [s.url, body, at, at]);
        }
      }
      // One info line when a message is queued and one per outcome; the steps between are debug (they stay in the timeline).
      const level = QUIET.has(ev.type) ? 'debug' : 'info';
      options.log[level]({ queueId: ev.messageId, rcpt: ev.rcpt ?? undefined, ...data }, `mail.${ev.type}`);
    },
  };
}
export type Events = ReturnType<typeof createEvents>;

export type TimelineEntry = { type: string; rcpt: string | null; at: string; data: Record<string, unknown> };

export async function timeline(q: Queryable, messageId: string): Promise<TimelineEntry[]> {
  const rows = await q.all<{ type: string; rcpt: string | null; at: number; data: string }>('SELECT type, rcpt, at, data FROM mail_events WHERE message_id = ? ORDER BY id', [messageId]);
  return rows.map((r) => ({ type: r.type, rcpt: r.rcpt, at: new Date(Number(r.at)).toISOString(), data: JSON.parse(r.data) }));
}
