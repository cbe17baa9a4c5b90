// Contract test: replays the original mana-notify's documented requests and responses (ORIGINAL.md §1.2-§1.13) against our app, route by route, on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createNotifyApp, type NotifyApp } from '../../src/notify/app.ts';
import { createTemplateStore } from '../../src/notify/template-store.ts';
import { BUILTIN_TEMPLATES } from '../../src/notify/templates/builtin.ts';
import { makeTestContext, type TestContext } from '../support/context.ts';
import { storeFactories } from '../support/stores.ts';

const KEY = 'contract-key';
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

function jwt(claims: Record<string, unknown>): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'EdDSA', typ: 'JWT' })}.${part(claims)}.c2ln`;
}
const GOOD_TOKEN = jwt({ sub: 'user-1', email: 'u1@example.org' });
const BAD_TOKEN = jwt({ sub: 'user-2' });

/** A stand-in for mana-auth's POST /api/v1/auth/validate: valid only for GOOD_TOKEN. */
async function startAuthPeer(): Promise<{ url: string; calls: number; server: Server }> {
  const state = { url: '', calls: 0, server: undefined as unknown as Server };
  state.server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      state.calls++;
      const token = (() => { try { return JSON.parse(body).token; } catch { return undefined; } })();
      res.setHeader('Content-Type', 'application/json');
      if (req.url !== '/api/v1/auth/validate' || req.method !== 'POST') { res.statusCode = 404; res.end('{}'); return; }
      res.end(JSON.stringify(token === GOOD_TOKEN ? { valid: true, payload: { sub: 'user-1' } } : { valid: false }));
    });
  });
  await new Promise<void>((r) => state.server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}`;
  return state;
}

for (const factory of storeFactories()) {
  describe(`notify API contract (${factory.name})`, () => {
    let t: TestContext;
    let app: NotifyApp;
    let auth: Awaited<ReturnType<typeof startAuthPeer>>;
    let cleanupStore: () => Promise<void>;

    before(async () => {
      auth = await startAuthPeer();
      const opened = await factory.open();
      cleanupStore = opened.cleanup;
      t = await makeTestContext({ store: opened.store, overrides: { notify: { serviceKeys: [KEY, 'rotated-key'], authUrl: auth.url } } });
      await createTemplateStore({ store: t.ctx.store }).seedBuiltins();
      app = createNotifyApp({ ctx: t.ctx });
    });
    after(async () => {
      await t.cleanup();
      await cleanupStore();
      await new Promise((r) => auth.server.close(r));
    });

    async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = { 'X-Service-Key': KEY }) {
      const res = await app.request(path, {
        method,
        headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let json: any;
      try { json = JSON.parse(text); } catch { json = undefined; }
      return { status: res.status, json, text, type: res.headers.get('content-type') ?? '' };
    }
    const count = async () => Number((await t.ctx.store.get<{ n: number }>('SELECT COUNT(*) AS n FROM notify_notifications'))!.n);

    function assertError(r: Awaited<ReturnType<typeof call>>, status: number, message: string) {
      assert.equal(r.status, status, r.text);
      assert.equal(r.json.success, false);
      assert.equal(r.json.error.statusCode, status);
      assert.equal(r.json.error.message, message);
      assert.match(r.json.error.timestamp, RFC3339_UTC);
      assert.ok(r.text.endsWith('\n'), 'json.Encoder ends with a newline');
      assert.match(r.type, /application\/json/);
    }

    describe('auth (§1.2)', () => {
      it('a missing or wrong X-Service-Key is 401 {"error":"unauthorized: invalid service key"} as JSON', async () => {
        for (const headers of [{}, { 'X-Service-Key': 'wrong' }, { 'X-Service-Key': '' }] as Record<string, string>[]) {
          for (const [method, path] of [['POST', '/api/v1/notifications/send'], ['GET', '/api/v1/notifications/x'], ['GET', '/api/v1/templates'], ['DELETE', '/api/v1/templates/x']]) {
            const r = await call(method!, path!, method === 'POST' ? {} : undefined, headers);
            assert.equal(r.status, 401);
            assert.deepEqual(r.json, { error: 'unauthorized: invalid service key' });
            assert.match(r.type, /application\/json/);
          }
        }
      });
      it('every configured key is accepted (rotation)', async () => {
        const r = await call('GET', '/api/v1/templates', undefined, { 'X-Service-Key': 'rotated-key' });
        assert.equal(r.status, 200);
      });
    });

    describe('POST /api/v1/notifications/send (§1.5)', () => {
      it('undecodable bodies are 400 "invalid request body" in the error envelope', async () => {
        for (const body of ['{', '', '[]', '"x"', JSON.stringify({ channel: 'email', appId: 'a', recipient: 'a@example.org', body: 'b', data: 'not-an-object' }), JSON.stringify({ channel: 5 })]) {
          assertError(await call('POST', '/api/v1/notifications/send', body), 400, 'invalid request body');
        }
      });
      it('validation errors come in the original order with the original texts', async () => {
        const cases: Array<[unknown, string]> = [
          [{}, 'channel is required'],
          [{ channel: 'sms', appId: 'a' }, 'channel must be email, push, or webhook'],
          [{ channel: 'email' }, 'appId is required'],
          [{ channel: 'email', appId: 'a' }, 'recipient, recipients, or userId is required'],
          [{ channel: 'email', appId: 'a', recipient: 'a@example.org' }, 'template or body is required'],
          [{ channel: 'email', appId: 'a', recipients: [], body: 'x' }, 'recipient, recipients, or userId is required'],
        ];
        for (const [body, message] of cases) assertError(await call('POST', '/api/v1/notifications/send', body), 400, message);
      });
      it('a valid request is 202 {"notification":{"id","status":"pending"}}; unknown fields are ignored', async () => {
        const r = await call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'mana-auth', recipient: 'to@example.org', subject: 'S', body: '<p>B</p>', unknownField: 1 });
        assert.equal(r.status, 202);
        assert.deepEqual(Object.keys(r.json), ['notification']);
        assert.match(r.json.notification.id, /^[0-9a-f-]{36}$/);
        assert.equal(r.json.notification.status, 'pending');
      });
      it('the auth service\'s exact request is accepted (ORIGINAL §2.2)', async () => {
        const r = await call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'mana-auth', recipient: 'new@example.org', subject: 'E-Mail bestätigen — Mana', body: '<p>Hallo ,</p><p><a href="https://x/verify?token=1">E-Mail bestätigen</a></p>' });
        assert.equal(r.status, 202);
      });
      it('mana-credits\' userId-only request is accepted (ORIGINAL §1.14)', async () => {
        const r = await call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'sync', userId: 'u-credits', subject: 'Cloud Sync pausiert', body: '<p>x</p>', data: { type: 'sync-paused', resumeUrl: 'https://x' } });
        assert.equal(r.status, 202);
      });
      it('a repeated externalId is 200 {"notification":{"id","status":"existing"},"deduplicated":true}', async () => {
        const body = { channel: 'email', appId: 'a', recipient: 'x@example.org', body: 'b', externalId: `ext-${factory.name}` };
        const first = await call('POST', '/api/v1/notifications/send', body);
        assert.equal(first.status, 202);
        const second = await call('POST', '/api/v1/notifications/send', body);
        assert.equal(second.status, 200);
        assert.deepEqual(second.json, { notification: { id: first.json.notification.id, status: 'existing' }, deduplicated: true });
      });
      it('the Idempotency-Key header deduplicates like externalId', async () => {
        const body = { channel: 'email', appId: 'a', recipient: 'x@example.org', body: 'b' };
        const headers = { 'X-Service-Key': KEY, 'Idempotency-Key': `idem-${factory.name}` };
        const first = await call('POST', '/api/v1/notifications/send', body, headers);
        const second = await call('POST', '/api/v1/notifications/send', body, headers);
        assert.equal(first.status, 202);
        assert.equal(second.status, 200);
        assert.equal(second.json.notification.id, first.json.notification.id);
        assert.equal(second.json.deduplicated, true);
      });
      it('concurrent identical requests make one notification (the unique index decides)', async () => {
        const before = await count();
        const body = { channel: 'email', appId: 'a', recipient: 'x@example.org', body: 'b', externalId: `race-${factory.name}` };
        const results = await Promise.all(Array.from({ length: 20 }, () => call('POST', '/api/v1/notifications/send', body)));
        assert.equal(await count(), before + 1);
        assert.equal(results.filter((r) => r.status === 202).length, 1);
        assert.equal(new Set(results.map((r) => r.json.notification.id)).size, 1);
      });
      it('a user who turned email off gets 200 {"notification":{"status":"cancelled","reason":...}} and no row', async () => {
        await t.ctx.store.run("INSERT INTO notify_preferences (user_id, email_enabled, push_enabled, created_at, updated_at) VALUES ('pref-off', 0, 0, 0, 0)");
        const before = await count();
        const email = await call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'a', userId: 'pref-off', recipient: 'x@example.org', body: 'b' });
        assert.equal(email.status, 200);
        assert.deepEqual(email.json, { notification: { status: 'cancelled', reason: 'email notifications disabled by user' } });
        const push = await call('POST', '/api/v1/notifications/send', { channel: 'push', appId: 'a', userId: 'pref-off', recipient: 'ExponentPushToken[x]', body: 'b' });
        assert.deepEqual(push.json, { notification: { status: 'cancelled', reason: 'push notifications disabled by user' } });
        assert.equal(await count(), before);
      });
      it('quiet hours in the user\'s time zone drop the notification ("quiet hours active")', async () => {
        // A window covering the whole day except one minute, in UTC, spanning midnight.
        const now = new Date();
        const hm = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
        const start = hm(new Date(now.getTime() + 2 * 60_000));
        const end = hm(new Date(now.getTime() + 60_000));
        await t.ctx.store.run('INSERT INTO notify_preferences (user_id, email_enabled, quiet_hours_enabled, quiet_hours_start, quiet_hours_end, timezone, created_at, updated_at) VALUES (?, 1, 1, ?, ?, ?, 0, 0)', ['pref-quiet', start, end, 'UTC']);
        const r = await call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'a', userId: 'pref-quiet', recipient: 'x@example.org', body: 'b' });
        assert.deepEqual(r.json, { notification: { status: 'cancelled', reason: 'quiet hours active' } });
      });
      it('a body over 1 MiB is 400 invalid request body', async () => {
        const r = await call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'a', recipient: 'x@example.org', body: 'x'.repeat((1 << 20) + 10) });
        assertError(r, 400, 'invalid request body');
      });
      it('CR or LF in subject, recipient, from, reply-to or custom headers is 400 and nothing is stored (header injection)', async () => {
        const base = { channel: 'email', appId: 'a', recipient: 'x@example.org', subject: 'ok', body: 'b' };
        const attacks = [
          { ...base, subject: 'hi\r\nBcc: victim@example.org' },
          { ...base, subject: 'hi\nBcc: victim@example.org' },
          { ...base, recipient: 'x@example.org\r\nBcc: victim@example.org' },
          { ...base, recipients: ['y@example.org\nBcc: v@example.org'] },
          { ...base, emailOptions: { from: 'A <a@example.org>\r\nBcc: v@example.org' } },
          { ...base, emailOptions: { replyTo: 'r@example.org\r\nX-Evil: 1' } },
          { ...base, emailOptions: { headers: { 'X-Custom': 'v\r\nBcc: v@example.org' } } },
          { ...base, emailOptions: { headers: { 'X-Bad\r\nBcc': 'v' } } },
          { ...base, emailOptions: { headers: { Bcc: 'v@example.org' } } },
        ];
        const before = await count();
        for (const body of attacks) {
          const r = await call('POST', '/api/v1/notifications/send', body);
          assert.equal(r.status, 400, JSON.stringify(body));
          assert.equal(r.json.success, false);
        }
        assert.equal(await count(), before);
      });
      it('an unknown template with no body is 400, a known one is rendered with HTML-escaped values', async () => {
        assertError(await call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'a', recipient: 'x@example.org', template: 'no-such' }), 400, 'template not found: no-such');
        const r = await call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'a', recipient: 'x@example.org', template: 'auth-verification', data: { userName: '<script>x</script>', verificationUrl: 'https://x/v?a=1&b=2', locale: 'en-US' } });
        assert.equal(r.status, 202);
        const row = await t.ctx.store.get<{ subject: string; body: string; text_body: string }>('SELECT subject, body, text_body FROM notify_notifications WHERE id = ?', [r.json.notification.id]);
        assert.equal(row!.subject, BUILTIN_TEMPLATES.find((x) => x.slug === 'auth-verification' && x.locale === 'en-US')!.subject);
        assert.ok(row!.body.includes('&lt;script&gt;x&lt;/script&gt;'));
        assert.ok(!row!.body.includes('<script>'));
        assert.ok(row!.body.includes('https://x/v?a=1&amp;b=2'));
        assert.ok(row!.text_body.includes('<script>x</script>'), 'the text part carries the raw value');
      });
      it('request values win over the template\'s (fix: the original let the template override them)', async () => {
        const r = await call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'a', recipient: 'x@example.org', template: 'auth-welcome', subject: 'Mine' });
        const row = await t.ctx.store.get<{ subject: string }>('SELECT subject FROM notify_notifications WHERE id = ?', [r.json.notification.id]);
        assert.equal(row!.subject, 'Mine');
      });
    });

    describe('POST /api/v1/notifications/schedule (§1.6)', () => {
      const future = () => new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
      it('scheduledFor errors come first, then the send validation', async () => {
        assertError(await call('POST', '/api/v1/notifications/schedule', { channel: 'email' }), 400, 'scheduledFor must be a valid RFC3339 timestamp');
        assertError(await call('POST', '/api/v1/notifications/schedule', { scheduledFor: 'tomorrow' }), 400, 'scheduledFor must be a valid RFC3339 timestamp');
        assertError(await call('POST', '/api/v1/notifications/schedule', { scheduledFor: '2020-01-01T00:00:00Z' }), 400, 'scheduledFor must be in the future');
        assertError(await call('POST', '/api/v1/notifications/schedule', { scheduledFor: future() }), 400, 'channel is required');
        assertError(await call('POST', '/api/v1/notifications/schedule', '{'), 400, 'invalid request body');
      });
      it('202 {"notification":{"id","status":"pending","scheduledFor"}} and the row is due at that time', async () => {
        const when = future();
        const r = await call('POST', '/api/v1/notifications/schedule', { channel: 'email', appId: 'a', recipient: 'x@example.org', body: 'b', scheduledFor: when });
        assert.equal(r.status, 202);
        assert.equal(r.json.notification.status, 'pending');
        assert.equal(r.json.notification.scheduledFor, when);
        const g = await call('GET', `/api/v1/notifications/${r.json.notification.id}`);
        assert.equal(g.json.notification.scheduledFor, new Date(when).toISOString());
        const row = await t.ctx.store.get<{ next_attempt_at: number }>('SELECT next_attempt_at FROM notify_notifications WHERE id = ?', [r.json.notification.id]);
        assert.equal(Number(row!.next_attempt_at), Date.parse(when));
      });
    });

    describe('POST /api/v1/notifications/batch (§1.6)', () => {
      const item = (i: number) => ({ channel: 'email', appId: 'a', recipient: `b${i}@example.org`, body: 'b' });
      it('empty or missing notifications is 400 "notifications array is required"; over 100 is 400 "maximum 100 notifications per batch"', async () => {
        assertError(await call('POST', '/api/v1/notifications/batch', {}), 400, 'notifications array is required');
        assertError(await call('POST', '/api/v1/notifications/batch', { notifications: [] }), 400, 'notifications array is required');
        assertError(await call('POST', '/api/v1/notifications/batch', { notifications: Array.from({ length: 101 }, (_, i) => item(i)) }), 400, 'maximum 100 notifications per batch');
        assertError(await call('POST', '/api/v1/notifications/batch', { notifications: 'x' }), 400, 'invalid request body');
      });
      it('100 items are accepted; each item is validated on its own; always 202 with per-item results', async () => {
        const r100 = await call('POST', '/api/v1/notifications/batch', { notifications: Array.from({ length: 100 }, (_, i) => item(i)) });
        assert.equal(r100.status, 202);
        assert.equal(r100.json.succeeded, 100);
        assert.equal(r100.json.failed, 0);
        const r = await call('POST', '/api/v1/notifications/batch', { notifications: [item(1), { appId: 'a' }, { channel: 'email', appId: 'a', recipient: 'x@example.org' }] });
        assert.equal(r.status, 202);
        assert.equal(r.json.succeeded, 1);
        assert.equal(r.json.failed, 2);
        assert.equal(r.json.results[0].status, 'pending');
        assert.match(r.json.results[0].id, /^[0-9a-f-]{36}$/);
        assert.deepEqual(r.json.results[1], { status: 'failed', error: 'channel is required' });
        assert.deepEqual(r.json.results[2], { status: 'failed', error: 'template or body is required' });
      });
      it('a batch may be up to 5 MiB; above that it is 400 invalid request body', async () => {
        const big = 'x'.repeat(40 * 1024);
        const r = await call('POST', '/api/v1/notifications/batch', { notifications: Array.from({ length: 50 }, (_, i) => ({ ...item(i), body: big })) });
        assert.equal(r.status, 202, 'a 2 MiB batch is fine');
        const huge = 'x'.repeat(60 * 1024);
        assertError(await call('POST', '/api/v1/notifications/batch', { notifications: Array.from({ length: 90 }, (_, i) => ({ ...item(i), body: huge })) }), 400, 'invalid request body');
      });
    });

    describe('GET and DELETE /api/v1/notifications/{id} (§1.6)', () => {
      it('GET answers camelCase fields, omitting null ones; unknown and non-UUID ids are 404 "notification not found"', async () => {
        const s = await call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'app-x', recipient: 'g@example.org', subject: 'S', body: 'B', priority: 'high' });
        const g = await call('GET', `/api/v1/notifications/${s.json.notification.id}`);
        assert.equal(g.status, 200);
        const n = g.json.notification;
        assert.equal(n.id, s.json.notification.id);
        assert.equal(n.appId, 'app-x');
        assert.equal(n.channel, 'email');
        assert.equal(n.subject, 'S');
        assert.equal(n.body, 'B');
        assert.equal(n.status, 'pending');
        assert.equal(n.priority, 'high');
        assert.equal(n.recipient, 'g@example.org');
        assert.equal(n.attempts, 0);
        assert.ok(n.createdAt && n.updatedAt);
        for (const absent of ['userId', 'templateId', 'scheduledFor', 'externalId', 'deliveredAt', 'errorMessage']) assert.equal(absent in n, false, absent);
        assert.deepEqual(n.deliveryLogs, []);
        assertError(await call('GET', '/api/v1/notifications/00000000-0000-4000-8000-000000000000'), 404, 'notification not found');
        assertError(await call('GET', '/api/v1/notifications/nope'), 404, 'notification not found');
      });
      it('DELETE of a pending notification is 200 {"cancelled":true}; again, or unknown, is 404 "notification not found or already processed"', async () => {
        const s = await call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'a', recipient: 'c@example.org', body: 'B' });
        const id = s.json.notification.id;
        const d = await call('DELETE', `/api/v1/notifications/${id}`);
        assert.equal(d.status, 200);
        assert.deepEqual(d.json, { cancelled: true });
        assert.equal((await call('GET', `/api/v1/notifications/${id}`)).json.notification.status, 'cancelled');
        assertError(await call('DELETE', `/api/v1/notifications/${id}`), 404, 'notification not found or already processed');
        assertError(await call('DELETE', '/api/v1/notifications/nope'), 404, 'notification not found or already processed');
      });
    });

    describe('templates (§1.11)', () => {
      it('GET /templates lists the built-ins (auth-* in de-DE and en-US) as system templates', async () => {
        const r = await call('GET', '/api/v1/templates');
        assert.equal(r.status, 200);
        for (const slug of ['auth-verification', 'auth-password-reset', 'auth-welcome', 'auth-invitation', 'auth-magic-link', 'auth-account-deleted']) {
          for (const locale of ['de-DE', 'en-US']) {
            const tpl = r.json.templates.find((x: any) => x.slug === slug && x.locale === locale);
            assert.ok(tpl, `${slug} ${locale}`);
            assert.equal(tpl.isSystem, true);
            assert.ok(Array.isArray(tpl.variables), 'variables are JSON, not base64');
          }
        }
      });
      it('POST /templates: 400 "slug, channel, and bodyTemplate are required", 201 {"id"}, 409 on a taken slug+locale', async () => {
        assertError(await call('POST', '/api/v1/templates', { slug: 'x' }), 400, 'slug, channel, and bodyTemplate are required');
        assertError(await call('POST', '/api/v1/templates', '{'), 400, 'invalid request body');
        const tpl = { slug: `welcome-${factory.name}`, channel: 'email', subject: 'Hi {{name}}', bodyTemplate: '<p>Hello {{name}}</p>' };
        const c = await call('POST', '/api/v1/templates', tpl);
        assert.equal(c.status, 201);
        assert.match(c.json.id, /^[0-9a-f-]{36}$/);
        assertError(await call('POST', '/api/v1/templates', tpl), 409, 'template already exists for this slug+locale');
        const en = await call('POST', '/api/v1/templates', { ...tpl, locale: 'en-US' });
        assert.equal(en.status, 201);
      });
      it('GET /templates/{slug}?locale (default de-DE); 404 "template not found"', async () => {
        const de = await call('GET', '/api/v1/templates/auth-welcome');
        assert.equal(de.status, 200);
        assert.equal(de.json.template.locale, 'de-DE');
        const en = await call('GET', '/api/v1/templates/auth-welcome?locale=en-US');
        assert.equal(en.json.template.locale, 'en-US');
        assertError(await call('GET', '/api/v1/templates/nope'), 404, 'template not found');
      });
      it('PUT and DELETE change only non-system templates; system ones are 404 "template not found or is a system template"', async () => {
        const slug = `editable-${factory.name}`;
        await call('POST', '/api/v1/templates', { slug, channel: 'email', bodyTemplate: 'v1' });
        const u = await call('PUT', `/api/v1/templates/${slug}`, { bodyTemplate: 'v2 {{x}}', isActive: true });
        assert.equal(u.status, 200);
        assert.deepEqual(u.json, { updated: true });
        assert.equal((await call('GET', `/api/v1/templates/${slug}`)).json.template.bodyTemplate, 'v2 {{x}}');
        assertError(await call('PUT', '/api/v1/templates/auth-welcome', { bodyTemplate: 'hacked' }), 404, 'template not found or is a system template');
        assertError(await call('DELETE', '/api/v1/templates/auth-welcome'), 404, 'template not found or is a system template');
        const d = await call('DELETE', `/api/v1/templates/${slug}`);
        assert.deepEqual(d.json, { deleted: true });
        assertError(await call('DELETE', `/api/v1/templates/${slug}`), 404, 'template not found or is a system template');
      });
      it('POST /templates/{slug}/preview renders with HTML-escaped variables; unknown slug is 404', async () => {
        const p = await call('POST', '/api/v1/templates/auth-password-reset/preview', { data: { userName: 'A&B <x>', resetUrl: 'https://r/x' } });
        assert.equal(p.status, 200);
        assert.equal(typeof p.json.subject, 'string');
        assert.ok(p.json.body.includes('A&amp;B &lt;x&gt;'));
        assert.ok(p.json.body.includes('https://r/x'));
        assertError(await call('POST', '/api/v1/templates/nope/preview', { data: {} }), 404, 'template not found');
      });
      it('POST /templates/preview renders ad hoc; a broken template is 400 "invalid body template: …"', async () => {
        const p = await call('POST', '/api/v1/templates/preview', { subject: 'Hi {{.name}}', bodyTemplate: '<p>{{.name}}</p>{{if .x}}X{{end}}', data: { name: '<b>' } });
        assert.equal(p.status, 200);
        assert.equal(p.json.subject, 'Hi <b>');
        assert.equal(p.json.body, '<p>&lt;b&gt;</p>');
        const bad = await call('POST', '/api/v1/templates/preview', { bodyTemplate: '{{if .x}}never closed', data: {} });
        assert.equal(bad.status, 400);
        assert.match(bad.json.error.message, /^invalid body template: /);
        const badSubject = await call('POST', '/api/v1/templates/preview', { subject: '{{', bodyTemplate: 'x' });
        assert.match(badSubject.json.error.message, /^invalid subject template: /);
      });
    });

    describe('preferences and devices (§1.12, Bearer JWT)', () => {
      const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
      it('no token is 401 "unauthorized: missing token"; a token auth rejects is 401 "unauthorized: invalid token"', async () => {
        for (const [m, p] of [['GET', '/api/v1/preferences'], ['PUT', '/api/v1/preferences'], ['GET', '/api/v1/devices'], ['POST', '/api/v1/devices/register'], ['DELETE', '/api/v1/devices/x']]) {
          const none = await call(m!, p!, m === 'GET' || m === 'DELETE' ? undefined : {}, {});
          assert.equal(none.status, 401);
          assert.deepEqual(none.json, { error: 'unauthorized: missing token' });
          const bad = await call(m!, p!, m === 'GET' || m === 'DELETE' ? undefined : {}, bearer(BAD_TOKEN));
          assert.equal(bad.status, 401);
          assert.deepEqual(bad.json, { error: 'unauthorized: invalid token' });
        }
      });
      it('GET /preferences without a row answers the defaults; PUT upserts keeping old values; the send path honours them', async () => {
        const d = await call('GET', '/api/v1/preferences', undefined, bearer(GOOD_TOKEN));
        assert.equal(d.status, 200);
        assert.deepEqual(d.json, { preferences: { emailEnabled: false, pushEnabled: true, quietHoursEnabled: false, timezone: 'Europe/Berlin' } });
        assert.deepEqual((await call('PUT', '/api/v1/preferences', { emailEnabled: true, timezone: 'UTC' }, bearer(GOOD_TOKEN))).json, { updated: true });
        assert.equal((await call('PUT', '/api/v1/preferences', { pushEnabled: false }, bearer(GOOD_TOKEN))).status, 200);
        const g = (await call('GET', '/api/v1/preferences', undefined, bearer(GOOD_TOKEN))).json.preferences;
        assert.equal(g.emailEnabled, true);
        assert.equal(g.pushEnabled, false);
        assert.equal(g.timezone, 'UTC');
        assertError(await call('PUT', '/api/v1/preferences', { quietHoursStart: '25:00' }, bearer(GOOD_TOKEN)), 400, 'quietHoursStart must be HH:MM (00:00-23:59)');
        const push = await call('POST', '/api/v1/notifications/send', { channel: 'push', appId: 'a', userId: 'user-1', recipient: 'tok', body: 'b' });
        assert.equal(push.json.notification.reason, 'push notifications disabled by user');
        const email = await call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'a', userId: 'user-1', recipient: 'u1@example.org', body: 'b' });
        assert.equal(email.status, 202);
      });
      it('devices: register 201 {"device":{"id"}}, 400 "pushToken is required", list, soft delete, 404 "device not found"', async () => {
        assertError(await call('POST', '/api/v1/devices/register', {}, bearer(GOOD_TOKEN)), 400, 'pushToken is required');
        const r = await call('POST', '/api/v1/devices/register', { pushToken: `ExponentPushToken[${factory.name}]`, platform: 'ios' }, bearer(GOOD_TOKEN));
        assert.equal(r.status, 201);
        const again = await call('POST', '/api/v1/devices/register', { pushToken: `ExponentPushToken[${factory.name}]` }, bearer(GOOD_TOKEN));
        assert.equal(again.json.device.id, r.json.device.id, 'upsert on the token');
        const list = await call('GET', '/api/v1/devices', undefined, bearer(GOOD_TOKEN));
        assert.equal(list.json.devices.length, 1);
        assert.equal(list.json.devices[0].platform, 'ios');
        assert.deepEqual((await call('DELETE', `/api/v1/devices/${r.json.device.id}`, undefined, bearer(GOOD_TOKEN))).json, { deleted: true });
        assertError(await call('DELETE', `/api/v1/devices/${r.json.device.id}`, undefined, bearer(GOOD_TOKEN)), 404, 'device not found');
        assert.deepEqual((await call('GET', '/api/v1/devices', undefined, bearer(GOOD_TOKEN))).json, { devices: [] });
      });
    });

    describe('health, metrics, openapi, unknown routes (§1.1, §1.13)', () => {
      it('GET /health is 200 {status, version, service:"mana-notify", uptime, timestamp, services} without a key', async () => {
        const r = await call('GET', '/health', undefined, {});
        assert.equal(r.status, 200);
        assert.equal(r.json.status, 'healthy');
        assert.equal(r.json.version, '1.0.0');
        assert.equal(r.json.service, 'mana-notify');
        assert.equal(typeof r.json.uptime, 'number');
        assert.match(r.json.timestamp, RFC3339_UTC);
        assert.equal(r.json.services.database, true);
      });
      it('GET /metrics is Prometheus text with the original metric names', async () => {
        const r = await call('GET', '/metrics', undefined, {});
        assert.equal(r.status, 200);
        assert.match(r.type, /^text\/plain/);
        for (const name of ['mana_notify_notifications_sent_total', 'mana_notify_notifications_failed_total', 'mana_notify_emails_sent_total', 'mana_notify_notification_latency_seconds', 'mana_notify_notifications_accepted_total']) {
          assert.match(r.text, new RegExp(`# TYPE ${name} `));
        }
        assert.match(r.text, /mana_notify_notifications_accepted_total\{[^}]*channel="email"[^}]*\} \d+/);
      });
      it('GET /openapi.json describes every route and the request schemas that validate them', async () => {
        const r = await call('GET', '/openapi.json', undefined, {});
        assert.equal(r.status, 200);
        assert.equal(r.json.openapi, '3.1.0');
        for (const p of ['/api/v1/notifications/send', '/api/v1/notifications/schedule', '/api/v1/notifications/batch', '/api/v1/notifications/{id}', '/api/v1/templates', '/api/v1/templates/{slug}', '/api/v1/templates/{slug}/preview', '/api/v1/templates/preview', '/api/v1/preferences', '/api/v1/devices', '/health', '/metrics']) {
          assert.ok(r.json.paths[p], p);
        }
        const send = r.json.components.schemas.SendRequest;
        assert.ok(send.properties.channel && send.properties.emailOptions);
        assert.deepEqual(send.properties.channel.enum, ['email', 'push', 'webhook']);
      });
      it('an unknown route is Go\'s 404 "404 page not found"; a known path with the wrong method is 405', async () => {
        const r = await call('GET', '/api/v1/nope', undefined, {});
        assert.equal(r.status, 404);
        assert.equal(r.text, '404 page not found\n');
        const m = await call('PUT', '/api/v1/notifications/send', {}, { 'X-Service-Key': KEY });
        assert.equal(m.status, 405);
      });
    });
  });
}
