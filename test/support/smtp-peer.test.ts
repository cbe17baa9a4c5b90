// Tests for the scriptable SMTP test peer (RFC 5321 replies, RFC 3207 STARTTLS, RFC 4954 AUTH).
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { startSmtpPeer } from './smtp-peer.ts';
import type { SmtpPeer, SmtpPeerOptions } from './smtp-peer.ts';

const peers: SmtpPeer[] = [];
after(() => Promise.all(peers.map((p) => p.close())));

async function peer(options: SmtpPeerOptions = {}): Promise<SmtpPeer> {
  const p = await startSmtpPeer(options);
  peers.push(p);
  return p;
}

function transport(p: SmtpPeer, extra: SMTPTransport.Options = {}) {
  return nodemailer.createTransport({
    host: p.host,
    port: p.port,
    secure: false,
    name: 'client.test',
    tls: { ca: p.cert, servername: 'localhost' },
    ...extra,
  });
}

const message = {
  from: 'sender@example.org',
  to: 'rcpt@example.com',
  subject: 'peer test',
  text: 'hello\r\n.dot line\r\n',
  messageId: '<peer-test-1@example.org>',
};

/** Sends and returns the error (SMTP reply) or the info; never throws. */
async function trySend(p: SmtpPeer, mail: object, extra: SMTPTransport.Options = {}) {
  const t = transport(p, extra);
  try {
    return { ok: true as const, info: await t.sendMail(mail) };
  } catch (err) {
    return { ok: false as const, err: err as Error & { responseCode?: number; response?: string } };
  } finally {
    t.close();
  }
}

describe('test/support/smtp-peer', () => {
  it('records envelope, raw bytes and TLS of an accepted message after STARTTLS (RFC 3207)', async () => {
    const p = await peer();
    const sent = await trySend(p, message, { requireTLS: true });
    assert.equal(sent.ok, true);
    const [received] = await p.waitFor(1, 5000);
    assert.equal(received.mailFrom, 'sender@example.org');
    assert.deepEqual(received.rcptTo, ['rcpt@example.com']);
    assert.equal(received.tls, true);
    assert.equal(received.remoteAddress, '127.0.0.1');
    assert.equal(received.helo, 'client.test');
    const raw = received.raw.toString();
    assert.match(raw, /^Subject: peer test\r$/m);
    assert.match(raw, /\r\n\.dot line\r\n/); // dot-stuffing undone (RFC 5321 §4.5.2)
    assert.equal(p.connections.length, 1);
    assert.equal(p.connections[0].tls, true);
  });

  it('a RCPT script answers 451 on the first attempt and 250 on the next (RFC 5321 §4.2.5)', async () => {
    const p = await peer({ onRcpt: ['451 4.7.1 greylisted, try again', '250 2.1.5 ok'] });
    const first = await trySend(p, message);
    assert.equal(first.ok, false);
    assert.equal(first.ok ? 0 : first.err.responseCode, 451);
    assert.match(first.ok ? '' : String(first.err.response), /^451 4\.7\.1 greylisted/);
    assert.equal(p.messages.length, 0);
    const second = await trySend(p, message);
    assert.equal(second.ok, true);
    assert.equal(p.messages.length, 1);
    assert.deepEqual(
      p.decisions.map((d) => [d.stage, d.address, d.code]),
      [
        ['rcpt', 'rcpt@example.com', 451],
        ['rcpt', 'rcpt@example.com', 250],
      ],
    );
  });

  it('a per-address RCPT function rejects one recipient with 550 5.1.1 and accepts the other', async () => {
    const p = await peer({
      onRcpt: ({ address }) => (address === 'gone@example.com' ? '550 5.1.1 no such user' : undefined),
    });
    const sent = await trySend(p, { ...message, to: ['gone@example.com', 'rcpt@example.com'] });
    assert.equal(sent.ok, true);
    assert.deepEqual(sent.ok ? sent.info.rejected : [], ['gone@example.com']);
    const [received] = await p.waitFor(1, 5000);
    assert.deepEqual(received.rcptTo, ['rcpt@example.com']);
  });

  it('a DATA rule of 550 rejects every attempt and stores nothing', async () => {
    const p = await peer({ onData: '550 5.7.1 content rejected' });
    for (let i = 0; i < 2; i++) {
      const sent = await trySend(p, message);
      assert.equal(sent.ok ? 0 : sent.err.responseCode, 550);
    }
    assert.equal(p.messages.length, 0);
    assert.deepEqual(
      p.decisions.map((d) => d.code),
      [550, 550],
    );
  });

  it('DATA attempts are counted per Message-ID, so each message gets its own script', async () => {
    const p = await peer({ onData: ['451 4.3.0 try later', '250 2.0.0 queued as X'] });
    const a1 = await trySend(p, { ...message, messageId: '<a@example.org>' });
    const b1 = await trySend(p, { ...message, messageId: '<b@example.org>' });
    const a2 = await trySend(p, { ...message, messageId: '<a@example.org>' });
    assert.equal(a1.ok ? 0 : a1.err.responseCode, 451);
    assert.equal(b1.ok ? 0 : b1.err.responseCode, 451);
    assert.equal(a2.ok, true);
    assert.match(a2.ok ? a2.info.response : '', /^250 2\.0\.0 queued as X/);
  });

  it("tls 'none' does not offer STARTTLS and records plaintext delivery", async () => {
    const p = await peer({ tls: 'none' });
    assert.equal(p.cert, undefined);
    const refused = await trySend(p, message, { requireTLS: true });
    assert.equal(refused.ok, false);
    const sent = await trySend(p, message);
    assert.equal(sent.ok, true);
    assert.equal(p.messages[0].tls, false);
  });

  it("tls 'implicit' speaks TLS from the first byte (RFC 8314 §3.3)", async () => {
    const p = await peer({ tls: 'implicit' });
    const plain = await trySend(p, message, { connectionTimeout: 2000, greetingTimeout: 500 });
    assert.equal(plain.ok, false);
    const sent = await trySend(p, message, { secure: true });
    assert.equal(sent.ok, true);
    assert.equal(p.messages.length, 1);
    assert.equal(p.messages[0].tls, true);
  });

  it('requireTls refuses MAIL FROM with 530 before STARTTLS (RFC 3207 §4)', async () => {
    const p = await peer({ requireTls: true });
    const plain = await trySend(p, message, { ignoreTLS: true });
    assert.equal(plain.ok ? 0 : plain.err.responseCode, 530);
    const sent = await trySend(p, message);
    assert.equal(sent.ok, true);
    assert.equal(p.messages[0].tls, true);
  });

  it('AUTH is required when configured: 530 without, 535 with a wrong password (RFC 4954 §6)', async () => {
    const p = await peer({ auth: { user: 'relay', pass: 's3cret' } });
    const anonymous = await trySend(p, message);
    assert.equal(anonymous.ok ? 0 : anonymous.err.responseCode, 530);
    const wrong = await trySend(p, message, { auth: { user: 'relay', pass: 'nope' } });
    assert.equal(wrong.ok ? 0 : wrong.err.responseCode, 535);
    assert.equal(p.messages.length, 0);
    const right = await trySend(p, message, { auth: { user: 'relay', pass: 's3cret', method: 'LOGIN' } });
    assert.equal(right.ok, true);
    assert.equal(p.messages[0].user, 'relay');
    assert.equal(p.messages[0].tls, true); // AUTH is only offered after STARTTLS
  });

  it('onConnect 421 refuses the session before the greeting (RFC 5321 §3.1)', async () => {
    const p = await peer({ onConnect: ['421 4.3.2 busy', '220 welcome'] });
    const first = await trySend(p, message);
    assert.equal(first.ok, false);
    const second = await trySend(p, message);
    assert.equal(second.ok, true);
  });

  it('greets at once: a client talking before the greeting is not refused as an early talker', async () => {
    const p = await peer({ tls: 'none' });
    const socket = connect(p.port, '127.0.0.1');
    socket.write('EHLO early.test\r\n');
    let text = '';
    await new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (/^250 /m.test(text) || /^421 /m.test(text)) resolve();
      });
      socket.once('error', reject);
      socket.once('close', () => resolve());
    });
    socket.destroy();
    assert.match(text, /^220 /);
    assert.doesNotMatch(text, /421/);
    assert.match(text, /^250 /m);
  });

  it('waitFor rejects with code test.timeout when too few messages arrive', async () => {
    const p = await peer();
    await assert.rejects(p.waitFor(1, 50), { code: 'test.timeout' });
  });
});
