// Admin API routes for the suppression list (/api/suppressions): addresses that hard-bounced (RFC 3464 DSN, src/mail/bounces.ts) or were listed by hand.
import { Hono } from 'hono';
import type { AdminDeps } from './http.ts';
import { fieldInvalid, fieldMissing, notFound } from './errors.ts';
import { intParam, readJson } from './request.ts';
import { addSuppression, listSuppressions, removeSuppression, suppressedAmong } from '../bounces.ts';
import { isAddrSpec } from '../accounts.ts';


export function suppressionRoutes(deps: AdminDeps): Hono {
  const { store, log } = deps.ctx;
  const app = new Hono();
  app.get('/', async (c) => {
    const limit = Math.min(intParam(c, 'limit', 100)!, 1000);
    const page = Math.max(1, intParam(c, 'page', 1)!);
    return c.json({ data: await listSuppressions(store, { limit, offset: (page - 1) * limit }) });
  });
  /** A suppression by hand: {"address", "reason"?}. Listing an address already listed keeps the first entry. */
  app.post('/', async (c) => {
    const body = (await readJson(c)) as Record<string, unknown> | null;
    const address = body && typeof body === 'object' ? body.address : undefined;
    if (address === undefined) throw fieldMissing('address');
    if (typeof address !== 'string' || address.length > 320 || !isAddrSpec(address.trim())) throw fieldInvalid('address', address, 'an email address, local@domain');
    const reason = body!.reason ?? 'manual';
    if (typeof reason !== 'string' || reason.length > 200) throw fieldInvalid('reason', reason, 'a short text');
    const addr = address.trim().toLowerCase();
    await store.tx((q) => addSuppression(q, { address: addr, reason, now: Date.now() }));
    log.info({ address: addr, reason }, 'mail.suppression_added');
    return c.json({ data: (await suppressedAmong(store, [addr])).get(addr) ?? null });
  });
  app.delete('/:address', async (c) => {
    // Hono decodes the path parameter (%40 -> @).
    const addr = c.req.param('address').trim().toLowerCase();
    if (!(await store.tx((q) => removeSuppression(q, addr)))) throw notFound(addr, 'suppression');
    log.info({ address: addr }, 'mail.suppression_removed');
    return c.json({ data: null });
  });
  return app;
}
