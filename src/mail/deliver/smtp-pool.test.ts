// Tests for outbound connection reuse over real sockets: connections are counted on an smtp-server peer.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { DeliverOptions } from './smtp-client.ts';
import { createSmtpPool, type SmtpPool } from './smtp-pool.ts';
import { startPeer, type Peer } from './test-peer.ts';

function message(n: number): Buffer {
  return Buffer.from(`From: sender@mana.test\r\nTo: rcpt@example.test\r\nSubject: message ${n}\r\n\r\nbody ${n}\r\n`);
}

function options(peer: Peer, n: number, to = ['rcpt@example.test']): DeliverOptions {
  return {
    host: 'mx.example.test',
    address: '127.0.0.1',
    port: peer.port,
    heloName: 'mail.mana.test',
    tls: 'opportunistic',
    envelope: { from: 'sender@mana.test', to },
    raw: message(n),
    timeouts: { connectMs: 5000, greetingMs: 5000, commandMs: 10_000 },
  };
}

describe('mail/deliver/smtp-pool', () => {
  const peers: Peer[] = [];
  const pools: SmtpPool[] = [];

  async function setup(peerOptions: Parameters<typeof startPeer>[0] = {}, poolOptions: Parameters<typeof createSmtpPool>[0] = {}) {
    const peer = await startPeer(peerOptions);
    const pool = createSmtpPool(poolOptions);
    peers.push(peer);
    pools.push(pool);
    return { peer, pool };
  }

  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
    await Promise.all(peers.map((p) => p.close()));
  });

  it('sends a second message to the same host over the same connection (RFC 5321 §3.3)', async () => {
    const { peer, pool } = await setup();
    const first = await pool.deliver(options(peer, 1));
    const second = await pool.deliver(options(peer, 2));
    assert.equal(first.recipients[0]?.status, 'delivered');
    assert.equal(second.recipients[0]?.status, 'delivered');
    assert.equal(first.reused, false);
    assert.equal(second.reused, true);
    assert.equal(peer.connections, 1);
    assert.equal(peer.received.length, 2);
    assert.match(peer.received[1]?.data.toString() ?? '', /Subject: message 2/);
    assert.deepEqual(pool.stats(), { opened: 1, idle: 1, busy: 0 });
  });

  it('resets the transaction after refused recipients and reuses the connection (RFC 5321 §4.1.1.5)', async () => {
    const { peer, pool } = await setup();
    const refused = await pool.deliver(options(peer, 1, ['reject@example.test']));
    assert.equal(refused.recipients[0]?.status, 'failed');
    const next = await pool.deliver(options(peer, 2, ['ok@example.test']));
    assert.equal(next.recipients[0]?.status, 'delivered');
    assert.equal(next.reused, true);
    assert.equal(peer.connections, 1);
    assert.deepEqual(peer.received[0]?.to, ['ok@example.test']);
  });

  it('never opens more than maxPerHost connections to one destination', async () => {
    const { peer, pool } = await setup({}, { maxPerHost: 1 });
    const results = await Promise.all([1, 2, 3].map((n) => pool.deliver(options(peer, n))));
    assert.deepEqual(
      results.map((r) => r.recipients[0]?.status),
      ['delivered', 'delivered', 'delivered'],
    );
    assert.equal(peer.connections, 1);
    assert.equal(peer.received.length, 3);
  });

  it('closes a connection that stayed idle for idleMs, and opens a new one next time', async () => {
    const { peer, pool } = await setup({}, { idleMs: 20 });
    await pool.deliver(options(peer, 1));
    await peer.waitClosed(1);
    assert.equal(pool.stats().idle, 0);
    const again = await pool.deliver(options(peer, 2));
    assert.equal(again.recipients[0]?.status, 'delivered');
    assert.equal(again.reused, false);
    assert.equal(peer.connections, 2);
  });

  it('does not reuse a connection the server closed while it was idle (RFC 5321 §4.5.3.2.7)', async () => {
    // The server's idle timeout must outlast its 100 ms greeting delay.
    const { peer, pool } = await setup({ socketTimeoutMs: 500 }, { idleMs: 60_000 });
    await pool.deliver(options(peer, 1));
    await peer.waitClosed(1);
    const again = await pool.deliver(options(peer, 2));
    assert.equal(again.recipients[0]?.status, 'delivered');
    assert.equal(peer.connections, 2);
    assert.equal(peer.received.length, 2);
  });

  it('closes after maxMessagesPerConnection messages', async () => {
    const { peer, pool } = await setup({}, { maxMessagesPerConnection: 2 });
    for (const n of [1, 2, 3]) assert.equal((await pool.deliver(options(peer, n))).recipients[0]?.status, 'delivered');
    assert.equal(peer.connections, 2);
  });

  it('close() ends idle connections with QUIT and refuses further deliveries', async () => {
    const { peer, pool } = await setup();
    await pool.deliver(options(peer, 1));
    await pool.close();
    await peer.waitClosed(1);
    const refused = await pool.deliver(options(peer, 2));
    assert.equal(refused.recipients[0]?.status, 'deferred');
    assert.equal(peer.connections, 1);
  });

  it('a failed connection attempt is not pooled and frees its slot', async () => {
    const { peer, pool } = await setup({ onConnect: () => '421 4.3.2 busy' }, { maxPerHost: 1 });
    const results = await Promise.all([1, 2].map((n) => pool.deliver(options(peer, n))));
    assert.deepEqual(
      results.map((r) => [r.recipients[0]?.status, r.failure?.stage]),
      [
        ['deferred', 'greeting'],
        ['deferred', 'greeting'],
      ],
    );
    assert.equal(peer.connections, 2);
    assert.deepEqual(pool.stats(), { opened: 0, idle: 0, busy: 0 });
  });
});
