// Abuse resistance of auth over real sockets: identical answers for known and unknown addresses, and 429 + Retry-After (RFC 6585 §4) per IP and per address on sign-up, sign-in, reset and resend.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from '../../test/support/context.ts';
import { startAuth } from './service.ts';
import { linkOf, startNotifyRecorder, type NotifyRecorder } from './test-notify.ts';
import { createTestClient, hiddenField, pathOf } from './test-client.ts';
import { backends } from './test-backends.ts';

const PASSWORD = 'correct horse battery';

for (const backend of backends()) {
  describe(`auth abuse limits and enumeration (${backend.name})`, () => {
    let t: TestContext;
    let notify: NotifyRecorder;
    let svc: Awaited<ReturnType<typeof startAuth>>;
    let base: string;

    before(async () => {
      t = await backend.make();
      notify = await startNotifyRecorder({ serviceKey: t.ctx.secrets.serviceKeys[0]! });
      svc = await startAuth(t.ctx, { notifyUrl: notify.url, floorMs: 20 });
      base = svc.urls['auth-http']!;
      // One verified account ('known') and one that never confirmed ('pending').
      const c = createTestClient(base);
      await c.postJson('/api/v1/auth/register', { email: 'known@example.test', password: PASSWORD, name: 'Known' });
      await c.postJson('/api/v1/auth/register', { email: 'pending@example.test', password: PASSWORD, name: 'Pending' });
      const mail = await notify.waitFor((e) => e.recipient === 'known@example.test');
      const page = await (await c.get(pathOf(linkOf(mail)))).text();
      await c.postForm('/verify', { token: hiddenField(page, 'token')! });
      await notify.waitFor((e) => e.recipient === 'pending@example.test');
    });
    after(async () => {
      await svc?.close();
      await notify?.close();
      await t?.cleanup();
    });

    /** Status, body with the address masked, and the headers that could differ. */
    async function shape(res: Response, email: string) {
      const text = (await res.text()).replaceAll(email, '<email>');
      const body = res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
      return { status: res.status, body, setCookie: res.headers.getSetCookie().length };
    }

    it('forgot-password and resend-verification answer the same for known, unconfirmed and unknown addresses; only real accounts get mail', async () => {
      svc.runtime.limiter.reset();
      const c = createTestClient(base);
      const before = notify.emails.length;
      for (const path of ['/api/v1/auth/forgot-password', '/api/v1/auth/resend-verification']) {
        const answers = [];
        for (const email of ['known@example.test', 'pending@example.test', 'nobody@example.test']) answers.push(await shape(await c.postJson(path, { email }), email));
        assert.deepEqual(answers[0], { status: 200, body: { success: true }, setCookie: 0 }, path);
        assert.deepEqual(answers[1], answers[0], path);
        assert.deepEqual(answers[2], answers[0], path);
      }
      const pages = [];
      for (const email of ['known@example.test', 'nobody@example.test']) pages.push(await shape(await c.postForm('/forgot-password', { email }), email));
      assert.deepEqual(pages[0], pages[1]);
      await svc.runtime.outbox.flush();
      const sent = notify.emails.slice(before);
      assert.ok(sent.some((e) => e.recipient === 'known@example.test' && e.template === 'auth-password-reset'));
      assert.ok(sent.some((e) => e.recipient === 'pending@example.test' && e.template === 'auth-verification'));
      assert.ok(!sent.some((e) => e.recipient === 'nobody@example.test'), 'no mail to unknown addresses');
      assert.ok(!sent.some((e) => e.recipient === 'known@example.test' && e.template === 'auth-verification'), 'no verification mail to a confirmed address');
    });

    it('sign-up answers the same for a new and an existing address (user id aside)', async () => {
      svc.runtime.limiter.reset();
      const c = createTestClient(base);
      const strip = (s: Awaited<ReturnType<typeof shape>>) => ({ ...s, body: { ...s.body, user: { ...s.body.user, id: typeof s.body.user?.id, createdAt: typeof s.body.user?.createdAt, updatedAt: typeof s.body.user?.updatedAt } } });
      for (const path of ['/api/auth/sign-up/email', '/api/v1/auth/register']) {
        const fresh = `fresh-${path.length}@example.test`;
        const a = strip(await shape(await c.postJson(path, { email: 'known@example.test', password: PASSWORD, name: 'X' }), 'known@example.test'));
        const b = strip(await shape(await c.postJson(path, { email: fresh, password: PASSWORD, name: 'X' }), fresh));
        assert.equal(a.status, 200, path);
        assert.deepEqual(a, b, path);
      }
      const p1 = await shape(await c.postForm('/register', { email: 'known@example.test', password: PASSWORD, name: 'X' }), 'known@example.test');
      const p2 = await shape(await c.postForm('/register', { email: 'fresh-page@example.test', password: PASSWORD, name: 'X' }), 'fresh-page@example.test');
      assert.deepEqual(p1, p2);
    });

    it('sign-in with a wrong password answers the same for known and unknown addresses', async () => {
      svc.runtime.limiter.reset();
      const c = createTestClient(base);
      const a = await shape(await c.postJson('/api/auth/sign-in/email', { email: 'known@example.test', password: 'wrong password' }), 'known@example.test');
      const b = await shape(await c.postJson('/api/auth/sign-in/email', { email: 'nobody@example.test', password: 'wrong password' }), 'nobody@example.test');
      assert.equal(a.status, 401);
      assert.deepEqual(a, b);
      const p1 = await shape(await c.postForm('/sign-in', { email: 'known@example.test', password: 'wrong password' }), 'known@example.test');
      const p2 = await shape(await c.postForm('/sign-in', { email: 'nobody@example.test', password: 'wrong password' }), 'nobody@example.test');
      assert.deepEqual(p1, p2);
    });

    it('sign-in is limited per address: after 10 attempts even the right password gets 429 with Retry-After', async () => {
      svc.runtime.limiter.reset();
      const c = createTestClient(base);
      for (let i = 0; i < 10; i++) assert.equal((await c.postJson('/api/auth/sign-in/email', { email: 'known@example.test', password: `guess ${i} wrong` })).status, 401);
      const blocked = await c.postJson('/api/auth/sign-in/email', { email: 'known@example.test', password: PASSWORD });
      assert.equal(blocked.status, 429);
      assert.ok(Number(blocked.headers.get('retry-after')) > 0);
      assert.equal((await c.postForm('/sign-in', { email: 'known@example.test', password: PASSWORD })).status, 429, 'the page shares the counter');
      assert.equal((await c.postJson('/api/auth/sign-in/email', { email: 'pending@example.test', password: 'wrong password' })).status, 401, 'other addresses still answered');
    });

    it('reset and resend are limited per address (3 per window), known or not, on every route', async () => {
      svc.runtime.limiter.reset();
      const c = createTestClient(base);
      for (const email of ['known@example.test', 'nobody@example.test']) {
        const statuses = [];
        statuses.push((await c.postJson('/api/v1/auth/forgot-password', { email })).status);
        statuses.push((await c.postJson('/api/auth/request-password-reset', { email })).status);
        statuses.push((await c.postForm('/forgot-password', { email })).status);
        statuses.push((await c.postJson('/api/v1/auth/forgot-password', { email })).status);
        assert.deepEqual(statuses, [200, 200, 200, 429], email);
      }
      svc.runtime.limiter.reset();
      for (const email of ['pending@example.test', 'nobody@example.test']) {
        const statuses = [];
        for (let i = 0; i < 4; i++) statuses.push((await c.postJson('/api/v1/auth/resend-verification', { email })).status);
        assert.deepEqual(statuses, [200, 200, 200, 429], email);
      }
    });

    it('sign-up is limited per address (3) and per IP (20)', async () => {
      svc.runtime.limiter.reset();
      const c = createTestClient(base);
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await c.postJson('/api/auth/sign-up/email', { email: 'flood@example.test', password: PASSWORD, name: 'F' })).status);
      assert.deepEqual(statuses, [200, 200, 200, 429]);
      svc.runtime.limiter.reset();
      const byIp = [];
      for (let i = 0; i < 21; i++) byIp.push((await c.postJson('/api/v1/auth/register', { email: `many-${i}@example.test`, password: PASSWORD })).status);
      assert.deepEqual(byIp.slice(0, 20), Array(20).fill(200));
      assert.equal(byIp[20], 429);
    });
  });
}
