// The outbound queue as the admin API and CLI show it (Stalwart's /api/queue/messages): messages with their recipients' state, and one message's timeline.
import type { Queryable } from '../../store/store.ts';
import { timeline, type TimelineEntry } from '../events.ts';

export type QueueRecipientView = {
  address: string;
  status: string;
  retry_num: number;
  next_retry: string | null;
  last_code: number | null;
  last_reply: string | null;
};

export type QueueMessageView = {
  id: string;
  return_path: string;
  message_id: string | null;
  env_id: string | null;
  created: string;
  size: number;
  source: string;
  auth_user: string | null;
  recipients: QueueRecipientView[];
};

export type QueueListQuery = {
  /** `queued` (the default: messages still waiting for a recipient), a recipient state, or `all`. */
  status?: string;
  /** Case-insensitive text in the return path or a recipient address. */
  text?: string;
  page?: number;
  limit?: number;
};

export const QUEUE_STATES = ['queued', 'delivered', 'failed', 'expired', 'cancelled', 'all'] as const;

type MessageRow = { id: string; mail_from: string; header_message_id: string | null; env_id: string | null; received_at: number; size: number; source: string; auth_user: string | null };
type RecipientRow = { rcpt: string; status: string; attempts: number; next_attempt_at: number; last_code: number | null; last_reply: string | null };

async function recipientsOf(q: Queryable, id: string): Promise<QueueRecipientView[]> {
  const rows = await q.all<RecipientRow>('SELECT rcpt, status, attempts, next_attempt_at, last_code, last_reply FROM mail_recipients WHERE message_id = ? ORDER BY rcpt', [id]);
  return rows.map((r) => ({
    address: r.rcpt,
    status: r.status,
    retry_num: Number(r.attempts),
    next_retry: r.status === 'queued' ? new Date(Number(r.next_attempt_at)).toISOString() : null,
    last_code: r.last_code === null ? null : Number(r.last_code),
    last_reply: r.last_reply,
  }));
}

async function view(q: Queryable, m: MessageRow): Promise<QueueMessageView> {
  return {
    id: m.id,
    return_path: m.mail_from,
    message_id: m.header_message_id,
    env_id: m.env_id,
    created: new Date(Number(m.received_at)).toISOString(),
    size: Number(m.size),
    source: m.source,
    auth_user: m.auth_user,
    recipients: await recipientsOf(q, m.id),
  };
}

const COLUMNS = 'm.id, m.mail_from, m.header_message_id, m.env_id, m.received_at, m.size, m.source, m.auth_user';

/** Newest first. */
export async function listQueue(q: Queryable, query: QueueListQuery = {}): Promise<{ items: QueueMessageView[]; total: number }> {
  const status = query.status ?? 'queued';
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (status !== 'all') {
    where.push('EXISTS (SELECT 1 FROM mail_recipients r WHERE r.message_id = m.id AND r.status = ?)');
    params.push(status);
  }
  if (query.text) {
    const like = `%${query.text.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
    where.push("(LOWER(m.mail_from) LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM mail_recipients r2 WHERE r2.message_id = m.id AND LOWER(r2.rcpt) LIKE ? ESCAPE '\\'))");
    params.push(like, like);
  }
  const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const total = Number((await q.get<{ n: number }>(`SELECT COUNT(*) AS n FROM mail_messages m ${clause}`, params))?.n ?? 0);
  const limit = query.limit && query.limit > 0 ? query.limit : 100;
  const page = Math.max(1, query.page ?? 1);
  const rows = await q.all<MessageRow>(`SELECT ${COLUMNS} FROM mail_messages m ${clause} ORDER BY m.received_at DESC, m.id DESC LIMIT ? OFFSET ?`, [...params, limit, (page - 1) * limit]);
  const items: QueueMessageView[] = [];
  for (const r of rows) items.push(await view(q, r));
  return { items, total };
}

export async function getQueueMessage(q: Queryable, id: string): Promise<(QueueMessageView & { timeline: TimelineEntry[] }) | undefined> {
  const row = await q.get<MessageRow>(`SELECT ${COLUMNS} FROM mail_messages m WHERE m.id = ?`, [id]);
  if (!row) return undefined;
  return { ...(await view(q, row)), timeline: await timeline(q, id) };
}
