// Where a claimed recipient group goes: a local mailbox, the capture mailbox, a smart host, or the destination's MX hosts (RFC 5321 §5.1).
import type { Store } from '../../store/store.ts';
import type { Logger } from '../../lib/log.ts';
import type { RelayRoute } from '../../config/schema.ts';
import { isLocalDomain, principalForAddress } from '../accounts.ts';
import { CAPTURE_MAILBOX, storeInMailbox } from '../mailbox.ts';
import { resolveRoute, type Route } from '../route/mx.ts';
import type { DnsResolver } from '../route/resolver.ts';
import type { AttemptOutcome, ClaimedMessage, ClaimedRecipient } from './queue.ts';
import type { DeliveryResult } from '../deliver/smtp-client.ts';
import type { SmtpPool } from '../deliver/smtp-pool.ts';
import { mxAllowed, type MtaSts, type MtaStsPolicy } from '../route/mta-sts.ts';

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

export function createTransport(options: TransportOptions) {
  const { store, log } = options;
  const now = options.now ?? Date.now;
  const routeTtl = options.routeCacheMs ?? 60_000;
  // Deliveries to one domain share one DNS resolution: concurrent ones wait for the same lookup, later ones reuse it for a while.
  const routes = new Map<string, { until: number; route: Promise<Route> }>();

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
    await store.tx(async (q) => {
      for (const r of recipients) {
        let owner = await principalForAddress(q, r.rcpt);
        if (!owner && r.rcpt.startsWith('postmaster@')) owner = 'postmaster';
        if (!owner) {
          out.push({ rcpt: r.rcpt, status: 'failed', code: 550, text: '5.1.1 mailbox does not exist', detail: { route: 'local' } });
          continue;
        }
        await storeInMailbox(q, { mailbox: owner, queueId: message.id, mailFrom: message.mailFrom, rcpt: r.rcpt, raw: message.raw });
        out.push({ rcpt: r.rcpt, status: 'delivered', code: 250, text: `2.0.0 delivered to mailbox ${owner}`, detail: { route: 'local', mailbox: owner } });
      }
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

  async function viaRelay(message: ClaimedMessage, recipients: ClaimedRecipient[], relay: RelayRoute): Promise<AttemptOutcome[]> {
    const result = await options.pool.deliver({
      host: relay.host,
      address: relay.host,
      port: relay.port,
      heloName: options.hostname,
      tls: relay.tls === 'none' ? 'none' : relay.tls === 'opportunistic' || relay.insecureTls ? 'opportunistic' : 'required-verified',
      ...(relay.user ? { auth: { user: relay.user, pass: relay.password ?? '' } } : {}),
      ...(relay.tls === 'implicit' ? { implicitTls: true } : {}),
      ...(options.ca ? { ca: options.ca } : {}),
      envelope: { from: message.mailFrom, to: recipients.map((r) => r.rcpt), dsn: dsnParams(message, recipients) },
      raw: message.raw,
    } as Parameters<SmtpPool['deliver']>[0]);
    return toOutcomes(result, `relay:${relay.host}:${relay.port}`);
  }

  async function viaMx(message: ClaimedMessage, domain: string, recipients: ClaimedRecipient[]): Promise<AttemptOutcome[]> {
    const route = await routeFor(domain);
    if (route.kind === 'permanent') return all(recipients, 'failed', 550, `5.1.2 ${route.reason}`, { route: 'mx', domain });
    if (route.kind === 'temporary') return all(recipients, 'deferred', 451, `4.4.3 ${route.reason}`, { route: 'mx', domain });
    const policy = await policyFor(domain);
    let last: AttemptOutcome[] | undefined;
    let pending = recipients;
    for (const host of route.hosts) {
      if (policy && policy.mode === 'enforce' && !mxAllowed(policy, host.host)) {
        last = all(pending, 'deferred', 451, `4.7.5 MX ${host.host} is not allowed by the MTA-STS policy of ${domain}`, { route: 'mx', mx: host.host, mtaSts: 'enforce' });
        continue;
      }
      for (const address of host.addresses) {
        const result = await options.pool.deliver({
          host: host.host,
          address,
          port: options.mxPort,
          heloName: options.hostname,
          tls: policy?.mode === 'enforce' ? 'required-verified' : 'opportunistic',
          ...(options.ca ? { ca: options.ca } : {}),
          envelope: { from: message.mailFrom, to: pending.map((r) => r.rcpt), dsn: dsnParams(message, pending) },
          raw: message.raw,
        });
        const outcomes = toOutcomes(result, 'mx');
        if (policy) for (const o of outcomes) o.detail = { ...o.detail, mtaSts: policy.mode };
        // A session-level temporary failure defers every recipient: try the next address / MX host (RFC 5321 §5.1).
        if (!result.failure || result.failure.status !== 'deferred') return outcomes;
        last = outcomes;
      }
    }
    return last ?? all(recipients, 'deferred', 451, `4.4.4 no MX host of ${domain} could be reached`, { route: 'mx' });
  }

  /** RFC 3461 parameters passed on to the next hop; NOTIFY is per envelope here, taken from the first recipient that has one. */
  function dsnParams(message: ClaimedMessage, recipients: ClaimedRecipient[]) {
    const notify = recipients.find((r) => r.notify)?.notify;
    return {
      ...(message.ret === 'FULL' || message.ret === 'HDRS' ? { ret: message.ret as 'FULL' | 'HDRS' } : {}),
      ...(message.envId ? { envid: message.envId } : {}),
      ...(notify ? { notify } : {}),
    };
  }

  return async function deliverGroup(message: ClaimedMessage, domain: string, recipients: ClaimedRecipient[]): Promise<AttemptOutcome[]> {
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
  };
}
