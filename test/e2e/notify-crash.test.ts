// Crash test: notify in a child process on a SQLite data dir, 500 pending + 50 scheduled (+ cancelled ones) queued, SIGKILL mid-flight, restart: every accepted notification reaches the SMTP peer exactly once, scheduled ones not before their time, cancelled ones never.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { startSmtpPeer, type SmtpPeer } from '../support/smtp-peer.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const KEY = 'crash-key';

// The child runs notify as `mana notify` would: config from the environment, SQLite in the data dir.
const CHILD = `
import { loadConfig } from ${JSON.stringify(join(ROOT, 'src/config/load.ts'))};
import { openStore } from ${JSON.stringify(join(ROOT, 'src/store/open.ts'))};
import { migrations } from ${JSON.stringify(join(ROOT, 'src/store/migrations.ts'))};
import { loadSecrets } from ${JSON.stringify(join(ROOT, 'src/stack/secrets.ts'))};
import { silentLogger } from ${JSON.stringify(join(ROOT, 'src/lib/log.ts'))};
import { startNotify } from ${JSON.stringify(join(ROOT, 'src/notify/service.ts'))};
const config = loadConfig({ service: 'notify' });
const store = await openStore(config);
await store.migrate(migrations);
const secrets = await loadSecrets(config, store);
const ctx = { config, store, log: silentLogger(), secrets, announce: (name, url) => console.log('listening ' + name + ' ' + url) };
const notify = await startNotify(ctx, { workerId: 'crash-node', tuning: { pollMs: 100 } });
process.on('SIGTERM', async () => { await notify.close(); await store.close(); process.exit(0); });
`;

type Child = { proc: ChildProcess; url: string };

async function startChild(dataDir: string, peer: SmtpPeer): Promise<Child> {
  const proc = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    cwd: dataDir,
    env: {
      PATH: process.env.PATH ?? '',
      MANA_DATA_DIR: dataDir,
      MANA_BIND: '127.0.0.1',
      NOTIFY_PORT: '0',
      MANA_SERVICE_KEY: KEY,
      MANA_LOG_LEVEL: 'silent',
      SMTP_HOST: peer.host,
      SMTP_PORT: String(peer.port),
      SMTP_USER: 'noreply',
      SMTP_PASSWORD: 'pw',
      SMTP_FROM: 'Mana <noreply@mana.test>',
      SMTP_INSECURE_TLS: 'true',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (c) => (err += c));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(Object.assign(new Error(`notify child did not start: ${err}`), { code: 'test.timeout' })), 20_000);
    proc.stdout!.on('data', (c) => {
      out += c;
      const m = /listening notify-http (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]!);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`notify child exited with ${code}: ${err}`));
    });
  });
  return { proc, url };
}

async function api(child: Child, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${child.url}${path}`, { method, headers: { 'X-Service-Key': KEY }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, json: await res.json() };
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw Object.assign(new Error(`timed out waiting for ${what}`), { code: 'test.timeout' });
    await new Promise((r) => setTimeout(r, 50));
  }
}

const idOf = (raw: Buffer) => /^X-Mana-Notification-Id: (\S+)/im.exec(raw.toString('latin1'))?.[1];

describe('notify crash recovery (SIGKILL)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mana-notify-crash-'));
  let peer: SmtpPeer | undefined;
  let child: Child | undefined;
  after(async () => {
    if (child && child.proc.exitCode === null && child.proc.signalCode === null) {
      child.proc.kill('SIGTERM');
      await once(child.proc, 'exit');
    }
    await peer?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('after SIGKILL and restart every accepted notification is sent exactly once, scheduled ones at their time, cancelled ones never', async () => {
    // The peer accepts 100 messages, then holds every further MAIL FROM until released: the
    // kill then finds attempts in flight (5 in SMTP sessions, more queued for them) and hundreds still queued.
    let accepted = 0;
    let open = false;
    let held = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const arrivals = new Map<string, number>();
    peer = await startSmtpPeer({
      auth: { user: 'noreply', pass: 'pw' },
      onMailFrom: async () => {
        if (open || accepted < 100) {
          accepted++;
          return undefined;
        }
        held++;
        await gate;
        return '451 4.3.0 try again later';
      },
      onData: (c) => {
        const id = idOf(c.raw);
        if (id) arrivals.set(id, Math.min(arrivals.get(id) ?? Infinity, Date.now()));
        return undefined;
      },
    });
    child = await startChild(dataDir, peer);

    const item = (i: number) => ({ channel: 'email', appId: 'crash', recipient: `c${i}@example.org`, subject: `crash ${i}`, body: `<p>${i}</p>` });
    const pending: string[] = [];
    for (let b = 0; b < 5; b++) {
      const r = await api(child, 'POST', '/api/v1/notifications/batch', { notifications: Array.from({ length: 100 }, (_, i) => item(b * 100 + i)) });
      assert.equal(r.status, 202);
      assert.equal(r.json.succeeded, 100);
      pending.push(...r.json.results.map((x: any) => x.id));
    }
    const scheduled = new Map<string, number>();
    const base = Date.now() + 1_000;
    for (let i = 0; i < 50; i++) {
      const at = new Date(base + i * 100).toISOString();
      const r = await api(child, 'POST', '/api/v1/notifications/schedule', { ...item(1000 + i), scheduledFor: at });
      assert.equal(r.status, 202);
      scheduled.set(r.json.notification.id, Date.parse(at));
    }

    await until(() => peer!.messages.length === 100 && held === 5, '100 accepted and 5 attempts held');
    // All worker slots are held by the peer, so these stay pending until cancelled.
    const cancelled: string[] = [];
    for (let i = 0; i < 10; i++) {
      const s = await api(child, 'POST', '/api/v1/notifications/send', item(2000 + i));
      const sc = await api(child, 'POST', '/api/v1/notifications/schedule', { ...item(3000 + i), scheduledFor: new Date(Date.now() + 500).toISOString() });
      for (const id of [s.json.notification.id, sc.json.notification.id]) {
        const d = await api(child, 'DELETE', `/api/v1/notifications/${id}`);
        assert.equal(d.status, 200);
        cancelled.push(id);
      }
    }
    // Wait until the 100 accepted ones are recorded as sent, so the kill hits no message between 250 and commit.
    const db = new DatabaseSync(join(dataDir, 'mana.db'), { readOnly: true });
    let inFlight = 0;
    try {
      await until(() => Number((db.prepare("SELECT COUNT(*) AS n FROM notify_notifications WHERE status = 'sent'").get() as { n: number }).n) === 100, '100 rows sent');
      inFlight = Number((db.prepare("SELECT COUNT(*) AS n FROM notify_notifications WHERE status = 'processing'").get() as { n: number }).n);
      assert.ok(inFlight >= 5, `${inFlight} attempts in flight at the kill`);
    } finally {
      db.close();
    }

    child.proc.kill('SIGKILL');
    await once(child.proc, 'exit');
    open = true;
    release();

    child = await startChild(dataDir, peer);
    const expected = new Set([...pending, ...scheduled.keys()]);
    await peer.waitFor(expected.size, 60_000);
    // Let the restarted worker drain completely, then check nothing extra went out.
    const check = new DatabaseSync(join(dataDir, 'mana.db'), { readOnly: true });
    try {
      await until(() => Number((check.prepare("SELECT COUNT(*) AS n FROM notify_notifications WHERE status IN ('pending', 'processing')").get() as { n: number }).n) === 0, 'the queue to drain');
      const statuses = check.prepare('SELECT status, COUNT(*) AS n FROM notify_notifications GROUP BY status').all() as Array<{ status: string; n: number }>;
      assert.deepEqual(Object.fromEntries(statuses.map((s) => [s.status, Number(s.n)])), { sent: 550, cancelled: 20 });
    } finally {
      check.close();
    }

    const got = peer.messages.map((m) => idOf(m.raw)!);
    assert.equal(got.length, 550, 'exactly one message per notification');
    assert.equal(new Set(got).size, 550, 'no notification sent twice');
    assert.deepEqual(new Set(got), expected);
    for (const id of cancelled) assert.equal(arrivals.has(id), false, `cancelled ${id} was sent`);
    for (const [id, at] of scheduled) assert.ok(arrivals.get(id)! >= at, `scheduled ${id} sent ${at - arrivals.get(id)!} ms early`);
    // The attempts cut short by the kill are in the delivery logs of their notifications.
    const logs = new DatabaseSync(join(dataDir, 'mana.db'), { readOnly: true });
    try {
      const row = logs.prepare("SELECT COUNT(DISTINCT notification_id) AS n FROM notify_delivery_logs WHERE error_message LIKE '%interrupted%'").get() as { n: number };
      assert.equal(Number(row.n), inFlight);
    } finally {
      logs.close();
    }
  });
});
