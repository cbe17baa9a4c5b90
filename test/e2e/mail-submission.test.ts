// Whole path: swaks as the client on submission (RFC 6409, RFC 3207 STARTTLS, RFC 4954 AUTH, RFC 2920 PIPELINING, RFC 1870 SIZE) and on the inbound port (no open relay, RFC 5321 §3.6.2).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startSmtpPeer, type SmtpPeer } from '../support/smtp-peer.ts';
import { runSwaks, swaksArgs, SWAKS_EXIT } from '../support/swaks.ts';
import { DOMAIN, HOSTNAME, message, startMailHarness, waitUntil, type MailHarness } from './mail-harness.ts';

const ALICE = `alice@${DOMAIN}`;
const PASSWORD = 'alice-secret-2';
const MAX_SIZE = 20_000;

/** The first 4xx/5xx reply of a session (swaks still says QUIT after it). */
function refusal(replies: string[]): string {
  return replies.find((l) => /^[45]\d\d /.test(l)) ?? '';
}

describe('submission and relay policy, driven by swaks', () => {
  let peer: SmtpPeer;
  let h: MailHarness;

  before(async () => {
    peer = await startSmtpPeer();
    h = await startMailHarness({
      zone: {
        'example.org': { MX: [{ exchange: 'mx.example.org', priority: 10 }] },
        'mx.example.org': { A: ['127.0.0.1'] },
      },
      mail: { mxPort: peer.port, maxMessageSize: MAX_SIZE, allowedIp: ['127.0.0.3/32'] },
    });
    await h.addUser('alice', PASSWORD, [ALICE]);
    await h.addUser('bob', 'bob-secret-2', [`bob@${DOMAIN}`]);
  });
  after(async () => {
    await h?.close();
    await peer?.close();
  });

  it('accepts a message over STARTTLS + AUTH PLAIN with PIPELINING and delivers it DKIM-signed (RFC 6409, RFC 2920)', async () => {
    const r = await runSwaks(swaksArgs({
      port: h.mail.ports.submission, tls: 'starttls', auth: 'PLAIN', user: 'alice', password: PASSWORD, pipeline: true,
      from: ALICE, to: 'pipelined@example.org', headers: { Subject: 'pipelined submission' },
    }));
    assert.equal(r.code, SWAKS_EXIT.ok, r.transcript);
    assert.ok(r.replies.some((l) => /^250-PIPELINING/.test(l)), 'PIPELINING is offered');
    assert.ok(r.replies.some((l) => /^250[- ]DSN/.test(l)), 'DSN is offered (RFC 3461)');
    assert.ok(r.replies.some((l) => /^250[- ]ENHANCEDSTATUSCODES/.test(l)), 'ENHANCEDSTATUSCODES is offered (RFC 2034)');
    assert.match(r.transcript, /PIPELINING/);
    const queued = r.replies.find((l) => /queued as/.test(l));
    assert.ok(queued, 'the 250 after DATA names the queue id');
    const [got] = await peer.waitFor(1);
    assert.deepEqual(got.rcptTo, ['pipelined@example.org']);
    assert.equal(got.mailFrom, ALICE);
    const sigs = got.raw.toString('latin1').match(/^DKIM-Signature:/gim) ?? [];
    assert.equal(sigs.length, 2, 'Ed25519 and RSA signatures');
  });

  it('accepts AUTH LOGIN over implicit TLS on the submissions port (RFC 8314 §3.3)', async () => {
    const r = await runSwaks(swaksArgs({
      port: h.mail.ports.submissions, tls: 'on-connect', auth: 'LOGIN', user: 'alice', password: PASSWORD, from: ALICE, to: 'implicit@example.org',
    }));
    assert.equal(r.code, SWAKS_EXIT.ok, r.transcript);
    await waitUntil(() => peer.messages.some((m) => m.rcptTo.includes('implicit@example.org')), 'delivery of the 465 message');
  });

  it('refuses MAIL before STARTTLS on submission (RFC 3207 §4, RFC 6409 §4.3)', async () => {
    const r = await runSwaks(swaksArgs({ port: h.mail.ports.submission, from: ALICE, to: 'x@example.org', quitAfter: 'mail' }));
    assert.equal(r.code, SWAKS_EXIT.mailError, r.transcript);
    assert.match(refusal(r.replies), /^530 /);
  });

  it('does not offer AUTH before STARTTLS and refuses it there (RFC 4954 §4: no plaintext passwords on an unencrypted channel)', async () => {
    const r = await runSwaks(swaksArgs({ port: h.mail.ports.submission, auth: 'PLAIN', user: 'alice', password: PASSWORD, from: ALICE, to: 'x@example.org', quitAfter: 'mail' }));
    assert.equal(r.code, SWAKS_EXIT.authError, r.transcript);
    assert.doesNotMatch(r.transcript, /^<- {2}250[- ]AUTH/m, 'no AUTH in the EHLO reply before TLS');
    assert.match(r.transcript, /^<- {2}250[- ]STARTTLS/m);
    // A client that sends AUTH anyway gets 538 and its password goes nowhere.
    const replies = await rawSmtp(h.mail.ports.submission, ['EHLO client.test', `AUTH PLAIN ${Buffer.from(`\0alice\0${PASSWORD}`).toString('base64')}`, 'QUIT']);
    assert.match(replies[2], /^538 /, replies.join(' | '));
  });

  it('refuses MAIL after STARTTLS without AUTH with 530 5.7.0 (RFC 4954 §6)', async () => {
    const r = await runSwaks(swaksArgs({ port: h.mail.ports.submission, tls: 'starttls', from: ALICE, to: 'x@example.org', quitAfter: 'mail' }));
    assert.equal(r.code, SWAKS_EXIT.mailError, r.transcript);
    assert.match(refusal(r.replies), /^530 5\.7\.0 /);
  });

  it('refuses a MAIL FROM the account does not own with 550 5.7.1', async () => {
    const r = await runSwaks(swaksArgs({
      port: h.mail.ports.submission, tls: 'starttls', auth: 'PLAIN', user: 'alice', password: PASSWORD, from: `bob@${DOMAIN}`, to: 'x@example.org', quitAfter: 'mail',
    }));
    assert.equal(r.code, SWAKS_EXIT.mailError, r.transcript);
    assert.match(refusal(r.replies), /^550 5\.7\.1 /);
  });

  it('refuses a wrong password with 535 5.7.8', async () => {
    const r = await runSwaks(swaksArgs({ port: h.mail.ports.submission, tls: 'starttls', auth: 'PLAIN', user: 'alice', password: 'wrong', from: ALICE, to: 'x@example.org' }));
    assert.equal(r.code, SWAKS_EXIT.authError, r.transcript);
    assert.ok(r.replies.some((l) => /^535 5\.7\.8 /.test(l)));
  });

  it('advertises SIZE and refuses a larger message with 552 (RFC 1870 §6.3)', async () => {
    const body = 'x'.repeat(70) + '\r\n';
    const r = await runSwaks(swaksArgs({
      port: h.mail.ports.submission, tls: 'starttls', auth: 'PLAIN', user: 'alice', password: PASSWORD, from: ALICE, to: 'big@example.org',
      body: body.repeat(Math.ceil((MAX_SIZE * 1.5) / body.length)),
    }));
    assert.ok(r.replies.some((l) => l === `250 SIZE ${MAX_SIZE}` || l === `250-SIZE ${MAX_SIZE}`), 'SIZE is advertised with the limit');
    assert.equal(r.code, SWAKS_EXIT.dataRejected, r.transcript);
    assert.match(refusal(r.replies), /^552 /);
    assert.ok(!peer.messages.some((m) => m.rcptTo.includes('big@example.org')));
  });

  it('removes an Authentication-Results field with our authserv-id that a submission client wrote (RFC 8601 §5)', async () => {
    const raw = message({ from: ALICE, to: `bob@${DOMAIN}`, subject: 'forged results', messageId: '<forged-ar@client.test>' })
      .replace(/^/, `Authentication-Results: ${HOSTNAME}; dmarc=pass (forged) header.from=${DOMAIN}\r\nAuthentication-Results: mx.other.example; spf=pass (kept)\r\n`);
    const reply = await h.submit({ user: 'alice', pass: PASSWORD, from: ALICE, to: [`bob@${DOMAIN}`], raw });
    assert.match(reply, /^250 /);
    const [got] = await waitUntil(async () => {
      const found = (await h.mailbox('bob')).filter((m) => m.raw.includes('<forged-ar@client.test>'));
      return found.length ? found : undefined;
    }, 'local delivery to bob');
    const head = got.raw.toString('latin1').split('\r\n\r\n')[0];
    assert.doesNotMatch(head, /\(forged\)/, 'the forged field is gone');
    assert.match(head, /^Authentication-Results: mx\.other\.example; spf=pass \(kept\)$/m, 'a field of another authserv-id stays');
  });

  it('refuses unauthenticated relaying on the inbound port with 550 5.7.1 Relay not allowed (RFC 5321 §3.6.2)', async () => {
    const r = await runSwaks(swaksArgs({ port: h.mail.ports.inbound, from: 'spammer@elsewhere.example', to: 'victim@example.org', extra: ['--local-interface', '127.0.0.2'], quitAfter: 'rcpt' }));
    assert.equal(r.code, SWAKS_EXIT.noRcptAccepted, r.transcript);
    assert.ok(r.replies.includes('550 5.7.1 Relay not allowed'), r.transcript);
  });

  it('accepts mail for a local account on the inbound port from anywhere', async () => {
    const r = await runSwaks(swaksArgs({ port: h.mail.ports.inbound, from: 'friend@elsewhere.example', to: ALICE, extra: ['--local-interface', '127.0.0.2'] }));
    assert.equal(r.code, SWAKS_EXIT.ok, r.transcript);
    await waitUntil(async () => (await h.mailbox('alice')).some((m) => m.mailFrom === 'friend@elsewhere.example'), 'local delivery');
  });

  it('lets an allowed-ip network relay without AUTH (server.allowed-ip)', async () => {
    const r = await runSwaks(swaksArgs({ port: h.mail.ports.inbound, from: ALICE, to: 'relayed@example.org', extra: ['--local-interface', '127.0.0.3'] }));
    assert.equal(r.code, SWAKS_EXIT.ok, r.transcript);
    await waitUntil(() => peer.messages.some((m) => m.rcptTo.includes('relayed@example.org')), 'relayed delivery');
  });
});

/** Sends each line after the previous reply arrived; returns the greeting and one reply per line. */
async function rawSmtp(port: number, lines: string[]): Promise<string[]> {
  const socket = connect(port, '127.0.0.1');
  socket.setEncoding('utf8');
  const replies: string[] = [];
  let buffer = '';
  let waiting: (() => void) | undefined;
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    // A reply ends with a line whose code is followed by a space (RFC 5321 §4.2.1).
    while (/^\d{3} .*\r\n/m.test(buffer)) {
      const end = buffer.search(/^\d{3} .*\r\n/m);
      const lineEnd = buffer.indexOf('\r\n', end) + 2;
      replies.push(buffer.slice(0, lineEnd).trim());
      buffer = buffer.slice(lineEnd);
      waiting?.();
    }
  });
  const next = (n: number) => new Promise<void>((resolve) => { if (replies.length >= n) resolve(); else waiting = () => { if (replies.length >= n) resolve(); }; });
  await next(1);
  for (let i = 0; i < lines.length; i++) {
    socket.write(`${lines[i]}\r\n`);
    await next(i + 2);
  }
  socket.destroy();
  return replies;
}
