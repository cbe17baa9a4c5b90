// Server-rendered pages of auth (HTML 5 forms, POST-redirect-GET per RFC 9110 §15.4.4): register, sign in, verify, forgot/reset password, magic link, accept invitation; links from emails only show a button, the POST spends the token.
import { Hono, type Context } from 'hono';
import type { ManaAuth } from './better-auth.ts';
import { authLocale, type AuthLocale } from './emails.ts';
import { clientIp, withFloor } from './guard.ts';
import type { LimitedAction, RateLimiter } from './rate-limit.ts';
import { apiErrorOf } from './routes-v1.ts';
import { alert, CSS, field, form, hidden, layout, links, t } from './html.ts';

export type PageOptions = { auth: ManaAuth; limiter: RateLimiter; baseUrl: string; floorMs: number; trustedOrigins: string[] };

const SECURITY_HEADERS = (formTargets: string) => ({
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  // Tokens travel in the query string of these pages: no Referer to other sites. (Not no-referrer:
  // with it browsers send `Origin: null` on our own form posts, which the CSRF check must refuse.)
  'referrer-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
  'content-security-policy': `default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' ${formTargets}; frame-ancestors 'none'; base-uri 'none'`,
});

type Session = { user: { id: string; email: string; name: string; emailVerified: boolean }; session: { id: string } };

export function pageRoutes(o: PageOptions): Hono {
  const app = new Hono();
  const api = o.auth.api;
  const baseOrigin = new URL(o.baseUrl).origin;
  const allowedOrigins = new Set([baseOrigin, ...o.trustedOrigins]);
  const formTargets = [...allowedOrigins].join(' ');

  const localeOf = (c: Context): AuthLocale => authLocale(c.req.header('accept-language'));
  const page = (c: Context, o2: { status?: number; title: string; body: string; headers?: Headers }) => {
    const headers = new Headers(SECURITY_HEADERS(formTargets));
    for (const cookie of o2.headers?.getSetCookie() ?? []) headers.append('set-cookie', cookie);
    return new Response(layout({ locale: localeOf(c), title: o2.title, body: o2.body }), { status: o2.status ?? 200, headers });
  };
  const redirect = (location: string, cookiesFrom?: Headers) => {
    const headers = new Headers({ location, 'cache-control': 'no-store' });
    for (const cookie of cookiesFrom?.getSetCookie() ?? []) headers.append('set-cookie', cookie);
    return new Response(null, { status: 303, headers });
  };
  /** Where to go after a flow: a local path, or a page of a trusted origin; anything else is dropped. */
  const safeNext = (v: unknown): string | undefined => {
    if (typeof v !== 'string' || !v) return undefined;
    if (/^\/(?![/\\])/.test(v)) return v;
    try {
      const u = new URL(v);
      return allowedOrigins.has(u.origin) ? u.toString() : undefined;
    } catch {
      return undefined;
    }
  };
  const formBody = async (c: Context): Promise<Record<string, string>> => {
    try {
      const f = await c.req.formData();
      return Object.fromEntries([...f.entries()].filter((e): e is [string, string] => typeof e[1] === 'string'));
    } catch {
      return {};
    }
  };
  const session = async (c: Context): Promise<Session | null> => (await api.getSession({ headers: c.req.raw.headers })) as Session | null;
  const limited = (c: Context, action: LimitedAction, address: string | undefined, title: string) => {
    const d = o.limiter.hit({ action, ip: clientIp(c), address });
    if (d.allowed) return undefined;
    const res = page(c, { status: 429, title, body: alert('error', t(localeOf(c), 'rateLimited')) });
    res.headers.set('retry-after', String(d.retryAfterSeconds));
    return res;
  };
  const withQuery = (path: string, params: Record<string, string | undefined>) => {
    const q = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => !!e[1])).toString();
    return q ? `${path}?${q}` : path;
  };

  app.get('/favicon.ico', () => new Response(null, { status: 204, headers: { 'cache-control': 'public, max-age=86400' } }));
  app.get('/auth.css', () => new Response(CSS, { headers: { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=3600' } }));

  // A form POST from another site is refused: every page POST either spends a token or uses the session cookie.
  app.use('*', async (c, next) => {
    if (c.req.method !== 'POST' || c.req.path.startsWith('/api/')) return next();
    const origin = c.req.header('origin');
    if ((origin !== undefined && !allowedOrigins.has(origin)) || c.req.header('sec-fetch-site') === 'cross-site') {
      return page(c, { status: 403, title: t(localeOf(c), 'error'), body: alert('error', t(localeOf(c), 'invalidInput')) });
    }
    return next();
  });

  app.get('/', async (c) => redirect((await session(c)) ? '/account' : '/sign-in'));

  // ---- register ----
  const registerForm = (c: Context, v: { error?: string; email?: string; name?: string; next?: string }) => {
    const L = localeOf(c);
    return page(c, {
      status: v.error ? 400 : 200,
      title: t(L, 'register'),
      body: `${v.error ? alert('error', v.error) : `<p>${t(L, 'registerLead')}</p>`}
${form({
  action: '/register',
  button: t(L, 'register'),
  body: `${field({ name: 'name', label: t(L, 'name'), type: 'text', autocomplete: 'name', value: v.name, required: false })}
${field({ name: 'email', label: t(L, 'email'), type: 'email', autocomplete: 'email', value: v.email, autofocus: true })}
${field({ name: 'password', label: t(L, 'password'), type: 'password', autocomplete: 'new-password', minlength: 8, hint: t(L, 'passwordHint') })}
${hidden('locale', L)}${hidden('next', v.next)}`,
})}
${links([[withQuery('/sign-in', { next: v.next }), `${t(L, 'haveAccount')} ${t(L, 'signIn')}`]])}`,
    });
  };
  app.get('/register', (c) => registerForm(c, { next: safeNext(c.req.query('next')), email: c.req.query('email') }));
  app.post('/register', async (c) => {
    const L = localeOf(c);
    const b = await formBody(c);
    const email = (b.email ?? '').trim();
    const next = safeNext(b.next);
    if (!email || !b.password) return registerForm(c, { error: t(L, 'invalidInput'), email, name: b.name, next });
    if ((b.password ?? '').length < 8) return registerForm(c, { error: t(L, 'tooShort'), email, name: b.name, next });
    const stop = limited(c, 'sign-up', email, t(L, 'register'));
    if (stop) return stop;
    const failed = await withFloor(o.floorMs, async () => {
      try {
        await api.signUpEmail({ body: { email, password: b.password!, name: (b.name ?? '').trim(), callbackURL: next, locale: authLocale(b.locale ?? L) }, headers: c.req.raw.headers });
        return undefined;
      } catch (err) {
        const e = apiErrorOf(err);
        if (e && e.status < 500) return e;
        throw err;
      }
    });
    if (failed) return registerForm(c, { error: t(L, 'invalidInput'), email, name: b.name, next });
    return page(c, { title: t(L, 'checkInbox'), body: `<p>${t(L, 'checkInboxLead', { email })}</p>${links([['/resend-verification', t(L, 'resend')], ['/sign-in', t(L, 'signIn')]])}` });
  });

  // ---- sign in / out / account ----
  const signInForm = (c: Context, v: { error?: string; email?: string; next?: string; status?: number }) => {
    const L = localeOf(c);
    return page(c, {
      status: v.status ?? (v.error ? 400 : 200),
      title: t(L, 'signIn'),
      body: `${v.error ? alert('error', v.error) : ''}
${form({
  action: '/sign-in',
  button: t(L, 'signIn'),
  body: `${field({ name: 'email', label: t(L, 'email'), type: 'email', autocomplete: 'username', value: v.email, autofocus: true })}
${field({ name: 'password', label: t(L, 'password'), type: 'password', autocomplete: 'current-password' })}
${hidden('next', v.next)}`,
})}
${links([['/forgot-password', t(L, 'forgot')], [withQuery('/register', { next: v.next }), `${t(L, 'noAccount')} ${t(L, 'register')}`], ['/resend-verification', t(L, 'resend')]])}
<hr>
<h2>${t(L, 'magicRequest')}</h2>
<p>${t(L, 'magicRequestLead')}</p>
${form({ action: '/magic-link/request', button: t(L, 'magicRequest'), secondary: true, body: `${field({ name: 'email', label: t(L, 'email'), type: 'email', autocomplete: 'email' }).replace(/f-email/g, 'f-magic-email')}${hidden('next', v.next)}` })}`,
    });
  };
  app.get('/sign-in', (c) => signInForm(c, { next: safeNext(c.req.query('next')) }));
  app.post('/sign-in', async (c) => {
    const L = localeOf(c);
    const b = await formBody(c);
    const email = (b.email ?? '').trim();
    const next = safeNext(b.next);
    if (!email || !b.password) return signInForm(c, { error: t(L, 'badCredentials'), email, next });
    const stop = limited(c, 'sign-in', email, t(L, 'signIn'));
    if (stop) return stop;
    const res = await api.signInEmail({ body: { email, password: b.password, rememberMe: true }, headers: c.req.raw.headers, asResponse: true });
    if (res.ok) return redirect(next ?? '/account', res.headers);
    if (res.status === 403) return signInForm(c, { error: `${t(L, 'notVerified')} <a href="/resend-verification">${t(L, 'resend')}</a>`, email, next, status: 403 });
    return signInForm(c, { error: t(L, 'badCredentials'), email, next, status: 401 });
  });
  app.post('/sign-out', async (c) => {
    const res = await api.signOut({ headers: c.req.raw.headers, asResponse: true });
    return redirect('/sign-in', res.headers);
  });
  app.get('/account', async (c) => {
    const L = localeOf(c);
    const s = await session(c);
    if (!s) return redirect(withQuery('/sign-in', { next: '/account' }));
    return page(c, { title: t(L, 'accountTitle'), body: `<p data-testid="signed-in">${t(L, 'signedInAs', { email: s.user.email })}</p>${form({ action: '/sign-out', button: t(L, 'signOut'), secondary: true, body: '' })}` });
  });

  // ---- verify email (link from the verification / change-email emails) ----
  app.get('/verify', (c) => {
    const L = localeOf(c);
    const token = c.req.query('token');
    if (!token) return page(c, { status: 400, title: t(L, 'linkInvalid'), body: `<p>${t(L, 'linkInvalidLead')}</p>${links([['/resend-verification', t(L, 'resend')]])}` });
    return page(c, { title: t(L, 'verifyTitle'), body: `<p>${t(L, 'verifyLead')}</p>${form({ action: '/verify', button: t(L, 'verifyButton'), body: hidden('token', token) + hidden('callbackURL', safeNext(c.req.query('callbackURL'))) })}` });
  });
  app.post('/verify', async (c) => {
    const L = localeOf(c);
    const b = await formBody(c);
    if (!b.token) return page(c, { status: 400, title: t(L, 'linkInvalid'), body: `<p>${t(L, 'linkInvalidLead')}</p>` });
    const res = await api.verifyEmail({ query: { token: b.token }, headers: c.req.raw.headers, asResponse: true });
    if (!res.ok) return page(c, { status: 400, title: t(L, 'linkInvalid'), body: `<p>${t(L, 'linkInvalidLead')}</p>${links([['/resend-verification', t(L, 'resend')]])}` });
    const next = safeNext(b.callbackURL);
    if (next) return redirect(next, res.headers);
    return page(c, { title: t(L, 'verified'), body: `${alert('ok', t(L, 'verifiedLead'))}${links([['/account', t(L, 'continue')]])}`, headers: res.headers });
  });

  // ---- resend verification ----
  const emailOnlyForm = (c: Context, v: { action: string; title: string; lead: string; button: string; status?: number }) =>
    page(c, { status: v.status, title: v.title, body: `<p>${v.lead}</p>${form({ action: v.action, button: v.button, body: field({ name: 'email', label: t(localeOf(c), 'email'), type: 'email', autocomplete: 'email', autofocus: true }) })}` });
  app.get('/resend-verification', (c) => emailOnlyForm(c, { action: '/resend-verification', title: t(localeOf(c), 'resend'), lead: t(localeOf(c), 'resendLead'), button: t(localeOf(c), 'send') }));
  app.post('/resend-verification', async (c) => {
    const L = localeOf(c);
    const email = ((await formBody(c)).email ?? '').trim();
    const stop = limited(c, 'resend', email, t(L, 'resend'));
    if (stop) return stop;
    await withFloor(o.floorMs, async () => {
      if (email) await api.sendVerificationEmail({ body: { email }, headers: c.req.raw.headers }).catch(() => {});
    });
    return page(c, { title: t(L, 'checkInbox'), body: `<p>${t(L, 'checkInboxLead', { email })}</p>` });
  });

  // ---- forgot / reset password ----
  app.get('/forgot-password', (c) => emailOnlyForm(c, { action: '/forgot-password', title: t(localeOf(c), 'forgotTitle'), lead: t(localeOf(c), 'forgotLead'), button: t(localeOf(c), 'send') }));
  app.post('/forgot-password', async (c) => {
    const L = localeOf(c);
    const email = ((await formBody(c)).email ?? '').trim();
    const stop = limited(c, 'reset', email, t(L, 'forgotTitle'));
    if (stop) return stop;
    await withFloor(o.floorMs, async () => {
      if (email) await api.requestPasswordReset({ body: { email }, headers: c.req.raw.headers }).catch(() => {});
    });
    return page(c, { title: t(L, 'checkInbox'), body: `<p>${t(L, 'checkInboxLead', { email })}</p>${links([['/sign-in', t(L, 'signIn')]])}` });
  });
  const resetForm = (c: Context, token: string, error?: string) => {
    const L = localeOf(c);
    return page(c, {
      status: error ? 400 : 200,
      title: t(L, 'resetTitle'),
      body: `${error ? alert('error', error) : ''}${form({
        action: '/reset-password',
        button: t(L, 'resetButton'),
        body: `${field({ name: 'password', label: t(L, 'newPassword'), type: 'password', autocomplete: 'new-password', minlength: 8, hint: t(L, 'passwordHint'), autofocus: true })}
${field({ name: 'confirm', label: t(L, 'confirmPassword'), type: 'password', autocomplete: 'new-password', minlength: 8 })}
${hidden('token', token)}`,
      })}`,
    });
  };
  app.get('/reset-password', (c) => {
    const token = c.req.query('token');
    if (!token) return page(c, { status: 400, title: t(localeOf(c), 'linkInvalid'), body: `<p>${t(localeOf(c), 'linkInvalidLead')}</p>${links([['/forgot-password', t(localeOf(c), 'forgotTitle')]])}` });
    return resetForm(c, token);
  });
  app.post('/reset-password', async (c) => {
    const L = localeOf(c);
    const b = await formBody(c);
    if (!b.token) return page(c, { status: 400, title: t(L, 'linkInvalid'), body: `<p>${t(L, 'linkInvalidLead')}</p>` });
    if ((b.password ?? '').length < 8) return resetForm(c, b.token, t(L, 'tooShort'));
    if (b.password !== b.confirm) return resetForm(c, b.token, t(L, 'mismatch'));
    try {
      await api.resetPassword({ body: { token: b.token, newPassword: b.password! } });
    } catch (err) {
      const e = apiErrorOf(err);
      if (!e || e.status >= 500) throw err;
      if (e.code === 'PASSWORD_TOO_SHORT' || e.code === 'PASSWORD_TOO_LONG') return resetForm(c, b.token, t(L, 'invalidInput'));
      return page(c, { status: 400, title: t(L, 'linkInvalid'), body: `<p>${t(L, 'linkInvalidLead')}</p>${links([['/forgot-password', t(L, 'forgotTitle')]])}` });
    }
    return page(c, { title: t(L, 'resetDone'), body: `${alert('ok', t(L, 'resetDoneLead'))}${links([['/sign-in', t(L, 'signIn')]])}` });
  });

  // ---- magic link ----
  app.post('/magic-link/request', async (c) => {
    const L = localeOf(c);
    const b = await formBody(c);
    const email = (b.email ?? '').trim();
    const stop = limited(c, 'magic-link', email, t(L, 'magicTitle'));
    if (stop) return stop;
    await withFloor(o.floorMs, async () => {
      if (email) await api.signInMagicLink({ body: { email, callbackURL: safeNext(b.next) }, headers: c.req.raw.headers }).catch(() => {});
    });
    return page(c, { title: t(L, 'checkInbox'), body: `<p>${t(L, 'checkInboxLead', { email })}</p>` });
  });
  app.get('/magic-link', (c) => {
    const L = localeOf(c);
    const token = c.req.query('token');
    if (!token) return page(c, { status: 400, title: t(L, 'linkInvalid'), body: `<p>${t(L, 'linkInvalidLead')}</p>` });
    return page(c, { title: t(L, 'magicTitle'), body: `<p>${t(L, 'magicLead')}</p>${form({ action: '/magic-link', button: t(L, 'magicButton'), body: hidden('token', token) + hidden('callbackURL', safeNext(c.req.query('callbackURL'))) })}` });
  });
  app.post('/magic-link', async (c) => {
    const L = localeOf(c);
    const b = await formBody(c);
    const invalid = () => page(c, { status: 400, title: t(L, 'linkInvalid'), body: `<p>${t(L, 'linkInvalidLead')}</p>${links([['/sign-in', t(L, 'magicRequest')]])}` });
    if (!b.token) return invalid();
    // Without callbackURL Better Auth answers JSON on success and redirects with ?error= on failure.
    const res = await api.magicLinkVerify({ query: { token: b.token }, headers: c.req.raw.headers, asResponse: true });
    const location = res.headers.get('location') ?? '';
    if (!res.ok || /[?&]error=/.test(location)) return invalid();
    return redirect(safeNext(b.callbackURL) ?? '/account', res.headers);
  });

  // ---- organization invitation ----
  app.get('/accept-invitation', async (c) => {
    const L = localeOf(c);
    const id = c.req.query('id');
    if (!id) return page(c, { status: 400, title: t(L, 'inviteGone'), body: '' });
    const here = withQuery('/accept-invitation', { id });
    const s = await session(c);
    if (!s) {
      return page(c, {
        title: t(L, 'inviteTitle'),
        body: `<p>${t(L, 'inviteSignIn')}</p>${links([[withQuery('/sign-in', { next: here }), t(L, 'signIn')], [withQuery('/register', { next: here }), t(L, 'register')]])}`,
      });
    }
    let inv: { email: string; organizationName: string; inviterEmail: string; status: string };
    try {
      inv = (await api.getInvitation({ query: { id }, headers: c.req.raw.headers })) as typeof inv;
    } catch (err) {
      const e = apiErrorOf(err);
      if (!e || e.status >= 500) throw err;
      const wrongUser = e.code === 'YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION';
      return page(c, { status: wrongUser ? 403 : 404, title: t(L, 'inviteTitle'), body: `${alert('error', t(L, wrongUser ? 'inviteWrongUser' : 'inviteGone'))}${wrongUser ? form({ action: '/sign-out', button: t(L, 'signOut'), secondary: true, body: '' }) : ''}` });
    }
    return page(c, {
      title: t(L, 'inviteTitle'),
      body: `<p>${t(L, 'inviteLead', { inviter: inv.inviterEmail, org: inv.organizationName })}</p>
${form({ action: '/accept-invitation', button: t(L, 'inviteAccept'), body: hidden('id', id) })}
${form({ action: '/accept-invitation', button: t(L, 'inviteDecline'), secondary: true, body: hidden('id', id) + hidden('decline', '1') })}`,
    });
  });
  app.post('/accept-invitation', async (c) => {
    const L = localeOf(c);
    const b = await formBody(c);
    if (!b.id) return page(c, { status: 400, title: t(L, 'inviteGone'), body: '' });
    if (!(await session(c))) return redirect(withQuery('/sign-in', { next: withQuery('/accept-invitation', { id: b.id }) }));
    try {
      if (b.decline) {
        await api.rejectInvitation({ body: { invitationId: b.id }, headers: c.req.raw.headers });
        return page(c, { title: t(L, 'inviteDeclined'), body: links([['/account', t(L, 'continue')]]) });
      }
      const inv = (await api.getInvitation({ query: { id: b.id }, headers: c.req.raw.headers })) as { organizationName: string };
      await api.acceptInvitation({ body: { invitationId: b.id }, headers: c.req.raw.headers });
      return page(c, { title: t(L, 'inviteAccepted', { org: inv.organizationName }), body: `${alert('ok', t(L, 'inviteAcceptedLead', { org: inv.organizationName }))}${links([['/account', t(L, 'continue')]])}` });
    } catch (err) {
      const e = apiErrorOf(err);
      if (!e || e.status >= 500) throw err;
      return page(c, { status: 400, title: t(L, 'inviteTitle'), body: alert('error', t(L, e.code === 'YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION' ? 'inviteWrongUser' : 'inviteGone')) });
    }
  });

  return app;
}
