// STATUS, RFC 3501 §6.3.10: MESSAGES, RECENT (always 0), UIDNEXT, UIDVALIDITY, UNSEEN of a mailbox without selecting it.
import { findMailbox } from '../mailstore.ts';
import { quote } from '../format.ts';
import type { ImapToken } from '../parser.ts';
import { bad, no, ok, type CommandSpec } from './types.ts';

const ITEMS = new Set(['MESSAGES', 'RECENT', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN']);

export const status: CommandSpec = {
  name: 'STATUS',
  states: ['authenticated', 'selected'],
  schema: ['astring', 'list'],
  async handler(s, [mailbox, items]) {
    const names = (items as ImapToken[]).map((t) => (t.type === 'atom' ? t.value.toUpperCase() : ''));
    if (!names.length || names.some((n) => !ITEMS.has(n))) return bad('Unknown STATUS item');
    const ref = findMailbox(s.user!, mailbox as string);
    if (!ref) return no('No such mailbox', 'NONEXISTENT');
    const messages = await s.store.list(ref.box);
    const values: Record<string, number> = {
      MESSAGES: messages.length,
      RECENT: 0,
      UNSEEN: messages.filter((m) => !m.flags.includes('\\Seen')).length,
      UIDNEXT: names.includes('UIDNEXT') ? await s.store.uidNext(ref.box) : 0,
      UIDVALIDITY: names.includes('UIDVALIDITY') ? await s.store.uidValidity(ref.box) : 0,
    };
    await s.send(`STATUS ${quote(ref.name)} (${names.map((n) => `${n} ${values[n]}`).join(' ')})`);
    return ok('STATUS completed');
  },
};
