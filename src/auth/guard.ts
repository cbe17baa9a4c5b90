// Request guards shared by auth's API routes and pages: client IP, rate-limit check (RFC 6585 §4 429 + Retry-After), a response-time floor so known and unknown addresses take as long (no RFC).
import type { Context } from 'hono';
import type { LimitedAction, RateLimiter } from './rate-limit.ts';

/** The peer address of the TCP connection; proxies' headers are not trusted (the service has no list of trusted proxies). */
export function clientIp(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'local';
}

/** Counts one attempt; returns a 429 response to send when over a limit, else undefined. */
export function limitResponse(c: Context, limiter: RateLimiter, action: LimitedAction, address?: unknown): Response | undefined {
  const d = limiter.hit({ action, ip: clientIp(c), address: typeof address === 'string' ? address : undefined });
  if (d.allowed) return undefined;
  return c.json({ success: false, error: { statusCode: 429, message: 'too many requests, try again later', timestamp: new Date().toISOString() } }, 429, { 'Retry-After': String(d.retryAfterSeconds) });
}

/**
 * Runs fn and answers no sooner than `floorMs` after the start. The paths for a known and an
 * unknown address differ by a few database writes; the floor hides that difference.
 */
export async function withFloor<T>(floorMs: number, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    const left = floorMs - (performance.now() - start);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
  }
}

/** Reads a JSON or form body without consuming the request that is handed on. */
export async function peekBody(req: Request): Promise<Record<string, unknown>> {
  const type = req.headers.get('content-type') ?? '';
  try {
    if (type.includes('application/json')) {
      const v = await req.clone().json();
      return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
    }
    if (type.includes('application/x-www-form-urlencoded') || type.includes('multipart/form-data')) {
      const f = await req.clone().formData();
      return Object.fromEntries([...f.entries()].filter(([, v]) => typeof v === 'string'));
    }
  } catch {
    // an unreadable body is Better Auth's to reject
  }
  return {};
}
