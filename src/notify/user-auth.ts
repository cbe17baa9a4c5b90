// Bearer-token guard for the user routes of notify (RFC 6750 §2.1): the token is validated by mana-auth's POST /api/v1/auth/validate; the user id comes from its answer or the JWT's `sub` (RFC 7519 §4.1.2).
import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { sendJson } from './http.ts';

export type UserAuthOptions = {
  authUrl: string;
  timeoutMs?: number;
  /** How long a positive answer is reused, ms (0 = ask every time). */
  cacheMs?: number;
};

/** The claims of a JWT, read without verifying it (the auth service verifies). */
export function unverifiedClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    return claims && typeof claims === 'object' ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function userIdFrom(answer: Record<string, any>, claims: Record<string, unknown> | undefined): string | undefined {
  const candidates = [answer.payload?.sub, answer.user?.id, answer.userId, answer.sub, answer.session?.userId, claims?.sub];
  const id = candidates.find((v) => typeof v === 'string' && v !== '');
  return id as string | undefined;
}

/** Sets `userId` on the context, or answers 401 `unauthorized: missing token` / `unauthorized: invalid token`. */
export function userAuth(options: UserAuthOptions): MiddlewareHandler<{ Variables: { userId: string } }> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const cacheMs = options.cacheMs ?? 30_000;
  const cache = new Map<string, { userId: string; until: number }>();
  const url = `${options.authUrl.replace(/\/+$/, '')}/api/v1/auth/validate`;

  async function validate(token: string): Promise<string | undefined> {
    const key = createHash('sha256').update(token).digest('hex');
    const hit = cache.get(key);
    if (hit && hit.until > Date.now()) return hit.userId;
    const claims = unverifiedClaims(token);
    let answer: Record<string, any>;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ token }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (res.status !== 200) return undefined;
      answer = (await res.json()) as Record<string, any>;
    } catch {
      return undefined;
    }
    if (answer?.valid !== true) return undefined;
    const userId = userIdFrom(answer, claims);
    if (userId === undefined) return undefined;
    if (cacheMs > 0) {
      if (cache.size > 1000) cache.clear();
      cache.set(key, { userId, until: Date.now() + cacheMs });
    }
    return userId;
  }

  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) return sendJson(c, 401, { error: 'unauthorized: missing token' });
    const userId = await validate(m[1]!);
    if (userId === undefined) return sendJson(c, 401, { error: 'unauthorized: invalid token' });
    c.set('userId', userId);
    await next();
  };
}
