// Whole path: asynchronous bounces. A remote MX accepts our message with 250, later sends an RFC 3464 DSN to our return path
// over port 25; it is matched to the original (event `bounced`), a hard bounce suppresses the address, and the admin API lifts it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { startSmtpPeer, type SmtpPeer } from '../support/smtp-peer.ts';
import { DOMAIN, message, startMailHarness, waitUntil, type MailHarness } from './mail-harness.ts';
import { mailBackends } from '../support/stores.ts';

const SENDER = `alice@${DOMAIN}`;
const PASSWORD = 'alice-secret-1';

/** The header section of a message, as a remote MTA returns it in text/rfc822-headers (RFC 6522 §4). */
const headerOf = (raw: Buffer) => raw.subarray(0, raw.indexOf('\r\n\r\n')).toString('latin1');

/** An RFC 3464 report as a remote MTA writes it. */
function dsnMessage(o: { to: string; envId?: string; recipients: Array<{ rcpt: string; action: string; status: string; diagnostic?: string }>; returned?: string }): string {
  const b = 'BOUNDARY.remote.example.org';
  return [
    'From: MAILER-DAEMON@mx.example.org (Mail Delivery System)',
    `To: ${o.to}`,
    'Subject: Undelivered Mail Returned to Sender',
    'Auto-Submitted: auto-replied',
    `Message-ID: <${Math.random().toString(36).slice(2)}@mx.example.org>`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'This is the mail system at host mx.example.org.',
    '',
    `--${b}`,
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.org',
    ...(o.envId ? [`Original-Envelope-Id: ${o.envId}`] : []),
    '',
    ...o.recipients.flatMap((r) => [
      `Final-Recipient: rfc822; ${r.rcpt}`,
      `Action: ${r.action}`,
      `Status: ${r.status}`,
      'Remote-MTA: dns; inner.example.org',
      `Diagnostic-Code: smtp; ${r.diagnostic ?? `550 ${r.status} <${r.rcpt}>: Recipient address rejected:\r\n    User unknown in local recipient table`}`,
      '',
    ]),
    ...(o.returned ? [`--${b}`, 'Content-Type: text/rfc822-headers', '', o.returned, ''] : []),
    `--${b}--`,
    '',
  ].join('\r\n');
}

/** Sends as a remote MTA to our port 25 with the null reverse-path (RFC 5321 §4.5.5). */
async function sendInbound(port: number, to: string, raw: string): Promise<string> {
  const conn = new SMTPConnection({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, name: 'mx.example.org', connectionTimeout: 10_000, socketTimeout: 20_000, logger: false });
  conn.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
    const info = await new Promise<{ response: string }>((resolve, reject) => conn.send({ from: '', to: [to] } as SMTPConnection.Envelope, raw, (err, i) => (err ? reject(err) : resolve(i))));
    return info.response;
  } finally {
    conn.quit();
  }
}

for (const backend of mailBackends()) {
  describe(`asynchronous bounces and the suppression list (RFC 3464) (${backend})`, () => {
    let peer: SmtpPeer;
    let h: MailHarness;
    let admin: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;

    const bouncedEvents = async () => Number((await h.store.get<{ n: number }>("SELECT COUNT(*) AS n FROM mail_events WHERE type = 'bounced'"))?.n);
    const inMailbox = async (needle: string) => (await h.mailbox('alice')).filter((m) => m.raw.toString('latin1').includes(needle));
    async function sendOne(to: string, subject: string, dsn?: { envid: string }): Promise<string> {
      return h.queueIdOf(await h.submit({ user: 'alice', pass: PASSWORD, from: SENDER, to: [to], raw: message({ from: SENDER, to, subject }), ...(dsn ? { dsn } : {}) }));
    }
    async function delivered(id: string): Promise<void> {
      await waitUntil(async () => (await h.recipients(id))[0]?.status === 'delivered', `message ${id} delivered`);
    }

    before(async () => {
      peer = await startSmtpPeer({ onRcpt: ({ address }) => (address.startsWith('reject') ? `550 5.1.1 <${address}>: User unknown` : undefined) });
      h = await startMailHarness({
        backend,
        zone: { 'example.org': { MX: [{ exchange: 'mx.example.org', priority: 10 }] }, 'mx.example.org': { A: ['127.0.0.1'] } },
        mail: { mxPort: peer.port, queue: { retrySchedule: [1] } },
      });
      await h.addUser('alice', PASSWORD, [SENDER]);
      const auth = `Basic ${Buffer.from(`admin:${h.test.ctx.secrets.adminPassword}`).toString('base64')}`;
      admin = async (method, path, body) => {
        const r = await fetch(`http://127.0.0.1:${h.mail.ports.admin}${path}`, { method, headers: { authorization: auth, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
        return { status: r.status, body: await r.json() };
      };
    });
    after(async () => {
      await h?.close();
      await peer?.close();
    });

    it('a 5.x.x DSN for a delivered message is matched by the returned Message-ID: event bounced, address suppressed, DSN still in the mailbox', async () => {
      const id = await sendOne('bob@example.org', 'first');
      await delivered(id);
      const sent = peer.messages.find((m) => m.rcptTo.includes('bob@example.org'));
      assert.ok(sent, 'the peer received the original');
      assert.equal(sent.mailFrom, SENDER, 'the return path is the sender');
      const original = await h.store.get<{ header_message_id: string }>('SELECT header_message_id FROM mail_messages WHERE id = ?', [id]);
      assert.match(original?.header_message_id ?? '', /^<.+@.+>$/);

      const reply = await sendInbound(h.mail.ports.inbound, sent.mailFrom, dsnMessage({
        to: SENDER, recipients: [{ rcpt: 'bob@example.org', action: 'failed', status: '5.1.1' }], returned: headerOf(sent.raw),
      }));
      assert.match(reply, /^250/);
      const bounced = await waitUntil(async () => (await h.events(id)).find((e) => e.type === 'bounced'), 'the bounced event on the original');
      assert.equal(bounced.rcpt, 'bob@example.org');
      assert.equal(bounced.data.status, '5.1.1');
      assert.equal(bounced.data.hard, true);
      assert.equal(bounced.data.reportingMta, 'mx.example.org');
      assert.match(String(bounced.data.diagnostic), /^smtp; 550 5\.1\.1 <bob@example\.org>: Recipient address rejected: User unknown/);
      assert.equal((await inMailbox('Undelivered Mail Returned to Sender')).length, 1, 'the DSN is stored for the user to read');

      const list = await admin('GET', '/api/suppressions');
      assert.equal(list.status, 200);
      assert.equal(list.body.data.total, 1);
      const [item] = list.body.data.items;
      assert.equal(item.address, 'bob@example.org');
      assert.equal(item.reason, 'hard-bounce');
      assert.equal(item.sourceMessageId, id);
      assert.ok(!Number.isNaN(Date.parse(item.createdAt)));
    });

    it('a suppressed address fails at once with 550 5.1.1, no connection to the MX and no DSN to the sender; DELETE lifts it', async () => {
      const messages = peer.messages.length;
      const connections = peer.connections.length;
      const id = await sendOne('Bob@Example.org', 'second');
      const [row] = await waitUntil(async () => { const r = await h.recipients(id); return r[0]?.status === 'failed' ? r : undefined; }, 'the suppressed recipient to fail');
      assert.equal(row.last_code, 550);
      assert.match(row.last_reply ?? '', /^5\.1\.1 <bob@example\.org> is on the suppression list \(hard bounce on \d{4}-\d\d-\d\d\); remove it with DELETE \/api\/suppressions\/bob@example\.org$/);
      assert.equal(row.attempts, 1);
      const events = await h.events(id);
      const failed = events.find((e) => e.type === 'failed');
      assert.equal(failed?.data.suppressed, true);
      assert.ok(!events.some((e) => e.type === 'dsn_sent'), 'no DSN for a suppressed recipient');
      assert.equal(Number((await h.store.get<{ n: number }>("SELECT COUNT(*) AS n FROM mail_messages WHERE source = 'dsn' AND received_at >= (SELECT received_at FROM mail_messages WHERE id = ?)", [id]))?.n), 0);
      assert.equal(peer.messages.length, messages, 'nothing was sent to the MX');
      assert.equal(peer.connections.length, connections, 'no connection was made');

      assert.deepEqual(await admin('DELETE', '/api/suppressions/bob%40example.org'), { status: 200, body: { data: null } });
      const again = await admin('DELETE', '/api/suppressions/bob%40example.org');
      assert.equal(again.status, 404);
      assert.equal(again.body.error, 'notFound');
      assert.equal((await admin('GET', '/api/suppressions')).body.data.total, 0);

      const third = await sendOne('bob@example.org', 'third');
      await delivered(third);
      assert.ok(peer.messages.slice(messages).some((m) => m.rcptTo.includes('bob@example.org')), 'the third message reached the MX');
    });

    it('matched by Original-Envelope-Id (RFC 3464 §2.2.1): a delayed report adds nothing, a 4.x.x failure is a soft bounce, not suppressed', async () => {
      const id = await sendOne('carol@example.org', 'with envid', { envid: 'ENV-CAROL-1' });
      await delivered(id);
      const before = await bouncedEvents();

      // No returned headers: only the envelope id ties the report to the message.
      await sendInbound(h.mail.ports.inbound, SENDER, dsnMessage({ to: SENDER, envId: 'ENV-CAROL-1', recipients: [{ rcpt: 'carol@example.org', action: 'delayed', status: '4.4.1', diagnostic: 'X-Postfix; connection timed out' }] }));
      await waitUntil(async () => (await inMailbox('ENV-CAROL-1')).length === 1, 'the delay report in the mailbox');
      assert.equal(await bouncedEvents(), before, 'a delay report records no bounce');
      assert.equal((await admin('GET', '/api/suppressions')).body.data.total, 0);

      await sendInbound(h.mail.ports.inbound, SENDER, dsnMessage({ to: SENDER, envId: 'ENV-CAROL-1', recipients: [{ rcpt: 'carol@example.org', action: 'failed', status: '4.4.7', diagnostic: 'X-Postfix; delivery time expired' }] }));
      const bounced = await waitUntil(async () => (await h.events(id)).find((e) => e.type === 'bounced'), 'the soft bounce');
      assert.equal(bounced.rcpt, 'carol@example.org');
      assert.equal(bounced.data.status, '4.4.7');
      assert.equal(bounced.data.hard, false);
      assert.equal((await admin('GET', '/api/suppressions')).body.data.total, 0, 'a 4.x.x status suppresses nothing');
    });

    it('a report for a Message-ID we never sent is ordinary mail: stored, no event', async () => {
      const before = await bouncedEvents();
      await sendInbound(h.mail.ports.inbound, SENDER, dsnMessage({
        to: SENDER, recipients: [{ rcpt: 'stranger@example.org', action: 'failed', status: '5.1.1' }],
        returned: 'From: alice@mana.test\r\nTo: stranger@example.org\r\nSubject: UNKNOWN-ORIGINAL\r\nMessage-ID: <never-sent-by-us@mana.test>',
      }));
      await waitUntil(async () => (await inMailbox('UNKNOWN-ORIGINAL')).length === 1, 'the report in the mailbox');
      assert.equal(await bouncedEvents(), before);
      assert.equal((await admin('GET', '/api/suppressions')).body.data.total, 0);
    });

    it('a DSN we generated ourselves is not taken for a bounce of the message it reports on', async () => {
      const id = await sendOne('reject-me@example.org', 'synchronous failure');
      const sent = await waitUntil(async () => (await h.events(id)).find((e) => e.type === 'dsn_sent'), 'our DSN');
      await waitUntil(async () => (await h.recipients(String(sent.data.dsnQueueId)))[0]?.status === 'delivered', 'our DSN in alice\'s mailbox');
      assert.ok(!(await h.events(id)).some((e) => e.type === 'bounced'));
      assert.equal((await admin('GET', '/api/suppressions')).body.data.total, 0);
    });

    it('POST /api/suppressions lists an address by hand; bad input gets fieldMissing / fieldInvalid', async () => {
      const added = await admin('POST', '/api/suppressions', { address: 'Dave@Example.org', reason: 'asked to stop' });
      assert.equal(added.status, 200);
      assert.equal(added.body.data.address, 'dave@example.org');
      assert.equal(added.body.data.reason, 'asked to stop');
      const list = (await admin('GET', '/api/suppressions')).body.data;
      assert.deepEqual(list.items.map((i: { address: string }) => i.address), ['dave@example.org']);
      const missing = await admin('POST', '/api/suppressions', { reason: 'x' });
      assert.equal(missing.status, 400);
      assert.deepEqual(missing.body, { error: 'fieldMissing', field: 'address' });
      const invalid = await admin('POST', '/api/suppressions', { address: 'not an address' });
      assert.equal(invalid.status, 400);
      assert.equal(invalid.body.error, 'fieldInvalid');

      const id = await sendOne('dave@example.org', 'to dave');
      const [row] = await waitUntil(async () => { const r = await h.recipients(id); return r[0]?.status === 'failed' ? r : undefined; }, 'dave to fail');
      assert.match(row.last_reply ?? '', /^5\.1\.1 <dave@example\.org> is on the suppression list \(asked to stop on /);
    });
  });
}
