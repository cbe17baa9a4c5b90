// End to end: notify's webhook channel against a real HTTP receiver: method, JSON body, custom headers, HMAC-SHA256 signature (RFC 2104), retries on 5xx, no retry on 4xx, timeout.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { storeFactories } from '../support/stores.ts';
import { startHarness, type Harness } from './notify-harness.ts';

type Hit = { method: string; path: string; headers: IncomingHttpHeaders; body: string };

for (const factory of storeFactories()) {
  describe(`notify webhook channel (${factory.name})`, () => {
    let h: Harness;
    let receiver: Server;
    let base: string;
    let cleanupStore: () => Promise<void>;
    const hits: Hit[] = [];
    const counts = new Map<string, number>();

    before(async () => {
      receiver = createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          const path = req.url ?? '/';
          hits.push({ method: req.method ?? '', path, headers: req.headers, body });
          const n = (counts.get(path) ?? 0) + 1;
          counts.set(path, n);
          if (path === '/flaky' && n < 3) { res.statusCode = 503; res.end('busy'); return; }
          if (path === '/gone') { res.statusCode = 404; res.end('no'); return; }
          if (path === '/slow') return; // never answers: the timeout ends the attempt
          res.statusCode = 204;
          res.end();
        });
      });
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
      const opened = await factory.open();
      cleanupStore = opened.cleanup;
      h = await startHarness({ store: opened.store, tuning: { retry: { webhook: { baseMs: 30, maxAttempts: 3 } } } });
    });
    after(async () => {
      await h.close();
      receiver.closeAllConnections();
      await new Promise((r) => receiver.close(r));
      await cleanupStore();
    });

    const send = async (body: Record<string, unknown>) => {
      const r = await h.call('POST', '/api/v1/notifications/send', { channel: 'webhook', appId: 'hooks', body: 'unused', ...body });
      assert.equal(r.status, 202, r.text);
      return r.json.notification.id as string;
    };

    it('PUTs data as JSON with the custom headers and a verifiable X-Mana-Signature', async () => {
      const id = await send({ recipient: `${base}/ok`, data: { event: 'user.created', n: 1 }, webhookOptions: { method: 'PUT', headers: { 'X-Tenant': 't1' } } });
      const n = await h.waitFor(id, (x) => x.status === 'sent');
      const hit = hits.find((x) => x.headers['x-mana-notification-id'] === id)!;
      assert.equal(hit.method, 'PUT');
      assert.deepEqual(JSON.parse(hit.body), { event: 'user.created', n: 1 });
      assert.equal(hit.headers['content-type'], 'application/json');
      assert.equal(hit.headers['user-agent'], 'ManaNotify/1.0');
      assert.equal(hit.headers['x-tenant'], 't1');
      assert.equal(hit.headers['x-mana-signature'], `sha256=${createHmac('sha256', 'hook-secret').update(hit.body).digest('hex')}`);
      assert.equal(n.deliveryLogs[0].statusCode, 204);
    });

    it('a 5xx answer is retried until it succeeds', async () => {
      const id = await send({ recipient: `${base}/flaky`, data: { x: 1 } });
      const n = await h.waitFor(id, (x) => x.status === 'sent');
      assert.equal(n.attempts, 3);
      assert.deepEqual(n.deliveryLogs.map((l: any) => l.statusCode), [503, 503, 204]);
      assert.equal(n.deliveryLogs[0].errorMessage, 'webhook returned 503');
    });

    it('a 4xx answer fails at once', async () => {
      const id = await send({ recipient: `${base}/gone`, data: {} });
      const n = await h.waitFor(id, (x) => x.status === 'failed');
      assert.equal(n.attempts, 1);
      assert.equal(n.errorMessage, 'webhook returned 404');
    });

    it('webhookOptions.timeout ends an attempt that gets no answer', async () => {
      const id = await send({ recipient: `${base}/slow`, data: {}, webhookOptions: { timeout: 100 } });
      const n = await h.waitFor(id, (x) => x.status === 'failed');
      assert.equal(n.attempts, 3);
      assert.match(n.errorMessage, /timed out after 100 ms/);
    });

    it('CR/LF in a webhook header value is 400 and nothing is stored', async () => {
      const r = await h.call('POST', '/api/v1/notifications/send', { channel: 'webhook', appId: 'hooks', recipient: `${base}/ok`, body: 'x', webhookOptions: { headers: { 'X-A': 'v\r\nX-B: w' } } });
      assert.equal(r.status, 400);
    });
  });
}
