// The DNS records a mail domain publishes: MX (RFC 5321 §5.1), SPF (RFC 7208), DKIM (RFC 6376, RFC 8463),
// DMARC (RFC 7489), TLS-RPT (RFC 8460), MTA-STS (RFC 8461), SRV for mail clients (RFC 6186, RFC 8314),
// and a BIND zone-file rendering of them (RFC 1035 §5.1).
import { isIPv4, isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';
import { dkimTxtRecord, type DkimAlgorithm } from './dkim/keys.ts';

export type DnsRecordType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'CNAME' | 'SRV';

/** One record as Stalwart's `GET /api/dns/records/{domain}` lists it: names fully qualified, with the trailing dot. */
export type DnsRecord = { type: DnsRecordType; name: string; content: string };

export type DnsRecordsOptions = {
  domain: string;
  /** The server's own name (`lookup.default.hostname`): the MX target and SRV target. */
  hostname: string;
  /** Public addresses of the server: A/AAAA for the hostname and ip4:/ip6: in the domain's SPF. */
  ipv4?: string[];
  ipv6?: string[];
  dkimKeys: Array<{ selector: string; algorithm: DkimAlgorithm; publicKey: string }>;
  /** The id= of `_mta-sts` (RFC 8461 §3.1: 1 to 32 letters and digits); change it whenever the policy changes. */
  mtaStsPolicyId: string;
  /** Ports advertised by SRV (RFC 6186 §3.1, RFC 8314 §5.1); false leaves that record out. */
  submissionPort?: number | false;
  submissionsPort?: number | false;
  imapPort?: number | false;
  imapsPort?: number | false;
  /** Where DMARC aggregate and TLS reports go; postmaster@<domain> by default. */
  reportAddress?: string;
};

function dnsError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** RFC 1035 §2.3.1 / RFC 5321 §4.1.2: dot-separated letter-digit-hyphen labels of up to 63 octets. */
function isLdhName(name: string): boolean {
  return name.length > 0 && name.length <= 253 && name.split('.').every((l) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(l));
}

/** A host name in lowercase A-label form without the trailing dot; throws `dns.invalid_name`. */
function hostName(input: string, what: string): string {
  const ascii = domainToASCII(String(input).trim().replace(/\.$/, ''));
  if (!isLdhName(ascii)) throw dnsError('dns.invalid_name', `${what} ${JSON.stringify(input)} is not a valid host name`);
  return ascii;
}

function fqdn(name: string): string {
  return `${name}.`;
}

function port(value: number | false | undefined, fallback: number, what: string): number | false {
  if (value === false) return false;
  const p = value ?? fallback;
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw dnsError('dns.invalid_port', `${what} port ${p} is not 1-65535`);
  return p;
}

/**
 * Everything a user pastes into their DNS provider for `domain`. Records for the hostname itself
 * (its A/AAAA and its HELO SPF) are included only when the hostname lies in this domain's zone.
 */
export function buildDnsRecords(options: DnsRecordsOptions): DnsRecord[] {
  const domain = hostName(options.domain, 'Domain');
  const hostname = hostName(options.hostname, 'Hostname');
  const ipv4 = options.ipv4 ?? [];
  const ipv6 = options.ipv6 ?? [];
  for (const ip of ipv4) if (!isIPv4(ip)) throw dnsError('dns.invalid_address', `${JSON.stringify(ip)} is not an IPv4 address`);
  for (const ip of ipv6) if (!isIPv6(ip)) throw dnsError('dns.invalid_address', `${JSON.stringify(ip)} is not an IPv6 address`);
  // RFC 8461 §3.1: sts-id = 1*32(ALPHA / DIGIT)
  if (!/^[A-Za-z0-9]{1,32}$/.test(options.mtaStsPolicyId)) {
    throw dnsError('dns.invalid_mta_sts_id', 'The MTA-STS policy id must be 1 to 32 letters and digits (RFC 8461 §3.1)');
  }
  const report = options.reportAddress ?? `postmaster@${domain}`;
  if (!/^[^\s@;,!]+@[^\s@;,!]+$/.test(report)) throw dnsError('dns.invalid_address', `${JSON.stringify(report)} is not a report address`);
  const hostInZone = hostname === domain || hostname.endsWith(`.${domain}`);

  const records: DnsRecord[] = [];
  if (hostInZone) {
    for (const ip of ipv4) records.push({ type: 'A', name: fqdn(hostname), content: ip });
    for (const ip of ipv6) records.push({ type: 'AAAA', name: fqdn(hostname), content: ip });
  }
  records.push({ type: 'MX', name: fqdn(domain), content: `10 ${fqdn(hostname)}` });

  // RFC 7208 §3.2: exactly one SPF record per name. The domain's covers MAIL FROM; the
  // hostname's covers the HELO identity (§2.3) when the hostname is a different name.
  const spfAddresses = [...ipv4.map((ip) => `ip4:${ip}`), ...ipv6.map((ip) => `ip6:${ip}`)];
  records.push({ type: 'TXT', name: fqdn(domain), content: ['v=spf1', 'a', 'mx', ...spfAddresses, '~all'].join(' ') });
  if (hostInZone && hostname !== domain) records.push({ type: 'TXT', name: fqdn(hostname), content: 'v=spf1 a ~all' });

  for (const key of options.dkimKeys) {
    // RFC 6376 §3.1: a selector is one or more sub-domain labels
    const selector = String(key.selector).toLowerCase();
    if (!isLdhName(selector)) throw dnsError('dns.invalid_name', `DKIM selector ${JSON.stringify(key.selector)} is not valid`);
    records.push({ type: 'TXT', name: fqdn(`${selector}._domainkey.${domain}`), content: dkimTxtRecord(key) });
  }

  records.push({ type: 'TXT', name: fqdn(`_dmarc.${domain}`), content: `v=DMARC1; p=quarantine; rua=mailto:${report}` });
  records.push({ type: 'TXT', name: fqdn(`_smtp._tls.${domain}`), content: `v=TLSRPTv1; rua=mailto:${report}` });
  records.push({ type: 'TXT', name: fqdn(`_mta-sts.${domain}`), content: `v=STSv1; id=${options.mtaStsPolicyId}` });
  // RFC 8461 §3.3: the policy is fetched from https://mta-sts.<domain>/.well-known/mta-sts.txt
  records.push({ type: 'CNAME', name: fqdn(`mta-sts.${domain}`), content: fqdn(hostname) });

  const services: Array<[string, number | false]> = [
    ['_submission._tcp', port(options.submissionPort, 587, 'Submission')],
    ['_submissions._tcp', port(options.submissionsPort, 465, 'Submissions')],
    ['_imap._tcp', port(options.imapPort, 143, 'IMAP')],
    ['_imaps._tcp', port(options.imapsPort, 993, 'IMAPS')],
  ];
  for (const [service, p] of services) {
    // RFC 2782: priority weight port target
    if (p !== false) records.push({ type: 'SRV', name: fqdn(`${service}.${domain}`), content: `0 1 ${p} ${fqdn(hostname)}` });
  }
  return records;
}

export type MtaStsMode = 'enforce' | 'testing' | 'none';

/** RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year). */
const MAX_STS_AGE = 31_557_600;

/** The policy body served at https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 §3.2). */
export function mtaStsPolicyText(options: { mode: MtaStsMode; mxHosts: string[]; maxAgeSeconds: number }): string {
  const { mode, mxHosts, maxAgeSeconds } = options;
  if (mode !== 'enforce' && mode !== 'testing' && mode !== 'none') {
    throw dnsError('dns.invalid_mta_sts_policy', `MTA-STS mode must be enforce, testing or none, not ${String(mode)}`);
  }
  if (!Number.isInteger(maxAgeSeconds) || maxAgeSeconds < 0 || maxAgeSeconds > MAX_STS_AGE) {
    throw dnsError('dns.invalid_mta_sts_policy', `MTA-STS max_age must be 0-${MAX_STS_AGE} seconds`);
  }
  if (mode !== 'none' && mxHosts.length === 0) {
    throw dnsError('dns.invalid_mta_sts_policy', 'An MTA-STS policy in enforce or testing mode needs at least one mx');
  }
  // mx patterns are host names, or "*." and a host name (RFC 8461 §3.2, §4.1)
  const mx = mxHosts.map((host) => {
    const wildcard = host.startsWith('*.');
    const name = hostName(wildcard ? host.slice(2) : host, 'MTA-STS mx');
    return wildcard ? `*.${name}` : name;
  });
  const lines = ['version: STSv1', `mode: ${mode}`, ...mx.map((m) => `mx: ${m}`), `max_age: ${maxAgeSeconds}`];
  return lines.map((l) => `${l}\r\n`).join('');
}

/** One TXT character-string per 255 octets (RFC 1035 §3.3.14), quoted and escaped (§5.1). */
function txtStrings(content: string): string {
  const bytes = Buffer.from(content, 'utf8');
  const parts: string[] = [];
  for (let i = 0; i < bytes.length || parts.length === 0; i += 255) {
    let out = '';
    for (const b of bytes.subarray(i, i + 255)) {
      if (b === 0x22 || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
      else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
      else out += `\\${b.toString().padStart(3, '0')}`;
    }
    parts.push(`"${out}"`);
  }
  return parts.join(' ');
}

/** The records as a BIND zone-file listing: `name TTL IN TYPE data`, TXT quoted and split. */
export function toZoneFile(records: DnsRecord[], options: { ttl?: number } = {}): string {
  const ttl = options.ttl ?? 3600;
  const width = Math.max(0, ...records.map((r) => r.name.length));
  return records
    .map((r) => {
      const data = r.type === 'TXT' ? txtStrings(r.content) : r.content;
      return `${r.name.padEnd(width)}\t${ttl}\tIN\t${r.type}\t${data}\n`;
    })
    .join('');
}
