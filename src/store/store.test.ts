// Storage contract: the same behaviour from SQLite and PostgreSQL.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { storeFactories } from '../../test/support/stores.ts';
import { ensureSetting, getSetting, setSetting } from './settings.ts';
import { isUniqueViolation, skipLocked } from './store.ts';
import { migrations } from './migrations.ts';

for (const factory of storeFactories()) {
  describe(`store contract (${factory.name})`, () => {
    it('migrations are applied once and are idempotent', async () => {
      const { store, cleanup } = await factory.open();
      try {
        assert.deepEqual(await store.migrate(migrations), []);
        const rows = await store.all<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name');
        assert.equal(rows.length, migrations.length);
      } finally { await cleanup(); }
    });

    it('placeholders, BIGINT as number, blobs round-trip', async () => {
      const { store, cleanup } = await factory.open();
      try {
        const raw = Buffer.from('Subject: x\r\n\r\nbody \u00e4\r\n');
        const t = 1_790_000_000_123;
        await store.run('INSERT INTO mail_messages (id, mail_from, size, raw, source, received_at) VALUES (?, ?, ?, ?, ?, ?)', ['m1', 'a@b.c', raw.length, raw, 'submission', t]);
        const row = await store.get<{ raw: Uint8Array; received_at: number; size: number }>('SELECT raw, received_at, size FROM mail_messages WHERE id = ?', ['m1']);
        assert.ok(row);
        assert.equal(row.received_at, t);
        assert.equal(typeof row.size, 'number');
        assert.deepEqual(Buffer.from(row.raw), raw);
        assert.equal(await store.get('SELECT id FROM mail_messages WHERE id = ?', ['nope']), undefined);
      } finally { await cleanup(); }
    });

    it('a transaction that throws leaves nothing behind', async () => {
      const { store, cleanup } = await factory.open();
      try {
        await assert.rejects(store.tx(async (q) => {
          await setSetting(q, 'a', '1');
          throw new Error('boom');
        }), /boom/);
        assert.equal(await getSetting(store, 'a'), undefined);
        await store.tx(async (q) => setSetting(q, 'a', '2'));
        assert.equal(await getSetting(store, 'a'), '2');
      } finally { await cleanup(); }
    });

    it('concurrent transactions on the one SQLite connection do not interleave', { skip: factory.name !== 'sqlite' && 'PostgreSQL isolates by connection' }, async () => {
      const { store, cleanup } = await factory.open();
      try {
        await setSetting(store, 'n', '0');
        await Promise.all(Array.from({ length: 20 }, () => store.tx(async (q) => {
          const n = Number(await getSetting(q, 'n'));
          await new Promise((r) => setTimeout(r, 1));
          await setSetting(q, 'n', String(n + 1));
        })));
        assert.equal(await getSetting(store, 'n'), '20');
      } finally { await cleanup(); }
    });

    it('a transaction aborted by a failed statement whose error fn swallowed rejects instead of resolving (PostgreSQL rolls it back at COMMIT)', { skip: factory.name !== 'postgres' && 'SQLite does not abort a transaction on a failed statement' }, async () => {
      const { store, cleanup } = await factory.open();
      try {
        const err = await store.tx(async (q) => {
          await setSetting(q, 'lost', '1');
          await q.run('SELECT * FROM no_such_table').catch(() => {});
          return 'resolved';
        }).then(() => null, (e) => e);
        assert.equal(err?.code, 'store.commit_rolled_back', String(err));
        assert.equal(await getSetting(store, 'lost'), undefined, 'nothing was kept');
        assert.equal(await store.tx(async (q) => { await setSetting(q, 'kept', '1'); return 'ok'; }), 'ok', 'a good transaction still commits');
      } finally { await cleanup(); }
    });

    it('ensureSetting: the first value wins, later calls return it', async () => {
      const { store, cleanup } = await factory.open();
      try {
        const a = await ensureSetting(store, 'k', () => 'first');
        const b = await ensureSetting(store, 'k', () => 'second');
        assert.deepEqual(a, { value: 'first', created: true });
        assert.deepEqual(b, { value: 'first', created: false });
      } finally { await cleanup(); }
    });

    it('unique violations are recognised in both dialects', async () => {
      const { store, cleanup } = await factory.open();
      try {
        await store.run('INSERT INTO mail_domains (name, created_at) VALUES (?, ?)', ['x.test', 1]);
        const err = await store.run('INSERT INTO mail_domains (name, created_at) VALUES (?, ?)', ['x.test', 2]).catch((e) => e);
        assert.ok(isUniqueViolation(err), String(err));
      } finally { await cleanup(); }
    });

    it('leases: two workers claiming at once never get the same row', async () => {
      const { store, cleanup } = await factory.open();
      try {
        const now = Date.now();
        for (let i = 0; i < 30; i++) {
          await store.run('INSERT INTO mail_messages (id, mail_from, size, raw, source, received_at) VALUES (?, ?, ?, ?, ?, ?)', [`m${i}`, '', 1, Buffer.from('x'), 'submission', now]);
          await store.run('INSERT INTO mail_recipients (message_id, rcpt, domain, status, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)', [`m${i}`, 'r@x.test', 'x.test', 'queued', now, now]);
        }
        const claim = (owner: string) => store.tx(async (q) => {
          const rows = await q.all<{ message_id: string }>(`SELECT message_id FROM mail_recipients WHERE status = 'queued' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_attempt_at LIMIT 10 ${skipLocked(q.dialect)}`, [now, now]);
          for (const r of rows) await q.run('UPDATE mail_recipients SET lease_owner = ?, lease_until = ? WHERE message_id = ?', [owner, now + 60_000, r.message_id]);
          return rows.map((r) => r.message_id);
        });
        const [a, b, c] = await Promise.all([claim('a'), claim('b'), claim('c')]);
        const all = [...a, ...b, ...c];
        assert.equal(new Set(all).size, all.length);
        assert.equal(all.length, 30);
      } finally { await cleanup(); }
    });
  });
}
