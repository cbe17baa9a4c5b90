// FETCH and UID FETCH, RFC 3501 §6.4.5 and §6.4.8: flags, dates, sizes, ENVELOPE, BODY[STRUCTURE], body sections with partial ranges; BODY[] without PEEK sets \Seen.
import { parseImapMessage, type ImapMessage } from '../message.ts';
import type { FetchAtt, SequenceSet } from '../parser.ts';
import { flagList, internalDate } from '../format.ts';
import { resolveSet } from './messages.ts';
import { nextMessage, ok, type CommandSpec } from './types.ts';

const literal = (b: Buffer): Buffer[] => [Buffer.from(`{${b.length}}\r\n`), b];

/** RFC 3501 §6.4.5: `<start.count>` returns at most count octets from start; a start past the end gives an empty string. */
export function applyPartial(data: Buffer, partial: { start: number; count: number } | undefined): Buffer {
  if (!partial) return data;
  if (partial.start >= data.length) return Buffer.alloc(0);
  return data.subarray(partial.start, partial.start + partial.count);
}

function fetcher(byUid: boolean): CommandSpec {
  return {
    name: byUid ? 'UID FETCH' : 'FETCH',
    states: ['selected'],
    schema: ['sequence', 'fetch-atts'],
    expungesAfter: byUid,
    async handler(s, [set, atts]) {
      const sel = s.selected!;
      let items = atts as FetchAtt[];
      // RFC 3501 §6.4.8: UID FETCH always returns the UID.
      if (byUid && !items.some((a) => a.kind === 'UID')) items = [{ kind: 'UID' }, ...items];
      const needsMessage = items.some((a) => !['UID', 'FLAGS', 'INTERNALDATE', 'RFC822.SIZE'].includes(a.kind));
      const setsSeen = !sel.readOnly && items.some((a) => a.kind === 'RFC822' || a.kind === 'RFC822.TEXT' || (a.kind === 'section' && !a.peek));
      let changed = false;
      let first = true;
      for (const { seq, meta } of resolveSet(sel, set as SequenceSet, byUid)) {
        if (!first && !(await nextMessage(s))) break;
        first = false;
        let msg: ImapMessage | undefined;
        let raw: Buffer | undefined;
        if (needsMessage) {
          raw = await s.store.raw(sel.ref.box, meta.uid);
          // Expunged by another session since our view was made: nothing to say about it (RFC 2180 §4.1.2 allows either).
          if (!raw) continue;
          msg = parseImapMessage(raw);
        }
        let flagsChanged = false;
        if (setsSeen && !meta.flags.includes('\\Seen')) {
          // Added to the flags the message has now (read in the same transaction), so another session's change is kept.
          const result = await s.store.updateFlags(sel.ref.box, meta.uid, (current) => (current.includes('\\Seen') ? current : [...current, '\\Seen']));
          if (result) {
            flagsChanged = result.changed || result.flags.join(' ') !== meta.flags.join(' ');
            meta.flags = result.flags;
            if (result.changed) changed = true;
          }
        }
        const parts: Array<string | Buffer> = [];
        for (const a of items) {
          switch (a.kind) {
            case 'UID': parts.push(`UID ${meta.uid}`); break;
            case 'FLAGS': parts.push(`FLAGS ${flagList(meta.flags)}`); break;
            case 'INTERNALDATE': parts.push(`INTERNALDATE ${internalDate(meta.internalDate)}`); break;
            case 'RFC822.SIZE': parts.push(`RFC822.SIZE ${meta.size}`); break;
            case 'ENVELOPE': parts.push(`ENVELOPE ${msg!.envelope()}`); break;
            case 'BODY': parts.push(`BODY ${msg!.bodyStructure(false)}`); break;
            case 'BODYSTRUCTURE': parts.push(`BODYSTRUCTURE ${msg!.bodyStructure(true)}`); break;
            case 'RFC822': parts.push('RFC822 ', ...literal(raw!)); break;
            case 'RFC822.HEADER': parts.push('RFC822.HEADER ', ...literal(msg!.section({ part: [], kind: 'header' }))); break;
            case 'RFC822.TEXT': parts.push('RFC822.TEXT ', ...literal(msg!.section({ part: [], kind: 'text' }))); break;
            case 'section': {
              const data = applyPartial(msg!.section(a.section), a.partial);
              parts.push(`BODY[${a.text}]${a.partial ? `<${a.partial.start}>` : ''} `, ...literal(data));
              break;
            }
          }
        }
        // RFC 3501 §6.4.5: when FETCH sets \Seen the new flags are returned, asked for or not.
        if (flagsChanged && !items.some((a) => a.kind === 'FLAGS')) parts.push(`FLAGS ${flagList(meta.flags)}`);
        const joined: Array<string | Buffer> = [];
        parts.forEach((p, i) => {
          // Items are separated by one space; a literal's bytes follow its own header.
          if (i > 0 && typeof p === 'string' && !(typeof parts[i - 1] === 'string' && (parts[i - 1] as string).endsWith(' '))) joined.push(' ');
          joined.push(p);
        });
        await s.send(`${seq} FETCH (`, ...joined, ')');
      }
      if (changed) s.watch.changed(sel.ref.box);
      return ok(`${byUid ? 'UID FETCH' : 'FETCH'} completed`);
    },
  };
}

export const fetch = fetcher(false);
export const uidFetch = fetcher(true);
