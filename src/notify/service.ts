// Starts mana-notify: the HTTP API on its listener, the SMTP providers (primary + fallback), and the durable queue worker; the seam main.ts and the stack call.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { listenerUrl, type RunningService, type ServiceContext } from '../stack/context.ts';
import { createNotifyApp } from './app.ts';
import { createEmailChannel, createPushChannel, createWebhookChannel, emailMessageIdFor } from './channels.ts';
import { createProviderSwitch } from './failover.ts';
import { createNotifyMetrics, type NotifyMetrics } from './metrics.ts';
import { createQueue, type Channel, type NotifyQueue } from './queue.ts';
import { createSmtpSender, DEFAULT_SMTP_TIMEOUTS, isConfigured, NOT_CONFIGURED, type SmtpProvider, type SmtpTimeouts } from './smtp-provider.ts';
import { startSmtpThread, type SenderOptions } from './smtp-thread.ts';
import { createTemplateStore } from './template-store.ts';
import { createWorker, type RetryPolicy } from './worker.ts';

export { createNotifyApp } from './app.ts';
export type { SmtpProvider } from './smtp-provider.ts';

/** Knobs with production defaults; tests shorten them. */
export type NotifyTuning = {
  /** How long a claimed notification belongs to this worker (default 120 s). */
  leaseMs?: number;
  /** Longest sleep between looks at the queue (default 1 s). */
  pollMs?: number;
  retry?: Partial<Record<Channel, Partial<RetryPolicy>>>;
  concurrency?: Partial<Record<Channel, number>>;
  /** Consecutive primary failures before the fallback takes over (default 3). */
  failoverThreshold?: number;
  /** How often the primary is probed while the fallback is active (default 30 s). */
  probeIntervalMs?: number;
  smtpTimeouts?: Partial<SmtpTimeouts>;
  /** Timeout of auth's token validation (default 5 s). */
  authTimeoutMs?: number;
  /** How long close() waits for attempts in flight (default 10 s). */
  closeGraceMs?: number;
  /** How long close() lets HTTP requests in flight finish before it closes their connections (default 2 s). */
  closeConnectionsAfterMs?: number;
  /** Compose and submit email on a worker thread, off the event loop that accepts requests (default true). */
  smtpThread?: boolean;
};

export type StartNotifyOptions = {
  /** Primary SMTP provider resolved by the stack; ctx.config.notify.smtp (SMTP_*) when absent. */
  smtp?: SmtpProvider;
  /** Fallback provider; ctx.config.notify.fallback (SMTP_FALLBACK_*) when absent. */
  fallback?: SmtpProvider;
  /** Stable id of this worker; a restart with the same id resumes its interrupted attempts at once. */
  workerId?: string;
  tuning?: NotifyTuning;
};

/** The providers from options or configuration, with the default From filled in. */
export function resolveProviders(ctx: ServiceContext, options: StartNotifyOptions): { primary: Partial<SmtpProvider>; fallback: Partial<SmtpProvider> | undefined; defaultFrom: string } {
  const primary: Partial<SmtpProvider> = { ...(options.smtp ?? ctx.config.notify.smtp) };
  const defaultFrom = primary.from || `Mana <noreply@${ctx.config.mail.domain}>`;
  primary.from = defaultFrom;
  const fb = options.fallback ?? ctx.config.notify.fallback;
  const fallback = fb && fb.host ? { ...fb, from: fb.from || defaultFrom } : undefined;
  return { primary, fallback, defaultFrom };
}

function missing(p: Partial<SmtpProvider>): string[] {
  return (['host', 'user', 'password'] as const).filter((k) => !p[k]);
}

export async function startNotify(ctx: ServiceContext, options: StartNotifyOptions = {}): Promise<RunningService> {
  const { log, store } = ctx;
  const tuning = options.tuning ?? {};
  const timeouts = { ...DEFAULT_SMTP_TIMEOUTS, ...tuning.smtpTimeouts };
  const workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const { primary, fallback, defaultFrom } = resolveProviders(ctx, options);

  if (!isConfigured(primary) && !isConfigured(fallback)) {
    log.warn({ missing: missing(primary) }, NOT_CONFIGURED);
  } else if (!isConfigured(primary)) {
    log.warn({ missing: missing(primary) }, 'smtp primary not configured, sending through the fallback');
  }

  const metrics: NotifyMetrics = createNotifyMetrics();
  const queue: NotifyQueue = createQueue({ store });
  const templates = createTemplateStore({ store });
  await templates.seedBuiltins();

  // Composing and submitting a message costs more CPU than accepting one; on a thread of its own it
  // no longer delays the requests waiting to be accepted.
  const smtpThread = tuning.smtpThread === false ? undefined : startSmtpThread({ log });
  const sender = (o: SenderOptions) => (smtpThread ? smtpThread.sender(o) : createSmtpSender(o));
  const providers = createProviderSwitch({
    primary: sender({ name: 'primary', provider: primary, timeouts }),
    ...(fallback ? { fallback: sender({ name: 'fallback', provider: fallback, timeouts }) } : {}),
    ...(tuning.failoverThreshold !== undefined ? { threshold: tuning.failoverThreshold } : {}),
    ...(tuning.probeIntervalMs !== undefined ? { probeIntervalMs: tuning.probeIntervalMs } : {}),
    log,
    onSwitch: (to) => metrics.failovers.inc({ to }),
  });

  const worker = createWorker({
    queue,
    owner: workerId,
    log,
    metrics,
    handlers: {
      email: createEmailChannel({ providers, defaultFrom, log, metrics, ...(smtpThread ? { compose: (o) => smtpThread.compose(o) } : {}) }),
      webhook: createWebhookChannel({ secret: ctx.secrets.webhookSecret, log, metrics }),
      push: createPushChannel({ metrics }),
    },
    messageIdFor: emailMessageIdFor(defaultFrom),
    ...(tuning.leaseMs !== undefined ? { leaseMs: tuning.leaseMs } : {}),
    ...(tuning.pollMs !== undefined ? { pollMs: tuning.pollMs } : {}),
    ...(tuning.retry ? { retry: tuning.retry } : {}),
    ...(tuning.concurrency ? { concurrency: tuning.concurrency } : {}),
  });

  metrics.registry.gauge('mana_notify_queue_depth', 'Notifications waiting (pending, scheduled or retrying) and in progress', async () => {
    const counts = await queue.countWaiting();
    return [
      { labels: { state: 'pending' }, value: counts.pending },
      { labels: { state: 'processing' }, value: counts.processing },
    ];
  });

  const startedAt = Date.now();
  const app = createNotifyApp({
    ctx,
    queue,
    templates,
    metrics,
    smtpStatus: () => providers.status(),
    wake: () => worker.wake(),
    workerStatus: () => ({ id: workerId, running: worker.running() }),
    startedAt,
    ...(tuning.authTimeoutMs !== undefined ? { authTimeoutMs: tuning.authTimeoutMs } : {}),
  });

  const server = createAdaptorServer({
    fetch: app.fetch,
    serverOptions: { requestTimeout: 30_000, headersTimeout: 20_000, keepAliveTimeout: 120_000 },
  }) as Server;
  const { host, port } = ctx.config.notify.listener;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = listenerUrl('http', host, address.port);

  await worker.start();
  ctx.announce('notify-http', url);
  log.info({ url, workerId, provider: primary.host, fallback: fallback?.host, smtp: providers.configured ? 'configured' : NOT_CONFIGURED }, 'notify started');

  let closing: Promise<void> | undefined;
  return {
    name: 'notify',
    urls: { 'notify-http': url },
    close() {
      closing ??= (async () => {
        // Each step of shutdown is bounded: one that does not finish in time is logged and left behind,
        // so stopping the service never hangs (a supervisor would kill it anyway).
        const grace = tuning.closeGraceMs ?? 10_000;
        const bounded = async (stage: string, ms: number, work: Promise<unknown>) => {
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), ms); });
          const r = await Promise.race([work.then(() => 'done' as const, () => 'done' as const), late]);
          clearTimeout(timer);
          if (r === 'late') log.warn({ workerId, stage, waitedMs: ms }, 'notify.close_slow');
        };
        await bounded('http', grace, new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          // Requests in flight get a moment to be answered, then their connections are closed.
          setTimeout(() => server.closeAllConnections(), tuning.closeConnectionsAfterMs ?? 2000).unref();
        }));
        await bounded('worker', grace + 2000, worker.stop(grace));
        providers.close();
        if (smtpThread) await bounded('smtp-thread', 5000, smtpThread.close());
        log.info({ workerId }, 'notify stopped');
      })();
      return closing;
    },
  };
}
