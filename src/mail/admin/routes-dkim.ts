// Admin API routes of DKIM keys (RFC 6376, RFC 8463): POST /api/dkim makes a key that signs from the next message on; list; retire.
import { Hono } from 'hono';
import type { AdminDeps } from './http.ts';
import { readJson } from './request.ts';
import { fieldInvalid, fieldMissing, notFound } from './errors.ts';
import { isLocalDomain } from '../accounts.ts';
import { createDkimKey, listDkimKeys, retireDkimKey, type StoredDkimKey } from '../dkim/key-store.ts';
import { dkimTxtRecord, type DkimAlgorithm } from '../dkim/keys.ts';

/** Stalwart spells the algorithms "Ed25519" and "Rsa"; any case is taken. */
export function parseAlgorithm(v: unknown): DkimAlgorithm {
  const a = typeof v === 'string' ? v.toLowerCase().replace(/[-_]?sha256$/, '') : '';
  if (a === 'ed25519') return 'ed25519';
  if (a === 'rsa') return 'rsa';
  throw fieldInvalid('algorithm', v ?? null, 'algorithm is Ed25519 or Rsa');
}

export function viewKey(k: StoredDkimKey) {
  return {
    id: k.id,
    domain: k.domain,
    selector: k.selector,
    algorithm: k.algorithm === 'ed25519' ? 'Ed25519' : 'Rsa',
    status: k.status,
    createdAt: new Date(k.createdAt).toISOString(),
    record: { type: 'TXT', name: `${k.selector}._domainkey.${k.domain}.`, content: dkimTxtRecord(k) },
  };
}

export function dkimRoutes(deps: AdminDeps): Hono {
  const { store, config } = deps.ctx;
  const app = new Hono();

  app.post('/', async (c) => {
    const body = await readJson(c);
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw fieldInvalid('body', null, 'expected {"algorithm","domain","selector"?}');
    const b = body as Record<string, unknown>;
    if (b.algorithm === undefined) throw fieldMissing('algorithm');
    const algorithm = parseAlgorithm(b.algorithm);
    if (b.domain === undefined || b.domain === '') throw fieldMissing('domain');
    if (typeof b.domain !== 'string') throw fieldInvalid('domain', b.domain, 'domain is a string');
    if (b.selector !== undefined && b.selector !== null && typeof b.selector !== 'string') throw fieldInvalid('selector', b.selector, 'selector is a string');
    const domain = b.domain.trim().toLowerCase();
    if (!(await isLocalDomain(store, domain))) throw notFound(domain, 'domain');
    const key = await store.tx((q) => createDkimKey(q, { domain, algorithm, selector: (b.selector as string | undefined) || undefined, sealKey: config.mail.dkimSealKey }));
    // The next message of this node signs with the new set; other nodes within the cache's lifetime.
    deps.signingKeys.invalidate();
    deps.ctx.log.info({ domain, selector: key.selector, algorithm }, 'mail.dkim_key_created');
    return c.json({ data: viewKey(key) });
  });

  app.get('/', async (c) => {
    const domain = c.req.query('domain') || undefined;
    const items = (await listDkimKeys(store, domain)).map(viewKey);
    return c.json({ data: { items, total: items.length } });
  });

  /** Retires a key: it stops signing and leaves the DNS records; the row stays for the record. */
  app.delete('/:domain/:selector', async (c) => {
    const domain = c.req.param('domain').toLowerCase();
    const selector = c.req.param('selector');
    if (!(await retireDkimKey(store, domain, selector))) throw notFound(`${selector}._domainkey.${domain}`, 'active DKIM key');
    deps.signingKeys.invalidate();
    deps.ctx.log.info({ domain, selector }, 'mail.dkim_key_retired');
    return c.json({ data: null });
  });

  return app;
}
