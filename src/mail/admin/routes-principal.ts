// Admin API routes of principals (Stalwart v0.15): POST/GET /api/principal, GET/PATCH/DELETE /api/principal/{name}.
import { Hono } from 'hono';
import type { AdminDeps } from './http.ts';
import { readJson, intParam } from './request.ts';
import {
  createPrincipalChecked, deletePrincipalChecked, listPrincipals, parsePatch, patchPrincipal, requirePrincipal, viewPrincipal,
} from './principals.ts';

export function principalRoutes(deps: AdminDeps): Hono {
  const { store } = deps.ctx;
  const app = new Hono();

  app.post('/', async (c) => {
    const id = await createPrincipalChecked(store, await readJson(c), { sealKey: deps.ctx.config.mail.dkimSealKey });
    deps.auth.forget();
    deps.signingKeys.invalidate();
    return c.json({ data: id });
  });

  app.get('/', async (c) => {
    const types = (c.req.query('types') ?? c.req.query('type') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const data = await listPrincipals(store, {
      types,
      filter: c.req.query('filter') ?? undefined,
      page: intParam(c, 'page', 1),
      limit: intParam(c, 'limit', 0),
    });
    return c.json({ data });
  });

  app.get('/:name', async (c) => c.json({ data: viewPrincipal(await requirePrincipal(store, c.req.param('name'))) }));

  app.patch('/:name', async (c) => {
    const ops = parsePatch(await readJson(c));
    await patchPrincipal(store, c.req.param('name'), ops);
    deps.auth.forget();
    return c.json({ data: null });
  });

  app.delete('/:name', async (c) => {
    await deletePrincipalChecked(store, c.req.param('name'));
    deps.auth.forget();
    deps.signingKeys.invalidate();
    return c.json({ data: null });
  });

  return app;
}
