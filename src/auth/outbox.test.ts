// Tests of the auth outbox: an outage of notify never loses an email, retries reuse one externalId, refused and expired emails stop.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from '../../test/support/context.ts';
import { startAuth } from './service.ts';
import { createOutbox, externalIdOf, listOutbox } from './outbox.ts';
import { createNotifyClient } from './notify-client.ts';
import { startNotifyRecorder, type NotifyRecorder } from './test-notify.ts';
import { createTestClient } from './test-client.ts';
import { backends } from './test-backends.ts';
import { verificationEmail } from './emails.ts';
import { silentLogger } from '../lib/log.ts';

for (const backend of backends()) {
  describe(`auth outbox (${backend.name})`, () => {
    let t: TestContext;
    let notify: NotifyRecorder;

    before(async () => {
      t = await backend.make();
      notify = await startNotifyRecorder({ serviceKey: t.ctx.secrets.serviceKeys[0]! });
    });
    after(async () => {
      await notify?.close();
      await t?.cleanup();
    });

    it('with notify down, sign-up still succeeds and the verification email arrives once notify is back', async () => {
      const svc = await startAuth(t.ctx, { notifyUrl: notify.url, floorMs: 0, outboxRetryDelaysMs: [100, 200], outboxPollMs: 50 });
      try {
        await notify.stop();
        const client = createTestClient(svc.urls['auth-http']!);
        const res = await client.postJson('/api/auth/sign-up/email', { email: 'patient@example.test', password: 'correct horse battery', name: 'Pat' });
        assert.equal(res.status, 200, 'sign-up does not wait for notify');
        await svc.runtime.outbox.flush();
        const [row] = await listOutbox(t.ctx.store, { recipient: 'patient@example.test' });
        assert.equal(row?.status, 'pending');
        assert.ok(row!.attempts >= 1);
        assert.match(String(row!.last_error), /notify unreachable/);

        await notify.start();
        const mail = await notify.waitFor((e) => e.recipient === 'patient@example.test');
        assert.equal(mail.template, 'auth-verification');
        assert.equal(mail.externalId, externalIdOf(row!.id));
        await svc.runtime.outbox.flush();
        const [after] = await listOutbox(t.ctx.store, { recipient: 'patient@example.test' });
        assert.equal(after?.status, 'sent');
        assert.equal(notify.emails.filter((e) => e.recipient === 'patient@example.test').length, 1);
      } finally {
        await svc.close();
      }
    });

    it('an email waiting for notify survives a restart of auth', async () => {
      await notify.stop();
      const first = await startAuth(t.ctx, { notifyUrl: notify.url, floorMs: 0, outboxRetryDelaysMs: [100], outboxPollMs: 50 });
      const client = createTestClient(first.urls['auth-http']!);
      assert.equal((await client.postJson('/api/auth/sign-up/email', { email: 'durable@example.test', password: 'correct horse battery', name: 'Dee' })).status, 200);
      await first.close();
      await notify.start();
      const second = await startAuth(t.ctx, { notifyUrl: notify.url, floorMs: 0, outboxRetryDelaysMs: [100], outboxPollMs: 50 });
      try {
        const mail = await notify.waitFor((e) => e.recipient === 'durable@example.test');
        assert.equal(mail.template, 'auth-verification');
      } finally {
        await second.close();
      }
    });

    it('a retry after a lost answer is deduplicated by notify through the same externalId', async () => {
      const outbox = createOutbox({ store: t.ctx.store, notify: createNotifyClient({ url: notify.url, serviceKey: t.ctx.secrets.serviceKeys[0]! }), log: silentLogger() });
      const id = await outbox.enqueue(verificationEmail({ to: 'twice@example.test', url: 'http://x.test/verify?token=a', locale: 'en-US' }));
      await outbox.flush();
      // Pretend the 202 was lost: the row goes back to pending with its payload, as after a crash mid-send.
      const payload = JSON.stringify(verificationEmail({ to: 'twice@example.test', url: 'http://x.test/verify?token=a', locale: 'en-US' }).request);
      await t.ctx.store.run("UPDATE auth_outbox SET status = 'pending', payload = ?, next_attempt_at = 0 WHERE id = ?", [payload, id]);
      const postsBefore = notify.posts;
      await outbox.flush();
      assert.equal(notify.posts, postsBefore + 1, 'notify was asked again');
      assert.equal(notify.emails.filter((e) => e.recipient === 'twice@example.test').length, 1, 'but recorded the email once');
      const [row] = await listOutbox(t.ctx.store, { recipient: 'twice@example.test' });
      assert.equal(row?.status, 'sent');
    });

    it('an email notify refuses (4xx other than 401/429) is not retried', async () => {
      const outbox = createOutbox({ store: t.ctx.store, notify: createNotifyClient({ url: `${notify.url}/nowhere`, serviceKey: t.ctx.secrets.serviceKeys[0]! }), log: silentLogger() });
      await outbox.enqueue(verificationEmail({ to: 'refused@example.test', url: 'http://x.test/verify?token=b', locale: 'en-US' }));
      await outbox.flush();
      const [row] = await listOutbox(t.ctx.store, { recipient: 'refused@example.test' });
      assert.equal(row?.status, 'rejected');
      assert.match(String(row?.last_error), /404/);
    });

    it('a wrong service key (401) is retried, not dropped', async () => {
      const outbox = createOutbox({ store: t.ctx.store, notify: createNotifyClient({ url: notify.url, serviceKey: 'wrong' }), log: silentLogger() });
      await outbox.enqueue(verificationEmail({ to: 'wrongkey@example.test', url: 'http://x.test/verify?token=c', locale: 'en-US' }));
      await outbox.flush();
      const [row] = await listOutbox(t.ctx.store, { recipient: 'wrongkey@example.test' });
      assert.equal(row?.status, 'pending');
      assert.match(String(row?.last_error), /401/);
    });

    it('an email whose link has expired is not sent any more', async () => {
      let clock = Date.now();
      const outbox = createOutbox({ store: t.ctx.store, notify: createNotifyClient({ url: notify.url, serviceKey: t.ctx.secrets.serviceKeys[0]! }), log: silentLogger(), now: () => clock });
      await notify.stop();
      await outbox.enqueue(verificationEmail({ to: 'expired@example.test', url: 'http://x.test/verify?token=d', locale: 'en-US', now: clock }));
      await outbox.flush();
      await notify.start();
      clock += 25 * 3600_000;
      await outbox.flush();
      const [row] = await listOutbox(t.ctx.store, { recipient: 'expired@example.test' });
      assert.equal(row?.status, 'expired');
      assert.equal(notify.emails.filter((e) => e.recipient === 'expired@example.test').length, 0);
    });
  });
}
