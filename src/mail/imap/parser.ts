// IMAP command syntax, RFC 3501 §9 (with LITERAL+ of RFC 7888): framing of command lines and literals, tokens, sequence sets, FETCH attributes.
import type { SectionSpec } from './message.ts';

/** One argument of a command: an atom (NIL, numbers, flags, sequence sets, fetch attributes), a string, or a parenthesized list. */
export type ImapToken =
  | { type: 'atom'; value: string }
  | { type: 'string'; value: Buffer; literal: boolean }
  | { type: 'list'; items: ImapToken[] };

export type ImapCommand = { tag: string; /** Upper case; "UID FETCH" for UID commands. */ name: string; args: ImapToken[] };

/** A command that breaks the grammar: answered with `tag BAD text` (or `* BAD` when there is no tag). */
export class ImapSyntaxError extends Error {
  code = 'imap.bad_syntax';
  tag: string | undefined;
  constructor(message: string, tag?: string) {
    super(message);
    this.tag = tag;
  }
}

const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;

/** Characters that end an atom (RFC 3501 §9 atom-specials, less the list-wildcards, `\` and `]` that flags, patterns and sections use). */
function endsAtom(c: number): boolean {
  return c === SP || c === 0x28 /* ( */ || c === 0x29 /* ) */ || c === 0x22 /* " */ || c === 0x7b /* { */ || c < 0x20 || c === 0x7f;
}

/**
 * Tokenizes a whole command: its lines and the literals between them, as they came on the wire (without the final CRLF).
 * Never throws anything but ImapSyntaxError.
 */
export function parseCommand(bytes: Buffer): ImapCommand {
  let pos = 0;
  const fail = (what: string, tag?: string): never => {
    throw new ImapSyntaxError(what, tag);
  };

  function atom(tag?: string): string {
    const start = pos;
    while (pos < bytes.length) {
      const c = bytes[pos];
      if (c === 0x5b /* [ */) {
        // RFC 3501 §6.4.5 section spec: `BODY[HEADER.FIELDS (FROM TO)]<0.100>` is one fetch attribute though it holds spaces and parentheses.
        let depth = 0;
        pos++;
        for (;;) {
          if (pos >= bytes.length) fail('unterminated [section]', tag);
          const d = bytes[pos];
          if (d === CR || d === LF) fail('line break in [section]', tag);
          if (d === 0x28) depth++;
          else if (d === 0x29) depth--;
          else if (d === 0x5d && depth === 0) break;
          pos++;
        }
        pos++;
        continue;
      }
      if (endsAtom(c)) break;
      if (c > 0x7e) fail('8-bit character in atom', tag);
      pos++;
    }
    if (pos === start) fail(`unexpected ${pos < bytes.length ? JSON.stringify(String.fromCharCode(bytes[pos])) : 'end of command'}`, tag);
    return bytes.toString('latin1', start, pos);
  }

  function quoted(tag: string): Buffer {
    pos++;
    const out: number[] = [];
    for (;;) {
      if (pos >= bytes.length) fail('unterminated quoted string', tag);
      const c = bytes[pos++];
      if (c === 0x22) return Buffer.from(out);
      if (c === CR || c === LF) fail('line break in quoted string', tag);
      if (c === 0x5c /* \ */) {
        const n = bytes[pos++];
        // RFC 3501 §9: only `\"` and `\\` are quoted-specials.
        if (n !== 0x22 && n !== 0x5c) fail('bad escape in quoted string', tag);
        out.push(n);
      } else out.push(c);
    }
  }

  function literal(tag: string): Buffer {
    const m = /^\{(\d{1,10})(\+?)\}\r\n/.exec(bytes.toString('latin1', pos, Math.min(bytes.length, pos + 16)));
    if (!m) fail('bad literal', tag);
    const n = Number(m![1]);
    const start = pos + m![0].length;
    if (start + n > bytes.length) fail('literal shorter than announced', tag);
    pos = start + n;
    return bytes.subarray(start, start + n);
  }

  function token(tag: string, depth: number): ImapToken {
    const c = bytes[pos];
    if (c === 0x28) {
      if (depth > 16) fail('lists nested too deeply', tag);
      pos++;
      const items: ImapToken[] = [];
      for (;;) {
        if (pos >= bytes.length) fail('unterminated list', tag);
        if (bytes[pos] === 0x29) { pos++; break; }
        if (items.length) {
          if (bytes[pos] !== SP) fail('expected space in list', tag);
          pos++;
        }
        items.push(token(tag, depth + 1));
      }
      return { type: 'list', items };
    }
    if (c === 0x22) return { type: 'string', value: quoted(tag), literal: false };
    if (c === 0x7b) return { type: 'string', value: literal(tag), literal: true };
    return { type: 'atom', value: atom(tag) };
  }

  if (bytes.length === 0) fail('empty command');
  // tag = 1*<any ASTRING-CHAR except "+">
  const tag = atom();
  if (/[+\[\]%*\\]/.test(tag)) fail('bad tag');
  if (bytes[pos] !== SP) fail('missing command', tag);
  pos++;
  let name = atom(tag).toUpperCase();
  if (!/^[A-Z0-9.\-]+$/.test(name)) fail('bad command name', tag);
  if (name === 'UID') {
    if (bytes[pos] !== SP) fail('UID needs a command', tag);
    pos++;
    name = `UID ${atom(tag).toUpperCase()}`;
  }
  const args: ImapToken[] = [];
  while (pos < bytes.length) {
    if (bytes[pos] !== SP) fail('expected space between arguments', tag);
    pos++;
    // Tolerate one trailing space, as several clients send it.
    if (pos === bytes.length) break;
    args.push(token(tag, 0));
  }
  return { tag, name, args };
}

/** The tag of a line that could not be parsed, when it has one that looks right. */
export function guessTag(bytes: Buffer): string | undefined {
  const m = /^([A-Za-z0-9.\-_:!#$&'\/=?^`|~]{1,64}) /.exec(bytes.toString('latin1', 0, 70));
  return m?.[1];
}

// ---- framing -------------------------------------------------------------------------------------------------

export type Frame =
  | { kind: 'command'; bytes: Buffer }
  | { kind: 'line'; text: string }
  | { kind: 'too-long'; tag?: string }
  /** A literal over the limit, or one that would make the command longer than `maxCommand`; `limit` is the one broken. */
  | { kind: 'too-big'; tag?: string; size: number; sync: boolean; limit: number };

export type CommandReaderOptions = {
  /** Longest command text, literals excluded (RFC 7162 §4 recommends at least 8192 octets). */
  maxLine: number;
  /** Largest literal accepted (APPEND of a message); a function when it depends on the state (smaller before login). */
  maxLiteral: number | (() => number);
  /**
   * Most bytes of one command, text and literals together (maxLine + maxLiteral by default), so a command cannot
   * pile up any number of literals; a function when it depends on the state.
   */
  maxCommand?: number | (() => number);
  /** Sends the continuation request for a synchronizing literal (RFC 3501 §7.5). */
  continueLiteral(): void;
};

/**
 * Cuts the bytes of a connection into commands (lines plus their literals, RFC 3501 §2.2) or, for AUTHENTICATE and
 * IDLE, plain lines. Parsing is lazy, done when the session asks for the next frame, so a continuation request
 * is only sent for the command being read and a line meant for IDLE is never taken for a command.
 */
export function createCommandReader(options: CommandReaderOptions) {
  let buf: Buffer = Buffer.alloc(0);
  let parts: Buffer[] = [];
  /** Bytes held in parts (command text and literals read so far). */
  let partsLength = 0;
  /** Bytes the command has or will have: text so far plus every literal announced. */
  let commandLength = 0;
  let textLength = 0;
  let literalLeft = -1;
  let discardLine = false;
  const limit = (v: number | (() => number)) => (typeof v === 'function' ? v() : v);

  function reset() {
    parts = [];
    partsLength = 0;
    commandLength = 0;
    textLength = 0;
    literalLeft = -1;
  }
  function add(b: Buffer) {
    parts.push(b);
    partsLength += b.length;
  }

  return {
    push(chunk: Buffer) {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    },
    /** Bytes held: not yet parsed, and the parts of the command being read (literals included). */
    get buffered() {
      return buf.length + partsLength;
    },
    /** Drops what was read and not yet parsed (after STARTTLS, RFC 3501 §6.2.1: no command injection). */
    clear() {
      buf = Buffer.alloc(0);
      reset();
      discardLine = false;
    },
    /** The next frame, or undefined when more bytes are needed. */
    next(mode: 'command' | 'line'): Frame | undefined {
      for (;;) {
        if (literalLeft > 0) {
          const take = Math.min(literalLeft, buf.length);
          add(buf.subarray(0, take));
          buf = buf.subarray(take);
          literalLeft -= take;
          if (literalLeft > 0) return undefined;
        }
        const lf = buf.indexOf(LF);
        if (lf === -1) {
          if (!discardLine && buf.length + textLength > options.maxLine) {
            const tag = guessTag(parts.length ? parts[0] : buf);
            reset();
            discardLine = true;
            buf = Buffer.alloc(0);
            return { kind: 'too-long', tag };
          }
          if (discardLine) buf = Buffer.alloc(0);
          return undefined;
        }
        let line = buf.subarray(0, lf > 0 && buf[lf - 1] === CR ? lf - 1 : lf);
        buf = buf.subarray(lf + 1);
        if (discardLine) {
          discardLine = false;
          continue;
        }
        if (mode === 'line' && parts.length === 0) return { kind: 'line', text: line.toString('utf8') };
        textLength += line.length;
        commandLength += line.length + 2;
        if (textLength > options.maxLine) {
          const tag = guessTag(parts.length ? parts[0] : line);
          reset();
          return { kind: 'too-long', tag };
        }
        const m = /\{(\d{1,12})(\+?)\}$/.exec(line.toString('latin1', Math.max(0, line.length - 16)));
        if (m) {
          const size = Number(m[1]);
          const sync = m[2] !== '+';
          const maxLiteral = limit(options.maxLiteral);
          const maxCommand = options.maxCommand === undefined ? options.maxLine + maxLiteral : limit(options.maxCommand);
          if (size > maxLiteral || commandLength + size > maxCommand) {
            const tag = guessTag(parts.length ? parts[0] : line);
            reset();
            return { kind: 'too-big', tag, size, sync, limit: size > maxLiteral ? maxLiteral : maxCommand };
          }
          commandLength += size;
          add(line);
          add(Buffer.from('\r\n'));
          literalLeft = size;
          if (sync) options.continueLiteral();
          if (size === 0) literalLeft = 0;
          continue;
        }
        add(line);
        const bytes = Buffer.concat(parts);
        reset();
        return { kind: 'command', bytes };
      }
    },
  };
}

// ---- sequence sets (RFC 3501 §9 sequence-set) ------------------------------------------------------------------

/** Ranges with `*` as Infinity (the largest number in use), in the order given. */
export type SequenceSet = Array<[number, number]>;

export function parseSequenceSet(text: string): SequenceSet | undefined {
  const out: SequenceSet = [];
  for (const item of text.split(',')) {
    const m = /^(\d+|\*)(?::(\d+|\*))?$/.exec(item);
    if (!m) return undefined;
    const a = m[1] === '*' ? Infinity : Number(m[1]);
    const b = m[2] === undefined ? a : m[2] === '*' ? Infinity : Number(m[2]);
    // nz-number: 0 is not a message number or UID; both fit 32 bits.
    if (a === 0 || b === 0 || a > 0xffffffff && a !== Infinity || b > 0xffffffff && b !== Infinity) return undefined;
    out.push([Math.min(a, b), Math.max(a, b)]);
  }
  return out;
}

/** Whether `n` is in the set, `*` standing for `max` (RFC 3501 §6.4.8: `n:*` holds the largest even when n is larger). */
export function inSequenceSet(set: SequenceSet, n: number, max: number): boolean {
  for (const [a, b] of set) {
    const lo = a === Infinity ? max : a;
    const hi = b === Infinity ? max : b;
    if (n >= Math.min(lo, hi) && n <= Math.max(lo, hi)) return true;
  }
  return false;
}

// ---- FETCH attributes (RFC 3501 §6.4.5) ------------------------------------------------------------------------

export type FetchAtt =
  | { kind: 'UID' | 'FLAGS' | 'INTERNALDATE' | 'RFC822.SIZE' | 'ENVELOPE' | 'BODY' | 'BODYSTRUCTURE' | 'RFC822' | 'RFC822.HEADER' | 'RFC822.TEXT' }
  | {
    kind: 'section';
    peek: boolean;
    section: SectionSpec;
    /** The section as the response names it, e.g. `HEADER.FIELDS (FROM SUBJECT)`. */
    text: string;
    partial?: { start: number; count: number };
  };

const SIMPLE = new Set(['UID', 'FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY', 'BODYSTRUCTURE', 'RFC822', 'RFC822.HEADER', 'RFC822.TEXT']);
const MACROS: Record<string, string[]> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

/** The section-spec inside `[...]`: `1.2.HEADER.FIELDS (A B)`, `TEXT`, `3.MIME`, `` (RFC 3501 §6.4.5). */
export function parseSection(text: string): SectionSpec | undefined {
  const m = /^((?:[1-9]\d{0,8}\.)*[1-9]\d{0,8})?(?:(^|\.)(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)(?: \(([^()]*)\))?)?$/i.exec(text);
  if (!m) return undefined;
  const part = m[1] ? m[1].split('.').map(Number) : [];
  const kindText = m[3]?.toUpperCase();
  if (m[1] && m[3] && m[2] !== '.') return undefined;
  if (!kindText) return m[4] === undefined ? { part, kind: 'all' } : undefined;
  if (kindText === 'MIME' && part.length === 0) return undefined;
  if (kindText.startsWith('HEADER.FIELDS')) {
    if (m[4] === undefined) return undefined;
    const fields = m[4].split(' ').map((f) => f.replace(/^"(.*)"$/, '$1')).filter(Boolean);
    if (!fields.length || fields.some((f) => !/^[\x21-\x39\x3b-\x7e]+$/.test(f))) return undefined;
    return { part, kind: kindText === 'HEADER.FIELDS' ? 'header.fields' : 'header.fields.not', fields };
  }
  if (m[4] !== undefined) return undefined;
  return { part, kind: kindText.toLowerCase() as SectionSpec['kind'] };
}

function fetchAtt(text: string): FetchAtt | undefined {
  const upper = text.toUpperCase();
  if (SIMPLE.has(upper)) return { kind: upper as 'UID' };
  const m = /^(BODY|BODY\.PEEK)\[([^\]]*)\](?:<(\d{1,10})\.(\d{1,10})>)?$/i.exec(text);
  if (!m) return undefined;
  const section = parseSection(m[2]);
  if (!section) return undefined;
  const partial = m[3] === undefined ? undefined : { start: Number(m[3]), count: Number(m[4]) };
  if (partial && partial.count === 0) return undefined;
  const shown = m[2].replace(/^(.*?)(HEADER\.FIELDS(?:\.NOT)?|HEADER|TEXT|MIME)/i, (_w, p: string, k: string) => p + k.toUpperCase());
  return { kind: 'section', peek: m[1].toUpperCase() === 'BODY.PEEK', section, text: shown, partial };
}

/** FETCH's second argument: a macro, one attribute, or a list of them. */
export function parseFetchAtts(token: ImapToken): FetchAtt[] | undefined {
  if (token.type === 'atom') {
    const macro = MACROS[token.value.toUpperCase()];
    if (macro) return macro.map((k) => ({ kind: k as 'UID' }));
    const one = fetchAtt(token.value);
    return one ? [one] : undefined;
  }
  if (token.type !== 'list' || token.items.length === 0) return undefined;
  const out: FetchAtt[] = [];
  for (const item of token.items) {
    if (item.type !== 'atom') return undefined;
    const one = fetchAtt(item.value);
    if (!one) return undefined;
    out.push(one);
  }
  return out;
}

// ---- small readers used by the command schemas ----------------------------------------------------------------

/** astring / string argument as text (UTF-8); undefined for a list or NIL-less atom misuse. */
export function asText(token: ImapToken | undefined): string | undefined {
  if (!token) return undefined;
  if (token.type === 'string') return token.value.toString('utf8');
  if (token.type === 'atom') return token.value;
  return undefined;
}
