// The auth HTTP application (Hono): Better Auth under /api/auth, the original's /api/v1 routes, the pages, CORS (Fetch standard) and abuse limits (no RFC).
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import type { Logger } from '../lib/log.ts';
import type { ManaAuth } from './better-auth.ts';
import { limitResponse, peekBody, withFloor } from './guard.ts';
import type { LimitedAction, RateLimiter } from './rate-limit.ts';
import { v1Routes } from './routes-v1.ts';
import { pageRoutes } from './pages.ts';

export type AuthAppOptions = {
  auth: ManaAuth;
  limiter: RateLimiter;
  log: Logger;
  baseUrl: string;
  corsOrigins: string[];
  /** Minimum answer time of the endpoints whose work differs for known and unknown addresses. */
  floorMs?: number;
};

/** Better Auth endpoints that are counted, and which body field names the address. */
const LIMITED: Record<string, { action: LimitedAction; field: string; floor: boolean }> = {
  '/api/auth/sign-up/email': { action: 'sign-up', field: 'email', floor: true },
  '/api/auth/sign-in/email': { action: 'sign-in', field: 'email', floor: false },
  '/api/auth/request-password-reset': { action: 'reset', field: 'email', floor: true },
  '/api/auth/send-verification-email': { action: 'resend', field: 'email', floor: true },
  '/api/auth/sign-in/magic-link': { action: 'magic-link', field: 'email', floor: true },
};

export function createAuthApp(o: AuthAppOptions): Hono {
  const floorMs = o.floorMs ?? 250;
  const app = new Hono();

  app.onError((err, c) => {
    o.log.error({ err, path: c.req.path }, 'auth request failed');
    return c.json({ success: false, error: { statusCode: 500, message: 'internal error', timestamp: new Date().toISOString() } }, 500);
  });

  app.use(
    '/api/*',
    cors({
      origin: (origin) => (o.corsOrigins.includes(origin) ? origin : null),
      allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      allowHeaders: ['Content-Type', 'Authorization', 'X-Service-Key'],
      exposeHeaders: ['set-auth-jwt', 'Retry-After'],
      credentials: true,
      maxAge: 600,
    }),
  );

  app.get('/health', (c) => c.json({ status: 'healthy', service: 'mana-auth', timestamp: new Date().toISOString() }));

  app.on(['GET', 'POST'], '/api/auth/*', async (c) => {
    const rule = c.req.method === 'POST' ? LIMITED[c.req.path] : undefined;
    if (!rule) return o.auth.handler(c.req.raw);
    const body = await peekBody(c.req.raw);
    const limited = limitResponse(c, o.limiter, rule.action, body[rule.field]);
    if (limited) return limited;
    return rule.floor ? withFloor(floorMs, () => o.auth.handler(c.req.raw)) : o.auth.handler(c.req.raw);
  });

  app.route('/api/v1', v1Routes({ auth: o.auth, limiter: o.limiter, floorMs }));
  app.route('/', pageRoutes({ auth: o.auth, limiter: o.limiter, baseUrl: o.baseUrl, floorMs, trustedOrigins: o.corsOrigins }));
  return app;
}
