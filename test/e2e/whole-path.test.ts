// The whole path over real sockets: sign-up at auth -> notify -> SMTP submission -> mail queue -> MX from a DNS zone -> recipient SMTP server.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authenticate as mailauthAuthenticate } from 'mailauth';
import nodemailer from 'nodemailer';
import { loadConfig } from '../../src/config/load.ts';
import { startStack, type Stack } from '../../src/stack/start.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { listDkimKeys, dkimTxtRecord } from '../../src/mail/dkim/key-store.ts';
import { startDnsZone, type DnsZone } from '../support/dns-zone.ts';
import { startSmtpPeer, type SmtpPeer } from '../support/smtp-peer.ts';
import { dkimpyVerify } from '../support/dkimpy.ts';
import { stackBackends } from '../support/stores.ts';
import { poll } from '../support/poll.ts';

const DOMAIN = 'mana.test';
const local = { host: '127.0.0.1', port: 0 };

function stackConfig(dataDir: string, zone: DnsZone, peer: SmtpPeer, databaseUrl?: string) {
  return loadConfig({
    env: { MANA_DATA_DIR: dataDir, MANA_LOG_LEVEL: 'silent', MAIL_DNS_SERVERS: zone.server, MAIL_MX_PORT: String(peer.port), ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) },
    overrides: {
      mail: { domain: DOMAIN, listeners: { inbound: local, submission: local, submissions: local, admin: local, imap: local, imaps: local }, queue: { retrySchedule: [1] } },
      notify: { listener: local },
      auth: { listener: local },
    },
  });
}

for (const factory of stackBackends()) {
  describe(`whole path: sign-up to recipient MX (${factory.name})`, () => {
    let zone: DnsZone;
    let peer: SmtpPeer;
    let stack: Stack;
    let dataDir: string;
    let dropDb: () => Promise<void>;

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'mana-e2e-'));
      peer = await startSmtpPeer({ tls: 'starttls' });
      zone = await startDnsZone({
        'example.net': { MX: [{ exchange: 'mx.example.net', priority: 10 }] },
        'mx.example.net': { A: ['127.0.0.1'] },
      });
      const db = await factory.databaseUrl();
      dropDb = db.drop;
      const config = stackConfig(dataDir, zone, peer, db.url);
      stack = await startStack({ config, services: ['mail', 'notify', 'auth'], announce: () => {}, logger: () => silentLogger() });
    });

    after(async () => {
      await stack?.close();
      await dropDb?.();
      await peer?.close();
      await zone?.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('every listener announces itself', () => {
      for (const name of ['auth-http', 'notify-http', 'admin-http', 'smtp-inbound', 'smtp-submission', 'smtps-submission']) {
        assert.match(stack.urls[name] ?? '', /^[a-z]+:\/\/127\.0\.0\.1:\d+$/, name);
      }
    });

    it('a sign-up reaches the recipient MX, signed with Ed25519 and RSA (RFC 6376, RFC 8463), and its notification becomes delivered', async () => {
      const email = `new.user.${factory.name}@example.net`;
      const res = await fetch(`${stack.urls['auth-http']}/api/auth/sign-up/email`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: stack.urls['auth-http'] },
        body: JSON.stringify({ email, password: 'correct horse battery staple', name: 'New User' }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      await peer.waitFor(1, 30_000);
      const msg = peer.messages.find((m) => m.rcptTo.includes(email));
      assert.ok(msg, 'the recipient MX received the verification email');
      assert.equal(msg.tls, true, 'delivered over STARTTLS');
      const raw = msg.raw;
      assert.match(raw.toString(), /verify-email|verif/i);

      // Both signatures verify with mailauth and with dkimpy against the published key records.
      const keys = await listDkimKeys(stack.store, DOMAIN);
      const txt: Record<string, string> = {};
      for (const k of keys) txt[`${k.selector}._domainkey.${DOMAIN}`] = dkimTxtRecord(k);
      const resolver = async (name: string, type: string) => {
        if (type === 'TXT' && txt[name.replace(/\.$/, '')]) return [[txt[name.replace(/\.$/, '')]]];
        throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      };
      const result = await mailauthAuthenticate(raw, { resolver, trustReceived: false, sender: msg.mailFrom, ip: '127.0.0.1', helo: 'test', mta: 'test' } as any);
      const passing = result.dkim.results.filter((r: any) => r.status.result === 'pass').map((r: any) => r.signingDomain + ':' + r.status.aligned);
      assert.equal(result.dkim.results.length, 2, 'two DKIM signatures');
      assert.equal(passing.length, 2, JSON.stringify(result.dkim.results.map((r: any) => r.status)));
      const algos = result.dkim.results.map((r: any) => r.algo).sort();
      assert.deepEqual(algos, ['ed25519-sha256', 'rsa-sha256']);
      const py = await dkimpyVerify(raw, txt);
      assert.equal(py.length, 2);
      assert.ok(py.every((r) => r.ok), JSON.stringify(py));

      // Message-ID and Date are present (RFC 5322 §3.6).
      assert.match(raw.toString(), /^Message-ID: <[^@\s>]+@[^@\s>]+>/im);
      assert.match(raw.toString(), /^Date: /im);

      // notify learns of the delivery from the mail server's webhook.
      const key = stack.secrets.serviceKeys[0];
      const row = await poll('notification row', async () =>
        (await stack.store.get<{ id: string }>('SELECT id FROM notify_notifications WHERE recipient = ?', [email])) ?? undefined);
      const status = await poll('status delivered', async () => {
        const r = await fetch(`${stack.urls['notify-http']}/api/v1/notifications/${row.id}`, { headers: { 'X-Service-Key': key } });
        const body = (await r.json()) as { notification: { status: string } };
        return body.notification.status === 'delivered' ? body.notification.status : undefined;
      });
      assert.equal(status, 'delivered');
    });

    it('a wrong SMTP password gets 535 5.7.8 (RFC 4954 §6), and so does the account name with its domain', async () => {
      const port = stack.mail!.ports.submission;
      for (const user of ['noreply', `noreply@${DOMAIN}`]) {
        const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user, pass: user === 'noreply' ? 'wrong password' : stack.secrets.noreplyPassword } });
        const err = await transport.sendMail({ from: `noreply@${DOMAIN}`, to: 'x@example.net', subject: 's', text: 't' }).catch((e) => e);
        assert.equal(err?.responseCode, 535, String(err));
        assert.match(String(err.response), /^535 5\.7\.8 Authentication credentials invalid/);
        transport.close();
      }
    });

    it('bad input gets the documented errors: wrong service key, bad JSON, missing fields', async () => {
      const url = `${stack.urls['notify-http']}/api/v1/notifications/send`;
      const wrong = await fetch(url, { method: 'POST', headers: { 'X-Service-Key': 'wrong', 'content-type': 'application/json' }, body: '{}' });
      assert.equal(wrong.status, 401);
      assert.deepEqual(await wrong.json(), { error: 'unauthorized: invalid service key' });
      const key = stack.secrets.serviceKeys[0];
      const bad = await fetch(url, { method: 'POST', headers: { 'X-Service-Key': key, 'content-type': 'application/json' }, body: '{not json' });
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as any).error.message, 'invalid request body');
      const missing = await fetch(url, { method: 'POST', headers: { 'X-Service-Key': key, 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'email' }) });
      assert.equal(missing.status, 400);
      assert.equal(((await missing.json()) as any).error.message, 'appId is required');
    });
  });
}
