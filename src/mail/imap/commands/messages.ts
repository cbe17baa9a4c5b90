// The messages a command names in the selected mailbox: sequence numbers or UIDs (RFC 3501 §6.4.8) against the session's view.
import { inSequenceSet, type SequenceSet } from '../parser.ts';
import type { MessageMeta } from '../mailstore.ts';
import type { SelectedMailbox } from './types.ts';

export type Target = { seq: number; meta: MessageMeta };

export function resolveSet(sel: SelectedMailbox, set: SequenceSet, byUid: boolean): Target[] {
  const list = sel.messages;
  const out: Target[] = [];
  if (!list.length) return out;
  const max = byUid ? list[list.length - 1].uid : list.length;
  for (let i = 0; i < list.length; i++) {
    if (inSequenceSet(set, byUid ? list[i].uid : i + 1, max)) out.push({ seq: i + 1, meta: list[i] });
  }
  return out;
}

/** RFC 4315 §3 uid-set: ascending UIDs as ranges, "3:5,9". */
export function uidSet(uids: number[]): string {
  const sorted = [...uids].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    out.push(i === j ? String(sorted[i]) : `${sorted[i]}:${sorted[j]}`);
    i = j;
  }
  return out.join(',');
}
