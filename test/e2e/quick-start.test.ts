// The quick start as a user meets it: `mana start` prints listeners, mode, secrets and a curl line that works; a restart keeps everything.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/tmp.ts';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const MAIN = join(ROOT, 'src/main.ts');

type Started = { child: ChildProcess; out: () => string };

async function startMana(env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, [MAIN, 'start'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const end = Date.now() + 30_000;
  while (!/then: curl/.test(out)) {
    if (child.exitCode !== null) throw new Error(`mana start exited ${child.exitCode}:\n${out}\n${err}`);
    if (Date.now() > end) throw new Error(`mana start printed no curl line in 30 s:\n${out}\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, out: () => out };
}

async function stop(s: Started | undefined): Promise<void> {
  if (!s || s.child.exitCode !== null) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await exited;
}

describe('quick start (mana start on the embedded default)', () => {
  let dataDir: string;
  let env: Record<string, string>;
  let first: Started | undefined;
  let second: Started | undefined;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'mana-quick-'));
    env = {
      MANA_DATA_DIR: dataDir,
      MANA_BIND: '127.0.0.1',
      NOTIFY_PORT: String(await freePort()),
      AUTH_PORT: String(await freePort()),
      MAIL_SMTP_PORT: String(await freePort()),
      MAIL_SUBMISSION_PORT: String(await freePort()),
      MAIL_SUBMISSIONS_PORT: String(await freePort()),
      MAIL_ADMIN_PORT: String(await freePort()),
      MAIL_IMAP_PORT: String(await freePort()),
      MAIL_IMAPS_PORT: String(await freePort()),
      MANA_SERVICE_KEY: '',
      SERVICE_KEY: '',
      MANA_CORE_SERVICE_KEY: '',
      DATABASE_URL: '',
      MAIL_DNS_SERVERS: '',
      MAIL_MX_PORT: '',
      MAIL_DELIVERY: '',
      SMTP_HOST: '',
    };
  });

  after(async () => {
    await stop(first);
    await stop(second);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints every listener, the capture mode, the generated secrets and a curl line that sends a notification', async () => {
    first = await startMana(env);
    const out = first.out();
    const listeners = ['smtp-inbound', 'smtp-submission', 'smtps-submission', 'imap', 'imaps', 'admin-http', 'notify-http', 'auth-http'];
    for (const name of listeners) {
      assert.match(out, new RegExp(`^listening  ${name}  [a-z]+://127\\.0\\.0\\.1:\\d+$`, 'm'), name);
    }
    assert.equal(out.match(/^listening  /gm)?.length, listeners.length, 'one line per listener');
    assert.match(out, /^web admin  http:\/\/127\.0\.0\.1:\d+\/ui /m, 'the web admin URL is printed');
    assert.match(out, /^mode {7}capture/m);
    assert.match(out, /MANA_SERVICE_KEY\s+\S{20,}/);
    assert.match(out, /MAIL_ADMIN_PASSWORD\s+\S{12,}/);
    const curl = /^ {2}(curl -s \S+\/api\/v1\/notifications\/send .*\\\n.*)$/m.exec(out)?.[1];
    assert.ok(curl, out);
    const sent = await run('bash', ['-c', curl.replace('you@example.com', 'quick@example.com')]);
    const { notification } = JSON.parse(sent.stdout) as { notification: { id: string; status: string } };
    assert.equal(notification.status, 'pending');

    const key = /X-Service-Key: (\S+)'/.exec(curl)![1];
    const url = /curl -s (\S+)\/api\/v1\/notifications\/send/.exec(curl)![1];
    let status = '';
    for (let i = 0; i < 200 && status !== 'delivered'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const r = await fetch(`${url}/api/v1/notifications/${notification.id}`, { headers: { 'X-Service-Key': key } });
      status = ((await r.json()) as { notification: { status: string } }).notification.status;
    }
    assert.equal(status, 'delivered', 'captured counts as delivered in capture mode');

    const listed = await run(process.execPath, [MAIN, 'captured', 'list'], { env: { ...process.env, ...env } });
    assert.match(listed.stdout, /quick@example\.com/);
    // The captured mailbox over IMAP (SPEC §4), read by curl as the admin account with the generated password.
    const adminPassword = /MAIL_ADMIN_PASSWORD\s+(\S+)/.exec(out)![1];
    const imaps = /^listening  imaps  imaps:\/\/127\.0\.0\.1:(\d+)$/m.exec(out)![1];
    const viaImap = await run('/usr/bin/curl', ['-sS', '-k', '--max-time', '20', `imaps://127.0.0.1:${imaps}/Captured;MAILINDEX=1`, '-u', `admin:${adminPassword}`]);
    assert.match(viaImap.stdout, /quick@example\.com/);
    assert.ok(readdirSync(join(dataDir, 'logs')).some((f) => /^mail\.log\.\d{4}-\d{2}-\d{2}$/.test(f)), 'daily mail log file');
  });

  it('a restart keeps accounts, keys and notification history and prints no new secrets', async () => {
    const key = /X-Service-Key: (\S+)'/.exec(first!.out())![1];
    const url = /curl -s (\S+)\/api\/v1\/notifications\/send/.exec(first!.out())![1];
    const before = await fetch(`${url}/api/v1/notifications/send`, {
      method: 'POST', headers: { 'X-Service-Key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'email', appId: 'demo', recipient: 'again@example.com', subject: 's', body: '<p>b</p>' }),
    });
    const id = ((await before.json()) as { notification: { id: string } }).notification.id;
    await stop(first);
    second = await startMana(env);
    assert.doesNotMatch(second.out(), /Generated on first start/);
    const r = await fetch(`${url}/api/v1/notifications/${id}`, { headers: { 'X-Service-Key': key } });
    assert.equal(r.status, 200, 'the old service key still works and the notification is still there');
    const dkim = await run(process.execPath, [MAIN, 'dkim', 'list'], { env: { ...process.env, ...env } });
    assert.equal((dkim.stdout.match(/mana\.localhost/g) ?? []).length >= 2, true, dkim.stdout);
  });
});
