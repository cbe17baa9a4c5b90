// HTML to readable plain text for the text/plain part of an email (RFC 2046 §5.1.4 multipart/alternative); entity decoding per the HTML Living Standard §13.2.5.72.

// The named character references that occur in mail; anything else is left as written.
const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0', shy: '',
  copy: '©', reg: '®', trade: '™', hellip: '…', mdash: '—', ndash: '–', minus: '−',
  lsquo: '‘', rsquo: '’', sbquo: '‚', ldquo: '“', rdquo: '”', bdquo: '„',
  laquo: '«', raquo: '»', lsaquo: '‹', rsaquo: '›', bull: '•', middot: '·',
  euro: '€', pound: '£', yen: '¥', cent: '¢', sect: '§', para: '¶', deg: '°',
  plusmn: '±', times: '×', divide: '÷', frac12: '½', frac14: '¼', frac34: '¾',
  auml: 'ä', ouml: 'ö', uuml: 'ü', Auml: 'Ä', Ouml: 'Ö', Uuml: 'Ü', szlig: 'ß',
  aacute: 'á', agrave: 'à', acirc: 'â', atilde: 'ã', aring: 'å', aelig: 'æ', ccedil: 'ç',
  eacute: 'é', egrave: 'è', ecirc: 'ê', euml: 'ë', iacute: 'í', igrave: 'ì', icirc: 'î', iuml: 'ï',
  ntilde: 'ñ', oacute: 'ó', ograve: 'ò', ocirc: 'ô', otilde: 'õ', oslash: 'ø',
  uacute: 'ú', ugrave: 'ù', ucirc: 'û', yacute: 'ý', yuml: 'ÿ',
  Aacute: 'Á', Agrave: 'À', Eacute: 'É', Egrave: 'È', Oacute: 'Ó', Uacute: 'Ú', Ccedil: 'Ç', Ntilde: 'Ñ',
  ensp: '\u2002', emsp: '\u2003', thinsp: '\u2009', zwnj: '\u200c', zwj: '\u200d',
  larr: '←', rarr: '→', uarr: '↑', darr: '↓', harr: '↔', check: '✓',
};

/** Decodes HTML character references: named (common set), decimal and hexadecimal. */
export function decodeEntities(text: string): string {
  return text.replace(/&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]{1,31}));?/g, (whole, dec, hex, name) => {
    if (name !== undefined) return Object.hasOwn(NAMED_ENTITIES, name) ? NAMED_ENTITIES[name]! : whole;
    const cp = dec !== undefined ? Number.parseInt(dec, 10) : Number.parseInt(hex, 16);
    // §13.2.5.80: NUL, surrogates and out-of-range code points become U+FFFD.
    if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return '\ufffd';
    return String.fromCodePoint(cp);
  });
}

// Elements whose content is never shown as text.
const DROPPED = /<(script|style|head|title|template|noscript|object|svg)\b[^>]*>[\s\S]*?(?:<\/\1\s*>|$)/gi;
const TAG = /<(\/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*(\/?)>/g;
const ATTRIBUTE = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;

// Elements that end a paragraph (blank line) or a line.
const PARAGRAPH = new Set(['p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'table', 'ul', 'ol', 'blockquote', 'pre', 'dl', 'address', 'figure', 'hr']);
const LINE = new Set(['div', 'tr', 'li', 'dt', 'dd', 'section', 'article', 'header', 'footer', 'main', 'nav', 'aside', 'center', 'tbody', 'thead', 'tfoot', 'caption', 'figcaption', 'body', 'html', 'form', 'fieldset', 'details', 'summary']);

function attributes(source: string): Map<string, string> {
  const result = new Map<string, string>();
  for (const match of source.matchAll(ATTRIBUTE)) {
    const value = match[2] ?? match[3] ?? match[4] ?? '';
    result.set(match[1]!.toLowerCase(), decodeEntities(value));
  }
  return result;
}

/** A link target worth printing beside its text: not empty, not an in-page anchor, not the text itself. */
function linkSuffix(href: string, text: string): string | undefined {
  const target = href.trim();
  if (target === '' || target.startsWith('#') || /^javascript:/i.test(target)) return undefined;
  const plain = target.replace(/^mailto:/i, '');
  const normal = (s: string): string => s.trim().replace(/\/$/, '').toLowerCase();
  if (normal(plain) === normal(text) || normal(target) === normal(text)) return undefined;
  return target;
}

type Link = { href: string; start: number };
type List = { ordered: boolean; index: number };

// Output is kept as a list of chunks with the last character remembered: appending to one
// growing string and then asking it endsWith() flattens it each time, which is quadratic.
class TextWriter {
  private chunks: string[] = [];
  private last = '';
  pendingBreaks = 0;
  needSpace = false;

  get empty(): boolean {
    return this.chunks.length === 0;
  }

  /** A mark for since(): the output written from here on. */
  mark(): number {
    return this.chunks.length;
  }

  since(mark: number): string {
    return this.chunks.slice(mark).join('');
  }

  text(): string {
    return this.chunks.join('');
  }

  breakLines(count: number): void {
    if (!this.empty) this.pendingBreaks = Math.max(this.pendingBreaks, count);
    this.needSpace = false;
  }

  lineBreak(): void {
    if (!this.empty) this.pendingBreaks += 1;
    this.needSpace = false;
  }

  write(text: string, preformatted: boolean): void {
    if (text === '') return;
    if (!preformatted) {
      const collapsed = text.replace(/[ \t\n\r\f]+/g, ' ');
      if (collapsed === ' ') {
        this.needSpace = !this.empty && this.pendingBreaks === 0;
        return;
      }
      const leading = collapsed.startsWith(' ');
      const trailing = collapsed.endsWith(' ');
      this.flush(leading);
      this.append(collapsed.trim());
      this.needSpace = trailing;
      return;
    }
    this.flush(false);
    this.append(text);
  }

  private append(chunk: string): void {
    this.chunks.push(chunk);
    this.last = chunk.at(-1) ?? this.last;
  }

  private flush(space: boolean): void {
    if (this.pendingBreaks > 0) {
      this.append('\n'.repeat(this.pendingBreaks));
      this.pendingBreaks = 0;
    } else if ((space || this.needSpace) && !this.empty && this.last !== '\n' && this.last !== ' ') {
      this.append(' ');
    }
    this.needSpace = false;
  }
}

/**
 * Readable plain text from an email's HTML: paragraphs separated by a blank line, list items
 * as "- item" / "1. item", links as `text (url)`, image alt text kept, entities decoded,
 * script/style/head dropped. Not a sanitizer; the output is meant for a text/plain part.
 */
export function htmlToText(html: string): string {
  const source = html
    .replace(/<!--[\s\S]*?(?:-->|$)/g, '')
    .replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, '$1')
    .replace(/<![^>]*>/g, '')
    .replace(/<\?[\s\S]*?\?>/g, '')
    .replace(DROPPED, '');

  const writer = new TextWriter();
  const links: Link[] = [];
  const lists: List[] = [];
  let preDepth = 0;
  let cellInRow = 0;
  let last = 0;

  const text = (chunk: string): void => writer.write(decodeEntities(chunk), preDepth > 0);

  for (const match of source.matchAll(TAG)) {
    text(source.slice(last, match.index));
    last = match.index + match[0].length;
    const closing = match[1] === '/';
    const name = match[2]!.toLowerCase();
    const attrs = closing ? new Map<string, string>() : attributes(match[3] ?? '');

    if (name === 'br') {
      // Each <br> is one line break, so two of them leave a blank line.
      writer.lineBreak();
      continue;
    }
    if (name === 'hr') {
      writer.breakLines(2);
      writer.write('----', true);
      writer.breakLines(2);
      continue;
    }
    if (name === 'img' && !closing) {
      const alt = (attrs.get('alt') ?? '').trim();
      if (alt !== '') writer.write(` ${alt} `, false);
      continue;
    }
    if (name === 'a') {
      if (!closing) {
        // Nested anchors are invalid HTML; the outer one wins.
        if (links.length === 0) links.push({ href: attrs.get('href') ?? '', start: writer.mark() });
        continue;
      }
      const link = links.pop();
      if (link === undefined) continue;
      const label = writer.since(link.start).trim();
      const suffix = linkSuffix(link.href, label);
      if (suffix !== undefined) writer.write(label === '' ? suffix : ` (${suffix})`, false);
      continue;
    }
    if (name === 'ul' || name === 'ol') {
      if (closing) lists.pop();
      const nested = lists.length > 0;
      if (!closing) lists.push({ ordered: name === 'ol', index: 0 });
      writer.breakLines(nested ? 1 : 2);
      continue;
    }
    if (name === 'li' && !closing) {
      writer.breakLines(1);
      const list = lists.at(-1);
      const depth = Math.max(0, lists.length - 1);
      const marker = list?.ordered === true ? `${++list.index}.` : '-';
      writer.write(`${'  '.repeat(depth)}${marker} `, true);
      continue;
    }
    if (name === 'tr') {
      cellInRow = 0;
      writer.breakLines(1);
      continue;
    }
    if ((name === 'td' || name === 'th') && !closing) {
      if (cellInRow++ > 0) writer.needSpace = true;
      continue;
    }
    if (name === 'pre') {
      preDepth = Math.max(0, preDepth + (closing ? -1 : 1));
    }
    if (PARAGRAPH.has(name)) writer.breakLines(2);
    else if (LINE.has(name)) writer.breakLines(1);
  }
  text(source.slice(last));

  return writer
    .text()
    .replace(/\u00a0/g, ' ')
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
