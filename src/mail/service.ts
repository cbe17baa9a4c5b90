// The mail server (the role Stalwart plays in the seed): SMTP listeners, durable queue, delivery loop, webhooks and the admin HTTP API.
import { hostname as osHostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { SMTPServer } from 'smtp-server';
import type { RunningService, ServiceContext } from '../stack/context.ts';
import { listenerUrl } from '../stack/context.ts';
import { createCommitBatcher } from '../store/batch.ts';
import { ensureCertificate } from '../lib/tls.ts';
import { createEvents, type WebhookSubscriber } from './events.ts';
import { startWebhookSender } from './webhooks.ts';
import { createQueue } from './queue/queue.ts';
import { startDeliveryWorker } from './queue/worker.ts';
import { createTransport } from './queue/transport.ts';
import { createSmtpListener, listen, type ListenerKind, type SmtpSecurity } from './smtp/listeners.ts';
import { createDkimSignerPool } from './dkim/sign-pool.ts';
import { createSigningKeyCache } from './dkim/key-store.ts';
import { bootstrapMail } from './bootstrap.ts';
import { createResolver } from './route/resolver.ts';
import { createSmtpPool } from './deliver/smtp-pool.ts';
import { createMtaSts, createMemoryMtaStsCache } from './route/mta-sts.ts';
import { afterSettleDsn } from './dsn/send.ts';
import { startAdminHttp } from './admin/http.ts';
import { createAutoBan, watchProtocolErrors, type AutoBan } from './security/auto-ban.ts';
import { createImapServer, type ImapServer } from './imap/server.ts';

export type MailOptions = {
  /** Extra webhook subscribers (the stack adds notify). */
  subscribers?: WebhookSubscriber[];
  /** Test hooks: CA certificates trusted for MTA-STS fetches and verified TLS to MX hosts. */
  extraCa?: string[];
  /** Test hook: the port MTA-STS policy hosts are fetched from (443). */
  mtaStsPort?: number;
  security?: SmtpSecurity;
  /** Test hook: bound of the SPF/DKIM/DMARC check of inbound mail, ms (10 s). */
  inboundAuthTimeoutMs?: number;
};

export type RunningMail = RunningService & {
  ports: Record<ListenerKind | 'admin' | 'imap' | 'imaps', number>;
  queue: ReturnType<typeof createQueue>;
  /** Subscribes to delivery events from now on. */
  addSubscriber(s: WebhookSubscriber): void;
  signingKeys: ReturnType<typeof createSigningKeyCache>;
  /** Auto-ban: counters, bans in the store. */
  autoBan: AutoBan;
};

export async function startMail(ctx: ServiceContext, options: MailOptions = {}): Promise<RunningMail> {
  const { config, store, log, secrets } = ctx;
  const mc = config.mail;
  const boot = await bootstrapMail({ store, domain: mc.domain, secrets, sealKey: mc.dkimSealKey });
  if (boot.createdDomain) log.info({ domain: mc.domain }, 'mail.domain_created');
  for (const k of boot.createdKeys) log.info({ domain: k.domain, selector: k.selector, algorithm: k.algorithm }, 'mail.dkim_key_created');

  const tls = await ensureCertificate({ dataDir: config.dataDir, hostname: mc.hostname, certFile: mc.tls.cert, keyFile: mc.tls.key });
  const subscribers = [...mc.webhooks, ...(options.subscribers ?? [])];
  const events = createEvents({ log, subscribers });
  const batcher = createCommitBatcher(store, { windowMs: 1 });
  const owner = `${osHostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  let worker: ReturnType<typeof startDeliveryWorker> | undefined;
  let webhookSender: ReturnType<typeof startWebhookSender> | undefined;
  const queue = createQueue({
    store, batcher, events,
    retrySchedule: mc.queue.retrySchedule,
    expireAfterMs: mc.queue.expireAfter * 1000,
    delayNoticeAfterMs: mc.queue.delayNoticeAfter * 1000,
    leaseMs: mc.queue.leaseSeconds * 1000,
    onEnqueue: () => { worker?.wake(); webhookSender?.poke(); },
    handoff: {
      owner,
      accepts: () => worker?.accepts() ?? false,
      take: (message) => { worker?.take(message); webhookSender?.poke(); },
    },
  });
  // RSA signing is the largest CPU cost per message: it runs on worker threads, off the SMTP event loop.
  const signer = createDkimSignerPool();
  const signingKeys = createSigningKeyCache({ store, sealKey: mc.dkimSealKey });
  const resolver = createResolver({ servers: mc.dnsServers, timeoutMs: mc.dnsTimeoutMs });
  const pool = createSmtpPool({ maxPerHost: mc.queue.perDomainConcurrency, idleMs: 5_000 });
  const mtaSts = createMtaSts({ resolver, cache: createMemoryMtaStsCache(), now: Date.now, https: options.extraCa || options.mtaStsPort ? { ca: options.extraCa, port: options.mtaStsPort } : undefined });
  const localTransport = createTransport({
    ca: options.extraCa, store, log, mode: mc.delivery, hostname: mc.hostname, resolver, mxPort: mc.mxPort, pool, mtaSts,
    relay: mc.relay, relayRoutes: mc.relayRoutes, events,
  });
  let imap: ImapServer | undefined;
  // A message stored in a local or the capture mailbox wakes the IMAP sessions idling on it (RFC 2177), after its transaction committed.
  const transport: typeof localTransport = async (message, domain, recipients) => {
    const outcomes = await localTransport(message, domain, recipients);
    for (const o of outcomes) {
      const d = o.detail as { route?: string; mailbox?: string } | undefined;
      if (o.status === 'delivered' && (d?.route === 'local' || d?.route === 'capture')) imap?.changed(d.route === 'local' ? d.mailbox : 'captured');
    }
    return outcomes;
  };

  const servers: Array<{ kind: ListenerKind; server: SMTPServer }> = [];
  const ports = {} as RunningMail['ports'];
  const urls: Record<string, string> = {};
  const names: Record<ListenerKind, [string, string]> = {
    inbound: ['smtp-inbound', 'smtp'],
    submission: ['smtp-submission', 'smtp'],
    submissions: ['smtps-submission', 'smtps'],
  };
  const autoBan = createAutoBan({ store, log, allowedIp: mc.allowedIp, scanBan: mc.scanBan, limits: mc.security });
  const security = options.security ?? autoBan;
  const smtpOptions = {
    store, queue, log, tls, hostname: mc.hostname, allowedIp: mc.allowedIp, maxMessageSize: mc.maxMessageSize,
    maxRecipients: mc.maxRecipients, signer, signingKeys, security,
    inboundAuth: { policy: mc.inboundAuth, resolver, timeoutMs: options.inboundAuthTimeoutMs },
  };
  try {
    for (const kind of ['inbound', 'submission', 'submissions'] as const) {
      const server = createSmtpListener(kind, smtpOptions);
      const l = mc.listeners[kind];
      ports[kind] = await listen(server, l.host, l.port);
      servers.push({ kind, server });
      watchProtocolErrors(server, security);
      const [name, scheme] = names[kind];
      urls[name] = listenerUrl(scheme, l.host, ports[kind]);
      ctx.announce(name, urls[name]);
    }
    imap = await createImapServer({
      store, log, tls, security, maxMessageSize: mc.maxMessageSize,
      listeners: { imap: mc.listeners.imap, imaps: mc.listeners.imaps },
    });
    ports.imap = imap.ports.imap;
    ports.imaps = imap.ports.imaps;
    for (const [name, scheme, port, host] of [['imap', 'imap', ports.imap, mc.listeners.imap.host], ['imaps', 'imaps', ports.imaps, mc.listeners.imaps.host]] as const) {
      urls[name] = listenerUrl(scheme, host, port);
      ctx.announce(name, urls[name]);
    }
  } catch (err) {
    await Promise.all(servers.map((s) => new Promise((r) => s.server.close(() => r(undefined)))));
    await imap?.close();
    throw err;
  }

  const admin = await startAdminHttp({ ctx, queue, signingKeys, tls, security: autoBan });
  ports.admin = admin.port;
  urls['admin-http'] = admin.url;
  ctx.announce('admin-http', admin.url);

  worker = startDeliveryWorker({
    queue, log, owner,
    concurrency: mc.queue.concurrency,
    perDomainConcurrency: mc.queue.perDomainConcurrency,
    domainLimits: mc.queue.domainLimits,
    deliver: transport,
    settleHook: afterSettleDsn({
      queue, store, log, hostname: mc.hostname, signer, signingKeys, domain: mc.domain, events,
      sealKey: mc.dkimSealKey, expireAfterMs: mc.queue.expireAfter * 1000,
    }),
  });
  webhookSender = startWebhookSender({ store, log, subscribers });
  log.info({ mode: mc.delivery, store: store.description }, 'mail.started');

  return {
    name: 'mail',
    urls,
    ports,
    queue,
    signingKeys,
    autoBan,
    addSubscriber(s) { subscribers.push(s); },
    async close() {
      await Promise.all([...servers.map((s) => new Promise((r) => s.server.close(() => r(undefined)))), imap?.close()]);
      await admin.close();
      await worker?.stop();
      await batcher.idle();
      await webhookSender?.stop();
      await pool.close();
      await signer.close();
      await autoBan.idle();
    },
  };
}
