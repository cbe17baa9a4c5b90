// Persistent settings (generated secrets, key material ids) shared by every node through the store.
import type { Queryable } from './store.ts';

export async function getSetting(q: Queryable, key: string): Promise<string | undefined> {
  return (await q.get<{ value: string }>('SELECT value FROM settings WHERE key = ?', [key]))?.value;
}

export async function setSetting(q: Queryable, key: string, value: string): Promise<void> {
  await q.run(
    'INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
    [key, value, Date.now()],
  );
}

/**
 * Returns the stored value, or stores `make()` and returns it. When two nodes race, the first
 * insert wins and both return the same value. `created` says whether this call made it.
 */
export async function ensureSetting(q: Queryable, key: string, make: () => string): Promise<{ value: string; created: boolean }> {
  const existing = await getSetting(q, key);
  if (existing !== undefined) return { value: existing, created: false };
  const value = make();
  const r = await q.run('INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING', [key, value, Date.now()]);
  if (r.changes === 1) return { value, created: true };
  return { value: (await getSetting(q, key))!, created: false };
}
