// Test support: a ServiceContext for auth on SQLite, and on PostgreSQL when DATABASE_URL is set (a fresh schema per context, reached through search_path in the URL).
import { makeTestContext, type TestContext } from '../../test/support/context.ts';
import { isolatedPostgresUrl } from '../../test/support/stores.ts';
import { openPostgres } from '../store/postgres.ts';

export type Backend = { name: 'sqlite' | 'postgres'; make(options?: { overrides?: Record<string, any>; env?: Record<string, string> }): Promise<TestContext> };

export function backends(): Backend[] {
  const list: Backend[] = [{ name: 'sqlite', make: (o = {}) => makeTestContext(o) }];
  const url = process.env.DATABASE_URL;
  if (url) {
    list.push({
      name: 'postgres',
      async make(o = {}) {
        const db = await isolatedPostgresUrl(url);
        const store = await openPostgres({ url: db.url, max: 5 });
        const t = await makeTestContext({ ...o, store, env: { ...o.env, DATABASE_URL: db.url } });
        return {
          ...t,
          async cleanup() {
            await t.cleanup();
            await store.close();
            await db.drop();
          },
        };
      },
    });
  } else {
    console.log('# skip: auth on PostgreSQL needs DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)');
  }
  return list;
}
