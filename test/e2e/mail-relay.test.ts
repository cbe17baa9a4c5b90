// Whole path: relay routes to smart hosts with SMTP AUTH (RFC 4954) over STARTTLS (RFC 3207) or implicit TLS (RFC 8314), per destination domain (the seed's Brevo fallback as configuration).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpPeer, type SmtpPeer } from '../support/smtp-peer.ts';
import { DOMAIN, message, startMailHarness, waitUntil, type MailHarness } from './mail-harness.ts';

const ALICE = `alice@${DOMAIN}`;
const PASSWORD = 'alice-secret-4';
const RELAY_USER = 'relay-user';
const RELAY_PASS = 'relay-pass-123';

describe('smart-host relay routes with AUTH', () => {
  let starttls: SmtpPeer;
  let implicit: SmtpPeer;
  let mx: SmtpPeer;
  let h: MailHarness;

  before(async () => {
    starttls = await startSmtpPeer({ tls: 'starttls', requireTls: true, auth: { user: RELAY_USER, pass: RELAY_PASS } });
    implicit = await startSmtpPeer({ tls: 'implicit', auth: { user: RELAY_USER, pass: RELAY_PASS, methods: ['LOGIN'] } });
    mx = await startSmtpPeer({ tls: 'none' });
    h = await startMailHarness({
      zone: {
        'direct.example': { MX: [{ exchange: 'mx.direct.example', priority: 10 }] },
        'mx.direct.example': { A: ['127.0.0.1'] },
      },
      mail: {
        mxPort: mx.port,
        relayRoutes: {
          'via-starttls.example': { host: '127.0.0.1', port: starttls.port, tls: 'starttls', user: RELAY_USER, password: RELAY_PASS },
          'via-implicit.example': { host: '127.0.0.1', port: implicit.port, tls: 'implicit', user: RELAY_USER, password: RELAY_PASS, insecureTls: true },
          'bad-login.example': { host: '127.0.0.1', port: starttls.port, tls: 'starttls', user: RELAY_USER, password: 'wrong', insecureTls: true },
        },
      },
      // The smart host's certificate is trusted, so STARTTLS to it is verified (relay tls 'starttls' without insecureTls).
      mailOptions: { extraCa: [starttls.cert!] },
    });
    await h.addUser('alice', PASSWORD, [ALICE]);
  });
  after(async () => {
    await h?.close();
    await Promise.all([starttls?.close(), implicit?.close(), mx?.close()]);
  });

  it('delivers through the smart host of the destination domain after STARTTLS and AUTH PLAIN (RFC 4954)', async () => {
    const id = h.queueIdOf(await h.submit({ user: 'alice', pass: PASSWORD, from: ALICE, to: ['someone@via-starttls.example'], raw: message({ from: ALICE, to: 'someone@via-starttls.example' }) }));
    const [got] = await starttls.waitFor(1);
    assert.equal(got.user, RELAY_USER);
    assert.equal(got.tls, true);
    assert.deepEqual(got.rcptTo, ['someone@via-starttls.example']);
    assert.equal((got.raw.toString('latin1').match(/^DKIM-Signature:/gim) ?? []).length, 2);
    await waitUntil(async () => (await h.recipients(id))[0]?.status === 'delivered', 'delivered');
    const attempt = (await h.events(id)).find((e) => e.type === 'attempt');
    assert.equal(attempt?.data.route, `relay:127.0.0.1:${starttls.port}`);
    assert.equal(attempt?.data.tlsAuthorized, true);
  });

  it('delivers through a smart host on implicit TLS with AUTH LOGIN (RFC 8314 §3)', async () => {
    const id = h.queueIdOf(await h.submit({ user: 'alice', pass: PASSWORD, from: ALICE, to: ['someone@via-implicit.example'], raw: message({ from: ALICE, to: 'someone@via-implicit.example' }) }));
    const [got] = await implicit.waitFor(1);
    assert.equal(got.user, RELAY_USER);
    assert.equal(got.tls, true);
    await waitUntil(async () => (await h.recipients(id))[0]?.status === 'delivered', 'delivered');
  });

  it('a domain without a route still goes to its MX', async () => {
    const before = starttls.messages.length + implicit.messages.length;
    const id = h.queueIdOf(await h.submit({ user: 'alice', pass: PASSWORD, from: ALICE, to: ['x@direct.example'], raw: message({ from: ALICE, to: 'x@direct.example' }) }));
    await mx.waitFor(1);
    await waitUntil(async () => (await h.recipients(id))[0]?.status === 'delivered', 'delivered');
    assert.equal(starttls.messages.length + implicit.messages.length, before);
  });

  it('refused credentials defer the mail instead of bouncing it (a configuration error, RFC 4954 §6 535)', async () => {
    const id = h.queueIdOf(await h.submit({ user: 'alice', pass: PASSWORD, from: ALICE, to: ['y@bad-login.example'], raw: message({ from: ALICE, to: 'y@bad-login.example' }) }));
    await waitUntil(async () => (await h.recipients(id))[0]?.attempts >= 1, 'one attempt');
    const [row] = await h.recipients(id);
    assert.equal(row.status, 'queued');
    assert.match(row.last_reply ?? '', /5\.7\.8|Authentication/i);
    assert.ok(!starttls.messages.some((m) => m.rcptTo.includes('y@bad-login.example')));
    await h.mail.queue.cancel(id);
  });
});
