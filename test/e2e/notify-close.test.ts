// notify's shutdown: close() ends even while a keep-alive client keeps sending requests on its connection (HTTP/1.1 persistent connections, RFC 9112 §9.3), as the mail server's webhooks and auth's outbox do.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request, Agent } from 'node:http';
import { startHarness } from './notify-harness.ts';

describe('notify close()', () => {
  it('ends while a keep-alive client keeps its connection busy', async () => {
    const h = await startHarness({ tuning: { closeConnectionsAfterMs: 300 } });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const { port } = new URL(h.url);
    let sent = 0;
    let stop = false;
    // One persistent connection that is never idle: a new request as soon as the last is answered.
    const loop = (async () => {
      while (!stop) {
        const ok = await new Promise<boolean>((resolve) => {
          const req = request({ host: '127.0.0.1', port, path: '/health', agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(true));
          });
          req.on('error', () => resolve(false));
          req.end();
        });
        if (!ok) break;
        sent++;
      }
    })();
    while (sent < 5) await new Promise((r) => setTimeout(r, 10));
    // Without the forced close of busy connections this never resolves and the test times out.
    await h.close();
    stop = true;
    await loop;
    agent.destroy();
    assert.ok(sent >= 5);
  });
});
