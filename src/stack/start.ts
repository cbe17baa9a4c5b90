// Starts mail, notify and auth (all, or one as in the seed's three containers) on one store, wired to each other.
import type { Config } from '../config/schema.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { openStore } from '../store/open.ts';
import { migrations } from '../store/migrations.ts';
import type { Store } from '../store/store.ts';
import type { RunningService, ServiceContext } from './context.ts';
import { loadSecrets, type RuntimeSecrets } from './secrets.ts';
import type { SmtpProvider } from '../config/schema.ts';
import type { RunningMail } from '../mail/service.ts';

export type ServiceName = 'mail' | 'notify' | 'auth';

export type StackOptions = {
  config: Readonly<Config>;
  services: ServiceName[];
  /** Where `listening  <name>  <url>` lines go; stdout by default. */
  announce?: (name: string, url: string) => void;
  /** Use this store instead of opening the configured one (tests). */
  store?: Store;
  /** Log to stderr too (default: only at the configured level). */
  logger?: (service: string) => Logger;
  mailOptions?: import('../mail/service.ts').MailOptions;
};

export type Stack = {
  config: Readonly<Config>;
  store: Store;
  secrets: RuntimeSecrets;
  mail?: RunningMail;
  notify?: RunningService;
  auth?: RunningService;
  urls: Record<string, string>;
  close(): Promise<void>;
};

/** The SMTP provider notify uses when SMTP_HOST is not set: the local mail server's submission port, as user noreply. */
export function localSmtpProvider(config: Readonly<Config>, secrets: RuntimeSecrets, port: number): SmtpProvider {
  return {
    host: '127.0.0.1',
    port,
    user: 'noreply',
    password: secrets.noreplyPassword,
    from: `Mana <noreply@${config.mail.domain}>`,
    insecureTls: true,
  };
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const { config } = options;
  const announce = options.announce ?? ((name: string, url: string) => process.stdout.write(`listening  ${name}  ${url}\n`));
  const store = options.store ?? (await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl }));
  const started: RunningService[] = [];
  try {
    await store.migrate(migrations);
    const secrets = await loadSecrets(config, store);
    const makeLog = options.logger ?? ((service: string) => createLogger({ dataDir: config.dataDir, service, level: config.logLevel }));
    const context = (service: string): ServiceContext => ({ config, store, log: makeLog(service), secrets, announce });
    const stack: Stack = { config, store, secrets, urls: {}, close: async () => {} };
    const want = new Set(options.services);
    const notifyPort = config.notify.listener.port;
    const notifyUrl = config.auth.notifyUrl || `http://127.0.0.1:${notifyPort}`;

    if (want.has('mail')) {
      const { startMail } = await import('../mail/service.ts');
      // notify hears about every delivery through the mail server's signed webhooks.
      const subscribers = want.has('notify') && notifyPort === 0 ? [] : [{ url: `${notifyUrl}/api/v1/internal/mail-events`, secret: secrets.webhookSecret }];
      stack.mail = await startMail(context('mail'), { ...options.mailOptions, subscribers: [...(options.mailOptions?.subscribers ?? []), ...subscribers] });
      started.push(stack.mail);
    }
    if (want.has('notify')) {
      const { startNotify } = await import('../notify/service.ts');
      const submissionPort = stack.mail?.ports.submission ?? config.mail.listeners.submission.port;
      const smtp = config.notify.smtp.host ? undefined : localSmtpProvider(config, secrets, submissionPort);
      stack.notify = await startNotify(context('notify'), { smtp });
      started.push(stack.notify);
      if (stack.mail && notifyPort === 0) {
        // Port chosen at start (tests): subscribe now that notify's address is known.
        stack.mail.addSubscriber({ url: `${stack.notify.urls['notify-http']}/api/v1/internal/mail-events`, secret: secrets.webhookSecret });
      }
    }
    if (want.has('auth')) {
      const { startAuth } = await import('../auth/service.ts');
      stack.auth = await startAuth(context('auth'), { notifyUrl: stack.notify?.urls['notify-http'] ?? notifyUrl });
      started.push(stack.auth);
    }
    for (const s of started) Object.assign(stack.urls, s.urls);
    stack.close = async () => {
      for (const s of [...started].reverse()) await s.close().catch(() => {});
      if (!options.store) await store.close();
    };
    return stack;
  } catch (err) {
    for (const s of [...started].reverse()) await s.close().catch(() => {});
    if (!options.store) await store.close().catch(() => {});
    throw err;
  }
}
