// `mana dkim` and `mana dns records`: keys per domain (RFC 6376, RFC 8463) and the records to publish, as a table, JSON and a zone file (RFC 1035 §5).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestContext, type TestContext } from '../../test/support/context.ts';
import { listDkimKeys } from '../mail/dkim/key-store.ts';
import { run as dkim } from './dkim.ts';
import { run as dns } from './dns.ts';
import { run as domain } from './domain.ts';
import type { CliIo } from './args.ts';

describe('mana dkim / mana dns records', () => {
  let t: TestContext;
  const out: string[] = [];
  const err: string[] = [];
  let io: CliIo;
  const reset = () => { out.length = 0; err.length = 0; };

  before(async () => {
    t = await makeTestContext({ overrides: { mail: { publicIp: ['192.0.2.7', '2001:db8::7'], hostname: 'mail.mana.how' } } });
    io = { config: t.ctx.config, store: t.ctx.store, out: (s) => out.push(s), err: (s) => err.push(s) };
    assert.equal(await domain(['add', 'mana.how'], io), 0);
  });
  after(async () => t.cleanup());

  it('dkim create makes an Ed25519 key by default and prints the TXT record to publish', async () => {
    reset();
    assert.equal(await dkim(['create', 'mana.how', '--selector', 'mana2026'], io), 0);
    assert.match(out.join('\n'), /^mana2026\._domainkey\.mana\.how\.  TXT  "v=DKIM1; k=ed25519; h=sha256; p=[A-Za-z0-9+/]{43}="$/m);
    assert.equal(await dkim(['create', 'mana.how', '--algorithm', 'rsa', '--selector', 'rsa2027'], io), 0);
    const keys = await listDkimKeys(t.ctx.store, 'mana.how');
    // domain add made an Ed25519 and an RSA key; mana2026 was replaced, rsa2027 added beside the first RSA key.
    assert.deepEqual(keys.map((k) => [k.algorithm, k.status]).sort(), [['ed25519', 'active'], ['rsa', 'active'], ['rsa', 'active']]);
    assert.ok(keys.some((k) => k.selector === 'rsa2027'));
  });

  it('dkim create errors: unknown domain, bad algorithm, bad selector', async () => {
    reset();
    assert.equal(await dkim(['create', 'nowhere.example'], io), 1);
    assert.match(err.join('\n'), /nowhere\.example/);
    assert.equal(await dkim(['create', 'mana.how', '--algorithm', 'dsa'], io), 2);
    assert.equal(await dkim(['create', 'mana.how', '--selector', 'bad selector'], io), 1);
    assert.equal(await dkim(['create'], io), 2);
  });

  it('dkim list shows every key; retire stops one and leaves it listed as retired', async () => {
    const rsa = (await listDkimKeys(t.ctx.store, 'mana.how')).find((k) => k.selector === 'rsa2027')!;
    reset();
    assert.equal(await dkim(['retire', 'mana.how', rsa.selector], io), 0);
    assert.equal(await dkim(['retire', 'mana.how', rsa.selector], io), 1, 'already retired');
    reset();
    assert.equal(await dkim(['list', 'mana.how'], io), 0);
    assert.match(out.join('\n'), /^mana\.how\s+mana2026\s+ed25519\s+active\s/m);
    assert.match(out.join('\n'), new RegExp(`^mana\\.how\\s+${rsa.selector}\\s+rsa\\s+retired\\s`, 'm'));
  });

  it('dns records prints a table with SPF of the configured addresses and only active keys', async () => {
    reset();
    assert.equal(await dns(['records', 'mana.how'], io), 0);
    const text = out.join('\n');
    assert.match(text, /^TYPE\s+NAME\s+CONTENT$/m);
    assert.match(text, /^MX\s+mana\.how\.\s+10 mail\.mana\.how\.$/m);
    assert.match(text, /^TXT\s+mana\.how\.\s+v=spf1 a mx ip4:192\.0\.2\.7 ip6:2001:db8::7 ~all$/m);
    assert.match(text, /^A\s+mail\.mana\.how\.\s+192\.0\.2\.7$/m);
    assert.match(text, /^TXT\s+mana2026\._domainkey\.mana\.how\.\s+v=DKIM1; k=ed25519/m);
    assert.doesNotMatch(text, /rsa2027/, 'the retired key is not published');
    assert.match(text, /^TXT\s+rsa2026\._domainkey\.mana\.how\.\s+v=DKIM1; k=rsa/m, 'the other RSA key is');
  });

  it('dns records --json gives what GET /api/dns/records gives; --zone a zone file', async () => {
    reset();
    assert.equal(await dns(['records', 'mana.how', '--json'], io), 0);
    const records = JSON.parse(out.join('\n')) as Array<{ type: string; name: string; content: string }>;
    assert.equal(records.find((r) => r.name === '_dmarc.mana.how.')?.content, 'v=DMARC1; p=quarantine; rua=mailto:postmaster@mana.how');
    reset();
    assert.equal(await dns(['records', 'mana.how', '--zone'], io), 0);
    assert.match(out.join('\n'), /^_dmarc\.mana\.how\.\s+3600\tIN\tTXT\t"v=DMARC1; p=quarantine; rua=mailto:postmaster@mana\.how"$/m);
  });

  it('dns records errors: unknown domain, bad usage', async () => {
    reset();
    assert.equal(await dns(['records', 'nowhere.example'], io), 1);
    assert.equal(await dns(['records'], io), 2);
    assert.equal(await dns(['records', 'mana.how', '--json', '--zone'], io), 2);
    assert.equal(await dns(['zone'], io), 2);
  });
});
