// Banned addresses kept in the store (table mail_bans), so a ban survives restarts and every node refuses the same addresses.
import { isIP } from 'node:net';
import type { Queryable } from '../../store/store.ts';

/** Why an address was banned: the counters of auto-ban, or an admin. */
export type BanReason = 'auth' | 'relay' | 'protocol' | 'manual';

export type Ban = {
  ip: string;
  reason: BanReason;
  /** Events counted in the window that triggered the ban. */
  hits: number;
  bannedAt: string;
  /** ISO time the ban ends; null while it lasts until lifted. */
  expiresAt: string | null;
};

type Row = { ip: string; reason: string; hits: number; banned_at: number; expires_at: number | null };

const toBan = (r: Row): Ban => ({
  ip: r.ip,
  reason: r.reason as BanReason,
  hits: Number(r.hits),
  bannedAt: new Date(Number(r.banned_at)).toISOString(),
  expiresAt: r.expires_at === null || r.expires_at === undefined ? null : new Date(Number(r.expires_at)).toISOString(),
});

/** One spelling per address: IPv4-mapped IPv6 (::ffff:1.2.3.4) becomes 1.2.3.4, IPv6 lowercased. */
export function normalizeIp(ip: string): string {
  const trimmed = String(ip ?? '').trim();
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(trimmed)?.[1];
  return (v4 ?? trimmed).toLowerCase();
}

export function isValidIp(ip: string): boolean {
  return isIP(normalizeIp(ip)) !== 0;
}

/** Records a ban, replacing any earlier one of the same address. `durationMs` 0 bans until lifted. */
export async function saveBan(q: Queryable, options: { ip: string; reason: BanReason; hits: number; durationMs: number; now: number }): Promise<Ban> {
  const ip = normalizeIp(options.ip);
  const expires = options.durationMs > 0 ? options.now + options.durationMs : null;
  await q.run(
    'INSERT INTO mail_bans (ip, reason, hits, banned_at, expires_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (ip) DO UPDATE SET reason = excluded.reason, hits = excluded.hits, banned_at = excluded.banned_at, expires_at = excluded.expires_at',
    [ip, options.reason, options.hits, options.now, expires],
  );
  // Expired bans are dropped whenever a new one is written, so the table stays small.
  await q.run('DELETE FROM mail_bans WHERE expires_at IS NOT NULL AND expires_at <= ?', [options.now]);
  return toBan({ ip, reason: options.reason, hits: options.hits, banned_at: options.now, expires_at: expires });
}

/** The ban in force for `ip` at `now`, if any. */
export async function activeBan(q: Queryable, ip: string, now: number): Promise<Ban | undefined> {
  const r = await q.get<Row>('SELECT * FROM mail_bans WHERE ip = ? AND (expires_at IS NULL OR expires_at > ?)', [normalizeIp(ip), now]);
  return r ? toBan(r) : undefined;
}

/** Bans in force at `now`, newest first. */
export async function listBans(q: Queryable, now: number): Promise<Ban[]> {
  const rows = await q.all<Row>('SELECT * FROM mail_bans WHERE expires_at IS NULL OR expires_at > ? ORDER BY banned_at DESC, ip', [now]);
  return rows.map(toBan);
}

/** Lifts a ban; false when the address was not banned. */
export async function liftBan(q: Queryable, ip: string, now: number): Promise<boolean> {
  const active = await activeBan(q, ip, now);
  await q.run('DELETE FROM mail_bans WHERE ip = ?', [normalizeIp(ip)]);
  return active !== undefined;
}
