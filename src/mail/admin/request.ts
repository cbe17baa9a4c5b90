// Request parsing of the admin API: JSON bodies (RFC 8259) with a clear 400 when they are not, and page/limit parameters.
import type { Context } from 'hono';
import { BadRequestError } from './errors.ts';

/** Largest request body read, bytes. */
const MAX_BODY = 1024 * 1024;

export async function readJson(c: Context): Promise<unknown> {
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
