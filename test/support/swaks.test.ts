// Tests for the swaks runner: a real SMTP client against the test peer (RFC 5321, RFC 2920 pipelining, RFC 4954 AUTH).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startSmtpPeer } from './smtp-peer.ts';
import type { SmtpPeer } from './smtp-peer.ts';
import { SWAKS_EXIT, parseTranscript, runSwaks, swaksArgs } from './swaks.ts';

const peers: SmtpPeer[] = [];
after(() => Promise.all(peers.map((p) => p.close())));

describe('test/support/swaks', () => {
  it('swaksArgs spells the common options', () => {
    assert.deepEqual(
      swaksArgs({ port: 2525, from: 'a@x.test', to: ['b@y.test', 'c@y.test'], tls: 'starttls', auth: 'PLAIN', user: 'u', password: 'p', pipeline: true }),
      ['--server', '127.0.0.1', '--port', '2525', '--timeout', '10', '--from', 'a@x.test', '--to', 'b@y.test,c@y.test', '--tls', '--auth', 'PLAIN', '--auth-user', 'u', '--auth-password', 'p', '--pipeline'],
    );
  });

  it('parseTranscript keeps the hint of each line', () => {
    const lines = parseTranscript('=== Trying 127.0.0.1:25...\n<-  220 hi\n -> EHLO x\n<~  250 ok\n<** 550 no\n*** oops\n');
    assert.deepEqual(
      lines.map((l) => l.hint),
      ['===', '<-', '->', '<~', '<**', '***'],
    );
    assert.equal(lines[1].text, '220 hi');
  });

  it('delivers with STARTTLS, AUTH PLAIN and PIPELINING to an authenticating peer', async () => {
    const peer = await startSmtpPeer({ auth: { user: 'relay', pass: 'pw' } });
    peers.push(peer);
    const result = await runSwaks(
      swaksArgs({ port: peer.port, from: 'a@x.test', to: 'b@y.test', tls: 'starttls', auth: 'PLAIN', user: 'relay', password: 'pw', pipeline: true, ehlo: 'swaks.test' }),
    );
    assert.equal(result.code, SWAKS_EXIT.ok, result.transcript);
    assert.ok(result.lines.some((l) => l.hint === '~>' && /^AUTH PLAIN/.test(l.text)));
    const [received] = await peer.waitFor(1, 5000);
    assert.equal(received.tls, true);
    assert.equal(received.user, 'relay');
    assert.equal(received.helo, 'swaks.test');
  });

  it('reports a refused recipient as exit code 24 with the server reply', async () => {
    const peer = await startSmtpPeer({ tls: 'none', onRcpt: '550 5.1.1 no such user' });
    peers.push(peer);
    const result = await runSwaks(swaksArgs({ port: peer.port, from: 'a@x.test', to: 'gone@y.test' }));
    assert.equal(result.code, SWAKS_EXIT.noRcptAccepted);
    assert.ok(result.replies.includes('550 5.1.1 no such user'), result.transcript);
  });

  it('a connection refused is exit code 2, not an exception', async () => {
    const peer = await startSmtpPeer({ tls: 'none' });
    const port = peer.port;
    await peer.close();
    const result = await runSwaks(swaksArgs({ port, from: 'a@x.test', to: 'b@y.test' }));
    assert.equal(result.code, SWAKS_EXIT.connectFailed);
  });
});
