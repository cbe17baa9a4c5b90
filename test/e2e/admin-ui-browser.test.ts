// The web admin in Chromium (playwright-core, Debian's Chromium): the mail server in capture mode takes a submitted message; the admin signs in with HTTP Basic (RFC 7617), finds it in the queue, reads its timeline (received, queued, delivered with route capture), opens it in Captured, and changes the suppression list with same-origin form POSTs. Screenshots in test-artifacts/admin-ui/.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_FLAGS } from '../support/browser.ts';
import { startMailHarness, message, waitUntil, type MailHarness } from './mail-harness.ts';

const ARTIFACTS = resolve('test-artifacts', 'admin-ui');
const installed = existsSync(CHROMIUM);
if (!installed) console.log(`# skip: the web admin browser test needs Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);

describe('web admin in a browser, mail server in capture mode', { skip: installed ? false : `no Chromium at ${CHROMIUM}` }, () => {
  let h: MailHarness;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  let shot = 0;
  const screenshot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${String(++shot).padStart(2, '0')}-${name}.png`), fullPage: true });

  before(async () => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    h = await startMailHarness({ mail: { delivery: 'capture' } });
    await h.addUser('app', 'app-password', ['app@mana.test']);
    base = `http://127.0.0.1:${h.mail.ports.admin}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, timeout: 30_000 });
    // The browser answers the 401 Basic challenge with these, as a person would in its login prompt.
    context = await browser.newContext({ httpCredentials: { username: 'admin', password: h.test.ctx.secrets.adminPassword, origin: base }, viewport: { width: 1100, height: 900 }, locale: 'en-US' });
    context.setDefaultTimeout(15_000);
    page = await context.newPage();
  });
  after(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await h?.close();
  });

  it('a browser without credentials gets the 401 Basic challenge', async () => {
    const bare = await browser.newContext();
    try {
      const r = await bare.request.get(`${base}/ui/queue`);
      assert.equal(r.status(), 401);
      assert.match(r.headers()['www-authenticate'] ?? '', /^Basic realm="mana mail admin"/);
    } finally {
      await bare.close();
    }
  });

  it('submitted mail shows in the queue with its timeline, and in Captured', async () => {
    const reply = await h.submit({
      user: 'app', pass: 'app-password', from: 'app@mana.test', to: ['alice@example.org'],
      raw: message({ from: 'App <app@mana.test>', to: 'alice@example.org', subject: 'Confirm <your> address', body: 'Hello Alice, confirm here.', messageId: '<browser-1@mana.test>' }),
    });
    const id = h.queueIdOf(reply);
    // Capture mode settles the recipient as delivered with route capture (src/mail/queue/transport.ts).
    await waitUntil(async () => (await h.events(id)).some((e) => e.type === 'delivered'), 'the delivered (captured) event');

    await page.goto(`${base}/ui`);
    assert.match(page.url(), /\/ui\/queue$/);
    await page.getByRole('heading', { name: 'Queue' }).waitFor();
    const row = page.getByRole('row').filter({ hasText: id });
    await row.getByText('alice@example.org').waitFor();
    assert.match(await row.innerText(), /app@mana\.test/);
    await screenshot('queue');

    await page.getByRole('link', { name: id }).click();
    await page.getByRole('heading', { name: `Message ${id}` }).waitFor();
    const timeline = page.getByRole('table').last();
    for (const type of ['received', 'queued', 'attempt', 'delivered']) await timeline.getByText(type, { exact: true }).first().waitFor();
    assert.match(await timeline.innerText(), /route\s+capture/);
    assert.match(await timeline.innerText(), /2\.0\.0 captured/);
    assert.match(await page.getByRole('table').first().innerText(), /alice@example\.org\s+delivered/);
    await screenshot('message');

    // Nothing waits after capture, so Retry is disabled; the timeline is the message's whole story.
    assert.equal(await page.getByRole('button', { name: 'Retry now' }).isDisabled(), true);

    await page.getByRole('link', { name: 'Captured' }).click();
    await page.getByRole('heading', { name: 'Captured mail' }).waitFor();
    await page.getByRole('link', { name: 'Confirm <your> address' }).click();
    await page.getByRole('heading', { name: 'Captured: Confirm <your> address' }).waitFor();
    await page.getByText('Hello Alice, confirm here.').waitFor();
    assert.match(await page.locator('pre').first().innerText(), /^Subject: Confirm <your> address$/m);
    await screenshot('captured');
  });

  it('a form POST from the page is same-origin and works: adding and removing a suppression', async () => {
    await page.goto(`${base}/ui/suppressions`);
    await page.getByLabel('Address').fill('bounced@example.org');
    await page.getByLabel('Reason').fill('test');
    await page.getByRole('button', { name: 'Add' }).click();
    await page.getByText('The address is on the suppression list').waitFor();
    const row = page.getByRole('row').filter({ hasText: 'bounced@example.org' });
    await row.waitFor();
    await screenshot('suppressions');
    await row.getByRole('button', { name: 'Remove' }).click();
    await page.getByText('The address is off the suppression list').waitFor();
    assert.equal(await page.getByRole('row').filter({ hasText: 'bounced@example.org' }).count(), 0);
  });

  it('the DNS page lists the records of the local domain', async () => {
    await page.goto(`${base}/ui/dns`);
    await page.getByRole('link', { name: 'mana.test' }).click();
    await page.getByRole('heading', { name: 'DNS records for mana.test' }).waitFor();
    await page.getByRole('cell', { name: 'MX', exact: true }).first().waitFor();
    await screenshot('dns');
  });
});
