// `mana doctor`: DNS as published vs as needed (RFC 7208, 6376, 7489), SMTP ports with STARTTLS (RFC 3207) and implicit TLS (RFC 8314), the certificate, PTR/HELO and the open-relay self-test, over real sockets.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DOMAIN, HOSTNAME, startMailHarness, type MailHarness } from '../../../test/e2e/mail-harness.ts';
import type { Zone } from '../../../test/support/dns-zone.ts';
import { createAddressFinder, dnsRecordsFor } from '../../mail/admin/dns.ts';
import { createResolver } from '../../mail/route/resolver.ts';
import { compareTxt, normalizeTxt, reverseName, run, runDoctor, type CheckResult, type DoctorOptions } from './index.ts';

const byCheck = (results: CheckResult[], check: string) => {
  const r = results.find((x) => x.check === check);
  assert.ok(r, `no result for ${check} in ${JSON.stringify(results.map((x) => x.check))}`);
  return r;
};

/** The zone as `mana dns records` says to publish it, written a little differently (spacing), as people do. */
async function correctZone(h: MailHarness): Promise<Zone> {
  const config = h.test.ctx.config;
  const resolver = createResolver({ servers: config.mail.dnsServers, timeoutMs: 1000, tries: 1 });
  const records = await dnsRecordsFor({ q: h.store, config, domain: DOMAIN, addresses: await createAddressFinder({ config, resolver })() });
  const zone: Zone = {};
  const entry = (name: string) => (zone[name.replace(/\.$/, '')] ??= {});
  for (const r of records) {
    if (r.type === 'A') (entry(r.name).A ??= []).push(r.content);
    if (r.type === 'MX') (entry(r.name).MX ??= []).push({ priority: 10, exchange: r.content.split(' ')[1].replace(/\.$/, '') });
    if (r.type === 'CNAME') entry(r.name).CNAME = r.content.replace(/\.$/, '');
    if (r.type === 'SRV') {
      const [priority, weight, port, target] = r.content.split(' ');
      (entry(r.name).SRV ??= []).push({ priority: Number(priority), weight: Number(weight), port: Number(port), target: target.replace(/\.$/, '') });
    }
    if (r.type === 'TXT') (entry(r.name).TXT ??= []).push(r.content.replace(/^v=spf1 /, 'v=spf1  ').replace('; p=quarantine', ';p=quarantine'));
  }
  (entry(DOMAIN).TXT ??= []).push('google-site-verification=abc123');
  zone['1.0.0.127.in-addr.arpa'] = { PTR: [HOSTNAME] };
  return zone;
}

describe('mana doctor', () => {
  let h: MailHarness;
  let zone: Zone;
  let base: DoctorOptions;

  before(async () => {
    // The server's public address is loopback here, so the records point at the harness.
    h = await startMailHarness({ mail: { publicIp: ['127.0.0.1'] } });
    zone = await correctZone(h);
    h.zone.update(zone);
    base = {
      config: h.test.ctx.config,
      store: h.store,
      domain: DOMAIN,
      ports: { smtp: h.mail.ports.inbound, submission: h.mail.ports.submission, submissions: h.mail.ports.submissions },
      timeoutMs: 3000,
    };
  });
  after(async () => h?.close());

  it('a complete zone: every needed record ok, three ports with TLS, FCrDNS = HELO name, relay refused from 127.0.0.2', async () => {
    const results = await runDoctor({ ...base, fromIp: '127.0.0.2' });
    const dns = results.filter((r) => r.check.startsWith('dns '));
    assert.ok(dns.length >= 10, JSON.stringify(dns));
    for (const r of dns) assert.equal(r.status, 'ok', JSON.stringify(r));
    const srv = dns.filter((r) => r.check.startsWith('dns SRV '));
    assert.ok(srv.length >= 2, `SRV for submission and submissions (RFC 6186 §3.1, RFC 8314 §5.1): ${JSON.stringify(dns.map((r) => r.check))}`);
    assert.match(byCheck(results, `dns SRV _submission._tcp.${DOMAIN}`).detail, new RegExp(`^published 0 1 \\d+ ${HOSTNAME.replace(/\./g, '\\.')}$`));
    assert.ok(dns.filter((r) => / \(DKIM\)$/.test(r.check)).length === 2, 'the Ed25519 and the RSA key (split into 255-byte strings)');
    assert.match(byCheck(results, `dns TXT ${DOMAIN} (SPF)`).detail, /^published "v=spf1 a mx ip4:127\.0\.0\.1 ~all"$/);
    assert.match(byCheck(results, 'target').detail, new RegExp(`^${HOSTNAME} \\(MX of ${DOMAIN}\\) = 127\\.0\\.0\\.1`));
    assert.match(byCheck(results, `smtp 127.0.0.1:${h.mail.ports.inbound}`).detail, /^220 .*; STARTTLS \(TLSv1\.[23]\)$/);
    assert.match(byCheck(results, `submission 127.0.0.1:${h.mail.ports.submission}`).detail, /STARTTLS/);
    assert.match(byCheck(results, `submissions 127.0.0.1:${h.mail.ports.submissions}`).detail, /implicit TLS/);
    for (const kind of ['smtp', 'submission', 'submissions']) {
      const cert = byCheck(results, `certificate ${kind}`);
      assert.equal(cert.status, 'warn', JSON.stringify(cert));
      assert.match(cert.detail, new RegExp(`covers ${HOSTNAME}; expires in \\d+ days; self-signed`));
    }
    assert.deepEqual(byCheck(results, 'ptr 127.0.0.1'), { check: 'ptr 127.0.0.1', status: 'ok', detail: `PTR ${HOSTNAME} resolves back to 127.0.0.1 and equals the HELO name` });
    const relay = byCheck(results, 'open-relay');
    assert.equal(relay.status, 'ok', JSON.stringify(relay));
    assert.match(relay.detail, /^relay from 127\.0\.0\.2 refused: 550 5\.7\.1/);
    assert.deepEqual(results.filter((r) => r.status === 'error'), []);
  });

  it('the relay test is skipped from loopback, which our server trusts, unless --from-ip is given', async () => {
    const relay = byCheck(await runDoctor(base), 'open-relay');
    assert.equal(relay.status, 'skip');
    assert.match(relay.detail, /loopback.*--from-ip/);
  });

  it('one SRV record missing is a warning, not an error: SRV only helps mail clients find the server (RFC 6186)', async () => {
    const partial: Zone = structuredClone(zone);
    delete partial[`_submissions._tcp.${DOMAIN}`];
    h.zone.update(partial);
    try {
      const results = await runDoctor({ ...base, fromIp: '127.0.0.2' });
      const missing = byCheck(results, `dns SRV _submissions._tcp.${DOMAIN}`);
      assert.equal(missing.status, 'warn', JSON.stringify(missing));
      assert.match(missing.detail, /^missing: needed 0 1 \d+ .*\(optional: for mail clients, RFC 6186\)$/);
      assert.equal(byCheck(results, `dns SRV _submission._tcp.${DOMAIN}`).status, 'ok');
      assert.deepEqual(results.filter((r) => r.status === 'error'), []);
    } finally {
      h.zone.update(zone);
    }
  });

  it('DKIM missing, SPF different, two HELO SPF records (RFC 7208 §4.5), DMARC p=none, SERVFAIL: reported, exit code 1', async () => {
    const broken: Zone = structuredClone(zone);
    for (const name of Object.keys(broken)) if (name.includes('._domainkey.')) delete broken[name];
    broken[DOMAIN].TXT = ['v=spf1 ip4:198.51.100.7 -all'];
    broken[HOSTNAME].TXT = ['v=spf1 a ~all', 'v=spf1 mx -all'];
    broken[`_dmarc.${DOMAIN}`].TXT = [`v=DMARC1; p=none; rua=mailto:postmaster@${DOMAIN}`];
    broken[`_smtp._tls.${DOMAIN}`] = { servfail: true };
    h.zone.update(broken);
    try {
      const results = await runDoctor({ ...base, fromIp: '127.0.0.2' });
      const dkim = results.filter((r) => / \(DKIM\)$/.test(r.check));
      assert.equal(dkim.length, 2);
      for (const r of dkim) assert.deepEqual([r.status, r.detail.split(':')[0]], ['error', 'missing'], JSON.stringify(r));
      const spf = byCheck(results, `dns TXT ${DOMAIN} (SPF)`);
      assert.equal(spf.status, 'error');
      assert.match(spf.detail, /^different: lacks a mx ip4:127\.0\.0\.1; published "v=spf1 ip4:198\.51\.100\.7 -all"; needed "v=spf1 a mx ip4:127\.0\.0\.1 ~all"$/);
      const helo = byCheck(results, `dns TXT ${HOSTNAME} (SPF)`);
      assert.equal(helo.status, 'error');
      assert.match(helo.detail, /^invalid: 2 SPF records.*RFC 7208 §4\.5/);
      const tlsRpt = byCheck(results, `dns TXT _smtp._tls.${DOMAIN} (TLS-RPT)`);
      assert.deepEqual([tlsRpt.status, tlsRpt.detail.split(' (')[0]], ['error', 'error: lookup failed'], 'SERVFAIL is a temporary failure, not missing');
      const dmarc = byCheck(results, `dns TXT _dmarc.${DOMAIN} (DMARC)`);
      assert.equal(dmarc.status, 'warn');
      assert.match(dmarc.detail, /p=none/);
      // The other checks still ran.
      assert.equal(byCheck(results, 'open-relay').status, 'ok');
      assert.equal(byCheck(results, `dns MX ${DOMAIN}`).status, 'ok');

      const out: string[] = [];
      const io = { config: base.config, store: h.store, out: (s: string) => out.push(s), err: (s: string) => out.push(s) };
      const ports = `${h.mail.ports.inbound},${h.mail.ports.submission},${h.mail.ports.submissions}`;
      assert.equal(await run([DOMAIN, '--ports', ports, '--from-ip', '127.0.0.2'], io), 1);
      const text = out.join('\n');
      assert.match(text, new RegExp(`^error  dns TXT ${DOMAIN.replace('.', '\\.')} \\(SPF\\) +different: `, 'm'));
      assert.match(text, /^warn   certificate smtp +CN=/m);
      assert.match(text, /checks: \d+ ok, \d+ warn, 5 error, 0 skipped - fix the errors above$/);
    } finally {
      h.zone.update(zone);
    }
  });

  it('a port with nothing listening is an error at once; the other checks go on', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const dead = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const started = Date.now();
    const results = await runDoctor({ ...base, ports: { ...base.ports, submissions: dead }, fromIp: '127.0.0.2' });
    assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`);
    assert.deepEqual(byCheck(results, `submissions 127.0.0.1:${dead}`), { check: `submissions 127.0.0.1:${dead}`, status: 'error', detail: 'connection refused (nothing listening)' });
    assert.equal(byCheck(results, 'certificate submissions').status, 'skip');
    assert.equal(byCheck(results, `submission 127.0.0.1:${h.mail.ports.submission}`).status, 'ok');
  });

  it('a server that never answers times out within the step limit', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const started = Date.now();
      const results = await runDoctor({ ...base, ports: { ...base.ports, smtp: port }, timeoutMs: 300 });
      assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`);
      assert.deepEqual(byCheck(results, `smtp 127.0.0.1:${port}`), { check: `smtp 127.0.0.1:${port}`, status: 'error', detail: 'no greeting within 300 ms' });
    } finally {
      silent.close();
    }
  });

  it('node src/main.ts doctor DOMAIN --json, configured through the environment', async () => {
    writeFileSync(join(h.test.dataDir, 'config.toml'), '');
    const env = {
      PATH: process.env.PATH ?? '',
      MANA_DATA_DIR: h.test.dataDir,
      MANA_LOG_LEVEL: 'silent',
      MAIL_DOMAIN: DOMAIN,
      MAIL_HOSTNAME: HOSTNAME,
      MAIL_PUBLIC_IP: '127.0.0.1',
      MAIL_DNS_SERVERS: h.test.ctx.config.mail.dnsServers.join(','),
      MAIL_SMTP_PORT: String(h.mail.ports.inbound),
      MAIL_SUBMISSION_PORT: String(h.mail.ports.submission),
      MAIL_SUBMISSIONS_PORT: String(h.mail.ports.submissions),
    };
    const child = spawn(process.execPath, ['src/main.ts', 'doctor', DOMAIN, '--json', '--from-ip', '127.0.0.2', '--timeout', '3000'], { env, cwd: join(import.meta.dirname, '../../..') });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, stderr + stdout);
    const results = JSON.parse(stdout) as CheckResult[];
    assert.ok(results.every((r) => Object.keys(r).join() === 'check,status,detail'));
    assert.match(byCheck(results, 'target').detail, /configured listeners' ports: smtp \d+, submission \d+, submissions \d+$/);
    assert.equal(byCheck(results, `smtp 127.0.0.1:${h.mail.ports.inbound}`).status, 'ok');
    assert.equal(byCheck(results, 'open-relay').status, 'ok');
    assert.equal(byCheck(results, `dns TXT _dmarc.${DOMAIN} (DMARC)`).status, 'ok');
  });
});

describe('doctor record comparison', () => {
  it('TXT: character-strings joined, pasted zone-file quoting undone, whitespace collapsed (RFC 1035 §3.3.14)', () => {
    assert.equal(normalizeTxt(['v=spf1 a ', 'mx ~all']), 'v=spf1 a mx ~all');
    assert.equal(normalizeTxt(['"v=DKIM1; k=rsa; " "p=MIIB"']), 'v=DKIM1; k=rsa; p=MIIB');
    assert.equal(normalizeTxt('  v=DMARC1;\tp=reject  '), 'v=DMARC1; p=reject');
  });

  it('SPF: mechanisms in any order and case, -all accepted for ~all, extras noted; +all is different', () => {
    const needed = 'v=spf1 a mx ip4:192.0.2.1 ip6:2001:db8::1 ~all';
    assert.equal(compareTxt(needed, ['v=spf1 MX +a ip6:2001:0db8:0:0:0:0:0:1 ip4:192.0.2.1 include:_spf.example.org -all']).status, 'ok');
    assert.equal(compareTxt(needed, ['v=spf1 a mx ip4:192.0.2.1 ip6:2001:db8::1 +all']).status, 'different');
    assert.equal(compareTxt(needed, ['some other text']).status, 'missing');
  });

  it('DKIM: p= compared exactly (whitespace inside ignored, RFC 6376 §3.6.1), v= optional', () => {
    const needed = 'v=DKIM1; k=ed25519; h=sha256; p=AbC+/=';
    assert.equal(compareTxt(needed, ['k=ed25519; p=AbC +/=']).status, 'ok');
    assert.equal(compareTxt(needed, ['v=DKIM1; k=ed25519; p=abc+/=']).status, 'different');
    assert.equal(compareTxt(needed, ['v=DKIM1; p=AbC+/=']).status, 'different', 'k= defaults to rsa');
  });

  it('DMARC: p=reject is stricter and ok; a missing rua address is different; two records are invalid (RFC 7489 §6.6.3)', () => {
    const needed = 'v=DMARC1; p=quarantine; rua=mailto:postmaster@mana.test';
    assert.equal(compareTxt(needed, ['v=DMARC1; p=reject; rua=mailto:Postmaster@mana.test,mailto:x@example.org']).status, 'ok');
    assert.equal(compareTxt(needed, ['v=DMARC1; p=quarantine']).status, 'different');
    assert.equal(compareTxt(needed, [needed, needed]).status, 'invalid');
  });

  it('reverse names (RFC 1035 §3.5, RFC 3596 §2.5)', () => {
    assert.equal(reverseName('192.0.2.7'), '7.2.0.192.in-addr.arpa');
    assert.equal(reverseName('2001:db8::1'), `1.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.ip6.arpa`);
  });
});
