// Whole stack in capture mode: with notify stopped during sign-up, the verification email reaches the captured mailbox once notify is back, and its link confirms the account.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { capturedInbox } from '../support/browser.ts';
import { freePort } from '../support/tmp.ts';
import { stackBackends } from '../support/stores.ts';
import { loadConfig } from '../../src/config/load.ts';
import { localSmtpProvider, startStack, type Stack } from '../../src/stack/start.ts';
import { startNotify } from '../../src/notify/service.ts';
import { createLogger, silentLogger } from '../../src/lib/log.ts';
import type { RunningService } from '../../src/stack/context.ts';
import { listOutbox } from '../../src/auth/outbox.ts';
import { createTestClient, hiddenField, pathOf } from '../../src/auth/test-client.ts';
import { poll } from '../support/poll.ts';

const local = { host: '127.0.0.1', port: 0 };

for (const backend of stackBackends()) {
  describe(`auth survives a notify outage (${backend.name})`, () => {
    let dataDir: string;
    let dropDb: () => Promise<void>;
    let stack: Stack;
    let revived: RunningService | undefined;

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'mana-auth-outage-'));
      const db = await backend.databaseUrl();
      dropDb = db.drop;
      // notify on a fixed port, so that it can come back where auth expects it.
      const notifyPort = await freePort();
      const config = loadConfig({
        env: { MANA_DATA_DIR: dataDir, MANA_LOG_LEVEL: 'silent', ...(db.url ? { DATABASE_URL: db.url } : {}) },
        overrides: {
          mail: { domain: 'mana.test', delivery: 'capture', listeners: { inbound: local, submission: local, submissions: local, admin: local, imap: local, imaps: local } },
          notify: { listener: { host: '127.0.0.1', port: notifyPort } },
          auth: { listener: local },
        },
      });
      stack = await startStack({ config, services: ['mail', 'notify', 'auth'], announce: () => {}, logger: () => silentLogger() });
    });
    after(async () => {
      // Says which step a slow teardown is in (a shutdown that hangs shows here, not as a bare timeout).
      let step = 'closing the revived notify';
      const watch = setInterval(() => console.log(`# still in teardown (${backend.name}): ${step}`), 15_000);
      await revived?.close();
      step = 'closing the stack';
      await stack?.close();
      step = 'dropping the schema';
      await dropDb?.();
      clearInterval(watch);
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    it('sign-up answers while notify is down; the verification email is captured after notify is back and confirms the account', async () => {
      const base = stack.urls['auth-http']!;
      const inbox = capturedInbox({ store: stack.store, base });
      const since = await inbox.mark();
      await stack.notify!.close();

      const email = `outage-${backend.name}@example.test`;
      const client = createTestClient(base);
      const res = await client.postJson('/api/auth/sign-up/email', { email, password: 'correct horse battery', name: 'Otto' });
      assert.equal(res.status, 200, 'sign-up does not fail because notify is down');
      const failed = await poll('a failed attempt to reach notify', async () => {
        const [row] = await listOutbox(stack.store, { recipient: email });
        return row && row.attempts >= 1 ? row : undefined;
      });
      assert.equal(failed.status, 'pending');
      assert.match(String(failed.last_error), /notify unreachable/);

      // Warnings on stderr: a slow step of this notify's shutdown (notify.close_slow, with its stage) shows in the test log.
      const ctx = { config: stack.config, store: stack.store, log: createLogger({ dataDir, service: 'notify', level: 'warn' }), secrets: stack.secrets, announce: () => {} };
      revived = await startNotify(ctx, { smtp: localSmtpProvider(stack.config, stack.secrets, stack.mail!.ports.submission) });

      const link = await inbox.link({ to: email, path: '/verify', since, timeoutMs: 60_000 });
      const page = await client.get(pathOf(link));
      const confirmed = await client.postForm('/verify', { token: hiddenField(await page.text(), 'token')! });
      assert.equal(confirmed.status, 200);
      const signIn = await createTestClient(base).postForm('/sign-in', { email, password: 'correct horse battery' });
      assert.equal(signIn.status, 303);
      const rows = await listOutbox(stack.store, { recipient: email });
      assert.equal(rows.find((r) => r.kind === 'verification')?.status, 'sent');
      assert.equal(rows.filter((r) => r.kind === 'verification').length, 1, 'one verification email, however many attempts');
    });
  });
}
