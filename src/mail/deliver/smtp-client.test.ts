// Tests for the outbound SMTP client over real sockets: smtp-server peers on port 0 and Postfix's smtp-sink.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../../test/support/tmp.ts';
import { deliverToHost, type DeliverOptions } from './smtp-client.ts';
import { selfSignedCert, startPeer, type Peer } from './test-peer.ts';

const MESSAGE = Buffer.from(
  ['From: sender@mana.test', 'To: rcpt@example.test', 'Subject: hello', 'Message-ID: <1@mana.test>', '', 'line one', '.leading dot', 'last line', ''].join('\r\n'),
);

function options(peer: { port: number }, overrides: Partial<DeliverOptions> = {}): DeliverOptions {
  return {
    host: 'mx.example.test',
    address: '127.0.0.1',
    port: peer.port,
    heloName: 'mail.mana.test',
    tls: 'opportunistic',
    envelope: { from: 'sender@mana.test', to: ['rcpt@example.test'] },
    raw: MESSAGE,
    timeouts: { connectMs: 5000, greetingMs: 5000, commandMs: 10_000 },
    ...overrides,
  };
}

describe('mail/deliver/smtp-client', () => {
  const peers: Peer[] = [];
  let cert: { key: string; cert: string };
  let otherCert: { key: string; cert: string };

  async function peer(opts: Parameters<typeof startPeer>[0] = {}): Promise<Peer> {
    const p = await startPeer(opts);
    peers.push(p);
    return p;
  }

  before(async () => {
    cert = await selfSignedCert(['mx.example.test']);
    otherCert = await selfSignedCert(['someone.else.test']);
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.close()));
  });

  it('delivers a message: 250 after the final dot marks every recipient delivered (RFC 5321 §4.1.1.4)', async () => {
    const p = await peer();
    const result = await deliverToHost(options(p, { tls: 'none', envelope: { from: 'sender@mana.test', to: ['a@example.test', 'b@example.test'] } }));
    assert.equal(result.failure, null);
    assert.deepEqual(
      result.recipients.map((r) => [r.rcpt, r.status, r.code]),
      [
        ['a@example.test', 'delivered', 250],
        ['b@example.test', 'delivered', 250],
      ],
    );
    assert.match(result.recipients[0]?.text ?? '', /queued as TEST1/);
    assert.equal(result.tls, null);
    assert.deepEqual(result.remote, { host: 'mx.example.test', address: '127.0.0.1', port: p.port });
    assert.equal(p.received.length, 1);
    assert.equal(p.received[0]?.from, 'sender@mana.test');
    assert.deepEqual(p.received[0]?.to, ['a@example.test', 'b@example.test']);
    // RFC 5321 §4.5.2: the leading dot is doubled on the wire and removed by the server.
    assert.equal(p.received[0]?.data.toString(), MESSAGE.toString());
  });

  it('sends the null reverse-path for a DSN (RFC 5321 §4.5.5) and a streamed body', async () => {
    const p = await peer();
    const result = await deliverToHost(options(p, { tls: 'none', envelope: { from: '', to: ['rcpt@example.test'] }, raw: Readable.from([MESSAGE.subarray(0, 20), MESSAGE.subarray(20)]) }));
    assert.equal(result.recipients[0]?.status, 'delivered');
    assert.deepEqual(p.mailFrom, ['']);
    assert.equal(p.received[0]?.data.toString(), MESSAGE.toString());
  });

  it('passes RFC 3461 DSN parameters when the server offers DSN', async () => {
    const p = await peer();
    const result = await deliverToHost(options(p, { tls: 'none', envelope: { from: 'sender@mana.test', to: ['rcpt@example.test'], dsn: { ret: 'HDRS', envid: 'env-42', notify: ['FAILURE', 'DELAY'] } } }));
    assert.equal(result.recipients[0]?.status, 'delivered');
    assert.deepEqual(p.received[0]?.dsn, { ret: 'HDRS', envid: 'env-42', notify: [['FAILURE', 'DELAY']] });
  });

  it('RCPT 4xx defers that recipient and 5xx fails it, each with its own reply (RFC 5321 §4.1.1.3)', async () => {
    const p = await peer();
    const result = await deliverToHost(options(p, { tls: 'none', envelope: { from: 'sender@mana.test', to: ['ok@example.test', 'defer@example.test', 'reject@example.test'] } }));
    assert.equal(result.failure, null);
    assert.deepEqual(
      result.recipients.map((r) => [r.rcpt, r.status, r.code, r.enhanced]),
      [
        ['ok@example.test', 'delivered', 250, '2.6.0'],
        ['defer@example.test', 'deferred', 450, '4.2.1'],
        ['reject@example.test', 'failed', 550, '5.1.1'],
      ],
    );
    assert.match(result.recipients[2]?.text ?? '', /no such user/);
    assert.deepEqual(p.received[0]?.to, ['ok@example.test']);
  });

  it('when every RCPT is refused no DATA is sent and each recipient keeps its reply', async () => {
    const p = await peer();
    const result = await deliverToHost(options(p, { tls: 'none', envelope: { from: 'sender@mana.test', to: ['defer@example.test', 'reject@example.test'] } }));
    assert.deepEqual(
      result.recipients.map((r) => [r.status, r.code]),
      [
        ['deferred', 450],
        ['failed', 550],
      ],
    );
    assert.equal(p.received.length, 0);
  });

  it('MAIL FROM refused with 5xx fails every recipient, with 4xx defers them (RFC 5321 §4.1.1.2)', async () => {
    const p = await peer({ onMail: (from) => (from.startsWith('blocked') ? '550 5.7.1 sender blocked' : from.startsWith('slow') ? '451 4.7.1 try later' : undefined) });
    const hard = await deliverToHost(options(p, { tls: 'none', envelope: { from: 'blocked@mana.test', to: ['a@example.test', 'b@example.test'] } }));
    assert.equal(hard.failure?.stage, 'mail');
    assert.deepEqual(
      hard.recipients.map((r) => [r.status, r.code]),
      [
        ['failed', 550],
        ['failed', 550],
      ],
    );
    const soft = await deliverToHost(options(p, { tls: 'none', envelope: { from: 'slow@mana.test', to: ['a@example.test'] } }));
    assert.deepEqual(
      soft.recipients.map((r) => [r.status, r.code]),
      [['deferred', 451]],
    );
    assert.equal(p.received.length, 0);
  });

  it('a refusal after the final dot applies to the accepted recipients only (RFC 5321 §4.1.1.4)', async () => {
    const p = await peer({ onMessage: () => '554 5.7.1 message looks like spam' });
    const result = await deliverToHost(options(p, { tls: 'none', envelope: { from: 'sender@mana.test', to: ['ok@example.test', 'defer@example.test'] } }));
    assert.equal(result.failure?.stage, 'message');
    assert.deepEqual(
      result.recipients.map((r) => [r.rcpt, r.status, r.code]),
      [
        ['ok@example.test', 'failed', 554],
        ['defer@example.test', 'deferred', 450],
      ],
    );
  });

  it('a message larger than the server’s SIZE fails without sending it (RFC 1870)', async () => {
    const p = await peer({ size: 100 });
    const result = await deliverToHost(options(p, { tls: 'none', raw: Buffer.concat([MESSAGE, Buffer.alloc(500, 'x')]) }));
    assert.equal(result.recipients[0]?.status, 'failed');
    assert.equal(result.recipients[0]?.enhanced, '5.3.4');
    assert.equal(p.received.length, 0);
  });

  it('uses STARTTLS when offered and accepts a self-signed certificate (RFC 3207, RFC 7435)', async () => {
    const p = await peer({ tls: cert });
    const result = await deliverToHost(options(p));
    assert.equal(result.recipients[0]?.status, 'delivered');
    assert.ok(result.tls !== null);
    assert.match(result.tls.version, /^TLSv1\.[23]$/);
    assert.ok(result.tls.cipher.length > 0);
    assert.equal(result.tls.authorized, false);
    assert.equal(result.tlsFallback, false);
    assert.equal(p.received[0]?.secure, true);
  });

  it('required-verified delivers over TLS when the certificate is valid for the MX host (RFC 8461 §4.2)', async () => {
    const p = await peer({ tls: cert });
    const result = await deliverToHost(options(p, { tls: 'required-verified', ca: cert.cert }));
    assert.equal(result.recipients[0]?.status, 'delivered');
    assert.equal(result.tls?.authorized, true);
    assert.equal(p.received[0]?.secure, true);
  });

  it('required-verified with an untrusted certificate defers and never sends the message in plaintext (RFC 8461 §5)', async () => {
    const p = await peer({ tls: otherCert });
    const result = await deliverToHost(options(p, { tls: 'required-verified', ca: cert.cert }));
    assert.equal(result.failure?.stage, 'tls');
    assert.deepEqual(
      result.recipients.map((r) => [r.status, r.code, r.enhanced]),
      [['deferred', 0, '4.7.5']],
    );
    assert.equal(p.connections, 1, 'no plaintext retry');
    assert.deepEqual(p.mailFrom, []);
    assert.equal(p.received.length, 0);
  });

  it('required-verified defers when the server does not offer STARTTLS (RFC 8461 §5)', async () => {
    const p = await peer();
    const result = await deliverToHost(options(p, { tls: 'required-verified', ca: cert.cert }));
    assert.equal(result.failure?.stage, 'tls');
    assert.equal(result.recipients[0]?.status, 'deferred');
    assert.equal(result.recipients[0]?.enhanced, '4.7.4');
    assert.deepEqual(p.mailFrom, []);
  });

  it('opportunistic TLS falls back to a plaintext connection when the handshake fails (RFC 7435 §4)', async () => {
    // The server speaks only TLS 1.1, which the client refuses (RFC 8996).
    const p = await peer({ tls: { ...cert, maxVersion: 'TLSv1.1' } });
    const result = await deliverToHost(options(p));
    assert.equal(result.recipients[0]?.status, 'delivered');
    assert.equal(result.tlsFallback, true);
    assert.equal(result.tls, null);
    assert.equal(p.connections, 2);
    assert.equal(p.received[0]?.secure, false);
  });

  it('authenticates to a smart host after STARTTLS (RFC 4954)', async () => {
    const p = await peer({ tls: cert, users: { relayuser: 's3cret' } });
    const result = await deliverToHost(options(p, { auth: { user: 'relayuser', pass: 's3cret' } }));
    assert.equal(result.recipients[0]?.status, 'delivered');
    assert.deepEqual(p.auths, [{ user: 'relayuser', ok: true, secure: true }]);
  });

  it('refused credentials defer the message with the server’s reply (RFC 4954 §6)', async () => {
    const p = await peer({ tls: cert, users: { relayuser: 's3cret' } });
    const result = await deliverToHost(options(p, { auth: { user: 'relayuser', pass: 'wrong' } }));
    assert.equal(result.failure?.stage, 'auth');
    assert.deepEqual(
      result.recipients.map((r) => [r.status, r.code]),
      [['deferred', 535]],
    );
    assert.deepEqual(p.mailFrom, []);
  });

  it('never sends credentials over a connection that could not be encrypted', async () => {
    const p = await peer({ users: { relayuser: 's3cret' }, allowInsecureAuth: true });
    const result = await deliverToHost(options(p, { auth: { user: 'relayuser', pass: 's3cret' } }));
    assert.equal(result.failure?.stage, 'tls');
    assert.equal(result.recipients[0]?.status, 'deferred');
    assert.deepEqual(p.auths, []);
    assert.deepEqual(p.mailFrom, []);
  });

  it('delivers over implicit TLS (RFC 8314 §3.3) and verifies the certificate when required', async () => {
    const p = await peer({ tls: cert, implicitTls: true, users: { relayuser: 's3cret' } });
    const result = await deliverToHost(options(p, { implicitTls: true, tls: 'required-verified', ca: cert.cert, auth: { user: 'relayuser', pass: 's3cret' } }));
    assert.equal(result.recipients[0]?.status, 'delivered');
    assert.equal(result.tls?.authorized, true);
    assert.equal(p.received[0]?.secure, true);
    const untrusted = await deliverToHost(options(p, { implicitTls: true, tls: 'required-verified', ca: otherCert.cert }));
    assert.equal(untrusted.failure?.stage, 'tls');
    assert.equal(untrusted.recipients[0]?.status, 'deferred');
    assert.equal(p.received.length, 1);
  });

  it('a refused connection defers every recipient (RFC 5321 §4.5.4.1)', async () => {
    const port = await freePort();
    const result = await deliverToHost(options({ port }, { envelope: { from: 'sender@mana.test', to: ['a@example.test', 'b@example.test'] } }));
    assert.equal(result.failure?.stage, 'connect');
    assert.deepEqual(
      result.recipients.map((r) => [r.status, r.code, r.enhanced]),
      [
        ['deferred', 0, '4.4.1'],
        ['deferred', 0, '4.4.1'],
      ],
    );
    assert.match(result.recipients[0]?.text ?? '', /ECONNREFUSED/);
  });

  it('a 4xx greeting defers every recipient (RFC 5321 §3.1)', async () => {
    const p = await peer({ onConnect: () => '421 4.3.2 too busy' });
    const result = await deliverToHost(options(p));
    assert.equal(result.failure?.stage, 'greeting');
    assert.deepEqual(
      result.recipients.map((r) => [r.status, r.code]),
      [['deferred', 421]],
    );
    assert.deepEqual(p.mailFrom, []);
  });

  it('a server that never greets times out and defers', async () => {
    const { createServer } = await import('node:net');
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const result = await deliverToHost(options({ port }, { timeouts: { connectMs: 2000, greetingMs: 200, commandMs: 2000 } }));
      assert.equal(result.recipients[0]?.status, 'deferred');
      assert.match(result.recipients[0]?.text ?? '', /timed out/);
    } finally {
      silent.close();
      silent.unref();
    }
  });

  it('an abort stops the delivery and defers', async () => {
    const p = await peer();
    const controller = new AbortController();
    controller.abort();
    const result = await deliverToHost(options(p, { signal: controller.signal }));
    assert.equal(result.failure?.stage, 'aborted');
    assert.equal(result.recipients[0]?.status, 'deferred');
  });

  it('refuses an address that cannot be written on a command line, alone (RFC 5321 §4.1.2)', async () => {
    const p = await peer();
    const result = await deliverToHost(options(p, { tls: 'none', envelope: { from: 'sender@mana.test', to: ['ok@example.test', 'bad>@example.test\r\nRSET'] } }));
    assert.deepEqual(
      result.recipients.map((r) => [r.status, r.enhanced ?? String(r.code)]),
      [
        ['delivered', '2.6.0'],
        ['failed', '5.1.3'],
      ],
    );
    assert.deepEqual(p.received[0]?.to, ['ok@example.test']);
    const badSender = await deliverToHost(options(p, { tls: 'none', envelope: { from: 'x>@mana.test', to: ['ok@example.test'] } }));
    assert.deepEqual(
      badSender.recipients.map((r) => [r.status, r.enhanced]),
      [['failed', '5.1.7']],
    );
    assert.equal(p.received.length, 1);
  });

  describe('against Postfix smtp-sink', () => {
    const sinks: ChildProcess[] = [];

    /** Starts /usr/sbin/smtp-sink on a free port with extra flags and waits until it accepts connections. */
    async function startSink(flags: string[]): Promise<number> {
      const port = await freePort();
      const asRoot = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
      const sink = spawn('/usr/sbin/smtp-sink', [...asRoot, '-c', ...flags, `127.0.0.1:${port}`, '100'], { stdio: 'ignore' });
      sinks.push(sink);
      for (let i = 0; ; i++) {
        const up = await new Promise<boolean>((resolve) => {
          const s = connect(port, '127.0.0.1', () => {
            s.destroy();
            resolve(true);
          });
          s.on('error', () => resolve(false));
        });
        if (up) return port;
        if (i > 100 || sink.exitCode !== null) throw new Error('smtp-sink did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    after(() => {
      for (const sink of sinks) sink.kill();
    });

    it('delivers to smtp-sink with PIPELINING (RFC 2920)', async () => {
      const port = await startSink([]);
      const result = await deliverToHost(options({ port }, { tls: 'none', envelope: { from: 'sender@mana.test', to: ['a@example.test', 'b@example.test'] } }));
      assert.equal(result.failure, null);
      assert.deepEqual(
        result.recipients.map((r) => [r.status, r.code]),
        [
          ['delivered', 250],
          ['delivered', 250],
        ],
      );
    });

    it('a pipelined envelope whose RCPTs get 4xx from smtp-sink is deferred, DATA refused', async () => {
      const port = await startSink(['-r', 'RCPT']);
      const result = await deliverToHost(options({ port }, { tls: 'none', envelope: { from: 'sender@mana.test', to: ['a@example.test', 'b@example.test'] } }));
      assert.deepEqual(
        result.recipients.map((r) => [r.status, Math.floor(r.code / 100)]),
        [
          ['deferred', 4],
          ['deferred', 4],
        ],
      );
    });

    it('a connection lost after the final dot defers: the outcome is unknown (RFC 5321 §6.1)', async () => {
      const port = await startSink(['-q', '.']);
      const result = await deliverToHost(options({ port }, { tls: 'none' }));
      assert.equal(result.failure?.stage, 'connection');
      assert.deepEqual(
        result.recipients.map((r) => [r.status, r.code, r.enhanced]),
        [['deferred', 0, '4.4.2']],
      );
    });

    it('a 5xx reply from smtp-sink after the final dot fails the recipients', async () => {
      const port = await startSink(['-f', '.']);
      const result = await deliverToHost(options({ port }, { tls: 'none' }));
      assert.equal(result.failure?.stage, 'message');
      assert.equal(result.recipients[0]?.status, 'failed');
      assert.equal(Math.floor((result.recipients[0]?.code ?? 0) / 100), 5);
    });
  });
});
