// Outbound routing: which hosts to try for a recipient domain, RFC 5321 §5.1 (MX, implicit MX), RFC 7505 (null MX), RFC 5321 §4.1.3 (address literals).
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { dnsFailureOf, type DnsFailure, type DnsResolver } from './resolver.ts';

export type RouteHost = {
  /** MX exchange name (used for SNI and MTA-STS matching), or the IP of an address literal. */
  host: string;
  preference: number;
  /** IPv4 addresses first unless `prefer: 'ipv6'`. */
  addresses: string[];
};

export type Route =
  | {
      kind: 'hosts';
      /** In the order to try them: by preference, equal preferences shuffled. */
      hosts: RouteHost[];
      /** True when the domain has no MX and its own address records are used (RFC 5321 §5.1). */
      implicit: boolean;
      /** MX hosts left out because their name does not resolve, for the delivery timeline. */
      skipped: Array<{ host: string; preference: number; reason: string }>;
    }
  | { kind: 'permanent'; reason: string }
  | { kind: 'temporary'; reason: string };

export type RouteOptions = {
  resolver: DnsResolver;
  /** Random numbers in [0, 1) for shuffling equal preferences; Math.random by default. */
  random?: () => number;
  signal?: AbortSignal;
  /** Our own host names: an MX naming one of them cuts the list there (RFC 5321 §5.1). */
  localHosts?: string[];
  prefer?: 'ipv4' | 'ipv6';
};

/** Lowercase A-label form without a trailing dot; '' when the name cannot be converted. */
export function normalizeDomain(domain: string): string {
  return domainToASCII(domain.trim().replace(/\.$/, '')).toLowerCase();
}

/** RFC 5321 §4.1.3: `[192.0.2.1]` or `[IPv6:2001:db8::1]`; null when the string is not a literal. */
export function parseAddressLiteral(domain: string): { ip: string } | { invalid: string } | null {
  const match = /^\[(.*)\]$/.exec(domain.trim());
  if (match === null) return null;
  const inner = match[1] ?? '';
  const v6 = /^IPv6:(.*)$/i.exec(inner);
  if (v6 !== null) return isIP(v6[1] ?? '') === 6 ? { ip: (v6[1] ?? '').toLowerCase() } : { invalid: `invalid IPv6 address literal ${domain}` };
  if (isIP(inner) === 4) return { ip: inner };
  return { invalid: `unsupported address literal ${domain}` };
}

/** Fisher-Yates shuffle of one preference group (RFC 5321 §5.1: "randomize them to spread the load"). */
function shuffle<T>(items: T[], random: () => number): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

type Addresses = { addresses: string[] } | { failure: DnsFailure; reason: string };

async function addressesOf(host: string, options: RouteOptions): Promise<Addresses> {
  const lookupOptions = { signal: options.signal };
  const [v4, v6] = await Promise.allSettled([options.resolver.resolve4(host, lookupOptions), options.resolver.resolve6(host, lookupOptions)]);
  const four = v4.status === 'fulfilled' ? v4.value : [];
  const six = v6.status === 'fulfilled' ? v6.value : [];
  const addresses = options.prefer === 'ipv6' ? [...six, ...four] : [...four, ...six];
  if (addresses.length > 0) return { addresses };
  const failures = [v4, v6].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  const temporary = failures.find((err) => dnsFailureOf(err) === 'temporary');
  if (temporary !== undefined) return { failure: 'temporary', reason: (temporary as Error).message };
  const nxdomain = failures.some((err) => dnsFailureOf(err) === 'nxdomain');
  return { failure: nxdomain ? 'nxdomain' : 'nodata', reason: nxdomain ? `${host} does not exist` : `${host} has no A or AAAA records` };
}

export async function resolveRoute(domain: string, options: RouteOptions): Promise<Route> {
  const literal = parseAddressLiteral(domain);
  if (literal !== null) {
    if ('invalid' in literal) return { kind: 'permanent', reason: literal.invalid };
    return { kind: 'hosts', hosts: [{ host: literal.ip, preference: 0, addresses: [literal.ip] }], implicit: false, skipped: [] };
  }
  const name = normalizeDomain(domain);
  if (name === '' || isIP(name) !== 0) return { kind: 'permanent', reason: `invalid domain ${JSON.stringify(domain)}` };

  let records: Array<{ exchange: string; priority: number }>;
  try {
    records = await options.resolver.resolveMx(name, { signal: options.signal });
  } catch (err) {
    const failure = dnsFailureOf(err);
    if (failure === 'temporary') return { kind: 'temporary', reason: (err as Error).message };
    if (failure === 'nxdomain') return { kind: 'permanent', reason: `domain ${name} does not exist (NXDOMAIN)` };
    records = [];
  }

  if (records.length === 0) {
    // RFC 5321 §5.1: no MX records -> the domain itself is the implicit MX, preference 0.
    const found = await addressesOf(name, options);
    if ('addresses' in found) return { kind: 'hosts', hosts: [{ host: name, preference: 0, addresses: found.addresses }], implicit: true, skipped: [] };
    if (found.failure === 'temporary') return { kind: 'temporary', reason: found.reason };
    return { kind: 'permanent', reason: `domain ${name} has no MX and no address records` };
  }

  const exchanges = records.map((r) => ({ host: r.exchange.toLowerCase().replace(/\.$/, ''), preference: r.priority }));
  // RFC 7505 §3: a single MX whose exchange is the root (".") says the domain accepts no mail.
  if (exchanges.length === 1 && exchanges[0]?.host === '') {
    return { kind: 'permanent', reason: `domain ${name} does not accept mail (null MX, RFC 7505)` };
  }

  // A null MX mixed with real ones is a misconfiguration; the real ones are used. Duplicates keep their best preference.
  const best = new Map<string, number>();
  for (const { host, preference } of exchanges) {
    if (host === '') continue;
    const seen = best.get(host);
    if (seen === undefined || preference < seen) best.set(host, preference);
  }
  let candidates = [...best].map(([host, preference]) => ({ host, preference }));

  // RFC 5321 §5.1: if we are one of the MX hosts, only hosts more preferred than us may be used.
  const local = new Set((options.localHosts ?? []).map((h) => normalizeDomain(h)));
  const self = candidates.filter((c) => local.has(c.host));
  if (self.length > 0) {
    const ours = Math.min(...self.map((c) => c.preference));
    candidates = candidates.filter((c) => c.preference < ours);
    if (candidates.length === 0) return { kind: 'permanent', reason: `mail for ${name} loops back to this server (it is the best MX)` };
  }

  const random = options.random ?? Math.random;
  const preferences = [...new Set(candidates.map((c) => c.preference))].sort((a, b) => a - b);
  const ordered = preferences.flatMap((p) => shuffle(candidates.filter((c) => c.preference === p), random));

  const resolved = await Promise.all(ordered.map(async (c) => ({ ...c, found: await addressesOf(c.host, options) })));
  const hosts: RouteHost[] = [];
  const skipped: Array<{ host: string; preference: number; reason: string }> = [];
  for (const { host, preference, found } of resolved) {
    if ('addresses' in found) hosts.push({ host, preference, addresses: found.addresses });
    else skipped.push({ host, preference, reason: found.reason });
  }
  if (hosts.length > 0) return { kind: 'hosts', hosts, implicit: false, skipped };
  const temporary = resolved.some(({ found }) => 'failure' in found && found.failure === 'temporary');
  const reasons = skipped.map((s) => s.reason).join('; ');
  if (temporary) return { kind: 'temporary', reason: `no MX host of ${name} could be resolved now: ${reasons}` };
  return { kind: 'permanent', reason: `no MX host of ${name} has an address: ${reasons}` };
}
