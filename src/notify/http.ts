// HTTP plumbing of the notify API: the original's JSON envelope and error texts, bounded JSON bodies, X-Service-Key checked in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { INVALID_BODY } from './request.ts';

/** 1 MiB for single requests, 5 MiB for batch (the original's limits). */
export const BODY_LIMIT = 1 << 20;
export const BATCH_BODY_LIMIT = 5 << 20;

/** RFC 3339 in UTC without fractions, as Go's time.RFC3339 prints it. */
export function rfc3339(ms: number | Date = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** JSON as Go's json.Encoder writes it: one value, then a newline. */
export function sendJson(_c: Context, status: number, value: unknown): Response {
  return new Response(`${JSON.stringify(value)}\n`, { status, headers: { 'Content-Type': 'application/json' } });
}

/** The original's handler error: `{"success":false,"error":{"statusCode","message","timestamp"}}`. */
export function sendError(c: Context, status: number, message: string): Response {
  return sendJson(c, status, { success: false, error: { statusCode: status, message, timestamp: rfc3339() } });
}

export type JsonBody = { ok: true; value: unknown } | { ok: false };

/** Reads and parses a JSON body of at most `limit` bytes; anything else (too big, not JSON, empty) is `{ ok: false }`. */
export async function readJson(c: Context, limit: number = BODY_LIMIT): Promise<JsonBody> {
  const declared = c.req.header('content-length');
  const length = Number(declared);
  if (Number.isFinite(length) && length > limit) return { ok: false };
  if (declared !== undefined && /^\d+$/.test(declared)) {
    // The HTTP parser delivers exactly Content-Length octets, so the body is bounded: read it in
    // one piece (on @hono/node-server straight from the socket, without building a web stream).
    try {
      return { ok: true, value: JSON.parse(Buffer.from(await c.req.raw.arrayBuffer()).toString('utf8')) };
    } catch {
      return { ok: false };
    }
  }
  const stream = c.req.raw.body;
  if (!stream) return { ok: false };
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        return { ok: false };
      }
      chunks.push(value);
    }
  } catch {
    return { ok: false };
  }
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

export function invalidBody(c: Context): Response {
  return sendError(c, 400, INVALID_BODY);
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** True when `given` equals one of `keys`; every key is compared, in constant time, whatever matches. */
export function matchesServiceKey(given: string | undefined, keys: readonly string[]): boolean {
  const g = digest(given ?? '');
  let ok = false;
  for (const key of keys) ok = timingSafeEqual(g, digest(key)) || ok;
  return ok && given !== undefined && given !== '';
}

/** X-Service-Key guard; 401 `{"error":"unauthorized: invalid service key"}` (JSON, as the original's text meant). */
export function serviceKeyAuth(keys: () => readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    if (!matchesServiceKey(c.req.header('x-service-key'), keys())) {
      return sendJson(c, 401, { error: 'unauthorized: invalid service key' });
    }
    await next();
  };
}
