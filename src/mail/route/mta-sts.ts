// MTA-STS (SMTP MTA Strict Transport Security), RFC 8461: policy discovery over DNS, HTTPS fetch, caching, MX matching.
import { request } from 'node:https';
import type { LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { parsePolicy as parsePolicyText, validateMx } from 'mailauth/lib/mta-sts.js';
import { normalizeDomain } from './mx.ts';
import { dnsFailureOf, type DnsResolver } from './resolver.ts';

export type MtaStsMode = 'enforce' | 'testing' | 'none';

export type MtaStsPolicy = {
  /** The id of the `_mta-sts` TXT record the policy was fetched under (RFC 8461 §3.1). */
  id: string;
  mode: MtaStsMode;
  /** MX patterns, lowercased; `*.example.com` matches exactly one leftmost label. */
  mx: string[];
  /** Seconds (RFC 8461 §3.2). */
  maxAge: number;
  /** Epoch milliseconds. */
  fetchedAt: number;
  expiresAt: number;
};

/** Where policies are kept between messages; a Map in memory now, the store later. */
export type MtaStsCache = {
  get: (domain: string) => Promise<MtaStsPolicy | undefined>;
  set: (domain: string, policy: MtaStsPolicy) => Promise<void>;
};

/** Returns the policy body for a Policy Domain; throws an Error with a `mta_sts.*` code on failure. */
export type PolicyFetcher = (domain: string, options: { signal?: AbortSignal }) => Promise<string>;

/** RFC 8460 §4.3 result types, for TLS reports. */
export type MtaStsFailureType = 'sts-policy-fetch-error' | 'sts-policy-invalid' | 'sts-webpki-invalid';

export type MtaStsLookup = {
  /** The policy to apply; null when the domain has none (or none could be learned and none is cached). */
  policy: MtaStsPolicy | null;
  source: 'fetched' | 'cache' | 'none';
  /** Set when discovery found a record but the policy could not be fetched or parsed. */
  failure?: { type: MtaStsFailureType; detail: string };
};

export type HttpsFetchOptions = {
  /** Trust these certificates instead of the default roots (tests). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Port of the policy host (default 443; tests). */
  port?: number;
  /** Whole-request limit (default 60 s, RFC 8461 §3.3 suggests a minute at most). */
  timeoutMs?: number;
  /** Largest accepted body (default 64 KB, RFC 8461 §3.3). */
  maxBytes?: number;
};

export type MtaStsOptions = {
  resolver: DnsResolver;
  fetchPolicy?: PolicyFetcher;
  cache: MtaStsCache;
  /** Clock, epoch milliseconds. */
  now: () => number;
  /** Options of the default HTTPS fetcher. */
  https?: HttpsFetchOptions;
  /** After a failed fetch, the same policy id is not fetched again for this long (default 10 min). */
  failureBackoffMs?: number;
};

export type MtaSts = {
  getPolicy: (domain: string, options?: { signal?: AbortSignal }) => Promise<MtaStsLookup>;
};

export function createMemoryMtaStsCache(): MtaStsCache {
  const map = new Map<string, MtaStsPolicy>();
  return {
    get: async (domain) => map.get(domain),
    set: async (domain, policy) => {
      map.set(domain, policy);
    },
  };
}

function mtaStsError(code: string, message: string, cause?: unknown): Error & { code: string } {
  return Object.assign(new Error(message, { cause }), { code });
}

/**
 * RFC 8461 §3.1: of the TXT records at `_mta-sts.<domain>`, those starting with "v=STSv1;" count;
 * exactly one must remain and it must carry an id of 1 to 32 letters and digits.
 */
export function parseStsRecord(records: string[][]): { id: string } | { invalid: string } | null {
  const candidates = records.map((chunks) => chunks.join('')).filter((text) => /^v=STSv1[ \t]*;/.test(text));
  if (candidates.length === 0) return null;
  if (candidates.length > 1) return { invalid: 'more than one v=STSv1 record' };
  const fields = (candidates[0] ?? '').split(';').map((f) => f.trim());
  for (const field of fields.slice(1)) {
    const match = /^id=([A-Za-z0-9]{1,32})$/.exec(field);
    if (match !== null) return { id: match[1] ?? '' };
  }
  return { invalid: 'v=STSv1 record without a valid id' };
}

/** RFC 8461 §3.2: parses a policy body; throws `mta_sts.policy_invalid`. */
export function parsePolicy(text: string): { mode: MtaStsMode; mx: string[]; maxAge: number } {
  try {
    const parsed = parsePolicyText(text);
    return { mode: parsed.mode, mx: (parsed.mx ?? []).map((p) => p.toLowerCase()), maxAge: parsed.maxAge ?? 0 };
  } catch (err) {
    throw mtaStsError('mta_sts.policy_invalid', `invalid MTA-STS policy: ${(err as Error).message}`, err);
  }
}

/** RFC 8461 §4.1: does the MX host name match one of the policy's mx patterns? Mode 'none' allows every host. */
export function mxAllowed(policy: Pick<MtaStsPolicy, 'mode' | 'mx'>, host: string): boolean {
  return validateMx(host, { mode: policy.mode, mx: policy.mx }).valid;
}

// OpenSSL / node codes that mean the certificate of the policy host did not validate (RFC 8460 sts-webpki-invalid).
const CERT_ERRORS = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The default fetcher: GET https://mta-sts.<domain>/.well-known/mta-sts.txt, the host resolved through our resolver (RFC 8461 §3.3). */
export function createPolicyFetcher(options: HttpsFetchOptions & { resolver: DnsResolver }): PolicyFetcher {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const maxBytes = options.maxBytes ?? 64 * 1024;
  return async (domain, { signal } = {}) => {
    const host = `mta-sts.${domain}`;
    const url = `https://${host}/.well-known/mta-sts.txt`;
    const deadline = AbortSignal.timeout(timeoutMs);
    const abort = signal === undefined ? deadline : AbortSignal.any([signal, deadline]);

    // Resolved before connecting so DNS failures are reported as such, and through the mail server's resolver.
    const v4 = await options.resolver.resolve4(host, { signal: abort }).catch((err: unknown) => err as Error);
    const v6 = await options.resolver.resolve6(host, { signal: abort }).catch((err: unknown) => err as Error);
    const addresses: LookupAddress[] = [
      ...(Array.isArray(v4) ? v4.map((address) => ({ address, family: 4 })) : []),
      ...(Array.isArray(v6) ? v6.map((address) => ({ address, family: 6 })) : []),
    ];
    if (addresses.length === 0) {
      const err = v4 instanceof Error ? v4 : (v6 as Error);
      throw mtaStsError('mta_sts.fetch_failed', `cannot resolve ${host}: ${err.message}`, err);
    }

    return new Promise<string>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | null, body?: string) => {
        if (settled) return;
        settled = true;
        if (err !== null) {
          req.destroy();
          reject(err);
        } else resolve(body ?? '');
      };
      const req = request(
        {
          host,
          port: options.port ?? 443,
          path: '/.well-known/mta-sts.txt',
          method: 'GET',
          agent: false,
          ca: options.ca,
          servername: isIP(host) ? undefined : host,
          signal: abort,
          headers: { accept: 'text/plain' },
          lookup: (_hostname, lookupOptions, callback) => {
            const all = (lookupOptions as { all?: boolean }).all === true;
            const first = addresses[0] as LookupAddress;
            if (all) (callback as (err: null, list: LookupAddress[]) => void)(null, addresses);
            else (callback as (err: null, address: string, family: number) => void)(null, first.address, first.family);
          },
        },
        (res) => {
          // RFC 8461 §3.3: only 200 counts; redirects are not followed.
          if (res.statusCode !== 200) {
            res.resume();
            finish(mtaStsError('mta_sts.fetch_failed', `${url} answered HTTP ${res.statusCode}`));
            return;
          }
          const type = String(res.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
          if (type !== 'text/plain') {
            res.resume();
            finish(mtaStsError('mta_sts.fetch_failed', `${url} has content type ${JSON.stringify(type)}, not text/plain`));
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxBytes) finish(mtaStsError('mta_sts.fetch_failed', `${url} is larger than ${maxBytes} bytes`));
            else chunks.push(chunk);
          });
          res.on('end', () => finish(null, Buffer.concat(chunks).toString('utf8')));
          res.on('error', (err) => finish(mtaStsError('mta_sts.fetch_failed', `${url}: ${err.message}`, err)));
        },
      );
      req.on('error', (err: Error & { code?: string }) => {
        if (CERT_ERRORS.has(err.code ?? '')) finish(mtaStsError('mta_sts.webpki_invalid', `${url}: certificate not valid (${err.code})`, err));
        else if (abort.aborted) finish(mtaStsError('mta_sts.fetch_failed', `${url}: ${deadline.aborted ? `no answer within ${timeoutMs} ms` : 'aborted'}`, err));
        else finish(mtaStsError('mta_sts.fetch_failed', `${url}: ${err.message}`, err));
      });
      req.end();
    });
  };
}

export function createMtaSts(options: MtaStsOptions): MtaSts {
  const fetchPolicy = options.fetchPolicy ?? createPolicyFetcher({ resolver: options.resolver, ...options.https });
  const backoffMs = options.failureBackoffMs ?? 10 * 60_000;
  const failures = new Map<string, { id: string; until: number; failure: NonNullable<MtaStsLookup['failure']> }>();
  const inFlight = new Map<string, Promise<MtaStsLookup>>();

  async function discover(domain: string, signal: AbortSignal | undefined): Promise<MtaStsLookup> {
    const now = options.now();
    const cached = await options.cache.get(domain);
    const live = cached !== undefined && cached.expiresAt > now ? cached : undefined;
    // RFC 8461 §5.1: when no live policy can be discovered or fetched, a valid cached policy still applies.
    const fallback = (failure?: MtaStsLookup['failure']): MtaStsLookup =>
      live !== undefined ? { policy: live, source: 'cache', ...(failure && { failure }) } : { policy: null, source: 'none', ...(failure && { failure }) };

    let records: string[][];
    try {
      records = await options.resolver.resolveTxt(`_mta-sts.${domain}`, { signal });
    } catch (err) {
      if (dnsFailureOf(err) === 'temporary') return fallback();
      records = [];
    }
    const record = parseStsRecord(records);
    if (record === null || 'invalid' in record) return fallback();
    // RFC 8461 §3.3: an unchanged id means the cached policy is still current.
    if (live !== undefined && live.id === record.id) return { policy: live, source: 'cache' };

    // A policy that just failed to fetch is not fetched again for every message (each try may take a minute).
    const failed = failures.get(domain);
    if (failed !== undefined && failed.id === record.id && failed.until > now) return fallback(failed.failure);

    let policy: MtaStsPolicy;
    try {
      const body = await fetchPolicy(domain, { signal });
      const parsed = parsePolicy(body);
      const fetchedAt = options.now();
      policy = { id: record.id, ...parsed, fetchedAt, expiresAt: fetchedAt + parsed.maxAge * 1000 };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const type: MtaStsFailureType =
        code === 'mta_sts.policy_invalid' ? 'sts-policy-invalid' : code === 'mta_sts.webpki_invalid' ? 'sts-webpki-invalid' : 'sts-policy-fetch-error';
      const failure = { type, detail: (err as Error).message };
      failures.set(domain, { id: record.id, until: now + backoffMs, failure });
      return fallback(failure);
    }
    failures.delete(domain);
    await options.cache.set(domain, policy);
    return { policy, source: 'fetched' };
  }

  return {
    getPolicy(domain, { signal } = {}) {
      const name = normalizeDomain(domain);
      if (name === '') return Promise.resolve({ policy: null, source: 'none' });
      // Concurrent deliveries to one domain share one discovery.
      let pending = inFlight.get(name);
      if (pending === undefined) {
        pending = discover(name, signal).finally(() => inFlight.delete(name));
        inFlight.set(name, pending);
      }
      return pending;
    },
  };
}
