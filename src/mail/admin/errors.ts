// Error envelopes of the admin API: Stalwart-style management errors ({"error":"notFound",...}) and RFC 9457 problem details for the rest.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AccountError } from '../accounts.ts';

/** Stalwart's management error names (its ManagementApiError). */
export type ManagementErrorName = 'notFound' | 'fieldAlreadyExists' | 'fieldMissing' | 'fieldInvalid' | 'unsupported' | 'assertFailed' | 'other';

/** A failure the caller can fix, carried to the response as `{"error": name, ...fields}` with an HTTP status. */
export class ManagementError extends Error {
  code: string;
  status: ContentfulStatusCode;
  body: Record<string, unknown> & { error: ManagementErrorName };
  constructor(options: { code: string; status: ContentfulStatusCode; message: string; body: Record<string, unknown> & { error: ManagementErrorName } }) {
    super(options.message);
    this.code = options.code;
    this.status = options.status;
    this.body = options.body;
  }
}

export function notFound(item: string, what = 'item'): ManagementError {
  return new ManagementError({ code: 'admin.not_found', status: 404, message: `${what} ${item} not found`, body: { error: 'notFound', item } });
}

export function fieldMissing(field: string): ManagementError {
  return new ManagementError({ code: 'admin.field_missing', status: 400, message: `${field} is required`, body: { error: 'fieldMissing', field } });
}

export function fieldInvalid(field: string, value: unknown, details: string): ManagementError {
  return new ManagementError({ code: 'admin.field_invalid', status: 400, message: `${field}: ${details}`, body: { error: 'fieldInvalid', field, value: value ?? null, details } });
}

/** A request that is malformed as a whole (not JSON, wrong shape): problem details, not a management error. */
export class BadRequestError extends Error {
  code: string;
  title: string;
  constructor(code: string, title: string, detail: string) {
    super(detail);
    this.code = code;
    this.title = title;
  }
}

/** HTTP status of an accounts error, by its stable code. */
const ACCOUNT_STATUS: Record<string, ContentfulStatusCode> = {
  'account.exists': 409,
  'account.email_taken': 409,
  'account.unknown_domain': 404,
  'account.bad_name': 400,
  'account.bad_email': 400,
};

/** Turns a management failure into its envelope; anything else is the caller's to handle. */
export function asManagementError(err: unknown): ManagementError | undefined {
  if (err instanceof ManagementError) return err;
  if (err instanceof AccountError) {
    return new ManagementError({ code: err.code, status: ACCOUNT_STATUS[err.code] ?? 400, message: err.message, body: err.body as ManagementError['body'] });
  }
  const code = (err as { code?: unknown })?.code;
  if (code === 'dkim.bad_selector') return fieldInvalid('selector', null, (err as Error).message);
  if (typeof code === 'string' && code.startsWith('dns.invalid')) {
    return new ManagementError({ code, status: 400, message: (err as Error).message, body: { error: 'other', details: (err as Error).message, reason: code } });
  }
  return undefined;
}

/** RFC 9457 problem details. */
export function problem(c: Context, status: ContentfulStatusCode, title: string, detail?: string, headers: Record<string, string> = {}): Response {
  return c.body(JSON.stringify({ type: 'about:blank', status, title, ...(detail ? { detail } : {}) }), status, {
    'content-type': 'application/problem+json',
    ...headers,
  });
}
