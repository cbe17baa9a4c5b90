// Whole path: two mail nodes on one PostgreSQL store share the outbound queue (leases, FOR UPDATE SKIP LOCKED, lease expiry):
// every message is delivered exactly once, and the leased work of a node that dies (SIGKILL) is taken over by the other.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { startMail, type RunningMail } from '../../src/mail/service.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import type { Store } from '../../src/store/store.ts';
import { makeTestContext } from '../support/context.ts';
import { startSmtpPeer, type SmtpPeer } from '../support/smtp-peer.ts';
import { startReadyChild, type Child } from '../support/child.ts';
import { startDnsZone, type DnsZone } from '../support/dns-zone.ts';
import { isolatedPostgresUrl } from '../support/stores.ts';
import { poll } from '../support/poll.ts';

const BASE_URL = process.env.DATABASE_URL;
if (!BASE_URL) console.log('# skip: mail scale-out runs need DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)');

const DOMAIN = 'mana.test';
const CHILD = join(import.meta.dirname, 'mail-scale-out-child.ts');
/**
 * Small windows, so most mail waits in the shared queue and is claimed by either node, and short leases (renewed
 * every third), so a dead node's work is taken over within seconds.
 */
const QUEUE = { leaseSeconds: 2, retrySchedule: [1], concurrency: 8, perDomainConcurrency: 4 };

/** Each node names itself in HELO (its own host name, as two machines would): the peer sees which node delivered. */
const HELO_A = 'node-a.mana.test';
const HELO_B = 'node-b.mana.test';

type Node = { mail: RunningMail; store: Store; password: string; close(): Promise<void> };

/** A mail node in this process with its own connection pool to the shared database and its own data dir and ports. */
async function startNode(url: string, zone: DnsZone, peer: SmtpPeer, hostname: string): Promise<Node> {
  const store = await openPostgres({ url, max: 5 });
  const t = await makeTestContext({
    store,
    overrides: { mail: { domain: DOMAIN, hostname, delivery: 'deliver', dnsServers: [zone.server], mxPort: peer.port, queue: QUEUE } },
  });
  const mail = await startMail(t.ctx);
  let closed: Promise<void> | undefined;
  return {
    mail,
    store,
    password: t.ctx.secrets.noreplyPassword,
    close() {
      closed ??= (async () => {
        await mail.close();
        await t.cleanup();
        await store.close();
      })();
      return closed;
    },
  };
}

/** A mail node in its own process (test/e2e/mail-scale-out-child.ts), so it can die without finishing anything. */
function startChild(url: string, zone: DnsZone, peer: SmtpPeer, hostname: string): Promise<Child> {
  return startReadyChild(CHILD, [url, zone.server, String(peer.port), hostname, JSON.stringify({ queue: QUEUE })], 'mail node child');
}

const messageIdOf = (raw: Buffer) => /^Message-ID:\s*(<[^>]+>)/im.exec(raw.toString('latin1'))?.[1] ?? '';
const idOf = (tag: string, n: number) => `<${tag}-${n}@${DOMAIN}>`;
const rcptOf = (n: number) => `rcpt-${n}@sink.example`;

/** Submits the messages over one RFC 6409 session of port 587 (STARTTLS, AUTH PLAIN), each waiting for its 250. */
async function submitLane(port: number, pass: string, tag: string, numbers: number[]): Promise<void> {
  const conn = new SMTPConnection({
    host: '127.0.0.1', port, secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, name: 'client.test',
    connectionTimeout: 10_000, socketTimeout: 60_000, logger: false,
  });
  conn.on('error', () => {});
  await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
  await new Promise<void>((resolve, reject) => conn.login({ user: 'noreply', pass }, (err) => (err ? reject(err) : resolve())));
  for (const n of numbers) {
    const raw = `From: noreply@${DOMAIN}\r\nTo: ${rcptOf(n)}\r\nSubject: ${tag} ${n}\r\nMessage-ID: ${idOf(tag, n)}\r\n\r\nmessage ${n}\r\n`;
    await new Promise<void>((resolve, reject) => conn.send({ from: `noreply@${DOMAIN}`, to: [rcptOf(n)] }, raw, (err) => (err ? reject(err) : resolve())));
  }
  conn.quit();
}

/** Submits `numbers` over `lanes` parallel sessions. */
async function submitAll(port: number, pass: string, tag: string, numbers: number[], lanes: number): Promise<void> {
  await Promise.all(Array.from({ length: lanes }, (_, lane) => submitLane(port, pass, tag, numbers.filter((_, i) => i % lanes === lane))));
}

/** Times each Message-ID reached the peer (any helo), to see when it was delivered once, twice. */
function countById(peer: SmtpPeer): Map<string, number> {
  const seen = new Map<string, number>();
  for (const m of peer.messages) seen.set(messageIdOf(m.raw), (seen.get(messageIdOf(m.raw)) ?? 0) + 1);
  return seen;
}

async function recipientStates(store: Store): Promise<Array<[string, number]>> {
  const rows = await store.all<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM mail_recipients GROUP BY status ORDER BY status');
  return rows.map((r) => [r.status, Number(r.n)]);
}

async function eventCount(store: Store, type: string): Promise<number> {
  return Number((await store.get<{ n: number }>('SELECT COUNT(*) AS n FROM mail_events WHERE type = ?', [type]))?.n);
}

describe('mail scale-out: two nodes on one PostgreSQL store', { skip: !BASE_URL }, () => {
  let zone: DnsZone;
  const cleanups: Array<() => Promise<unknown>> = [];
  before(async () => {
    zone = await startDnsZone({ 'sink.example': { MX: [{ exchange: 'mx.sink.example', priority: 10 }] }, 'mx.sink.example': { A: ['127.0.0.1'] } });
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch((err) => console.log(`# cleanup failed: ${(err as Error).message}`));
    await zone?.close();
  });

  it('300 messages submitted to both nodes reach the MX exactly once, both nodes deliver, every recipient ends delivered', { timeout: 120_000 }, async () => {
    const TOTAL = 300;
    const db = await isolatedPostgresUrl(BASE_URL!);
    cleanups.push(() => db.drop());
    // Deliveries wait at MAIL FROM until every message is queued (and the first ones longer than their lease): the queue
    // then holds nearly all of them unleased, and both nodes' claims compete for the same rows (what FOR UPDATE SKIP
    // LOCKED must keep apart), while those in flight must stay with their node through lease renewals.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const transfers: Array<{ id: string; attempt: number }> = [];
    const peer = await startSmtpPeer({
      tls: 'none',
      onMailFrom: async () => { await gate; return undefined; },
      onData: (c) => { transfers.push({ id: messageIdOf(c.raw), attempt: c.attempt }); return undefined; },
    });
    cleanups.push(() => peer.close());
    // One after the other: the first creates the domain, accounts and DKIM keys in the store, the second finds them.
    const a = await startNode(db.url, zone, peer, HELO_A);
    cleanups.push(() => a.close());
    const b = await startNode(db.url, zone, peer, HELO_B);
    cleanups.push(() => b.close());
    assert.equal(a.password, b.password, 'both nodes read the same secrets from the store');

    const numbers = Array.from({ length: TOTAL }, (_, i) => i);
    const viaA = new Set(numbers.filter((n) => n % 2 === 0).map((n) => idOf('scale', n)));
    const t0 = Date.now();
    await Promise.all([
      submitAll(a.mail.ports.submission, a.password, 'scale', numbers.filter((n) => n % 2 === 0), 4),
      submitAll(b.mail.ports.submission, b.password, 'scale', numbers.filter((n) => n % 2 === 1), 4),
    ]);
    process.stdout.write(`# submitted ${TOTAL} in ${Date.now() - t0} ms\n`);
    // The first messages have waited at MAIL FROM for more than two leases by now: only renewals kept the other node off them.
    const held = QUEUE.leaseSeconds * 1000 * 2.5 - (Date.now() - t0);
    if (held > 0) await new Promise((r) => setTimeout(r, held));
    open();
    await poll('every message at the MX', async () => (countById(peer).size >= TOTAL ? true : undefined), 60_000);
    await poll('every recipient delivered in the store', async () => {
      const s = await recipientStates(a.store);
      return s.length === 1 && s[0][0] === 'delivered' && s[0][1] === TOTAL ? true : undefined;
    }, 30_000);
    // Let both nodes finish whatever they still have in flight before counting.
    await Promise.all([a.close(), b.close()]);
    process.stdout.write(`# all delivered at ${Date.now() - t0} ms\n`);

    const seen = countById(peer);
    assert.deepEqual(numbers.filter((n) => !seen.has(idOf('scale', n))), [], 'every message reached the MX');
    assert.deepEqual([...seen].filter(([, k]) => k > 1).map(([id]) => id), [], 'no message reached the MX twice');
    assert.equal(peer.messages.length, TOTAL);
    assert.deepEqual(transfers.filter((t) => t.attempt > 1), [], 'no DATA transfer was repeated');

    const byNode: Record<string, { own: number; other: number }> = { [HELO_A]: { own: 0, other: 0 }, [HELO_B]: { own: 0, other: 0 } };
    for (const m of peer.messages) {
      const node = byNode[m.helo];
      assert.ok(node, `delivered by a known node (HELO ${m.helo})`);
      const submittedToA = viaA.has(messageIdOf(m.raw));
      if ((m.helo === HELO_A) === submittedToA) node.own++; else node.other++;
    }
    process.stdout.write(`# deliveries: ${HELO_A} ${JSON.stringify(byNode[HELO_A])}, ${HELO_B} ${JSON.stringify(byNode[HELO_B])} (own = submitted to that node)\n`);
    assert.ok(byNode[HELO_A].own + byNode[HELO_A].other > 0 && byNode[HELO_B].own + byNode[HELO_B].other > 0, 'both nodes delivered');
    assert.ok(byNode[HELO_A].other > 0 && byNode[HELO_B].other > 0, 'each node delivered mail submitted to the other (claimed from the shared queue)');

    // Both nodes signed with the domain's keys from the shared store.
    const selectors = (helo: string) => new Set(peer.messages.filter((m) => m.helo === helo).flatMap((m) => [...m.raw.toString('latin1').matchAll(/^DKIM-Signature:[^]*?\bs=([^;\s]+)/gim)].map((x) => x[1])));
    assert.ok(peer.messages.every((m) => /^DKIM-Signature:[^]*?\bd=mana\.test\b/im.test(m.raw.toString('latin1'))), 'every message is DKIM-signed for mana.test');
    assert.deepEqual([...selectors(HELO_A)].sort(), [...selectors(HELO_B)].sort());

    const check = await openPostgres({ url: db.url, max: 1 });
    try {
      assert.deepEqual(await recipientStates(check), [['delivered', TOTAL]]);
      assert.equal(await eventCount(check, 'attempt'), TOTAL, 'one attempt recorded per recipient');
      assert.equal(await eventCount(check, 'delivered'), TOTAL, 'one delivered event per recipient');
    } finally {
      await check.close();
    }
  });

  it('a node killed while holding leases: the other node delivers its mail after the lease expires, duplicates only among those in flight at the kill', { timeout: 120_000 }, async () => {
    const TOTAL = 120;
    const db = await isolatedPostgresUrl(BASE_URL!);
    cleanups.push(() => db.drop());
    // A slow MX: every DATA reply comes 300 ms after the data, so each node always has transfers waiting for their 250.
    const transfers: Array<{ id: string; attempt: number; at: number }> = [];
    const peer = await startSmtpPeer({
      tls: 'none',
      onData: async (c) => {
        transfers.push({ id: messageIdOf(c.raw), attempt: c.attempt, at: Date.now() });
        await new Promise((r) => setTimeout(r, 300));
        return undefined;
      },
    });
    cleanups.push(() => peer.close());
    const a = await startChild(db.url, zone, peer, HELO_A);
    cleanups.push(async () => {
      if (a.process.exitCode === null && a.process.signalCode === null) a.process.kill('SIGKILL');
      await a.exited;
    });
    const b = await startNode(db.url, zone, peer, HELO_B);
    cleanups.push(() => b.close());

    const numbers = Array.from({ length: TOTAL }, (_, i) => i);
    await submitAll(a.ports.submission, b.password, 'kill', numbers, 4);
    await poll('deliveries under way', async () => (transfers.length >= 30 ? true : undefined), 30_000);
    const killAt = Date.now();
    a.process.kill('SIGKILL');
    await a.exited;

    // What the dead node held: leased to it (its owner name carries its pid) and not settled.
    const pid = a.process.pid!;
    const leased = await b.store.all<{ rcpt: string; lease_until: number }>(
      "SELECT rcpt, lease_until FROM mail_recipients WHERE status = 'queued' AND lease_owner LIKE ?", [`%:${pid}:%`],
    );
    const heldByA = new Map(leased.map((r) => [idOf('kill', Number(/^rcpt-(\d+)@/.exec(r.rcpt)![1])), Number(r.lease_until)]));
    assert.ok(heldByA.size > 0, 'node A held leases when it was killed');
    assert.deepEqual(transfers.filter((t) => t.at < killAt && t.attempt > 1), [], 'while both nodes lived, no message was transferred twice');

    await poll('every message at the MX', async () => (countById(peer).size >= TOTAL ? true : undefined), 60_000);
    await poll('every recipient delivered in the store', async () => {
      const s = await recipientStates(b.store);
      return s.length === 1 && s[0][0] === 'delivered' && s[0][1] === TOTAL ? true : undefined;
    }, 30_000);
    await b.close();

    // In flight at the kill: held by A and sent by A (the MX got the data, A never recorded the outcome). Only these may arrive twice.
    const inFlight = new Set([...heldByA.keys()].filter((id) => peer.messages.some((m) => m.helo === HELO_A && messageIdOf(m.raw) === id)));
    const seen = countById(peer);
    assert.deepEqual(numbers.filter((n) => !seen.has(idOf('kill', n))), [], 'every message reached the MX');
    const twice = [...seen].filter(([, k]) => k > 1).map(([id]) => id);
    assert.deepEqual(twice.filter((id) => !inFlight.has(id)), [], 'only messages in flight at the kill arrived twice');
    assert.ok(peer.messages.length - seen.size <= inFlight.size, `duplicates (${peer.messages.length - seen.size}) at most those in flight (${inFlight.size})`);
    for (const [id, leaseUntil] of heldByA) {
      assert.ok(peer.messages.some((m) => m.helo === HELO_B && messageIdOf(m.raw) === id), `node B delivered ${id}, which A held`);
      const last = transfers.filter((t) => t.id === id).at(-1)!;
      assert.ok(last.at >= leaseUntil, `node B took ${id} over only after A's lease ran out (${last.at - leaseUntil} ms after)`);
    }
    process.stdout.write(`# kill test: ${heldByA.size} leased by A at the kill, ${inFlight.size} in flight, ${twice.length} delivered twice, ${peer.messages.filter((m) => m.helo === HELO_B).length} by B\n`);

    const check = await openPostgres({ url: db.url, max: 1 });
    try {
      assert.deepEqual(await recipientStates(check), [['delivered', TOTAL]]);
      assert.equal(await eventCount(check, 'delivered'), TOTAL, 'one delivered event per recipient: the dead node recorded nothing it had not committed');
    } finally {
      await check.close();
    }
  });
});
