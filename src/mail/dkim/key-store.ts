// DKIM keys kept in the store (RFC 6376 §3.6): per domain, several active at once for rotation, private halves sealed at rest.
import type { Queryable } from '../../store/store.ts';
import { generateDkimKey, dkimTxtRecord, type DkimAlgorithm } from './keys.ts';
import { sealPrivateKey, unsealPrivateKey } from './seal.ts';
import type { DkimSigningKey } from './sign.ts';

export type StoredDkimKey = {
  id: number;
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  publicKey: string;
  status: 'active' | 'retired';
  createdAt: number;
};

type Row = { id: number; domain: string; selector: string; algorithm: string; public_key: string; private_key: string; status: string; created_at: number };

const toKey = (r: Row): StoredDkimKey => ({
  id: Number(r.id), domain: r.domain, selector: r.selector, algorithm: r.algorithm as DkimAlgorithm, publicKey: r.public_key, status: r.status as 'active' | 'retired', createdAt: Number(r.created_at),
});

export class DkimKeyError extends Error {
  code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** A selector for a new key: the seed's style, `mana2026` for Ed25519 and `rsa2026` for RSA, with a suffix when taken. */
async function freeSelector(q: Queryable, domain: string, algorithm: DkimAlgorithm, now: Date): Promise<string> {
  const base = `${algorithm === 'ed25519' ? 'mana' : 'rsa'}${now.getUTCFullYear()}`;
  for (let i = 0; ; i++) {
    const s = i === 0 ? base : `${base}${String.fromCharCode(97 + ((i - 1) % 26))}${i > 26 ? i : ''}`;
    if (!(await q.get('SELECT 1 AS x FROM mail_dkim_keys WHERE domain = ? AND selector = ?', [domain, s]))) return s;
  }
}

export async function createDkimKey(q: Queryable, options: { domain: string; algorithm: DkimAlgorithm; selector?: string; sealKey?: string }): Promise<StoredDkimKey> {
  const domain = options.domain.toLowerCase();
  const selector = options.selector ?? (await freeSelector(q, domain, options.algorithm, new Date()));
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(selector)) {
    throw new DkimKeyError('dkim.bad_selector', `invalid selector ${selector}: use letters, digits and hyphens`);
  }
  const pair = await generateDkimKey(options.algorithm);
  const stored = options.sealKey ? await sealPrivateKey(pair.privateKeyPem, options.sealKey) : pair.privateKeyPem;
  const now = Date.now();
  // Re-creating a selector replaces its key (the seed's "Regenerating DKIM Keys" posts the same selector again).
  await q.run('DELETE FROM mail_dkim_keys WHERE domain = ? AND selector = ?', [domain, selector]);
  const row = await q.get<{ id: number }>(
    'INSERT INTO mail_dkim_keys (domain, selector, algorithm, private_key, public_key, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id',
    [domain, selector, options.algorithm, stored, pair.publicKey, 'active', now],
  );
  return { id: Number(row!.id), domain, selector, algorithm: options.algorithm, publicKey: pair.publicKey, status: 'active', createdAt: now };
}

export async function listDkimKeys(q: Queryable, domain?: string): Promise<StoredDkimKey[]> {
  const rows = domain
    ? await q.all<Row>('SELECT * FROM mail_dkim_keys WHERE domain = ? ORDER BY created_at, id', [domain.toLowerCase()])
    : await q.all<Row>('SELECT * FROM mail_dkim_keys ORDER BY domain, created_at, id');
  return rows.map(toKey);
}

export async function retireDkimKey(q: Queryable, domain: string, selector: string): Promise<boolean> {
  const r = await q.run("UPDATE mail_dkim_keys SET status = 'retired', retired_at = ? WHERE domain = ? AND selector = ? AND status = 'active'", [Date.now(), domain.toLowerCase(), selector]);
  return r.changes === 1;
}

export { dkimTxtRecord };

/**
 * Signing keys per domain, cached; `invalidate()` after a change makes the next message use the new set
 * (a key created through the API signs from the next message on, no restart).
 */
export function createSigningKeyCache(options: { store: Queryable; sealKey?: string; ttlMs?: number }) {
  const cache = new Map<string, { at: number; keys: DkimSigningKey[] }>();
  const ttl = options.ttlMs ?? 30_000;
  return {
    async keysFor(domain: string): Promise<DkimSigningKey[]> {
      const d = domain.toLowerCase();
      const hit = cache.get(d);
      if (hit && Date.now() - hit.at < ttl) return hit.keys;
      const rows = await options.store.all<Row>("SELECT * FROM mail_dkim_keys WHERE domain = ? AND status = 'active' ORDER BY created_at, id", [d]);
      const keys: DkimSigningKey[] = [];
      for (const r of rows) {
        keys.push({ domain: d, selector: r.selector, algorithm: r.algorithm as DkimAlgorithm, privateKeyPem: await unsealPrivateKey(r.private_key, options.sealKey) });
      }
      cache.set(d, { at: Date.now(), keys });
      return keys;
    },
    invalidate(): void {
      cache.clear();
    },
  };
}
export type SigningKeyCache = ReturnType<typeof createSigningKeyCache>;
