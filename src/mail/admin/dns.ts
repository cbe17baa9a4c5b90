// The DNS records of a local domain as the admin API and CLI give them (RFC 7208 SPF, RFC 6376 DKIM, RFC 7489 DMARC, RFC 8460 TLS-RPT, RFC 8461 MTA-STS), and the server's public addresses.
import { createHash } from 'node:crypto';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Config } from '../../config/schema.ts';
import type { Queryable } from '../../store/store.ts';
import { isLocalDomain } from '../accounts.ts';
import { listDkimKeys } from '../dkim/key-store.ts';
import { buildDnsRecords, mtaStsPolicyText, type DnsRecord } from '../dns-records.ts';
import type { DnsResolver } from '../route/resolver.ts';
import { notFound } from './errors.ts';

export type ServerAddresses = { ipv4: string[]; ipv6: string[] };

/**
 * Addresses not reachable from the Internet, never published: private (RFC 1918, RFC 4193), shared (RFC 6598),
 * link-local (RFC 3927, RFC 4291), loopback and unspecified. Documentation ranges pass, so tests can configure them.
 */
const PRIVATE = (() => {
  const b = new BlockList();
  for (const [net, bits] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['100.64.0.0', 10], ['169.254.0.0', 16], ['127.0.0.0', 8], ['0.0.0.0', 8]] as const) b.addSubnet(net, bits, 'ipv4');
  for (const [net, bits] of [['fc00::', 7], ['fe80::', 10], ['::1', 128], ['::', 128]] as const) b.addSubnet(net, bits, 'ipv6');
  return b;
})();

export function isPublicAddress(ip: string): boolean {
  if (isIPv4(ip)) return !PRIVATE.check(ip, 'ipv4');
  if (isIPv6(ip)) return !PRIVATE.check(ip, 'ipv6');
  return false;
}

function split(ips: string[]): ServerAddresses {
  return { ipv4: ips.filter((ip) => isIPv4(ip)), ipv6: ips.filter((ip) => isIPv6(ip)) };
}

/**
 * The server's public addresses: `mail.publicIp` when configured; else the A/AAAA records of the
 * host name (what the MX points at); else the public addresses of this machine's interfaces.
 * A lookup result is kept for `ttlMs`.
 */
export function createAddressFinder(options: { config: Readonly<Config>; resolver?: DnsResolver; ttlMs?: number; interfaces?: () => string[] }) {
  const ttl = options.ttlMs ?? 10 * 60_000;
  let cached: { at: number; value: ServerAddresses } | undefined;
  const interfaces = options.interfaces ?? (() => Object.values(networkInterfaces()).flatMap((list) => (list ?? []).filter((i) => !i.internal).map((i) => i.address)));
  return async function serverAddresses(): Promise<ServerAddresses> {
    const configured = options.config.mail.publicIp;
    if (configured.length) return split(configured);
    if (cached && Date.now() - cached.at < ttl) return cached.value;
    let found: string[] = [];
    if (options.resolver) {
      const host = options.config.mail.hostname;
      const [a, aaaa] = await Promise.all([
        options.resolver.resolve4(host).catch(() => [] as string[]),
        options.resolver.resolve6(host).catch(() => [] as string[]),
      ]);
      found = [...a, ...aaaa].filter(isPublicAddress);
    }
    if (!found.length) found = interfaces().filter(isPublicAddress);
    cached = { at: Date.now(), value: split([...new Set(found)]) };
    return cached.value;
  };
}

/** The MTA-STS policy of our domains: our host name is the only MX (RFC 8461 §3.2). */
export function mtaStsPolicy(config: Readonly<Config>): string {
  return mtaStsPolicyText({ mode: config.mail.mtaSts.mode, mxHosts: [config.mail.hostname], maxAgeSeconds: config.mail.mtaSts.maxAge });
}

/** RFC 8461 §3.1: the id changes whenever the policy does, so it is derived from the policy text. */
export function mtaStsPolicyId(policy: string): string {
  return createHash('sha256').update(policy).digest('hex').slice(0, 20);
}

/** Everything to publish for a local domain; `notFound` for any other. */
export async function dnsRecordsFor(options: { q: Queryable; config: Readonly<Config>; domain: string; addresses: ServerAddresses }): Promise<DnsRecord[]> {
  const domain = options.domain.trim().toLowerCase().replace(/\.$/, '');
  if (!(await isLocalDomain(options.q, domain))) throw notFound(domain, 'domain');
  const keys = (await listDkimKeys(options.q, domain)).filter((k) => k.status === 'active');
  return buildDnsRecords({
    domain,
    hostname: options.config.mail.hostname,
    ipv4: options.addresses.ipv4,
    ipv6: options.addresses.ipv6,
    dkimKeys: keys.map((k) => ({ selector: k.selector, algorithm: k.algorithm, publicKey: k.publicKey })),
    mtaStsPolicyId: mtaStsPolicyId(mtaStsPolicy(options.config)),
  });
}
