// Local mailboxes: mail for local accounts, and the catch-all `captured` mailbox that holds outbound mail in capture mode.
import type { Queryable } from '../store/store.ts';

export const CAPTURE_MAILBOX = 'captured';

export type StoredMail = { id: number; mailbox: string; queueId: string | null; mailFrom: string | null; rcpt: string | null; receivedAt: string; size: number };

/**
 * UIDs must become visible in the order they are given (RFC 3501 §2.3.1.1: a session that has seen UID n never looks below it
 * again). On PostgreSQL ids come from a sequence at INSERT but commit in any order, so every transaction that inserts into a
 * mailbox first takes this per-mailbox lock, held until it commits or rolls back: the inserts of one mailbox commit in id order.
 * SQLite has one writer at a time, nothing to do. Call it inside the transaction, before the INSERT.
 */
export async function lockMailboxForInsert(q: Queryable, mailbox: string): Promise<void> {
  if (q.dialect === 'postgres') await q.get("SELECT pg_advisory_xact_lock(hashtext('mail_mailbox:' || ?::text)) AS locked", [mailbox]);
}

export async function storeInMailbox(q: Queryable, m: { mailbox: string; queueId: string; mailFrom: string; rcpt: string; raw: Buffer }): Promise<number> {
  await lockMailboxForInsert(q, m.mailbox);
  const row = await q.get<{ id: number }>(
    'INSERT INTO mail_mailbox (mailbox, message_id, mail_from, rcpt, raw, flags, received_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id',
    [m.mailbox, m.queueId, m.mailFrom, m.rcpt, m.raw, '[]', Date.now()],
  );
  return Number(row!.id);
}

type Row = { id: number; mailbox: string; message_id: string | null; mail_from: string | null; rcpt: string | null; received_at: number; size: number };
const toMail = (r: Row): StoredMail => ({ id: Number(r.id), mailbox: r.mailbox, queueId: r.message_id, mailFrom: r.mail_from, rcpt: r.rcpt, receivedAt: new Date(Number(r.received_at)).toISOString(), size: Number(r.size) });

/** Newest first. `rcpt` filters on the envelope recipient. */
export async function listMailbox(q: Queryable, options: { mailbox: string; rcpt?: string; limit?: number; offset?: number }): Promise<StoredMail[]> {
  const params: (string | number)[] = [options.mailbox];
  let where = 'mailbox = ?';
  if (options.rcpt) { where += ' AND rcpt = ?'; params.push(options.rcpt.toLowerCase()); }
  params.push(options.limit ?? 50, options.offset ?? 0);
  const rows = await q.all<Row>(`SELECT id, mailbox, message_id, mail_from, rcpt, received_at, LENGTH(raw) AS size FROM mail_mailbox WHERE ${where} ORDER BY id DESC LIMIT ? OFFSET ?`, params);
  return rows.map(toMail);
}

export async function readMailboxMessage(q: Queryable, id: number): Promise<(StoredMail & { raw: Buffer }) | undefined> {
  const r = await q.get<Row & { raw: Uint8Array }>('SELECT id, mailbox, message_id, mail_from, rcpt, received_at, LENGTH(raw) AS size, raw FROM mail_mailbox WHERE id = ?', [id]);
  return r ? { ...toMail(r), raw: Buffer.from(r.raw) } : undefined;
}
