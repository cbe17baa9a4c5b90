// Test support for the mail server's whole-path tests: the server on loopback with a fake DNS zone, local accounts, an RFC 6409 submission client and store readers,
// on SQLite or on PostgreSQL (a fresh schema under DATABASE_URL).
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { startMail, type MailOptions, type RunningMail } from '../../src/mail/service.ts';
import { createPrincipal } from '../../src/mail/accounts.ts';
import { listDkimKeys } from '../../src/mail/dkim/key-store.ts';
import { dkimTxtRecord } from '../../src/mail/dkim/keys.ts';
import { timeline, type TimelineEntry } from '../../src/mail/events.ts';
import type { Store } from '../../src/store/store.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { isolatedPostgresUrl } from '../support/stores.ts';
import { makeTestContext, type TestContext } from '../support/context.ts';
import { startDnsZone, type DnsZone, type Zone } from '../support/dns-zone.ts';

export const DOMAIN = 'mana.test';
export const HOSTNAME = 'mail.mana.test';

export type MailHarness = {
  mail: RunningMail;
  store: Store;
  zone: DnsZone;
  test: TestContext;
  backend: MailBackend;
  /** The PostgreSQL URL the store uses (its schema in search_path); undefined on SQLite. Pass it as `databaseUrl` to restart on the same data. */
  databaseUrl: string | undefined;
  /** A local account allowed to send (role user). */
  addUser: (name: string, password: string, emails: string[]) => Promise<void>;
  /** Submits over port 587: STARTTLS, AUTH PLAIN, then one transaction; resolves with the 250 reply. */
  submit: (options: SubmitOptions) => Promise<string>;
  /** Queue id from a `250 ... queued as <id>` reply. */
  queueIdOf: (reply: string) => string;
  recipients: (queueId: string) => Promise<RecipientRow[]>;
  events: (queueId: string) => Promise<TimelineEntry[]>;
  /** Raw messages in a local mailbox, oldest first, with their envelope. */
  mailbox: (mailbox: string) => Promise<Array<{ raw: Buffer; mailFrom: string | null; rcpt: string | null; queueId: string | null }>>;
  /** TXT records of the local domain's DKIM keys, for dkimpy. */
  dkimRecords: () => Promise<Record<string, string>>;
  close: () => Promise<void>;
};

export type RecipientRow = { rcpt: string; status: string; attempts: number; last_code: number | null; last_reply: string | null; delay_notified: number };

export type SubmitOptions = {
  user: string;
  pass: string;
  from: string;
  to: string[];
  raw: Buffer | string;
  /** RFC 3461 parameters. */
  dsn?: { ret?: 'FULL' | 'HDRS'; envid?: string; notify?: string | string[]; orcpt?: string };
  /** Default: the submission listener. */
  port?: number;
};

export type MailBackend = 'sqlite' | 'postgres';

export type HarnessOptions = {
  /** Default sqlite (in the data dir). postgres: a fresh schema under DATABASE_URL, dropped on close. */
  backend?: MailBackend;
  /**
   * PostgreSQL only: a URL owned by the caller (not dropped on close), e.g. a previous harness's `databaseUrl`,
   * to restart on the same data as `dataDir` does for SQLite.
   */
  databaseUrl?: string;
  /** Config overrides merged over deliver mode with the fake zone as resolver. */
  mail?: Record<string, unknown>;
  zone?: Zone;
  mailOptions?: MailOptions;
  dataDir?: string;
};

/** Polls `check` until it returns a value other than undefined/false; rejects with code test.timeout. */
export async function waitUntil<T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw Object.assign(new Error(`timed out waiting for ${what}`), { code: 'test.timeout' });
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A small RFC 5322 message. */
export function message(options: { from: string; to: string; subject?: string; body?: string; messageId?: string }): string {
  return [
    `From: ${options.from}`,
    `To: ${options.to}`,
    `Subject: ${options.subject ?? 'test'}`,
    ...(options.messageId ? [`Message-ID: ${options.messageId}`] : []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    options.body ?? 'Hello.',
    '',
  ].join('\r\n');
}

/** Opens the PostgreSQL store a harness runs on: the caller's URL, or a fresh schema under DATABASE_URL that `drop` removes. */
async function openPostgresFor(options: HarnessOptions): Promise<{ store: Store; url: string; drop(): Promise<void> }> {
  if (options.databaseUrl) return { store: await openPostgres({ url: options.databaseUrl }), url: options.databaseUrl, drop: async () => {} };
  const base = process.env.DATABASE_URL;
  if (!base) throw new Error('the postgres mail harness needs DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)');
  const db = await isolatedPostgresUrl(base);
  try {
    return { store: await openPostgres({ url: db.url }), url: db.url, drop: db.drop };
  } catch (err) {
    await db.drop().catch(() => {});
    throw err;
  }
}

export async function startMailHarness(options: HarnessOptions = {}): Promise<MailHarness> {
  const backend = options.backend ?? (options.databaseUrl ? 'postgres' : 'sqlite');
  if (backend === 'sqlite' && options.databaseUrl) throw new Error('databaseUrl is for the postgres backend');
  const pgStore = backend === 'postgres' ? await openPostgresFor(options) : undefined;
  // makeTestContext leaves a store it was given open; these close it and then drop its schema.
  const closeStore = async () => {
    if (!pgStore) return;
    await pgStore.store.close();
    await pgStore.drop();
  };
  let zone: DnsZone;
  try {
    zone = await startDnsZone(options.zone ?? {});
  } catch (err) {
    await closeStore();
    throw err;
  }
  let test: TestContext;
  try {
    test = await makeTestContext({
      store: pgStore?.store,
      dataDir: options.dataDir,
      overrides: {
        mail: {
          domain: DOMAIN, hostname: HOSTNAME, delivery: 'deliver', dnsServers: [zone.server], dnsTimeoutMs: 2000, ...(options.mail ?? {}),
          // The IMAP listeners on free loopback ports too (makeTestContext picks ports for the SMTP and admin ones).
          listeners: { imap: { host: '127.0.0.1', port: 0 }, imaps: { host: '127.0.0.1', port: 0 }, ...((options.mail?.listeners as object | undefined) ?? {}) },
        },
      },
    });
  } catch (err) {
    await closeStore();
    await zone.close();
    throw err;
  }
  let mail: RunningMail;
  try {
    mail = await startMail(test.ctx, options.mailOptions ?? {});
  } catch (err) {
    await test.cleanup();
    await closeStore();
    await zone.close();
    throw err;
  }
  const store = test.ctx.store;

  async function submit(o: SubmitOptions): Promise<string> {
    const conn = new SMTPConnection({
      host: '127.0.0.1',
      port: o.port ?? mail.ports.submission,
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      name: 'client.test',
      connectionTimeout: 10_000,
      socketTimeout: 20_000,
      logger: false,
    });
    conn.on('error', () => {});
    try {
      await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
      await new Promise<void>((resolve, reject) => conn.login({ user: o.user, pass: o.pass }, (err) => (err ? reject(err) : resolve())));
      const info = await new Promise<{ response: string }>((resolve, reject) =>
        conn.send({ from: o.from, to: o.to, ...(o.dsn ? { dsn: o.dsn } : {}) } as SMTPConnection.Envelope, o.raw, (err, i) => (err ? reject(err) : resolve(i))),
      );
      return info.response;
    } finally {
      conn.quit();
    }
  }

  return {
    mail,
    store,
    zone,
    test,
    backend,
    databaseUrl: pgStore?.url,
    async addUser(name, password, emails) {
      await store.tx((q) => createPrincipal(q, { type: 'individual', name, secrets: [password], emails, roles: ['user'] }));
    },
    submit,
    queueIdOf(reply) {
      const m = /queued as ([0-9a-z]+)/.exec(reply);
      if (!m) throw new Error(`no queue id in ${JSON.stringify(reply)}`);
      return m[1];
    },
    recipients: (queueId) => store.all<RecipientRow>('SELECT rcpt, status, attempts, last_code, last_reply, delay_notified FROM mail_recipients WHERE message_id = ? ORDER BY rcpt', [queueId]),
    events: (queueId) => timeline(store, queueId),
    async mailbox(name) {
      const rows = await store.all<{ raw: Uint8Array; mail_from: string | null; rcpt: string | null; message_id: string | null }>(
        'SELECT raw, mail_from, rcpt, message_id FROM mail_mailbox WHERE mailbox = ? ORDER BY id', [name],
      );
      return rows.map((r) => ({ raw: Buffer.from(r.raw), mailFrom: r.mail_from, rcpt: r.rcpt, queueId: r.message_id }));
    },
    async dkimRecords() {
      const out: Record<string, string> = {};
      for (const k of await listDkimKeys(store, DOMAIN)) out[`${k.selector}._domainkey.${k.domain}`] = dkimTxtRecord(k);
      return out;
    },
    async close() {
      await mail.close();
      await test.cleanup();
      await closeStore();
      await zone.close();
    },
  };
}
