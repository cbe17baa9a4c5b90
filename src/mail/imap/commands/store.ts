// STORE and UID STORE, RFC 3501 §6.4.6: FLAGS, +FLAGS, -FLAGS (and .SILENT) on system flags and keywords.
import type { ImapToken, SequenceSet } from '../parser.ts';
import { SYSTEM_FLAGS } from '../mailstore.ts';
import { flagList } from '../format.ts';
import { resolveSet } from './messages.ts';
import { bad, nextMessage, no, ok, type CommandSpec } from './types.ts';

/** Flags as given, system flags in their canonical case; undefined when one is not a flag we can keep (\Recent included). */
export function parseFlags(tokens: ImapToken[]): string[] | undefined {
  const items = tokens.length === 1 && tokens[0].type === 'list' ? tokens[0].items : tokens;
  const out: string[] = [];
  for (const t of items) {
    if (t.type !== 'atom') return undefined;
    let flag = t.value;
    if (flag.startsWith('\\')) {
      const known = SYSTEM_FLAGS.find((f) => f.toLowerCase() === flag.toLowerCase());
      if (!known) return undefined;
      flag = known;
    } else if (!/^[!#$&'+\-.\/0-9:;<=>?@A-Z^_`a-z|~]+$/.test(flag)) return undefined;
    if (!out.some((f) => f.toLowerCase() === flag.toLowerCase())) out.push(flag);
  }
  return out;
}

function storer(byUid: boolean): CommandSpec {
  const name = byUid ? 'UID STORE' : 'STORE';
  return {
    name,
    states: ['selected'],
    schema: ['sequence', 'atom', 'rest'],
    expungesAfter: byUid,
    async handler(s, [set, item, rest]) {
      const m = /^([+-]?)FLAGS(\.SILENT)?$/i.exec(item as string);
      if (!m) return bad(`${name}: unknown data item`);
      const flags = parseFlags(rest as ImapToken[]);
      if (!flags) return bad(`${name}: invalid flags`);
      const sel = s.selected!;
      if (sel.readOnly) return no('Mailbox is read-only', 'READ-ONLY');
      const lower = new Set(flags.map((f) => f.toLowerCase()));
      let changed = false;
      let first = true;
      for (const { seq, meta } of resolveSet(sel, set as SequenceSet, byUid)) {
        if (!first && !(await nextMessage(s))) break;
        first = false;
        // +FLAGS and -FLAGS apply to the flags the message has now, read in the same transaction, not to the view's copy.
        const apply = (current: string[]) =>
          m[1] === '+' ? [...current, ...flags.filter((f) => !current.some((x) => x.toLowerCase() === f.toLowerCase()))]
            : m[1] === '-' ? current.filter((f) => !lower.has(f.toLowerCase()))
            : flags;
        const result = await s.store.updateFlags(sel.ref.box, meta.uid, apply);
        // Expunged by another session meanwhile: nothing to report (RFC 2180 §4.2.1).
        if (!result) continue;
        // RFC 3501 §6.4.6: .SILENT spares the echo of the client's own change, not one another session made meanwhile.
        const surprise = result.flags.join(' ') !== apply(meta.flags).join(' ');
        meta.flags = result.flags;
        if (result.changed) changed = true;
        if (!m[2] || surprise) await s.send(`${seq} FETCH (FLAGS ${flagList(meta.flags)}${byUid ? ` UID ${meta.uid}` : ''})`);
      }
      if (changed) s.watch.changed(sel.ref.box);
      return ok(`${name} completed`);
    },
  };
}

export const store = storer(false);
export const uidStore = storer(true);
