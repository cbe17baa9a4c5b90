// Tests for group commit: writes queued in one turn share a transaction, each resolves after the commit, and a failing unit fails alone.
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
  });
}
