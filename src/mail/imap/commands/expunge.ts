// EXPUNGE (RFC 3501 §6.4.3), UID EXPUNGE (RFC 4315 §2.1), CLOSE (RFC 3501 §6.4.2) and UNSELECT (RFC 3691): removing \Deleted messages, leaving the mailbox.
import type { SequenceSet } from '../parser.ts';
import type { ImapSession } from './types.ts';
import { resolveSet } from './messages.ts';
import { no, ok, type CommandSpec } from './types.ts';

/** Removes the \Deleted messages (of `only`, when given) and, unless silent, reports each one, highest number first. */
async function removeDeleted(s: ImapSession, options: { only?: Set<number>; silent: boolean }): Promise<void> {
  const sel = s.selected!;
  // The view's flags may be stale (another session may have cleared \Deleted): the store decides on the flags it has now.
  const candidates = sel.messages.filter((m) => !options.only || options.only.has(m.uid)).map((m) => m.uid);
  if (!candidates.length) return;
  const gone = new Set(await s.store.removeDeleted(sel.ref.box, candidates));
  if (!gone.size) return;
  for (let i = sel.messages.length - 1; i >= 0; i--) {
    if (!gone.has(sel.messages[i].uid)) continue;
    if (!options.silent) await s.send(`${i + 1} EXPUNGE`);
    sel.messages.splice(i, 1);
  }
  s.watch.changed(sel.ref.box);
}

export const expunge: CommandSpec = {
  name: 'EXPUNGE',
  states: ['selected'],
  schema: [],
  async handler(s) {
    if (s.selected!.readOnly) return no('Mailbox is read-only', 'READ-ONLY');
    await removeDeleted(s, { silent: false });
    return ok('EXPUNGE completed');
  },
};

export const uidExpunge: CommandSpec = {
  name: 'UID EXPUNGE',
  states: ['selected'],
  schema: ['sequence'],
  async handler(s, [set]) {
    if (s.selected!.readOnly) return no('Mailbox is read-only', 'READ-ONLY');
    const only = new Set(resolveSet(s.selected!, set as SequenceSet, true).map((t) => t.meta.uid));
    await removeDeleted(s, { only, silent: false });
    return ok('UID EXPUNGE completed');
  },
};

export const close: CommandSpec = {
  name: 'CLOSE',
  states: ['selected'],
  schema: [],
  async handler(s) {
    // RFC 3501 §6.4.2: \Deleted messages go silently, and only when the mailbox was opened read-write.
    if (!s.selected!.readOnly) await removeDeleted(s, { silent: true });
    s.selected = undefined;
    s.state = 'authenticated';
    return ok('CLOSE completed');
  },
};

export const unselect: CommandSpec = {
  name: 'UNSELECT',
  states: ['selected'],
  schema: [],
  async handler(s) {
    s.selected = undefined;
    s.state = 'authenticated';
    return ok('UNSELECT completed');
  },
};
