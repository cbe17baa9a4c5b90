// Tests of auth as a running service: sign-up over a real socket sends the verification email through notify's HTTP API.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestContext, type TestContext } from '../../test/support/context.ts';
import { startAuth } from './service.ts';
import { startNotifyRecorder, type NotifyRecorder } from './test-notify.ts';
import { listOutbox } from './outbox.ts';

describe('auth service', () => {
  let t: TestContext;
  let notify: NotifyRecorder;
  let svc: Awaited<ReturnType<typeof startAuth>>;
  let base: string;

  before(async () => {
    t = await makeTestContext();
    notify = await startNotifyRecorder({ serviceKey: t.ctx.secrets.serviceKeys[0]! });
    svc = await startAuth(t.ctx, { notifyUrl: notify.url, floorMs: 0 });
    base = svc.urls['auth-http']!;
  });
  after(async () => {
    await svc?.close();
    await notify?.close();
    await t?.cleanup();
  });

  it('announces its listener and answers /health', async () => {
    assert.deepEqual(t.announced, [{ name: 'auth-http', url: base }]);
    const res = await fetch(`${base}/health`);
    assert.equal(res.status, 200);
    assert.equal((await res.json()).service, 'mana-auth');
  });

  it('sign-up creates an unverified user and sends auth-verification through notify with the service key', async () => {
    const res = await fetch(`${base}/api/auth/sign-up/email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: base },
      body: JSON.stringify({ email: 'Alice@Example.test', password: 'correct horse battery', name: 'Alice', locale: 'en-US' }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const body = await res.json();
    assert.equal(body.user.email, 'alice@example.test');
    assert.equal(body.user.emailVerified, false);
    assert.equal(body.token, null, 'no session before the address is verified');

    const email = await notify.waitFor((e) => e.recipient === 'alice@example.test');
    assert.equal(email.serviceKey, t.ctx.secrets.serviceKeys[0]);
    assert.equal(email.channel, 'email');
    assert.equal(email.appId, 'mana-auth');
    assert.equal(email.template, 'auth-verification');
    assert.equal(email.locale, 'en-US');
    assert.equal(email.data?.userName, 'Alice');
    assert.match(String(email.data?.verificationUrl), new RegExp(`^${base}/verify\\?token=`));
    assert.match(String(email.externalId), /^mana-auth:/);
    assert.ok(email.subject && email.body?.includes(String(email.data?.verificationUrl).replace(/&/g, '&amp;')), 'subject and body carried as fallback');

    await svc.runtime.outbox.flush();
    const rows = await listOutbox(t.ctx.store, { recipient: 'alice@example.test' });
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.status, 'sent');
    assert.equal(rows[0]!.notification_id, email.notificationId);
  });

  it('sign-in is refused until the address is verified', async () => {
    const res = await fetch(`${base}/api/auth/sign-in/email`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: base },
      body: JSON.stringify({ email: 'alice@example.test', password: 'correct horse battery' }),
    });
    assert.equal(res.status, 403);
  });

  it('concurrent sign-ups all succeed while the store writes to the same SQLite file (two connections, WAL)', async () => {
    svc.runtime.limiter.reset();
    let writing = true;
    const writer = (async () => {
      let i = 0;
      while (writing) {
        await t.ctx.store.tx(async (q) => {
          await q.run('INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [`test.load.${i % 5}`, String(i), Date.now()]);
        });
        i++;
        await new Promise((r) => setImmediate(r));
      }
      return i;
    })();
    const results = await Promise.all(
      Array.from({ length: 15 }, (_, i) =>
        fetch(`${base}/api/v1/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: `load-${i}@example.test`, password: 'correct horse battery' }) }).then((r) => r.status),
      ),
    );
    writing = false;
    assert.ok((await writer) > 0);
    assert.deepEqual(results, Array(15).fill(200));
    for (let i = 0; i < 15; i++) await notify.waitFor((e) => e.recipient === `load-${i}@example.test`);
  });

  it('the email is in the user\'s locale: the one given at sign-up, else the browser\'s Accept-Language', async () => {
    svc.runtime.limiter.reset();
    const post = (body: object, lang: string) =>
      fetch(`${base}/api/auth/sign-up/email`, { method: 'POST', headers: { 'content-type': 'application/json', 'accept-language': lang, origin: base }, body: JSON.stringify({ password: 'correct horse battery', name: 'L', ...body }) });
    const r1 = await post({ email: "lang-de@example.test" }, "de-CH,de;q=0.9");
    assert.equal(r1.status, 200, await r1.clone().text());
    assert.equal((await post({ email: 'lang-en@example.test', locale: 'en-GB' }, 'de-DE')).status, 200);
    const de = await notify.waitFor((e) => e.recipient === 'lang-de@example.test');
    const en = await notify.waitFor((e) => e.recipient === 'lang-en@example.test');
    assert.equal(de.locale, 'de-DE');
    assert.match(String(de.subject), /bestätigen/);
    assert.equal(en.locale, 'en-US');
    assert.match(String(en.subject), /Confirm/);
    // Later emails follow the stored locale, not the browser of the moment.
    await fetch(`${base}/api/v1/auth/forgot-password`, { method: 'POST', headers: { 'content-type': 'application/json', 'accept-language': 'en-US' }, body: JSON.stringify({ email: 'lang-de@example.test' }) });
    const reset = await notify.waitFor((e) => e.recipient === 'lang-de@example.test' && e.template === 'auth-password-reset');
    assert.equal(reset.locale, 'de-DE');
  });
});
