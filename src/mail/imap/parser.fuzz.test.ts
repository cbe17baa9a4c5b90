// Structured fuzz tests for the IMAP command parser (RFC 3501 §9, RFC 7888 literals): generated FETCH, SEARCH and APPEND commands parse to what was
// generated, and their token-level and byte-level mutations give a command or an ImapSyntaxError (BAD), never another exception; the readers the
// commands use on the tokens (fetch attributes, search keys, sequence sets, flags, date-time) never throw past their own syntax errors.
// parser.ts offers no canonical form of a command (it only reads), so there is no re-serialization round-trip to check.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ImapSyntaxError, parseCommand, parseFetchAtts, parseSequenceSet, type FetchAtt, type ImapCommand } from './parser.ts';
import { parseSearch, SearchSyntaxError } from './search-query.ts';
import { parseDateTime } from './format.ts';
import { parseFlags } from './commands/store.ts';
import { forEachSeed, LONG_RUN, mutate, randomInput, type Rng } from '../../../test/support/fuzz.ts';

/** A command as pieces (joined by nothing), so mutations can work on whole tokens. */
type Pieces = string[];

const literal = (r: Rng, text: string): string => `{${Buffer.byteLength(text, 'latin1')}${r.chance(0.5) ? '+' : ''}}\r\n${text}`;
const astring = (r: Rng, text: string): string => (r.chance(0.5) ? literal(r, text) : `"${text.replace(/[\\"]/g, '\\$&')}"`);

function sequenceSet(r: Rng): string {
  const one = () => (r.chance(0.2) ? '*' : String(1 + r.int(r.chance(0.1) ? 0xfffffffe : 50)));
  return Array.from({ length: 1 + r.int(3) }, () => (r.chance(0.5) ? `${one()}:${one()}` : one())).join(',');
}

type GeneratedAtt = { text: string; kind: FetchAtt['kind']; sectionKind?: string; partial?: { start: number; count: number } };

function fetchAtt(r: Rng): GeneratedAtt {
  if (r.chance(0.3)) {
    const kind = r.pick(['UID', 'FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY', 'BODYSTRUCTURE', 'RFC822', 'RFC822.HEADER', 'RFC822.TEXT'] as const);
    return { text: r.chance(0.5) ? kind : kind.toLowerCase(), kind };
  }
  const part = Array.from({ length: r.int(3) }, () => String(1 + r.int(20))).join('.');
  const fields = () => `(${Array.from({ length: 1 + r.int(3) }, () => r.pick(['FROM', 'Subject', 'x-list-id', '"To"'])).join(' ')})`;
  const choices: Array<[string, string]> = [['', 'all'], ['HEADER', 'header'], ['TEXT', 'text'], [`HEADER.FIELDS ${fields()}`, 'header.fields'], [`HEADER.FIELDS.NOT ${fields()}`, 'header.fields.not']];
  if (part) choices.push(['MIME', 'mime']);
  const [spec, sectionKind] = r.pick(choices);
  const section = part && spec ? `${part}.${spec}` : part || spec;
  const partial = r.chance(0.4) ? { start: r.int(100000), count: 1 + r.int(100000) } : undefined;
  const head = r.pick(['BODY', 'BODY.PEEK', 'body.peek']);
  return { text: `${head}[${section}]${partial ? `<${partial.start}.${partial.count}>` : ''}`, kind: 'section', sectionKind, partial };
}

function fetchCommand(r: Rng): { pieces: Pieces; atts: GeneratedAtt[] } {
  const atts = Array.from({ length: 1 + r.int(5) }, () => fetchAtt(r));
  const list = atts.length === 1 && r.chance(0.5) ? [atts[0].text] : ['(', ...atts.flatMap((a, i) => (i ? [' ', a.text] : [a.text])), ')'];
  return { pieces: [`f${r.int(1000)}`, ' ', r.pick(['FETCH', 'UID FETCH', 'uid fetch']), ' ', sequenceSet(r), ' ', ...list], atts };
}

/** A search key (RFC 3501 §6.4.4) as pieces, nesting OR, NOT and parenthesized lists, strings as quoted strings or literals. */
function searchKey(r: Rng, depth: number): Pieces {
  const k = r.int(depth > 4 ? 6 : 10);
  switch (k) {
    case 0: return [r.pick(['ALL', 'SEEN', 'unseen', 'DELETED', 'NEW', 'OLD', 'RECENT', 'FLAGGED'])];
    case 1: return [r.pick(['FROM', 'TO', 'SUBJECT', 'BODY', 'TEXT', 'KEYWORD']), ' ', astring(r, r.pick(['alice', 'a b', 'ü', '"q"', '\\', '']))];
    case 2: return ['HEADER', ' ', astring(r, 'X-Mailer'), ' ', astring(r, r.pick(['mana', '']))];
    case 3: return [r.pick(['SINCE', 'BEFORE', 'ON', 'SENTSINCE']), ' ', r.pick(['1-Feb-1994', '"17-Jul-1996"', '31-Dec-2025'])];
    case 4: return [r.pick(['LARGER', 'SMALLER']), ' ', String(r.int(1e6))];
    case 5: return r.chance(0.5) ? ['UID', ' ', sequenceSet(r)] : [sequenceSet(r)];
    case 6: case 7: return ['NOT', ' ', ...searchKey(r, depth + 1)];
    case 8: return ['OR', ' ', ...searchKey(r, depth + 1), ' ', ...searchKey(r, depth + 1)];
    default: {
      const keys = Array.from({ length: 1 + r.int(3) }, () => searchKey(r, depth + 1));
      return ['(', ...keys.flatMap((key, i) => (i ? [' ', ...key] : key)), ')'];
    }
  }
}

function searchCommand(r: Rng): Pieces {
  const keys = Array.from({ length: 1 + r.int(3) }, () => searchKey(r, 0));
  const charset = r.chance(0.3) ? ['CHARSET', ' ', r.pick(['UTF-8', '"US-ASCII"']), ' '] : [];
  return [`s${r.int(1000)}`, ' ', r.pick(['SEARCH', 'UID SEARCH']), ' ', ...charset, ...keys.flatMap((key, i) => (i ? [' ', ...key] : key))];
}

function appendCommand(r: Rng): { pieces: Pieces; message: Buffer } {
  const message = Buffer.from(r.pick(['From: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n', 'x', '\r\n.\r\n)', `${'a'.repeat(1000)}\r\n`]), 'latin1');
  const flags = r.chance(0.5) ? [' ', `(${r.pick(['', '\\Seen', '\\Seen \\Flagged', '$Label1 \\Draft'])})`] : [];
  const date = r.chance(0.5) ? [' ', r.pick(['"17-Jul-1996 02:44:25 -0700"', '" 1-Feb-2024 00:00:00 +0000"'])] : [];
  return { pieces: [`p${r.int(1000)}`, ' ', 'APPEND', ' ', r.pick(['INBOX', '"Sent Items"', literal(r, 'Archive')]), ...flags, ...date, ' ', literal(r, message.toString('latin1'))], message };
}

/** Token-level mutations: drop, duplicate or swap pieces, replace one with a syntax token, change a literal's count, nest lists deeply. */
function mutatePieces(r: Rng, pieces: Pieces): Pieces {
  const p = [...pieces];
  for (let n = 1 + r.int(3); n > 0; n--) {
    const i = r.int(p.length);
    switch (r.int(7)) {
      case 0: p.splice(i, 1); break;
      case 1: p.splice(i, 0, p[i] ?? ''); break;
      case 2: if (i + 1 < p.length) [p[i], p[i + 1]] = [p[i + 1], p[i]]; break;
      case 3: p[i] = r.pick(['(', ')', '"', '\\', '{', '}', '[', ']', '<', '>', '*', '%', ' ', '\r\n', 'NIL', '{0}\r\n', '{4294967296}\r\n', '{99999999999}\r\n', '\x00', '\xff']); break;
      case 4: p[i] = (p[i] ?? '').replace(/\{(\d+)/, (_m, d: string) => `{${Math.max(0, Number(d) + r.pick([-1, 1, 1000, -1000]))}`); break;
      case 5: p.splice(i, 0, '('.repeat(1 + r.int(40)), ...(r.chance(0.5) ? [')'.repeat(1 + r.int(40))] : [])); break;
      default: p.splice(i, 0, r.pick(['OR', 'NOT', 'BODY[', ']', '<0.', '.5>', 'HEADER.FIELDS (', 'UID', ' ']));
    }
  }
  return p;
}

/** The contract: a command, or ImapSyntaxError; the readers then throw nothing but their syntax errors. */
function check(bytes: Buffer): ImapCommand | undefined {
  let c: ImapCommand;
  try {
    c = parseCommand(bytes);
  } catch (err) {
    assert.ok(err instanceof ImapSyntaxError, `only ImapSyntaxError (BAD) is thrown, got ${(err as Error)?.stack ?? String(err)}`);
    assert.equal(err.code, 'imap.bad_syntax');
    return undefined;
  }
  assert.ok(c.tag.length > 0 && c.name.length > 0 && c.name === c.name.toUpperCase());
  for (const a of c.args) {
    parseFetchAtts(a);
    if (a.type === 'atom') parseSequenceSet(a.value);
    if (a.type === 'string') parseDateTime(a.value.toString('latin1'));
    if (a.type === 'list') parseFlags([a]);
  }
  try {
    parseSearch(c.args[0]?.type === 'atom' && c.args[0].value.toUpperCase() === 'CHARSET' ? c.args.slice(2) : c.args);
  } catch (err) {
    assert.ok(err instanceof SearchSyntaxError, `parseSearch throws only SearchSyntaxError (BAD), got ${(err as Error)?.stack ?? String(err)}`);
  }
  return c;
}

const bytesOf = (pieces: Pieces) => Buffer.from(pieces.join(''), 'latin1');

describe('IMAP command parser structured fuzz (RFC 3501 §9)', () => {
  it('generated FETCH commands parse to the attributes generated (sections, partials)', async () => {
    await forEachSeed({ firstSeed: 0x1a4f0000, iterations: 1500 }, (r) => {
      const { pieces, atts } = fetchCommand(r);
      const c = check(bytesOf(pieces));
      assert.ok(c, pieces.join(''));
      assert.match(c.name, /^(UID )?FETCH$/);
      const parsed = parseFetchAtts(c.args[1]);
      assert.ok(parsed, `attributes of ${pieces.join('')}`);
      assert.deepEqual(parsed.map((a) => a.kind), atts.map((a) => a.kind));
      for (const [i, a] of atts.entries()) {
        const p: FetchAtt = parsed[i];
        if (p.kind !== 'section') continue;
        assert.equal(p.section.kind, a.sectionKind);
        assert.deepEqual(p.partial, a.partial);
      }
      assert.ok(parseSequenceSet((c.args[0] as { value: string }).value));
    });
  });

  it('generated SEARCH commands with nested OR/NOT, lists and literals parse, and their criteria too', async () => {
    await forEachSeed({ firstSeed: 0x1a500000, iterations: 1500 }, (r) => {
      const pieces = searchCommand(r);
      const c = check(bytesOf(pieces));
      assert.ok(c, pieces.join(''));
      const tokens = c.args[0]?.type === 'atom' && c.args[0].value === 'CHARSET' ? c.args.slice(2) : c.args;
      assert.ok(parseSearch(tokens), pieces.join(''));
    });
  });

  it('generated APPEND commands keep their literal message byte for byte', async () => {
    await forEachSeed({ firstSeed: 0x1a510000, iterations: 1000 }, (r) => {
      const { pieces, message } = appendCommand(r);
      const c = check(bytesOf(pieces));
      assert.ok(c, pieces.join(''));
      assert.equal(c.name, 'APPEND');
      const last = c.args[c.args.length - 1];
      assert.ok(last.type === 'string' && last.literal && last.value.equals(message));
    });
  });

  it('token-level and byte-level mutations of them give a command or ImapSyntaxError, nothing else', async () => {
    await forEachSeed({ firstSeed: 0x1a520000, iterations: 3000 }, (r) => {
      const k = r.int(3);
      const pieces = k === 0 ? fetchCommand(r).pieces : k === 1 ? searchCommand(r) : appendCommand(r).pieces;
      const mutated = r.chance(0.6) ? bytesOf(mutatePieces(r, pieces)) : mutate(r, bytesOf(pieces), { tokens: ['{5}\r\n', '{0+}\r\n', 'BODY[', 'OR ', 'NOT '], longRun: 0.02 });
      check(mutated);
    });
  });

  it('random inputs behind a valid tag and command name', async () => {
    await forEachSeed({ firstSeed: 0x1a530000, iterations: 2000 }, (r) => {
      check(Buffer.concat([Buffer.from(`t ${r.pick(['FETCH 1 ', 'SEARCH ', 'APPEND INBOX ', 'UID FETCH 1:* ', 'STORE 1 +FLAGS '])}`), randomInput(r, 120, ['{3}\r\n', 'BODY[', '<1.2>', 'OR', 'NOT'])]));
    });
  });

  it('long runs: 100,000 nested "(", "[" or "\\" and a 100,000-byte literal count finish (linear scans)', () => {
    for (const run of ['(', '[', '\\', '"', '{', '1', ' ']) check(Buffer.from(`t SEARCH ${run.repeat(LONG_RUN)}`, 'latin1'));
    check(Buffer.from(`t FETCH 1 BODY[${'('.repeat(LONG_RUN)}]`, 'latin1'));
    check(Buffer.from(`t FETCH 1 BODY[${'1.'.repeat(LONG_RUN / 2)}TEXT]`, 'latin1'));
  });
});
