// PostgreSQL store on node-postgres: a pool, `?` placeholders rewritten to $n, BIGINT read as number.
import pg from 'pg';
import type { Migration, Param, Queryable, Row, Store } from './store.ts';
import { StoreError } from './store.ts';

pg.types.setTypeParser(20, (v: string) => Number(v)); // int8: our timestamps are epoch milliseconds

/** Rewrites `?` placeholders to `$1..$n`, leaving quoted strings alone. */
export function toPg(sql: string): string {
  let n = 0;
  let out = '';
  let quote = '';
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = '';
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '?') {
      out += `$${++n}`;
    } else out += ch;
  }
  return out;
}

type Client = pg.Pool | pg.PoolClient;

class PgQueryable implements Queryable {
  readonly dialect = 'postgres' as const;
  client: Client;
  constructor(client: Client) {
    this.client = client;
  }
  async all<T = Row>(sql: string, params: Param[] = []): Promise<T[]> {
    const r = await this.client.query(toPg(sql), params as any[]);
    return r.rows as T[];
  }
  async get<T = Row>(sql: string, params: Param[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }
  async run(sql: string, params: Param[] = []): Promise<{ changes: number }> {
    const r = await this.client.query(toPg(sql), params as any[]);
    return { changes: r.rowCount ?? 0 };
  }
}

class PgStore extends PgQueryable implements Store {
  pool: pg.Pool;
  description: string;
  constructor(pool: pg.Pool, description: string) {
    super(pool);
    this.pool = pool;
    this.description = description;
  }
  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(new PgQueryable(client));
      // COMMIT of a transaction aborted by a failed statement (whose error fn swallowed) rolls back and says so only in its command tag.
      const commit = await client.query('COMMIT');
      if (commit.command === 'ROLLBACK') throw new StoreError('store.commit_rolled_back', 'the transaction was aborted by a failed statement and rolled back at COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }
  async migrate(migrations: Migration[]): Promise<string[]> {
    const client = await this.pool.connect();
    const applied: string[] = [];
    try {
      // One node migrates at a time; the others wait and then find nothing left to do.
      await client.query('SELECT pg_advisory_lock(7312001)');
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)');
      const done = new Set((await client.query('SELECT name FROM schema_migrations')).rows.map((r) => r.name));
      for (const m of migrations) {
        if (done.has(m.name)) continue;
        await client.query('BEGIN');
        try {
          await client.query(typeof m.sql === 'function' ? m.sql('postgres') : m.sql);
          await client.query('INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)', [m.name, Date.now()]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw new StoreError('store.migration_failed', `migration ${m.name} failed: ${(err as Error).message}`, err);
        }
        applied.push(m.name);
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock(7312001)').catch(() => {});
      client.release();
    }
    return applied;
  }
  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Opens a pool; `schema` (created when missing) isolates one deployment or one test run. */
export async function openPostgres(options: { url: string; schema?: string; max?: number }): Promise<Store> {
  const url = new URL(options.url);
  const description = `postgres://${url.host}${url.pathname}${options.schema ? ` (schema ${options.schema})` : ''}`;
  if (options.schema && !/^[a-z_][a-z0-9_]*$/.test(options.schema)) throw new StoreError('store.bad_schema', `invalid schema name ${options.schema}`);
  if (options.schema) {
    const admin = new pg.Client({ connectionString: options.url });
    await admin.connect();
    await admin.query(`CREATE SCHEMA IF NOT EXISTS ${options.schema}`);
    await admin.end();
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 20,
    connectionTimeoutMillis: 10_000,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  pool.on('error', () => {}); // an idle client's error is reported to the next query instead
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => {});
    throw new StoreError('store.open_failed', `cannot connect to PostgreSQL at ${description}: ${(err as Error).message}`, err);
  }
  return new PgStore(pool, description);
}
