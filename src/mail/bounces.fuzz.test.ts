// Fuzz tests for parseDsn (RFC 3464 inside RFC 6522): mutated real DSNs and random bytes never throw or hang, and what comes back keeps its documented shape.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDsn, type ParsedDsn } from './bounces.ts';
import { buildDsn } from './dsn/report.ts';
import { forEachSeed, LONG_RUN, mutate, randomInput } from '../../test/support/fuzz.ts';

const original = Buffer.from('From: a@mana.test\r\nTo: b@example.org\r\nSubject: hi\r\nMessage-ID: <orig-1@mana.test>\r\n\r\nbody line\r\n');

/** Our own builder's DSN: one failed, one delayed recipient, the original returned whole or as headers. */
const built = (returnContent: 'full' | 'headers') => buildDsn({
  reportingMta: 'mail.mana.test',
  from: 'Mail Delivery System <MAILER-DAEMON@mail.mana.test>',
  to: 'a@mana.test',
  envId: 'E-1',
  arrivalDate: Date.UTC(2026, 0, 1),
  original,
  returnContent,
  now: new Date(Date.UTC(2026, 0, 1, 0, 5)),
  recipients: [
    { finalRecipient: 'b@example.org', originalRecipient: 'rfc822;B@example.org', action: 'failed', status: '5.1.1', remoteMta: 'mx.example.org', diagnostic: { type: 'smtp', text: '550 5.1.1 no such user' }, lastAttemptAt: Date.UTC(2026, 0, 1, 0, 1) },
    { finalRecipient: 'c@example.org', action: 'delayed', status: '4.4.1', diagnostic: { type: 'X-Mana', text: 'connection timed out' }, willRetryUntil: Date.UTC(2026, 0, 5) },
  ],
}).raw;

/** A bounce as Postfix writes it, the report part quoted-printable (as some relays re-encode it). */
const POSTFIX = Buffer.from([
  'From: MAILER-DAEMON@mx.example.org (Mail Delivery System)',
  'Subject: Undelivered Mail Returned to Sender',
  'MIME-Version: 1.0',
  'Content-Type: multipart/report; report-type=delivery-status;',
  '\tboundary="3F1A2C0D12.1704067201/mx.example.org"',
  '',
  'This is a MIME-encapsulated message.',
  '',
  '--3F1A2C0D12.1704067201/mx.example.org',
  'Content-Type: text/plain; charset=us-ascii',
  '',
  '<bob@example.org>: host inner.example.org[192.0.2.7] said: 550 5.1.1 User unknown',
  '',
  '--3F1A2C0D12.1704067201/mx.example.org',
  'Content-Type: message/delivery-status',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'Reporting-MTA: dns; mx.example.org',
  'X-Postfix-Queue-ID: 3F1A2C0D12',
  'Arrival-Date: Mon,  1 Jan 2024 00:00:00 +0000 (UTC)',
  '',
  'Final-Recipient: rfc822; Bob@Example.org',
  'Original-Recipient: rfc822;bob@example.org',
  'Action: failed',
  'Status: 5.1.1',
  'Remote-MTA: dns; inner.example.org',
  'Diagnostic-Code: smtp; 550 5.1.1 <bob@example.org>: Recipient address rejected:=',
  ' User unknown =3D in local recipient table',
  '',
  '--3F1A2C0D12.1704067201/mx.example.org',
  'Content-Type: text/rfc822-headers',
  '',
  'From: alice@mana.test',
  'Message-ID:',
  ' <orig-2@mana.test>',
  '',
  '--3F1A2C0D12.1704067201/mx.example.org--',
  '',
].join('\r\n'));

/** The same report with its delivery-status part (quoted-printable decoded) in base64, and LF line ends. */
const BASE64_LF = Buffer.from(POSTFIX.toString('latin1')
  .replace('Content-Transfer-Encoding: quoted-printable', 'Content-Transfer-Encoding: base64')
  .replace(/(Content-Transfer-Encoding: base64\r\n\r\n)([\s\S]*?)(\r\n--3F1A)/, (_m, a: string, body: string, b: string) => a + Buffer.from(body.replace(/=\r\n/g, '').replace(/=3D/g, '=')).toString('base64').replace(/.{76}/g, '$&\r\n') + b)
  .replace(/\r\n/g, '\n'), 'latin1');

const SEEDS = [built('full'), built('headers'), POSTFIX, BASE64_LF];
const TOKENS = ['Final-Recipient: rfc822; x@y', 'Action: failed', 'Status: 5.', '\r\n--3F1A2C0D12.1704067201/mx.example.org', 'multipart/report', 'report-type=delivery-status', 'boundary=', 'message/delivery-status', 'Message-ID: <', '=3D', '=\r\n', 'base64'];

/** The documented shape of a ParsedDsn (bounces.ts types and their comments). */
function assertShape(d: ParsedDsn | null): void {
  if (d === null) return;
  const nullableText = (v: unknown, what: string) => assert.ok(v === null || (typeof v === 'string' && v.length > 0), `${what}: ${JSON.stringify(v)}`);
  nullableText(d.reportingMta, 'reportingMta');
  nullableText(d.envId, 'envId');
  assert.ok(d.originalMessageId === null || /^<[^<>\s]+>$/.test(d.originalMessageId), `originalMessageId ${JSON.stringify(d.originalMessageId)}`);
  assert.ok(Array.isArray(d.recipients));
  for (const r of d.recipients) {
    assert.equal(typeof r.finalRecipient, 'string');
    assert.ok(r.finalRecipient.length > 0, 'finalRecipient is never empty');
    assert.equal(r.finalRecipient, r.finalRecipient.toLowerCase(), 'finalRecipient is lower-cased');
    nullableText(r.originalRecipient, 'originalRecipient');
    if (r.originalRecipient) assert.equal(r.originalRecipient, r.originalRecipient.toLowerCase());
    assert.equal(typeof r.action, 'string');
    assert.equal(r.action, r.action.toLowerCase(), 'action is lower-cased');
    assert.match(r.status, /^(\d\.\d{1,3}\.\d{1,3})?$/, 'status is an RFC 3463 code or empty');
    assert.ok(r.diagnostic === null || typeof r.diagnostic === 'string');
    nullableText(r.remoteMta, 'remoteMta');
  }
}

function check(input: Buffer): ParsedDsn | null {
  // parseDsn is documented never to throw: any exception fails the case.
  const d = parseDsn(input);
  assertShape(d);
  return d;
}

describe('parseDsn fuzz (RFC 3464, RFC 6522)', () => {
  it('the unmutated seeds parse (so the mutations start from real reports)', () => {
    for (const raw of SEEDS.slice(0, 2)) {
      const d = check(raw)!;
      assert.deepEqual([d.reportingMta, d.envId, d.originalMessageId], ['mail.mana.test', 'E-1', '<orig-1@mana.test>']);
      assert.deepEqual(d.recipients.map((r) => [r.finalRecipient, r.originalRecipient, r.action, r.status]), [['b@example.org', 'b@example.org', 'failed', '5.1.1'], ['c@example.org', null, 'delayed', '4.4.1']]);
    }
    for (const raw of SEEDS.slice(2)) {
      const d = check(raw)!;
      assert.deepEqual([d.reportingMta, d.originalMessageId, d.recipients.length], ['mx.example.org', '<orig-2@mana.test>', 1]);
      assert.equal(d.recipients[0].finalRecipient, 'bob@example.org');
      assert.match(d.recipients[0].diagnostic ?? '', /rejected: User unknown = in local/);
    }
  });

  it('mutated DSNs (truncation, byte flips, inserted bytes and tokens, long runs) never throw and keep the shape', async () => {
    await forEachSeed({ firstSeed: 0x0d5a0000, iterations: 2000 }, (r) => {
      check(mutate(r, r.pick(SEEDS), { tokens: TOKENS }));
    });
  });

  it('random inputs, bare and behind a multipart/report header, never throw', async () => {
    const head = Buffer.from('Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n');
    await forEachSeed({ firstSeed: 0x0d5b0000, iterations: 1500 }, (r) => {
      const body = randomInput(r, 400, ['\r\n--b\r\n', '\r\n--b--', 'Final-Recipient: ', 'Status: ', 'Content-Type: text/rfc822-headers\r\n\r\nMessage-ID: ']);
      check(r.chance(0.5) ? body : Buffer.concat([head, body]));
    });
  });

  it('regression: a returned Message-ID of 100,000 characters without "@" is read in linear time (was a quadratic regex scan)', () => {
    for (const id of ['a'.repeat(LONG_RUN), `${'a'.repeat(LONG_RUN)}@`, `x ${'a'.repeat(LONG_RUN)}`]) {
      const raw = Buffer.from(POSTFIX.toString('latin1').replace(' <orig-2@mana.test>', ` ${id}`), 'latin1');
      assert.equal(check(raw)?.originalMessageId, null);
    }
    // The fallback for an id without angle brackets still finds the first token holding an "@".
    const raw = Buffer.from(POSTFIX.toString('latin1').replace(' <orig-2@mana.test>', ' (comment) @x orig-3@mana.test tail@x'), 'latin1');
    assert.equal(check(raw)?.originalMessageId, '<orig-3@mana.test>');
  });
});
