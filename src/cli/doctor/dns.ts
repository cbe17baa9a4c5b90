// `mana doctor`: each DNS record `mana dns records` lists against the one published (A/AAAA, MX, CNAME, SRV per RFC 2782 and RFC 6186, TXT per RFC 7208, 6376, 7489, 8460, 8461).
import { Resolver } from 'node:dns/promises';
import { createAddressFinder, dnsRecordsFor } from '../../mail/admin/dns.ts';
import type { DnsRecord } from '../../mail/dns-records.ts';
import { dnsFailureOf, type DnsResolver } from '../../mail/route/resolver.ts';
import { sameAddress } from './address.ts';
import { bare, errorText, withDeadline, type CheckResult, type CheckStatus, type DoctorOptions } from './check.ts';
import { compareTxt, normalizeTxt, txtKind, type Verdict } from './txt.ts';

/** Each name and type is asked once per run, however many checks need it. */
export function memoize(resolver: DnsResolver): DnsResolver {
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
export function srvLookup(servers: string[], timeoutMs: number): (name: string) => Promise<SrvRecord[]> {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1, maxTimeout: timeoutMs });
  if (servers.length) resolver.setServers(servers);
  return (name) => withDeadline(resolver.resolveSrv(name), timeoutMs * 2 + 250, () => Object.assign(new Error(`no SRV answer for ${name}`), { code: 'ETIMEOUT' }));
}

type DnsContext = DoctorOptions & { domain: string; dns: DnsResolver; srv: (name: string) => Promise<SrvRecord[]> };

export async function checkDns(ctx: DnsContext): Promise<CheckResult[]> {
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
