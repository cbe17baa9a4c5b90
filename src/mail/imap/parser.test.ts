// Tests of IMAP command syntax (RFC 3501 §9, RFC 7888): tokens, literals, framing limits, sequence sets, fetch attributes; and random bytes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createCommandReader, ImapSyntaxError, inSequenceSet, parseCommand, parseFetchAtts, parseSequenceSet, type Frame } from './parser.ts';

const cmd = (s: string) => parseCommand(Buffer.from(s, 'latin1'));

describe('IMAP command parser (RFC 3501 §9)', () => {
  it('reads tag, command and atoms, quoted strings and lists', () => {
    const c = cmd('a1 login "jo \\"x\\" \\\\" secret');
    assert.equal(c.tag, 'a1');
    assert.equal(c.name, 'LOGIN');
    assert.deepEqual(c.args.map((a) => a.type), ['string', 'atom']);
    assert.equal((c.args[0] as { value: Buffer }).value.toString(), 'jo "x" \\');
    const s = cmd('t STATUS INBOX (MESSAGES UIDNEXT)');
    assert.equal(s.args[1].type, 'list');
    assert.deepEqual((s.args[1] as { items: Array<{ value: string }> }).items.map((i) => i.value), ['MESSAGES', 'UIDNEXT']);
  });

  it('joins UID with its command (RFC 3501 §6.4.8)', () => {
    assert.equal(cmd('x uid fetch 1:* FLAGS').name, 'UID FETCH');
  });

  it('reads literals {n} and LITERAL+ {n+} with any bytes inside (RFC 3501 §4.3, RFC 7888)', () => {
    const c = parseCommand(Buffer.from('a APPEND INBOX (\\Seen) {5}\r\nhi\r\n\x00 {3+}\r\nabc'));
    assert.equal(c.args.length, 4);
    assert.deepEqual(c.args[2], { type: 'string', value: Buffer.from('hi\r\n\x00'), literal: true });
    assert.equal((c.args[3] as { value: Buffer }).value.toString(), 'abc');
  });

  it('keeps a section with spaces and a partial range in one fetch attribute (RFC 3501 §6.4.5)', () => {
    const c = cmd('f FETCH 1 (UID BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]<0.100> BODY[1.2.MIME] BODY[])');
    const atts = parseFetchAtts(c.args[1])!;
    assert.deepEqual(atts[0], { kind: 'UID' });
    assert.deepEqual(atts[1], { kind: 'section', peek: true, section: { part: [], kind: 'header.fields', fields: ['FROM', 'SUBJECT'] }, text: 'HEADER.FIELDS (FROM SUBJECT)', partial: { start: 0, count: 100 } });
    assert.deepEqual(atts[2], { kind: 'section', peek: false, section: { part: [1, 2], kind: 'mime' }, text: '1.2.MIME', partial: undefined });
    assert.deepEqual(atts[3], { kind: 'section', peek: false, section: { part: [], kind: 'all' }, text: '', partial: undefined });
    assert.equal(parseFetchAtts(cmd('f FETCH 1 ALL').args[1])!.length, 4);
    assert.equal(parseFetchAtts(cmd('f FETCH 1 BODY[MIME]').args[1]), undefined, 'MIME needs a part');
    assert.equal(parseFetchAtts(cmd('f FETCH 1 BODY[1.TEXT]<5.0>').args[1]), undefined, 'count 0');
    assert.equal(parseFetchAtts(cmd('f FETCH 1 (FLAGS BOGUS)').args[1]), undefined);
  });

  it('rejects malformed commands with ImapSyntaxError and the tag when there is one', () => {
    const bad = ['', 'a', 'a ', '+ NOOP', 'a FETCH (1', 'a LOGIN "unterminated', 'a LOGIN {5}\r\nab', 'a X "\\q"', 'a\tNOOP', 'a LOGIN (a))', 'a SELECT \xe9'];
    for (const line of bad) {
      assert.throws(() => cmd(line), (e: unknown) => e instanceof ImapSyntaxError, JSON.stringify(line));
    }
    assert.throws(() => cmd('t9 FETCH (1'), { tag: 't9' });
  });

  it('parses sequence sets and treats * as the largest number (RFC 3501 §6.4.8)', () => {
    assert.deepEqual(parseSequenceSet('2,4:7'), [[2, 2], [4, 7]]);
    const set = parseSequenceSet('1:*')!;
    assert.ok(inSequenceSet(set, 5, 5));
    assert.ok(inSequenceSet(parseSequenceSet('10:*')!, 5, 5), 'n:* holds the largest when n is larger');
    assert.ok(inSequenceSet(parseSequenceSet('7:3')!, 4, 9));
    for (const s of ['0', '1:0', 'a', '1,', '', '1::2', '4294967296']) assert.equal(parseSequenceSet(s), undefined, s);
  });

  it('survives random bytes: only ImapSyntaxError, never a crash', () => {
    const alphabet = Buffer.from('a1 FETCH UID ()[]<>{}"\\*%:,.+-0123456789\r\n\x00\xff BODY.PEEK[HEADER.FIELDS (A)] {3}\r\n{2+}');
    for (let i = 0; i < 20_000; i++) {
      const n = randomBytes(1)[0] % 60;
      const bytes = i % 2 ? randomBytes(n) : Buffer.from([...randomBytes(n)].map((b) => alphabet[b % alphabet.length]));
      try {
        const c = parseCommand(bytes);
        for (const a of c.args) parseFetchAtts(a);
        for (const a of c.args) if (a.type === 'atom') parseSequenceSet(a.value);
      } catch (err) {
        assert.ok(err instanceof ImapSyntaxError, `${(err as Error).stack} on ${bytes.toString('hex')}`);
      }
    }
  });
});

describe('IMAP framing (RFC 3501 §2.2, RFC 7888)', () => {
  function reader(maxLine = 100, maxLiteral = 50) {
    let continues = 0;
    const r = createCommandReader({ maxLine, maxLiteral, continueLiteral: () => continues++ });
    return { r, continues: () => continues };
  }

  it('asks for a synchronizing literal only, and waits for all of it', () => {
    const { r, continues } = reader();
    r.push(Buffer.from('a LOGIN {3}\r\n'));
    assert.equal(r.next('command'), undefined);
    assert.equal(continues(), 1);
    r.push(Buffer.from('joe {4+}\r\npa'));
    assert.equal(r.next('command'), undefined);
    assert.equal(continues(), 1, 'no continuation for LITERAL+');
    r.push(Buffer.from('ss\r\nb NOOP\r\n'));
    const f = r.next('command') as Extract<Frame, { kind: 'command' }>;
    assert.equal(f.bytes.toString(), 'a LOGIN {3}\r\njoe {4+}\r\npass');
    assert.deepEqual(parseCommand(f.bytes).args.map((a) => (a as { value: Buffer }).value.toString()), ['joe', 'pass']);
    assert.equal((r.next('command') as { bytes: Buffer }).bytes.toString(), 'b NOOP');
  });

  it('refuses a literal larger than the limit with its tag, and a line longer than the limit', () => {
    const { r, continues } = reader(100, 50);
    r.push(Buffer.from('t1 APPEND INBOX {51}\r\n'));
    assert.deepEqual(r.next('command'), { kind: 'too-big', tag: 't1', size: 51, sync: true, limit: 50 });
    assert.equal(continues(), 0);
    r.push(Buffer.from('t2 NOOP ' + 'x'.repeat(200)));
    assert.deepEqual(r.next('command'), { kind: 'too-long', tag: 't2' });
    r.push(Buffer.from('yyy\r\nt3 NOOP\r\n'));
    assert.equal((r.next('command') as { bytes: Buffer }).bytes.toString(), 't3 NOOP', 'the rest of the long line is dropped');
  });

  it('gives plain lines in line mode (AUTHENTICATE, IDLE DONE)', () => {
    const { r } = reader();
    r.push(Buffer.from('DONE\r\n'));
    assert.deepEqual(r.next('line'), { kind: 'line', text: 'DONE' });
  });
});

describe('IMAP framing limits on a whole command', () => {
  it('refuses a command whose literals together pass maxCommand, each one being under maxLiteral', () => {
    const r = createCommandReader({ maxLine: 100, maxLiteral: 50, maxCommand: 120, continueLiteral: () => {} });
    r.push(Buffer.from('a LOGIN {40+}\r\n' + 'x'.repeat(40) + ' {40+}\r\n' + 'y'.repeat(40) + ' {40+}\r\n'));
    assert.deepEqual(r.next('command'), { kind: 'too-big', tag: 'a', size: 40, sync: false, limit: 120 });
  });

  it('takes the literal limit from a function, so it can depend on the state', () => {
    let limit = 10;
    const r = createCommandReader({ maxLine: 100, maxLiteral: () => limit, continueLiteral: () => {} });
    r.push(Buffer.from('a LOGIN {20}\r\n'));
    assert.deepEqual(r.next('command'), { kind: 'too-big', tag: 'a', size: 20, sync: true, limit: 10 });
    limit = 50;
    r.push(Buffer.from('b APPEND INBOX {20+}\r\n' + 'z'.repeat(20) + '\r\n'));
    assert.equal((r.next('command') as { bytes: Buffer }).bytes.length, 'b APPEND INBOX {20+}\r\n'.length + 20);
  });

  it('counts the literal bytes already read into `buffered`, for back-pressure', () => {
    const r = createCommandReader({ maxLine: 100, maxLiteral: 1000, continueLiteral: () => {} });
    r.push(Buffer.from('a APPEND INBOX {500+}\r\n' + 'x'.repeat(300)));
    assert.equal(r.next('command'), undefined);
    assert.ok(r.buffered >= 300, `buffered is ${r.buffered}`);
    r.push(Buffer.from('x'.repeat(200) + '\r\n'));
    assert.equal(r.next('command')?.kind, 'command');
    assert.equal(r.buffered, 0);
  });
});
