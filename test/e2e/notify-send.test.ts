// End to end: notify accepts over HTTP, commits, submits over SMTP (STARTTLS + AUTH) to a real peer, and takes delivery status from signed mail-server events; on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { storeFactories } from '../support/stores.ts';
import { startHarness, type Harness } from './notify-harness.ts';

for (const factory of storeFactories()) {
  describe(`notify send path (${factory.name})`, () => {
    let h: Harness;
    let cleanupStore: () => Promise<void>;
    before(async () => {
      const opened = await factory.open();
      cleanupStore = opened.cleanup;
      h = await startHarness({ store: opened.store });
    });
    after(async () => {
      await h.close();
      await cleanupStore();
    });

    it('a 202 is answered only after the notification is committed, and the message reaches the SMTP server after STARTTLS and AUTH (RFC 3207, RFC 4954)', async () => {
      const res = await h.call('POST', '/api/v1/notifications/send', {
        channel: 'email', appId: 'mana-auth', recipient: 'user@example.org', subject: 'Grüße — Mana', body: '<p>Hallo <b>Welt</b></p>',
      });
      assert.equal(res.status, 202);
      assert.equal(res.json.notification.status, 'pending');
      const id = res.json.notification.id;
      // Committed: readable at once from the store.
      const row = await h.t.ctx.store.get<{ id: string }>('SELECT id FROM notify_notifications WHERE id = ?', [id]);
      assert.equal(row?.id, id);

      const n = await h.waitFor(id, (x) => x.status === 'sent');
      const received = h.peer.messages.find((m) => m.raw.toString().includes(id));
      assert.ok(received, 'the peer received the message');
      assert.equal(received.tls, true);
      assert.equal(received.user, 'noreply');
      assert.equal(received.mailFrom, 'noreply@mana.test');
      assert.deepEqual(received.rcptTo, ['user@example.org']);
      const mail = await simpleParser(received.raw);
      assert.equal(mail.subject, 'Grüße — Mana');
      assert.match(received.raw.toString(), /^Subject: =\?UTF-8\?/m, 'the non-ASCII subject is RFC 2047-encoded');
      assert.equal(mail.html && mail.html.includes('<b>Welt</b>'), true);
      assert.match(mail.text ?? '', /Hallo Welt/);
      assert.match(mail.messageId ?? '', /^<[0-9a-f]+@mana\.test>$/);
      assert.equal(n.messageId, mail.messageId);
      assert.ok(mail.date instanceof Date);
      assert.equal(n.attempts, 1);
      assert.equal(n.deliveryLogs.length, 1);
      assert.equal(n.deliveryLogs[0].success, true);
      assert.equal(n.deliveryLogs[0].provider, 'primary');
      assert.equal(n.deliveryLogs[0].statusCode, 250);
    });

    it('a signed "delivered" event from the mail server marks the notification delivered, once per event id', async () => {
      const res = await h.call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'a', recipient: 'd@example.org', subject: 's', body: 'b' });
      const id = res.json.notification.id;
      const n = await h.waitFor(id, (x) => x.status === 'sent');
      const event = JSON.stringify({ id: `ev-${id}`, type: 'delivered', queueId: 'Q1', messageId: n.messageId, recipient: 'd@example.org', at: new Date().toISOString(), data: { reply: '250 2.0.0 ok' } });
      const post = (body: string, signature: string | undefined) =>
        fetch(`${h.url}/api/v1/internal/mail-events`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...(signature ? { 'X-Mana-Signature': signature } : {}) }, body });

      assert.equal((await post(event, undefined)).status, 401);
      assert.equal((await post(event, `sha256=${'0'.repeat(64)}`)).status, 401);
      const ok = await post(event, h.sign(event));
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { ok: true, matched: true, duplicate: false, status: 'delivered' });
      const again = await post(event, h.sign(event));
      assert.equal((await again.json()).duplicate, true);

      const after = (await h.call('GET', `/api/v1/notifications/${id}`)).json.notification;
      assert.equal(after.status, 'delivered');
      assert.ok(after.deliveredAt);
      assert.equal(after.deliveryLogs.filter((l: any) => l.event === 'delivered').length, 1, 'the replayed event was not applied twice');
    });

    it('a deferred event keeps the status sent and is recorded; a bounce marks it bounced', async () => {
      const res = await h.call('POST', '/api/v1/notifications/send', { channel: 'email', appId: 'a', recipient: 'b@example.org', subject: 's', body: 'b' });
      const id = res.json.notification.id;
      const n = await h.waitFor(id, (x) => x.status === 'sent');
      const send = async (type: string, n2: number) => {
        const raw = JSON.stringify({ id: `${type}-${n2}-${id}`, type, queueId: 'Q', messageId: n.messageId, recipient: 'b@example.org', at: new Date().toISOString(), data: { reply: `${type} reply` } });
        const r = await fetch(`${h.url}/api/v1/internal/mail-events`, { method: 'POST', headers: { 'X-Mana-Signature': h.sign(raw) }, body: raw });
        assert.equal(r.status, 200);
      };
      await send('deferred', 1);
      let now = (await h.call('GET', `/api/v1/notifications/${id}`)).json.notification;
      assert.equal(now.status, 'sent');
      assert.equal(now.deliveryLogs.at(-1).event, 'deferred');
      await send('bounced', 2);
      now = (await h.call('GET', `/api/v1/notifications/${id}`)).json.notification;
      assert.equal(now.status, 'bounced');
      assert.match(now.errorMessage, /bounced reply/);
    });

    it('an event for a Message-ID notify did not send is acknowledged and changes nothing', async () => {
      const raw = JSON.stringify({ id: 'foreign-1', type: 'delivered', queueId: 'Q', messageId: '<nobody@example.org>', at: new Date().toISOString(), data: {} });
      const r = await fetch(`${h.url}/api/v1/internal/mail-events`, { method: 'POST', headers: { 'X-Mana-Signature': h.sign(raw) }, body: raw });
      assert.equal(r.status, 200);
      assert.equal((await r.json()).matched, false);
    });

    it('GET of an unknown or malformed id is 404 notification not found', async () => {
      for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
        const r = await h.call('GET', `/api/v1/notifications/${id}`);
        assert.equal(r.status, 404);
        assert.equal(r.json.error.message, 'notification not found');
      }
    });
  });
}
