// Where a claimed recipient group goes: a local mailbox, the capture mailbox, a smart host, or the destination's MX hosts (RFC 5321 §5.1).
import type { Store } from '../../store/store.ts';
import type { Logger } from '../../lib/log.ts';
import type { RelayRoute } from '../../config/schema.ts';
import { isLocalDomain, principalForAddress } from '../accounts.ts';
import { CAPTURE_MAILBOX, lockMailboxForInsert, storeInMailbox } from '../mailbox.ts';
import { resolveRoute, type Route } from '../route/mx.ts';
import type { DnsResolver } from '../route/resolver.ts';
import type { AttemptOutcome, ClaimedMessage, ClaimedRecipient } from './queue.ts';
import { fromFailure } from '../deliver/reply.ts';
import type { DeliverOptions, DeliveryResult, Envelope } from '../deliver/smtp-client.ts';
import type { SmtpPool } from '../deliver/smtp-pool.ts';
import { mxAllowed, type MtaSts, type MtaStsPolicy } from '../route/mta-sts.ts';
import { createEvents, type Events } from '../events.ts';
import { createBounceMatcher, suppressedAmong, suppressedReply } from '../bounces.ts';
import { createReportKeeper } from '../reports.ts';

export type TransportOptions = {
  store: Store;
  log: Logger;
  mode: 'capture' | 'deliver';
  hostname: string;
  resolver: DnsResolver;
  mxPort: number;
  pool: SmtpPool;
  mtaSts?: MtaSts;
  relay?: RelayRoute;
  relayRoutes: Record<string, RelayRoute>;
  /** Trust anchors for verified TLS (tests, private CAs); the system roots otherwise. */
  ca?: string[];
  /** How long a resolved route (MX hosts and addresses, or a permanent "no mail here") is reused; 0 turns the cache off. Default 60 s. */
  routeCacheMs?: number;
  /** Records `bounced` events for DSNs delivered locally (src/mail/bounces.ts); without it they reach the timeline but no webhook. */
  events?: Events;
  now?: () => number;
};

/** RFC 5321 §5.1: equal preferences are tried in random order; a cached route is reshuffled on every use. */
function reshuffled(route: Route): Route {
  if (route.kind !== 'hosts' || route.hosts.length < 2) return route;
  const hosts = route.hosts.slice();
  for (let start = 0; start < hosts.length;) {
    let end = start + 1;
    while (end < hosts.length && hosts[end].preference === hosts[start].preference) end++;
    for (let i = end - 1; i > start; i--) {
      const j = start + Math.floor(Math.random() * (i - start + 1));
      [hosts[i], hosts[j]] = [hosts[j], hosts[i]];
    }
    start = end;
  }
  return { ...route, hosts };
}

const all = (recipients: ClaimedRecipient[], status: AttemptOutcome['status'], code: number, text: string, detail?: Record<string, unknown>): AttemptOutcome[] =>
  recipients.map((r) => ({ rcpt: r.rcpt, status, code, text, detail }));

/** Recipients that go in one transaction, and the RFC 3461 parameters of its MAIL and RCPT commands. */
type DsnGroup = { recipients: ClaimedRecipient[]; dsn: NonNullable<Envelope['dsn']> };

/**
 * RFC 3461 parameters passed on to the next hop (§5.2.1: a relaying MTA passes ENVID, RET, NOTIFY and ORCPT on
 * unchanged). RET and ENVID belong to the message; NOTIFY and ORCPT to each recipient, but the SMTP client puts
 * one NOTIFY/ORCPT on every RCPT of a transaction, so the recipients are split into one group per distinct
 * (NOTIFY, ORCPT), in the order they first appear. Recipients with neither (the usual case) stay one transaction.
 * No ORCPT is added where none was given (§5.2.1 allows it): every such recipient would need its own transaction.
 */
function dsnGroups(message: ClaimedMessage, recipients: ClaimedRecipient[]): DsnGroup[] {
  const perMessage = {
    ...(message.ret === 'FULL' || message.ret === 'HDRS' ? { ret: message.ret as 'FULL' | 'HDRS' } : {}),
    ...(message.envId ? { envid: message.envId } : {}),
  };
  const groups = new Map<string, DsnGroup>();
  for (const r of recipients) {
    const key = JSON.stringify([r.notify?.join(',') ?? '', r.orcpt ?? '']);
    let group = groups.get(key);
    if (group === undefined) {
      group = { recipients: [], dsn: { ...perMessage, ...(r.notify?.length ? { notify: r.notify } : {}), ...(r.orcpt ? { orcpt: r.orcpt } : {}) } };
      groups.set(key, group);
    }
    group.recipients.push(r);
  }
  return [...groups.values()];
}

/** Outcomes in the order of the claimed recipients, whatever order the transactions answered in. */
function inOrder(recipients: ClaimedRecipient[], outcomes: AttemptOutcome[]): AttemptOutcome[] {
  const byRcpt = new Map(outcomes.map((o) => [o.rcpt, o]));
  return recipients.map((r) => byRcpt.get(r.rcpt) ?? { rcpt: r.rcpt, status: 'deferred', code: 451, text: '4.4.0 no outcome for this recipient' });
}

export function createTransport(options: TransportOptions) {
  const { store, log } = options;
  const now = options.now ?? Date.now;
  const routeTtl = options.routeCacheMs ?? 60_000;
  // Deliveries to one domain share one DNS resolution: concurrent ones wait for the same lookup, later ones reuse it for a while.
  const routes = new Map<string, { until: number; route: Promise<Route> }>();
  const matchBounce = createBounceMatcher({ events: options.events ?? createEvents({ log, subscribers: [] }), log, now });
  const keepReports = createReportKeeper({ log, now });

  function routeFor(domain: string): Promise<Route> {
    const t = now();
    const hit = routes.get(domain);
    if (hit && hit.until > t) return hit.route.then(reshuffled);
    const route = resolveRoute(domain, { resolver: options.resolver, localHosts: [options.hostname] });
    if (routeTtl > 0) {
      routes.set(domain, { until: t + routeTtl, route });
      // Temporary failures (SERVFAIL, timeouts) and errors are not kept: the next attempt asks again.
      route.then((r) => { if (r.kind === 'temporary') routes.delete(domain); }, () => routes.delete(domain));
      if (routes.size > 10_000) for (const [d, e] of routes) if (e.until <= t) routes.delete(d);
    }
    return route;
  }

  // The MTA-STS lookup (a TXT query, RFC 8461 §3.1) is reused like the route; policies themselves are cached by mta-sts.ts.
  const policies = new Map<string, { until: number; policy: Promise<MtaStsPolicy | null> }>();
  function policyFor(domain: string): Promise<MtaStsPolicy | null> {
    if (!options.mtaSts) return Promise.resolve(null);
    const t = now();
    const hit = policies.get(domain);
    if (hit && hit.until > t) return hit.policy;
    const lookup = options.mtaSts.getPolicy(domain).catch(() => ({ policy: null, failure: { type: 'sts-policy-fetch-error' as const, detail: 'lookup failed' } }));
    const policy = lookup.then((l) => l.policy);
    if (routeTtl > 0) {
      policies.set(domain, { until: t + routeTtl, policy });
      // A failed discovery is asked again next time (mta-sts.ts backs off on its own); a policy is not kept past its max_age.
      void lookup.then((l) => {
        if ('failure' in l && l.failure) policies.delete(domain);
        else if (l.policy && l.policy.expiresAt < t + routeTtl) policies.set(domain, { until: l.policy.expiresAt, policy });
      });
      if (policies.size > 10_000) for (const [d, e] of policies) if (e.until <= t) policies.delete(d);
    }
    return policy;
  }

  async function deliverLocal(message: ClaimedMessage, recipients: ClaimedRecipient[]): Promise<AttemptOutcome[]> {
    const out: AttemptOutcome[] = [];
    // Reports are read before the transaction (decompressing and parsing must not hold the write lock), kept inside it.
    const reports = await keepReports.prepare(message, recipients);
    await store.tx(async (q) => {
      const owners = new Map<string, string | undefined>();
      for (const r of recipients) {
        const owner = await principalForAddress(q, r.rcpt);
        owners.set(r.rcpt, owner ?? (r.rcpt.startsWith('postmaster@') ? 'postmaster' : undefined));
      }
      // Mailbox locks (PostgreSQL) in one global order, so two deliveries to the same mailboxes cannot deadlock.
      for (const box of [...new Set([...owners.values()].filter((o) => o !== undefined))].sort()) await lockMailboxForInsert(q, box);
      for (const r of recipients) {
        const owner = owners.get(r.rcpt);
        if (!owner) {
          out.push({ rcpt: r.rcpt, status: 'failed', code: 550, text: '5.1.1 mailbox does not exist', detail: { route: 'local' } });
          continue;
        }
        await storeInMailbox(q, { mailbox: owner, queueId: message.id, mailFrom: message.mailFrom, rcpt: r.rcpt, raw: message.raw });
        out.push({ rcpt: r.rcpt, status: 'delivered', code: 250, text: `2.0.0 delivered to mailbox ${owner}`, detail: { route: 'local', mailbox: owner } });
      }
      // A DSN answering one of our messages (RFC 3464) is stored as above, and reported on the original's timeline.
      if (out.some((o) => o.status === 'delivered')) await matchBounce(q, message);
      // DMARC aggregate (RFC 7489) and TLS (RFC 8460) reports to postmaster@ are stored as above, and kept for the admin API (src/mail/reports.ts).
      await keepReports.save(q, reports, out);
    });
    return out;
  }

  async function capture(message: ClaimedMessage, recipients: ClaimedRecipient[]): Promise<AttemptOutcome[]> {
    await store.tx(async (q) => {
      for (const r of recipients) await storeInMailbox(q, { mailbox: CAPTURE_MAILBOX, queueId: message.id, mailFrom: message.mailFrom, rcpt: r.rcpt, raw: message.raw });
    });
    return all(recipients, 'delivered', 250, '2.0.0 captured (delivery is off: MAIL_DELIVERY=capture)', { route: 'capture', captured: true });
  }

  function toOutcomes(result: DeliveryResult, route: string): AttemptOutcome[] {
    return result.recipients.map((r) => ({
      rcpt: r.rcpt,
      status: r.status,
      code: r.code || undefined,
      text: r.enhanced && !String(r.text).startsWith(r.enhanced) ? `${r.enhanced} ${r.text}` : r.text,
      detail: {
        route, mx: result.remote.host, ip: result.remote.address, port: result.remote.port,
        tls: result.tls?.version ?? null, cipher: result.tls?.cipher ?? null, tlsAuthorized: result.tls?.authorized ?? null,
        tlsFallback: result.tlsFallback || undefined, reused: result.reused || undefined, stage: result.failure?.stage,
        remoteDsn: result.dsn,
      },
    }));
  }

  type Host = Omit<DeliverOptions, 'envelope' | 'raw'>;
  /** What one host did with the groups: final outcomes, and the groups left for the next host with their deferral. */
  type HostAttempt = { settled: AttemptOutcome[]; deferred: AttemptOutcome[]; pending: DsnGroup[] };

  /**
   * Sends the groups to one host one transaction after another; consecutive deliveries to one host reuse the pool's
   * connection (RSET-free when the previous transaction completed). A session-level temporary failure gives up this
   * host for the groups not yet settled: they share that failure and stay pending for the next host (RFC 5321 §5.1),
   * so an unreachable host costs one attempt, not one per group.
   */
  async function toHost(host: Host, message: ClaimedMessage, groups: DsnGroup[], route: string): Promise<HostAttempt> {
    const settled: AttemptOutcome[] = [];
    let offersDsn: boolean | undefined;
    for (let i = 0; i < groups.length;) {
      // A server without DSN gets no NOTIFY/ORCPT at all (RFC 3461 §5.2.2), so the rest need not be split for it.
      const batch = offersDsn === false ? groups.slice(i) : [groups[i]];
      const { ret, envid } = groups[i].dsn;
      const result = await options.pool.deliver({
        ...host,
        envelope: { from: message.mailFrom, to: batch.flatMap((g) => g.recipients.map((r) => r.rcpt)), dsn: batch.length === 1 ? batch[0].dsn : { ret, envid } },
        raw: message.raw,
      });
      offersDsn = result.dsn;
      const rest = groups.slice(i + batch.length);
      const failure = result.failure;
      if (failure !== null && failure.status === 'deferred') {
        const unsent = rest.flatMap((g) => g.recipients.map((r) => fromFailure(r.rcpt, failure)));
        return { settled, deferred: toOutcomes({ ...result, recipients: [...result.recipients, ...unsent] }, route), pending: groups.slice(i) };
      }
      settled.push(...toOutcomes(result, route));
      i += batch.length;
    }
    return { settled, deferred: [], pending: [] };
  }

  async function viaRelay(message: ClaimedMessage, recipients: ClaimedRecipient[], relay: RelayRoute): Promise<AttemptOutcome[]> {
    const sent = await toHost({
      host: relay.host,
      address: relay.host,
      port: relay.port,
      heloName: options.hostname,
      tls: relay.tls === 'none' ? 'none' : relay.tls === 'opportunistic' || relay.insecureTls ? 'opportunistic' : 'required-verified',
      ...(relay.user ? { auth: { user: relay.user, pass: relay.password ?? '' } } : {}),
      ...(relay.tls === 'implicit' ? { implicitTls: true } : {}),
      ...(options.ca ? { ca: options.ca } : {}),
    } as Host, message, dsnGroups(message, recipients), `relay:${relay.host}:${relay.port}`);
    return inOrder(recipients, [...sent.settled, ...sent.deferred]);
  }

  async function viaMx(message: ClaimedMessage, domain: string, recipients: ClaimedRecipient[]): Promise<AttemptOutcome[]> {
    const route = await routeFor(domain);
    if (route.kind === 'permanent') return all(recipients, 'failed', 550, `5.1.2 ${route.reason}`, { route: 'mx', domain });
    if (route.kind === 'temporary') return all(recipients, 'deferred', 451, `4.4.3 ${route.reason}`, { route: 'mx', domain });
    const policy = await policyFor(domain);
    const settled: AttemptOutcome[] = [];
    let last: AttemptOutcome[] | undefined;
    let pending = dsnGroups(message, recipients);
    const pendingRecipients = () => pending.flatMap((g) => g.recipients);
    for (const host of route.hosts) {
      if (policy && policy.mode === 'enforce' && !mxAllowed(policy, host.host)) {
        last = all(pendingRecipients(), 'deferred', 451, `4.7.5 MX ${host.host} is not allowed by the MTA-STS policy of ${domain}`, { route: 'mx', mx: host.host, mtaSts: 'enforce' });
        continue;
      }
      for (const address of host.addresses) {
        const sent = await toHost({
          host: host.host,
          address,
          port: options.mxPort,
          heloName: options.hostname,
          tls: policy?.mode === 'enforce' ? 'required-verified' : 'opportunistic',
          ...(options.ca ? { ca: options.ca } : {}),
        }, message, pending, 'mx');
        if (policy) for (const o of [...sent.settled, ...sent.deferred]) o.detail = { ...o.detail, mtaSts: policy.mode };
        settled.push(...sent.settled);
        // A session-level temporary failure defers the recipients not yet settled: try the next address / MX host (RFC 5321 §5.1).
        if (sent.pending.length === 0) return inOrder(recipients, settled);
        pending = sent.pending;
        last = sent.deferred;
      }
    }
    return inOrder(recipients, [...settled, ...(last ?? all(pendingRecipients(), 'deferred', 451, `4.4.4 no MX host of ${domain} could be reached`, { route: 'mx' }))]);
  }

  async function dispatch(message: ClaimedMessage, domain: string, recipients: ClaimedRecipient[]): Promise<AttemptOutcome[]> {
    if (await isLocalDomain(store, domain)) return deliverLocal(message, recipients);
    if (options.mode === 'capture') return capture(message, recipients);
    const relay = options.relayRoutes[domain] ?? options.relay;
    try {
      if (relay) return await viaRelay(message, recipients, relay);
      return await viaMx(message, domain, recipients);
    } catch (err) {
      log.warn({ err, queueId: message.id, domain }, 'delivery.error');
      return all(recipients, 'deferred', 451, `4.4.0 ${(err as Error).message}`);
    }
  }

  return async function deliverGroup(message: ClaimedMessage, domain: string, recipients: ClaimedRecipient[]): Promise<AttemptOutcome[]> {
    // Suppressed addresses (a hard bounce, or listed by hand) fail without an attempt; the rest go on.
    const suppressed = await suppressedAmong(store, recipients.map((r) => r.rcpt));
    if (suppressed.size === 0) return dispatch(message, domain, recipients);
    const rest = recipients.filter((r) => !suppressed.has(r.rcpt.toLowerCase()));
    const outcomes = rest.length ? await dispatch(message, domain, rest) : [];
    for (const r of recipients) {
      const s = suppressed.get(r.rcpt.toLowerCase());
      if (s) outcomes.push({ rcpt: r.rcpt, status: 'failed', code: 550, text: suppressedReply(s), detail: { route: 'suppressed', suppressed: true } });
    }
    return inOrder(recipients, outcomes);
  };
}
