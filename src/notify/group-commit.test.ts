// Tests for group commit: writes queued in one turn share a transaction, each resolves after the commit, a failing unit fails alone, lazy units wait for company.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { storeFactories } from '../../test/support/stores.ts';
import type { Store } from '../store/store.ts';
import { createGroupCommit } from './group-commit.ts';

for (const factory of storeFactories()) {
  describe(`group commit (${factory.name})`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, cleanup } = await factory.open());
    });
    after(() => cleanup());

    it('every unit resolves with its own result once committed; a unit that throws rejects alone', async () => {
      const g = createGroupCommit({ store });
      const put = (k: string) => g.run(async (q) => {
        await q.run('INSERT INTO settings (key, value, updated_at) VALUES (?, ?, 0)', [k, k]);
        return k;
      });
      const results = await Promise.allSettled([put('g1'), put('g2'), put('g1'), put('g3')]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
      const rows = await store.all<{ key: string }>("SELECT key FROM settings WHERE key LIKE 'g%' ORDER BY key");
      assert.deepEqual(rows.map((r) => r.key), ['g1', 'g2', 'g3']);
    });

    it('a lazy unit commits on its own when nothing else comes, and rides along in the next urgent commit when something does', async () => {
      let transactions = 0;
      const counted: Store = Object.create(store, { tx: { value: (fn: Parameters<Store['tx']>[0]) => (transactions++, store.tx(fn)) } });
      const g = createGroupCommit({ store: counted, lazyMs: 1 });
      const put = (k: string, lazy: boolean) => g.run(async (q) => {
        await q.run('INSERT INTO settings (key, value, updated_at) VALUES (?, ?, 0)', [k, k]);
        return k;
      }, { lazy });
      assert.equal(await put('l1', true), 'l1');
      assert.equal(transactions, 1);
      transactions = 0;
      assert.deepEqual(await Promise.all([put('l2', true), put('l3', true), put('u1', false)]), ['l2', 'l3', 'u1']);
      assert.equal(transactions, store.dialect === 'sqlite' ? 1 : 3, 'SQLite: one commit for all three; PostgreSQL: one each');
      const rows = await store.all<{ key: string }>("SELECT key FROM settings WHERE key IN ('l1', 'l2', 'l3', 'u1') ORDER BY key");
      assert.deepEqual(rows.map((r) => r.key), ['l1', 'l2', 'l3', 'u1']);
    });
  });
}
