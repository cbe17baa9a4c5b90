// Tests for notify's SMTP thread: messages composed there (RFC 5322, MIME) and submitted there (RFC 5321, AUTH per RFC 4954) come out as in-process, failures keep their kind and code, and a thread that cannot start falls back to in-process work.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { startSmtpPeer, type SmtpPeer } from '../../test/support/smtp-peer.ts';
import type { Logger } from '../lib/log.ts';
import { SmtpSendError } from './smtp-provider.ts';
import { startSmtpThread, type SmtpThread } from './smtp-thread.ts';

const peers: SmtpPeer[] = [];
const threads: SmtpThread[] = [];
after(async () => {
  await Promise.all(threads.map((t) => t.close()));
  await Promise.all(peers.map((p) => p.close()));
});
async function peer(options: Parameters<typeof startSmtpPeer>[0] = {}): Promise<SmtpPeer> {
  const p = await startSmtpPeer({ auth: { user: 'u', pass: 'p' }, ...options });
  peers.push(p);
  return p;
}
function thread(options: Parameters<typeof startSmtpThread>[0] = {}): SmtpThread {
  const t = startSmtpThread(options);
  threads.push(t);
  return t;
}
const timeouts = { connectionMs: 3000, greetingMs: 3000, socketMs: 5000 };
const mail = { from: 'Mana <noreply@mana.test>', to: ['Ada <ada@example.org>'], subject: 'Grüße', html: '<p>Hello <b>Ada</b></p>', headers: { 'X-Mana-Notification-Id': 'n-1' } };

describe('smtp thread', () => {
  it('composes a multipart/alternative message that parses back to what was asked for (RFC 2046 §5.1.4, RFC 2047)', async () => {
    const c = await thread().compose(mail);
    const parsed = await simpleParser(c.raw);
    assert.equal(parsed.subject, 'Grüße');
    assert.equal(parsed.from?.value[0]?.address, 'noreply@mana.test');
    assert.equal(parsed.html, '<p>Hello <b>Ada</b></p>');
    assert.match(parsed.text ?? '', /Hello Ada/);
    assert.equal(parsed.messageId, c.messageId);
    assert.equal(parsed.headers.get('x-mana-notification-id'), 'n-1');
    assert.deepEqual(c.envelope, { from: 'noreply@mana.test', to: ['ada@example.org'] });
  });

  it('a compose error keeps its code (header injection is refused on the thread too)', async () => {
    await assert.rejects(thread().compose({ ...mail, subject: 'x\r\nBcc: victim@example.org' }), { code: 'compose.header_injection' });
  });

  it('submits through the provider after STARTTLS and AUTH and returns the 250 reply and queue id', async () => {
    const p = await peer({ onData: () => '250 2.0.0 Ok: queued as Q42' });
    const t = thread();
    const s = t.sender({ name: 'primary', provider: { host: p.host, port: p.port, user: 'u', password: 'p', insecureTls: true }, timeouts });
    const c = await t.compose(mail);
    const accepted = await s.send({ envelope: c.envelope, raw: c.raw });
    assert.equal(accepted.queueId, 'Q42');
    assert.equal(p.messages.length, 1);
    assert.equal(p.messages[0]!.tls, true);
    assert.equal(p.messages[0]!.user, 'u');
    assert.equal(p.messages[0]!.raw.toString('latin1'), c.raw.toString('latin1'));
    assert.equal(await s.probe(), true);
    s.close();
  });

  it('failures come back as SmtpSendError with their kind: 550 permanent, 451 transient, refused connection provider (RFC 5321 §4.2.1)', async () => {
    const p = await peer({ onRcpt: ['550 5.1.1 no such user', '451 4.3.0 later'] });
    const t = thread();
    const s = t.sender({ name: 'fallback', provider: { host: p.host, port: p.port, user: 'u', password: 'p', insecureTls: true }, timeouts });
    const message = { envelope: { from: 'noreply@mana.test', to: ['r@example.org'] }, raw: Buffer.from('Subject: t\r\n\r\nhi\r\n') };
    const permanent = await s.send(message).catch((e: unknown) => e);
    assert.ok(permanent instanceof SmtpSendError);
    assert.equal(permanent.kind, 'permanent');
    assert.equal(permanent.responseCode, 550);
    assert.equal(permanent.provider, 'fallback');
    const transient = await s.send(message).catch((e: unknown) => e);
    assert.ok(transient instanceof SmtpSendError);
    assert.equal(transient.kind, 'transient');
    assert.equal(transient.responseCode, 451);
    s.close();
    await p.close();
    const gone = t.sender({ name: 'primary', provider: { host: p.host, port: p.port, user: 'u', password: 'p', insecureTls: true }, timeouts });
    const refused = await gone.send(message).catch((e: unknown) => e);
    assert.ok(refused instanceof SmtpSendError);
    assert.equal(refused.kind, 'provider');
    assert.equal(await gone.probe(), false);
  });

  it('a sender without user or password fails at once with "smtp not configured"', async () => {
    const s = thread().sender({ name: 'primary', provider: { host: '127.0.0.1', port: 1 } });
    assert.equal(s.configured, false);
    await assert.rejects(s.send({ envelope: { from: 'a@b.test', to: ['c@d.test'] }, raw: Buffer.from('x') }), { message: 'smtp not configured', kind: 'config' });
  });

  for (const [how, execArgv] of [['cannot be created', ['--no-such-flag']], ['fails while loading', ['--input-type=module']]] as const) {
    it(`when the thread ${how}, composing and sending happen in-process`, async () => {
      const warnings: string[] = [];
      const log = { warn: (_o: unknown, m: string) => warnings.push(m) } as unknown as Logger;
      const p = await peer();
      const t = thread({ execArgv: [...execArgv], log });
      const s = t.sender({ name: 'primary', provider: { host: p.host, port: p.port, user: 'u', password: 'p', insecureTls: true }, timeouts });
      const c = await t.compose(mail);
      await s.send({ envelope: c.envelope, raw: c.raw });
      await s.send({ envelope: c.envelope, raw: c.raw });
      assert.equal(p.messages.length, 2);
      assert.deepEqual(warnings, ['smtp thread could not start, composing and sending in-process']);
      s.close();
    });
  }
});
