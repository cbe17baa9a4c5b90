// IMAP's view of the local mailboxes (RFC 3501 §2.3): UIDs, UIDVALIDITY, UIDNEXT, flags and internal dates over the mail_mailbox table; no protocol here.
import type { Queryable, Store } from '../../store/store.ts';
import { ensureSetting } from '../../store/settings.ts';
import { CAPTURE_MAILBOX, lockMailboxForInsert } from '../mailbox.ts';
import type { Principal } from '../accounts.ts';

/** A mailbox as a client names it, and the mail_mailbox.mailbox value it stands for. */
export type MailboxRef = { name: string; box: string };

/** What the session keeps of one message of the selected mailbox. */
export type MessageMeta = { uid: number; flags: string[]; internalDate: number; size: number };

/** RFC 3501 §2.3.2 system flags; anything else that is an atom is a keyword. */
export const SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'] as const;

/**
 * The mailboxes an account sees: INBOX (RFC 3501 §5.1: the name is case-insensitive) is its own mailbox;
 * administrators also see Captured, the catch-all of capture mode.
 */
export function mailboxesOf(user: Principal): MailboxRef[] {
  const out: MailboxRef[] = [{ name: 'INBOX', box: user.name }];
  if (user.roles.includes('admin')) out.push({ name: 'Captured', box: CAPTURE_MAILBOX });
  return out;
}

export function findMailbox(user: Principal, name: string): MailboxRef | undefined {
  const wanted = name.toUpperCase() === 'INBOX' ? 'INBOX' : name;
  return mailboxesOf(user).find((m) => m.name === wanted);
}

function parseFlags(json: string): string[] {
  try {
    const v = JSON.parse(json);
    return Array.isArray(v) ? v.filter((f): f is string => typeof f === 'string') : [];
  } catch {
    return [];
  }
}

const CHUNK = 500;

/** What APPEND and COPY answer when the account's quota (mail_principals.quota, bytes, 0 = none) would be exceeded. */
export type OverQuota = { overQuota: true; used: number; quota: number };

/** RFC 9208 §5: the stored size of the mailbox plus `adding` against the account's quota, read in the writing transaction. */
async function checkQuota(q: Queryable, box: string, quotaOf: number | undefined, adding: number): Promise<OverQuota | undefined> {
  if (quotaOf === undefined) return undefined;
  const quota = Number((await q.get<{ quota: number }>('SELECT quota FROM mail_principals WHERE id = ?', [quotaOf]))?.quota ?? 0);
  if (!(quota > 0)) return undefined;
  const used = Number((await q.get<{ used: number | null }>('SELECT SUM(LENGTH(raw)) AS used FROM mail_mailbox WHERE mailbox = ?', [box]))?.used ?? 0);
  return used + adding > quota ? { overQuota: true, used, quota } : undefined;
}

export function createImapStore(store: Store) {
  return {
    /** Where accounts are read for LOGIN and AUTHENTICATE. */
    accounts: store as Queryable,
    /** Every message of a mailbox in UID order: the sequence numbers of a session are positions in it. */
    async list(box: string): Promise<MessageMeta[]> {
      const rows = await store.all<{ id: number; flags: string; received_at: number; size: number }>(
        'SELECT id, flags, received_at, LENGTH(raw) AS size FROM mail_mailbox WHERE mailbox = ? ORDER BY id', [box]);
      return rows.map((r) => ({ uid: Number(r.id), flags: parseFlags(r.flags), internalDate: Number(r.received_at), size: Number(r.size) }));
    },

    /** A cheap fingerprint of a mailbox (count, highest UID, flag bytes): IDLE polls it and syncs only when it moved. */
    async fingerprint(box: string): Promise<string> {
      const r = await store.get<{ n: number; top: number | null; f: number | null }>(
        'SELECT COUNT(*) AS n, MAX(id) AS top, SUM(LENGTH(flags)) AS f FROM mail_mailbox WHERE mailbox = ?', [box]);
      return `${r?.n ?? 0}/${r?.top ?? 0}/${r?.f ?? 0}`;
    },

    async raw(box: string, uid: number): Promise<Buffer | undefined> {
      const r = await store.get<{ raw: Uint8Array }>('SELECT raw FROM mail_mailbox WHERE mailbox = ? AND id = ?', [box, uid]);
      return r ? Buffer.from(r.raw) : undefined;
    },

    /**
     * Changes a message's flags from the flags it has now, read in the same transaction (STORE +FLAGS/-FLAGS, FETCH's \Seen),
     * so a change another session made meanwhile is kept. Returns the resulting flags and whether they changed; undefined when
     * the message is gone.
     */
    async updateFlags(box: string, uid: number, change: (current: string[]) => string[]): Promise<{ flags: string[]; changed: boolean } | undefined> {
      return store.tx(async (q) => {
        const row = await q.get<{ flags: string }>(
          `SELECT flags FROM mail_mailbox WHERE mailbox = ? AND id = ?${store.dialect === 'postgres' ? ' FOR UPDATE' : ''}`, [box, uid]);
        if (!row) return undefined;
        const current = parseFlags(row.flags);
        const next = change(current);
        if (next.join(' ') === current.join(' ')) return { flags: current, changed: false };
        await q.run('UPDATE mail_mailbox SET flags = ? WHERE mailbox = ? AND id = ?', [JSON.stringify(next), box, uid]);
        return { flags: next, changed: true };
      });
    },

    /**
     * EXPUNGE: removes, among `uids`, the messages whose flags contain \Deleted now (not in some session's older view),
     * checked and deleted in one transaction. Returns the UIDs actually removed.
     */
    async removeDeleted(box: string, uids: number[]): Promise<number[]> {
      return store.tx(async (q) => {
        const gone: number[] = [];
        for (let i = 0; i < uids.length; i += CHUNK) {
          const part = uids.slice(i, i + CHUNK);
          const marks = part.map(() => '?').join(',');
          const rows = await q.all<{ id: number; flags: string }>(
            `SELECT id, flags FROM mail_mailbox WHERE mailbox = ? AND id IN (${marks})${store.dialect === 'postgres' ? ' FOR UPDATE' : ''}`, [box, ...part]);
          const doomed = rows.filter((r) => parseFlags(r.flags).includes('\\Deleted')).map((r) => Number(r.id));
          if (!doomed.length) continue;
          await q.run(`DELETE FROM mail_mailbox WHERE mailbox = ? AND id IN (${doomed.map(() => '?').join(',')})`, [box, ...doomed]);
          gone.push(...doomed);
        }
        return gone;
      });
    },

    /**
     * APPEND (RFC 3501 §6.3.11): a new message with its flags and internal date; returns its UID, or OverQuota when `quotaOf`
     * (an account id) is given and its quota would be exceeded.
     */
    async append(box: string, m: { raw: Buffer; flags: string[]; internalDate: number; quotaOf?: number }): Promise<number | OverQuota> {
      return store.tx(async (q) => {
        await lockMailboxForInsert(q, box);
        const over = await checkQuota(q, box, m.quotaOf, m.raw.length);
        if (over) return over;
        const row = await q.get<{ id: number }>(
          'INSERT INTO mail_mailbox (mailbox, message_id, mail_from, rcpt, raw, flags, received_at) VALUES (?, NULL, NULL, NULL, ?, ?, ?) RETURNING id',
          [box, m.raw, JSON.stringify(m.flags), m.internalDate]);
        return Number(row!.id);
      });
    },

    /**
     * COPY (RFC 3501 §6.4.7): copies keep flags and internal date; returns [source UID, new UID] pairs in order, or OverQuota
     * when `quotaOf` (an account id) is given and its quota would be exceeded by the copies.
     */
    async copy(from: string, uids: number[], to: string, options: { quotaOf?: number } = {}): Promise<Array<[number, number]> | OverQuota> {
      return store.tx(async (q) => {
        await lockMailboxForInsert(q, to);
        if (options.quotaOf !== undefined && uids.length) {
          let adding = 0;
          for (let i = 0; i < uids.length; i += CHUNK) {
            const part = uids.slice(i, i + CHUNK);
            adding += Number((await q.get<{ n: number | null }>(
              `SELECT SUM(LENGTH(raw)) AS n FROM mail_mailbox WHERE mailbox = ? AND id IN (${part.map(() => '?').join(',')})`, [from, ...part]))?.n ?? 0);
          }
          const over = await checkQuota(q, to, options.quotaOf, adding);
          if (over) return over;
        }
        const out: Array<[number, number]> = [];
        for (const uid of uids) {
          const row = await q.get<{ id: number }>(
            'INSERT INTO mail_mailbox (mailbox, message_id, mail_from, rcpt, raw, flags, received_at) SELECT ?, message_id, mail_from, rcpt, raw, flags, received_at FROM mail_mailbox WHERE mailbox = ? AND id = ? RETURNING id',
            [to, from, uid]);
          if (row) out.push([uid, Number(row.id)]);
        }
        return out;
      });
    },

    /** RFC 3501 §2.3.1.1: a per-mailbox constant kept in settings, so it survives restarts and is the same on every node. */
    async uidValidity(box: string): Promise<number> {
      const { value } = await ensureSetting(store, `imap.uidvalidity.${box}`, () => String(Math.max(1, Math.floor(Date.now() / 1000) % 0xffffffff)));
      return Number(value);
    },

    /**
     * The next UID (RFC 3501 §2.3.1.1): UIDs come from the table's id sequence, shared by all mailboxes, so the next one is
     * the sequence's next value. It never goes down, also when the newest message is expunged.
     */
    async uidNext(box: string): Promise<number> {
      let last = 0;
      if (store.dialect === 'sqlite') {
        last = Number((await store.get<{ seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'mail_mailbox'"))?.seq ?? 0);
      } else {
        const r = await store.get<{ last_value: number; is_called: boolean }>("SELECT last_value, is_called FROM mail_mailbox_id_seq");
        last = r ? (r.is_called ? Number(r.last_value) : Number(r.last_value) - 1) : 0;
      }
      const top = Number((await store.get<{ top: number | null }>('SELECT MAX(id) AS top FROM mail_mailbox WHERE mailbox = ?', [box]))?.top ?? 0);
      return Math.max(last, top) + 1;
    },
  };
}

export type ImapStore = ReturnType<typeof createImapStore>;
