// IMAP views of one stored RFC 5322 message (RFC 3501 §6.4.5 FETCH, §7.4.2 ENVELOPE and BODYSTRUCTURE) over a MIME walker (RFC 2045, RFC 2046, RFC 2231, RFC 2047).
// Every scan is linear (indexOf or a single pass); no regular expression runs over unbounded input with backtracking.

export type SectionSpec = {
  /** Part path, e.g. [] for the whole message, [1], [2, 1]. */
  part: number[];
  /** What of that part: the whole part, its header, its text, its MIME header, or chosen header fields. */
  kind: 'all' | 'header' | 'text' | 'mime' | 'header.fields' | 'header.fields.not';
  /** For header.fields / header.fields.not: field names (any case). */
  fields?: string[];
};

export type ImapMessage = {
  size: number;
  /** ENVELOPE as an IMAP parenthesized list, ready to write (RFC 3501 §7.4.2), strings quoted or as literals. */
  envelope(): string;
  /** BODY (extensible=false) or BODYSTRUCTURE (extensible=true), ready to write. */
  bodyStructure(extensible: boolean): string;
  /** The bytes of a section (RFC 3501 §6.4.5 BODY[section]); an empty buffer for a part that does not exist. */
  section(spec: SectionSpec): Buffer;
  /** Unfolded, decoded (RFC 2047) value of a header field of the top-level message, for SEARCH; undefined if absent. */
  header(name: string): string | undefined;
  /** Decoded text of the text/* parts (charset and transfer encoding undone), for SEARCH BODY/TEXT. */
  bodyText(): string;
  /** Date header as a Date (for SEARCH SENTBEFORE/SENTON/SENTSINCE), undefined if absent/invalid. */
  sentDate(): Date | undefined;
};

/** Nesting (multipart in multipart, message in message) beyond this is shown as text/plain: bounds recursion on hostile input. */
const MAX_DEPTH = 40;
const EMPTY = Buffer.alloc(0);
const CRLF = Buffer.from('\r\n');

/** One header field: its lower-case name and where its bytes are (start of name .. after the line break of its last line). */
type Field = { name: string; start: number; colon: number; end: number };
type Param = { name: string; value: string };

/** A MIME entity (RFC 2045 §2.4): a header and a body, in `buf` (the raw message, or a decoded copy for an encoded message/rfc822). */
type Entity = {
  buf: Buffer;
  start: number;
  headerEnd: number;
  end: number;
  fields: Field[];
  /** Lower-case media type and subtype as used for the walk (defaults applied, RFC 2045 §5.2). */
  type: string;
  subtype: string;
  /** Parameters as written in BODYSTRUCTURE: RFC 2231 continuations merged, extended values kept encoded (name*). */
  params: Param[];
  /** Parameters with RFC 2231 decoding done, by lower-case name, for our own use (charset, boundary). */
  decoded: Map<string, string>;
  children?: Entity[];
  message?: Entity;
};

// ---------------------------------------------------------------------------------------------
// Public entry points

/** Parses a message once; the result answers every FETCH item about it. Never throws on malformed MIME (falls back to text/plain). */
export function parseImapMessage(raw: Buffer): ImapMessage {
  let top: { fields: Field[]; headerEnd: number } | undefined;
  let root: Entity | undefined;
  let envelopeText: string | undefined;
  const structures: [string | undefined, string | undefined] = [undefined, undefined];
  let text: string | undefined;
  const topHeader = () => (top ??= parseHeader(raw, 0, raw.length));
  const tree = () => (root ??= makeEntity(raw, 0, raw.length, { depth: 0, defaultType: 'text/plain', bodyPart: false, header: topHeader() }));

  return {
    size: raw.length,
    envelope: () => (envelopeText ??= writeEnvelope(raw, topHeader().fields)),
    bodyStructure: (extensible) => (structures[extensible ? 1 : 0] ??= writeBody(tree(), extensible)),
    section: (spec) => section(tree(), spec),
    header(name) {
      const lower = name.toLowerCase();
      const values = topHeader().fields.filter((f) => f.name === lower).map((f) => decodeWords(fieldValue(raw, f)));
      return values.length === 0 ? undefined : values.join('\n');
    },
    bodyText: () => (text ??= collectText(tree(), []).join('\n')),
    sentDate() {
      const f = topHeader().fields.find((x) => x.name === 'date');
      return f ? parseDate(fieldValue(raw, f)) : undefined;
    },
  };
}

/** Writes a string as an IMAP quoted string, or as a literal {n}\r\n... when it has CR, LF, 8-bit or is long (RFC 3501 §4.3). NIL for null/undefined. */
export function imapString(value: string | null | undefined): string {
  if (value === null || value === undefined) return 'NIL';
  if (value.length < 1000 && quotable(value)) {
    let out = '"';
    for (let i = 0; i < value.length; i++) {
      const c = value[i];
      out += c === '"' || c === '\\' ? '\\' + c : c;
    }
    return out + '"';
  }
  return `{${Buffer.byteLength(value, 'utf8')}}\r\n${value}`;
}

// RFC 3501 §9: QUOTED-CHAR is a TEXT-CHAR (7-bit, no CR/LF); other controls than tab go as literals to spare clients.
function quotable(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7e || (c < 0x20 && c !== 0x09)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Header section (RFC 5322 §2.2, §3.2.2 folding)

/**
 * Splits [start, end) into header fields up to the first empty line; headerEnd is just after that line (or end when there
 * is none). With `bodyPart`, a first line that is not a header field means the part has no header (a generator that left
 * out the empty line after the delimiter): the whole part is body.
 */
function parseHeader(buf: Buffer, start: number, end: number, bodyPart = false): { fields: Field[]; headerEnd: number } {
  const fields: Field[] = [];
  const view = buf.subarray(0, end);
  let cur: Field | undefined;
  let pos = start;
  while (pos < end) {
    const lf = view.indexOf(10, pos);
    const lineEnd = lf < 0 ? end : lf + 1;
    const contentEnd = lf < 0 ? end : lf > pos && buf[lf - 1] === 13 ? lf - 1 : lf;
    // RFC 5322 §2.1: the header ends at the first empty line (CRLF CRLF; a bare LF is tolerated).
    if (contentEnd === pos && lf >= 0) return { fields, headerEnd: lineEnd };
    const c = buf[pos];
    if (c === 32 || c === 9) {
      if (cur) cur.end = lineEnd; // a continuation line of a folded field
      else if (bodyPart && pos === start) return { fields, headerEnd: start };
    } else {
      // RFC 5322 §3.6.8: field-name = 1*ftext (printable US-ASCII but ":"); white space before the colon is obsolete syntax (§4.5).
      let colon = pos;
      while (colon < contentEnd && buf[colon] > 32 && buf[colon] < 127 && buf[colon] !== 58) colon++;
      const nameEnd = colon;
      while (colon < contentEnd && (buf[colon] === 32 || buf[colon] === 9)) colon++;
      const valid = colon < contentEnd && buf[colon] === 58 && nameEnd > pos;
      if (!valid && bodyPart && pos === start) return { fields, headerEnd: start };
      cur = valid ? { name: buf.toString('latin1', pos, nameEnd).toLowerCase(), start: pos, colon, end: lineEnd } : undefined;
      if (cur) fields.push(cur);
    }
    pos = lineEnd;
  }
  return { fields, headerEnd: end };
}

/** Bytes as text: UTF-8 when they are valid UTF-8 (RFC 6532), else Latin-1 so that every byte survives. */
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
function bytesToText(bytes: Uint8Array): string {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] > 0x7f) {
      try {
        return utf8Strict.decode(bytes);
      } catch {
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
      }
    }
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

/** The unfolded value of a field (RFC 5322 §2.2.3: CRLF before WSP removed), trimmed. */
function fieldValue(buf: Buffer, f: Field): string {
  const s = bytesToText(buf.subarray(f.colon + 1, f.end));
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 13 || c === 10) {
      out += s.slice(from, i);
      from = i + 1;
    }
  }
  return (out + s.slice(from)).trim();
}

function first(e: { buf: Buffer; fields: Field[] }, name: string): string | undefined {
  const f = e.fields.find((x) => x.name === name);
  return f ? fieldValue(e.buf, f) : undefined;
}

// ---------------------------------------------------------------------------------------------
// MIME structure (RFC 2045 §5 Content-Type, RFC 2046 §5.1 multipart, §5.2 message/rfc822)

type EntityOptions = { depth: number; defaultType: string; bodyPart: boolean; header?: { fields: Field[]; headerEnd: number } };

function makeEntity(buf: Buffer, start: number, end: number, { depth, defaultType, bodyPart, header }: EntityOptions): Entity {
  const { fields, headerEnd } = header ?? parseHeader(buf, start, end, bodyPart);
  const e: Entity = { buf, start, headerEnd, end, fields, type: 'text', subtype: 'plain', params: [{ name: 'charset', value: 'us-ascii' }], decoded: new Map([['charset', 'us-ascii']]) };
  const ctValue = first(e, 'content-type');
  const ct = ctValue === undefined ? undefined : parseMimeValue(ctValue, true);
  if (ct) {
    e.type = ct.type;
    e.subtype = ct.subtype;
    ({ params: e.params, decoded: e.decoded } = mergeParams(ct.params));
  } else if (ctValue === undefined && defaultType === 'message/rfc822') {
    // RFC 2046 §5.1.5: in a multipart/digest the default is message/rfc822.
    e.type = 'message';
    e.subtype = 'rfc822';
    e.params = [];
    e.decoded = new Map();
  }
  if (e.type === 'multipart') {
    const boundary = e.decoded.get('boundary');
    const ranges = boundary && depth < MAX_DEPTH ? splitMultipart(buf, headerEnd, end, boundary) : [];
    if (ranges.length > 0) {
      const childDefault = e.subtype === 'digest' ? 'message/rfc822' : 'text/plain';
      e.children = ranges.map(([s, t]) => makeEntity(buf, s, t, { depth: depth + 1, defaultType: childDefault, bodyPart: true }));
    } else {
      fallBack(e); // no boundary, or it never appears: show the body as text (RFC 2045 §5.2)
    }
  } else if (e.type === 'message' && e.subtype === 'rfc822') {
    if (depth < MAX_DEPTH) {
      const enc = transferEncoding(e);
      if (enc === 'base64' || enc === 'quoted-printable') {
        // RFC 2046 §5.2.1 forbids it, but it happens: walk a decoded copy so that N.HEADER / N.TEXT still work.
        const decoded = decodeTransfer(buf.subarray(headerEnd, end), enc);
        e.message = makeEntity(decoded, 0, decoded.length, { depth: depth + 1, defaultType: 'text/plain', bodyPart: false });
      } else {
        e.message = makeEntity(buf, headerEnd, end, { depth: depth + 1, defaultType: 'text/plain', bodyPart: false });
      }
    } else {
      fallBack(e);
    }
  }
  return e;
}

function fallBack(e: Entity): void {
  e.type = 'text';
  e.subtype = 'plain';
  e.params = [{ name: 'charset', value: 'us-ascii' }];
  e.decoded = new Map([['charset', 'us-ascii']]);
}

function transferEncoding(e: Entity): string {
  const v = first(e, 'content-transfer-encoding');
  if (!v) return '7bit';
  const parsed = parseMimeValue(v, false);
  return parsed ? parsed.type.toLowerCase() : v.toLowerCase();
}

/**
 * Part ranges of a multipart body (RFC 2046 §5.1.1): a delimiter is "--boundary" at the start of a line, followed only by
 * white space, or by "--" for the close delimiter. The line break before a delimiter belongs to it, not to the part.
 * The preamble and the epilogue are dropped; a missing close delimiter ends the last part at the end of the body.
 */
function splitMultipart(buf: Buffer, bodyStart: number, end: number, boundary: string): Array<[number, number]> {
  const delim = Buffer.from('--' + boundary, 'utf8');
  const needle = Buffer.concat([Buffer.from('\n'), delim]);
  const view = buf.subarray(0, end);
  const parts: Array<[number, number]> = [];
  let partStart = -1;
  let p = bodyStart + delim.length <= end && buf.subarray(bodyStart, bodyStart + delim.length).equals(delim) ? bodyStart : -1;
  if (p < 0) {
    const k = view.indexOf(needle, bodyStart);
    p = k < 0 ? -1 : k + 1;
  }
  while (p >= 0) {
    const after = p + delim.length;
    const close = after + 1 < end && buf[after] === 45 && buf[after + 1] === 45;
    let q = after;
    if (!close) while (q < end && (buf[q] === 32 || buf[q] === 9)) q++;
    const valid = close || q >= end || buf[q] === 10 || buf[q] === 13;
    let searchFrom = after;
    if (valid) {
      if (partStart >= 0) {
        let pe = p;
        if (pe > bodyStart && buf[pe - 1] === 10) {
          pe--;
          if (pe > partStart && buf[pe - 1] === 13) pe--;
        }
        parts.push([partStart, Math.max(partStart, pe)]);
      }
      if (close) return parts;
      const lf = view.indexOf(10, after);
      partStart = lf < 0 ? end : lf + 1;
      searchFrom = Math.max(after, partStart - 1);
    }
    const k = view.indexOf(needle, searchFrom);
    p = k < 0 ? -1 : k + 1;
  }
  if (partStart >= 0) parts.push([partStart, end]);
  return parts;
}

// ---------------------------------------------------------------------------------------------
// Content-Type / Content-Disposition values (RFC 2045 §5.1, RFC 2183, RFC 2231)

const TSPECIALS = '()<>@,;:\\"/[]?=';
function isTokenChar(c: number): boolean {
  return c > 32 && c < 127 && TSPECIALS.indexOf(String.fromCharCode(c)) < 0;
}
function isWsp(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10;
}

/** Skips white space and (nested) comments (RFC 5322 §3.2.2 CFWS). */
function skipCfws(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (isWsp(c)) i++;
    else if (c === 40) i = readComment(s, i).end;
    else break;
  }
  return i;
}

/** A comment starting at s[i] === '(': its text and the index after it (unterminated: the rest of the string, closed false). */
function readComment(s: string, i: number): { text: string; end: number; closed: boolean } {
  let depth = 0;
  let text = '';
  for (; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\\' && i + 1 < s.length) {
      text += s[++i];
    } else if (ch === '(') {
      if (depth++ > 0) text += ch;
    } else if (ch === ')') {
      if (--depth === 0) return { text, end: i + 1, closed: true };
      text += ch;
    } else {
      text += ch;
    }
  }
  return { text, end: i, closed: false };
}

/** A quoted string starting at s[i] === '"': its content with quoted-pairs undone, and the index after it. */
function readQuoted(s: string, i: number): { text: string; end: number } {
  let text = '';
  for (i++; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\\' && i + 1 < s.length) text += s[++i];
    else if (ch === '"') return { text, end: i + 1 };
    else if (ch !== '\r' && ch !== '\n') text += ch;
  }
  return { text, end: i };
}

type RawParam = { name: string; value: string };

/** `type/subtype; name=value...` (withSubtype) or `type; name=value...` (Content-Disposition, Content-Transfer-Encoding); undefined when invalid. */
function parseMimeValue(s: string, withSubtype: boolean): { type: string; subtype: string; params: RawParam[] } | undefined {
  let i = skipCfws(s, 0);
  const t0 = i;
  while (i < s.length && isTokenChar(s.charCodeAt(i))) i++;
  const type = s.slice(t0, i).toLowerCase();
  if (!type) return undefined;
  let subtype = '';
  if (withSubtype) {
    i = skipCfws(s, i);
    if (s[i] !== '/') return undefined;
    i = skipCfws(s, i + 1);
    const s0 = i;
    while (i < s.length && isTokenChar(s.charCodeAt(i))) i++;
    subtype = s.slice(s0, i).toLowerCase();
    if (!subtype) return undefined;
  }
  return { type, subtype, params: parseParams(s, i) };
}

function parseParams(s: string, i: number): RawParam[] {
  const out: RawParam[] = [];
  const n = s.length;
  while (i < n) {
    i = skipCfws(s, i);
    if (i >= n) break;
    if (s[i] !== ';') {
      const j = s.indexOf(';', i); // junk between parameters: skip to the next one
      if (j < 0) break;
      i = j;
    }
    i = skipCfws(s, i + 1);
    const n0 = i;
    while (i < n && s[i] !== '=' && s[i] !== ';' && s[i] !== '(' && !isWsp(s.charCodeAt(i))) i++;
    const name = s.slice(n0, i);
    i = skipCfws(s, i);
    if (s[i] !== '=') continue;
    i = skipCfws(s, i + 1);
    let value = '';
    if (s[i] === '"') {
      const q = readQuoted(s, i);
      value = q.text;
      i = q.end;
    } else {
      // A token; tolerate unquoted values with spaces ("name=my file.txt") by joining the words up to the next ';'.
      for (;;) {
        const v0 = i;
        while (i < n && s[i] !== ';' && s[i] !== '(' && s[i] !== '"' && !isWsp(s.charCodeAt(i))) i++;
        if (i > v0) value += (value ? ' ' : '') + s.slice(v0, i);
        const j = skipCfws(s, i);
        if (j >= n || s[j] === ';' || j === i || s[j] === '"') {
          i = j;
          break;
        }
        i = j;
      }
    }
    if (name) out.push({ name, value });
  }
  return out;
}

/** RFC 2231 §3, §4: merges name*0, name*1... into one parameter; an extended value stays encoded as name* = charset'lang'%XX. */
function mergeParams(raw: RawParam[]): { params: Param[]; decoded: Map<string, string> } {
  type Group = { order: number; plain?: string; ext?: string; sections: Map<number, { value: string; ext: boolean }> };
  const groups = new Map<string, Group>();
  raw.forEach((p, order) => {
    let base = p.name.toLowerCase();
    let ext = false;
    if (base.endsWith('*')) {
      ext = true;
      base = base.slice(0, -1);
    }
    let section = -1;
    const star = base.lastIndexOf('*');
    if (star >= 0 && star < base.length - 1 && isDigits(base.slice(star + 1))) {
      section = Number(base.slice(star + 1));
      base = base.slice(0, star);
    }
    let g = groups.get(base);
    if (!g) groups.set(base, (g = { order, sections: new Map() }));
    if (section >= 0) {
      if (!g.sections.has(section)) g.sections.set(section, { value: p.value, ext });
    } else if (ext) g.ext ??= p.value;
    else g.plain ??= p.value;
  });
  const params: Param[] = [];
  const decoded = new Map<string, string>();
  for (const [base, g] of groups) {
    if (g.plain !== undefined) {
      params.push({ name: base, value: g.plain });
      decoded.set(base, g.plain);
    }
    let ext = g.ext;
    if (g.sections.size > 0) {
      const sections = [...g.sections.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
      if (!sections.some((x) => x.ext)) {
        const value = sections.map((x) => x.value).join('');
        if (g.plain === undefined) {
          params.push({ name: base, value });
          decoded.set(base, value);
        }
      } else {
        ext ??= (sections[0].ext ? '' : "''") + sections.map((x) => (x.ext ? x.value : percentEncode(x.value))).join('');
      }
    }
    if (ext !== undefined) {
      params.push({ name: base + '*', value: ext });
      decoded.set(base, decode2231(ext));
    }
  }
  return { params, decoded };
}

function isDigits(s: string): boolean {
  if (!s || s.length > 4) return false;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 48 || s.charCodeAt(i) > 57) return false;
  return true;
}

function percentEncode(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out += b > 32 && b < 127 && !"*'%()<>@,;:\\\"/[]?=".includes(String.fromCharCode(b)) ? String.fromCharCode(b) : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function decode2231(v: string): string {
  const q1 = v.indexOf("'");
  const q2 = q1 < 0 ? -1 : v.indexOf("'", q1 + 1);
  const charset = q2 < 0 ? '' : v.slice(0, q1);
  const rest = q2 < 0 ? v : v.slice(q2 + 1);
  const bytes: number[] = [];
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    const h = c === 37 ? hexByte(rest, i + 1) : -1;
    if (h >= 0) {
      bytes.push(h);
      i += 2;
    } else if (c < 128) bytes.push(c);
    else for (const b of Buffer.from(rest[i], 'utf8')) bytes.push(b);
  }
  return decodeCharset(Uint8Array.from(bytes), charset || undefined);
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}
function hexByte(s: string, i: number): number {
  if (i + 1 >= s.length) return -1;
  const a = hexValue(s.charCodeAt(i));
  const b = hexValue(s.charCodeAt(i + 1));
  return a < 0 || b < 0 ? -1 : a * 16 + b;
}

// ---------------------------------------------------------------------------------------------
// BODY / BODYSTRUCTURE (RFC 3501 §7.4.2, grammar in §9: body, body-type-1part, body-type-mpart, body-ext-*)

function writeBody(e: Entity, ext: boolean): string {
  if (e.children) {
    let s = '(' + e.children.map((c) => writeBody(c, ext)).join('') + ' ' + imapString(e.subtype.toUpperCase());
    if (ext) s += ' ' + writeParams(e.params) + ' ' + writeDisposition(e) + ' ' + writeLanguage(e) + ' ' + writeLocation(e);
    return s + ')';
  }
  const bodySize = e.end - e.headerEnd;
  let s =
    '(' +
    [
      imapString(e.type.toUpperCase()),
      imapString(e.subtype.toUpperCase()),
      writeParams(e.params),
      imapString(first(e, 'content-id')),
      imapString(first(e, 'content-description')),
      imapString(transferEncoding(e).toUpperCase()),
      String(bodySize),
    ].join(' ');
  if (e.message) {
    // body-type-msg: envelope, body, and the size in text lines of the encapsulated message.
    s += ' ' + writeEnvelope(e.message.buf, e.message.fields) + ' ' + writeBody(e.message, ext) + ' ' + countLines(e.buf, e.headerEnd, e.end);
  } else if (e.type === 'text') {
    s += ' ' + countLines(e.buf, e.headerEnd, e.end);
  }
  if (ext) s += ' ' + imapString(first(e, 'content-md5')) + ' ' + writeDisposition(e) + ' ' + writeLanguage(e) + ' ' + writeLocation(e);
  return s + ')';
}

function writeParams(params: Param[]): string {
  if (params.length === 0) return 'NIL';
  return '(' + params.map((p) => imapString(p.name.toUpperCase()) + ' ' + imapString(p.value)).join(' ') + ')';
}

// body-fld-dsp = "(" string SP body-fld-param ")" / nil (RFC 2183 Content-Disposition).
function writeDisposition(e: Entity): string {
  const v = first(e, 'content-disposition');
  const d = v === undefined ? undefined : parseMimeValue(v, false);
  if (!d) return 'NIL';
  return '(' + imapString(d.type.toUpperCase()) + ' ' + writeParams(mergeParams(d.params).params) + ')';
}

// body-fld-lang = nstring / "(" string *(SP string) ")" (RFC 3282 Content-Language: a list of tags).
function writeLanguage(e: Entity): string {
  const v = first(e, 'content-language');
  if (v === undefined) return 'NIL';
  const tags: string[] = [];
  let cur = '';
  for (let i = 0; i < v.length; ) {
    const c = v.charCodeAt(i);
    if (c === 40) {
      i = readComment(v, i).end;
    } else if (c === 44) {
      if (cur) tags.push(cur);
      cur = '';
      i++;
    } else {
      if (!isWsp(c)) cur += v[i];
      i++;
    }
  }
  if (cur) tags.push(cur);
  if (tags.length === 0) return 'NIL';
  if (tags.length === 1) return imapString(tags[0]);
  return '(' + tags.map(imapString).join(' ') + ')';
}

// body-fld-loc = nstring (RFC 2557 §4.1 Content-Location; folding white space is not part of the URI).
function writeLocation(e: Entity): string {
  const v = first(e, 'content-location');
  if (v === undefined) return 'NIL';
  let out = '';
  for (let i = 0; i < v.length; i++) if (!isWsp(v.charCodeAt(i))) out += v[i];
  return out ? imapString(out) : 'NIL';
}

/** Size in text lines: line breaks, plus a last line without one. */
function countLines(buf: Buffer, start: number, end: number): number {
  if (end <= start) return 0;
  const view = buf.subarray(0, end);
  let n = 0;
  for (let i = view.indexOf(10, start); i >= 0; i = view.indexOf(10, i + 1)) n++;
  return buf[end - 1] === 10 ? n : n + 1;
}

// ---------------------------------------------------------------------------------------------
// ENVELOPE (RFC 3501 §7.4.2): date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to, message-id.
// Strings are returned as they appear in the header: RFC 2047 encoded-words are not decoded.

type Address = { name: string | null; adl: string | null; mailbox: string | null; host: string | null };

function writeEnvelope(buf: Buffer, fields: Field[]): string {
  const get = (name: string) => first({ buf, fields }, name);
  const from = parseAddressList(get('from'));
  // "If the Sender or Reply-To lines are absent in the [RFC-2822] header, or are present but empty, the server sets the
  // corresponding member of the envelope to be the same value as the from member."
  const sender = parseAddressList(get('sender'));
  const replyTo = parseAddressList(get('reply-to'));
  return (
    '(' +
    [
      imapString(get('date')),
      imapString(get('subject')),
      writeAddresses(from),
      writeAddresses(sender.length ? sender : from),
      writeAddresses(replyTo.length ? replyTo : from),
      writeAddresses(parseAddressList(get('to'))),
      writeAddresses(parseAddressList(get('cc'))),
      writeAddresses(parseAddressList(get('bcc'))),
      imapString(get('in-reply-to')),
      imapString(get('message-id')),
    ].join(' ') +
    ')'
  );
}

function writeAddresses(list: Address[]): string {
  if (list.length === 0) return 'NIL';
  return '(' + list.map((a) => '(' + [a.name, a.adl, a.mailbox, a.host].map(imapString).join(' ') + ')').join('') + ')';
}

type Token = { kind: 'word' | 'quoted' | 'comment' | 'literal' | 'special'; value: string; raw: string; space: boolean };

/**
 * RFC 5322 §3.2 lexical tokens of an address list; unterminated quotes and literals run to the end. After an unterminated
 * comment, "(" is read as an ordinary character so that the addresses behind it survive (and the scan stays linear).
 */
function lexAddresses(s: string): Token[] {
  const out: Token[] = [];
  let space = false;
  let comments = true;
  let i = 0;
  while (i < s.length) {
    const ch = s[i];
    if (isWsp(s.charCodeAt(i))) {
      space = true;
      i++;
    } else if (ch === '(' && comments) {
      const c = readComment(s, i);
      if (c.closed) {
        out.push({ kind: 'comment', value: c.text, raw: s.slice(i, c.end), space });
        space = true;
        i = c.end;
      } else {
        comments = false;
        out.push({ kind: 'word', value: ch, raw: ch, space });
        space = false;
        i++;
      }
    } else if (ch === '"') {
      const q = readQuoted(s, i);
      out.push({ kind: 'quoted', value: q.text, raw: s.slice(i, q.end), space });
      space = false;
      i = q.end;
    } else if (ch === '[') {
      let j = s.indexOf(']', i);
      j = j < 0 ? s.length : j + 1;
      out.push({ kind: 'literal', value: s.slice(i, j), raw: s.slice(i, j), space });
      space = false;
      i = j;
    } else if ('<>:;,@'.includes(ch)) {
      out.push({ kind: 'special', value: ch, raw: ch, space });
      space = false;
      i++;
    } else {
      const j0 = i;
      while (i < s.length && !isWsp(s.charCodeAt(i)) && !'()"[<>:;,@'.includes(s[i])) i++;
      if (i === j0) i++; // a stray ")", or "(" after an unterminated comment, is a word of its own
      out.push({ kind: 'word', value: s.slice(j0, i), raw: s.slice(j0, i), space });
      space = false;
    }
  }
  return out;
}

/** An RFC 5322 §3.4 address-list as IMAP addresses; a group is a start marker (NIL host, name in mailbox) and an end marker (all NIL). */
function parseAddressList(value: string | undefined): Address[] {
  if (!value) return [];
  const toks = lexAddresses(value);
  const out: Address[] = [];
  let inGroup = false;
  let words: Token[] = [];
  let comment: string | undefined;
  let angle: { adl: string | null; spec: Token[] } | undefined;
  const emit = () => {
    const phrase = joinPhrase(words);
    if (angle) {
      const { mailbox, host } = splitSpec(angle.spec);
      out.push({ name: phrase || (comment ?? null), adl: angle.adl, mailbox, host });
    } else if (words.length > 0) {
      const { mailbox, host } = splitSpec(words);
      out.push({ name: comment ?? null, adl: null, mailbox, host });
    }
    words = [];
    comment = undefined;
    angle = undefined;
  };
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i];
    if (t.kind === 'comment') {
      comment ??= t.value.trim() || undefined;
    } else if (t.kind !== 'special') {
      if (!angle) words.push(t);
    } else if (t.value === ',') {
      emit();
    } else if (t.value === ';') {
      emit();
      if (inGroup) out.push({ name: null, adl: null, mailbox: null, host: null });
      inGroup = false;
    } else if (t.value === ':' && !inGroup && !angle) {
      out.push({ name: null, adl: null, mailbox: joinPhrase(words), host: null });
      inGroup = true;
      words = [];
      comment = undefined;
    } else if (t.value === '<' && !angle) {
      // angle-addr = "<" [obs-route] addr-spec ">"; obs-route = obs-domain-list ":" (the adl).
      const inner: Token[] = [];
      for (i++; i < toks.length && !(toks[i].kind === 'special' && toks[i].value === '>'); i++) if (toks[i].kind !== 'comment') inner.push(toks[i]);
      const colon = inner.findIndex((x) => x.kind === 'special' && x.value === ':');
      angle = colon < 0 ? { adl: null, spec: inner } : { adl: inner.slice(0, colon).map((x) => x.raw).join('') || null, spec: inner.slice(colon + 1) };
    } else if (t.value === '@' && !angle) {
      words.push(t);
    }
  }
  emit();
  if (inGroup) out.push({ name: null, adl: null, mailbox: null, host: null });
  return out;
}

/** A display name: words joined by one space where the header had white space, quoted strings unquoted. */
function joinPhrase(words: Token[]): string {
  let s = '';
  for (const w of words) s += (s && w.space ? ' ' : '') + w.value;
  return s;
}

/** addr-spec = local-part "@" domain, split at the last "@"; a missing domain is an empty host (NIL would mean a group). */
function splitSpec(toks: Token[]): { mailbox: string; host: string } {
  let at = -1;
  for (let i = toks.length - 1; i >= 0; i--) {
    if (toks[i].kind === 'special' && toks[i].value === '@') {
      at = i;
      break;
    }
  }
  const raw = (ts: Token[]) => ts.map((x) => x.raw).join('');
  return at < 0 ? { mailbox: raw(toks), host: '' } : { mailbox: raw(toks.slice(0, at)), host: raw(toks.slice(at + 1)) };
}

// ---------------------------------------------------------------------------------------------
// Sections (RFC 3501 §6.4.5 BODY[section])

/**
 * Walks a part path. Part 1 of a message that is not multipart is its body; the parts of a message/rfc822 part are the
 * parts of the encapsulated message. Returns the part, or undefined when the path does not exist.
 */
function resolve(root: Entity, path: number[]): Entity | undefined {
  let cur: Entity | undefined = root;
  let atMessage = true;
  for (const n of path) {
    if (!cur || !Number.isInteger(n) || n < 1) return undefined;
    const message: Entity | undefined = atMessage ? cur : cur.children ? undefined : cur.message;
    if (!atMessage && cur.children) cur = cur.children[n - 1];
    else if (message) cur = message.children ? message.children[n - 1] : n === 1 ? message : undefined;
    else return undefined;
    atMessage = false;
  }
  return cur;
}

function section(root: Entity, spec: SectionSpec): Buffer {
  const target = resolve(root, spec.part);
  if (!target) return EMPTY;
  let msg: Entity | undefined = target;
  if (spec.part.length > 0) {
    if (spec.kind === 'all') return target.buf.subarray(target.headerEnd, target.end);
    if (spec.kind === 'mime') return target.buf.subarray(target.start, target.headerEnd);
    // HEADER, HEADER.FIELDS and TEXT after a part number need a part of type MESSAGE/RFC822.
    msg = target.message;
    if (!msg) return EMPTY;
  }
  switch (spec.kind) {
    case 'all':
      return msg.buf.subarray(msg.start, msg.end);
    case 'header':
      return msg.buf.subarray(msg.start, msg.headerEnd);
    case 'text':
      return msg.buf.subarray(msg.headerEnd, msg.end);
    case 'mime':
      return EMPTY; // MIME needs a part number
    case 'header.fields':
    case 'header.fields.not': {
      const names = new Set((spec.fields ?? []).map((f) => f.toLowerCase()));
      const keep = spec.kind === 'header.fields';
      const chunks: Buffer[] = [];
      for (const f of msg.fields) {
        if (names.has(f.name) !== keep) continue;
        chunks.push(msg.buf.subarray(f.start, f.end));
        if (msg.buf[f.end - 1] !== 10) chunks.push(CRLF);
      }
      chunks.push(CRLF); // the empty line that ends a header
      return Buffer.concat(chunks);
    }
    default:
      return EMPTY;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding for SEARCH: transfer encodings (RFC 2045 §6), charsets, encoded-words (RFC 2047)

function collectText(e: Entity, out: string[]): string[] {
  if (e.children) for (const c of e.children) collectText(c, out);
  else if (e.message) collectText(e.message, out);
  else if (e.type === 'text') {
    const bytes = decodeTransfer(e.buf.subarray(e.headerEnd, e.end), transferEncoding(e));
    out.push(decodeCharset(bytes, e.decoded.get('charset')));
  }
  return out;
}

function decodeTransfer(body: Buffer, encoding: string): Buffer {
  if (encoding === 'base64') return decodeBase64(body);
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(body);
  return body;
}

/** Base64 with everything outside the alphabet ignored (RFC 2045 §6.8). */
function decodeBase64(body: Uint8Array): Buffer {
  const clean = Buffer.alloc(body.length);
  let n = 0;
  for (const c of body) {
    if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47) clean[n++] = c;
  }
  return Buffer.from(clean.toString('latin1', 0, n), 'base64');
}

/** Quoted-printable (RFC 2045 §6.7): =XX octets, "=" at the end of a line is a soft line break; a stray "=" is kept. */
function decodeQuotedPrintable(body: Uint8Array): Buffer {
  const out = Buffer.alloc(body.length);
  let n = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== 61) {
      out[n++] = c;
      continue;
    }
    const a = i + 1 < body.length ? hexValue(body[i + 1]) : -1;
    const b = i + 2 < body.length ? hexValue(body[i + 2]) : -1;
    if (a >= 0 && b >= 0) {
      out[n++] = a * 16 + b;
      i += 2;
      continue;
    }
    let j = i + 1;
    while (j < body.length && (body[j] === 32 || body[j] === 9)) j++;
    if (j < body.length && body[j] === 13 && body[j + 1] === 10) i = j + 1;
    else if (j < body.length && body[j] === 10) i = j;
    else if (j >= body.length) i = j;
    else out[n++] = c;
  }
  return out.subarray(0, n);
}

const decoders = new Map<string, TextDecoder | null>();
/** Bytes in a MIME charset as text (WHATWG encodings); unknown, missing or us-ascii labels: UTF-8 when valid, else Latin-1. */
function decodeCharset(bytes: Uint8Array, charset: string | undefined): string {
  const label = (charset ?? '').trim().toLowerCase();
  if (!label || label === 'us-ascii' || label === 'ascii' || label === 'utf-8' || label === 'utf8') return bytesToText(bytes);
  let d = decoders.get(label);
  if (d === undefined) {
    try {
      d = new TextDecoder(label);
    } catch {
      d = null;
    }
    decoders.set(label, d);
  }
  return d ? d.decode(bytes) : bytesToText(bytes);
}

/** Decodes RFC 2047 encoded-words; white space between two adjacent encoded-words is dropped (§6.2), and adjacent words in one charset are decoded together. */
function decodeWords(s: string): string {
  if (!s.includes('=?')) return s;
  let out = '';
  let i = 0;
  let pending: { charset: string; bytes: Buffer[] } | undefined;
  const flush = () => {
    if (pending) out += decodeCharset(Buffer.concat(pending.bytes), pending.charset);
    pending = undefined;
  };
  for (;;) {
    const k = s.indexOf('=?', i);
    if (k < 0) break;
    const w = readEncodedWord(s, k);
    if (!w) {
      flush();
      out += s.slice(i, k + 2);
      i = k + 2;
      continue;
    }
    const between = s.slice(i, k);
    let onlySpace = true;
    for (let j = 0; j < between.length && onlySpace; j++) onlySpace = isWsp(between.charCodeAt(j));
    if (pending && onlySpace && pending.charset === w.charset) pending.bytes.push(w.bytes);
    else {
      if (!(pending && onlySpace)) {
        flush();
        out += between;
      } else flush();
      pending = { charset: w.charset, bytes: [w.bytes] };
    }
    i = w.end;
  }
  flush();
  return out + s.slice(i);
}

/** encoded-word = "=?" charset ["*" language] "?" ("B" / "Q") "?" encoded-text "?=" at s[k]; each scan stops at the next "?", so decoding stays linear. */
function readEncodedWord(s: string, k: number): { charset: string; bytes: Buffer; end: number } | undefined {
  let j = k + 2;
  while (j < s.length && s[j] !== '?' && !isWsp(s.charCodeAt(j))) j++;
  if (j === k + 2 || s[j] !== '?' || s[j + 2] !== '?') return undefined;
  const enc = s[j + 1].toLowerCase();
  if (enc !== 'b' && enc !== 'q') return undefined;
  const t0 = j + 3;
  let m = t0;
  while (m < s.length && s[m] !== '?' && !isWsp(s.charCodeAt(m))) m++;
  if (s[m] !== '?' || s[m + 1] !== '=') return undefined;
  let charset = s.slice(k + 2, j).toLowerCase();
  const star = charset.indexOf('*'); // RFC 2231 §5: charset*language
  if (star >= 0) charset = charset.slice(0, star);
  const text = s.slice(t0, m);
  let bytes: Buffer;
  if (enc === 'b') bytes = decodeBase64(Buffer.from(text, 'latin1'));
  else {
    const arr: number[] = [];
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      const h = c === 61 ? hexByte(text, i + 1) : -1;
      if (c === 95) arr.push(32);
      else if (h >= 0) {
        arr.push(h);
        i += 2;
      } else if (c < 128) arr.push(c);
      else for (const b of Buffer.from(text[i], 'utf8')) arr.push(b);
    }
    bytes = Buffer.from(arr);
  }
  return { charset, bytes, end: m + 2 };
}

// ---------------------------------------------------------------------------------------------
// Date (RFC 5322 §3.3, obsolete forms §4.3)

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const ZONES: Record<string, number> = { ut: 0, utc: 0, gmt: 0, z: 0, edt: -240, est: -300, cdt: -300, cst: -360, mdt: -360, mst: -420, pdt: -420, pst: -480 };

function parseDate(value: string): Date | undefined {
  const s = value.slice(0, 200);
  let plain = '';
  for (let i = 0; i < s.length; ) {
    if (s[i] === '(') i = readComment(s, i).end;
    else plain += s[i++] === ',' ? ' ' : s[i - 1];
  }
  const toks = plain.split(/[ \t\r\n]+/).filter(Boolean);
  let i = 0;
  if (toks[0] && /^[a-z]+\.?$/i.test(toks[0]) && !MONTHS.includes(toks[0].slice(0, 3).toLowerCase())) i++; // day-of-week
  const [dayT, monT, yearT, timeT, zoneT] = toks.slice(i, i + 5);
  const month = monT ? MONTHS.indexOf(monT.slice(0, 3).toLowerCase()) : -1;
  const time = timeT ? /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(timeT) : null;
  if (dayT && /^\d{1,2}$/.test(dayT) && month >= 0 && yearT && /^\d{2,4}$/.test(yearT) && time) {
    let year = Number(yearT);
    if (yearT.length === 2) year += year < 50 ? 2000 : 1900; // RFC 5322 §4.3
    else if (yearT.length === 3) year += 1900;
    const day = Number(dayT);
    const [h, m, sec] = [Number(time[1]), Number(time[2]), Number(time[3] ?? 0)];
    let offset = 0;
    if (zoneT && /^[+-]\d{4}$/.test(zoneT)) {
      offset = (Number(zoneT.slice(1, 3)) * 60 + Number(zoneT.slice(3, 5))) * (zoneT[0] === '-' ? -1 : 1);
    } else if (zoneT) offset = ZONES[zoneT.toLowerCase()] ?? 0; // military and unknown zones: +0000 (§4.3)
    if (day < 1 || day > 31 || h > 23 || m > 59 || sec > 60) return undefined;
    const t = Date.UTC(year, month, day, h, m, sec);
    if (new Date(t).getUTCDate() !== day) return undefined;
    return new Date(t - offset * 60_000);
  }
  const t = Date.parse(s); // other shapes seen in the wild (ISO 8601, asctime)
  return Number.isNaN(t) ? undefined : new Date(t);
}
