// Admin HTTP API of the mail server (Stalwart v0.15 REST shapes, HTTP Basic RFC 7617 / Bearer RFC 6750), the web admin under /ui, and the MTA-STS policy host (RFC 8461 §3.3).
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { AddressInfo } from 'node:net';
import type { ServiceContext } from '../../stack/context.ts';
import { listenerUrl } from '../../stack/context.ts';
import type { MailQueue } from '../queue/queue.ts';
import type { SigningKeyCache } from '../dkim/key-store.ts';
import type { TlsMaterial } from '../../lib/tls.ts';
import type { AutoBan } from '../security/auto-ban.ts';
import { createResolver } from '../route/resolver.ts';
import { isLocalDomain } from '../accounts.ts';
import { createAdminAuth, WWW_AUTHENTICATE, type AdminAuth, type AdminIdentity } from './auth.ts';
import { asManagementError, BadRequestError, problem } from './errors.ts';
import { createAddressFinder, mtaStsPolicy, type ServerAddresses } from './dns.ts';
import { syncDomainPrincipals } from './principals.ts';
import { principalRoutes } from './routes-principal.ts';
import { dkimRoutes } from './routes-dkim.ts';
import { suppressionRoutes } from './routes-suppressions.ts';
import { reportRoutes } from './routes-reports.ts';
import { capturedRoutes, dnsRoutes, logRoutes, queueRoutes, reloadRoutes, securityRoutes } from './routes-ops.ts';
import { sameOrigin, uiRoutes } from './ui/routes.ts';
import { UnsupportedMediaTypeError } from './request.ts';
import { errorPage } from './ui/layout.ts';

export type AdminOptions = {
  ctx: ServiceContext;
  queue: MailQueue;
  signingKeys: SigningKeyCache;
  tls: TlsMaterial;
  /** Auto-ban: failed admin logins count as failed AUTHs, banned addresses are refused, bans are listed and lifted. */
  security?: AutoBan;
  /** The server's public addresses for DNS records; looked up (config, DNS, interfaces) when not given. */
  addresses?: () => Promise<ServerAddresses>;
};

/** What the route modules receive. */
export type AdminDeps = AdminOptions & { auth: AdminAuth; addresses: () => Promise<ServerAddresses> };

type Env = { Variables: { admin: AdminIdentity } };

/** How a refused request is answered. */
type Refusal = (c: Context, status: ContentfulStatusCode, title: string, detail: string, headers?: Record<string, string>) => Response;

/** The challenge of the web admin's 401 (RFC 7617 §2): Basic alone, so the browser asks for a user name and password. */
const UI_AUTHENTICATE = 'Basic realm="mana mail admin", charset="UTF-8"';

function clientIp(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined; // app.request() in tests has no socket
  }
}

/** The host a request is for, without port, lowercase. */
function requestHost(c: Context): string {
  const host = (c.req.header('host') ?? new URL(c.req.url).host).toLowerCase();
  return host.startsWith('[') ? host : host.replace(/:\d+$/, '').replace(/\.$/, '');
}

export function createAdminApp(options: AdminOptions): Hono<Env> {
  const { ctx } = options;
  const { store, log, config } = ctx;
  const auth = createAdminAuth({ store, adminPassword: ctx.secrets.adminPassword });
  const addresses = options.addresses ?? createAddressFinder({ config, resolver: createResolver({ servers: config.mail.dnsServers, timeoutMs: config.mail.dnsTimeoutMs, tries: 1 }) });
  const deps: AdminDeps = { ...options, auth, addresses };
  const app = new Hono<Env>();

  app.onError((err, c) => {
    const m = asManagementError(err);
    if (m) return c.json(m.body, m.status);
    if (err instanceof BadRequestError) return problem(c, 400, err.title, err.message);
    if (err instanceof UnsupportedMediaTypeError) return problem(c, 415, 'Unsupported Media Type', err.message);
    log.error({ err, path: c.req.path, method: c.req.method }, 'admin.error');
    return problem(c, 500, 'Internal Server Error', 'The request failed on the server; see the mail log');
  });
  app.notFound((c) => problem(c, 404, 'Not Found', `No route ${c.req.method} ${c.req.path}`));

  // RFC 8461 §3.3: the policy is served at https://mta-sts.<domain>/.well-known/mta-sts.txt (TLS by a proxy in front).
  app.use('*', async (c, next) => {
    const host = requestHost(c);
    if (!host.startsWith('mta-sts.') || !(await isLocalDomain(store, host.slice('mta-sts.'.length)))) return next();
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') return problem(c, 405, 'Method Not Allowed');
    if (c.req.path !== '/.well-known/mta-sts.txt') return problem(c, 404, 'Not Found', 'This host serves only /.well-known/mta-sts.txt');
    return c.body(mtaStsPolicy(config), 200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'max-age=3600' });
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  /**
   * The one admission check of /api and /ui: a banned address is refused (403), then the
   * Authorization header must prove an admin (401 with `challenge` otherwise); a wrong one counts
   * as a failed AUTH for auto-ban. `refuse` renders the refusal (problem JSON, or an HTML page).
   */
  const requireAdmin = (refuse: Refusal, challenge: string): MiddlewareHandler<Env> => async (c, next) => {
    const ip = clientIp(c);
    const security = options.security;
    if (ip && security && !security.isExempt(ip) && (await security.banOf(ip))) {
      log.warn({ ip, listener: 'admin' }, 'security.ip-blocked');
      return refuse(c, 403, 'Forbidden', 'Too many errors from your address; try again later');
    }
    const header = c.req.header('authorization');
    const identity = await auth.authenticate(header);
    if (!identity) {
      if (header) {
        log.info({ ip, path: c.req.path }, 'admin.auth_failed');
        if (ip) security?.onAuthFailure(ip);
      }
      return refuse(c, 401, 'Unauthorized', header ? 'Wrong credentials' : 'Authenticate with HTTP Basic (admin and MAIL_ADMIN_PASSWORD) or a Bearer API key', { 'www-authenticate': challenge });
    }
    c.set('admin', identity);
    await next();
  };

  // CSRF: a browser that logged in to /ui sends the same Basic credentials to /api, from any site's form. A change
  // that names where it came from (Origin, else Referer) must come from this origin; curl and scripts send neither.
  app.use('/api/*', async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    if (c.req.header('origin') === undefined && c.req.header('referer') === undefined) return next();
    if (sameOrigin(c)) return next();
    log.warn({ path: c.req.path, method: c.req.method, origin: c.req.header('origin'), referer: c.req.header('referer') }, 'admin.api_cross_origin');
    return problem(c, 403, 'Forbidden', 'Cross-origin requests to the admin API are refused; send no Origin header (as curl does) or one of this server');
  });
  app.use('/api/*', requireAdmin(problem, WWW_AUTHENTICATE));
  // The web admin: the browser's own Basic prompt (one challenge only: browsers offer no Bearer login).
  app.use('/ui/*', requireAdmin(errorPage, UI_AUTHENTICATE));
  app.route('/ui', uiRoutes(deps));

  app.route('/api/principal', principalRoutes(deps));
  app.route('/api/dkim', dkimRoutes(deps));
  app.route('/api/dns', dnsRoutes(deps));
  app.route('/api/queue', queueRoutes(deps));
  app.route('/api/logs', logRoutes(deps));
  app.route('/api/security', securityRoutes(deps));
  app.route('/api/reload', reloadRoutes(deps));
  app.route('/api/captured', capturedRoutes(deps));
  app.route('/api/suppressions', suppressionRoutes(deps));
  app.route('/api/reports', reportRoutes(deps));
  return app;
}

export async function startAdminHttp(options: AdminOptions): Promise<{ port: number; url: string; close(): Promise<void> }> {
  await options.ctx.store.tx((q) => syncDomainPrincipals(q));
  const app = createAdminApp(options);
  const l = options.ctx.config.mail.listeners.admin;
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: l.host, port: l.port }, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: listenerUrl('http', l.host, port),
    close: () => new Promise((r) => {
      server.close(() => r());
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    }),
  };
}
