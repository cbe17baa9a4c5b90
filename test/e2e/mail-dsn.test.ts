// Whole path: delivery status notifications (RFC 3464, RFC 3461) produced by real outcomes at a real recipient MX, delivered to the sender's local mailbox.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpPeer, type SmtpPeer } from '../support/smtp-peer.ts';
import { dkimpyVerify } from '../support/dkimpy.ts';
import { DOMAIN, HOSTNAME, message, startMailHarness, waitUntil, type MailHarness } from './mail-harness.ts';
import { mailBackends } from '../support/stores.ts';

const SENDER = `alice@${DOMAIN}`;
const PASSWORD = 'alice-secret-1';

/** The body parts of a multipart message, split on its boundary (RFC 2046 §5.1.1). */
function parts(raw: Buffer): Array<{ head: string; body: string }> {
  const text = raw.toString('latin1');
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(text)?.[1];
  assert.ok(boundary, 'the DSN names a MIME boundary');
  const sections = text.split(`\r\n--${boundary}`);
  return sections.slice(1, -1).map((s) => {
    const body = s.replace(/^\r\n/, '');
    const i = body.indexOf('\r\n\r\n');
    return { head: body.slice(0, i), body: body.slice(i + 4) };
  });
}

/** Unfolded header fields of a header block, names lower-cased; repeated names keep every value. */
function fields(block: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of block.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    out.set(name, [...(out.get(name) ?? []), line.slice(i + 1).trim()]);
  }
  return out;
}

/** message/delivery-status: the per-message block and one block per recipient (RFC 3464 §2.1). */
function deliveryStatus(body: string): { perMessage: Map<string, string[]>; perRecipient: Array<Map<string, string[]>> } {
  const blocks = body.trim().split(/\r\n\r\n/);
  return { perMessage: fields(blocks[0]), perRecipient: blocks.slice(1).map(fields) };
}

function one(f: Map<string, string[]>, name: string): string | undefined {
  return f.get(name)?.[0];
}

async function dsnsFor(h: MailHarness, mailbox: string) {
  return (await h.mailbox(mailbox)).filter((m) => m.mailFrom === '' && /multipart\/report/i.test(m.raw.toString('latin1')));
}

for (const backend of mailBackends()) {
  describe(`DSNs for failures (RFC 3464) (${backend})`, () => {
    let peer: SmtpPeer;
    let h: MailHarness;

    before(async () => {
      peer = await startSmtpPeer({
        onRcpt: ({ address }) => {
          if (address.startsWith('reject')) return `550 5.1.1 <${address}>: Recipient address rejected: User unknown`;
          if (address.startsWith('bounce-back')) return '550 5.7.1 no bounces here';
          return undefined;
        },
      });
      h = await startMailHarness({
        backend,
        zone: {
          'example.org': { MX: [{ exchange: 'mx.example.org', priority: 10 }] },
          'mx.example.org': { A: ['127.0.0.1'] },
          'nullmx.example': { MX: [{ exchange: '.', priority: 0 }] },
        },
        mail: { mxPort: peer.port, queue: { retrySchedule: [1] } },
      });
      await h.addUser('alice', PASSWORD, [SENDER]);
    });
    after(async () => {
      await h?.close();
      await peer?.close();
    });

    it('a 5xx reply fails the recipient at once and a multipart/report DSN reaches the sender mailbox (RFC 3464 §2, RFC 6522)', async () => {
      const reply = await h.submit({
        user: 'alice', pass: PASSWORD, from: SENDER, to: ['reject-me@example.org', 'ok@example.org'],
        raw: message({ from: SENDER, to: 'reject-me@example.org', subject: 'will bounce', body: 'The body of the original.' }),
        dsn: { envid: 'ENV-42', ret: 'FULL', orcpt: 'rfc822;Reject-Me@Example.org' },
      });
      const id = h.queueIdOf(reply);
      const dsn = await waitUntil(async () => (await dsnsFor(h, 'alice'))[0], 'the DSN in alice\'s mailbox');
      const rows = await h.recipients(id);
      assert.deepEqual(rows.map((r) => [r.rcpt, r.status, r.attempts]), [['ok@example.org', 'delivered', 1], ['reject-me@example.org', 'failed', 1]]);

      const top = fields(dsn.raw.subarray(0, dsn.raw.indexOf('\r\n\r\n')).toString('latin1'));
      assert.match(one(top, 'content-type') ?? '', /^multipart\/report;\s*report-type=delivery-status;/);
      assert.equal(one(top, 'from'), `Mail Delivery System <MAILER-DAEMON@${HOSTNAME}>`);
      assert.equal(one(top, 'to'), `<${SENDER}>`);
      assert.equal(one(top, 'auto-submitted'), 'auto-replied');
      assert.equal(dsn.mailFrom, '', 'the DSN travels with the null reverse-path (RFC 5321 §4.5.5)');

      const [human, status, original] = parts(dsn.raw);
      assert.match(human.head, /Content-Type: text\/plain/i);
      assert.match(human.body, /reject-me@example\.org/);
      assert.match(status.head, /Content-Type: message\/delivery-status/i);
      const ds = deliveryStatus(status.body);
      assert.equal(one(ds.perMessage, 'reporting-mta'), `dns; ${HOSTNAME}`);
      assert.equal(one(ds.perMessage, 'original-envelope-id'), 'ENV-42');
      assert.ok(!Number.isNaN(Date.parse(one(ds.perMessage, 'arrival-date') ?? '')), 'Arrival-Date is a date');
      assert.equal(ds.perRecipient.length, 1, 'only the failed recipient is reported');
      const r = ds.perRecipient[0];
      assert.equal(one(r, 'final-recipient'), 'rfc822; reject-me@example.org');
      assert.equal(one(r, 'original-recipient'), 'rfc822; Reject-Me@Example.org');
      assert.equal(one(r, 'action'), 'failed');
      assert.equal(one(r, 'status'), '5.1.1');
      assert.equal(one(r, 'remote-mta'), 'dns; mx.example.org');
      assert.match(one(r, 'diagnostic-code') ?? '', /^smtp; 550 5\.1\.1 <reject-me@example\.org>: Recipient address rejected/);
      assert.ok(!Number.isNaN(Date.parse(one(r, 'last-attempt-date') ?? '')), 'Last-Attempt-Date is a date');
      assert.match(original.head, /Content-Type: message\/rfc822/i);
      assert.match(original.body, /Subject: will bounce/);
      assert.match(original.body, /The body of the original\./, 'RET=FULL returns the whole message (RFC 3461 §4.3)');

      const events = await h.events(id);
      const sent = events.find((e) => e.type === 'dsn_sent');
      assert.ok(sent, 'the original message has a dsn_sent event');
      assert.equal(sent.data.action, 'failed');
      const dsnRow = await h.store.get<{ source: string; is_dsn: number; mail_from: string }>('SELECT source, is_dsn, mail_from FROM mail_messages WHERE id = ?', [String(sent.data.dsnQueueId)]);
      assert.deepEqual({ ...dsnRow, is_dsn: Number(dsnRow?.is_dsn) }, { source: 'dsn', is_dsn: 1, mail_from: '' });
    });

    it('the DSN is DKIM-signed with both keys of the local domain, verified by dkimpy (RFC 6376, RFC 8463)', async () => {
      const dsn = (await dsnsFor(h, 'alice'))[0];
      assert.ok(dsn, 'a DSN from the previous test');
      const results = await dkimpyVerify(dsn.raw, await h.dkimRecords());
      assert.equal(results.length, 2);
      for (const r of results) assert.ok(r.ok, `signature ${r.selector} verifies: ${r.error}`);
      assert.deepEqual(results.map((r) => r.domain), [DOMAIN, DOMAIN]);
    });

    it('RET=HDRS returns only the header section as text/rfc822-headers (RFC 3461 §4.3, RFC 6522 §4)', async () => {
      const before = (await dsnsFor(h, 'alice')).length;
      await h.submit({
        user: 'alice', pass: PASSWORD, from: SENDER, to: ['reject-hdrs@example.org'],
        raw: message({ from: SENDER, to: 'reject-hdrs@example.org', subject: 'headers only', body: 'SECRET-BODY-TEXT' }),
        dsn: { ret: 'HDRS' },
      });
      const dsn = await waitUntil(async () => (await dsnsFor(h, 'alice'))[before], 'the second DSN');
      const [, , original] = parts(dsn.raw);
      assert.match(original.head, /Content-Type: text\/rfc822-headers/i);
      assert.match(original.body, /Subject: headers only/);
      assert.doesNotMatch(dsn.raw.toString('latin1'), /SECRET-BODY-TEXT/);
    });

    it('NOTIFY=NEVER produces no DSN, decided in the same commit as the failure (RFC 3461 §4.1)', async () => {
      const before = (await dsnsFor(h, 'alice')).length;
      const id = h.queueIdOf(await h.submit({
        user: 'alice', pass: PASSWORD, from: SENDER, to: ['reject-never@example.org'],
        raw: message({ from: SENDER, to: 'reject-never@example.org' }), dsn: { notify: 'NEVER' },
      }));
      await waitUntil(async () => (await h.recipients(id))[0]?.status === 'failed', 'the failure');
      assert.equal((await dsnsFor(h, 'alice')).length, before);
      assert.ok(!(await h.events(id)).some((e) => e.type === 'dsn_sent'));
      assert.equal(Number((await h.store.get<{ n: number }>("SELECT COUNT(*) AS n FROM mail_messages WHERE source = 'dsn' AND received_at >= (SELECT received_at FROM mail_messages WHERE id = ?)", [id]))?.n), 0);
    });

    it('a null MX domain fails at once, after no SMTP attempt, and is reported (RFC 7505 §3)', async () => {
      const before = (await dsnsFor(h, 'alice')).length;
      const connections = peer.connections.length;
      const id = h.queueIdOf(await h.submit({
        user: 'alice', pass: PASSWORD, from: SENDER, to: ['someone@nullmx.example'], raw: message({ from: SENDER, to: 'someone@nullmx.example' }),
      }));
      const dsn = await waitUntil(async () => (await dsnsFor(h, 'alice'))[before], 'the null MX DSN');
      const [row] = await h.recipients(id);
      assert.equal(row.status, 'failed');
      assert.equal(row.attempts, 1);
      assert.match(row.last_reply ?? '', /null MX/);
      assert.equal(peer.connections.length, connections, 'no connection was made');
      const ds = deliveryStatus(parts(dsn.raw)[1].body);
      assert.equal(one(ds.perRecipient[0], 'action'), 'failed');
      assert.match(one(ds.perRecipient[0], 'status') ?? '', /^5\./);
      assert.equal(one(ds.perRecipient[0], 'remote-mta'), undefined, 'no remote MTA answered');
    });

    it('never a DSN for a DSN: a failing report is dropped, not answered (RFC 3461 §5.2.1, RFC 5321 §4.5.5)', async () => {
      // A remote sender whose own MX refuses the report: the report fails, and nothing reports that failure.
      const mailFrom = 'bounce-back@example.org';
      const id = await h.mail.queue.enqueue({
        mailFrom, recipients: [{ address: 'reject-remote@example.org' }], raw: Buffer.from(message({ from: mailFrom, to: 'reject-remote@example.org' })), source: 'inbound',
      });
      const sent = await waitUntil(async () => (await h.events(id)).find((e) => e.type === 'dsn_sent'), 'the first DSN');
      const dsnId = String(sent.data.dsnQueueId);
      await waitUntil(async () => (await h.recipients(dsnId))[0]?.status === 'failed', 'the DSN to fail at the remote MX');
      assert.ok(!(await h.events(dsnId)).some((e) => e.type === 'dsn_sent'));
      assert.equal(Number((await h.store.get<{ n: number }>("SELECT COUNT(*) AS n FROM mail_messages WHERE source = 'dsn' AND id > ?", [dsnId]))?.n), 0);
    });

    it('mail with a null return path that fails gets no DSN (RFC 5321 §4.5.5)', async () => {
      const id = await h.mail.queue.enqueue({
        mailFrom: '', recipients: [{ address: 'reject-null@example.org' }], raw: Buffer.from(message({ from: 'someone@example.org', to: 'reject-null@example.org' })), source: 'inbound',
      });
      await waitUntil(async () => (await h.recipients(id))[0]?.status === 'failed', 'the failure');
      assert.ok(!(await h.events(id)).some((e) => e.type === 'dsn_sent'));
    });
  });

  describe(`delay notices, expiry and success reports (RFC 3464 §2.3.3, RFC 3461 §4.1) (${backend})`, () => {
    let peer: SmtpPeer;
    let h: MailHarness;

    before(async () => {
      peer = await startSmtpPeer({
        onRcpt: ({ address }) => (address.startsWith('later') ? '451 4.2.0 mailbox busy, try again later' : undefined),
      });
      h = await startMailHarness({
        backend,
        zone: {
          'example.org': { MX: [{ exchange: 'mx.example.org', priority: 10 }] },
          'mx.example.org': { A: ['127.0.0.1'] },
        },
        mail: { mxPort: peer.port, queue: { retrySchedule: [1], delayNoticeAfter: 1, expireAfter: 4 } },
      });
      await h.addUser('bob', PASSWORD, [`bob@${DOMAIN}`]);
      await h.addUser('carol', PASSWORD, [`carol@${DOMAIN}`]);
    });
    after(async () => {
      await h?.close();
      await peer?.close();
    });

    it('a delay notice is sent once after delayNoticeAfter (Action: delayed), then the expired recipient fails with its last 4.x.x status', async () => {
      const from = `bob@${DOMAIN}`;
      const id = h.queueIdOf(await h.submit({ user: 'bob', pass: PASSWORD, from, to: ['later@example.org'], raw: message({ from, to: 'later@example.org' }) }));
      await waitUntil(async () => ['expired', 'failed'].includes((await h.recipients(id))[0]?.status ?? ''), 'expiry', 20_000);
      const [row] = await h.recipients(id);
      assert.equal(row.status, 'expired');
      assert.ok(row.attempts >= 3, `several attempts were made (${row.attempts})`);
      // The report was queued with the expiry; its local delivery follows.
      const dsns = await waitUntil(async () => { const d = await dsnsFor(h, 'bob'); return d.length >= 2 && d; }, 'both reports');
      const actions = dsns.map((d) => one(deliveryStatus(parts(d.raw)[1].body).perRecipient[0], 'action'));
      assert.deepEqual(actions, ['delayed', 'failed'], 'one delay notice, then one failure report');
      const delayed = deliveryStatus(parts(dsns[0].raw)[1].body).perRecipient[0];
      assert.equal(one(delayed, 'status'), '4.2.0');
      assert.ok(one(delayed, 'will-retry-until'), 'Will-Retry-Until tells when we give up (RFC 3464 §2.3.9)');
      assert.match(parts(dsns[0].raw)[2].head, /text\/rfc822-headers/i, 'a delay notice carries the header only');
      const failed = deliveryStatus(parts(dsns[1].raw)[1].body).perRecipient[0];
      assert.equal(one(failed, 'status'), '4.2.0');
      assert.match(one(failed, 'diagnostic-code') ?? '', /^smtp; 451 4\.2\.0 mailbox busy/);
      const types = (await h.events(id)).map((e) => e.type);
      assert.equal(types.filter((t) => t === 'dsn_sent').length, 2);
      assert.ok(types.includes('expired'));
    });

    it('NOTIFY=FAILURE alone gets no delay notice, only the failure report', async () => {
      const from = `carol@${DOMAIN}`;
      const id = h.queueIdOf(await h.submit({ user: 'carol', pass: PASSWORD, from, to: ['later-2@example.org'], raw: message({ from, to: 'later-2@example.org' }), dsn: { notify: 'FAILURE' } }));
      await waitUntil(async () => (await h.recipients(id))[0]?.status === 'expired', 'expiry', 20_000);
      await waitUntil(async () => (await dsnsFor(h, 'carol')).length >= 1, 'the failure report');
      const actions = (await dsnsFor(h, 'carol')).map((d) => one(deliveryStatus(parts(d.raw)[1].body).perRecipient[0], 'action'));
      assert.deepEqual(actions, ['failed']);
    });

    it('NOTIFY=SUCCESS to a local mailbox gets a success report (Action: delivered)', async () => {
      const from = `bob@${DOMAIN}`;
      const before = (await dsnsFor(h, 'bob')).length;
      const id = h.queueIdOf(await h.submit({ user: 'bob', pass: PASSWORD, from, to: [`carol@${DOMAIN}`], raw: message({ from, to: `carol@${DOMAIN}` }), dsn: { notify: 'SUCCESS', envid: 'ok-1' } }));
      const dsn = await waitUntil(async () => (await dsnsFor(h, 'bob'))[before], 'the success report');
      const ds = deliveryStatus(parts(dsn.raw)[1].body);
      assert.equal(one(ds.perMessage, 'original-envelope-id'), 'ok-1');
      assert.equal(one(ds.perRecipient[0], 'action'), 'delivered');
      assert.equal(one(ds.perRecipient[0], 'status'), '2.0.0');
      assert.equal((await h.recipients(id))[0].status, 'delivered');
      assert.match(one(fields(dsn.raw.subarray(0, dsn.raw.indexOf('\r\n\r\n')).toString('latin1')), 'subject') ?? '', /Successful/);
    });

    it('NOTIFY=SUCCESS relayed to an MX that does not offer DSN gets Action: relayed from us (RFC 3461 §4.2, RFC 3464 §2.3.3)', async () => {
      const from = `carol@${DOMAIN}`;
      const before = (await dsnsFor(h, 'carol')).length;
      const id = h.queueIdOf(await h.submit({ user: 'carol', pass: PASSWORD, from, to: ['told@example.org'], raw: message({ from, to: 'told@example.org' }), dsn: { notify: ['SUCCESS', 'FAILURE'] } }));
      const dsn = await waitUntil(async () => (await dsnsFor(h, 'carol'))[before], 'the relayed report');
      assert.equal((await h.recipients(id))[0].status, 'delivered');
      const r = deliveryStatus(parts(dsn.raw)[1].body).perRecipient[0];
      assert.equal(one(r, 'action'), 'relayed');
      assert.equal(one(r, 'status'), '2.0.0');
      assert.equal(one(r, 'remote-mta'), 'dns; mx.example.org');
      assert.match(parts(dsn.raw)[2].head, /text\/rfc822-headers/i, 'a success report carries the header only');
    });

    it('without NOTIFY=SUCCESS a delivery is not reported', async () => {
      const from = `carol@${DOMAIN}`;
      const id = h.queueIdOf(await h.submit({ user: 'carol', pass: PASSWORD, from, to: ['fine@example.org'], raw: message({ from, to: 'fine@example.org' }) }));
      await waitUntil(async () => (await h.recipients(id))[0]?.status === 'delivered', 'delivery');
      assert.ok(!(await h.events(id)).some((e) => e.type === 'dsn_sent'));
    });
  });
}
