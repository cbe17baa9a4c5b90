// Test support: Debian's Chromium driven headless by playwright-core, one fresh profile per person, screenshots under test-artifacts/; reading links from captured mail (RFC 5322/MIME via mailparser).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { simpleParser } from 'mailparser';
import type { Store } from '../../src/store/store.ts';
import { CAPTURE_MAILBOX, listMailbox, readMailboxMessage } from '../../src/mail/mailbox.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags that keep Chromium quiet and offline apart from the pages the test opens. */
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export type TestBrowser = {
  context: BrowserContext;
  page: Page;
  /** Saves a full-page PNG as test-artifacts/<suite>/<nn>-<name>.png and returns its path. */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
};

let counter = 0;

/**
 * Starts Chromium with a fresh user-data-dir (removed on close), so each person in a test has
 * their own cookies. `suite` names the artifacts folder.
 */
export async function launchBrowser(options: { suite: string; person: string; locale?: string; timeoutMs?: number }): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), `mana-chromium-${options.person}-`));
  const artifacts = resolve('test-artifacts', options.suite);
  mkdirSync(artifacts, { recursive: true });
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      locale: options.locale ?? 'en-US',
      viewport: { width: 800, height: 900 },
      timeout: options.timeoutMs ?? 30_000,
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw Object.assign(new Error(`cannot start Chromium at ${CHROMIUM}: ${(err as Error).message}`, { cause: err }), { code: 'test.browser_failed' });
  }
  context.setDefaultTimeout(options.timeoutMs ?? 15_000);
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async screenshot(name) {
      const file = join(artifacts, `${String(++counter).padStart(2, '0')}-${options.person}-${name.replace(/[^a-z0-9-]+/gi, '-')}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

/** Where a browser test reads the emails auth sent: the stack's captured mailbox, or a notify stand-in. */
export type Inbox = {
  /** A position; link() only looks at mail that arrived after it. */
  mark(): Promise<number>;
  /** The first link to `${base}${path}` in a message to `to` that arrived after `since`. */
  link(options: { to: string; path: string; since: number; timeoutMs?: number }): Promise<string>;
};

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Reads the captured mailbox of a stack in capture mode (mail_mailbox, mailbox `captured`), parsing each message with mailparser. */
export function capturedInbox(options: { store: Store; base: string }): Inbox {
  return {
    async mark() {
      const [newest] = await listMailbox(options.store, { mailbox: CAPTURE_MAILBOX, limit: 1 });
      return newest?.id ?? 0;
    },
    async link({ to, path, since, timeoutMs = 30_000 }) {
      const pattern = new RegExp(`${escapeRe(options.base + path)}\\?[^\\s"'<>]+`);
      const end = Date.now() + timeoutMs;
      const seen = new Set<number>();
      for (;;) {
        const list = await listMailbox(options.store, { mailbox: CAPTURE_MAILBOX, rcpt: to, limit: 20 });
        for (const m of list.filter((x) => x.id > since && !seen.has(x.id)).sort((a, b) => a.id - b.id)) {
          seen.add(m.id);
          const full = await readMailboxMessage(options.store, m.id);
          if (!full) continue;
          const parsed = await simpleParser(full.raw);
          const found = pattern.exec(parsed.text ?? '') ?? pattern.exec(typeof parsed.html === 'string' ? parsed.html.replace(/&amp;/g, '&') : '');
          if (found) return found[0];
        }
        if (Date.now() > end) throw Object.assign(new Error(`no mail to ${to} with a link to ${path} within ${timeoutMs} ms`), { code: 'test.no_email' });
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}
