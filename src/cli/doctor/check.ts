// `mana doctor`: what a check is (a result with a status), the options of one run, and the deadline, error wording and name form every check shares (no RFC of its own).
import type { Config } from '../../config/schema.ts';
import type { Queryable } from '../../store/store.ts';
import type { DnsResolver } from '../../mail/route/resolver.ts';

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


export function skipped(check: string, detail: string): CheckResult {
  return { check, status: 'skip', detail };
}

export function withDeadline<T>(p: Promise<T>, ms: number, error: () => Error, onTimeout?: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => { onTimeout?.(); reject(error()); }, ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

export function errorText(err: unknown): string {
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

/** A domain name lowercased, without its trailing dot. */
export const bare = (name: string) => name.toLowerCase().replace(/\.$/, '');
