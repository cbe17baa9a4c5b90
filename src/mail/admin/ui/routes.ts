// The web admin under /ui: server-rendered pages (HTML 5 forms, POST-redirect-GET, no script) over the functions the admin API uses; every POST must come from this origin (CSRF, RFC 6454 §7 Origin, else Referer).
import { Hono, type Context } from 'hono';
import type { AdminDeps } from '../http.ts';
import { type UiEnv, errorPage } from './layout.ts';
import { queuePages } from './queue.ts';
import { capturedPages } from './captured.ts';
import { suppressionPages } from './suppressions.ts';
import { banPages } from './bans.ts';
import { reportPages } from './reports.ts';
import { dnsPages } from './dns.ts';

/** The host (with port) of an absolute URL, lowercase; undefined when it is not one (`null`, garbage). */
function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.host.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Browsers send Basic credentials with any request to this origin, so a form on another site could
 * act as the admin. A POST is accepted only when its Origin, or without one its Referer, names the
 * host the request is for.
 */
export function sameOrigin(c: Context): boolean {
  const host = (c.req.header('host') ?? new URL(c.req.url).host).toLowerCase();
  const origin = c.req.header('origin');
  if (origin !== undefined) return hostOf(origin) === host;
  return hostOf(c.req.header('referer')) === host;
}

export function uiRoutes(deps: AdminDeps): Hono<UiEnv> {
  const app = new Hono<UiEnv>();
  app.onError((err, c) => {
    deps.ctx.log.error({ err, path: c.req.path, method: c.req.method }, 'admin.ui_error');
    return errorPage(c, 500, 'Something went wrong', 'The request failed on the server; see the mail log.');
  });
  app.use('*', async (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && !sameOrigin(c)) {
      deps.ctx.log.warn({ path: c.req.path, origin: c.req.header('origin'), referer: c.req.header('referer') }, 'admin.ui_cross_origin');
      return errorPage(c, 403, 'Forbidden', 'This form was not sent from the admin pages of this server.');
    }
    await next();
  });
  app.get('/', (c) => c.redirect('/ui/queue', 302));
  queuePages(app, deps);
  capturedPages(app, deps);
  suppressionPages(app, deps);
  banPages(app, deps);
  reportPages(app, deps);
  dnsPages(app, deps);
  app.all('*', (c) => errorPage(c, 404, 'Page not found', `There is no page ${c.req.path}.`));
  return app;
}
