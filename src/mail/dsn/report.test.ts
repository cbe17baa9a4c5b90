// Tests of the DSN builder (RFC 3464, RFC 6522) and of the NOTIFY rules that pick what is reported (RFC 3461 §4.1).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { buildDsn, deliveryStatus, type DsnReport } from './report.ts';
import { actionFor, statusFor } from './send.ts';
import type { Settled } from '../queue/queue.ts';

const original = Buffer.from('From: a@mana.test\r\nTo: b@example.org\r\nSubject: hi\r\nMessage-ID: <1@mana.test>\r\n\r\nbody line\r\n');

function report(over: Partial<DsnReport> = {}): DsnReport {
  return {
    reportingMta: 'mail.mana.test',
    from: 'Mail Delivery System <MAILER-DAEMON@mail.mana.test>',
    to: 'a@mana.test',
    envId: 'E-1',
    arrivalDate: Date.UTC(2026, 10, 24, 10, 0, 0),
    original,
    returnContent: 'full',
    recipients: [{ finalRecipient: 'b@example.org', action: 'failed', status: '5.1.1', remoteMta: 'mx.example.org', diagnostic: { type: 'smtp', text: '550 5.1.1 no such user' }, lastAttemptAt: Date.UTC(2026, 10, 24, 10, 1, 0) }],
    ...over,
  };
}

function settled(over: Partial<Settled> & { notify?: Settled['claimed']['notify']; route?: string; remoteDsn?: boolean }): Settled {
  return {
    rcpt: 'b@example.org',
    state: over.state ?? 'failed',
    delayNotice: over.delayNotice ?? false,
    outcome: over.outcome ?? { rcpt: 'b@example.org', status: 'failed', code: 550, text: '5.1.1 no such user', detail: { route: over.route ?? 'mx', mx: 'mx.example.org', remoteDsn: over.remoteDsn } },
    claimed: { rcpt: 'b@example.org', domain: 'example.org', attempts: 0, notify: over.notify, orcpt: null, delayNotified: false },
  };
}

describe('DSN message (RFC 3464, RFC 6522)', () => {
  it('is a multipart/report with report-type=delivery-status and three parts that a MIME parser reads (RFC 6522 §3)', async () => {
    const { raw } = buildDsn(report());
    const parsed = await simpleParser(raw);
    assert.match(String(parsed.headers.get('content-type') && (parsed.headers.get('content-type') as { value: string }).value), /multipart\/report/);
    assert.equal((parsed.headers.get('content-type') as { params: Record<string, string> }).params['report-type'], 'delivery-status');
    // mailparser shows the two text parts (human-readable, message/delivery-status) as text and the original as an attachment.
    assert.match(parsed.text ?? '', /could not be delivered[\s\S]*Reporting-MTA: dns; mail\.mana\.test[\s\S]*Action: failed/);
    assert.deepEqual(parsed.attachments.map((a) => a.contentType), ['message/rfc822']);
    assert.match(parsed.attachments[0].content.toString('latin1'), /^From: a@mana\.test\r\n[\s\S]*body line\r\n$/);
    assert.equal(parsed.subject, 'Undelivered Mail Returned to Sender');
  });

  it('writes the per-message and per-recipient fields of RFC 3464 §2.2 and §2.3', () => {
    const text = deliveryStatus(report({ recipients: [{ ...report().recipients[0], originalRecipient: 'rfc822;B@Example.org' }] }));
    const [perMessage, perRecipient] = text.trim().split('\r\n\r\n');
    assert.equal(perMessage, 'Reporting-MTA: dns; mail.mana.test\r\nOriginal-Envelope-Id: E-1\r\nArrival-Date: Tue, 24 Nov 2026 10:00:00 +0000');
    assert.equal(perRecipient, [
      'Original-Recipient: rfc822; B@Example.org',
      'Final-Recipient: rfc822; b@example.org',
      'Action: failed',
      'Status: 5.1.1',
      'Remote-MTA: dns; mx.example.org',
      'Diagnostic-Code: smtp; 550 5.1.1 no such user',
      'Last-Attempt-Date: Tue, 24 Nov 2026 10:01:00 +0000',
    ].join('\r\n'));
  });

  it('a remote reply with CR LF cannot add fields to the report', () => {
    const text = deliveryStatus(report({ recipients: [{ ...report().recipients[0], diagnostic: { type: 'smtp', text: '550 bad\r\nAction: delivered' } }] }));
    assert.equal(text.match(/^Action:/gm)?.length, 1);
  });

  it('headers only: text/rfc822-headers without the body (RFC 3462)', () => {
    const { raw } = buildDsn(report({ returnContent: 'headers' }));
    const s = raw.toString('latin1');
    assert.match(s, /Content-Type: text\/rfc822-headers/);
    assert.doesNotMatch(s, /body line/);
    assert.match(s, /Message-ID: <1@mana\.test>\r\n\r\n--=_mana-dsn-[0-9a-f]+--\r\n$/);
  });

  it('an 8-bit original is declared 8bit (RFC 6152; message/rfc822 allows no other encoding, RFC 2046 §5.2.1)', () => {
    const { raw } = buildDsn(report({ original: Buffer.from('Subject: =?utf-8?q?x?=\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n', 'latin1') }));
    assert.match(raw.toString('latin1'), /Content-Type: message\/rfc822\r\nContent-Description: Undelivered Message\r\nContent-Transfer-Encoding: 8bit/);
  });
});

describe('what is reported (RFC 3461 §4.1 NOTIFY)', () => {
  it('failures are reported by default and with FAILURE, never with NEVER', () => {
    assert.equal(actionFor(settled({})), 'failed');
    assert.equal(actionFor(settled({ notify: ['FAILURE'] })), 'failed');
    assert.equal(actionFor(settled({ notify: ['SUCCESS'] })), null);
    assert.equal(actionFor(settled({ notify: ['NEVER'] })), null);
    assert.equal(actionFor(settled({ state: 'expired' })), 'failed');
  });

  it('a delay is reported once the queue says a notice is due, unless NOTIFY leaves DELAY out', () => {
    assert.equal(actionFor(settled({ state: 'deferred', delayNotice: false })), null);
    assert.equal(actionFor(settled({ state: 'deferred', delayNotice: true })), 'delayed');
    assert.equal(actionFor(settled({ state: 'deferred', delayNotice: true, notify: ['FAILURE'] })), null);
  });

  it('success only on request: delivered locally, relayed to a non-DSN server, nothing when the next hop took NOTIFY', () => {
    const ok = { state: 'delivered' as const, notify: ['SUCCESS' as const] };
    assert.equal(actionFor(settled({ ...ok, route: 'local' })), 'delivered');
    assert.equal(actionFor(settled({ ...ok, route: 'mx', remoteDsn: false })), 'relayed');
    assert.equal(actionFor(settled({ ...ok, route: 'relay:smtp.example:587' })), 'relayed');
    assert.equal(actionFor(settled({ ...ok, route: 'mx', remoteDsn: true })), null);
    assert.equal(actionFor(settled({ state: 'delivered', route: 'local' })), null);
  });

  it('keeps the server\'s enhanced code when it fits the action (RFC 3463)', () => {
    const o = (text: string, code = 550) => ({ rcpt: 'x', status: 'failed' as const, code, text });
    assert.equal(statusFor('failed', o('5.2.2 mailbox full'), false), '5.2.2');
    assert.equal(statusFor('failed', o('no enhanced code'), false), '5.0.0');
    assert.equal(statusFor('failed', o('4.2.0 busy', 451), true), '4.2.0');
    assert.equal(statusFor('failed', o('timeout', 0), true), '4.4.7');
    assert.equal(statusFor('delayed', o('4.7.1 greylisted', 451), false), '4.7.1');
    assert.equal(statusFor('relayed', o('2.0.0 ok', 250), false), '2.0.0');
  });
});
