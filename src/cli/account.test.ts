// `mana account` and `mana domain`: the accounts the seed makes with curl, from the command line, checked against what SMTP AUTH verifies.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { makeTestContext, type TestContext } from '../../test/support/context.ts';
import { authenticate, getPrincipal } from '../mail/accounts.ts';
import { run as account } from './account.ts';
import { run as domain } from './domain.ts';
import type { CliIo } from './args.ts';

describe('mana account / mana domain', () => {
  let t: TestContext;
  let out: string[];
  let err: string[];
  let io: CliIo;
  const text = () => out.join('\n');

  before(async () => {
    t = await makeTestContext();
    out = [];
    err = [];
    io = { config: t.ctx.config, store: t.ctx.store, out: (s) => out.push(s), err: (s) => err.push(s) };
  });
  after(async () => t.cleanup());

  const reset = () => { out.length = 0; err.length = 0; };

  it('domain add makes a domain local; domain list shows it', async () => {
    assert.equal(await domain(['add', 'Mana.How'], io), 0);
    reset();
    assert.equal(await domain(['list'], io), 0);
    assert.match(text(), /^mana\.how\s+mana2026 \(ed25519\), rsa2026 \(rsa\)$/m, 'a new domain gets both keys');
    reset();
    assert.equal(await domain(['add', 'mana.how'], io), 1, 'twice is an error');
    assert.match(err.join('\n'), /exists/);
    assert.equal(await domain(['add', 'not a domain'], io), 1);
  });

  it('account create with an openssl passwd -6 hash: SMTP AUTH accepts the password; roles default to user', async () => {
    const hash = execFileSync('openssl', ['passwd', '-6', '-stdin'], { input: 'PASSWORD' }).toString().trim();
    reset();
    assert.equal(await account(['create', 'noreply', '--password-hash', hash, '--email', 'noreply@mana.how'], io), 0);
    const p = await getPrincipal(t.ctx.store, 'noreply');
    assert.deepEqual([p?.secrets, p?.roles, p?.emails], [[hash], ['user'], ['noreply@mana.how']]);
    assert.ok(await authenticate(t.ctx.store, 'noreply', 'PASSWORD'));
    assert.equal(await authenticate(t.ctx.store, 'noreply@mana.how', 'PASSWORD'), undefined);
  });

  it('account create without a password generates one and prints it once', async () => {
    reset();
    assert.equal(await account(['create', 'postmaster', '--email', 'postmaster@mana.how'], io), 0);
    const pw = /password: (\S+)/.exec(text())?.[1];
    assert.ok(pw && pw.length >= 20, text());
    assert.ok(await authenticate(t.ctx.store, 'postmaster', pw));
  });

  it('account create errors: duplicate, unknown domain, bad usage', async () => {
    reset();
    assert.equal(await account(['create', 'noreply', '--password', 'x'], io), 1);
    assert.match(err.join('\n'), /exists/);
    assert.equal(await account(['create', 'eve', '--password', 'x', '--email', 'eve@nowhere.example'], io), 1);
    assert.match(err.join('\n'), /nowhere\.example/);
    assert.equal(await account(['create'], io), 2);
    assert.equal(await account(['create', 'eve', '--password', 'x', '--password-hash', '$6$x'], io), 2);
    assert.equal(await account(['create', 'eve', '--bogus'], io), 2);
    assert.equal(await account(['frobnicate'], io), 2);
    assert.match(err.join('\n'), /Usage:/);
  });

  it('account list shows names, roles and addresses, never secrets', async () => {
    reset();
    assert.equal(await account(['list'], io), 0);
    assert.match(text(), /^NAME\s+TYPE\s+ROLES\s+EMAILS$/m);
    assert.match(text(), /^noreply\s+individual\s+user\s+noreply@mana\.how$/m);
    assert.doesNotMatch(text(), /\$6\$|argon2/);
  });

  it('account passwd replaces the password', async () => {
    reset();
    assert.equal(await account(['passwd', 'noreply', '--password', 'new-secret'], io), 0);
    assert.ok(await authenticate(t.ctx.store, 'noreply', 'new-secret'));
    assert.equal(await authenticate(t.ctx.store, 'noreply', 'PASSWORD'), undefined);
    assert.equal(await account(['passwd', 'nobody', '--password', 'x'], io), 1);
  });

  it('account roles shows, sets, adds and removes roles', async () => {
    reset();
    assert.equal(await account(['roles', 'noreply'], io), 0);
    assert.equal(text(), 'noreply: user');
    reset();
    assert.equal(await account(['roles', 'noreply', 'user', 'admin'], io), 0);
    assert.equal(text(), 'noreply: user admin');
    reset();
    assert.equal(await account(['roles', 'noreply', '--remove', 'admin', '--add', 'reports'], io), 0);
    assert.equal(text(), 'noreply: user reports');
    assert.equal(await account(['roles', 'noreply', 'user', '--add', 'x'], io), 2);
    assert.equal(await account(['roles', 'nobody'], io), 1);
  });

  it('account create --api-key makes a key with a generated token', async () => {
    reset();
    assert.equal(await account(['create', 'deploy', '--api-key'], io), 0);
    assert.match(text(), /token: \S{20,}/);
    assert.equal((await getPrincipal(t.ctx.store, 'deploy'))?.type, 'apiKey');
  });

  it('account delete removes the account and its addresses', async () => {
    reset();
    assert.equal(await account(['delete', 'postmaster'], io), 0);
    assert.equal(await getPrincipal(t.ctx.store, 'postmaster'), undefined);
    assert.equal(await t.ctx.store.get('SELECT 1 AS x FROM mail_addresses WHERE address = ?', ['postmaster@mana.how']), undefined);
    assert.equal(await account(['delete', 'postmaster'], io), 1);
  });
});
