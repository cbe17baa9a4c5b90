// Delivery-status events from the mail server (signed webhooks, HMAC-SHA256 per RFC 2104): matched to notifications by their RFC 5322 Message-ID, applied once per event id.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Store } from '../store/store.ts';
import type { Logger } from '../lib/log.ts';
import type { NotifyMetrics } from './metrics.ts';
import { insertLog, type Channel, type NotificationStatus } from './queue.ts';

export const MAIL_EVENT_TYPES = ['received', 'queued', 'signed', 'attempt', 'delivered', 'deferred', 'failed', 'expired', 'dsn_sent', 'captured', 'bounced'] as const;
export type MailEventType = (typeof MAIL_EVENT_TYPES)[number];

export const mailEventSchema = z.object({
  id: z.string().min(1).max(200),
  type: z.enum(MAIL_EVENT_TYPES),
  queueId: z.string().max(200).optional().default(''),
  messageId: z.string().max(1000).optional().default(''),
  recipient: z.string().max(500).optional(),
  at: z.string(),
  data: z.record(z.string(), z.unknown()).optional().default({}),
});

export type MailEvent = z.output<typeof mailEventSchema>;

/** Checks `X-Mana-Signature: sha256=<hex>` against the raw body, in constant time. */
export function verifySignature(secret: string, raw: Buffer, header: string | undefined): boolean {
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec((header ?? '').trim());
  if (!m) return false;
  const expected = createHmac('sha256', secret).update(raw).digest();
  return timingSafeEqual(expected, Buffer.from(m[1]!, 'hex'));
}

const DELIVERED: ReadonlySet<MailEventType> = new Set(['delivered', 'captured']);
const BOUNCED: ReadonlySet<MailEventType> = new Set(['failed', 'expired', 'bounced']);

/** Statuses each event may move a notification out of: delivered never undoes a bounce; a later bounce (DSN) overrides delivered. */
const FROM_FOR_DELIVERED = ['pending', 'processing', 'sent'];
const FROM_FOR_BOUNCED = ['pending', 'processing', 'sent', 'delivered'];

/** Normalises a Message-ID for matching: angle brackets kept, surrounding space dropped. */
export function normaliseMessageId(id: string): string {
  const t = id.trim();
  return t.startsWith('<') ? t : `<${t}>`;
}

function reply(data: Record<string, unknown>): string | undefined {
  for (const key of ['reply', 'response', 'diagnostic', 'error', 'message', 'reason']) {
    const v = data[key];
    if (typeof v === 'string' && v) return v.slice(0, 1000);
  }
  return undefined;
}

export type ApplyResult = { matched: boolean; duplicate: boolean; notificationId?: string; status?: NotificationStatus };

/**
 * Records the event once (by id) and applies it to the notification whose smtp_message_id it
 * names: delivered/captured -> delivered, failed/expired/bounced -> bounced, anything else
 * (deferred included) only into the delivery log.
 */
export async function applyMailEvent(options: { store: Store; event: MailEvent; log: Logger; metrics?: NotifyMetrics; now?: () => number }): Promise<ApplyResult> {
  const { store, event } = options;
  const now = (options.now ?? Date.now)();
  const at = Number.isNaN(Date.parse(event.at)) ? now : Date.parse(event.at);
  const messageId = event.messageId ? normaliseMessageId(event.messageId) : '';
  const result = await store.tx(async (q): Promise<ApplyResult> => {
    const n = messageId
      ? await q.get<{ id: string; status: NotificationStatus; attempts: number; channel: Channel; app_id: string }>(
          'SELECT id, status, attempts, channel, app_id FROM notify_notifications WHERE smtp_message_id = ? ORDER BY created_at DESC LIMIT 1',
          [messageId],
        )
      : undefined;
    const first = await q.run(
      `INSERT INTO notify_mail_events (id, notification_id, type, message_id, queue_id, recipient, at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      [event.id, n?.id ?? null, event.type, messageId || null, event.queueId || null, event.recipient ?? null, at, now],
    );
    if (first.changes === 0) return { matched: n !== undefined, duplicate: true, ...(n ? { notificationId: n.id } : {}) };
    if (!n) return { matched: false, duplicate: false };
    const detail = reply(event.data);
    const success = !BOUNCED.has(event.type) && event.type !== 'deferred';
    await insertLog(q, { notificationId: n.id, at: now, log: {
      attempt: n.attempts,
      channel: n.channel,
      success,
      event: event.type,
      provider: 'mail',
      ...(event.queueId ? { providerId: event.queueId } : {}),
      ...(typeof event.data['code'] === 'number' ? { statusCode: event.data['code'] as number } : {}),
      ...(detail !== undefined || event.recipient ? { errorMessage: [event.recipient, detail].filter(Boolean).join(': ') } : {}),
    } });
    let status = n.status;
    if (DELIVERED.has(event.type)) {
      const marks = FROM_FOR_DELIVERED.map(() => '?').join(', ');
      const r = await q.run(
        `UPDATE notify_notifications SET status = 'delivered', delivered_at = ?, error_message = NULL, updated_at = ? WHERE id = ? AND status IN (${marks})`,
        [at, now, n.id, ...FROM_FOR_DELIVERED],
      );
      if (r.changes === 1) status = 'delivered';
    } else if (BOUNCED.has(event.type)) {
      const marks = FROM_FOR_BOUNCED.map(() => '?').join(', ');
      const r = await q.run(
        `UPDATE notify_notifications SET status = 'bounced', error_message = ?, updated_at = ? WHERE id = ? AND status IN (${marks})`,
        [detail ?? `mail server reported ${event.type}`, now, n.id, ...FROM_FOR_BOUNCED],
      );
      if (r.changes === 1) status = 'bounced';
    }
    if (status !== n.status) {
      if (status === 'delivered') options.metrics?.delivered.inc({ channel: n.channel, app_id: n.app_id });
      if (status === 'bounced') options.metrics?.bounced.inc({ channel: n.channel, app_id: n.app_id, reason: event.type });
    }
    return { matched: true, duplicate: false, notificationId: n.id, status };
  });
  options.log.info({ eventId: event.id, type: event.type, messageId, notificationId: result.notificationId, status: result.status, duplicate: result.duplicate }, 'mail event');
  return result;
}
