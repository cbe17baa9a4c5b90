// End to end: SMTP provider failover with two real SMTP servers on loopback: the primary stops (connection refused) or keeps answering 4xx, the fallback carries the mail, and traffic returns when the primary is back.
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startSmtpPeer, type SmtpPeer } from '../support/smtp-peer.ts';
import { peerProvider, startHarness, type Harness } from './notify-harness.ts';

/** A TCP front for a peer on a fixed port that can be stopped (connection refused) and started again. */
async function startGate(target: number): Promise<{ port: number; stop(): Promise<void>; start(): Promise<void> }> {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  let port = 0;
  const start = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = connect(target, '127.0.0.1');
        sockets.add(client).add(upstream);
        client.pipe(upstream).pipe(client);
        const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as AddressInfo).port;
        resolve();
      });
    });
  await start();
  return {
    get port() { return port; },
    start,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        sockets.clear();
        server!.close(() => resolve());
      }),
  };
}

const idOf = (raw: Buffer) => /^X-Mana-Notification-Id: (\S+)/im.exec(raw.toString('latin1'))?.[1];

async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw Object.assign(new Error(`timed out waiting for ${what}`), { code: 'test.timeout' });
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('SMTP failover: the primary stops', () => {
  let h: Harness;
  let fallback: SmtpPeer;
  let gate: Awaited<ReturnType<typeof startGate>>;
  before(async () => {
    fallback = await startSmtpPeer({ auth: { user: 'relay', pass: 'relay-pass' } });
    // The harness's own peer is the primary, reached through the gate.
    h = await startHarness({
      smtp: async (peer) => {
        gate = await startGate(peer.port);
        return { ...peerProvider(peer), port: gate.port };
      },
      fallback: { host: fallback.host, port: fallback.port, user: 'relay', password: 'relay-pass', from: 'Mana <noreply@mana.test>', insecureTls: true },
      tuning: { failoverThreshold: 2, probeIntervalMs: 200, smtpTimeouts: { connectionMs: 2000, greetingMs: 2000 } },
    });
  });
  after(async () => {
    await h.close();
    await gate.stop().catch(() => {});
    await fallback.close();
  });

  const send = async (to: string) => (await h.call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'fo', recipient: to, subject: 'fo', body: 'b' })).json.notification.id as string;
  const health = async () => (await fetch(`${h.url}/health`).then((r) => r.json() as any)).services.smtp;

  it('sends through the primary while it is up', async () => {
    const primary = h.peer;
    const id = await send('p1@example.org');
    const n = await h.waitFor(id, (x) => x.status === 'sent');
    assert.equal(n.deliveryLogs[0].provider, 'primary');
    assert.ok(primary.messages.some((m) => idOf(m.raw) === id));
    assert.equal((await health()).active, 'primary');
  });

  it('with the primary stopped, every send still succeeds through the fallback, and /health shows the fallback active', async () => {
    await gate.stop();
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await send(`f${i}@example.org`));
    for (const id of ids) {
      const n = await h.waitFor(id, (x) => x.status === 'sent');
      assert.equal(n.deliveryLogs.at(-1).provider, 'fallback');
      assert.ok(fallback.messages.some((m) => idOf(m.raw) === id), 'received by the fallback');
      assert.equal(fallback.messages.find((m) => idOf(m.raw) === id)!.user, 'relay');
    }
    const s = await health();
    assert.equal(s.active, 'fallback');
    assert.ok(s.primary.consecutiveFailures >= 2);
    assert.ok(s.primary.lastError);
  });

  it('when the primary is back, the probe hands traffic back to it', async () => {
    await gate.start();
    await until(async () => (await health()).active === 'primary', 'the switch back to the primary');
    const primary = h.peer;
    const id = await send('back@example.org');
    const n = await h.waitFor(id, (x) => x.status === 'sent');
    assert.equal(n.deliveryLogs.at(-1).provider, 'primary');
    assert.ok(primary.messages.some((m) => idOf(m.raw) === id));
    const metrics = await fetch(`${h.url}/metrics`).then((r) => r.text());
    assert.match(metrics, /mana_notify_smtp_failovers_total\{to="fallback"\} 1/);
    assert.match(metrics, /mana_notify_smtp_failovers_total\{to="primary"\} 1/);
  });
});

describe('SMTP failover: the primary keeps answering 4xx', () => {
  let h: Harness;
  let fallback: SmtpPeer;
  let busy = true;
  before(async () => {
    fallback = await startSmtpPeer({ auth: { user: 'relay', pass: 'relay-pass' } });
    h = await startHarness({
      peer: { onMailFrom: () => (busy ? '451 4.3.0 temporarily unable to accept mail' : undefined) },
      tuning: { failoverThreshold: 3, probeIntervalMs: 60_000, retry: { email: { baseMs: 30, maxAttempts: 5 } } },
      fallback: { host: fallback.host, port: fallback.port, user: 'relay', password: 'relay-pass', from: 'Mana <noreply@mana.test>', insecureTls: true },
    });
  });
  after(async () => {
    await h.close();
    await fallback.close();
  });

  it('a 4xx is retried, and past the threshold the retries go to the fallback', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await h.call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'fo', recipient: `t${i}@example.org`, subject: 's', body: 'b' })).json.notification.id);
    for (const id of ids) {
      const n = await h.waitFor(id, (x) => x.status === 'sent');
      assert.equal(n.deliveryLogs[0].provider, 'primary');
      assert.equal(n.deliveryLogs[0].statusCode, 451);
      assert.equal(n.deliveryLogs.at(-1).provider, 'fallback');
    }
    assert.equal(h.peer.messages.length, 0);
    assert.equal(fallback.messages.length, 3);
    busy = false;
  });
});
