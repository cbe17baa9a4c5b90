// The original mana-auth's own routes under /api/v1 (register, validate, forgot/reset password, resend verification, change email, delete data), on top of Better Auth (JWT per RFC 7519).
import { Hono, type Context } from 'hono';
import type { ManaAuth } from './better-auth.ts';
import { limitResponse, withFloor } from './guard.ts';
import type { RateLimiter } from './rate-limit.ts';
import { authLocale } from './emails.ts';

export type V1Options = { auth: ManaAuth; limiter: RateLimiter; floorMs: number };

function fail(c: Context, status: 400 | 401 | 404 | 422, message: string) {
  return c.json({ success: false, error: { statusCode: status, message, timestamp: new Date().toISOString() } }, status);
}

async function jsonBody(c: Context): Promise<Record<string, unknown> | undefined> {
  try {
    const b = await c.req.json();
    return b && typeof b === 'object' && !Array.isArray(b) ? (b as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** A Better Auth APIError's status and code, or undefined for other errors. */
export function apiErrorOf(err: unknown): { status: number; code?: string; message: string } | undefined {
  const e = err as { statusCode?: number; status?: number | string; body?: { code?: string; message?: string }; message?: string };
  if (typeof e?.statusCode === 'number') return { status: e.statusCode, code: e.body?.code, message: e.body?.message ?? e.message ?? 'error' };
  return undefined;
}

export function v1Routes(o: V1Options): Hono {
  const app = new Hono();
  const api = o.auth.api;

  // Body {email, password, name?, sourceAppUrl?, locale?}. The answer is the same whether or not the address has an account.
  app.post('/auth/register', async (c) => {
    const b = await jsonBody(c);
    const email = str(b?.email)?.trim();
    const password = str(b?.password);
    if (!email || !password) return fail(c, 400, 'email and password are required');
    const limited = limitResponse(c, o.limiter, 'sign-up', email);
    if (limited) return limited;
    return withFloor(o.floorMs, async () => {
      try {
        const res = await api.signUpEmail({
          body: { email, password, name: str(b?.name) ?? '', callbackURL: str(b?.sourceAppUrl), locale: authLocale(str(b?.locale) ?? c.req.header('accept-language')) },
          headers: c.req.raw.headers,
        });
        const u = res.user as { id: string; email: string; name: string; emailVerified: boolean };
        return c.json({ success: true, user: { id: u.id, email: u.email, name: u.name, emailVerified: u.emailVerified }, message: 'verification email sent' }, 200);
      } catch (err) {
        const e = apiErrorOf(err);
        if (e && e.status === 400) return fail(c, 400, e.message);
        throw err;
      }
    });
  });

  // Body {token}: a JWT from /api/auth/token. Answers 200 {valid:true, ...claims} or 200 {valid:false}.
  app.post('/auth/validate', async (c) => {
    const b = await jsonBody(c);
    const token = str(b?.token);
    if (!token) return c.json({ valid: false, error: 'token is required' }, 400);
    const res = (await api.verifyJWT({ body: { token } })) as { payload?: Record<string, unknown> | null } | null;
    const payload = res?.payload;
    if (!payload) return c.json({ valid: false }, 200);
    return c.json({ valid: true, ...payload, payload }, 200);
  });

  // Body {email, redirectTo?}: always 200 {success:true}, so nobody learns whether the address has an account.
  app.post('/auth/forgot-password', async (c) => {
    const b = await jsonBody(c);
    const email = str(b?.email)?.trim();
    const limited = limitResponse(c, o.limiter, 'reset', email);
    if (limited) return limited;
    await withFloor(o.floorMs, async () => {
      if (!email) return;
      try {
        await api.requestPasswordReset({ body: { email, redirectTo: str(b?.redirectTo) }, headers: c.req.raw.headers });
      } catch {
        // an unknown address, a malformed one or an untrusted redirectTo all get the same answer
      }
    });
    return c.json({ success: true }, 200);
  });

  // Body {email, sourceAppUrl?}: always 200 {success:true}.
  app.post('/auth/resend-verification', async (c) => {
    const b = await jsonBody(c);
    const email = str(b?.email)?.trim();
    const limited = limitResponse(c, o.limiter, 'resend', email);
    if (limited) return limited;
    await withFloor(o.floorMs, async () => {
      if (!email) return;
      try {
        await api.sendVerificationEmail({ body: { email, callbackURL: str(b?.sourceAppUrl) } });
      } catch {
        // already verified or unknown: same answer
      }
    });
    return c.json({ success: true }, 200);
  });

  // Body {newPassword, token}: the token from the reset email, spent here.
  app.post('/auth/reset-password', async (c) => {
    const b = await jsonBody(c);
    const token = str(b?.token);
    const newPassword = str(b?.newPassword);
    if (!token || !newPassword) return fail(c, 400, 'token and newPassword are required');
    try {
      await api.resetPassword({ body: { token, newPassword } });
      return c.json({ success: true }, 200);
    } catch (err) {
      const e = apiErrorOf(err);
      if (e && e.status < 500) return fail(c, 400, e.code === 'INVALID_TOKEN' ? 'invalid or expired token' : e.message);
      throw err;
    }
  });

  // Body {newEmail, callbackURL?}, signed in: sends a confirmation to the current address first.
  app.post('/auth/change-email', async (c) => {
    const b = await jsonBody(c);
    const newEmail = str(b?.newEmail)?.trim();
    if (!newEmail) return fail(c, 400, 'newEmail is required');
    try {
      await api.changeEmail({ body: { newEmail, callbackURL: str(b?.callbackURL) }, headers: c.req.raw.headers });
      return c.json({ success: true }, 200);
    } catch (err) {
      const e = apiErrorOf(err);
      if (e?.status === 401) return fail(c, 401, 'unauthorized');
      if (e && e.status < 500) return fail(c, 400, e.message);
      throw err;
    }
  });

  // Body {password}, signed in: deletes the account; the deletion notice goes out through notify.
  app.delete('/me/data', async (c) => {
    const b = (await jsonBody(c)) ?? {};
    try {
      await api.deleteUser({ body: { password: str(b.password) }, headers: c.req.raw.headers });
      return c.json({ success: true, deleted: true }, 200);
    } catch (err) {
      const e = apiErrorOf(err);
      if (e?.status === 401) return fail(c, 401, 'unauthorized');
      if (e && e.status < 500) return fail(c, 400, e.message);
      throw err;
    }
  });

  return app;
}
