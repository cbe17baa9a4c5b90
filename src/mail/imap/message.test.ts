// Tests of the IMAP message views: ENVELOPE and BODYSTRUCTURE (RFC 3501 §7.4.2), sections (§6.4.5), the MIME walk (RFC 2045, 2046, 2231, 2047).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseImapMessage, imapString, type SectionSpec } from './message.ts';
import { buildDsn } from '../dsn/report.ts';
// A real IMAP client's response parser (imapflow, a devDependency) reads what we write.
import imapParser from 'imapflow/lib/handler/imap-parser.js';
import { parseBodystructure, parseEnvelope } from 'imapflow/lib/tools.js';

const crlf = (...lines: string[]) => Buffer.from(lines.join('\r\n'));
const text = (m: ReturnType<typeof parseImapMessage>, part: number[], kind: SectionSpec['kind'] = 'all', fields?: string[]) => m.section({ part, kind, fields }).toString('utf8');

const simple = crlf(
  'From: John Doe <john@example.com>',
  'To: "Smith, Jane" <jane@example.org>, bob@example.net (Bob B)',
  'Subject: Hello there',
  'Date: Mon, 24 Nov 2025 10:00:00 +0100',
  'Message-ID: <abc@example.com>',
  '',
  'Hi Jane,',
  '',
  'Just a note.',
  '',
);

const mixedPart1 = [
  '--inner',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'Gr=C3=BC=C3=9Fe',
  '--inner',
  'Content-Type: text/html; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  'Content-Location: https://example.de/',
  ' news.html',
  '',
  '<p>Gr=C3=BC=C3=9Fe</p>',
  '--inner--',
  '',
].join('\r\n');

const mixed = crlf(
  'From: =?utf-8?q?J=C3=B6rg?= <jorg@example.de>',
  'To: undisclosed-recipients:;',
  'Cc: Team: a@example.com, "B" <b@example.com>;, c@example.com',
  'Subject: =?utf-8?B?UmU6IGjDqWxsbw==?=',
  'Date: Tue, 25 Nov 2025 08:30:00 -0500',
  'Message-ID: <m2@example.de>',
  'In-Reply-To: <m1@example.com>',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="outer=_1"',
  '',
  'This is a multi-part message in MIME format.',
  '--outer=_1',
  'Content-Type: multipart/alternative; boundary=inner',
  '',
  mixedPart1,
  '--outer=_1',
  'Content-Type: application/pdf; name="report.pdf"',
  'Content-Transfer-Encoding: base64',
  'Content-Disposition: attachment;',
  " filename*0*=utf-8''%E2%82%AC%20report;",
  ' filename*1=".pdf"',
  'Content-ID: <pdf1@example.de>',
  'Content-Description: The report',
  'Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==',
  'Content-Language: en, de',
  '',
  'JVBERi0xLjQK',
  '--outer=_1--',
  'epilogue',
  '',
);

const forwarded = crlf(
  'From: a@example.com',
  'To: b@example.com',
  'Subject: Fwd: original',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary=b1',
  '',
  '--b1',
  'Content-Type: text/plain',
  '',
  'See attached.',
  '--b1',
  'Content-Type: message/rfc822',
  'Content-Disposition: inline',
  '',
  'From: "C" <c@example.com>',
  'Subject: original',
  'Content-Type: text/plain; charset=us-ascii',
  '',
  'orig body',
  '--b1--',
  '',
);

const dsn = crlf(
  'From: MAILER-DAEMON@mx.example.org',
  'To: a@example.com',
  'Subject: Undelivered Mail Returned to Sender',
  'Content-Type: multipart/report; report-type=delivery-status;',
  '\tboundary="dsn/boundary"',
  '',
  '--dsn/boundary',
  'Content-Type: text/plain; charset=us-ascii',
  '',
  'Your message could not be delivered.',
  '--dsn/boundary',
  'Content-Type: message/delivery-status',
  '',
  'Reporting-MTA: dns; mx.example.org',
  '',
  'Final-Recipient: rfc822; x@example.com',
  'Action: failed',
  'Status: 5.1.1',
  '--dsn/boundary',
  'Content-Type: text/rfc822-headers',
  '',
  'From: a@example.com',
  'Subject: hi',
  '--dsn/boundary--',
  '',
);

const noEndBoundary = crlf('Content-Type: multipart/mixed; boundary=x', '', '--x', 'Content-Type: text/plain', '', 'A', '--x', '', 'B', '');
const noContentType = crlf('Subject: plain', '', 'body', '');
const boundaryNeverAppears = crlf('Content-Type: multipart/mixed; boundary=nope', '', 'hello', '');

const samples = { simple, mixed, forwarded, dsn, noEndBoundary, noContentType, boundaryNeverAppears };

describe('ENVELOPE (RFC 3501 §7.4.2)', () => {
  it('lists date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to, message-id; sender and reply-to default to from', () => {
    assert.equal(
      parseImapMessage(simple).envelope(),
      '("Mon, 24 Nov 2025 10:00:00 +0100" "Hello there" (("John Doe" NIL "john" "example.com")) (("John Doe" NIL "john" "example.com")) ' +
        '(("John Doe" NIL "john" "example.com")) (("Smith, Jane" NIL "jane" "example.org")("Bob B" NIL "bob" "example.net")) NIL NIL NIL "<abc@example.com>")',
    );
  });

  it('keeps encoded-words as they appear and writes groups as start (NIL host) and end (all NIL) markers', () => {
    assert.equal(
      parseImapMessage(mixed).envelope(),
      '("Tue, 25 Nov 2025 08:30:00 -0500" "=?utf-8?B?UmU6IGjDqWxsbw==?=" (("=?utf-8?q?J=C3=B6rg?=" NIL "jorg" "example.de")) ' +
        '(("=?utf-8?q?J=C3=B6rg?=" NIL "jorg" "example.de")) (("=?utf-8?q?J=C3=B6rg?=" NIL "jorg" "example.de")) ' +
        '((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) ' +
        '((NIL NIL "Team" NIL)(NIL NIL "a" "example.com")("B" NIL "b" "example.com")(NIL NIL NIL NIL)(NIL NIL "c" "example.com")) ' +
        'NIL "<m1@example.com>" "<m2@example.de>")',
    );
  });

  it('uses explicit Sender and Reply-To, source routes as adl, a comment as the name when there is none; an empty Sender falls back to From', () => {
    const m = parseImapMessage(crlf('From: a@x.example', 'Sender: s@x.example', 'Reply-To: Team <@relay.example,@r2.example:r@x.example>', 'Bcc: (hidden) <b@x.example>', '', ''));
    assert.equal(
      m.envelope(),
      '(NIL NIL ((NIL NIL "a" "x.example")) ((NIL NIL "s" "x.example")) (("Team" "@relay.example,@r2.example" "r" "x.example")) NIL NIL (("hidden" NIL "b" "x.example")) NIL NIL)',
    );
    const empty = parseImapMessage(crlf('From: a@x.example', 'Sender:', 'Reply-To: ', '', ''));
    assert.equal(empty.envelope(), '(NIL NIL ((NIL NIL "a" "x.example")) ((NIL NIL "a" "x.example")) ((NIL NIL "a" "x.example")) NIL NIL NIL NIL NIL)');
  });

  it('writes 8-bit and quote-bearing values correctly: literals for UTF-8 (RFC 6532), escapes in quoted strings', () => {
    const m = parseImapMessage(Buffer.from('From: "Jörg \\"J\\"" <j@x.example>\r\nSubject: Grüße\r\n\r\n'));
    assert.equal(m.envelope(), '(NIL {7}\r\nGrüße ((' + '{9}\r\nJörg "J" NIL "j" "x.example")) ((' + '{9}\r\nJörg "J" NIL "j" "x.example")) ((' + '{9}\r\nJörg "J" NIL "j" "x.example")) NIL NIL NIL NIL NIL)');
  });

  it('of an empty message is all NIL', () => {
    assert.equal(parseImapMessage(Buffer.alloc(0)).envelope(), '(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)');
  });
});

describe('BODYSTRUCTURE and BODY (RFC 3501 §7.4.2)', () => {
  it('of a message without MIME headers is TEXT/PLAIN; charset=us-ascii, 7BIT, size of the body and its lines (RFC 2045 §5.2)', () => {
    const m = parseImapMessage(simple);
    assert.equal(m.bodyStructure(true), '("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 26 3 NIL NIL NIL NIL)');
    assert.equal(m.bodyStructure(false), '("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 26 3)');
    assert.equal(m.size, simple.length);
  });

  it('of multipart/mixed with a nested multipart/alternative and an attachment: parts, extension data, RFC 2231 continuations merged', () => {
    const m = parseImapMessage(mixed);
    assert.equal(
      m.bodyStructure(true),
      '((("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 15 1 NIL NIL NIL NIL)' +
        '("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 22 1 NIL NIL NIL "https://example.de/news.html")' +
        ' "ALTERNATIVE" ("BOUNDARY" "inner") NIL NIL NIL)' +
        '("APPLICATION" "PDF" ("NAME" "report.pdf") "<pdf1@example.de>" "The report" "BASE64" 12 "Q2hlY2sgSW50ZWdyaXR5IQ==" ' +
        '("ATTACHMENT" ("FILENAME*" "utf-8\'\'%E2%82%AC%20report.pdf")) ("en" "de") NIL)' +
        ' "MIXED" ("BOUNDARY" "outer=_1") NIL NIL NIL)',
    );
    assert.equal(
      m.bodyStructure(false),
      '((("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 15 1)("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 22 1) "ALTERNATIVE")' +
        '("APPLICATION" "PDF" ("NAME" "report.pdf") "<pdf1@example.de>" "The report" "BASE64" 12) "MIXED")',
    );
  });

  it('of a message/rfc822 part carries its envelope, its body structure and its size in lines', () => {
    assert.equal(
      parseImapMessage(forwarded).bodyStructure(true),
      '(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 13 1 NIL NIL NIL NIL)' +
        '("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 101 (NIL "original" (("C" NIL "c" "example.com")) (("C" NIL "c" "example.com")) (("C" NIL "c" "example.com")) NIL NIL NIL NIL NIL) ' +
        '("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 9 1 NIL NIL NIL NIL) 5 NIL ("INLINE" NIL) NIL NIL)' +
        ' "MIXED" ("BOUNDARY" "b1") NIL NIL NIL)',
    );
  });

  it('of a multipart/report DSN: message/delivery-status is a basic body, text/rfc822-headers a text body (RFC 3464, RFC 6522)', () => {
    const m = parseImapMessage(dsn);
    assert.equal(
      m.bodyStructure(false),
      '(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 36 1)("MESSAGE" "DELIVERY-STATUS" NIL NIL NIL "7BIT" 107)("TEXT" "RFC822-HEADERS" NIL NIL NIL "7BIT" 32 2) "REPORT")',
    );
    assert.match(m.bodyStructure(true), / "REPORT" \("REPORT-TYPE" "delivery-status" "BOUNDARY" "dsn\/boundary"\) NIL NIL NIL\)$/);
  });

  it('of a DSN built by our own sender shows the returned message with its envelope', () => {
    const original = crlf('From: a@mana.test', 'To: b@example.org', 'Subject: hi', 'Message-ID: <1@mana.test>', '', 'body line', '');
    const { raw } = buildDsn({
      reportingMta: 'mail.mana.test',
      from: 'Mail Delivery System <MAILER-DAEMON@mail.mana.test>',
      to: 'a@mana.test',
      arrivalDate: Date.UTC(2026, 10, 24, 10, 0, 0),
      original,
      returnContent: 'full',
      recipients: [{ finalRecipient: 'b@example.org', action: 'failed', status: '5.1.1', remoteMta: 'mx.example.org', diagnostic: { type: 'smtp', text: '550 5.1.1 no such user' }, lastAttemptAt: Date.UTC(2026, 10, 24, 10, 1, 0) }],
    });
    const m = parseImapMessage(raw);
    const bs = m.bodyStructure(false);
    assert.match(bs, /^\(\("TEXT" "PLAIN" .*\)\("MESSAGE" "DELIVERY-STATUS" .*\)\("MESSAGE" "RFC822" .* \(NIL "hi" \(\(NIL NIL "a" "mana.test"\)\) .*"<1@mana.test>"\) \("TEXT" "PLAIN" \("CHARSET" "us-ascii"\) NIL NIL "7BIT" 11 1\) \d+\) "REPORT"\)$/);
    assert.equal(text(m, [3, 1]), 'body line\r\n');
    assert.equal(text(m, [3], 'header.fields', ['subject']), 'Subject: hi\r\n\r\n');
    assert.match(text(m, [2]), /Action: failed/);
  });

  it('of a multipart/digest defaults its parts to message/rfc822 (RFC 2046 §5.1.5)', () => {
    const m = parseImapMessage(crlf('Content-Type: multipart/digest; boundary=d', '', '--d', '', 'Subject: one', '', 'first', '--d--', ''));
    assert.equal(m.bodyStructure(false), '(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 21 (NIL "one" NIL NIL NIL NIL NIL NIL NIL NIL) ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 5 1) 3) "DIGEST")');
  });

  it('keeps parameters of a single RFC 2231 extended value encoded, decodes continuations, tolerates comments after values (RFC 2045 §5.1)', () => {
    const m = parseImapMessage(
      crlf('Content-Type: text/plain; charset=us-ascii (Plain text); format="flowed";', " title*=us-ascii'en'This%20is; name*0=\"a\"; name*1=b", '', 'x'),
    );
    assert.equal(m.bodyStructure(false), '("TEXT" "PLAIN" ("CHARSET" "us-ascii" "FORMAT" "flowed" "TITLE*" "us-ascii\'en\'This%20is" "NAME" "ab") NIL NIL "7BIT" 1 1)');
  });

  it('shows an encoded message/rfc822 (not allowed by RFC 2046 §5.2.1, but seen) with the envelope of the decoded message', () => {
    const inner = Buffer.from('From: x@y.example\r\nSubject: enc\r\n\r\nhello\r\n').toString('base64');
    const m = parseImapMessage(crlf('Content-Type: multipart/mixed; boundary=z', '', '--z', 'Content-Type: message/rfc822', 'Content-Transfer-Encoding: base64', '', inner, '--z--', ''));
    assert.match(m.bodyStructure(false), /^\(\("MESSAGE" "RFC822" NIL NIL NIL "BASE64" \d+ \(NIL "enc" \(\(NIL NIL "x" "y.example"\)\)/);
    assert.equal(text(m, [1], 'text'), 'hello\r\n');
    assert.equal(text(m, [1], 'header'), 'From: x@y.example\r\nSubject: enc\r\n\r\n');
    assert.equal(text(m, [1]), inner);
  });
});

describe('sections (RFC 3501 §6.4.5)', () => {
  it('of a simple message: BODY[], HEADER with its empty line, TEXT, part 1 is the body, 1.MIME the header', () => {
    const m = parseImapMessage(simple);
    assert.deepEqual(m.section({ part: [], kind: 'all' }), simple);
    assert.equal(text(m, [], 'header'), simple.toString().slice(0, simple.indexOf('\r\n\r\n') + 4));
    assert.equal(text(m, [], 'text'), 'Hi Jane,\r\n\r\nJust a note.\r\n');
    assert.equal(text(m, [1]), 'Hi Jane,\r\n\r\nJust a note.\r\n');
    assert.equal(text(m, [1], 'mime'), text(m, [], 'header'));
    assert.equal(text(m, [2]), '');
    assert.equal(text(m, [1, 1]), '');
    assert.equal(text(m, [1], 'header'), '', 'HEADER after a part number needs a MESSAGE/RFC822 part');
    assert.equal(text(m, [], 'mime'), '');
  });

  it('of a multipart: each part, each MIME header, nested parts; missing parts are empty', () => {
    const m = parseImapMessage(mixed);
    assert.equal(text(m, [1]), mixedPart1);
    assert.equal(text(m, [1], 'mime'), 'Content-Type: multipart/alternative; boundary=inner\r\n\r\n');
    assert.equal(text(m, [1, 1]), 'Gr=C3=BC=C3=9Fe');
    assert.equal(text(m, [1, 2]), '<p>Gr=C3=BC=C3=9Fe</p>');
    assert.equal(
      text(m, [1, 2], 'mime'),
      'Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Location: https://example.de/\r\n news.html\r\n\r\n',
    );
    assert.equal(text(m, [2]), 'JVBERi0xLjQK');
    assert.match(text(m, [2], 'mime'), /^Content-Type: application\/pdf; name="report.pdf"\r\n[\s\S]*Content-Language: en, de\r\n\r\n$/);
    assert.ok(text(m, [], 'text').startsWith('This is a multi-part message in MIME format.\r\n--outer=_1\r\n'));
    assert.ok(text(m, [], 'text').endsWith('--outer=_1--\r\nepilogue\r\n'));
    for (const part of [[0], [3], [1, 3], [2, 1], [1, 1, 1], [-1], [1.5]]) assert.equal(text(m, part), '', `part ${part.join('.')}`);
    assert.equal(text(m, [2], 'header'), '');
    assert.equal(text(m, [2], 'text'), '');
  });

  it('HEADER.FIELDS and HEADER.FIELDS.NOT give the chosen fields as stored (folded), then the empty line', () => {
    const m = parseImapMessage(mixed);
    assert.equal(text(m, [], 'header.fields', ['SUBJECT', 'to', 'x-absent']), 'To: undisclosed-recipients:;\r\nSubject: =?utf-8?B?UmU6IGjDqWxsbw==?=\r\n\r\n');
    assert.equal(text(m, [], 'header.fields', ['x-absent']), '\r\n');
    const folded = parseImapMessage(crlf('Subject: one', '  two', 'X-A: 1', 'x-a: 2', 'To: t@x.example', '', 'b'));
    assert.equal(text(folded, [], 'header.fields', ['subject', 'X-A']), 'Subject: one\r\n  two\r\nX-A: 1\r\nx-a: 2\r\n\r\n');
    assert.equal(text(folded, [], 'header.fields.not', ['subject', 'x-a']), 'To: t@x.example\r\n\r\n');
  });

  it('of a message/rfc822 part: N is the message, N.HEADER / N.TEXT its header and text, N.1 its body, N.MIME the part header', () => {
    const m = parseImapMessage(forwarded);
    const inner = 'From: "C" <c@example.com>\r\nSubject: original\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\norig body';
    assert.equal(text(m, [1]), 'See attached.');
    assert.equal(text(m, [2]), inner);
    assert.equal(text(m, [2], 'header'), inner.slice(0, inner.indexOf('\r\n\r\n') + 4));
    assert.equal(text(m, [2], 'text'), 'orig body');
    assert.equal(text(m, [2, 1]), 'orig body');
    assert.equal(text(m, [2], 'mime'), 'Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n');
    assert.equal(text(m, [2], 'header.fields', ['subject']), 'Subject: original\r\n\r\n');
    assert.equal(text(m, [2], 'header.fields.not', ['subject', 'content-type']), 'From: "C" <c@example.com>\r\n\r\n');
    assert.equal(text(m, [2, 2]), '');
  });

  it('of a message whose body is message/rfc822: part 1 is the encapsulated message, 1.1 its body, 1.2.x its parts', () => {
    const m = parseImapMessage(
      crlf('Subject: outer', 'Content-Type: message/rfc822', '', 'Subject: inner', 'Content-Type: multipart/alternative; boundary=q', '', '--q', '', 'one', '--q', '', 'two', '--q--', ''),
    );
    assert.equal(text(m, [1], 'header'), 'Subject: inner\r\nContent-Type: multipart/alternative; boundary=q\r\n\r\n');
    assert.equal(text(m, [1, 1]), 'one');
    assert.equal(text(m, [1, 2]), 'two');
    assert.equal(text(m, [1, 3]), '');
    assert.match(m.bodyStructure(false), /^\("MESSAGE" "RFC822" NIL NIL NIL "7BIT" \d+ \(NIL "inner" NIL NIL NIL NIL NIL NIL NIL NIL\) \(\("TEXT" "PLAIN" \("CHARSET" "us-ascii"\) NIL NIL "7BIT" 3 1\)\("TEXT" "PLAIN" \("CHARSET" "us-ascii"\) NIL NIL "7BIT" 3 1\) "ALTERNATIVE"\) 10\)$/);
  });

  it('of a DSN: the delivery-status part as written', () => {
    const m = parseImapMessage(dsn);
    assert.equal(text(m, [2]), 'Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; x@example.com\r\nAction: failed\r\nStatus: 5.1.1');
    assert.equal(text(m, [3]), 'From: a@example.com\r\nSubject: hi');
    assert.equal(text(m, [1], 'mime'), 'Content-Type: text/plain; charset=us-ascii\r\n\r\n');
  });

  it('tolerates bare LF line ends', () => {
    const m = parseImapMessage(Buffer.from('Subject: lf\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\npart one\n--b--\n'));
    assert.equal(text(m, [], 'header'), 'Subject: lf\nContent-Type: multipart/mixed; boundary=b\n\n');
    assert.equal(text(m, [1]), 'part one');
    assert.equal(m.bodyStructure(false), '(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 8 1) "MIXED")');
  });
});

describe('what an IMAP client reads (imapflow parser as the peer)', () => {
  async function fetchLine(raw: Buffer) {
    const m = parseImapMessage(raw);
    const parsed = await imapParser(Buffer.from(`* 1 FETCH (ENVELOPE ${m.envelope()} BODYSTRUCTURE ${m.bodyStructure(true)} BODY ${m.bodyStructure(false)})`));
    const list = parsed.attributes?.[1] as unknown as unknown[];
    return { envelope: parseEnvelope(list[1] as never), structure: parseBodystructure(list[3] as never), body: parseBodystructure(list[5] as never) };
  }

  it('parses the ENVELOPE and BODYSTRUCTURE of the multipart/mixed sample, RFC 2231 file name included', async () => {
    const { envelope, structure, body } = await fetchLine(mixed);
    assert.equal(envelope.subject, 'Re: héllo');
    assert.deepEqual(envelope.from, [{ name: 'Jörg', address: 'jorg@example.de' }]);
    assert.deepEqual(envelope.cc?.map((a) => a.address), ['', 'a@example.com', 'b@example.com', 'c@example.com']);
    assert.equal(envelope.inReplyTo, '<m1@example.com>');
    const [alternative, pdf] = structure.childNodes ?? [];
    assert.equal(structure.type, 'multipart/mixed');
    assert.deepEqual(alternative.childNodes?.map((c) => [c.part, c.type, c.encoding, c.size, c.lineCount]), [
      ['1.1', 'text/plain', 'quoted-printable', 15, 1],
      ['1.2', 'text/html', 'quoted-printable', 22, 1],
    ]);
    assert.equal(alternative.childNodes?.[1].location, 'https://example.de/news.html');
    assert.deepEqual([pdf.part, pdf.type, pdf.id, pdf.description, pdf.disposition, pdf.dispositionParameters?.filename, pdf.language], ['2', 'application/pdf', '<pdf1@example.de>', 'The report', 'attachment', '€ report.pdf', ['en', 'de']]);
    assert.equal(body.childNodes?.[1].disposition, undefined, 'BODY has no extension data');
  });

  it('parses the encapsulated message of a message/rfc822 part and the parts of a DSN', async () => {
    const fwd = await fetchLine(forwarded);
    const attached = fwd.structure.childNodes?.[1];
    assert.equal(attached?.type, 'message/rfc822');
    assert.equal(attached?.envelope?.subject, 'original');
    assert.equal(attached?.lineCount, 5);
    assert.equal(attached?.childNodes?.[0].type, 'text/plain');
    const report = await fetchLine(dsn);
    assert.deepEqual(report.structure.childNodes?.map((c) => c.type), ['text/plain', 'message/delivery-status', 'text/rfc822-headers']);
    assert.equal(report.structure.parameters?.['report-type'], 'delivery-status');
  });
});

describe('malformed MIME never throws and falls back to text/plain (RFC 2045 §5.2)', () => {
  it('a missing close delimiter ends the last part at the end of the body', () => {
    const m = parseImapMessage(noEndBoundary);
    assert.equal(m.bodyStructure(false), '(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 1)("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 3 1) "MIXED")');
    assert.equal(text(m, [2]), 'B\r\n');
    assert.equal(text(m, [2], 'mime'), '\r\n');
  });

  it('no Content-Type is text/plain; charset=us-ascii', () => {
    assert.equal(parseImapMessage(noContentType).bodyStructure(true), '("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 6 1 NIL NIL NIL NIL)');
  });

  it('a boundary that never appears, a multipart without boundary and an invalid Content-Type are text/plain', () => {
    const expected = '("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 7 1)';
    assert.equal(parseImapMessage(boundaryNeverAppears).bodyStructure(false), expected);
    assert.equal(text(parseImapMessage(boundaryNeverAppears), [1]), 'hello\r\n');
    assert.equal(parseImapMessage(crlf('Content-Type: multipart/mixed', '', 'hello', '')).bodyStructure(false), expected);
    assert.equal(parseImapMessage(crlf('Content-Type: text', '', 'hello', '')).bodyStructure(false), expected);
    assert.equal(parseImapMessage(crlf('Content-Type: ;;;/==="', '', 'hello', '')).bodyStructure(false), expected);
  });

  it('a delimiter must be alone on its line: a longer boundary that starts with the outer one is not a delimiter (RFC 2046 §5.1.1)', () => {
    const m = parseImapMessage(crlf('Content-Type: multipart/mixed; boundary=abc', '', '--abc', 'Content-Type: multipart/alternative; boundary=abcdef', '', '--abcdef', '', 'x', '--abcdef--', '--abc--', ''));
    assert.equal(m.bodyStructure(false), '((("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 1 1) "ALTERNATIVE") "MIXED")');
    assert.equal(text(m, [1, 1]), 'x');
  });

  it('a part that starts with body text has no header (the empty line after the delimiter was left out)', () => {
    const m = parseImapMessage(crlf('Content-Type: multipart/mixed; boundary=p', '', '--p', 'just text', 'more', '--p', 'Content-Type: text/html', '', '<b>x</b>', '--p--'));
    assert.equal(text(m, [1]), 'just text\r\nmore');
    assert.equal(text(m, [1], 'mime'), '');
    assert.equal(m.bodyStructure(false), '(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 15 2)("TEXT" "HTML" NIL NIL NIL "7BIT" 8 1) "MIXED")');
  });

  it('broken address lists (stray ")", unterminated quotes and comments, missing domain) still give addresses', () => {
    const m = parseImapMessage(crlf('From: MAILER-DAEMON', 'To: bob@x.example Bob B), "unterminated', 'Cc: (open <c@x.example>', '', ''));
    assert.equal(m.envelope(), '(NIL NIL ((NIL NIL "MAILER-DAEMON" "")) ((NIL NIL "MAILER-DAEMON" "")) ((NIL NIL "MAILER-DAEMON" "")) ' +
      '((NIL NIL "bob" "x.exampleBobB)")(NIL NIL "\\"unterminated" "")) (("(open" NIL "c" "x.example")) NIL NIL NIL)');
  });

  it('a header without a body, an empty message, deep nesting', () => {
    const headerOnly = parseImapMessage(Buffer.from('Subject: only'));
    assert.equal(text(headerOnly, [], 'header'), 'Subject: only');
    assert.equal(text(headerOnly, [], 'text'), '');
    assert.equal(headerOnly.bodyStructure(false), '("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 0 0)');
    const empty = parseImapMessage(Buffer.alloc(0));
    assert.equal(empty.bodyStructure(true), '("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)');
    assert.equal(empty.section({ part: [1], kind: 'all' }).length, 0);
    let deep = 'leaf\r\n';
    for (let i = 0; i < 200; i++) deep = `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n${deep}\r\n--b${i}--\r\n`;
    const d = parseImapMessage(Buffer.from(deep));
    assert.match(d.bodyStructure(true), /"MIXED"/);
    assert.ok(d.bodyText().includes('leaf'));
    let nested = 'Subject: last\r\n\r\nend\r\n';
    for (let i = 0; i < 200; i++) nested = `Content-Type: message/rfc822\r\n\r\n${nested}`;
    assert.match(parseImapMessage(Buffer.from(nested)).bodyStructure(true), /^\("MESSAGE" "RFC822"/);
  });

  it('random truncations, byte flips and splices of the samples never throw; what is written stays valid IMAP and matches the sections', async () => {
    let seed = 0x9e3779b9;
    const rand = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const specials = ['\r\n', '\n', '--', '=?', '?=', '"', '(', ')', '<', '>', ':', ';', ',', '\\', '\r\n\r\n', '\r\n--outer=_1', '\r\n--inner--', '\r\n--b1\r\n', '*0*=', '%', '\xff', ' '];
    const kinds: SectionSpec['kind'][] = ['all', 'header', 'text', 'mime', 'header.fields', 'header.fields.not'];
    const list = Object.values(samples);
    let checked = 0;
    for (let round = 0; round < 1500; round++) {
      let b: Buffer = Buffer.from(list[rand(list.length)]);
      for (let ops = 1 + rand(3); ops > 0; ops--) {
        const op = rand(4);
        const at = rand(b.length + 1);
        if (op === 0) b = b.subarray(0, at);
        else if (op === 1) for (let k = 0; k < 1 + rand(8); k++) b[rand(b.length)] = rand(256);
        else if (op === 2) b = Buffer.concat([b.subarray(0, at), Buffer.from(specials[rand(specials.length)], 'latin1'), b.subarray(at)]);
        else b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + rand(40)))]);
      }
      const m = parseImapMessage(b);
      const envelope = m.envelope();
      const structure = m.bodyStructure(true);
      m.bodyStructure(false);
      m.bodyText();
      m.sentDate();
      m.header('subject');
      m.header('from');
      for (const kind of kinds) {
        for (const part of [[], [1], [2], [1, 1], [1, 2], [2, 1], [3, 1, 1]]) m.section({ part, kind, fields: ['subject', 'content-type'] });
      }
      // The client parser counts literal lengths in characters when given one line; check the 7-bit outputs only.
      if (round % 5 === 0 && /^[\x00-\x7f]*$/.test(envelope + structure)) {
        const parsed = await imapParser(Buffer.from(`* 1 FETCH (ENVELOPE ${envelope} BODYSTRUCTURE ${structure})`));
        const list = parsed.attributes?.[1] as unknown as unknown[];
        parseEnvelope(list[1] as never);
        type Node = { part?: string; size?: number; childNodes?: Node[]; type: string };
        const walk = (node: Node) => {
          if (node.part && node.size !== undefined && !node.type.startsWith('multipart/')) {
            assert.equal(m.section({ part: node.part.split('.').map(Number), kind: 'all' }).length, node.size, `size of part ${node.part}`);
            checked++;
          }
          if (!node.type.startsWith('message/')) for (const c of node.childNodes ?? []) walk(c);
        };
        walk(parseBodystructure(list[3] as never) as Node);
      }
    }
    assert.ok(checked > 100, `sizes checked against sections: ${checked}`);
  });

  it('a 1 MB header line, a 1 MB address list, 1 MB of "=?" and of comment openers, and 1 MB of near-delimiters finish (linear scans)', () => {
    const big = 1 << 20;
    const cases = [
      Buffer.from('Subject: ' + 'a'.repeat(big) + '\r\n\r\nx'),
      Buffer.from('To: ' + 'a@b.example,'.repeat(big / 12) + '\r\nCc: ' + '"'.repeat(big) + '\r\n\r\nx'),
      Buffer.from('Subject: ' + '=?'.repeat(big / 2) + '\r\nFrom: ' + '=?utf-8?q?'.repeat(big / 10) + '\r\n\r\nx'),
      Buffer.from('From: ' + '('.repeat(big) + '\r\nTo: ' + '<'.repeat(big) + '\r\nDate: ' + '1 '.repeat(big / 2) + '\r\n\r\nx'),
      Buffer.from('Content-Type: multipart/mixed; boundary=x; ' + 'a=b;'.repeat(big / 4) + '\r\n\r\n' + '--xZ\r\n'.repeat(big / 6) + '--x\r\n\r\nlast\r\n--x--'),
      Buffer.from('Content-Type: text/plain; name*' + '0*=a;name*'.repeat(big / 10) + '\r\nContent-Language: ' + ','.repeat(big) + '\r\n\r\nx'),
      Buffer.from('Subject: x\r\n\r\n' + 'a'.repeat(big * 4)),
    ];
    for (const raw of cases) {
      const m = parseImapMessage(raw);
      m.envelope();
      m.bodyStructure(true);
      m.header('subject');
      m.header('from');
      m.sentDate();
      m.bodyText();
      m.section({ part: [1], kind: 'all' });
      m.section({ part: [], kind: 'header.fields', fields: ['subject'] });
    }
    assert.equal(text(parseImapMessage(cases[4]), [1]), 'last');
  });
});

describe('header(), bodyText(), sentDate() for SEARCH', () => {
  it('header() unfolds and decodes RFC 2047 encoded-words, joining adjacent words and split multi-byte characters (§6.2)', () => {
    const m = parseImapMessage(mixed);
    assert.equal(m.header('Subject'), 'Re: héllo');
    assert.equal(m.header('from'), 'Jörg <jorg@example.de>');
    assert.equal(m.header('x-absent'), undefined);
    const words = parseImapMessage(
      crlf('Subject: =?utf-8?q?caf?= =?utf-8?q?=C3?=', ' =?UTF-8?Q?=A9_ok?= plain =?iso-8859-1?b?6Q==?= =?bogus?x?y?= =?unknown-cs?q?=C3=A9?=', 'Received: one', 'Received: two', '', ''),
    );
    assert.equal(words.header('subject'), 'café ok plain é =?bogus?x?y?= é');
    assert.equal(words.header('received'), 'one\ntwo');
  });

  it('bodyText() undoes quoted-printable and base64 and decodes the charset of every text part', () => {
    const m = parseImapMessage(mixed);
    assert.equal(m.bodyText(), 'Grüße\n<p>Grüße</p>');
    const latin = parseImapMessage(
      crlf('Content-Type: multipart/mixed; boundary=l', '', '--l', 'Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: base64', '', Buffer.from([0x63, 0x61, 0x66, 0xe9]).toString('base64'), '--l', 'Content-Type: text/plain; charset=x-unknown', 'Content-Transfer-Encoding: quoted-printable', '', 'soft=', ' break =3D', '--l', 'Content-Type: image/png', '', 'xx', '--l--'),
    );
    assert.equal(latin.bodyText(), 'café\nsoft break =');
    assert.equal(parseImapMessage(forwarded).bodyText(), 'See attached.\norig body');
  });

  it('sentDate() reads RFC 5322 §3.3 dates, obsolete zones and two-digit years (§4.3); invalid dates are undefined', () => {
    const at = (d: string) => parseImapMessage(Buffer.from(`Date: ${d}\r\n\r\n`)).sentDate()?.toISOString();
    assert.equal(at('Tue, 1 Jul 2003 10:52:37 +0200'), '2003-07-01T08:52:37.000Z');
    assert.equal(at('1 Jul 03 10:52 PDT'), '2003-07-01T17:52:00.000Z');
    assert.equal(at('Mon, 24 Nov 2025 10:00:00 +0000 (UTC)'), '2025-11-24T10:00:00.000Z');
    assert.equal(at('31 Feb 2020 10:00:00 +0000'), undefined);
    assert.equal(at('not a date'), undefined);
    assert.equal(parseImapMessage(simple).sentDate()?.toISOString(), '2025-11-24T09:00:00.000Z');
    assert.equal(parseImapMessage(noContentType).sentDate(), undefined);
  });
});

describe('imapString (RFC 3501 §4.3)', () => {
  it('quotes printable 7-bit text, escaping \\ and ", and writes NIL for null', () => {
    assert.equal(imapString('a "b" \\c'), '"a \\"b\\" \\\\c"');
    assert.equal(imapString(''), '""');
    assert.equal(imapString(null), 'NIL');
    assert.equal(imapString(undefined), 'NIL');
  });

  it('writes a literal with the UTF-8 byte count for CR, LF, 8-bit and long values', () => {
    assert.equal(imapString('a\r\nb'), '{4}\r\na\r\nb');
    assert.equal(imapString('é'), '{2}\r\né');
    const long = 'x'.repeat(1000);
    assert.equal(imapString(long), `{1000}\r\n${long}`);
    assert.equal(imapString('x'.repeat(999)), `"${'x'.repeat(999)}"`);
  });
});
