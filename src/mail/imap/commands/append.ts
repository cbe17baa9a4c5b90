// APPEND, RFC 3501 §6.3.11, answering APPENDUID (RFC 4315 §3): a message with optional flags and internal date into INBOX (or Captured for administrators).
import { findMailbox, type OverQuota } from '../mailstore.ts';
import { parseDateTime } from '../format.ts';
import type { ImapToken } from '../parser.ts';
import { parseFlags } from './store.ts';
import { bad, no, ok, type CommandSpec } from './types.ts';

export const append: CommandSpec = {
  name: 'APPEND',
  states: ['authenticated', 'selected'],
  schema: ['astring', 'rest'],
  async handler(s, [mailbox, rest]) {
    const tokens = [...(rest as ImapToken[])];
    const message = tokens.pop();
    if (!message || message.type !== 'string' || !message.literal) return bad('APPEND needs the message as a literal');
    let flags: string[] = [];
    if (tokens[0]?.type === 'list') {
      const parsed = parseFlags([tokens.shift()!]);
      if (!parsed) return bad('APPEND: invalid flags');
      flags = parsed;
    }
    let internalDate = Date.now();
    if (tokens.length) {
      const t = tokens.shift()!;
      const date = t.type === 'string' ? parseDateTime(t.value.toString('latin1')) : undefined;
      if (date === undefined) return bad('APPEND: invalid date-time');
      internalDate = date;
    }
    if (tokens.length) return bad('APPEND: too many arguments');
    const target = findMailbox(s.user!, mailbox as string);
    if (!target) return no('No such mailbox', 'TRYCREATE');
    if (message.value.length === 0) return no('Empty message');
    // The account's quota (RFC 9208) covers its own mailbox; Captured, the catch-all of capture mode, belongs to no account.
    const quotaOf = target.box === s.user!.name ? s.user!.id : undefined;
    const uid = await s.store.append(target.box, { raw: Buffer.from(message.value), flags, internalDate, quotaOf });
    if (typeof uid !== 'number') return no(overQuotaText(uid), 'OVERQUOTA');
    s.watch.changed(target.box);
    const validity = await s.store.uidValidity(target.box);
    return ok('APPEND completed', `APPENDUID ${validity} ${uid}`);
  },
};

/** RFC 9208 §4.3 OVERQUOTA: says what is used and what to do. */
export function overQuotaText(o: OverQuota): string {
  return `Mailbox quota exceeded (${o.used} of ${o.quota} bytes used); delete or expunge messages, or ask for a larger quota`;
}
