// Whole email flows of auth over real sockets, on SQLite and (with DATABASE_URL) PostgreSQL: verification, password reset, magic link, invitation, change email, deletion notice, JWT validation.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from '../../test/support/context.ts';
import { startAuth } from './service.ts';
import { linkOf, startNotifyRecorder, type NotifyRecorder } from './test-notify.ts';
import { createTestClient, hiddenField, pathOf, type TestClient } from './test-client.ts';
import { backends } from './test-backends.ts';

const PASSWORD = 'correct horse battery';

for (const backend of backends()) {
  describe(`auth email flows (${backend.name})`, () => {
    let t: TestContext;
    let notify: NotifyRecorder;
    let svc: Awaited<ReturnType<typeof startAuth>>;
    let base: string;

    before(async () => {
      t = await backend.make();
      notify = await startNotifyRecorder({ serviceKey: t.ctx.secrets.serviceKeys[0]! });
      svc = await startAuth(t.ctx, { notifyUrl: notify.url, floorMs: 0 });
      base = svc.urls['auth-http']!;
    });
    after(async () => {
      await svc?.close();
      await notify?.close();
      await t?.cleanup();
    });

    /** Registers through the page, confirms through the emailed link; returns a signed-in client. */
    async function registerAndVerify(email: string, name = 'Test User'): Promise<TestClient> {
      const browser = createTestClient(base);
      const reg = await browser.postForm('/register', { name, email, password: PASSWORD });
      assert.equal(reg.status, 200);
      const mail = await notify.waitFor((e) => e.recipient === email && e.template === 'auth-verification');
      const landing = await browser.get(pathOf(linkOf(mail)));
      const token = hiddenField(await landing.text(), 'token');
      assert.ok(token);
      const done = await browser.postForm('/verify', { token });
      assert.equal(done.status, 200);
      return browser;
    }

    async function signIn(email: string, password = PASSWORD): Promise<{ client: TestClient; res: Response }> {
      const client = createTestClient(base);
      const res = await client.postForm('/sign-in', { email, password });
      return { client, res };
    }

    it('the verification link is scanner-safe: GET shows a button, only the POST confirms and signs in', async () => {
      const email = 'vera@example.test';
      const browser = createTestClient(base);
      const reg = await browser.postForm('/register', { name: 'Vera', email, password: PASSWORD });
      assert.equal(reg.status, 200);
      assert.match(await reg.text(), /vera@example\.test/);
      const mail = await notify.waitFor((e) => e.recipient === email && e.template === 'auth-verification');
      const link = linkOf(mail);

      // A mail scanner fetching the link twice changes nothing.
      const scanner = createTestClient(base);
      for (let i = 0; i < 2; i++) {
        const page = await scanner.get(pathOf(link));
        assert.equal(page.status, 200);
        assert.match(await page.text(), /<form method="post" action="\/verify">/);
      }
      assert.equal((await signIn(email)).res.status, 403, 'still unverified after GETs');

      const token = hiddenField(await (await browser.get(pathOf(link))).text(), 'token')!;
      const confirmed = await browser.postForm('/verify', { token });
      assert.equal(confirmed.status, 200);
      assert.ok(browser.cookies.size > 0, 'verification signs the user in');
      const account = await browser.get('/account');
      assert.equal(account.status, 200);
      assert.match(await account.text(), /vera@example\.test/);

      const { res, client } = await signIn(email);
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), '/account');
      assert.match(await (await client.get('/account')).text(), /vera@example\.test/);
      await notify.waitFor((e) => e.recipient === email && e.template === 'auth-welcome');
    });

    it('POST /api/v1/auth/validate accepts a JWT from /api/auth/token and refuses a tampered one', async () => {
      const email = 'jwt@example.test';
      await registerAndVerify(email);
      const { client } = await signIn(email);
      const tokenRes = await client.get('/api/auth/token');
      assert.equal(tokenRes.status, 200);
      const { token } = (await tokenRes.json()) as { token: string };
      const ok = await client.postJson('/api/v1/auth/validate', { token });
      assert.equal(ok.status, 200);
      const claims = await ok.json();
      assert.equal(claims.valid, true);
      assert.equal(claims.email, email);
      assert.equal(claims.aud, 'mana');
      assert.equal(claims.iss, base);
      assert.ok(claims.sub && claims.sid);
      const [h, p, s] = token.split('.');
      const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), email: 'evil@example.test' })).toString('base64url');
      const bad = await client.postJson('/api/v1/auth/validate', { token: `${h}.${forged}.${s}` });
      assert.deepEqual(await bad.json(), { valid: false });
    });

    it('password reset: the emailed link sets a new password once; the old password and a second use fail', async () => {
      const email = 'reset@example.test';
      await registerAndVerify(email);
      const api = createTestClient(base);
      const res = await api.postJson('/api/v1/auth/forgot-password', { email });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { success: true });
      const mail = await notify.waitFor((e) => e.recipient === email && e.template === 'auth-password-reset');
      assert.match(String(mail.data?.resetUrl), new RegExp(`^${base}/reset-password\\?token=`));

      const browser = createTestClient(base);
      const form = await browser.get(pathOf(linkOf(mail)));
      assert.equal(form.status, 200);
      const token = hiddenField(await form.text(), 'token')!;
      const newPassword = 'a brand new secret';
      const done = await browser.postForm('/reset-password', { token, password: newPassword, confirm: newPassword });
      assert.equal(done.status, 200);
      assert.equal((await signIn(email, newPassword)).res.status, 303);
      assert.equal((await signIn(email, PASSWORD)).res.status, 401);

      const again = await browser.postForm('/reset-password', { token, password: 'yet another one', confirm: 'yet another one' });
      assert.equal(again.status, 400, 'a reset link works once');
      assert.equal((await signIn(email, 'yet another one')).res.status, 401);
    });

    it('password reset: a link older than its hour is refused', async () => {
      const email = 'late@example.test';
      await registerAndVerify(email);
      await createTestClient(base).postJson('/api/v1/auth/forgot-password', { email });
      const mail = await notify.waitFor((e) => e.recipient === email && e.template === 'auth-password-reset');
      const token = new URL(linkOf(mail)).searchParams.get('token')!;
      await expireVerification(t, `reset-password:${token}`);
      const res = await createTestClient(base).postJson('/api/v1/auth/reset-password', { token, newPassword: 'too late for this' });
      assert.equal(res.status, 400);
      assert.equal((await signIn(email, 'too late for this')).res.status, 401);
      assert.equal((await signIn(email)).res.status, 303, 'the old password still works');
    });

    it('magic link: GET shows a button, the POST signs in once; an expired link is refused', async () => {
      const email = 'magic@example.test';
      await registerAndVerify(email);
      const browser = createTestClient(base);
      const req = await browser.postForm('/magic-link/request', { email });
      assert.equal(req.status, 200);
      const mail = await notify.waitFor((e) => e.recipient === email && e.template === 'auth-magic-link');
      assert.match(String(mail.data?.url), new RegExp(`^${base}/magic-link\\?token=`));
      const landing = await browser.get(pathOf(linkOf(mail)));
      const token = hiddenField(await landing.text(), 'token')!;
      const used = await browser.postForm('/magic-link', { token });
      assert.equal(used.status, 303);
      assert.match(await (await browser.get('/account')).text(), /magic@example\.test/);
      const twice = await createTestClient(base).postForm('/magic-link', { token });
      assert.equal(twice.status, 400, 'a magic link works once');

      const n = notify.emails.length;
      await createTestClient(base).postForm('/magic-link/request', { email });
      const second = await notify.waitFor((e, i = notify.emails.indexOf(e)) => i >= n && e.recipient === email && e.template === 'auth-magic-link');
      const token2 = new URL(linkOf(second)).searchParams.get('token')!;
      await expireAllVerifications(t, 'magic');
      const late = await createTestClient(base).postForm('/magic-link', { token: token2 });
      assert.equal(late.status, 400, 'an expired magic link is refused');
    });

    it('organization invitation: the invited person registers from the email, confirms and accepts', async () => {
      const owner = await registerAndVerify('owner@example.test', 'Olga Owner');
      const org = await owner.postJson('/api/auth/organization/create', { name: 'Acme Co', slug: `acme-${backend.name}` });
      assert.equal(org.status, 200, await org.clone().text());
      const { id: organizationId } = (await org.json()) as { id: string };
      const inv = await owner.postJson('/api/auth/organization/invite-member', { email: 'ivan@example.test', role: 'member', organizationId });
      assert.equal(inv.status, 200, await inv.clone().text());
      const mail = await notify.waitFor((e) => e.recipient === 'ivan@example.test' && e.template === 'auth-invitation');
      assert.equal(mail.data?.orgName, 'Acme Co');
      assert.equal(mail.data?.inviterName, 'Olga Owner');
      const inviteLink = pathOf(linkOf(mail));

      const ivan = createTestClient(base);
      const landing = await (await ivan.get(inviteLink)).text();
      assert.match(landing, /href="\/register\?next=/);
      const reg = await ivan.postForm('/register', { name: 'Ivan', email: 'ivan@example.test', password: PASSWORD, next: inviteLink });
      assert.equal(reg.status, 200);
      const verification = await notify.waitFor((e) => e.recipient === 'ivan@example.test' && e.template === 'auth-verification');
      const vpage = await (await ivan.get(pathOf(linkOf(verification)))).text();
      const confirmed = await ivan.postForm('/verify', { token: hiddenField(vpage, 'token')!, callbackURL: hiddenField(vpage, 'callbackURL')! });
      assert.equal(confirmed.status, 303);
      assert.equal(confirmed.headers.get('location'), inviteLink);
      const accept = await ivan.get(inviteLink);
      assert.match(await accept.text(), /Acme Co/);
      const accepted = await ivan.postForm('/accept-invitation', { id: new URLSearchParams(inviteLink.split('?')[1]).get('id')! });
      assert.equal(accepted.status, 200);
      assert.match(await accepted.text(), /Acme Co/);
      const members = await owner.get(`/api/auth/organization/list-members?organizationId=${organizationId}`);
      const list = (await members.json()) as { members: Array<{ user: { email: string } }> };
      assert.ok(list.members.some((m) => m.user.email === 'ivan@example.test'));
    });

    it('change email: confirmation to the current address, then verification of the new one', async () => {
      const client = await registerAndVerify('old@example.test', 'Chris');
      const res = await client.postJson('/api/v1/auth/change-email', { newEmail: 'new@example.test' });
      assert.equal(res.status, 200, await res.clone().text());
      const confirm = await notify.waitFor((e) => e.recipient === 'old@example.test' && e.template === 'auth-change-email');
      assert.equal(confirm.data?.newEmail, 'new@example.test');
      const page1 = await (await client.get(pathOf(linkOf(confirm)))).text();
      assert.equal((await client.postForm('/verify', { token: hiddenField(page1, 'token')! })).status, 200);
      const verify = await notify.waitFor((e) => e.recipient === 'new@example.test' && e.template === 'auth-change-email');
      const page2 = await (await client.get(pathOf(linkOf(verify)))).text();
      assert.equal((await client.postForm('/verify', { token: hiddenField(page2, 'token')! })).status, 200);
      assert.equal((await signIn('new@example.test')).res.status, 303);
      // The welcome belongs to the first confirmation only, not to confirming a changed address.
      await svc.runtime.outbox.flush(); // whatever the verification queued has been sent
      const welcomes = notify.emails.filter((e) => e.template === 'auth-welcome' && (e.recipient === 'old@example.test' || e.recipient === 'new@example.test'));
      assert.equal(welcomes.length, 1, welcomes.map((e) => e.recipient).join(', '));
    });

    it('account deletion sends the deletion notice through notify', async () => {
      const client = await registerAndVerify('gone@example.test', 'Gina');
      const res = await client.request('/api/v1/me/data', { method: 'DELETE', headers: { 'content-type': 'application/json', origin: base }, body: JSON.stringify({ password: PASSWORD }) });
      assert.equal(res.status, 200, await res.clone().text());
      const mail = await notify.waitFor((e) => e.recipient === 'gone@example.test' && e.template === 'auth-account-deleted');
      assert.equal(mail.data?.userName, 'Gina');
      assert.equal((await signIn('gone@example.test')).res.status, 401);
    });
  });
}

/** Moves the expiry of Better Auth verification rows into the past (the clock is Better Auth's own, so the row changes instead). */
async function expireVerification(t: TestContext, identifier: string): Promise<void> {
  const past = new Date(Date.now() - 60_000);
  const value = t.ctx.store.dialect === 'postgres' ? past.toISOString() : past.toISOString();
  const r = await t.ctx.store.run('UPDATE auth_verifications SET "expiresAt" = ? WHERE identifier = ?', [value, identifier]);
  assert.equal(r.changes, 1, `verification ${identifier} found`);
}

async function expireAllVerifications(t: TestContext, _what: string): Promise<void> {
  const past = new Date(Date.now() - 60_000).toISOString();
  const r = await t.ctx.store.run(`UPDATE auth_verifications SET "expiresAt" = ? WHERE identifier NOT LIKE 'reset-password:%'`, [past]);
  assert.ok(r.changes >= 1);
}
