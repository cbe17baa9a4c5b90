// Tests of the auth app through app.request() (no socket): cookie attributes (RFC 6265 §4.1.2, __Secure- prefix per RFC 6265bis), CORS (Fetch standard), cross-site form posts, page headers.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestContext, type TestContext } from '../../test/support/context.ts';
import { createAuthRuntime, type AuthRuntime } from './service.ts';
import { startNotifyRecorder, linkOf, type NotifyRecorder } from './test-notify.ts';

const BASE = 'https://auth.example.test';
const PASSWORD = 'correct horse battery';

describe('auth app settings', () => {
  let t: TestContext;
  let notify: NotifyRecorder;
  let rt: AuthRuntime;

  before(async () => {
    t = await makeTestContext({ overrides: { auth: { production: true, cookieDomain: 'example.test', corsOrigins: ['https://app.example.test'] } } });
    notify = await startNotifyRecorder({ serviceKey: t.ctx.secrets.serviceKeys[0]! });
    rt = await createAuthRuntime(t.ctx, { baseUrl: BASE, notifyUrl: notify.url, floorMs: 0 });
  });
  after(async () => {
    await rt?.close();
    await notify?.close();
    await t?.cleanup();
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    rt.app.request(`${BASE}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', origin: BASE, ...headers }, body: JSON.stringify(body) });

  it('in production, session cookies are Secure, __Secure- prefixed, HttpOnly, SameSite=Lax and scoped to COOKIE_DOMAIN', async () => {
    await post('/api/auth/sign-up/email', { email: 'prod@example.test', password: PASSWORD, name: 'P' });
    const mail = await notify.waitFor((e) => e.recipient === 'prod@example.test');
    const token = new URL(linkOf(mail)).searchParams.get('token')!;
    assert.ok(linkOf(mail).startsWith(`${BASE}/verify?`), 'links use BASE_URL');
    const verified = await rt.app.request(`${BASE}/verify`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: BASE }, body: new URLSearchParams({ token }).toString() });
    assert.equal(verified.status, 200);
    const res = await post('/api/auth/sign-in/email', { email: 'prod@example.test', password: PASSWORD });
    assert.equal(res.status, 200);
    const session = res.headers.getSetCookie().find((c) => /session_token=/.test(c));
    assert.ok(session, 'a session cookie');
    assert.match(session!, /^__Secure-/);
    assert.match(session!, /;\s*Secure/i);
    assert.match(session!, /;\s*HttpOnly/i);
    assert.match(session!, /;\s*SameSite=Lax/i);
    assert.match(session!, /;\s*Domain=\.?example\.test/i);
  });

  it('CORS answers allowed origins with credentials and ignores others (CORS_ORIGINS)', async () => {
    const pre = (origin: string) => rt.app.request(`${BASE}/api/auth/sign-in/email`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    const ok = await pre('https://app.example.test');
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example.test');
    assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
    const other = await pre('https://evil.example');
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });

  it('a form post from another site, or with Origin null, is refused before any token is spent', async () => {
    for (const origin of ['https://evil.example', 'null']) {
      const res = await rt.app.request(`${BASE}/reset-password`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin }, body: 'token=x&password=aaaaaaaa&confirm=aaaaaaaa' });
      assert.equal(res.status, 403, origin);
    }
    const fetchMeta = await rt.app.request(`${BASE}/sign-in`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site' }, body: 'email=a%40b.test&password=x' });
    assert.equal(fetchMeta.status, 403);
  });

  it('pages keep tokens to the site: no-store, same-origin referrer, a CSP without script, no framing', async () => {
    const res = await rt.app.request(`${BASE}/reset-password?token=abc`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('referrer-policy'), 'same-origin');
    const csp = res.headers.get('content-security-policy')!;
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /script-src/);
    const html = await res.text();
    assert.match(html, /<html lang="(en|de)">/);
    assert.match(html, /<label for="f-password">/);
  });

  it('pages speak German to a German browser and English to others', async () => {
    const de = await (await rt.app.request(`${BASE}/sign-in`, { headers: { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' } })).text();
    assert.match(de, /<html lang="de">/);
    assert.match(de, /Anmelden/);
    const en = await (await rt.app.request(`${BASE}/sign-in`, { headers: { 'accept-language': 'fr-FR, en;q=0.5' } })).text();
    assert.match(en, /<html lang="en">/);
  });

  it('a redirect target outside the site is dropped (no open redirect)', async () => {
    const res = await rt.app.request(`${BASE}/sign-in?next=${encodeURIComponent('https://evil.example/x')}`);
    assert.doesNotMatch(await res.text(), /evil\.example/);
    const local = await rt.app.request(`${BASE}/sign-in?next=${encodeURIComponent('//evil.example/x')}`);
    assert.doesNotMatch(await local.text(), /evil\.example/);
  });
});
