// Request parsing of the admin API: JSON bodies (RFC 8259) with a clear 400 when they are not, and page/limit parameters.
import type { Context } from 'hono';
import { BadRequestError } from './errors.ts';

/** Largest request body read, bytes. */
const MAX_BODY = 1024 * 1024;

/** A body that is not declared JSON: answered 415 (RFC 9110 §15.5.16) with a problem (RFC 9457). */
export class UnsupportedMediaTypeError extends Error {}

/** application/json or any +json type (RFC 6839 §3.1), parameters aside. */
function isJsonType(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  return type === 'application/json' || /^application\/[^/\s]+\+json$/.test(type);
}

/**
 * The JSON body of a request. Its Content-Type must say JSON: a cross-site HTML form can only send
 * text/plain, urlencoded or multipart bodies, so this also keeps forms of other sites out (CSRF).
 */
export async function readJson(c: Context): Promise<unknown> {
  const contentType = c.req.header('content-type');
  if (!isJsonType(contentType)) {
    throw new UnsupportedMediaTypeError(`The body must be JSON: send \`Content-Type: application/json\` (got ${contentType ? JSON.stringify(contentType) : 'no Content-Type'})`);
  }
  const text = await c.req.text();
  if (text.length > MAX_BODY) throw new BadRequestError('admin.body_too_large', 'Request body too large', `The body is limited to ${MAX_BODY} bytes`);
  if (!text.trim()) throw new BadRequestError('admin.body_missing', 'Missing JSON body', 'This request needs a JSON body');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BadRequestError('admin.bad_json', 'Invalid JSON', `The request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** A non-negative integer query parameter, or `fallback` when absent. */
export function intParam(c: Context, name: string, fallback: number | undefined): number | undefined {
  const raw = c.req.query(name);
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d{1,9}$/.test(raw)) throw new BadRequestError('admin.bad_parameter', 'Invalid parameter', `${name} must be a non-negative whole number, not ${JSON.stringify(raw)}`);
  return Number(raw);
}
