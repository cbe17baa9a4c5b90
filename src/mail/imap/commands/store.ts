// STORE and UID STORE, RFC 3501 §6.4.6: FLAGS, +FLAGS, -FLAGS (and .SILENT) on system flags and keywords.
import type { ImapToken, SequenceSet } from '../parser.ts';
import { SYSTEM_FLAGS } from '../mailstore.ts';
import { flagList } from '../format.ts';
import { resolveSet } from './messages.ts';
import { bad, no, ok, type CommandSpec } from './types.ts';

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
      for (const { seq, meta } of resolveSet(sel, set as SequenceSet, byUid)) {
        const next = m[1] === '+' ? [...meta.flags, ...flags.filter((f) => !meta.flags.some((x) => x.toLowerCase() === f.toLowerCase()))]
          : m[1] === '-' ? meta.flags.filter((f) => !lower.has(f.toLowerCase()))
          : flags;
        if (next.join(' ') !== meta.flags.join(' ')) {
          if (!(await s.store.setFlags(sel.ref.box, meta.uid, next))) continue;
          meta.flags = next;
          changed = true;
        }
        if (!m[2]) await s.send(`${seq} FETCH (FLAGS ${flagList(meta.flags)}${byUid ? ` UID ${meta.uid}` : ''})`);
      }
      if (changed) s.watch.changed(sel.ref.box);
      return ok(`${name} completed`);
    },
  };
}

export const store = storer(false);
export const uidStore = storer(true);
