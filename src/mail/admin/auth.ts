// Who may use the admin API: HTTP Basic (RFC 7617) as `admin` or as an account with role admin, or an API key as a Bearer token (RFC 6750).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../../store/store.ts';
import { getPrincipal, type Principal } from '../accounts.ts';
import { verifySecret } from '../secrets.ts';

export type AdminIdentity = {
  name: string;
  /** `password`: the admin password of the configuration; `account`: a principal with role admin; `apiKey`: an apiKey principal. */
  via: 'password' | 'account' | 'apiKey';
};

export type AdminAuth = {
  /** The identity an Authorization header proves, or undefined (missing, malformed, wrong). */
  authenticate(header: string | undefined): Promise<AdminIdentity | undefined>;
  /** Drops remembered credentials (after accounts change). */
  forget(): void;
};

/** The challenge of a 401 (RFC 7235 §4.1). */
export const WWW_AUTHENTICATE = 'Basic realm="mana mail admin", charset="UTF-8", Bearer realm="mana mail admin"';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Equal-time comparison of two strings of any length. */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

async function matchesAny(p: Principal, password: string): Promise<boolean> {
  let ok = false;
  // Every secret is checked, so the time taken does not say which one matched.
  for (const s of p.secrets) if (await verifySecret(s, password)) ok = true;
  return ok;
}

/**
 * Verified credentials are remembered for `cacheMs` (as a SHA-256 of the header), so a client
 * does not pay an Argon2 verification on every request; `forget()` clears them.
 */
export function createAdminAuth(options: { store: Queryable; adminPassword: string; cacheMs?: number; now?: () => number }): AdminAuth {
  const now = options.now ?? Date.now;
  const cacheMs = options.cacheMs ?? 60_000;
  const cache = new Map<string, { identity: AdminIdentity; until: number }>();

  async function basic(user: string, password: string): Promise<AdminIdentity | undefined> {
    if (user === 'admin' && sameSecret(password, options.adminPassword)) return { name: 'admin', via: 'password' };
    const p = await getPrincipal(options.store, user);
    if (!p || !(await matchesAny(p, password))) return undefined;
    if (p.type === 'apiKey') return { name: p.name, via: 'apiKey' };
    if (p.type === 'individual' && p.roles.includes('admin')) return { name: p.name, via: 'account' };
    return undefined;
  }

  async function bearer(token: string): Promise<AdminIdentity | undefined> {
    const keys = await options.store.all<{ name: string; secrets: string }>("SELECT name, secrets FROM mail_principals WHERE type = 'apiKey' ORDER BY id");
    for (const k of keys) {
      for (const s of JSON.parse(k.secrets) as string[]) if (await verifySecret(s, token)) return { name: k.name, via: 'apiKey' };
    }
    return undefined;
  }

  return {
    async authenticate(header) {
      if (!header) return undefined;
      const key = digest(header).toString('base64');
      const hit = cache.get(key);
      if (hit && hit.until > now()) return hit.identity;
      let identity: AdminIdentity | undefined;
      const m = /^(Basic|Bearer)\s+(\S+)\s*$/i.exec(header);
      if (m && m[1].toLowerCase() === 'basic') {
        const decoded = Buffer.from(m[2], 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon > 0) identity = await basic(decoded.slice(0, colon), decoded.slice(colon + 1));
      } else if (m) {
        identity = await bearer(m[2]);
      }
      if (identity) {
        if (cache.size > 1000) cache.clear();
        cache.set(key, { identity, until: now() + cacheMs });
      }
      return identity;
    },
    forget() {
      cache.clear();
    },
  };
}
