// SEARCH criteria, RFC 3501 §6.4.4: parsed into a tree once, then tested against each message (flags, dates, sizes, headers, text).
import { asText, inSequenceSet, parseSequenceSet, type ImapToken, type SequenceSet } from './parser.ts';
import { dayOf, parseSearchDate } from './format.ts';
import type { ImapMessage } from './message.ts';
import type { MessageMeta } from './mailstore.ts';

export type SearchKey =
  | { op: 'all' }
  | { op: 'and'; keys: SearchKey[] }
  | { op: 'or'; a: SearchKey; b: SearchKey }
  | { op: 'not'; key: SearchKey }
  | { op: 'flag'; flag: string; present: boolean }
  | { op: 'header'; field: string; value: string }
  | { op: 'body'; value: string }
  | { op: 'text'; value: string }
  | { op: 'date'; sent: boolean; cmp: 'before' | 'on' | 'since'; day: number }
  | { op: 'size'; larger: boolean; n: number }
  | { op: 'seq'; set: SequenceSet }
  | { op: 'uid'; set: SequenceSet };

export class SearchSyntaxError extends Error {
  code = 'imap.bad_search';
}

const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ['\\Answered', true], UNANSWERED: ['\\Answered', false],
  DELETED: ['\\Deleted', true], UNDELETED: ['\\Deleted', false],
  DRAFT: ['\\Draft', true], UNDRAFT: ['\\Draft', false],
  FLAGGED: ['\\Flagged', true], UNFLAGGED: ['\\Flagged', false],
  SEEN: ['\\Seen', true], UNSEEN: ['\\Seen', false],
};
const HEADER_KEYS = new Set(['FROM', 'TO', 'CC', 'BCC', 'SUBJECT']);
const DATE_KEYS: Record<string, [boolean, 'before' | 'on' | 'since']> = {
  BEFORE: [false, 'before'], ON: [false, 'on'], SINCE: [false, 'since'],
  SENTBEFORE: [true, 'before'], SENTON: [true, 'on'], SENTSINCE: [true, 'since'],
};

/** At most this many search keys per command (nested ones count): each may scan the whole text of every message. */
export const MAX_SEARCH_KEYS = 64;

/** Parses the criteria (after any CHARSET); throws SearchSyntaxError. */
export function parseSearch(tokens: ImapToken[]): SearchKey {
  let i = 0;
  let count = 0;
  const fail = (m: string): never => { throw new SearchSyntaxError(m); };
  const text = (): string => {
    const v = asText(tokens[i++]);
    if (v === undefined) fail('SEARCH: missing string');
    return v!;
  };
  function key(depth: number): SearchKey {
    if (depth > 32) fail('SEARCH: nested too deeply');
    if (++count > MAX_SEARCH_KEYS) fail(`SEARCH: too many search keys, at most ${MAX_SEARCH_KEYS}; split the search`);
    const t = tokens[i++];
    if (!t) fail('SEARCH: missing search key');
    if (t.type === 'list') {
      if (!t.items.length) fail('SEARCH: empty list');
      return { op: 'and', keys: parseList(t.items, depth + 1) };
    }
    if (t.type !== 'atom') fail('SEARCH: unexpected string');
    const name = (t as { value: string }).value.toUpperCase();
    if (name === 'ALL') return { op: 'all' };
    if (name in FLAG_KEYS) return { op: 'flag', flag: FLAG_KEYS[name][0], present: FLAG_KEYS[name][1] };
    if (name === 'KEYWORD' || name === 'UNKEYWORD') return { op: 'flag', flag: text(), present: name === 'KEYWORD' };
    // This server keeps no \Recent (RFC 3501 §2.3.2 allows it): NEW is UNSEEN, OLD is every message, RECENT none.
    if (name === 'NEW') return { op: 'flag', flag: '\\Seen', present: false };
    if (name === 'OLD') return { op: 'all' };
    if (name === 'RECENT') return { op: 'not', key: { op: 'all' } };
    if (HEADER_KEYS.has(name)) return { op: 'header', field: name.toLowerCase(), value: text() };
    if (name === 'HEADER') { const field = text(); return { op: 'header', field: field.toLowerCase(), value: text() }; }
    if (name === 'BODY') return { op: 'body', value: text() };
    if (name === 'TEXT') return { op: 'text', value: text() };
    if (name in DATE_KEYS) {
      const day = parseSearchDate(text());
      if (day === undefined) fail(`SEARCH: bad date for ${name}`);
      return { op: 'date', sent: DATE_KEYS[name][0], cmp: DATE_KEYS[name][1], day: day! };
    }
    if (name === 'LARGER' || name === 'SMALLER') {
      const n = text();
      if (!/^\d{1,12}$/.test(n)) fail(`SEARCH: bad number for ${name}`);
      return { op: 'size', larger: name === 'LARGER', n: Number(n) };
    }
    if (name === 'UID') {
      const set = parseSequenceSet(text());
      if (!set) fail('SEARCH: bad UID set');
      return { op: 'uid', set: set! };
    }
    if (name === 'NOT') return { op: 'not', key: key(depth + 1) };
    if (name === 'OR') { const a = key(depth + 1); return { op: 'or', a, b: key(depth + 1) }; }
    const set = parseSequenceSet(name);
    if (set) return { op: 'seq', set };
    return fail(`SEARCH: unknown key ${name.slice(0, 20)}`);
  }
  function parseList(items: ImapToken[], depth: number): SearchKey[] {
    const saved = tokens;
    const savedI = i;
    tokens = items;
    i = 0;
    const out: SearchKey[] = [];
    while (i < tokens.length) out.push(key(depth));
    tokens = saved;
    i = savedI;
    return out;
  }
  if (!tokens.length) fail('SEARCH: no criteria');
  const keys: SearchKey[] = [];
  while (i < tokens.length) keys.push(key(0));
  return keys.length === 1 ? keys[0] : { op: 'and', keys };
}

/** Whether testing the key needs the message itself (headers, text, Date), not only flags, dates and sizes. */
export function needsContent(k: SearchKey): boolean {
  switch (k.op) {
    case 'and': return k.keys.some(needsContent);
    case 'or': return needsContent(k.a) || needsContent(k.b);
    case 'not': return needsContent(k.key);
    case 'header': case 'body': case 'text': return true;
    case 'date': return k.sent;
    default: return false;
  }
}

export type SearchSubject = {
  seq: number; meta: MessageMeta; maxSeq: number; maxUid: number; message?: ImapMessage;
  /** Lower-cased texts of this message, made once per SEARCH and shared by all its keys; filled as keys need them. */
  lowered?: Map<string, string | undefined>;
};

/** The lower-cased text of one part of the message (`h:field`, `header`, `body`), computed at most once per subject. */
function lowered(m: SearchSubject, key: string, read: (msg: ImapMessage) => string | undefined): string | undefined {
  const cache = (m.lowered ??= new Map());
  if (cache.has(key)) return cache.get(key);
  const v = m.message ? read(m.message)?.toLowerCase() : undefined;
  cache.set(key, v);
  return v;
}

const contains = (hay: string | undefined, needle: string) => hay !== undefined && hay.includes(needle.toLowerCase());

function compareDay(day: number | undefined, cmp: 'before' | 'on' | 'since', wanted: number): boolean {
  if (day === undefined) return false;
  return cmp === 'before' ? day < wanted : cmp === 'on' ? day === wanted : day >= wanted;
}

export function matches(k: SearchKey, m: SearchSubject): boolean {
  switch (k.op) {
    case 'all': return true;
    case 'and': return k.keys.every((x) => matches(x, m));
    case 'or': return matches(k.a, m) || matches(k.b, m);
    case 'not': return !matches(k.key, m);
    case 'flag': return m.meta.flags.some((f) => f.toLowerCase() === k.flag.toLowerCase()) === k.present;
    // RFC 3501 §6.4.4 HEADER: an empty string matches every message that has the field.
    case 'header': return contains(lowered(m, `h:${k.field}`, (msg) => msg.header(k.field)), k.value);
    case 'body': return contains(lowered(m, 'body', (msg) => msg.bodyText()), k.value);
    case 'text': return contains(lowered(m, 'header', (msg) => msg.section({ part: [], kind: 'header' }).toString('utf8')), k.value)
      || contains(lowered(m, 'body', (msg) => msg.bodyText()), k.value);
    case 'date': {
      const sent = k.sent ? m.message?.sentDate()?.getTime() : m.meta.internalDate;
      return compareDay(sent === undefined ? undefined : dayOf(sent), k.cmp, k.day);
    }
    case 'size': return k.larger ? m.meta.size > k.n : m.meta.size < k.n;
    case 'seq': return inSequenceSet(k.set, m.seq, m.maxSeq);
    case 'uid': return inSequenceSet(k.set, m.meta.uid, m.maxUid);
  }
}
