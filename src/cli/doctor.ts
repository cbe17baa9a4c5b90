// `mana doctor DOMAIN`: DNS as published vs as needed (RFC 7208, 6376, 7489, 8460, 8461, 6186), SMTP ports and STARTTLS (RFC 5321, 3207, 8314), the TLS certificate, forward-confirmed reverse DNS of the HELO name, and an open-relay self-test.
import { Resolver } from 'node:dns/promises';
import { BlockList, connect as connectTcp, isIP, isIPv4, isIPv6, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { checkServerIdentity, connect as connectTls, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { Config } from '../config/schema.ts';
import type { Queryable } from '../store/store.ts';
import { createAddressFinder, dnsRecordsFor } from '../mail/admin/dns.ts';
import type { DnsRecord } from '../mail/dns-records.ts';
import { createResolver, dnsFailureOf, type DnsResolver } from '../mail/route/resolver.ts';
import { inNetworks } from '../mail/smtp/networks.ts';
import { EXIT, parse, positiveInt, runCommand, str, UsageError, type CliIo } from './args.ts';

export const USAGE = `Usage:
  mana doctor DOMAIN [--host HOST] [--ports SMTP,SUBMISSION,SUBMISSIONS] [--from-ip ADDR] [--timeout MS] [--json]
      Checks DNS records as published against those mana dns records DOMAIN lists, SMTP on the
      three ports (greeting, EHLO, STARTTLS, implicit TLS), the TLS certificate, PTR/HELO, and
      that the server is no open relay. HOST defaults to the domain's MX, else mail.hostname.
      Ports: the configured listeners when HOST is this machine, else 25, 587 and 465.
      --from-ip binds the relay test to a local address (loopback is trusted by our own server).
      Exit code 0 when no check is an error, 1 otherwise.
`;

export type CheckStatus = 'ok' | 'warn' | 'error' | 'skip';
export type CheckResult = { check: string; status: CheckStatus; detail: string };

export type DoctorPorts = { smtp: number; submission: number; submissions: number };

export type DoctorOptions = {
  config: Readonly<Config>;
  store: Queryable;
  domain: string;
  /** The server to connect to; default the domain's MX target, else `mail.hostname`. */
  host?: string;
  /** Local address for the open-relay test's connection. */
  fromIp?: string;
  /** Ports to check; default the configured listeners for this machine, the standard ones for another host. */
  ports?: Partial<DoctorPorts>;
  /** Default: a resolver on `mail.dnsServers`. */
  resolver?: DnsResolver;
  /** Time one network step (connect, one reply, a TLS handshake) may take; default 5000 ms. */
  timeoutMs?: number;
  now?: () => number;
};

const STANDARD_PORTS: DoctorPorts = { smtp: 25, submission: 587, submissions: 465 };
const DAY = 86_400_000;

// ---------------------------------------------------------------------------------------------
// Command line

export async function run(args: string[], io: CliIo): Promise<number> {
  return runCommand(io, 'doctor', USAGE, async () => {
    const { positionals, values } = parse(args, {
      host: { type: 'string' }, ports: { type: 'string' }, 'from-ip': { type: 'string' }, timeout: { type: 'string' }, json: { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new UsageError('expected DOMAIN');
    const fromIp = str(values['from-ip']);
    if (fromIp !== undefined && !isIP(fromIp)) throw new UsageError('--from-ip must be an IP address');
    const results = await runDoctor({
      config: io.config,
      store: io.store,
      domain: positionals[0],
      host: str(values.host),
      fromIp,
      ports: parsePorts(str(values.ports)),
      timeoutMs: positiveInt('timeout', values.timeout, 5000),
    });
    io.out(values.json ? JSON.stringify(results, null, 2) : formatResults(results));
    return results.some((r) => r.status === 'error') ? EXIT.failed : EXIT.ok;
  });
}

function parsePorts(v: string | undefined): Partial<DoctorPorts> | undefined {
  if (v === undefined) return undefined;
  const parts = v.split(',').map((s) => s.trim());
  const ok = (p: string) => p === '' || (/^\d+$/.test(p) && Number(p) >= 1 && Number(p) <= 65535);
  if (parts.length !== 3 || !parts.every(ok)) throw new UsageError('--ports takes SMTP,SUBMISSION,SUBMISSIONS (e.g. 25,587,465; leave one empty for its default)');
  const [smtp, submission, submissions] = parts.map((p) => (p === '' ? undefined : Number(p)));
  return { smtp, submission, submissions };
}

/** One line per check (`status  check  detail`, columns aligned) and a summary line. */
export function formatResults(results: CheckResult[]): string {
  const width = Math.max(0, ...results.map((r) => r.check.length));
  const lines = results.map((r) => `${r.status.padEnd(5)}  ${r.check.padEnd(width)}  ${r.detail}`);
  const count = (s: CheckStatus) => results.filter((r) => r.status === s).length;
  const errors = count('error');
  lines.push('', `${results.length} checks: ${count('ok')} ok, ${count('warn')} warn, ${errors} error, ${count('skip')} skipped${errors ? ' - fix the errors above' : ' - no errors'}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// The checks

/** Runs every check; one failing (or throwing) never stops the others. Results in a fixed order. */
export async function runDoctor(options: DoctorOptions): Promise<CheckResult[]> {
  const { config } = options;
  const domain = options.domain.trim().toLowerCase().replace(/\.$/, '');
  const stepMs = options.timeoutMs ?? 5000;
  const now = options.now ?? Date.now;
  const dns = memoize(options.resolver ?? createResolver({ servers: config.mail.dnsServers, timeoutMs: Math.min(config.mail.dnsTimeoutMs, stepMs), tries: 1 }));
  const srv = srvLookup(config.mail.dnsServers, Math.min(config.mail.dnsTimeoutMs, stepMs));

  const dnsSection = guard('dns', () => checkDns({ ...options, domain, dns, srv }));
  const serverSection = guard('target', async () => {
    const target = await findTarget({ options, domain, dns });
    if (!target.address) return [target.result, ...['smtp', 'submission', 'submissions', 'ptr', 'open-relay'].map((check) => skipped(check, `no address for ${target.host}`))];
    const ctx: ServerContext = { ...target, address: target.address, config, stepMs, now, fromIp: options.fromIp };
    const [ports, ptr, relay] = await Promise.all([
      guard('smtp', () => checkPorts(ctx)),
      guard('ptr', () => checkPtr(ctx, dns)),
      guard('open-relay', async () => [await checkRelay(ctx)]),
    ]);
    return [target.result, ...ports, ...ptr, ...relay];
  });
  const [a, b] = await Promise.all([dnsSection, serverSection]);
  return [...a, ...b];
}

function skipped(check: string, detail: string): CheckResult {
  return { check, status: 'skip', detail };
}

async function guard(check: string, body: () => Promise<CheckResult[]>): Promise<CheckResult[]> {
  try {
    return await body();
  } catch (err) {
    return [{ check, status: 'error', detail: `check failed: ${errorText(err)}` }];
  }
}

/** Each name and type is asked once per run, however many checks need it. */
function memoize(resolver: DnsResolver): DnsResolver {
  const cache = new Map<string, Promise<unknown>>();
  const wrap = <T>(type: string, fn: (name: string) => Promise<T>) => (name: string): Promise<T> => {
    const key = `${type} ${name.toLowerCase().replace(/\.$/, '')}`;
    let p = cache.get(key) as Promise<T> | undefined;
    if (!p) cache.set(key, (p = fn(name)));
    return p;
  };
  return {
    resolveMx: wrap('MX', (n) => resolver.resolveMx(n)),
    resolve4: wrap('A', (n) => resolver.resolve4(n)),
    resolve6: wrap('AAAA', (n) => resolver.resolve6(n)),
    resolveTxt: wrap('TXT', (n) => resolver.resolveTxt(n)),
    resolvePtr: wrap('PTR', (n) => resolver.resolvePtr(n)),
    resolveCname: wrap('CNAME', (n) => resolver.resolveCname(n)),
  };
}

type SrvRecord = { priority: number; weight: number; port: number; name: string };

/** SRV lookups (RFC 2782), which DnsResolver does not offer: node's resolver on the same servers, with a deadline. */
function srvLookup(servers: string[], timeoutMs: number): (name: string) => Promise<SrvRecord[]> {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1, maxTimeout: timeoutMs });
  if (servers.length) resolver.setServers(servers);
  return (name) => withDeadline(resolver.resolveSrv(name), timeoutMs * 2 + 250, () => Object.assign(new Error(`no SRV answer for ${name}`), { code: 'ETIMEOUT' }));
}

function withDeadline<T>(p: Promise<T>, ms: number, error: () => Error, onTimeout?: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => { onTimeout?.(); reject(error()); }, ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

function errorText(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused (nothing listening)',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    EADDRNOTAVAIL: 'local address not available',
  };
  return known[code] ?? (typeof e?.message === 'string' ? e.message : String(err));
}

// ---------------------------------------------------------------------------------------------
// 1. DNS: each needed record against what is published

type DnsContext = DoctorOptions & { domain: string; dns: DnsResolver; srv: (name: string) => Promise<SrvRecord[]> };

async function checkDns(ctx: DnsContext): Promise<CheckResult[]> {
  const { config } = ctx;
  const addresses = await createAddressFinder({ config, resolver: ctx.dns })();
  let needed: DnsRecord[];
  try {
    needed = await dnsRecordsFor({ q: ctx.store, config, domain: ctx.domain, addresses });
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'admin.not_found') throw err;
    return [{ check: 'dns', status: 'error', detail: `${ctx.domain} is not a local domain, so no records are needed (mana domain add ${ctx.domain})` }];
  }
  // A and AAAA of one name are checked together; every other record is one check.
  const groups = new Map<string, DnsRecord[]>();
  for (const r of needed) {
    const key = r.type === 'A' || r.type === 'AAAA' ? `${r.type} ${r.name}` : `${r.type} ${r.name} ${r.content}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return Promise.all([...groups.values()].map((records) => checkRecord(ctx, records)));
}

const bare = (name: string) => name.toLowerCase().replace(/\.$/, '');

function txtKind(content: string): string {
  const v = /^v=([A-Za-z0-9]+)/i.exec(content)?.[1]?.toLowerCase();
  return ({ spf1: 'SPF', dkim1: 'DKIM', dmarc1: 'DMARC', tlsrptv1: 'TLS-RPT', stsv1: 'MTA-STS' } as Record<string, string>)[v ?? ''] ?? 'TXT';
}

async function checkRecord(ctx: DnsContext, records: DnsRecord[]): Promise<CheckResult> {
  const { type, name } = records[0];
  const host = bare(name);
  const check = `dns ${type} ${host}${type === 'TXT' ? ` (${txtKind(records[0].content)})` : ''}`;
  // RFC 6186 SRV records only help mail clients find the server; mail flows without them.
  const optional = type === 'SRV';
  const bad: CheckStatus = optional ? 'warn' : 'error';
  try {
    const verdict = await compareRecord(ctx, records);
    const status: CheckStatus = verdict.status === 'ok' ? 'ok' : verdict.status === 'warn' ? 'warn' : bad;
    return { check, status, detail: verdict.detail + (optional && status !== 'ok' ? ' (optional: for mail clients, RFC 6186)' : '') };
  } catch (err) {
    const failure = dnsFailureOf(err);
    const needed = records.map((r) => r.content).join(', ');
    if (failure === 'temporary') return { check, status: 'error', detail: `error: lookup failed (${errorText(err)})` };
    return { check, status: bad, detail: `missing: needed ${type === 'TXT' ? `"${needed}"` : needed}${optional ? ' (optional: for mail clients, RFC 6186)' : ''}` };
  }
}

/** `invalid`: published in a way no receiver uses (several records where one is allowed). */
export type Verdict = { status: 'ok' | 'warn' | 'missing' | 'different' | 'invalid'; detail: string };

async function compareRecord(ctx: DnsContext, records: DnsRecord[]): Promise<Verdict> {
  const { type, name } = records[0];
  const needed = records.map((r) => r.content);
  const host = bare(name);
  switch (type) {
    case 'A':
    case 'AAAA': {
      const published = await (type === 'A' ? ctx.dns.resolve4(host) : ctx.dns.resolve6(host));
      const absent = needed.filter((ip) => !published.some((p) => sameAddress(p, ip)));
      if (!absent.length) return { status: 'ok', detail: `published ${published.join(', ')}` };
      return { status: 'different', detail: `different: published ${published.join(', ') || '(none)'}; needed ${needed.join(', ')}` };
    }
    case 'MX': {
      const published = (await ctx.dns.resolveMx(host)).sort((a, b) => a.priority - b.priority);
      const want = bare(needed[0].split(' ')[1]);
      const shown = published.map((m) => `${m.priority} ${bare(m.exchange)}`).join(', ');
      if (published.length === 1 && bare(published[0].exchange) === '') return { status: 'different', detail: `different: null MX (RFC 7505) published; needed ${needed[0]}` };
      if (!published.some((m) => bare(m.exchange) === want)) return { status: 'different', detail: `different: published ${shown}; needed ${needed[0]}` };
      const others = published.filter((m) => bare(m.exchange) !== want);
      if (others.length) return { status: 'warn', detail: `published ${shown}: other MX hosts besides ${want} (the MTA-STS policy names only ${want})` };
      return { status: 'ok', detail: `published ${shown}` };
    }
    case 'CNAME': {
      const want = bare(needed[0]);
      try {
        const published = (await ctx.dns.resolveCname(host)).map(bare);
        if (published.includes(want)) return { status: 'ok', detail: `published ${published.join(', ')}` };
        return { status: 'different', detail: `different: published ${published.join(', ')}; needed ${want}` };
      } catch (err) {
        if (dnsFailureOf(err) === 'temporary') throw err;
        // An A record with the server's address serves the MTA-STS policy as well as a CNAME.
        const [mine, theirs] = await Promise.all([ctx.dns.resolve4(want).catch(() => [] as string[]), ctx.dns.resolve4(host).catch(() => [] as string[])]);
        if (theirs.length && theirs.some((ip) => mine.includes(ip))) return { status: 'ok', detail: `A ${theirs.join(', ')} (the address of ${want}) instead of a CNAME` };
        throw err;
      }
    }
    case 'SRV': {
      const [, , port, target] = needed[0].split(' ');
      const published = await ctx.srv(host);
      const shown = published.map((s) => `${s.priority} ${s.weight} ${s.port} ${bare(s.name)}`).join(', ');
      if (published.some((s) => s.port === Number(port) && bare(s.name) === bare(target))) return { status: 'ok', detail: `published ${shown}` };
      return { status: 'different', detail: `different: published ${shown}; needed ${needed[0]}` };
    }
    case 'TXT':
      return compareTxt(needed[0], (await ctx.dns.resolveTxt(host)).map(normalizeTxt));
  }
}

/**
 * A TXT record as one string: its character-strings joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2), and
 * zone-file quoting pasted into a provider's form by mistake undone; runs of whitespace become one space.
 */
export function normalizeTxt(strings: string[] | string): string {
  let text = (Array.isArray(strings) ? strings.join('') : strings).trim();
  if (/^".*"$/s.test(text)) text = text.slice(1, -1).replace(/"\s*"/g, '').replace(/\\(["\\])/g, '$1');
  return text.replace(/\s+/g, ' ').trim();
}

/** `k=v; k=v` tag lists (RFC 6376 §3.2, RFC 7489 §6.4, RFC 8460 §3, RFC 8461 §3.1): keys lowercased, values trimmed. */
function tags(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).trim());
  }
  return out;
}

const uris = (v: string | undefined) => (v ?? '').split(',').map((u) => u.trim().toLowerCase()).filter(Boolean);

/** Compares the needed TXT record with those published at its name (already normalised). */
export function compareTxt(needed: string, published: string[]): Verdict {
  const kind = txtKind(needed);
  const version = /^v=[A-Za-z0-9]+/i.exec(needed)?.[0].toLowerCase();
  const tagged = (p: string) => (version ? new RegExp(`^${version}(?:\\s|;|$)`, 'i').test(p) : true);
  // RFC 6376 §3.6.1: v= is only recommended in a DKIM key record; one without v= but with p= counts.
  const candidates = published.filter((p) => tagged(p) || (kind === 'DKIM' && !/^v=/i.test(p) && tags(p).has('p')));
  const others = published.filter((p) => !candidates.includes(p));
  if (!candidates.length) {
    return { status: 'missing', detail: `missing: needed "${needed}"${others.length ? ` (other TXT here: ${others.map((p) => `"${p}"`).join(', ')})` : ''}` };
  }
  const shown = candidates.map((p) => `"${p}"`).join(', ');
  const different = (why: string): Verdict => ({ status: 'different', detail: `different: ${why}; published ${shown}; needed "${needed}"` });
  // RFC 7208 §4.5, RFC 7489 §6.6.3, RFC 8460 §3, RFC 8461 §3.1: more than one record of the kind at a name and none applies.
  if (kind !== 'DKIM' && kind !== 'TXT' && candidates.length > 1) {
    return { status: 'invalid', detail: `invalid: ${candidates.length} ${kind} records, a receiver uses none of them (${kind === 'SPF' ? 'RFC 7208 §4.5 permerror' : 'only one is allowed'}): ${shown}` };
  }
  const one = candidates[0];
  switch (kind) {
    case 'SPF': {
      const term = (t: string) => {
        const s = t.toLowerCase().replace(/^\+/, '');
        const m = /^(ip[46]):(.+?)(\/\d+)?$/.exec(s);
        return m && isIP(m[2]) ? `${m[1]}:${canonicalIp(m[2])}${m[3] ?? ''}` : s;
      };
      const want = needed.split(' ').slice(1).map(term);
      const have = one.split(' ').slice(1).map(term);
      const all = have.find((t) => /^[~?-]?all$/.test(t));
      const lacking = want.filter((t) => !/all$/.test(t) && !have.includes(t));
      if (lacking.length) return different(`lacks ${lacking.join(' ')}`);
      // ~all as needed, or the stricter -all; ?all and +all authorise every sender.
      if (all !== '~all' && all !== '-all') return different(all ? `ends in ${all}` : 'has no ~all/-all');
      const extra = have.filter((t) => !want.includes(t) && !/all$/.test(t));
      return { status: 'ok', detail: `published "${one}"${extra.length ? ` (also ${extra.join(' ')})` : ''}` };
    }
    case 'DKIM': {
      // RFC 6376 §3.6.1: whitespace inside p= is ignored; the key itself must match exactly.
      const want = tags(needed);
      const keyOf = (t: Map<string, string>) => (t.get('p') ?? '').replace(/\s+/g, '');
      const algOf = (t: Map<string, string>) => (t.get('k') ?? 'rsa').toLowerCase();
      const match = candidates.find((c) => keyOf(tags(c)) === keyOf(want) && algOf(tags(c)) === algOf(want));
      if (match) return { status: 'ok', detail: `published, p= matches (k=${algOf(want)})` };
      return different(candidates.some((c) => algOf(tags(c)) !== algOf(want)) ? 'other key type (k=)' : 'other public key (p=)');
    }
    case 'DMARC': {
      const want = tags(needed);
      const have = tags(one);
      const p = (have.get('p') ?? '').toLowerCase();
      if (!['none', 'quarantine', 'reject'].includes(p)) return different(p ? `p=${p} is not a policy` : 'no p= tag (RFC 7489 §6.3)');
      const lacking = uris(want.get('rua')).filter((u) => !uris(have.get('rua')).includes(u));
      if (lacking.length) return different(`aggregate reports do not reach ${lacking.join(', ')} (rua=)`);
      if (p === 'none') return { status: 'warn', detail: `published "${one}": p=none asks receivers to take no action on failing mail (monitoring only); needed p=${want.get('p')}` };
      return { status: 'ok', detail: `published "${one}"` };
    }
    case 'TLS-RPT': {
      const lacking = uris(tags(needed).get('rua')).filter((u) => !uris(tags(one).get('rua')).includes(u));
      if (lacking.length) return different(`reports do not reach ${lacking.join(', ')} (rua=)`);
      return { status: 'ok', detail: `published "${one}"` };
    }
    case 'MTA-STS': {
      // RFC 8461 §3.1: senders fetch the policy again only when id= changes.
      if (tags(one).get('id') !== tags(needed).get('id')) return different('id= is not that of the current policy');
      return { status: 'ok', detail: `published "${one}"` };
    }
    default:
      return candidates.includes(needed) ? { status: 'ok', detail: `published "${needed}"` } : different('content');
  }
}

// ---------------------------------------------------------------------------------------------
// Addresses

const LOOPBACK = (() => {
  const b = new BlockList();
  b.addSubnet('127.0.0.0', 8, 'ipv4');
  b.addAddress('::1', 'ipv6');
  return b;
})();

function unmapped(ip: string): string {
  return /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1] ?? ip;
}

export function isLoopback(ip: string): boolean {
  const a = unmapped(ip);
  return isIPv4(a) ? LOOPBACK.check(a, 'ipv4') : isIPv6(a) && LOOPBACK.check(a, 'ipv6');
}

function isThisMachine(ip: string): boolean {
  if (isLoopback(ip) || ip === '0.0.0.0' || ip === '::') return true;
  const mine = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
  return mine.some((m) => sameAddress(m, ip));
}

/** The eight 16-bit groups of an IPv6 address (RFC 4291 §2.2), IPv4 tails included. */
function ipv6Groups(ip: string): number[] {
  let text = ip.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (v4) {
    const o = v4.split('.').map(Number);
    text = text.slice(0, -v4.length) + `${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const part = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = part(head);
  const t = part(tail);
  return tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
}

function canonicalIp(ip: string): string {
  return isIPv6(ip) ? ipv6Groups(ip).map((g) => g.toString(16)).join(':') : ip;
}

function sameAddress(a: string, b: string): boolean {
  return canonicalIp(unmapped(a)) === canonicalIp(unmapped(b));
}

/** The reverse-lookup name of an address (RFC 1035 §3.5, RFC 3596 §2.5). */
export function reverseName(ip: string): string {
  if (isIPv4(ip)) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  const nibbles = ipv6Groups(ip).map((g) => g.toString(16).padStart(4, '0')).join('');
  return `${[...nibbles].reverse().join('.')}.ip6.arpa`;
}

// ---------------------------------------------------------------------------------------------
// 2. The server: which host, which ports

type Target = { host: string; address?: string; addresses: string[]; local: boolean; ports: DoctorPorts; portsFrom: string; result: CheckResult };
type ServerContext = Target & { address: string; config: Readonly<Config>; stepMs: number; now: () => number; fromIp?: string };

async function findTarget(o: { options: DoctorOptions; domain: string; dns: DnsResolver }): Promise<Target> {
  const { options, domain, dns } = o;
  const { config } = options;
  let host = options.host?.trim().toLowerCase().replace(/\.$/, '');
  let why = 'given with --host';
  if (!host) {
    const mx = await dns.resolveMx(domain).catch(() => []);
    const best = mx.filter((m) => bare(m.exchange)).sort((a, b) => a.priority - b.priority)[0];
    host = best ? bare(best.exchange) : config.mail.hostname;
    why = best ? `MX of ${domain}` : `mail.hostname; ${domain} has no MX`;
  }
  let addresses: string[] = [];
  let lookupError = '';
  if (isIP(host)) addresses = [host];
  else {
    const [a, aaaa] = await Promise.all([dns.resolve4(host).catch((e) => { lookupError = errorText(e); return []; }), dns.resolve6(host).catch(() => [])]);
    addresses = [...a, ...aaaa];
  }
  const address = addresses[0];
  const local = address !== undefined && isThisMachine(address);
  const l = config.mail.listeners;
  const base = local ? { smtp: l.inbound.port, submission: l.submission.port, submissions: l.submissions.port } : STANDARD_PORTS;
  const ports: DoctorPorts = {
    smtp: options.ports?.smtp ?? base.smtp,
    submission: options.ports?.submission ?? base.submission,
    submissions: options.ports?.submissions ?? base.submissions,
  };
  const given = options.ports && Object.values(options.ports).some((p) => p !== undefined);
  const portsFrom = given ? 'ports as given' : local ? "this machine: the configured listeners' ports" : 'another host: the standard ports';
  const portList = `smtp ${ports.smtp}, submission ${ports.submission}, submissions ${ports.submissions}`;
  const result: CheckResult = address
    ? { check: 'target', status: 'ok', detail: `${host} (${why}) = ${addresses.join(', ')}; ${portsFrom}: ${portList}` }
    : { check: 'target', status: 'error', detail: `${host} (${why}) has no A/AAAA record${lookupError ? `: ${lookupError}` : ''}` };
  return { host, address, addresses, local, ports, portsFrom, result };
}

// ---------------------------------------------------------------------------------------------
// A small SMTP client (RFC 5321 §4.2 replies, RFC 3207 STARTTLS): one step at a time, each with a deadline.

type Reply = { code: number; text: string };

type Conversation = {
  readonly socket: Socket;
  reply: (what: string) => Promise<Reply>;
  command: (line: string) => Promise<Reply>;
  startTls: (servername: string) => Promise<TLSSocket>;
  close: () => void;
};

function converse(first: Socket, stepMs: number): Conversation {
  let socket = first;
  let buffer = '';
  let lines: string[] = [];
  const ready: Reply[] = [];
  let waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void } | undefined;
  let failed: Error | undefined;
  const onData = (chunk: Buffer) => {
    buffer += chunk.toString('latin1');
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const line = buffer.slice(0, i).replace(/\r$/, '');
      buffer = buffer.slice(i + 1);
      lines.push(line);
      // RFC 5321 §4.2.1: the last line of a reply has a space (or nothing) after the code.
      if (!/^\d{3}(?: |$)/.test(line)) continue;
      const r = { code: Number(line.slice(0, 3)), text: lines.join('\n') };
      lines = [];
      const w = waiting;
      waiting = undefined;
      if (w) w.resolve(r);
      else ready.push(r);
    }
  };
  const fail = (err: Error) => {
    failed ??= err;
    const w = waiting;
    waiting = undefined;
    w?.reject(failed);
  };
  const onError = (err: Error) => fail(err);
  const onClose = () => fail(new Error('the server closed the connection'));
  const attach = (s: Socket) => { s.on('data', onData); s.on('error', onError); s.on('close', onClose); };
  const detach = (s: Socket) => { s.off('data', onData); s.off('error', onError); s.off('close', onClose); };
  attach(socket);

  const reply = (what: string) => {
    const r = ready.shift();
    if (r) return Promise.resolve(r);
    if (failed) return Promise.reject(failed);
    return withDeadline(
      new Promise<Reply>((resolve, reject) => { waiting = { resolve, reject }; }),
      stepMs,
      () => new Error(`no ${what} within ${stepMs} ms`),
      () => { waiting = undefined; socket.destroy(); },
    );
  };
  return {
    get socket() { return socket; },
    reply,
    async command(line) {
      socket.write(`${line}\r\n`);
      return reply(`reply to ${line.split(/[ :]/)[0]}`);
    },
    async startTls(servername) {
      detach(socket);
      const plain = socket;
      plain.on('error', () => {}); // the TLS socket reports failures from here on
      const secure = connectTls({ socket: plain, servername: isIP(servername) ? undefined : servername, rejectUnauthorized: false });
      socket = secure;
      attach(secure);
      await withDeadline(
        new Promise<void>((resolve, reject) => { secure.once('secureConnect', () => resolve()); secure.once('error', reject); }),
        stepMs, () => new Error(`no TLS handshake within ${stepMs} ms`), () => secure.destroy(),
      );
      return secure;
    },
    close() {
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    },
  };
}

/** A TCP connection (from `localAddress` when given), or with `tls` (the SNI name) an implicit-TLS one (RFC 8314). */
function connect(o: { address: string; port: number; localAddress?: string; tls?: string; stepMs: number }): Promise<Socket> {
  const socket = o.tls !== undefined
    ? connectTls({ host: o.address, port: o.port, servername: isIP(o.tls) ? undefined : o.tls, rejectUnauthorized: false })
    : connectTcp({ host: o.address, port: o.port, localAddress: o.localAddress });
  return withDeadline(
    new Promise<Socket>((resolve, reject) => {
      socket.once(o.tls !== undefined ? 'secureConnect' : 'connect', () => { socket.off('error', reject); resolve(socket); });
      socket.once('error', reject);
    }),
    o.stepMs,
    () => new Error(`no connection within ${o.stepMs} ms`),
    () => socket.destroy(),
  ).catch((err) => { socket.destroy(); throw err; });
}

/** RFC 5321 §4.1.3: a client without a name of its own says EHLO with its address literal. */
function ehloName(socket: Socket): string {
  const ip = unmapped(socket.localAddress ?? '127.0.0.1');
  return isIPv6(ip) ? `[IPv6:${ip}]` : `[${ip}]`;
}

const firstLine = (r: Reply) => r.text.split('\n')[0];
const lastLine = (r: Reply) => r.text.split('\n').at(-1) ?? '';

// ---------------------------------------------------------------------------------------------
// 2. Reachability, STARTTLS and the certificate

async function checkPorts(ctx: ServerContext): Promise<CheckResult[]> {
  const kinds: Array<keyof DoctorPorts> = ['smtp', 'submission', 'submissions'];
  const results = await Promise.all(kinds.map((kind) => checkPort(ctx, kind)));
  return results.flat();
}

async function checkPort(ctx: ServerContext, kind: keyof DoctorPorts): Promise<CheckResult[]> {
  const port = ctx.ports[kind];
  const check = `${kind} ${ctx.address.includes(':') ? `[${ctx.address}]` : ctx.address}:${port}`;
  const certCheck = `certificate ${kind}`;
  const implicit = kind === 'submissions';
  let conversation: Conversation | undefined;
  try {
    if (!port) return [{ check, status: 'error', detail: 'port 0 (an ephemeral port) in the configuration: give the port with --ports' }];
    const socket = await connect({ address: ctx.address, port, stepMs: ctx.stepMs, tls: implicit ? ctx.host : undefined });
    const c = converse(socket, ctx.stepMs);
    conversation = c;
    const greeting = await c.reply('greeting');
    if (greeting.code !== 220) return [{ check, status: 'error', detail: `greeting ${firstLine(greeting)}` }];
    const ehlo = await c.command(`EHLO ${ehloName(socket)}`);
    if (ehlo.code !== 250) return [{ check, status: 'error', detail: `EHLO answered ${firstLine(ehlo)}` }];
    let tlsSocket: TLSSocket;
    if (implicit) tlsSocket = socket as TLSSocket;
    else {
      // RFC 3207 §4: the server lists STARTTLS in its EHLO reply.
      if (!/^250[- ]STARTTLS\b/im.test(ehlo.text)) return [{ check, status: 'error', detail: `${firstLine(greeting)}; no STARTTLS offered after EHLO` }, skipped(certCheck, 'no TLS')];
      const go = await c.command('STARTTLS');
      if (go.code !== 220) return [{ check, status: 'error', detail: `STARTTLS answered ${firstLine(go)}` }, skipped(certCheck, 'no TLS')];
      tlsSocket = await c.startTls(ctx.host);
      // RFC 3207 §4.2: the session starts over after the handshake.
      const again = await c.command(`EHLO ${ehloName(socket)}`);
      if (again.code !== 250) return [{ check, status: 'error', detail: `EHLO after STARTTLS answered ${firstLine(again)}` }, certificateVerdict(ctx, certCheck, tlsSocket)];
    }
    await c.command('QUIT').catch(() => undefined);
    const how = implicit ? `implicit TLS (${tlsSocket.getProtocol()})` : `STARTTLS (${tlsSocket.getProtocol()})`;
    return [{ check, status: 'ok', detail: `${firstLine(greeting)}; ${how}` }, certificateVerdict(ctx, certCheck, tlsSocket)];
  } catch (err) {
    return [{ check, status: 'error', detail: errorText(err) }, skipped(certCheck, `no TLS session on ${kind}`)];
  } finally {
    conversation?.close();
  }
}

/** The certificate a sender sees: names (RFC 6125), validity, issuer. */
function certificateVerdict(ctx: ServerContext, check: string, socket: TLSSocket): CheckResult {
  const cert = socket.getPeerCertificate(false) as PeerCertificate;
  if (!cert || !Object.keys(cert).length) return { check, status: 'error', detail: 'the server sent no certificate' };
  // The name senders check is the MX host name; with --host ADDRESS, our configured host name.
  const name = isIP(ctx.host) ? ctx.config.mail.hostname : ctx.host;
  const notes: string[] = [];
  let status: CheckStatus = 'ok';
  const worse = (s: CheckStatus) => { if (s === 'error' || (s === 'warn' && status === 'ok')) status = s; };
  const sans = (cert.subjectaltname ?? '').split(',').map((s) => s.trim().replace(/^DNS:/, '').replace(/^IP Address:/, '')).filter(Boolean);
  notes.push(`CN=${cert.subject?.CN ?? '-'}${sans.length ? `, SAN ${sans.join(' ')}` : ''}`);
  const mismatch = checkServerIdentity(name, cert);
  if (mismatch) { worse('warn'); notes.push(`does not cover ${name}`); }
  else notes.push(`covers ${name}`);
  const days = Math.floor((Date.parse(cert.valid_to) - ctx.now()) / DAY);
  if (!(days >= 0)) { worse('error'); notes.push(`expired ${cert.valid_to}`); }
  else if (days < 14) { worse('warn'); notes.push(`expires in ${days} days`); }
  else notes.push(`expires in ${days} days`);
  const authError = socket.authorizationError as unknown as { code?: string } | string | null | undefined;
  const code = typeof authError === 'string' ? authError : authError?.code;
  if (code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'SELF_SIGNED_CERT_IN_CHAIN') {
    worse('warn');
    notes.push('self-signed: mail still flows with opportunistic TLS, but MTA-STS enforce needs a CA-signed certificate');
  } else if (code) {
    worse('warn');
    notes.push(`not trusted (${code})`);
  } else notes.push(`issued by ${cert.issuer?.O ?? cert.issuer?.CN ?? 'a trusted CA'}`);
  if (status !== 'ok' && ctx.config.mail.mtaSts.mode === 'enforce') notes.push('mail.mtaSts.mode is enforce: senders that honour it will refuse to deliver');
  return { check, status, detail: notes.join('; ') };
}

// ---------------------------------------------------------------------------------------------
// 3. PTR and HELO: forward-confirmed reverse DNS, and the name we say in HELO

async function checkPtr(ctx: ServerContext, dns: DnsResolver): Promise<CheckResult[]> {
  const helo = bare(ctx.config.mail.hostname);
  return Promise.all(ctx.addresses.slice(0, 4).map(async (ip): Promise<CheckResult> => {
    const check = `ptr ${ip}`;
    let names: string[];
    try {
      names = (await dns.resolvePtr(reverseName(ip))).map(bare);
    } catch (err) {
      if (dnsFailureOf(err) === 'temporary') return { check, status: 'error', detail: `PTR lookup failed: ${errorText(err)}` };
      return { check, status: 'warn', detail: `no PTR record for ${ip}: many receivers refuse or mark mail from addresses without reverse DNS; ask the address's provider for PTR ${helo}` };
    }
    const confirmed: string[] = [];
    for (const name of names) {
      const forward = await Promise.all([dns.resolve4(name).catch(() => []), dns.resolve6(name).catch(() => [])]);
      if (forward.flat().some((a) => sameAddress(a, ip))) confirmed.push(name);
    }
    if (!confirmed.length) return { check, status: 'warn', detail: `PTR ${names.join(', ')} does not resolve back to ${ip} (no forward-confirmed reverse DNS)` };
    if (!confirmed.includes(helo)) return { check, status: 'warn', detail: `PTR ${confirmed.join(', ')} resolves back to ${ip}, but the HELO name (mail.hostname) is ${helo}` };
    return { check, status: 'ok', detail: `PTR ${helo} resolves back to ${ip} and equals the HELO name` };
  }));
}

// ---------------------------------------------------------------------------------------------
// 4. Open relay: mail from elsewhere to elsewhere, without AUTH, must be refused (RFC 5321 §3.6.2, RFC 2505)

async function checkRelay(ctx: ServerContext): Promise<CheckResult> {
  const check = 'open-relay';
  if (isLoopback(ctx.address) && !ctx.fromIp) {
    return skipped(check, `${ctx.host === ctx.address ? ctx.address : `${ctx.host} is ${ctx.address}`}, a loopback address: our server trusts loopback (it may relay), so the test means nothing from here; run it from another host or pass --from-ip 127.0.0.2`);
  }
  if (!ctx.ports.smtp) return skipped(check, 'no smtp port');
  let conversation: Conversation | undefined;
  try {
    const socket = await connect({ address: ctx.address, port: ctx.ports.smtp, localAddress: ctx.fromIp, stepMs: ctx.stepMs });
    const source = unmapped(socket.localAddress ?? '');
    const trusted = source === '127.0.0.1' || source === '::1' || inNetworks(source, ctx.config.mail.allowedIp);
    const c = converse(socket, ctx.stepMs);
    conversation = c;
    if (ctx.local && trusted) return skipped(check, `connecting from ${source}, which the server trusts (loopback or mail.allowedIp): the test means nothing from here; pass --from-ip ADDR`);
    const greeting = await c.reply('greeting');
    if (greeting.code !== 220) return { check, status: 'warn', detail: `cannot test: greeting ${firstLine(greeting)}` };
    const ehlo = await c.command(`EHLO ${ehloName(socket)}`);
    if (ehlo.code !== 250) return { check, status: 'warn', detail: `cannot test: EHLO answered ${firstLine(ehlo)}` };
    const from = await c.command('MAIL FROM:<doctor@example.com>');
    if (from.code >= 500) return { check, status: 'ok', detail: `refused at MAIL FROM from ${source}: ${lastLine(from)}` };
    if (from.code !== 250) return { check, status: 'warn', detail: `cannot tell: MAIL FROM answered ${lastLine(from)}` };
    const rcpt = await c.command('RCPT TO:<relay-test@example.net>');
    await c.command('RSET').catch(() => undefined);
    await c.command('QUIT').catch(() => undefined);
    if (rcpt.code >= 200 && rcpt.code < 300) return { check, status: 'error', detail: `open relay: ${ctx.host} accepted mail for relay-test@example.net from ${source} without AUTH (${lastLine(rcpt)})` };
    if (rcpt.code >= 500) return { check, status: 'ok', detail: `relay from ${source} refused: ${lastLine(rcpt)}` };
    return { check, status: 'warn', detail: `cannot tell: RCPT TO answered ${lastLine(rcpt)} (temporary)` };
  } catch (err) {
    return { check, status: 'error', detail: `cannot test: ${errorText(err)}` };
  } finally {
    conversation?.close();
  }
}
