// The notify HTTP API as a Hono app (mana-notify compatible routes, /health, /metrics, /openapi.json, the mail server's signed delivery events); testable with app.request().
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import type { ServiceContext } from '../stack/context.ts';
import type { FailoverStatus } from './failover.ts';
import { rfc3339, sendError, sendJson, serviceKeyAuth } from './http.ts';
import { applyMailEvent, mailEventSchema, verifySignature } from './mail-events.ts';
import { createNotifyMetrics, type NotifyMetrics } from './metrics.ts';
import { buildOpenApi, NOTIFY_VERSION } from './openapi.ts';
import { createPreferenceStore, type PreferenceStore } from './preferences.ts';
import { createQueue, type NotifyQueue } from './queue.ts';
import { registerNotificationRoutes } from './routes-notifications.ts';
import { registerTemplateRoutes } from './routes-templates.ts';
import { registerUserRoutes } from './routes-user.ts';
import { createTemplateStore, type TemplateStore } from './template-store.ts';

/** Largest mail-event body accepted (they are small JSON objects). */
const MAIL_EVENT_LIMIT = 256 * 1024;

export type NotifyAppOptions = {
  ctx: ServiceContext;
  queue?: NotifyQueue;
  templates?: TemplateStore;
  preferences?: PreferenceStore;
  metrics?: NotifyMetrics;
  /** The SMTP provider switch's state, for /health. */
  smtpStatus?: () => FailoverStatus | undefined;
  /** Wakes the local worker after a commit. */
  wake?: () => void;
  /** Worker state for /health. */
  workerStatus?: () => Record<string, unknown>;
  startedAt?: number;
  /** Timeout of the call to auth's /api/v1/auth/validate. */
  authTimeoutMs?: number;
};

export type NotifyApp = Hono<{ Variables: { userId: string } }>;

/** Paths of the API, for 405 on a known path with the wrong method (Go's ServeMux behaviour). */
const KNOWN_PATHS: Array<[RegExp, string]> = [
  [/^\/health$/, 'GET, HEAD'],
  [/^\/metrics$/, 'GET, HEAD'],
  [/^\/openapi\.json$/, 'GET, HEAD'],
  [/^\/api\/v1\/notifications\/(send|schedule|batch)$/, 'POST'],
  [/^\/api\/v1\/notifications\/[^/]+$/, 'GET, HEAD, DELETE'],
  [/^\/api\/v1\/templates$/, 'GET, HEAD, POST'],
  [/^\/api\/v1\/templates\/preview$/, 'POST'],
  [/^\/api\/v1\/templates\/[^/]+$/, 'GET, HEAD, PUT, DELETE'],
  [/^\/api\/v1\/templates\/[^/]+\/preview$/, 'POST'],
  [/^\/api\/v1\/devices\/register$/, 'POST'],
  [/^\/api\/v1\/devices$/, 'GET, HEAD'],
  [/^\/api\/v1\/devices\/[^/]+$/, 'DELETE'],
  [/^\/api\/v1\/preferences$/, 'GET, HEAD, PUT'],
  [/^\/api\/v1\/internal\/mail-events$/, 'POST'],
];

export function createNotifyApp(options: NotifyAppOptions): NotifyApp {
  const { ctx } = options;
  const { store, log } = ctx;
  const queue = options.queue ?? createQueue({ store });
  const templates = options.templates ?? createTemplateStore({ store });
  const preferences = options.preferences ?? createPreferenceStore({ store });
  const metrics = options.metrics ?? createNotifyMetrics();
  const startedAt = options.startedAt ?? Date.now();
  const app: NotifyApp = new Hono();

  app.use('*', cors({
    origin: [...ctx.config.notify.corsOrigins],
    allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    allowHeaders: ['Content-Type', 'Authorization', 'X-Service-Key', 'Idempotency-Key'],
    credentials: true,
  }));

  app.onError((err, c) => {
    log.error({ err, path: c.req.path }, 'notify request failed');
    return sendError(c, 500, 'internal server error');
  });

  app.notFound((c) => {
    const known = KNOWN_PATHS.find(([re]) => re.test(c.req.path));
    if (known) return new Response('Method Not Allowed\n', { status: 405, headers: { 'Content-Type': 'text/plain; charset=utf-8', Allow: known[1] } });
    return new Response('404 page not found\n', { status: 404, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
  });

  app.get('/health', async (c) => {
    let database = true;
    try {
      await store.get('SELECT 1 AS ok');
    } catch {
      database = false;
    }
    const smtp = options.smtpStatus?.();
    return sendJson(c, 200, {
      status: database ? 'healthy' : 'unhealthy',
      version: NOTIFY_VERSION,
      service: 'mana-notify',
      uptime: (Date.now() - startedAt) / 1000,
      timestamp: rfc3339(),
      services: {
        database,
        ...(smtp ? { smtp } : {}),
        ...(options.workerStatus ? { worker: options.workerStatus() } : {}),
      },
    });
  });

  app.get('/metrics', async () => new Response(await metrics.registry.render(), { status: 200, headers: { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' } }));

  app.get('/openapi.json', (c) => sendJson(c, 200, buildOpenApi()));

  app.post('/api/v1/internal/mail-events', async (c) => {
    const length = Number(c.req.header('content-length'));
    if (Number.isFinite(length) && length > MAIL_EVENT_LIMIT) return sendError(c, 400, 'invalid request body');
    const raw = Buffer.from(await c.req.arrayBuffer());
    if (raw.length > MAIL_EVENT_LIMIT) return sendError(c, 400, 'invalid request body');
    if (!verifySignature(ctx.secrets.webhookSecret, raw, c.req.header('x-mana-signature'))) {
      return sendJson(c, 401, { error: 'unauthorized: invalid signature' });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      return sendError(c, 400, 'invalid request body');
    }
    const event = mailEventSchema.safeParse(parsed);
    if (!event.success) return sendError(c, 400, 'invalid request body');
    const result = await applyMailEvent({ store, event: event.data, log, metrics });
    return sendJson(c, 200, { ok: true, matched: result.matched, duplicate: result.duplicate, ...(result.status ? { status: result.status } : {}) });
  });

  const guard = serviceKeyAuth(() => ctx.secrets.serviceKeys);
  app.use('/api/v1/notifications/*', guard);
  app.use('/api/v1/templates', guard);
  app.use('/api/v1/templates/*', guard);
  registerNotificationRoutes(app, { queue, templates, preferences, log, metrics, ...(options.wake ? { wake: options.wake } : {}) });
  registerTemplateRoutes(app, { templates });
  registerUserRoutes(app, { store, preferences, auth: { authUrl: ctx.config.notify.authUrl, ...(options.authTimeoutMs ? { timeoutMs: options.authTimeoutMs } : {}) } });
  return app;
}
