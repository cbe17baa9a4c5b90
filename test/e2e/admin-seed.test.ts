// The seed's admin commands ("Creating Accounts via API", "Regenerating DKIM Keys") run verbatim with curl against the admin port; the account they make submits mail, and a regenerated DKIM key signs the next message, no restart.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeTestContext, type TestContext } from '../support/context.ts';
import { startMail, type RunningMail } from '../../src/mail/service.ts';
import { runSwaks, swaksArgs, SWAKS_EXIT } from '../support/swaks.ts';
import { dkimpyVerify } from '../support/dkimpy.ts';

const run = promisify(execFile);

// Copied from ../shared/seed/MAIL_SERVER.md; only "localhost:8443" changes (to the test's admin port).
const SEED_CREATE_ACCOUNT = String.raw`# Password must be SHA512-crypt hashed ($6$ prefix)
HASH=$(docker exec mana-mail sh -c 'echo -n "PASSWORD" | openssl passwd -6 -stdin')
curl -u admin:PASSWORD http://localhost:8443/api/principal -X POST \
-H "Content-Type: application/json" \
-d "{\"type\":\"individual\",\"name\":\"USERNAME\",\"secrets\":[\"$HASH\"],\"emails\":[\"USER@mana.how\"]}"
# Assign 'user' role (required for SMTP access)
curl -u admin:PASSWORD http://localhost:8443/api/principal/USERNAME -X PATCH \
-H "Content-Type: application/json" \
-d '[{"action":"set","field":"roles","value":["user"]}]'
`;

const SEED_REGENERATE_DKIM = String.raw`curl -u admin:PASSWORD http://localhost:8443/api/dkim -X POST \
-H "Content-Type: application/json" \
-d '{"algorithm":"Ed25519","selector":"mana2026","domain":"mana.how"}'
# Get DNS records to update in Cloudflare
curl -u admin:PASSWORD http://localhost:8443/api/dns/records/mana.how
`;

type DnsRecord = { type: string; name: string; content: string };

describe("the seed's admin commands, verbatim", () => {
  let t: TestContext;
  let mail: RunningMail;
  let shim: string;
  let admin: string;

  /** Runs seed shell text with /usr/bin/curl; `docker exec mana-mail CMD` runs CMD here (the mail server is this process). */
  async function seed(text: string): Promise<string> {
    const script = text.replaceAll('localhost:8443', `127.0.0.1:${mail.ports.admin}`);
    const { stdout } = await run('/bin/bash', ['-euo', 'pipefail', '-c', script], { env: { PATH: `${shim}:/usr/bin:/bin`, HOME: shim }, timeout: 30_000 });
    return stdout;
  }

  async function api<T>(path: string): Promise<T> {
    const r = await fetch(`${admin}${path}`, { headers: { authorization: `Basic ${Buffer.from('admin:PASSWORD').toString('base64')}` } });
    assert.equal(r.status, 200, path);
    return (await r.json()) as T;
  }

  /** Sends with swaks as the seed's account, over STARTTLS + AUTH PLAIN, and returns the message as captured. */
  async function submit(subject: string): Promise<Buffer> {
    const r = await runSwaks(swaksArgs({
      port: mail.ports.submission, tls: 'starttls', auth: 'PLAIN', user: 'USERNAME', password: 'PASSWORD',
      from: 'USER@mana.how', to: 'someone@example.org', headers: { Subject: subject },
    }));
    assert.equal(r.code, SWAKS_EXIT.ok, r.transcript);
    const end = Date.now() + 20_000;
    for (;;) {
      const { data } = await api<{ data: { items: Array<{ id: number }> } }>('/api/captured?rcpt=someone@example.org');
      for (const item of data.items) {
        const res = await fetch(`${admin}/api/captured/${item.id}`, { headers: { authorization: `Basic ${Buffer.from('admin:PASSWORD').toString('base64')}` } });
        const raw = Buffer.from(await res.arrayBuffer());
        if (raw.includes(`Subject: ${subject}`)) return raw;
      }
      if (Date.now() > end) throw new Error(`message "${subject}" was not captured`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const txtMap = (records: DnsRecord[]) => Object.fromEntries(records.filter((r) => r.type === 'TXT').map((r) => [r.name, r.content]));

  before(async () => {
    shim = mkdtempSync(join(tmpdir(), 'mana-seed-'));
    // docker exec CONTAINER CMD... -> CMD...
    writeFileSync(join(shim, 'docker'), '#!/bin/sh\n[ "$1" = exec ] || exit 2\nshift 2\nexec "$@"\n');
    chmodSync(join(shim, 'docker'), 0o755);
    t = await makeTestContext({ overrides: { mail: { domain: 'mana.how', publicIp: ['192.0.2.25'] } }, env: { MAIL_ADMIN_PASSWORD: 'PASSWORD' } });
    mail = await startMail(t.ctx);
    admin = `http://127.0.0.1:${mail.ports.admin}`;
  });

  after(async () => {
    await mail?.close();
    await t?.cleanup();
    rmSync(shim, { recursive: true, force: true });
  });

  it('"Creating Accounts via API": both curl commands succeed with an openssl passwd -6 hash', async () => {
    const out = await seed(SEED_CREATE_ACCOUNT);
    assert.match(out, /^\{"data":\d+\}\{"data":null\}$/, out);
    const { data } = await api<{ data: { name: string; emails: string[]; roles: string[]; secrets: string[] } }>('/api/principal/USERNAME');
    assert.deepEqual([data.name, data.emails, data.roles], ['USERNAME', ['user@mana.how'], ['user']]);
    assert.deepEqual(data.secrets, ['[redacted sha512-crypt]'], 'the hash is stored as given and never shown');
  });

  it('the account submits with swaks over STARTTLS + AUTH PLAIN (RFC 3207, RFC 4954)', async () => {
    const raw = await submit('first message');
    assert.match(raw.toString('latin1'), /^DKIM-Signature:/im);
  });

  it('a wrong password gets 535 5.7.8 (RFC 4954 §6)', async () => {
    const r = await runSwaks(swaksArgs({ port: mail.ports.submission, tls: 'starttls', auth: 'PLAIN', user: 'USERNAME', password: 'WRONG', from: 'USER@mana.how', to: 'someone@example.org' }));
    assert.equal(r.code, SWAKS_EXIT.authError, r.transcript);
    assert.ok(r.replies.some((l) => l.startsWith('535 5.7.8 ')), r.transcript);
  });

  it('user@domain as the username gets 535 5.7.8: the name is used without domain', async () => {
    const r = await runSwaks(swaksArgs({ port: mail.ports.submission, tls: 'starttls', auth: 'PLAIN', user: 'USER@mana.how', password: 'PASSWORD', from: 'USER@mana.how', to: 'someone@example.org' }));
    assert.equal(r.code, SWAKS_EXIT.authError, r.transcript);
    assert.ok(r.replies.some((l) => l.startsWith('535 5.7.8 ')), r.transcript);
  });

  it('"Regenerating DKIM Keys": the next message is signed with the new key, verified by dkimpy against the published record, no restart', async () => {
    const before = txtMap((await api<{ data: DnsRecord[] }>('/api/dns/records/mana.how')).data);
    const old = await submit('signed with the old key');
    const oldResults = await dkimpyVerify(old, before);
    assert.ok(oldResults.length >= 2 && oldResults.every((r) => r.ok), JSON.stringify(oldResults));

    const out = await seed(SEED_REGENERATE_DKIM);
    const [created, listed] = out.split(/(?<=\})(?=\{"data")/);
    const dkim = JSON.parse(created) as { data: { selector: string } };
    assert.equal(dkim.data.selector, 'mana2026');
    const records = (JSON.parse(listed) as { data: DnsRecord[] }).data;
    const published = txtMap(records);
    assert.notEqual(published['mana2026._domainkey.mana.how.'], before['mana2026._domainkey.mana.how.'], 'a new key is published');
    for (const type of ['MX', 'TXT', 'SRV', 'CNAME']) assert.ok(records.some((r) => r.type === type), type);
    assert.equal(published['_dmarc.mana.how.'], 'v=DMARC1; p=quarantine; rua=mailto:postmaster@mana.how');
    assert.equal(published['mana.how.'], 'v=spf1 a mx ip4:192.0.2.25 ~all');

    const fresh = await submit('signed with the new key');
    const results = await dkimpyVerify(fresh, published);
    const ed = results.find((r) => r.selector === 'mana2026');
    assert.ok(ed?.ok, JSON.stringify(results));
    assert.ok(results.find((r) => r.selector === 'rsa2026')?.ok, JSON.stringify(results));
    const stale = (await dkimpyVerify(old, published)).find((r) => r.selector === 'mana2026');
    assert.equal(stale?.ok, false, 'the old message does not verify with the new key: the key really changed');
  });
});
