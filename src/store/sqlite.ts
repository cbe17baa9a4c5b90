// SQLite store on node:sqlite: WAL journal, synchronous=FULL so a commit is on disk before we answer, one writer at a time.
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { Migration, Param, Queryable, Row, Store } from './store.ts';
import { StoreError } from './store.ts';

function bind(params: Param[]): any[] {
  return params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p));
}

class SqliteQueryable implements Queryable {
  readonly dialect = 'sqlite' as const;
  db: DatabaseSync;
  cache = new Map<string, StatementSync>();
  constructor(db: DatabaseSync) {
    this.db = db;
  }
  stmt(sql: string): StatementSync {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      if (this.cache.size > 500) this.cache.clear();
      this.cache.set(sql, s);
    }
    return s;
  }
  async all<T = Row>(sql: string, params: Param[] = []): Promise<T[]> {
    return this.stmt(sql).all(...bind(params)) as T[];
  }
  async get<T = Row>(sql: string, params: Param[] = []): Promise<T | undefined> {
    return this.stmt(sql).get(...bind(params)) as T | undefined;
  }
  async run(sql: string, params: Param[] = []): Promise<{ changes: number }> {
    const r = this.stmt(sql).run(...bind(params));
    return { changes: Number(r.changes) };
  }
}

/** Serialises transactions: node:sqlite has one connection, so an open transaction must not interleave with others. */
class SqliteStore extends SqliteQueryable implements Store {
  description: string;
  #lock: Promise<void> = Promise.resolve();
  #inTx = false;
  constructor(db: DatabaseSync, path: string) {
    super(db);
    this.description = `sqlite:${path}`;
  }
  async #waitIdle(): Promise<void> {
    while (this.#inTx) await this.#lock;
  }
  override async all<T = Row>(sql: string, params?: Param[]): Promise<T[]> {
    if (this.#inTx) await this.#waitIdle();
    return super.all<T>(sql, params);
  }
  override async get<T = Row>(sql: string, params?: Param[]): Promise<T | undefined> {
    if (this.#inTx) await this.#waitIdle();
    return super.get<T>(sql, params);
  }
  override async run(sql: string, params?: Param[]): Promise<{ changes: number }> {
    if (this.#inTx) await this.#waitIdle();
    return super.run(sql, params);
  }
  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const prev = this.#lock;
    let release!: () => void;
    this.#lock = new Promise<void>((r) => (release = r));
    await prev;
    this.#inTx = true;
    const q = new SqliteQueryable(this.db);
    q.cache = this.cache;
    try {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(q);
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.db.isTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    } finally {
      this.#inTx = false;
      release();
    }
  }
  async migrate(migrations: Migration[]): Promise<string[]> {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
    const done = new Set((await this.all<{ name: string }>('SELECT name FROM schema_migrations')).map((r) => r.name));
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.name)) continue;
      await this.tx(async (q) => {
        this.db.exec(typeof m.sql === 'function' ? m.sql('sqlite') : m.sql);
        await q.run('INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)', [m.name, Date.now()]);
      });
      applied.push(m.name);
    }
    return applied;
  }
  async close(): Promise<void> {
    await this.#waitIdle();
    if (this.db.isOpen) this.db.close();
  }
}

export function openSqlite(options: { path: string }): Store {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(options.path, { timeout: 10_000 });
  } catch (err) {
    throw new StoreError('store.open_failed', `cannot open SQLite database ${options.path}: ${(err as Error).message}`, err);
  }
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = FULL');
  db.exec('PRAGMA foreign_keys = ON');
  return new SqliteStore(db, options.path);
}
