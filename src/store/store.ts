// The storage interface every service uses: SQL with `?` placeholders over SQLite (embedded default) or PostgreSQL.
export type Row = Record<string, any>;
export type Param = string | number | bigint | boolean | null | Uint8Array;
export type Dialect = 'sqlite' | 'postgres';

export interface Queryable {
  readonly dialect: Dialect;
  all<T = Row>(sql: string, params?: Param[]): Promise<T[]>;
  get<T = Row>(sql: string, params?: Param[]): Promise<T | undefined>;
  run(sql: string, params?: Param[]): Promise<{ changes: number }>;
}

export interface Store extends Queryable {
  /** Runs fn in one transaction; commits when it resolves, rolls back when it throws. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /** Runs migrations not yet applied, in order, each in its own transaction. */
  migrate(migrations: Migration[]): Promise<string[]>;
  close(): Promise<void>;
  /** Human description, without credentials. */
  readonly description: string;
}

/** A schema change; `sql` may differ per dialect. Names are unique across services ("mail-001-queue"). */
export type Migration = { name: string; sql: string | ((d: Dialect) => string) };

export class StoreError extends Error {
  code: string;
  constructor(code: string, message: string, cause?: unknown) {
    super(message, { cause });
    this.code = code;
  }
}

/** Type names that differ between the dialects, for migrations. */
export function types(d: Dialect) {
  return {
    blob: d === 'sqlite' ? 'BLOB' : 'BYTEA',
    bigint: d === 'sqlite' ? 'INTEGER' : 'BIGINT',
    serial: d === 'sqlite' ? 'INTEGER PRIMARY KEY AUTOINCREMENT' : 'BIGSERIAL PRIMARY KEY',
  };
}

/** `FOR UPDATE SKIP LOCKED` where the dialect has it (PostgreSQL); SQLite serialises writers anyway. */
export function skipLocked(d: Dialect): string {
  return d === 'postgres' ? 'FOR UPDATE SKIP LOCKED' : '';
}

/** True when an error is a unique-constraint violation in either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; errcode?: string; message?: string };
  return e?.code === '23505' || /UNIQUE constraint failed/i.test(e?.message ?? '');
}
