// Auto-ban: addresses with too many failed AUTHs (RFC 4954), refused relays (RFC 5321 §3.6.2) or protocol errors in a window are refused at connect (421, RFC 5321 §3.8).
import type { SMTPServer } from 'smtp-server';
import type { Logger } from '../../lib/log.ts';
import type { Queryable } from '../../store/store.ts';
import type { Config } from '../../config/schema.ts';
import type { SmtpSecurity } from '../smtp/listeners.ts';
import { inNetworks } from '../smtp/networks.ts';
import { activeBan, liftBan, listBans, normalizeIp, saveBan, type Ban, type BanReason } from './bans.ts';

export type AutoBanOptions = {
  store: Queryable;
  log: Logger;
  /** `server.allowed-ip`: never banned. */
  allowedIp: string[];
  /** The seed's `analysis.scan-ban` switch: false stops counting protocol errors (scans). */
  scanBan: boolean;
  limits: Config['mail']['security'];
  now?: () => number;
};

export type AutoBan = Required<SmtpSecurity> & {
  /** True for addresses that are never banned (allowed-ip, and loopback unless banLoopback). */
  isExempt(ip: string): boolean;
  /** The ban in force for `ip`, waiting for a ban of this node still being written. */
  banOf(ip: string): Promise<Ban | undefined>;
  /** Bans `ip` now (an admin's ban, or a test's). */
  ban(ip: string, options?: { reason?: BanReason; durationSeconds?: number; hits?: number }): Promise<Ban>;
  /** Lifts a ban and forgets the address's counters; false when it was not banned. */
  unban(ip: string): Promise<boolean>;
  list(): Promise<Ban[]>;
  /** Resolves when every ban being written has been committed. */
  idle(): Promise<void>;
};

/** The 421 reply a banned address gets instead of the greeting. */
export class BlockedError extends Error {
  code = 'security.ip_blocked';
  responseCode = 421;
  constructor() {
    super('4.7.0 Too many errors from your address, try again later');
  }
}

/** 127.0.0.0/8 and ::1 (RFC 1122 §3.2.1.3, RFC 4291 §2.5.3), IPv4-mapped forms included. */
export function isLoopback(ip: string): boolean {
  const a = normalizeIp(ip);
  return a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a);
}

/** Counters kept per address; beyond this many, stale ones are swept. */
const SWEEP_AT = 10_000;

export function createAutoBan(options: AutoBanOptions): AutoBan {
  const { store, log, limits } = options;
  const now = options.now ?? Date.now;
  const counters = new Map<string, number[]>();
  const pending = new Map<string, Promise<unknown>>();
  const rates: Record<Exclude<BanReason, 'manual'>, { count: number; window: number }> = {
    auth: limits.authFailures,
    relay: limits.relayAttempts,
    protocol: limits.protocolErrors,
  };
  const longestWindowMs = Math.max(...Object.values(rates).map((r) => r.window)) * 1000;

  function isExempt(ip: string): boolean {
    if (!ip) return true;
    if (!limits.banLoopback && isLoopback(ip)) return true;
    return inNetworks(normalizeIp(ip), options.allowedIp);
  }

  function sweep(t: number): void {
    for (const [key, times] of counters) if (!times.length || times[times.length - 1] <= t - longestWindowMs) counters.delete(key);
  }

  function write(ip: string, reason: BanReason, hits: number, durationSeconds: number): Promise<Ban> {
    const p = saveBan(store, { ip, reason, hits, durationMs: durationSeconds * 1000, now: now() });
    const tracked = p.finally(() => {
      if (pending.get(ip) === tracked) pending.delete(ip);
    });
    pending.set(ip, tracked.catch(() => undefined));
    return p;
  }

  function forget(ip: string): void {
    for (const reason of Object.keys(rates)) counters.delete(`${reason} ${ip}`);
  }

  function count(reason: Exclude<BanReason, 'manual'>, rawIp: string): void {
    if (isExempt(rawIp)) return;
    if (reason === 'protocol' && !options.scanBan) return;
    const ip = normalizeIp(rawIp);
    const { count: limit, window } = rates[reason];
    const t = now();
    const key = `${reason} ${ip}`;
    const times = (counters.get(key) ?? []).filter((at) => at > t - window * 1000);
    times.push(t);
    if (times.length < limit) {
      counters.set(key, times);
      if (counters.size > SWEEP_AT) sweep(t);
      return;
    }
    forget(ip);
    log.warn({ ip, reason, hits: times.length, window, duration: limits.banDuration }, 'security.ip-banned');
    write(ip, reason, times.length, limits.banDuration).catch((err) => log.error({ err, ip }, 'security.ban_failed'));
  }

  async function banOf(rawIp: string): Promise<Ban | undefined> {
    const ip = normalizeIp(rawIp);
    await pending.get(ip);
    return activeBan(store, ip, now());
  }

  return {
    isExempt,
    banOf,
    async onConnect(ip: string) {
      if (isExempt(ip)) return;
      const ban = await banOf(ip);
      if (!ban) return;
      log.warn({ ip: normalizeIp(ip), reason: ban.reason, expiresAt: ban.expiresAt }, 'security.ip-blocked');
      throw new BlockedError();
    },
    onAuthFailure: (ip: string) => count('auth', ip),
    onRelayDenied: (ip: string) => count('relay', ip),
    onProtocolError: (ip: string) => count('protocol', ip),
    async ban(rawIp, o = {}) {
      const ip = normalizeIp(rawIp);
      forget(ip);
      const ban = await write(ip, o.reason ?? 'manual', o.hits ?? 0, o.durationSeconds ?? limits.banDuration);
      log.warn({ ip, reason: ban.reason, expiresAt: ban.expiresAt }, 'security.ip-banned');
      return ban;
    },
    async unban(rawIp) {
      const ip = normalizeIp(rawIp);
      await pending.get(ip);
      forget(ip);
      const lifted = await liftBan(store, ip, now());
      if (lifted) log.info({ ip }, 'security.ip-unbanned');
      return lifted;
    },
    list: () => listBans(store, now()),
    async idle() {
      await Promise.all([...pending.values()]);
    },
  };
}

/** SMTP reply codes that mean the client broke the protocol: 500-504 (RFC 5321 §4.2.2). */
const PROTOCOL_ERROR = new Set([500, 501, 502, 503, 504]);

/**
 * Counts the protocol errors an SMTP listener answers (unknown command, syntax error, bad sequence)
 * as `onProtocolError` of its client: smtp-server has no hook for them, so each accepted
 * connection's reply function is watched.
 */
export function watchProtocolErrors(server: SMTPServer, security: Pick<SmtpSecurity, 'onProtocolError'>): void {
  const connections = (server as unknown as { connections: Set<{ id: string; remoteAddress: string; send: (code: number, ...rest: unknown[]) => unknown }> }).connections;
  server.on('connect', (info: { id: string }) => {
    for (const conn of connections) {
      if (conn.id !== info.id) continue;
      const send = conn.send;
      conn.send = function (this: unknown, code: number, ...rest: unknown[]) {
        if (PROTOCOL_ERROR.has(code)) security.onProtocolError?.(conn.remoteAddress);
        return send.call(this, code, ...rest);
      };
    }
  });
}
