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
});
