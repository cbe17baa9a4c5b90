// Whole path: outbound delivery to real recipient MX hosts found through DNS (RFC 5321 §5.1): Postfix as the MX with DKIM checked by dkimpy, retries after 4xx, connection reuse, MTA-STS (RFC 8461).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import { startSmtpPeer, type SmtpPeer } from '../support/smtp-peer.ts';
import { startPostfix, type PostfixInstance } from '../support/postfix.ts';
import { dkimpyVerify } from '../support/dkimpy.ts';
import { DOMAIN, message, startMailHarness, waitUntil, type MailHarness } from './mail-harness.ts';
import { mailBackends } from '../support/stores.ts';

const ALICE = `alice@${DOMAIN}`;
const PASSWORD = 'alice-secret-3';

for (const backend of mailBackends()) {
  describe(`Postfix as the recipient MX (${backend})`, () => {
    let postfix: PostfixInstance;
    let h: MailHarness;

    before(async () => {
      postfix = await startPostfix({ mode: 'mx', domain: 'example.net' });
      h = await startMailHarness({
        backend,
        zone: {
          'example.net': { MX: [{ exchange: 'mx.example.net', priority: 10 }] },
          'mx.example.net': { A: ['127.0.0.1'] },
        },
        mail: { mxPort: postfix.port },
      });
      await h.addUser('alice', PASSWORD, [ALICE]);
    });
    after(async () => {
      await h?.close();
      await postfix?.stop();
    });

    it('delivers to the MX found in DNS and the stored message verifies with dkimpy, Ed25519 and RSA (RFC 6376, RFC 8463)', async () => {
      const id = h.queueIdOf(await h.submit({
        user: 'alice', pass: PASSWORD, from: ALICE, to: ['someone@example.net'],
        raw: message({ from: `Alice <${ALICE}>`, to: 'someone@example.net', subject: 'Hello Postfix', body: 'Signed twice.\r\n.leading dot line\r\nend' }),
      }));
      const [stored] = await postfix.waitForMessages(1, 20_000);
      const text = stored.toString('latin1');
      assert.match(text, /^Return-Path: <alice@mana\.test>/m, 'Postfix recorded our envelope sender');
      assert.match(text, /Subject: Hello Postfix/);
      assert.match(text, /^\.leading dot line$/m, 'dot-stuffing was undone (RFC 5321 §4.5.2)');
      const results = await dkimpyVerify(stored, await h.dkimRecords());
      assert.equal(results.length, 2);
      for (const r of results) assert.ok(r.ok, `${r.selector}: ${r.error}`);
      const algorithms = await h.store.all<{ algorithm: string }>('SELECT algorithm FROM mail_dkim_keys WHERE domain = ? ORDER BY algorithm', [DOMAIN]);
      assert.deepEqual(algorithms.map((a) => a.algorithm), ['ed25519', 'rsa']);
      await waitUntil(async () => (await h.recipients(id))[0]?.status === 'delivered', 'the delivered state');
      const attempt = (await h.events(id)).find((e) => e.type === 'attempt');
      assert.equal(attempt?.data.mx, 'mx.example.net');
      assert.equal(attempt?.data.ip, '127.0.0.1');
      assert.equal(attempt?.data.code, 250);
    });
  });

  describe(`Postfix as a DSN-capable recipient MX (${backend})`, () => {
    let postfix: PostfixInstance;
    let h: MailHarness;

    before(async () => {
      postfix = await startPostfix({ mode: 'mx', domain: 'example.net' });
      h = await startMailHarness({
        backend,
        zone: { 'example.net': { MX: [{ exchange: 'mx.example.net', priority: 10 }] }, 'mx.example.net': { A: ['127.0.0.1'] } },
        mail: { mxPort: postfix.port },
      });
      await h.addUser('alice', PASSWORD, [ALICE]);
    });
    after(async () => {
      await h?.close();
      await postfix?.stop();
    });

    it('NOTIFY=SUCCESS is passed on to an MX that offers DSN, which reports; we send no report of our own (RFC 3461 §4.2)', async () => {
      const id = h.queueIdOf(await h.submit({
        user: 'alice', pass: PASSWORD, from: ALICE, to: ['someone@example.net'], raw: message({ from: ALICE, to: 'someone@example.net' }), dsn: { notify: 'SUCCESS', envid: 'pass-on-1' },
      }));
      await postfix.waitForMessages(1, 20_000);
      await waitUntil(async () => (await h.recipients(id))[0]?.status === 'delivered', 'delivered');
      // Postfix acts on the NOTIFY it was given: it queues its own "delivered" notice for the sender.
      await postfix.waitForLog(/sender delivery status notification/, 20_000);
      const attempt = (await h.events(id)).find((e) => e.type === 'attempt');
      assert.equal(attempt?.data.remoteDsn, true);
      assert.ok(!(await h.events(id)).some((e) => e.type === 'dsn_sent'));
    });
  });

  describe(`retries, connection reuse and MTA-STS against a programmable MX (${backend})`, () => {
    let peer: SmtpPeer;
    let h: MailHarness;
    let https: Server;

    before(async () => {
      peer = await startSmtpPeer({
        tls: 'none',
        onRcpt: ({ address, attempt }) => (address.startsWith('flaky') && attempt === 1 ? '451 4.7.1 greylisted, come back later' : undefined),
      });
      // The policy host: https://mta-sts.<domain>/.well-known/mta-sts.txt with a certificate we make trusted (RFC 8461 §3.3).
      const pems = await generate([{ name: 'commonName', value: 'mta-sts.enforced.example' }], {
        keyType: 'rsa', keySize: 2048, algorithm: 'sha256',
        extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'mta-sts.enforced.example' }, { type: 2, value: 'mta-sts.testing.example' }] }],
      });
      const policies: Record<string, string> = {
        'mta-sts.enforced.example': 'version: STSv1\r\nmode: enforce\r\nmx: mx.enforced.example\r\nmax_age: 86400\r\n',
        'mta-sts.testing.example': 'version: STSv1\r\nmode: testing\r\nmx: mx.testing.example\r\nmax_age: 86400\r\n',
      };
      https = createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
        const body = policies[String(req.headers.host).replace(/:\d+$/, '')];
        if (req.url !== '/.well-known/mta-sts.txt' || !body) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
      });
      await new Promise<void>((r) => https.listen(0, '127.0.0.1', () => r()));
      h = await startMailHarness({
        backend,
        zone: {
          'example.org': { MX: [{ exchange: 'mx.example.org', priority: 10 }] },
          'mx.example.org': { A: ['127.0.0.1'] },
          'enforced.example': { MX: [{ exchange: 'mx.enforced.example', priority: 10 }] },
          'mx.enforced.example': { A: ['127.0.0.1'] },
          '_mta-sts.enforced.example': { TXT: ['v=STSv1; id=20261124'] },
          'mta-sts.enforced.example': { A: ['127.0.0.1'] },
          'testing.example': { MX: [{ exchange: 'mx.testing.example', priority: 10 }] },
          'mx.testing.example': { A: ['127.0.0.1'] },
          '_mta-sts.testing.example': { TXT: ['v=STSv1; id=1'] },
          'mta-sts.testing.example': { A: ['127.0.0.1'] },
        },
        mail: { mxPort: peer.port, queue: { retrySchedule: [1] } },
        mailOptions: { extraCa: [pems.cert], mtaStsPort: (https.address() as AddressInfo).port },
      });
      await h.addUser('alice', PASSWORD, [ALICE]);
    });
    after(async () => {
      await h?.close();
      await peer?.close();
      await new Promise((r) => https?.close(r));
    });

    it('a 4xx reply defers the recipient and the next attempt on the retry schedule delivers it (RFC 5321 §4.5.4.1)', async () => {
      const id = h.queueIdOf(await h.submit({ user: 'alice', pass: PASSWORD, from: ALICE, to: ['flaky@example.org'], raw: message({ from: ALICE, to: 'flaky@example.org' }) }));
      await waitUntil(async () => (await h.recipients(id))[0]?.status === 'delivered', 'delivery on the second attempt');
      const [row] = await h.recipients(id);
      assert.equal(row.attempts, 2);
      const types = (await h.events(id)).map((e) => e.type);
      assert.deepEqual(types.filter((t) => ['attempt', 'deferred', 'delivered'].includes(t)), ['attempt', 'deferred', 'attempt', 'delivered']);
      const deferred = (await h.events(id)).find((e) => e.type === 'deferred');
      assert.equal(deferred?.data.code, 451);
      assert.equal(peer.decisions.filter((d) => d.address === 'flaky@example.org' && d.code === 451).length, 1, 'the MX refused once');
      assert.equal(peer.messages.filter((m) => m.rcptTo.includes('flaky@example.org')).length, 1, 'and received the message once');
    });

    it('two messages to one MX travel over one connection (RFC 5321 §4.1.1.5 RSET between transactions)', async () => {
      const first = peer.messages.length;
      const opened = peer.connections.length;
      for (const to of ['reuse-1@example.org', 'reuse-2@example.org']) {
        const id = h.queueIdOf(await h.submit({ user: 'alice', pass: PASSWORD, from: ALICE, to: [to], raw: message({ from: ALICE, to }) }));
        await waitUntil(async () => (await h.recipients(id))[0]?.status === 'delivered', `delivery to ${to}`);
      }
      const got = peer.messages.slice(first);
      assert.equal(got.length, 2);
      assert.equal(got[0].connectionId, got[1].connectionId, 'same SMTP session');
      assert.ok(peer.connections.length - opened <= 1, `at most one new connection (${peer.connections.length - opened})`);
    });

    it('an MTA-STS enforce domain whose MX offers no STARTTLS gets nothing in plaintext (RFC 8461 §5)', async () => {
      const before = peer.messages.length;
      const id = h.queueIdOf(await h.submit({ user: 'alice', pass: PASSWORD, from: ALICE, to: ['secret@enforced.example'], raw: message({ from: ALICE, to: 'secret@enforced.example' }) }));
      await waitUntil(async () => (await h.recipients(id))[0]?.attempts >= 2, 'two attempts');
      const [row] = await h.recipients(id);
      assert.equal(row.status, 'queued', 'deferred, not failed and not delivered');
      assert.equal(peer.messages.length, before, 'the MX received nothing');
      assert.ok(!peer.decisions.some((d) => d.stage === 'mail'), 'no MAIL FROM was even sent');
      const attempt = (await h.events(id)).find((e) => e.type === 'attempt');
      assert.equal(attempt?.data.mtaSts, 'enforce');
      assert.match(String(attempt?.data.reply), /TLS|STARTTLS/i);
      await h.mail.queue.cancel(id);
    });

    it('the same plaintext MX gets the mail of a domain whose policy is only testing (RFC 8461 §5: testing never blocks)', async () => {
      const id = h.queueIdOf(await h.submit({ user: 'alice', pass: PASSWORD, from: ALICE, to: ['open@testing.example'], raw: message({ from: ALICE, to: 'open@testing.example' }) }));
      await waitUntil(async () => (await h.recipients(id))[0]?.status === 'delivered', 'delivery under a testing policy');
      const got = peer.messages.find((m) => m.rcptTo.includes('open@testing.example'));
      assert.equal(got?.tls, false);
    });
  });

  describe(`MTA-STS enforce with a valid certificate (${backend})`, () => {
    let peer: SmtpPeer;
    let h: MailHarness;
    let https: Server;

    before(async () => {
      peer = await startSmtpPeer({ tls: 'starttls', tlsNames: ['mx.enforced.example'] });
      const pems = await generate([{ name: 'commonName', value: 'mta-sts.enforced.example' }], {
        keyType: 'rsa', keySize: 2048, algorithm: 'sha256',
        extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'mta-sts.enforced.example' }] }],
      });
      https = createServer({ key: pems.private, cert: pems.cert }, (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('version: STSv1\r\nmode: enforce\r\nmx: mx.enforced.example\r\nmax_age: 86400\r\n');
      });
      await new Promise<void>((r) => https.listen(0, '127.0.0.1', () => r()));
      h = await startMailHarness({
        backend,
        zone: {
          'enforced.example': { MX: [{ exchange: 'mx.enforced.example', priority: 10 }] },
          'mx.enforced.example': { A: ['127.0.0.1'] },
          '_mta-sts.enforced.example': { TXT: ['v=STSv1; id=20261124'] },
          'mta-sts.enforced.example': { A: ['127.0.0.1'] },
        },
        mail: { mxPort: peer.port },
        mailOptions: { extraCa: [pems.cert, peer.cert!], mtaStsPort: (https.address() as AddressInfo).port },
      });
      await h.addUser('alice', PASSWORD, [ALICE]);
    });
    after(async () => {
      await h?.close();
      await peer?.close();
      await new Promise((r) => https?.close(r));
    });

    it('delivers over verified TLS when the MX certificate matches its name (RFC 8461 §4.2)', async () => {
      const id = h.queueIdOf(await h.submit({ user: 'alice', pass: PASSWORD, from: ALICE, to: ['secret@enforced.example'], raw: message({ from: ALICE, to: 'secret@enforced.example' }) }));
      const [got] = await peer.waitFor(1, 15_000);
      assert.equal(got.tls, true);
      await waitUntil(async () => (await h.recipients(id))[0]?.status === 'delivered', 'the delivered state');
      const attempt = (await h.events(id)).find((e) => e.type === 'attempt');
      assert.equal(attempt?.data.tlsAuthorized, true);
      assert.match(String(attempt?.data.tls), /^TLSv1\.[23]$/);
    });
  });

  describe(`per-destination limits (${backend})`, () => {
    let peer: SmtpPeer;
    let h: MailHarness;

    before(async () => {
      // The slow destination takes a while to accept each message; the fast one answers at once.
      peer = await startSmtpPeer({
        tls: 'none',
        onData: async ({ rcptTo }) => {
          if (rcptTo.some((r) => r.endsWith('@slow.example'))) await new Promise((r) => setTimeout(r, 150));
          return undefined;
        },
      });
      h = await startMailHarness({
        backend,
        zone: {
          'slow.example': { MX: [{ exchange: 'mx.slow.example', priority: 10 }] },
          'mx.slow.example': { A: ['127.0.0.1'] },
          'fast.example': { MX: [{ exchange: 'mx.fast.example', priority: 10 }] },
          'mx.fast.example': { A: ['127.0.0.1'] },
        },
        mail: { mxPort: peer.port, queue: { concurrency: 4, perDomainConcurrency: 1 } },
      });
    });
    after(async () => {
      await h?.close();
      await peer?.close();
    });

    it('a destination at its concurrency limit does not hold up mail for others (per-domain limit, RFC 5321 §4.5.4.1)', async () => {
      const raw = (to: string) => Buffer.from(message({ from: ALICE, to }));
      const slow: string[] = [];
      for (let i = 0; i < 20; i++) slow.push(await h.mail.queue.enqueue({ mailFrom: ALICE, recipients: [{ address: `s${i}@slow.example` }], raw: raw(`s${i}@slow.example`), source: 'api' }));
      const fast = await h.mail.queue.enqueue({ mailFrom: ALICE, recipients: [{ address: 'f@fast.example' }], raw: raw('f@fast.example'), source: 'api' });
      await waitUntil(async () => (await h.recipients(fast))[0]?.status === 'delivered', 'the fast delivery', 20_000);
      const slowDone = peer.messages.filter((m) => m.rcptTo[0].endsWith('@slow.example')).length;
      // Claiming by due time alone would reach the fast message only once every slow one is leased (~16 done by then).
      assert.ok(slowDone <= 5, `the fast message did not wait for the slow queue (${slowDone} of ${slow.length} slow ones done)`);
      assert.ok(peer.connections.filter((c) => !c.closed).length <= 2, 'one connection per destination');
      await waitUntil(async () => (await Promise.all(slow.map((id) => h.recipients(id)))).every((r) => r[0]?.status === 'delivered'), 'the slow queue', 30_000);
      const delivered = peer.messages.filter((m) => m.rcptTo[0].endsWith('@slow.example')).map((m) => m.rcptTo[0]);
      assert.equal(new Set(delivered).size, 20, 'each slow message once');
      assert.equal(delivered.length, 20);
    });
  });
}
