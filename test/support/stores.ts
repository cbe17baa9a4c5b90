// Opens each store the storage contract runs on: SQLite always, PostgreSQL when DATABASE_URL is set (a fresh schema per call).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openSqlite } from '../../src/store/sqlite.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { migrations } from '../../src/store/migrations.ts';
import type { Store } from '../../src/store/store.ts';

export type StoreFactory = { name: string; open(): Promise<{ store: Store; cleanup(): Promise<void> }> };

export function storeFactories(): StoreFactory[] {
  const list: StoreFactory[] = [
    {
      name: 'sqlite',
      async open() {
        const dir = mkdtempSync(join(tmpdir(), 'mana-store-'));
        const store = openSqlite({ path: join(dir, 'mana.db') });
        await store.migrate(migrations);
        return { store, cleanup: async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); } };
      },
    },
  ];
  const url = process.env.DATABASE_URL;
  if (url) {
    list.push({
      name: 'postgres',
      async open() {
        const schema = `t_${randomBytes(6).toString('hex')}`;
        const store = await openPostgres({ url, schema, max: 5 });
        await store.migrate(migrations);
        return {
          store,
          cleanup: async () => {
            await store.close();
            const c = new pg.Client({ connectionString: url });
            await c.connect();
            await c.query(`DROP SCHEMA ${schema} CASCADE`);
            await c.end();
          },
        };
      },
    });
  } else {
    console.log('# skip: PostgreSQL contract runs need DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)');
  }
  return list;
}

/**
 * A PostgreSQL URL whose connections use a fresh schema (search_path), for code that opens its own
 * connections from DATABASE_URL (the stack, Better Auth). `drop()` removes the schema.
 */
export async function isolatedPostgresUrl(base: string): Promise<{ url: string; drop(): Promise<void> }> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const c = new pg.Client({ connectionString: base });
  await c.connect();
  await c.query(`CREATE SCHEMA ${schema}`);
  await c.end();
  const u = new URL(base);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: u.toString(),
    async drop() {
      const d = new pg.Client({ connectionString: base });
      await d.connect();
      try {
        // A session still holding a lock in the schema would make DROP wait for ever; wait a while, then say who.
        await d.query("SET lock_timeout = '20s'");
        await d.query(`DROP SCHEMA ${schema} CASCADE`);
      } catch (err) {
        const blockers = await d.query(
          `SELECT a.pid, a.state, a.application_name, now() - a.xact_start AS in_tx, left(a.query, 200) AS query
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.granted AND a.pid <> pg_backend_pid() AND a.datname = current_database()
            GROUP BY a.pid, a.state, a.application_name, a.xact_start, a.query`,
        ).catch(() => ({ rows: [] }));
        console.log(`# warn: schema ${schema} was not dropped (${(err as Error).message}); sessions holding locks: ${JSON.stringify(blockers.rows)}`);
      } finally {
        await d.end();
      }
    },
  };
}

/** The backends whole-stack tests run on: SQLite always, PostgreSQL when DATABASE_URL is set. */
export function stackBackends(): Array<{ name: string; databaseUrl(): Promise<{ url?: string; drop(): Promise<void> }> }> {
  const list: Array<{ name: string; databaseUrl(): Promise<{ url?: string; drop(): Promise<void> }> }> = [
    { name: 'sqlite', databaseUrl: async () => ({ url: undefined, drop: async () => {} }) },
  ];
  const base = process.env.DATABASE_URL;
  if (base) list.push({ name: 'postgres', databaseUrl: () => isolatedPostgresUrl(base) });
  return list;
}

let mailSkipPrinted = false;

/** The backends the mail server's whole-path suites run on: SQLite always, PostgreSQL when DATABASE_URL is set. */
export function mailBackends(): Array<'sqlite' | 'postgres'> {
  if (process.env.DATABASE_URL) return ['sqlite', 'postgres'];
  if (!mailSkipPrinted) console.log('# skip: PostgreSQL mail runs need DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)');
  mailSkipPrinted = true;
  return ['sqlite'];
}
