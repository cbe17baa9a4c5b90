// A ServiceContext for tests: a temp data dir, a migrated SQLite store (or PostgreSQL via `store`), config from overrides, silent logs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { openSqlite } from '../../src/store/sqlite.ts';
import { migrations } from '../../src/store/migrations.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { loadSecrets } from '../../src/stack/secrets.ts';
import type { ServiceContext } from '../../src/stack/context.ts';
import type { Store } from '../../src/store/store.ts';

export type TestContext = { ctx: ServiceContext; dataDir: string; announced: Array<{ name: string; url: string }>; cleanup(): Promise<void> };

/**
 * Listeners default to 127.0.0.1 port 0. `overrides` is merged over the defaults like config.toml would be;
 * `env` is read like the process environment.
 */
export async function makeTestContext(options: { overrides?: Record<string, any>; env?: Record<string, string>; store?: Store; dataDir?: string } = {}): Promise<TestContext> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'mana-test-'));
  const local = { host: '127.0.0.1', port: 0 };
  const base = {
    mail: { domain: 'mana.test', listeners: { inbound: local, submission: local, submissions: local, admin: local, imap: local, imaps: local } },
    notify: { listener: local },
    auth: { listener: local },
  };
  const config = loadConfig({ env: { MANA_DATA_DIR: dataDir, MANA_LOG_LEVEL: 'silent', ...options.env }, file: undefined, overrides: deepMerge(base, options.overrides ?? {}) });
  const store = options.store ?? openSqlite({ path: join(dataDir, 'mana.db') });
  await store.migrate(migrations);
  const secrets = await loadSecrets(config, store);
  const announced: Array<{ name: string; url: string }> = [];
  const ctx: ServiceContext = { config, store, log: silentLogger(), secrets, announce: (name, url) => announced.push({ name, url }) };
  return {
    ctx,
    dataDir,
    announced,
    async cleanup() {
      if (!options.store) await store.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function deepMerge(a: Record<string, any>, b: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object' ? deepMerge(a[k], v) : v;
  }
  return out;
}
