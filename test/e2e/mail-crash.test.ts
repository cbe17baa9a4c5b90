// Whole path: the queue survives SIGKILL in the middle of delivering 1,000 messages (RFC 5321 §6.1: a 250 is a promise), and nothing settled is sent twice.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { startSmtpPeer, type SmtpPeer } from '../support/smtp-peer.ts';
import { startReadyChild, type Child } from '../support/child.ts';
import { startDnsZone, type DnsZone } from '../support/dns-zone.ts';
import { makeTempDir, type TempDir } from '../support/tmp.ts';
import { openSqlite } from '../../src/store/sqlite.ts';

const TOTAL = 1000;
const KILL_AFTER = 250;
const CHILD = join(import.meta.dirname, 'mail-crash-child.ts');

function startChild(dataDir: string, dns: string, mxPort: number): Promise<Child> {
  return startReadyChild(CHILD, [dataDir, dns, String(mxPort)], 'mail server child');
}

/** Sends messages first..last-1 over one connection, each waiting for its 250 (which means committed). */
async function inject(port: number, numbers: number[]): Promise<void> {
  const conn = new SMTPConnection({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, name: 'injector.test', socketTimeout: 60_000, logger: false });
  conn.on('error', () => {});
  await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
  for (const n of numbers) {
    const raw = `From: noreply@mana.test\r\nTo: rcpt-${n}@sink.example\r\nSubject: crash ${n}\r\nMessage-ID: <crash-${n}@mana.test>\r\n\r\nmessage ${n}\r\n`;
    await new Promise<void>((resolve, reject) => conn.send({ from: 'noreply@mana.test', to: [`rcpt-${n}@sink.example`] }, raw, (err) => (err ? reject(err) : resolve())));
  }
  conn.quit();
}

function messageIdOf(raw: Buffer): string {
  return /^Message-ID:\s*(<[^>]+>)/im.exec(raw.toString('latin1'))?.[1] ?? '';
}

describe('crash safety of the outbound queue', () => {
  let peer: SmtpPeer;
  let zone: DnsZone;
  let dir: TempDir;
  const children: Child[] = [];
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));

  before(async () => {
    // Deliveries wait at MAIL FROM until every message is queued, so the kill lands in the middle of delivery.
    peer = await startSmtpPeer({ tls: 'none', onMailFrom: async () => { await gate; return undefined; } });
    zone = await startDnsZone({ 'sink.example': { MX: [{ exchange: 'mx.sink.example', priority: 10 }] }, 'mx.sink.example': { A: ['127.0.0.1'] } });
    dir = await makeTempDir('mail-crash');
  });
  after(async () => {
    for (const c of children) if (c.process.exitCode === null && c.process.signalCode === null) c.process.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await peer?.close();
    await zone?.close();
    await dir?.remove();
  });

  it('after SIGKILL mid-delivery and a restart every message arrives, duplicates only among those in flight at the kill', async () => {
    const first = await startChild(dir.path, zone.server, peer.port);
    children.push(first);
    const t0 = Date.now();
    const numbers = Array.from({ length: TOTAL }, (_, i) => i);
    const lanes = 10;
    await Promise.all(Array.from({ length: lanes }, (_, lane) => inject(first.ports.inbound, numbers.filter((n) => n % lanes === lane))));
    process.stdout.write(`# injected in ${Date.now() - t0} ms\n`);
    open();
    await peer.waitFor(KILL_AFTER, 60_000);
    process.stdout.write(`# first ${KILL_AFTER} delivered at ${Date.now() - t0} ms\n`);
    first.process.kill('SIGKILL');
    await first.exited;
    const atKill = peer.messages.length;
    assert.ok(atKill < TOTAL, `the kill came before the end of delivery (${atKill} of ${TOTAL})`);

    // What the dead process held: leased and not settled. Only these may have reached the MX without the store knowing;
    // those the MX had already received at the kill were mid-transfer (sent, outcome not yet committed).
    const store = openSqlite({ path: join(dir.path, 'mana.db') });
    const leased = await store.all<{ rcpt: string }>("SELECT rcpt FROM mail_recipients WHERE status = 'queued' AND lease_owner IS NOT NULL");
    const queued = Number((await store.get<{ n: number }>('SELECT COUNT(*) AS n FROM mail_messages'))?.n);
    await store.close();
    assert.equal(queued, TOTAL, 'every accepted message is in the store');
    const idOfRcpt = (rcpt: string) => `<crash-${/^rcpt-(\d+)@/.exec(rcpt)?.[1]}@mana.test>`;
    const heldIds = new Set(leased.map((r) => idOfRcpt(r.rcpt)));
    const receivedAtKill = new Set(peer.messages.slice(0, atKill).map((m) => messageIdOf(m.raw)));
    const midTransfer = [...heldIds].filter((id) => receivedAtKill.has(id)).length;

    const second = await startChild(dir.path, zone.server, peer.port);
    children.push(second);
    const seen = new Map<string, number>();
    const deadline = Date.now() + 90_000;
    for (;;) {
      seen.clear();
      for (const m of peer.messages) seen.set(messageIdOf(m.raw), (seen.get(messageIdOf(m.raw)) ?? 0) + 1);
      if (seen.size >= TOTAL || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    process.stdout.write(`# all delivered at ${Date.now() - t0} ms\n`);
    const missing = numbers.filter((n) => !seen.has(`<crash-${n}@mana.test>`));
    assert.deepEqual(missing, [], 'every message reached the MX');
    const duplicates = peer.messages.length - seen.size;
    const twice = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
    assert.deepEqual(twice.filter((id) => !heldIds.has(id)), [], 'nothing recorded as delivered was sent again');
    assert.ok(duplicates <= midTransfer, `duplicates (${duplicates}) are at most the messages mid-transfer at the kill (${midTransfer})`);
    second.process.kill('SIGTERM');
    assert.equal(await second.exited, 0);

    const after = openSqlite({ path: join(dir.path, 'mana.db') });
    const states = await after.all<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM mail_recipients GROUP BY status');
    await after.close();
    assert.deepEqual(states.map((s) => [s.status, Number(s.n)]), [['delivered', TOTAL]]);
    process.stdout.write(`# crash test: ${atKill} received before SIGKILL, ${leased.length} leased, ${midTransfer} mid-transfer, ${duplicates} delivered twice\n`);
  });
});
