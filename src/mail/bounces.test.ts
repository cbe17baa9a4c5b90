// Tests for bounces.ts: parsing RFC 3464 delivery status notifications as real MTAs write them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addSuppression, createBounceMatcher, listSuppressions, parseDsn, removeSuppression, suppressedAmong, suppressedReply } from './bounces.ts';
import { createEvents, timeline } from './events.ts';
import type { ClaimedMessage } from './queue/queue.ts';
import type { Store } from '../store/store.ts';
import { silentLogger } from '../lib/log.ts';
import { storeFactories } from '../../test/support/stores.ts';

const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n'));

/** A bounce as Postfix writes it (bounce(8) templates, RFC 3464 with X-Postfix fields, headers returned). */
const POSTFIX = crlf([
  'Return-Path: <>',
  'Received: by mx.example.org (Postfix) id 3F1A2C0D12; Mon,  1 Jan 2024 00:00:01 +0000 (UTC)',
  'Date: Mon,  1 Jan 2024 00:00:01 +0000 (UTC)',
  'From: MAILER-DAEMON@mx.example.org (Mail Delivery System)',
  'Subject: Undelivered Mail Returned to Sender',
  'To: alice@mana.test',
  'Auto-Submitted: auto-replied',
  'MIME-Version: 1.0',
  'Content-Type: multipart/report; report-type=delivery-status;',
  '\tboundary="3F1A2C0D12.1704067201/mx.example.org"',
  'Content-Transfer-Encoding: 7bit',
  'Message-Id: <20240101000001.3F1A2C0D12@mx.example.org>',
  '',
  'This is a MIME-encapsulated message.',
  '',
  '--3F1A2C0D12.1704067201/mx.example.org',
  'Content-Description: Notification',
  'Content-Type: text/plain; charset=us-ascii',
  '',
  'This is the mail system at host mx.example.org.',
  '',
  "I'm sorry to have to inform you that your message could not",
  'be delivered to one or more recipients.',
  '',
  '<bob@example.org>: host inner.example.org[192.0.2.7] said: 550 5.1.1',
  '    <bob@example.org>: Recipient address rejected: User unknown',
  '',
  '--3F1A2C0D12.1704067201/mx.example.org',
  'Content-Description: Delivery report',
  'Content-Type: message/delivery-status',
  '',
  'Reporting-MTA: dns; mx.example.org',
  'X-Postfix-Queue-ID: 3F1A2C0D12',
  'X-Postfix-Sender: rfc822; alice@mana.test',
  'Arrival-Date: Mon,  1 Jan 2024 00:00:00 +0000 (UTC)',
  '',
  'Final-Recipient: rfc822; Bob@Example.org',
  'Original-Recipient: rfc822;bob@example.org',
  'Action: failed',
  'Status: 5.1.1',
  'Remote-MTA: dns; inner.example.org',
  'Diagnostic-Code: smtp; 550 5.1.1 <bob@example.org>: Recipient address rejected:',
  '    User unknown in local recipient table',
  '',
  'Final-Recipient: rfc822; carol@example.org',
  'Original-Recipient: rfc822;carol@example.org',
  'Action: delayed',
  'Status: 4.4.1',
  'Diagnostic-Code: X-Postfix; connect to inner.example.org[192.0.2.7]:25: Connection',
  '    timed out',
  '',
  '--3F1A2C0D12.1704067201/mx.example.org',
  'Content-Description: Undelivered Message Headers',
  'Content-Type: text/rfc822-headers',
  'Content-Transfer-Encoding: 7bit',
  '',
  'Return-Path: <alice@mana.test>',
  'Received: from mail.mana.test (mail.mana.test [192.0.2.1])',
  '\tby mx.example.org (Postfix) with ESMTPS id 3F1A2C0D12',
  '\tfor <bob@example.org>; Mon,  1 Jan 2024 00:00:00 +0000 (UTC)',
  'From: alice@mana.test',
  'To: bob@example.org',
  'Subject: hello',
  'Message-ID:',
  ' <orig-1@mana.test>',
  '',
  '--3F1A2C0D12.1704067201/mx.example.org--',
  '',
]);

/** Gmail-style: a nested multipart/alternative human part, Original-Envelope-Id, the whole original returned base64-free as message/rfc822. */
const GMAIL = crlf([
  'Delivered-To: alice@mana.test',
  'Return-Path: <>',
  'From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>',
  'To: alice@mana.test',
  'Auto-Submitted: auto-replied',
  'Subject: Delivery Status Notification (Failure)',
  'Message-ID: <65a0f1a2.050a0220.1c2b3.0001.GMR@mx.google.com>',
  'Date: Mon, 01 Jan 2024 00:00:02 -0800 (PST)',
  'MIME-Version: 1.0',
  'Content-Type: multipart/report; boundary="000000000000a1b2c3"; report-type=delivery-status',
  '',
  '--000000000000a1b2c3',
  'Content-Type: multipart/related; boundary="000000000000a1b2c4"',
  '',
  '--000000000000a1b2c4',
  'Content-Type: multipart/alternative; boundary="000000000000a1b2c5"',
  '',
  '--000000000000a1b2c5',
  'Content-Type: text/plain; charset="UTF-8"',
  '',
  "** Address not found **",
  '--000000000000a1b2c5',
  'Content-Type: text/html; charset="UTF-8"',
  '',
  '<html><body>Address not found</body></html>',
  '--000000000000a1b2c5--',
  '--000000000000a1b2c4--',
  '--000000000000a1b2c3',
  'Content-Type: message/delivery-status',
  '',
  'Reporting-MTA: dns; googlemail.com',
  'Original-Envelope-Id: 019abc-env-7',
  'Received-From-MTA: dns; mail.mana.test (192.0.2.1)',
  'Arrival-Date: Mon, 01 Jan 2024 00:00:01 -0800 (PST)',
  'X-Original-Message-ID: <orig-2@mana.test>',
  '',
  'Final-Recipient: rfc822; nobody@gmail.com',
  'Action: failed',
  'Status: 5.1.1',
  'Remote-MTA: dns; gmail-smtp-in.l.google.com. (2001:db8::1b, the server for the domain gmail.com.)',
  'Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist.',
  'Last-Attempt-Date: Mon, 01 Jan 2024 00:00:02 -0800 (PST)',
  '',
  '--000000000000a1b2c3',
  'Content-Type: message/rfc822',
  '',
  'From: alice@mana.test',
  'To: nobody@gmail.com',
  'Subject: hi',
  'Message-Id: <orig-2@mana.test>',
  '',
  'Body of the original.',
  '--000000000000a1b2c3--',
  '',
]);

describe('parseDsn (RFC 3464, RFC 6522)', () => {
  it('reads a Postfix bounce: per-recipient Action/Status/Diagnostic-Code, unfolded, and the Message-ID of the returned headers (RFC 3464 §2.3)', () => {
    const dsn = parseDsn(POSTFIX);
    assert.ok(dsn);
    assert.equal(dsn.reportingMta, 'mx.example.org');
    assert.equal(dsn.envId, null);
    assert.equal(dsn.originalMessageId, '<orig-1@mana.test>', 'a folded Message-ID in text/rfc822-headers');
    assert.equal(dsn.recipients.length, 2);
    assert.deepEqual(dsn.recipients[0], {
      finalRecipient: 'bob@example.org', originalRecipient: 'bob@example.org', action: 'failed', status: '5.1.1',
      diagnostic: 'smtp; 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown in local recipient table',
      remoteMta: 'inner.example.org',
    });
    assert.equal(dsn.recipients[1].action, 'delayed');
    assert.equal(dsn.recipients[1].status, '4.4.1');
  });

  it('reads a Gmail-style report: Original-Envelope-Id (RFC 3464 §2.2.1), a nested human part, the original as message/rfc822', () => {
    const dsn = parseDsn(GMAIL);
    assert.ok(dsn);
    assert.equal(dsn.reportingMta, 'googlemail.com');
    assert.equal(dsn.envId, '019abc-env-7');
    assert.equal(dsn.originalMessageId, '<orig-2@mana.test>');
    assert.equal(dsn.recipients.length, 1);
    assert.equal(dsn.recipients[0].finalRecipient, 'nobody@gmail.com');
    assert.equal(dsn.recipients[0].originalRecipient, null);
    assert.equal(dsn.recipients[0].status, '5.1.1');
    assert.match(dsn.recipients[0].diagnostic ?? '', /^smtp; 550-5\.1\.1 The email account/);
  });

  it('reads a delivery-status part sent quoted-printable (RFC 2045 §6.7)', () => {
    const qp = Buffer.from(GMAIL.toString('latin1').replace('Content-Type: message/delivery-status\r\n', 'Content-Type: message/delivery-status\r\nContent-Transfer-Encoding: quoted-printable\r\n')
      .replace('Status: 5.1.1\r\n', 'Status: 5.1=\r\n.1\r\n'), 'latin1');
    assert.equal(parseDsn(qp)?.recipients[0].status, '5.1.1');
  });

  it('is not a DSN: another report type, plain mail, a report without a delivery-status part (RFC 6522 §3)', () => {
    assert.equal(parseDsn(Buffer.from(GMAIL.toString('latin1').replace('report-type=delivery-status', 'report-type=disposition-notification'), 'latin1')), null);
    assert.equal(parseDsn(crlf(['From: a@b.example', 'Subject: hi', '', 'Hello.', ''])), null);
    assert.equal(parseDsn(Buffer.from(GMAIL.toString('latin1').replace('Content-Type: message/delivery-status', 'Content-Type: text/plain'), 'latin1')), null);
    assert.equal(parseDsn(Buffer.alloc(0)), null);
  });

  it('the suppression reply says why and how to lift it', () => {
    assert.equal(
      suppressedReply({ address: 'bob@example.org', reason: 'hard-bounce', createdAt: '2024-01-01T00:00:02.000Z', sourceMessageId: 'x' }),
      '5.1.1 <bob@example.org> is on the suppression list (hard bounce on 2024-01-01); remove it with DELETE /api/suppressions/bob@example.org',
    );
  });
});

/** A DSN as the delivery loop hands it to local delivery. */
const claimed = (raw: Buffer, over: Partial<ClaimedMessage> = {}): ClaimedMessage => ({
  id: 'dsn-in-1', mailFrom: '', raw, headerMessageId: null, envId: null, ret: null, isDsn: true, source: 'inbound', receivedAt: 0, recipients: [], ...over,
});

for (const factory of storeFactories()) describe(`matching a DSN to our message, and the suppression list (${factory.name})`, () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  const events = createEvents({ log: silentLogger(), subscribers: [{ url: 'http://127.0.0.1:9/hook', secret: 's' }] });
  const match = createBounceMatcher({ events, log: silentLogger(), now: () => Date.UTC(2024, 0, 1) });

  async function original(id: string, o: { headerMessageId?: string; envId?: string; rcpts: string[] }) {
    await store.tx(async (q) => {
      await q.run(
        'INSERT INTO mail_messages (id, mail_from, header_message_id, env_id, size, raw, source, is_dsn, received_at) VALUES (?, ?, ?, ?, 1, ?, ?, 0, 1)',
        [id, 'alice@mana.test', o.headerMessageId ?? null, o.envId ?? null, Buffer.from('x'), 'submission'],
      );
      for (const r of o.rcpts) await q.run("INSERT INTO mail_recipients (message_id, rcpt, domain, status, attempts, next_attempt_at, updated_at) VALUES (?, ?, ?, 'delivered', 1, 1, 1)", [id, r, r.split('@')[1]]);
    });
  }

  before(async () => {
    ({ store, cleanup } = await factory.open());
    await original('orig1', { headerMessageId: '<orig-1@mana.test>', rcpts: ['bob@example.org', 'carol@example.org'] });
    await original('orig2', { envId: '019abc-env-7', rcpts: ['nobody@gmail.com'] });
  });
  after(async () => cleanup?.());

  it('a Postfix report is matched by the returned Message-ID: failed -> bounced + suppressed, delayed -> nothing; a second delivery records nothing new', async () => {
    const m = await store.tx((q) => match(q, claimed(POSTFIX, { mailFrom: 'mailer-daemon@mx.example.org' })));
    assert.deepEqual(m, { originalId: 'orig1', headerMessageId: '<orig-1@mana.test>', recorded: [{ rcpt: 'bob@example.org', status: '5.1.1', hard: true, suppressed: true }] });
    const bounced = (await timeline(store, 'orig1')).filter((e) => e.type === 'bounced');
    assert.equal(bounced.length, 1);
    assert.equal(bounced[0].rcpt, 'bob@example.org');
    assert.equal(bounced[0].data.reportingMta, 'mx.example.org');
    const hook = await store.all<{ body: string }>('SELECT body FROM mail_webhook_outbox');
    assert.equal(hook.length, 1, 'bounced is pushed to subscribers');
    assert.equal(JSON.parse(hook[0].body).type, 'bounced');

    const again = await store.tx((q) => match(q, claimed(POSTFIX, { id: 'dsn-in-2' })));
    assert.deepEqual(again?.recorded, []);
    assert.equal((await timeline(store, 'orig1')).filter((e) => e.type === 'bounced').length, 1);
    const list = await listSuppressions(store, { limit: 10, offset: 0 });
    assert.deepEqual(list, { items: [{ address: 'bob@example.org', reason: 'hard-bounce', createdAt: '2024-01-01T00:00:00.000Z', sourceMessageId: 'orig1' }], total: 1 });
  });

  it('a Gmail-style report is matched by Original-Envelope-Id', async () => {
    const m = await store.tx((q) => match(q, claimed(GMAIL)));
    assert.equal(m?.originalId, 'orig2');
    assert.deepEqual((await suppressedAmong(store, ['NOBODY@gmail.com', 'other@gmail.com'])).has('nobody@gmail.com'), true);
  });

  it('not treated: our own DSN (source dsn), mail from an ordinary sender, an unknown original', async () => {
    assert.equal(await store.tx((q) => match(q, claimed(POSTFIX, { source: 'dsn' }))), null);
    assert.equal(await store.tx((q) => match(q, claimed(POSTFIX, { mailFrom: 'someone@example.org' }))), null);
    const unknown = Buffer.from(POSTFIX.toString('latin1').replace('<orig-1@mana.test>', '<other@mana.test>'), 'latin1');
    assert.equal(await store.tx((q) => match(q, claimed(unknown))), null);
  });

  it('suppressions: an address listed twice keeps its first entry; removal says whether there was one', async () => {
    assert.equal(await store.tx((q) => addSuppression(q, { address: 'Bob@Example.org', reason: 'manual', now: 5 })), false);
    assert.equal(await store.tx((q) => removeSuppression(q, 'BOB@example.org')), true);
    assert.equal(await store.tx((q) => removeSuppression(q, 'bob@example.org')), false);
    assert.equal((await listSuppressions(store, { limit: 10, offset: 0 })).total, 1);
  });

  /** The Postfix report rewritten to answer `messageId` and to be about `rcpt` instead of bob@example.org. */
  const postfixFor = (messageId: string, rcpt: string) =>
    Buffer.from(POSTFIX.toString('latin1').replace('<orig-1@mana.test>', messageId).replace(/bob@example\.org/gi, rcpt), 'latin1');

  it('a report block about an address the original was never sent to records nothing and suppresses nothing', async () => {
    await original('orig3', { headerMessageId: '<orig-3@mana.test>', rcpts: ['carol@example.org'] });
    const m = await store.tx((q) => match(q, claimed(postfixFor('<orig-3@mana.test>', 'mallory@example.org'), { id: 'dsn-in-3' })));
    assert.equal(m?.originalId, 'orig3');
    assert.deepEqual(m?.recorded, []);
    assert.deepEqual((await timeline(store, 'orig3')).filter((e) => e.type === 'bounced'), []);
    assert.equal((await suppressedAmong(store, ['mallory@example.org'])).size, 0);
  });

  it('two DSNs for one original delivered at once record one bounce', async () => {
    await original('orig4', { headerMessageId: '<orig-4@mana.test>', rcpts: ['dave@example.org'] });
    const dsn = postfixFor('<orig-4@mana.test>', 'dave@example.org');
    let firstMatched!: () => void;
    const matched = new Promise<void>((r) => (firstMatched = r));
    // The first delivery matches and holds its transaction open a while; the second matches meanwhile.
    const first = store.tx(async (q) => {
      const m = await match(q, claimed(dsn, { id: 'dsn-in-4a' }));
      firstMatched();
      await new Promise((r) => setTimeout(r, 300));
      return m;
    });
    await matched;
    const second = store.tx((q) => match(q, claimed(dsn, { id: 'dsn-in-4b' })));
    const [a, b] = await Promise.all([first, second]);
    assert.equal(a!.recorded.length + b!.recorded.length, 1, JSON.stringify([a, b]));
    assert.equal((await timeline(store, 'orig4')).filter((e) => e.type === 'bounced').length, 1);
  });

  it('a savepoint that cannot be set is not swallowed: the caller\'s transaction fails', { skip: factory.name !== 'postgres' && 'SQLite does not abort a transaction on a failed statement' }, async () => {
    let thrown: unknown = null;
    await store.tx(async (q) => {
      await q.run('SELECT * FROM no_such_table').catch(() => {});
      thrown = await match(q, claimed(postfixFor('<orig-4@mana.test>', 'dave@example.org'), { id: 'dsn-in-5' })).then(() => null, (e) => e);
    }).catch(() => {});
    assert.match(String((thrown as Error | null)?.message), /aborted/, 'matchBounce rejects instead of returning');
  });
});
