// SELECT and EXAMINE, RFC 3501 §6.3.1-2: open a mailbox read-write or read-only and describe it (FLAGS, EXISTS, RECENT, UIDVALIDITY, UIDNEXT, PERMANENTFLAGS).
import { findMailbox, SYSTEM_FLAGS } from '../mailstore.ts';
import { no, ok, type CommandSpec } from './types.ts';

function opener(name: 'SELECT' | 'EXAMINE'): CommandSpec {
  const readOnly = name === 'EXAMINE';
  return {
    name,
    states: ['authenticated', 'selected'],
    schema: ['astring'],
    async handler(s, [mailbox]) {
      // RFC 3501 §6.3.1: a failed SELECT leaves no mailbox selected.
      s.selected = undefined;
      s.state = 'authenticated';
      const ref = findMailbox(s.user!, mailbox as string);
      if (!ref) return no('No such mailbox', 'NONEXISTENT');
      const [messages, uidValidity, uidNext] = await Promise.all([s.store.list(ref.box), s.store.uidValidity(ref.box), s.store.uidNext(ref.box)]);
      const keywords = [...new Set(messages.flatMap((m) => m.flags).filter((f) => !f.startsWith('\\')))];
      const flags = [...SYSTEM_FLAGS, ...keywords].join(' ');
      const unseen = messages.findIndex((m) => !m.flags.includes('\\Seen'));
      await s.send(`FLAGS (${flags})`);
      await s.send(`OK [PERMANENTFLAGS (${readOnly ? '' : `${flags} \\*`})] Flags permitted`);
      await s.send(`${messages.length} EXISTS`);
      await s.send('0 RECENT');
      if (unseen >= 0) await s.send(`OK [UNSEEN ${unseen + 1}] First unseen`);
      await s.send(`OK [UIDVALIDITY ${uidValidity}] UIDs valid`);
      await s.send(`OK [UIDNEXT ${uidNext}] Predicted next UID`);
      s.selected = { ref, readOnly, uidValidity, messages };
      s.state = 'selected';
      return ok(`${name} completed`, readOnly ? 'READ-ONLY' : 'READ-WRITE');
    },
  };
}

export const select = opener('SELECT');
export const examine = opener('EXAMINE');
