// Fuzz tests for the header helpers of inbound-auth.ts (RFC 8601 §5, RFC 5322 §2.2.3, §3.2.2): removeForgedResults only ever drops whole
// Authentication-Results fields of our authserv-id and leaves the body byte for byte; authservIdOf reads generated values right and never throws.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { authservIdOf, removeForgedResults } from './inbound-auth.ts';
import { headerEnd } from './message/headers.ts';
import { forEachSeed, LONG_RUN, mutate, randomInput, type Rng } from '../../test/support/fuzz.ts';

const OURS = 'mx.ours.example';

const SEED_MESSAGES = [
  [
    'Authentication-Results: mx.ours.example; dmarc=pass',
    'Received: from a.example (a.example [192.0.2.1])\r\n\tby b.example; Mon, 1 Jan 2024 00:00:00 +0000',
    'authentication-results:(c) MX.OURS.EXAMPLE. ;\r\n\tspf=pass',
    'Authentication-Results: "mx.ours.example" 1; dkim=pass',
    'Authentication-Results:\r\n mx.ours.example (nested (comment \\) x)); none',
    'Authentication-Results: other.example; spf=pass',
    'Authentication-Results: mx.ours.example.evil; spf=pass',
    'DKIM-Signature: v=1; a=rsa-sha256; d=a.example; s=s;\r\n h=from:to; bh=x; b=y',
    'From: <a@sender.example>',
    'Subject: x',
    '',
    'Authentication-Results: mx.ours.example; body text',
    '',
  ].join('\r\n'),
  'Subject: no results\r\n\r\nbody\r\n',
  'Authentication-Results: mx.ours.example; spf=pass\r\n',
].map((s) => Buffer.from(s, 'latin1'));

const TOKENS = ['Authentication-Results: mx.ours.example; x\r\n', 'Authentication-Results:', ' mx.ours.example', 'MX.OURS.EXAMPLE.', '\r\n ', '\r\n\t', '"mx.ours.example"', '(', ')', '\\'];

function isOurs(field: string): boolean {
  const m = /^Authentication-Results[ \t]*:/i.exec(field);
  return m !== null && authservIdOf(field.slice(m[0].length).replace(/\r\n/g, '')).replace(/\.$/, '') === OURS;
}

/**
 * Reference field splitter (a plain loop): CRLF lines, continuation lines (leading SP or HTAB) joined to their field; null when a
 * CR or LF is bare. A last line without its CRLF (only in a message with no body, cut short; SMTP DATA always ends in CRLF) is
 * taken as a field of its own, as removeForgedResults takes it ("expects CRLF line ends").
 */
function referenceFields(head: string): string[] | null {
  const fields: string[] = [];
  let i = 0;
  while (i < head.length) {
    let j = i;
    while (j < head.length && head[j] !== '\r' && head[j] !== '\n') j++;
    if (j < head.length) {
      if (head[j] === '\n' || head[j + 1] !== '\n') return null;
      j += 2;
    }
    const line = head.slice(i, j);
    const continuation = (line[0] === ' ' || line[0] === '\t') && line.endsWith('\r\n') && fields.length > 0 && fields[fields.length - 1].endsWith('\r\n');
    if (continuation) fields[fields.length - 1] += line;
    else fields.push(line);
    i = j;
  }
  return fields;
}

/** The invariants: the body is byte-identical, and the header is the input's with exactly our Authentication-Results fields taken out. */
function check(raw: Buffer): number {
  const out = removeForgedResults(raw, OURS);
  const end = headerEnd(raw);
  const body = raw.subarray(end);
  assert.ok(out.raw.length >= body.length && out.raw.subarray(out.raw.length - body.length).equals(body), 'the body after the header is byte-identical');
  const outHead = out.raw.subarray(0, out.raw.length - body.length).toString('latin1');
  const fields = referenceFields(raw.subarray(0, end).toString('latin1'));
  if (fields === null) {
    assert.equal(out.removed, 0, 'a header with a bare CR or LF is left alone');
    assert.ok(out.raw.equals(raw));
    return 0;
  }
  let at = 0;
  let removed = 0;
  for (const f of fields) {
    if (isOurs(f)) { removed++; continue; }
    assert.ok(outHead.startsWith(f, at), `field kept whole and in order: ${JSON.stringify(f.slice(0, 80))}`);
    at += f.length;
  }
  assert.equal(at, outHead.length, 'nothing added to the header');
  assert.equal(out.removed, removed, 'every field of our authserv-id removed, and counted');
  if (removed === 0) assert.ok(out.raw.equals(raw));
  return removed;
}

/** An authserv-id value with its expected reading: CFWS (nested comments with quoted-pairs, folding) around a token or a quoted string. */
function generatedValue(r: Rng): { value: string; id: string } {
  const comment = (depth: number): string => {
    const parts = ['('];
    for (let n = r.int(4); n > 0; n--) {
      const k = r.int(5);
      if (k === 0 && depth < 6) parts.push(comment(depth + 1));
      else if (k === 1) parts.push(`\\${r.pick(['(', ')', '\\', 'x', '"'])}`);
      else parts.push(r.pick(['a', ' ', 'mx.ours.example', ';', '"', 'x=y']));
    }
    parts.push(')');
    return parts.join('');
  };
  const cfws = () => Array.from({ length: r.int(3) }, () => r.pick([' ', '\t', comment(0)])).join('');
  const id = r.pick([OURS, 'other.example', 'mx.ours.example.evil', 'ours', 'mx.ours.example1']);
  const shown = [...id].map((c) => (r.chance(0.5) ? c.toUpperCase() : c)).join('') + (r.chance(0.2) ? '.' : '');
  const token = r.chance(0.3) ? `"${shown}"` : shown;
  const rest = r.pick(['; spf=pass', ' 1; dkim=pass', ';none', '', ' ; dmarc=fail (p=reject)']);
  return { value: `${cfws()}${token}${cfws()}${rest}`, id: id.toLowerCase() };
}

describe('inbound-auth header helpers fuzz (RFC 8601 §5)', () => {
  it('the unmutated seeds: our fields go, the others and the body stay', () => {
    assert.equal(check(SEED_MESSAGES[0]), 4);
    assert.equal(check(SEED_MESSAGES[1]), 0);
    assert.equal(check(SEED_MESSAGES[2]), 1);
  });

  it('mutated messages (truncation, byte flips, inserted bytes, tokens and fields, long runs) keep the invariants', async () => {
    await forEachSeed({ firstSeed: 0xa0a00000, iterations: 2500 }, (r) => {
      check(mutate(r, r.pick(SEED_MESSAGES), { tokens: TOKENS }));
    });
  });

  it('headers built of random fields, some of them ours, folded and commented', async () => {
    await forEachSeed({ firstSeed: 0xa0a10000, iterations: 1500 }, (r) => {
      const fields: string[] = [];
      let expected = 0;
      for (let n = r.int(8); n > 0; n--) {
        if (r.chance(0.5)) {
          const g = generatedValue(r);
          const value = r.chance(0.3) ? g.value.replace(/ /, '\r\n ') : g.value;
          fields.push(`${r.pick(['Authentication-Results', 'authentication-results', 'AUTHENTICATION-RESULTS \t'])}:${value}`);
          if (g.id === OURS) expected++;
        } else {
          fields.push(r.pick(['Subject: x', 'X-Authentication-Results: mx.ours.example; spf=pass', 'Received: from x\r\n\tby y', 'From: <a@b.example>']));
        }
      }
      const raw = Buffer.from(`${fields.join('\r\n')}\r\n\r\nAuthentication-Results: ${OURS}; body\r\n`, 'latin1');
      assert.equal(check(raw), expected);
    });
  });

  it('authservIdOf reads generated values (comments nest, quoted-pairs inside them, quoted ids, case, trailing dot)', async () => {
    await forEachSeed({ firstSeed: 0xa0a20000, iterations: 3000 }, (r) => {
      const g = generatedValue(r);
      assert.equal(authservIdOf(g.value).replace(/\.$/, ''), g.id, JSON.stringify(g.value));
    });
  });

  it('authservIdOf on random text never throws and gives lower case', async () => {
    await forEachSeed({ firstSeed: 0xa0a30000, iterations: 3000 }, (r) => {
      const v = (r.chance(0.1) ? mutate(r, Buffer.from('(a (b) \\) c) "x\\"y"; z', 'latin1'), { longRun: 0.3 }) : randomInput(r, 200, ['(', ')', '\\', '"'])).toString('latin1');
      const id = authservIdOf(v);
      assert.equal(typeof id, 'string');
      assert.equal(id, id.toLowerCase());
    });
  });

  it('regression: 50,000 nested comments and a 100,000-byte line ending in a bare CR or LF finish in linear time (were quadratic)', () => {
    const deep = `${'('.repeat(LONG_RUN / 2)}${')'.repeat(LONG_RUN / 2)} ${OURS}; spf=pass`;
    assert.equal(authservIdOf(deep), OURS);
    assert.equal(check(Buffer.from(`Authentication-Results: ${deep}\r\nSubject: x\r\n\r\nbody`, 'latin1')), 1);
    assert.equal(authservIdOf('('.repeat(LONG_RUN)), '('.repeat(LONG_RUN), 'an unclosed comment stays as text');
    for (const bare of ['\r', '\n']) {
      const raw = Buffer.from(`Authentication-Results: ${OURS}; x\r\nX: ${'a'.repeat(LONG_RUN)}${bare}b\r\n\r\nbody`, 'latin1');
      assert.equal(check(raw), 0);
    }
  });

  it('regression: a quoted-pair inside a comment does not open one; "((y) \\(a)" is one comment (RFC 5322 §3.2.2)', () => {
    assert.equal(authservIdOf(`((y) \\(a) ${OURS}; none`), OURS);
    assert.equal(authservIdOf(`(x \\) y) ${OURS}`), OURS);
  });
});
