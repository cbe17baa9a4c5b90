// A person in Chromium at auth's pages on the whole stack in capture mode: register, confirm from the captured email, sign in; reset the password from the email; accept an organization invitation from its email. Screenshots in test-artifacts/auth-browser-*/.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { capturedInbox, launchBrowser, type Inbox, type TestBrowser } from '../support/browser.ts';
import { loadConfig } from '../../src/config/load.ts';
import { startStack, type Stack } from '../../src/stack/start.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { stackBackends } from '../support/stores.ts';

const local = { host: '127.0.0.1', port: 0 };

const PASSWORD = 'correct horse battery';

for (const backend of stackBackends()) {
  describe(`auth in a browser, whole stack in capture mode (${backend.name})`, () => {
    let dataDir: string;
    let dropDb: () => Promise<void>;
    let stack: Stack;
    let base: string;
    let inbox: Inbox;
    const people: TestBrowser[] = [];
    const suite = `auth-browser-${backend.name}`;

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'mana-auth-browser-'));
      const db = await backend.databaseUrl();
      dropDb = db.drop;
      const config = loadConfig({
        env: { MANA_DATA_DIR: dataDir, MANA_LOG_LEVEL: 'silent', ...(db.url ? { DATABASE_URL: db.url } : {}) },
        overrides: { mail: { domain: 'mana.test', delivery: 'capture', listeners: { inbound: local, submission: local, submissions: local, admin: local, imap: local, imaps: local } }, notify: { listener: local }, auth: { listener: local } },
      });
      stack = await startStack({ config, services: ['mail', 'notify', 'auth'], announce: () => {}, logger: () => silentLogger() });
      base = stack.urls['auth-http']!;
      inbox = capturedInbox({ store: stack.store, base });
    });
    after(async () => {
      for (const p of people) await p.close();
      await stack?.close();
      await dropDb?.();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    async function person(name: string): Promise<TestBrowser> {
      const b = await launchBrowser({ suite, person: name });
      people.push(b);
      return b;
    }

    it('registers, confirms from the email, signs in; resets the password from the email and signs in with the new one', async () => {
      const alice = await person('alice');
      const { page } = alice;
      const email = 'alice@example.test';

      let since = await inbox.mark();
      await page.goto(`${base}/register`);
      await alice.screenshot('register');
      await page.getByLabel('Name').fill('Alice Example');
      await page.getByLabel('Email address').fill(email);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
      await alice.screenshot('check-inbox');

      const verifyLink = await inbox.link({ to: email, path: '/verify', since });
      await page.goto(verifyLink);
      await page.getByRole('heading', { name: 'Confirm your email address' }).waitFor();
      await alice.screenshot('verify-landing');
      await page.getByRole('button', { name: 'Confirm email address' }).click();
      await page.getByRole('heading', { name: 'Email address confirmed' }).waitFor();
      await alice.screenshot('verified');

      // Sign out (verification signed her in), then sign in with the password.
      await page.goto(`${base}/account`);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await page.getByLabel('Email address').first().fill(email);
      await page.getByLabel('Password').fill(PASSWORD);
      await alice.screenshot('sign-in');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.getByRole('heading', { name: 'Your account' }).waitFor();
      assert.match(await page.getByTestId('signed-in').innerText(), /alice@example\.test/);
      await alice.screenshot('signed-in');

      // Forgot password -> email -> new password -> sign in with it.
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('link', { name: 'Forgot your password?' }).click();
      await page.getByRole('heading', { name: 'Reset your password' }).waitFor();
      await alice.screenshot('forgot-password');
      since = await inbox.mark();
      await page.getByLabel('Email address').fill(email);
      await page.getByRole('button', { name: 'Send' }).click();
      await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();

      const resetLink = await inbox.link({ to: email, path: '/reset-password', since });
      await page.goto(resetLink);
      await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
      await alice.screenshot('reset-password');
      const newPassword = 'a brand new secret';
      await page.getByLabel('New password', { exact: true }).fill(newPassword);
      await page.getByLabel('Repeat new password').fill(newPassword);
      await page.getByRole('button', { name: 'Save new password' }).click();
      await page.getByRole('heading', { name: 'Password changed' }).waitFor();
      await alice.screenshot('password-changed');

      await page.getByRole('link', { name: 'Sign in' }).click();
      await page.getByLabel('Email address').first().fill(email);
      await page.getByLabel('Password').fill(newPassword);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.getByRole('heading', { name: 'Your account' }).waitFor();
      assert.match(await page.getByTestId('signed-in').innerText(), /alice@example\.test/);

      // The reset link was spent: opening it again and submitting fails.
      await page.goto(resetLink);
      await page.getByLabel('New password', { exact: true }).fill('third password here');
      await page.getByLabel('Repeat new password').fill('third password here');
      await page.getByRole('button', { name: 'Save new password' }).click();
      await page.getByRole('heading', { name: 'This link is invalid or has expired.' }).waitFor();
      await alice.screenshot('reset-link-spent');
    });

    it('an invited person accepts an organization invitation from its email', async () => {
      // Alice (signed in from the test above) creates an organization and invites Bob.
      const alice = people[0]!;
      const req = alice.context.request;
      const org = await req.post(`${base}/api/auth/organization/create`, { headers: { origin: base }, data: { name: 'Acme Co', slug: `acme-${backend.name}` } });
      assert.equal(org.status(), 200, await org.text());
      const organizationId = (await org.json()).id as string;
      let since = await inbox.mark();
      const inv = await req.post(`${base}/api/auth/organization/invite-member`, { headers: { origin: base }, data: { email: 'bob@example.test', role: 'member', organizationId } });
      assert.equal(inv.status(), 200, await inv.text());
      const inviteLink = await inbox.link({ to: 'bob@example.test', path: '/accept-invitation', since });

      const bob = await person('bob');
      const { page } = bob;
      await page.goto(inviteLink);
      await page.getByRole('heading', { name: 'Invitation' }).waitFor();
      await bob.screenshot('invitation-signed-out');
      await page.getByRole('link', { name: 'Create account' }).click();
      since = await inbox.mark();
      await page.getByLabel('Name').fill('Bob Invited');
      await page.getByLabel('Email address').fill('bob@example.test');
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();

      const verifyLink = await inbox.link({ to: 'bob@example.test', path: '/verify', since });
      await page.goto(verifyLink);
      await page.getByRole('button', { name: 'Confirm email address' }).click();
      // Confirming brings Bob back to the invitation, signed in.
      await page.getByRole('button', { name: 'Accept invitation' }).waitFor();
      assert.match(await page.locator('main').innerText(), /Acme Co/);
      await bob.screenshot('invitation');
      await page.getByRole('button', { name: 'Accept invitation' }).click();
      await page.getByRole('heading', { name: 'Welcome to Acme Co' }).waitFor();
      await bob.screenshot('invitation-accepted');

      const members = await req.get(`${base}/api/auth/organization/list-members?organizationId=${organizationId}`);
      const list = (await members.json()) as { members: Array<{ role: string; user: { email: string } }> };
      assert.deepEqual(list.members.map((m) => `${m.user.email}:${m.role}`).sort(), ['alice@example.test:owner', 'bob@example.test:member']);
    });
  });
}
