// IMAP's view of the local mailboxes (RFC 3501 §2.3): UIDs, UIDVALIDITY, UIDNEXT, flags and internal dates over the mail_mailbox table; no protocol here.
import type { Queryable, Store } from '../../store/store.ts';
import { ensureSetting } from '../../store/settings.ts';
import { CAPTURE_MAILBOX } from '../mailbox.ts';
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

    async setFlags(box: string, uid: number, flags: string[]): Promise<boolean> {
      const r = await store.run('UPDATE mail_mailbox SET flags = ? WHERE mailbox = ? AND id = ?', [JSON.stringify(flags), box, uid]);
      return r.changes === 1;
    },

    /** Removes messages for good (EXPUNGE); returns how many were there. */
    async remove(box: string, uids: number[]): Promise<number> {
      let n = 0;
      await store.tx(async (q) => {
        for (let i = 0; i < uids.length; i += CHUNK) {
          const part = uids.slice(i, i + CHUNK);
          n += (await q.run(`DELETE FROM mail_mailbox WHERE mailbox = ? AND id IN (${part.map(() => '?').join(',')})`, [box, ...part])).changes;
        }
      });
      return n;
    },

    /** APPEND (RFC 3501 §6.3.11): a new message with its flags and internal date; returns its UID. */
    async append(box: string, m: { raw: Buffer; flags: string[]; internalDate: number }): Promise<number> {
      const row = await store.get<{ id: number }>(
        'INSERT INTO mail_mailbox (mailbox, message_id, mail_from, rcpt, raw, flags, received_at) VALUES (?, NULL, NULL, NULL, ?, ?, ?) RETURNING id',
        [box, m.raw, JSON.stringify(m.flags), m.internalDate]);
      return Number(row!.id);
    },

    /** COPY (RFC 3501 §6.4.7): copies keep flags and internal date; returns [source UID, new UID] pairs in order. */
    async copy(from: string, uids: number[], to: string): Promise<Array<[number, number]>> {
      return store.tx(async (q) => {
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
