// COPY and UID COPY, RFC 3501 §6.4.7 and §6.4.8, answering COPYUID (RFC 4315 §3): between the mailboxes an account sees (INBOX, Captured for administrators).
import { findMailbox } from '../mailstore.ts';
import type { SequenceSet } from '../parser.ts';
import { resolveSet, uidSet } from './messages.ts';
import { overQuotaText } from './append.ts';
import { no, ok, type CommandSpec } from './types.ts';

function copier(byUid: boolean): CommandSpec {
  const name = byUid ? 'UID COPY' : 'COPY';
  return {
    name,
    states: ['selected'],
    schema: ['sequence', 'astring'],
    expungesAfter: byUid,
    async handler(s, [set, mailbox]) {
      const target = findMailbox(s.user!, mailbox as string);
      // RFC 3501 §6.4.7: TRYCREATE tells the client the mailbox does not exist.
      if (!target) return no('No such mailbox', 'TRYCREATE');
      const sel = s.selected!;
      const uids = resolveSet(sel, set as SequenceSet, byUid).map((t) => t.meta.uid);
      if (!uids.length) return ok(`${name} completed, nothing to copy`);
      const pairs = await s.store.copy(sel.ref.box, uids, target.box, { quotaOf: target.box === s.user!.name ? s.user!.id : undefined });
      if (!Array.isArray(pairs)) return no(overQuotaText(pairs), 'OVERQUOTA');
      s.watch.changed(target.box);
      if (!pairs.length) return ok(`${name} completed, nothing to copy`);
      const validity = await s.store.uidValidity(target.box);
      return ok(`${name} completed`, `COPYUID ${validity} ${uidSet(pairs.map((p) => p[0]))} ${uidSet(pairs.map((p) => p[1]))}`);
    },
  };
}

export const copy = copier(false);
export const uidCopy = copier(true);
