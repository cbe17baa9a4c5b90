// Test support: a ServiceContext for auth on SQLite, and on PostgreSQL when DATABASE_URL is set (a fresh schema per context, reached through search_path in the URL).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { makeTestContext, type TestContext } from '../../test/support/context.ts';
import { openPostgres } from '../store/postgres.ts';

export type Backend = { name: 'sqlite' | 'postgres'; make(options?: { overrides?: Record<string, any>; env?: Record<string, string> }): Promise<TestContext> };

/** `url` with `-c search_path=<schema>` in its options parameter, which pg passes to the server at connect. */
export function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

export function backends(): Backend[] {
  const list: Backend[] = [{ name: 'sqlite', make: (o = {}) => makeTestContext(o) }];
  const url = process.env.DATABASE_URL;
  if (url) {
    list.push({
      name: 'postgres',
      async make(o = {}) {
        const schema = `auth_t_${randomBytes(5).toString('hex')}`;
        const admin = new pg.Client({ connectionString: url });
        await admin.connect();
        await admin.query(`CREATE SCHEMA ${schema}`);
        await admin.end();
        const scoped = withSearchPath(url, schema);
        const store = await openPostgres({ url: scoped, max: 5 });
        const t = await makeTestContext({ ...o, store, env: { ...o.env, DATABASE_URL: scoped } });
        return {
          ...t,
          async cleanup() {
            await t.cleanup();
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
    console.log('# skip: auth on PostgreSQL needs DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)');
  }
  return list;
}
