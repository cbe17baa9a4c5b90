// DNS lookups for the mail server (RFC 1035, RFC 2308 negative answers): the only DNS access, with timeouts and a stable failure classification.
import { Resolver } from 'node:dns/promises';

/**
 * How a lookup failed, in RFC 2308 terms:
 * - `nxdomain`: the name does not exist (RCODE 3), or can never exist (malformed name);
 * - `nodata`: the name exists but has no record of the asked type (NOERROR, empty answer);
 * - `temporary`: no authoritative answer now (SERVFAIL, REFUSED, timeout, network error, aborted).
 */
export type DnsFailure = 'nxdomain' | 'nodata' | 'temporary';

export type LookupOptions = { signal?: AbortSignal };

export type MxRecord = { exchange: string; priority: number };

/** The DNS interface every mail module receives; tests pass one pointed at a fake zone. */
export type DnsResolver = {
  resolveMx: (name: string, options?: LookupOptions) => Promise<MxRecord[]>;
  resolve4: (name: string, options?: LookupOptions) => Promise<string[]>;
  resolve6: (name: string, options?: LookupOptions) => Promise<string[]>;
  /** Each record is its list of character-strings (RFC 1035 §3.3.14); join them for the record's value. */
  resolveTxt: (name: string, options?: LookupOptions) => Promise<string[][]>;
  resolvePtr: (name: string, options?: LookupOptions) => Promise<string[]>;
  resolveCname: (name: string, options?: LookupOptions) => Promise<string[]>;
};

export type ResolverOptions = {
  /** 'host:port' or 'host' entries ('[v6]:port' for IPv6); empty or missing means the system resolvers. */
  servers?: string[];
  /** Time one try may take, in ms (default 3000). */
  timeoutMs?: number;
  /** Tries per server before giving up (default 2). */
  tries?: number;
};

export class DnsLookupError extends Error {
  code: `dns.${DnsFailure}`;
  failure: DnsFailure;
  hostname: string;
  rrtype: string;
  constructor(options: { failure: DnsFailure; hostname: string; rrtype: string; detail: string; cause?: unknown }) {
    super(`DNS ${options.rrtype} lookup for ${options.hostname} failed: ${options.detail}`, { cause: options.cause });
    this.name = 'DnsLookupError';
    this.code = `dns.${options.failure}`;
    this.failure = options.failure;
    this.hostname = options.hostname;
    this.rrtype = options.rrtype;
  }
}

/** The classification of an error thrown by a DnsResolver; anything unknown counts as temporary. */
export function dnsFailureOf(err: unknown): DnsFailure {
  if (err instanceof DnsLookupError) return err.failure;
  return classify((err as { code?: unknown } | null)?.code);
}

function classify(code: unknown): DnsFailure {
  switch (code) {
    case 'ENOTFOUND': // NXDOMAIN
    case 'EBADNAME': // a name that cannot be queried will never resolve
      return 'nxdomain';
    case 'ENODATA':
      return 'nodata';
    default: // ESERVFAIL, EREFUSED, ETIMEOUT, ECONNREFUSED, EBADRESP, ECANCELLED, ...
      return 'temporary';
  }
}

const DETAIL: Record<string, string> = {
  ENOTFOUND: 'no such domain (NXDOMAIN)',
  ENODATA: 'no records of this type (NODATA)',
  ESERVFAIL: 'server failure (SERVFAIL)',
  EREFUSED: 'query refused (REFUSED)',
  ETIMEOUT: 'timed out',
  ECONNREFUSED: 'could not contact the DNS server',
  EBADNAME: 'malformed name',
};

/** Wraps node's c-ares Resolver; every call has a deadline and may be aborted. */
export function createResolver(options: ResolverOptions = {}): DnsResolver {
  const timeoutMs = options.timeoutMs ?? 3000;
  const tries = options.tries ?? 2;
  const resolver = new Resolver({ timeout: timeoutMs, tries, maxTimeout: timeoutMs });
  if (options.servers !== undefined && options.servers.length > 0) resolver.setServers(options.servers);
  // c-ares enforces the per-try timeout itself; this deadline is a backstop (measured c-ares totals
  // stay below 1.7 × tries × timeout), so a lookup can never hang.
  const deadlineMs = timeoutMs * tries * 2 + 250;

  function lookup<T>(rrtype: string, run: (name: string) => Promise<T>) {
    return (hostname: string, lookupOptions: LookupOptions = {}): Promise<T> => {
      const { signal } = lookupOptions;
      const fail = (failure: DnsFailure, detail: string, cause?: unknown) =>
        new DnsLookupError({ failure, hostname, rrtype, detail, cause });
      if (signal?.aborted) return Promise.reject(fail('temporary', 'aborted', signal.reason));
      return new Promise<T>((resolve, reject) => {
        let settled = false;
        const finish = (action: () => void) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          action();
        };
        const onAbort = () => finish(() => reject(fail('temporary', 'aborted', signal?.reason)));
        const timer = setTimeout(() => finish(() => reject(fail('temporary', `no answer within ${deadlineMs} ms`))), deadlineMs);
        signal?.addEventListener('abort', onAbort, { once: true });
        run(hostname).then(
          (value) => finish(() => resolve(value)),
          (err: unknown) => {
            const code = (err as { code?: unknown } | null)?.code;
            const detail = (typeof code === 'string' && DETAIL[code]) || (typeof code === 'string' ? code : String(err));
            finish(() => reject(fail(classify(code), detail, err)));
          },
        );
      });
    };
  }

  return {
    resolveMx: lookup('MX', async (name) => (await resolver.resolveMx(name)).map((r) => ({ exchange: r.exchange, priority: r.priority }))),
    resolve4: lookup('A', (name) => resolver.resolve4(name)),
    resolve6: lookup('AAAA', (name) => resolver.resolve6(name)),
    resolveTxt: lookup('TXT', (name) => resolver.resolveTxt(name)),
    resolvePtr: lookup('PTR', (name) => resolver.resolvePtr(name)),
    resolveCname: lookup('CNAME', (name) => resolver.resolveCname(name)),
  };
}

const NODE_CODE: Record<DnsFailure, string> = { nxdomain: 'ENOTFOUND', nodata: 'ENODATA', temporary: 'ESERVFAIL' };

/**
 * Adapts a DnsResolver to the `resolver(name, rrtype)` function mailauth accepts (SPF, DKIM,
 * DMARC, ARC). mailauth reads node's error codes, so failures are rethrown carrying them.
 */
export function mailauthResolver(resolver: DnsResolver): (name: string, rrtype: string) => Promise<unknown> {
  return async (name, rrtype) => {
    try {
      switch (rrtype.toUpperCase()) {
        case 'A':
          return await resolver.resolve4(name);
        case 'AAAA':
          return await resolver.resolve6(name);
        case 'MX':
          return await resolver.resolveMx(name);
        case 'TXT':
          return await resolver.resolveTxt(name);
        case 'PTR':
          return await resolver.resolvePtr(name);
        case 'CNAME':
          return await resolver.resolveCname(name);
        default:
          throw Object.assign(new Error(`unsupported DNS record type ${rrtype}`), { code: 'ENOTIMP' });
      }
    } catch (err) {
      if (!(err instanceof DnsLookupError)) throw err;
      const cause = err.cause as { code?: unknown } | undefined;
      const code = err.failure === 'temporary' && typeof cause?.code === 'string' ? cause.code : NODE_CODE[err.failure];
      throw Object.assign(new Error(err.message, { cause: err }), { code });
    }
  };
}
