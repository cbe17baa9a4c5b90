// mana-auth as a service: opens Better Auth's database, migrates, starts the outbox loop and serves the Hono app over HTTP/1.1 (RFC 9112) on the auth listener.
import type { AddressInfo } from 'node:net';
import { serve, type HttpBindings } from '@hono/node-server';
import type { Hono } from 'hono';
import type { RunningService, ServiceContext } from '../stack/context.ts';
import { listenerUrl } from '../stack/context.ts';
import { createBetterAuth, migrateBetterAuth, openAuthDatabase, type ManaAuth, type ManaAuthOptions } from './better-auth.ts';
import { createNotifyClient, type NotifyClient } from './notify-client.ts';
import { createOutbox, type Outbox } from './outbox.ts';
import { createRateLimiter, type ActionRules, type LimitedAction, type RateLimiter } from './rate-limit.ts';
import { createAuthApp } from './app.ts';

export { createAuthApp } from './app.ts';
export type { AuthAppOptions } from './app.ts';

export type StartAuthOptions = {
  /** Where notify is; else ctx.config.auth.notifyUrl (MANA_NOTIFY_URL). */
  notifyUrl?: string;
  /** Delays between attempts to hand an email to notify; the last repeats. */
  outboxRetryDelaysMs?: number[];
  /** How often the outbox looks for due emails. */
  outboxPollMs?: number;
  /** Overrides of the default abuse limits, per action. */
  rateLimits?: Partial<Record<LimitedAction, Partial<ActionRules>>>;
  /** Minimum answer time of sign-up, reset and resend (default 250 ms). */
  floorMs?: number;
};

export type AuthRuntime = {
  app: Hono;
  auth: ManaAuth;
  outbox: Outbox;
  limiter: RateLimiter;
  baseUrl: string;
  notifyUrl: string;
  /** Stops the outbox loop and closes Better Auth's database handle. */
  close(): Promise<void>;
};

/** A notify client that keeps every email in the outbox until MANA_NOTIFY_URL is configured. */
function unconfiguredNotify(): NotifyClient {
  return { send: async () => ({ status: 'retry', error: 'notify url not configured (MANA_NOTIFY_URL)' }) };
}

/**
 * Everything of auth except the socket: for startAuth, and for tests that drive the app with
 * `app.request()`. `baseUrl` is the public URL the email links point at.
 */
export async function createAuthRuntime(ctx: ServiceContext, options: StartAuthOptions & { baseUrl: string }): Promise<AuthRuntime> {
  const log = ctx.log.child({ service: 'auth' });
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const notifyUrl = options.notifyUrl ?? ctx.config.auth.notifyUrl;
  if (!notifyUrl) log.warn('MANA_NOTIFY_URL is not set: auth emails stay in the outbox until it is');
  const notify = notifyUrl ? createNotifyClient({ url: notifyUrl, serviceKey: ctx.secrets.serviceKeys[0] ?? '' }) : unconfiguredNotify();
  const outbox = createOutbox({ store: ctx.store, notify, log, retryDelaysMs: options.outboxRetryDelaysMs, pollMs: options.outboxPollMs });
  const database = openAuthDatabase({ dataDir: ctx.config.dataDir, databaseUrl: ctx.config.databaseUrl });
  try {
    const origin = new URL(baseUrl).origin;
    const authOptions: ManaAuthOptions = {
      database,
      baseUrl,
      secret: ctx.secrets.authSecret,
      outbox,
      log,
      production: ctx.config.auth.production,
      cookieDomain: ctx.config.auth.cookieDomain,
      trustedOrigins: [...new Set([origin, ...ctx.config.auth.corsOrigins])],
    };
    const migrated = await migrateBetterAuth({ auth: authOptions, store: ctx.store });
    if (migrated.created.length || migrated.added.length) log.info(migrated, 'auth tables migrated');
    const auth = createBetterAuth(authOptions);
    const limiter = createRateLimiter({ rules: options.rateLimits });
    const app = createAuthApp({ auth, limiter, log, baseUrl, corsOrigins: ctx.config.auth.corsOrigins, floorMs: options.floorMs });
    outbox.start();
    return {
      app,
      auth,
      outbox,
      limiter,
      baseUrl,
      notifyUrl,
      async close() {
        await outbox.stop();
        await database.close();
      },
    };
  } catch (err) {
    await database.close().catch(() => {});
    throw err;
  }
}

export async function startAuth(ctx: ServiceContext, options: StartAuthOptions = {}): Promise<RunningService & { runtime: AuthRuntime }> {
  const { host, port } = ctx.config.auth.listener;
  let fetch: ((req: Request, env: HttpBindings) => Response | Promise<Response>) | undefined;
  const server = serve({
    hostname: host,
    port,
    fetch: (req, env) => (fetch ? fetch(req, env as HttpBindings) : new Response('auth is starting\n', { status: 503, headers: { 'retry-after': '1' } })),
  });
  await new Promise<void>((resolve, reject) => {
    if (server.listening) return resolve();
    server.once('listening', resolve);
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(Object.assign(new Error(`auth cannot listen on ${host}:${port}: ${err.message}`, { cause: err }), { code: 'auth.listen_failed' })),
    );
  });
  const url = listenerUrl('http', host, (server.address() as AddressInfo).port);
  let runtime: AuthRuntime;
  try {
    runtime = await createAuthRuntime(ctx, { ...options, baseUrl: ctx.config.auth.baseUrl || url });
  } catch (err) {
    await new Promise<void>((r) => server.close(() => r()));
    throw err;
  }
  fetch = (req, env) => runtime.app.fetch(req, env);
  ctx.announce('auth-http', url);
  ctx.log.info({ service: 'auth', url, baseUrl: runtime.baseUrl, notifyUrl: runtime.notifyUrl || undefined }, 'auth listening');
  return {
    name: 'auth',
    urls: { 'auth-http': url },
    runtime,
    async close() {
      await new Promise<void>((r) => {
        server.close(() => r());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await runtime.close();
    },
  };
}
