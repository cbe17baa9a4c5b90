// `mana config check`: the seed's config.toml (Stalwart keys, bare network keys) passes; mistakes are reported with their key and line.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/load.ts';
import { run, keyLines } from './config.ts';
import type { CliIo } from './args.ts';

// The customizations of ../shared/seed/MAIL_SERVER.md, as written there.
const SEED = `[lookup.default]
hostname = "mail.mana.how"

[server.security]
analysis.scan-ban = false # Disable auto-ban for Docker internal IPs

[server.allowed-ip]
172.18.0.0/16 = true # Trust Docker network
`;

describe('mana config check', () => {
  let dir: string;
  const out: string[] = [];
  const err: string[] = [];
  let io: CliIo;
  const check = async (name: string, text: string) => {
    out.length = 0;
    err.length = 0;
    const file = join(dir, name);
    writeFileSync(file, text);
    return run(['check', file], io);
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mana-config-'));
    io = { config: loadConfig({ env: { MANA_DATA_DIR: dir } }), store: undefined as never, out: (s) => out.push(s), err: (s) => err.push(s) };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("the seed's customizations pass, and load as hostname, allowed-ip and scan-ban", async () => {
    assert.equal(await check('seed.toml', SEED), 0, out.join('\n'));
    assert.match(out.join('\n'), /seed\.toml: ok$/);
    const config = loadConfig({ env: {}, file: join(dir, 'seed.toml') });
    assert.equal(config.mail.hostname, 'mail.mana.how');
    assert.deepEqual(config.mail.allowedIp, ['172.18.0.0/16']);
    assert.equal(config.mail.scanBan, false);
  });

  it('auto-ban rates in Stalwart form and our own keys are accepted', async () => {
    const text = `[server.auto-ban]\nauth.rate = "5/10m"\n\n[mail.security]\nbanLoopback = true\nbanDuration = 0\n`;
    assert.equal(await check('rates.toml', text), 0, out.join('\n'));
    const config = loadConfig({ env: {}, file: join(dir, 'rates.toml') });
    assert.deepEqual(config.mail.security.authFailures, { count: 5, window: 600 });
    assert.equal(config.mail.security.banLoopback, true);
  });

  it('each mistake is reported with its file, line and key; the exit status is 1', async () => {
    const text = [
      '[lookup.default]', 'hostname = 42', '', '[server.allowed-ip]', '"172.18.0.0/33" = true', '', '[mail]',
      'hostnme = "mail.example.com"', 'maxRecipients = 0', '', '[mail.listeners.admin]', 'port = 99999', '',
      '[server.listener.smtp]', 'bind = "[::]:25"',
    ].join('\n');
    assert.equal(await check('bad.toml', text), 1);
    const lines = out.join('\n');
    assert.match(lines, /bad\.toml:2: error: lookup\.default\.hostname: /);
    assert.match(lines, /bad\.toml:5: error: server\.allowed-ip\.172\.18\.0\.0\/33: /);
    assert.match(lines, /bad\.toml:8: error: mail\.hostnme: unknown key \(did you mean hostname\?\)/);
    assert.match(lines, /bad\.toml:9: error: mail\.maxRecipients: /);
    assert.match(lines, /bad\.toml:12: error: mail\.listeners\.admin\.port: /);
    assert.match(lines, /bad\.toml:15: warning: server\.listener\.smtp\.bind: Stalwart setting not used by mana/);
    assert.match(lines, /bad\.toml: 5 error\(s\), 1 warning\(s\)$/);
  });

  it('a TOML syntax error is reported with line and column', async () => {
    assert.equal(await check('syntax.toml', '[mail]\ndomain = \n'), 1);
    assert.match(out.join('\n'), /syntax\.toml:2:\d+: /);
  });

  it('a missing file is an error; a bad command line is a usage error', async () => {
    out.length = 0;
    assert.equal(await run(['check', join(dir, 'missing.toml')], io), 1);
    assert.match(out.join('\n'), /cannot read/);
    assert.equal(await run(['verify'], io), 2);
    assert.equal(await run(['check', 'a', 'b'], io), 2);
  });

  it('keyLines finds keys in tables, dotted keys and quoted keys', () => {
    const lines = keyLines('[a.b]\nc = 1\nd.e = 2\n"f.g" = 3\n[[h]]\ni = 4\n');
    assert.deepEqual([...lines], [['a.b', 1], ['a.b.c', 2], ['a.b.d.e', 3], ['a.b.f.g', 4], ['h', 5], ['h.i', 6]]);
  });
});
