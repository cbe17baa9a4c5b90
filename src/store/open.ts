// Opens the configured store: PostgreSQL when a URL is given, else SQLite (WAL) in the data directory.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Store } from './store.ts';
import { openSqlite } from './sqlite.ts';
import { openPostgres } from './postgres.ts';

export async function openStore(options: { dataDir: string; databaseUrl?: string }): Promise<Store> {
  if (options.databaseUrl) return openPostgres({ url: options.databaseUrl });
  mkdirSync(options.dataDir, { recursive: true });
  return openSqlite({ path: join(options.dataDir, 'mana.db') });
}
