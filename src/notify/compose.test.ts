// Tests for compose.ts: RFC 5322 / MIME / RFC 2047 properties of composed messages, read back with mailparser.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser, type AddressObject } from 'mailparser';
import { composeEmail, isAddrSpec, parseAddress, type ComposeOptions } from './compose.ts';

const base: ComposeOptions = {
  from: 'ManaCore <noreply@mana.how>',
  to: ['alice@example.com'],
  subject: 'Hello',
  html: '<p>Hello <a href="https://mana.how/x?a=1&amp;b=2">there</a></p>',
};

function headerBlock(raw: Buffer): string {
  const text = raw.toString('latin1');
  return text.slice(0, text.indexOf('\r\n\r\n'));
}

function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
  const list = field === undefined ? [] : Array.isArray(field) ? field : [field];
  return list.flatMap((a) => a.value.map((v) => v.address ?? ''));
}

async function expectCode(options: ComposeOptions, code: string): Promise<void> {
  await assert.rejects(composeEmail(options), (err: Error & { code?: string }) => {
    assert.equal(err.code, code, err.message);
    return true;
  });
}

describe('composeEmail', () => {
  it('writes From, To, Cc, Reply-To and a Subject that parse back (RFC 5322 §3.6)', async () => {
    const { raw } = await composeEmail({
      ...base,
      to: ['alice@example.com', 'Bob <bob@example.org>'],
      cc: ['carol@example.net'],
      replyTo: 'Support <support@mana.how>',
    });
    const mail = await simpleParser(raw);
    assert.equal(mail.from?.value[0]?.address, 'noreply@mana.how');
    assert.equal(mail.from?.value[0]?.name, 'ManaCore');
    assert.deepEqual(addresses(mail.to), ['alice@example.com', 'bob@example.org']);
    assert.deepEqual(addresses(mail.cc), ['carol@example.net']);
    assert.deepEqual(addresses(mail.replyTo), ['support@mana.how']);
    assert.equal(mail.subject, 'Hello');
  });

  it('is multipart/alternative with text/plain first and text/html last, both UTF-8 (RFC 2046 §5.1.4)', async () => {
    const { raw } = await composeEmail({ ...base, html: '<p>Grüße aus Köln</p>' });
    const headers = headerBlock(raw);
    assert.match(headers, /^Content-Type: multipart\/alternative;/m);
    const body = raw.toString('latin1').slice(headers.length);
    const plainAt = body.search(/Content-Type: text\/plain; charset=utf-8/i);
    const htmlAt = body.search(/Content-Type: text\/html; charset=utf-8/i);
    assert.ok(plainAt > 0 && htmlAt > plainAt, 'text/plain part precedes text/html part');
    const mail = await simpleParser(raw);
    assert.equal(mail.text?.trim(), 'Grüße aus Köln');
    assert.equal(mail.html, '<p>Grüße aus Köln</p>');
  });

  it('derives the text part from the HTML when no text is given, links as "text (url)"', async () => {
    const mail = await simpleParser((await composeEmail(base)).raw);
    assert.equal(mail.text?.trim(), 'Hello there (https://mana.how/x?a=1&b=2)');
  });

  it('uses the given text part as is', async () => {
    const mail = await simpleParser((await composeEmail({ ...base, text: 'Plain version\nline two' })).raw);
    assert.equal(mail.text?.trim(), 'Plain version\nline two');
  });

  it('encodes a non-ASCII Subject as RFC 2047 encoded words that decode back', async () => {
    const subject = 'E-Mail bestätigen — Mana: Grüße, Jürgen';
    const { raw } = await composeEmail({ ...base, subject });
    const line = /^Subject: (.*(?:\r\n[ \t].*)*)/m.exec(headerBlock(raw))?.[1] ?? '';
    assert.match(line, /^=\?UTF-8\?[QB]\?/i, 'subject is an encoded word');
    assert.doesNotMatch(line, /[^\x20-\x7e\r\n\t]/, 'subject header is 7-bit');
    assert.equal((await simpleParser(raw)).subject, subject);
  });

  it('folds a long non-ASCII subject into lines of at most 78 characters (RFC 5322 §2.1.1, RFC 2047 §2)', async () => {
    const subject = 'Ümlaute überall: ' + 'äöü ß '.repeat(40);
    const { raw } = await composeEmail({ ...base, subject });
    for (const line of headerBlock(raw).split('\r\n')) assert.ok(line.length <= 78, `header line too long: ${line}`);
    assert.equal((await simpleParser(raw)).subject, subject);
  });

  it('gives a Message-ID <random@from-domain> with exactly one "@" (RFC 5322 §3.6.4)', async () => {
    const first = await composeEmail(base);
    const second = await composeEmail(base);
    assert.match(first.messageId, /^<[0-9a-f]{32}@mana\.how>$/);
    assert.equal(first.messageId.split('@').length, 2);
    assert.notEqual(first.messageId, second.messageId);
    const mail = await simpleParser(first.raw);
    assert.equal(mail.messageId, first.messageId);
    assert.match(headerBlock(first.raw), new RegExp(`^Message-ID: ${first.messageId}$`, 'm'));
  });

  it('takes the Message-ID domain from messageIdDomain when given', async () => {
    const { messageId } = await composeEmail({ ...base, messageIdDomain: 'mail.example.com' });
    assert.match(messageId, /^<[0-9a-f]{32}@mail\.example\.com>$/);
  });

  it('writes an internationalised sender domain into the Message-ID as A-labels (RFC 5890)', async () => {
    const { messageId } = await composeEmail({ ...base, from: 'Müller <info@müller.de>' });
    assert.match(messageId, /^<[0-9a-f]{32}@xn--mller-kva\.de>$/);
  });

  it('refuses a Message-ID domain that is not a domain', async () => {
    await expectCode({ ...base, messageIdDomain: 'bad domain>' }, 'compose.invalid_domain');
  });

  it('writes Date from the given clock and MIME-Version 1.0 (RFC 5322 §3.6.1, RFC 2045 §4)', async () => {
    const date = new Date('2026-04-03T15:03:46Z');
    const { raw } = await composeEmail({ ...base, date });
    const headers = headerBlock(raw);
    assert.match(headers, /^Date: Fri, 03 Apr 2026 15:03:46 \+0000$/m);
    assert.match(headers, /^MIME-Version: 1\.0$/m);
    assert.equal((await simpleParser(raw)).date?.toISOString(), date.toISOString());
  });

  it('puts Bcc recipients into the envelope but into no header (RFC 5322 §3.6.3)', async () => {
    const { raw, envelope } = await composeEmail({ ...base, cc: ['cc@example.com'], bcc: ['Hidden <hidden@example.com>'] });
    assert.deepEqual(envelope, { from: 'noreply@mana.how', to: ['alice@example.com', 'cc@example.com', 'hidden@example.com'] });
    assert.doesNotMatch(headerBlock(raw), /^Bcc:/im);
    assert.ok(!raw.toString().includes('hidden@example.com'));
    assert.equal((await simpleParser(raw)).bcc, undefined);
  });

  it('accepts a message with Bcc recipients only', async () => {
    const { envelope } = await composeEmail({ ...base, to: [], bcc: ['hidden@example.com'] });
    assert.deepEqual(envelope.to, ['hidden@example.com']);
  });

  it('refuses a message without any recipient', async () => {
    await expectCode({ ...base, to: [] }, 'compose.no_recipients');
  });

  it('uses CRLF line ends only and no line over 998 octets (RFC 5322 §2.1.1, §2.3)', async () => {
    const { raw } = await composeEmail({ ...base, html: `<p>${'x'.repeat(3000)}</p>`, text: 'y'.repeat(3000) });
    const text = raw.toString('latin1');
    assert.doesNotMatch(text, /[^\r]\n/);
    assert.doesNotMatch(text, /\r(?!\n)/);
    for (const line of text.split('\r\n')) assert.ok(line.length <= 998);
  });

  it('adds custom headers, RFC 2047-encoding non-ASCII values', async () => {
    const { raw } = await composeEmail({
      ...base,
      headers: { 'List-Unsubscribe': '<https://mana.how/u/1>', 'X-Note': 'Grüße' },
    });
    const mail = await simpleParser(raw);
    assert.match(headerBlock(raw), /^List-Unsubscribe: <https:\/\/mana\.how\/u\/1>$/m);
    assert.match(headerBlock(raw), /^X-Note: =\?UTF-8\?/m);
    // mailparser leaves unknown fields encoded; "Grüße" in UTF-8, Q-encoded (RFC 2047 §4.2).
    assert.equal(mail.headers.get('x-note'), '=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=');
  });

  it('refuses custom headers that it writes itself', async () => {
    for (const name of ['From', 'to', 'CC', 'Bcc', 'Subject', 'Date', 'Message-ID', 'content-type', 'MIME-Version', 'Content-Transfer-Encoding']) {
      await expectCode({ ...base, headers: { [name]: 'x' } }, 'compose.reserved_header');
    }
  });

  describe('header injection (RFC 5322 §2.2: CR and LF end a header field)', () => {
    const attempts: [string, Partial<ComposeOptions>][] = [
      ['subject with CRLF', { subject: 'Hi\r\nBcc: victim@example.com' }],
      ['subject with bare LF', { subject: 'Hi\nBcc: victim@example.com' }],
      ['subject with bare CR', { subject: 'Hi\rBcc: victim@example.com' }],
      ['from display name', { from: 'Mana\r\nBcc: victim@example.com <noreply@mana.how>' }],
      ['to address', { to: ['alice@example.com\r\nBcc: victim@example.com'] }],
      ['cc address', { cc: ['carol@example.com\nX-Evil: 1'] }],
      ['bcc address', { bcc: ['hidden@example.com\r\nX-Evil: 1'] }],
      ['replyTo', { replyTo: 'a@example.com\r\nX-Evil: 1' }],
      ['custom header value', { headers: { 'X-Tag': 'a\r\nBcc: victim@example.com' } }],
      ['custom header name with CRLF', { headers: { 'X-Tag\r\nBcc': 'victim@example.com' } }],
      ['custom header name with colon', { headers: { 'Bcc: victim@example.com\r\nX-A': 'b' } }],
      ['custom header name with space', { headers: { 'X Tag': 'b' } }],
      ['messageIdDomain', { messageIdDomain: 'mana.how>\r\nBcc: victim@example.com' }],
    ];
    for (const [name, patch] of attempts) {
      it(`throws compose.header_injection for ${name}`, async () => {
        await expectCode({ ...base, ...patch }, 'compose.header_injection');
      });
    }

    it('keeps header-like text without line breaks inside one Subject field', async () => {
      const { raw } = await composeEmail({ ...base, subject: 'Hi Bcc: victim@example.com X-Evil: 1' });
      const mail = await simpleParser(raw);
      assert.equal(mail.subject, 'Hi Bcc: victim@example.com X-Evil: 1');
      assert.equal(mail.bcc, undefined);
      assert.equal(mail.headers.has('x-evil'), false);
    });
  });
});

describe('parseAddress', () => {
  it('splits "Name <address>" into name and address (RFC 5322 §3.4 name-addr)', () => {
    assert.deepEqual(parseAddress('ManaCore <noreply@mana.how>'), { name: 'ManaCore', address: 'noreply@mana.how' });
  });

  it('accepts a bare address with an empty name (addr-spec)', () => {
    assert.deepEqual(parseAddress('noreply@mana.how'), { name: '', address: 'noreply@mana.how' });
  });

  it('reads a quoted display name with a comma', () => {
    assert.deepEqual(parseAddress('"Doe, Jane" <jane@example.com>'), { name: 'Doe, Jane', address: 'jane@example.com' });
  });

  it('refuses lists, groups and non-addresses with compose.invalid_address', () => {
    for (const input of ['a@example.com, b@example.com', 'Team: a@example.com;', 'not an address', 'Name <>', '']) {
      assert.throws(() => parseAddress(input), (err: Error & { code?: string }) => err.code === 'compose.invalid_address', input);
    }
  });

  it('refuses CR or LF with compose.header_injection', () => {
    assert.throws(() => parseAddress('A\r\nBcc: x@y.z <a@b.c>'), (err: Error & { code?: string }) => err.code === 'compose.header_injection');
  });
});

describe('isAddrSpec (RFC 5321 §4.1.2 Mailbox, RFC 6531 UTF-8)', () => {
  it('accepts dot-atoms, quoted local parts, U-labels and address literals', () => {
    for (const address of ['a@b.c', 'user.name+tag@example.com', "o'brien@example.ie", 'jürgen@müller.de', '"john doe"@example.com', 'root@[127.0.0.1]', 'x@[IPv6:2001:db8::1]', 'test@localhost']) {
      assert.equal(isAddrSpec(address), true, address);
    }
  });

  it('refuses malformed addresses', () => {
    for (const address of ['', 'plain', '@example.com', 'a@', 'a..b@example.com', '.a@example.com', 'a.@example.com', 'a b@example.com', 'a@-example.com', 'a@example-.com', 'a@exa..mple.com', 'a@exa mple.com', 'Name <a@b.c>', 'a@b.c\r\n', `${'x'.repeat(65)}@example.com`, `a@${'b'.repeat(64)}.com`, 'a@[300.1.1.1]']) {
      assert.equal(isAddrSpec(address), false, JSON.stringify(address));
    }
  });
});
