// Tests for one SMTP provider of notify against real peers: STARTTLS required (RFC 3207) unless insecure, implicit TLS on 465-style ports (RFC 8314), AUTH (RFC 4954), reply classes (RFC 5321 §4.2.1).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startSmtpPeer, type SmtpPeer, type SmtpPeerOptions } from '../../test/support/smtp-peer.ts';
import { classifySmtpError, createSmtpSender, queueIdFromReply, SmtpSendError, type SmtpProvider } from './smtp-provider.ts';

const peers: SmtpPeer[] = [];
after(() => Promise.all(peers.map((p) => p.close())));
async function peer(options: SmtpPeerOptions = {}): Promise<SmtpPeer> {
  const p = await startSmtpPeer({ auth: { user: 'u', pass: 'p', ...(options.auth ?? {}) }, ...options });
  peers.push(p);
  return p;
}
const message = { envelope: { from: 'noreply@mana.test', to: ['r@example.org'] }, raw: Buffer.from('From: noreply@mana.test\r\nTo: r@example.org\r\nSubject: t\r\nMessage-ID: <t1@mana.test>\r\n\r\nhi\r\n') };
const provider = (p: SmtpPeer, extra: Partial<SmtpProvider> = {}): Partial<SmtpProvider> => ({ host: p.host, port: p.port, user: 'u', password: 'p', from: 'noreply@mana.test', insecureTls: true, ...extra });

async function attempt(p: Partial<SmtpProvider>) {
  const s = createSmtpSender({ name: 'primary', provider: p, timeouts: { connectionMs: 3000, greetingMs: 3000, socketMs: 5000 } });
  try {
    return { ok: true as const, result: await s.send(message) };
  } catch (err) {
    return { ok: false as const, err: err as SmtpSendError };
  } finally {
    s.close();
  }
}

describe('smtp provider', () => {
  it('submits after STARTTLS and AUTH and reads the queue id from the 250 reply', async () => {
    const p = await peer({ onData: () => '250 2.0.0 Ok: queued as ABC123' });
    const r = await attempt(provider(p));
    assert.equal(r.ok, true);
    assert.equal(r.ok && r.result.queueId, 'ABC123');
    assert.equal(p.messages[0]!.tls, true);
    assert.equal(p.messages[0]!.user, 'u');
  });

  it('a certificate that does not verify is refused unless SMTP_INSECURE_TLS is set', async () => {
    const p = await peer();
    const r = await attempt(provider(p, { insecureTls: false }));
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.err.kind, 'provider');
    assert.equal(p.messages.length, 0);
  });

  it('without insecureTls a server that offers no STARTTLS is refused; with it, the original\'s plaintext fallback applies', async () => {
    const p = await peer({ tls: 'none', auth: { user: 'u', pass: 'p', allowInsecure: true } });
    const strict = await attempt(provider(p, { insecureTls: false }));
    assert.equal(strict.ok, false);
    assert.equal(p.messages.length, 0);
    const lax = await attempt(provider(p, { insecureTls: true }));
    assert.equal(lax.ok, true);
    assert.equal(p.messages[0]!.tls, false);
  });

  it('speaks implicit TLS when the provider says secure (port 465 style)', async () => {
    const p = await peer({ tls: 'implicit' });
    const r = await attempt(provider(p, { secure: true }));
    assert.equal(r.ok, true);
    assert.equal(p.messages[0]!.tls, true);
  });

  it('wrong credentials and refused connections are provider failures; 4xx transient; 5xx permanent', async () => {
    const p = await peer();
    const auth = await attempt(provider(p, { password: 'wrong' }));
    assert.equal(!auth.ok && auth.err.kind, 'provider');
    const closed = await peer();
    await closed.close();
    const refused = await attempt(provider(closed));
    assert.equal(!refused.ok && refused.err.kind, 'provider');
    const busy = await peer({ onRcpt: '451 4.7.1 later' });
    const b = await attempt(provider(busy));
    assert.equal(!b.ok && b.err.kind, 'transient');
    assert.equal(!b.ok && b.err.responseCode, 451);
    const no = await peer({ onRcpt: '550 5.1.1 unknown' });
    const n = await attempt(provider(no));
    assert.equal(!n.ok && n.err.kind, 'permanent');
    assert.match(!n.ok ? n.err.message : '', /550 5\.1\.1 unknown/);
  });

  it('with no user or password it fails at once with "smtp not configured" and opens no connection', async () => {
    const p = await peer();
    const r = await attempt(provider(p, { password: '' }));
    assert.equal(!r.ok && r.err.kind, 'config');
    assert.equal(!r.ok && r.err.message, 'smtp not configured');
    assert.equal(p.connections.length, 0);
  });

  it('probe() tells whether the provider takes connections and credentials', async () => {
    const p = await peer();
    const good = createSmtpSender({ name: 'primary', provider: provider(p) });
    const bad = createSmtpSender({ name: 'primary', provider: provider(p, { password: 'x' }) });
    try {
      assert.equal(await good.probe(), true);
      assert.equal(await bad.probe(), false);
    } finally {
      good.close();
      bad.close();
    }
  });
});

describe('classifySmtpError / queueIdFromReply', () => {
  it('421 and connection-level codes mean the provider is failing (RFC 5321 §3.8)', () => {
    assert.equal(classifySmtpError({ responseCode: 421 }).kind, 'provider');
    assert.equal(classifySmtpError({ code: 'ETIMEDOUT' }).kind, 'provider');
    assert.equal(classifySmtpError({ code: 'EAUTH', responseCode: 535 }).kind, 'provider');
    assert.equal(classifySmtpError({ code: 'EENVELOPE', responseCode: 503 }).kind, 'transient');
    assert.equal(classifySmtpError({ code: 'EENVELOPE', responseCode: 552 }).kind, 'permanent');
  });
  it('finds the queue id in common 250 replies', () => {
    assert.equal(queueIdFromReply('250 2.0.0 Ok: queued as 4FxYz'), '4FxYz');
    assert.equal(queueIdFromReply('250 2.0.0 Message queued with id=abc-1'), 'abc-1');
    assert.equal(queueIdFromReply('250 ok'), undefined);
  });
});
