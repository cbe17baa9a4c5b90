// The `mana` command line: start the stack or one service, and administer accounts, keys, DNS records, queue, captured mail, suppressions and reports; send a test message, read the logs, check a domain (doctor).
import { loadConfig, ConfigError } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { startStack, type ServiceName, type Stack } from './stack/start.ts';
import { openStore } from './store/open.ts';
import { migrations } from './store/migrations.ts';
import type { Store } from './store/store.ts';

const USAGE = `mana: self-hosted transactional email (auth -> notify -> mail -> recipient MX)

Usage:
  mana start [--capture|--deliver]   run mail, notify and auth in one process
  mana mail | notify | auth           run one service (as the seed's three containers)
  mana account create|list|passwd|delete|roles ...
  mana domain add|list ...
  mana dkim create|list|retire ...
  mana dns records DOMAIN [--json|--zone]
  mana queue list|show|retry|cancel ...
  mana captured list|show ...         mail kept by capture mode
  mana security bans|unban IP
  mana suppressions list|add|remove ...   addresses mail is not sent to (hard bounces)
  mana reports dmarc|tls [ID]         DMARC and TLS reports received
  mana doctor DOMAIN [--host HOST] [--json]   DNS, ports, TLS, PTR/HELO, open relay
  mana send --to ADDRESS [--from A] [--subject S] [--text T]   a test message through the running server, and its outcome
  mana logs [--service S] [--level L] [--grep TEXT] [--queue ID] [--lines N] [--json] [--follow]
  mana config check [FILE]

Settings come from config.toml (MANA_CONFIG, <MANA_DATA_DIR>/config.toml or ./config.toml)
and the environment; see README.md for every key.
`;

/** Admin commands, each a module with `run(args, io)`. */
const COMMANDS: Record<string, string> = {
  account: './cli/account.ts',
  domain: './cli/domain.ts',
  dkim: './cli/dkim.ts',
  dns: './cli/dns.ts',
  queue: './cli/queue.ts',
  captured: './cli/captured.ts',
  security: './cli/security.ts',
  suppressions: './cli/suppressions.ts',
  reports: './cli/reports.ts',
  config: './cli/config.ts',
  doctor: './cli/doctor/index.ts',
  send: './cli/send.ts',
  logs: './cli/logs.ts',
};

export type CliIo = { config: Readonly<Config>; store: Store; out: (s: string) => void };

function printStartup(stack: Stack, services: ServiceName[]): void {
  const { config, secrets } = stack;
  const lines: string[] = [];
  if (services.includes('mail')) {
    lines.push(config.mail.delivery === 'capture'
      ? `mode       capture: outbound mail is kept in the local "captured" mailbox (see: npm run mana -- captured list). Set MAIL_DELIVERY=deliver to send it to recipient MX hosts.`
      : `mode       deliver: outbound mail goes to recipient MX hosts on port ${config.mail.mxPort}${config.mail.dnsServers.length ? ` (DNS: ${config.mail.dnsServers.join(', ')})` : ''}`);
    lines.push(`domain     ${config.mail.domain} (host name ${config.mail.hostname})`);
  }
  const bind = config.mail.listeners.admin.host;
  lines.push(`bind       ${bind}${bind === '127.0.0.1' ? ' (this machine only; MANA_BIND=0.0.0.0 accepts connections from other hosts)' : ''}`);
  lines.push(`store      ${stack.store.description}`);
  lines.push(`logs       ${config.dataDir}/logs/<service>.log.YYYY-MM-DD`);
  if (stack.urls['admin-http']) lines.push(`web admin  ${stack.urls['admin-http']}/ui (user admin, password MAIL_ADMIN_PASSWORD)`);
  // What a person needs: the key callers send, the admin password; internal secrets stay in the store.
  const shown = ['MANA_SERVICE_KEY', 'MAIL_ADMIN_PASSWORD', 'noreply SMTP password'];
  const generated = Object.entries(secrets.generated).filter(([name]) => shown.includes(name));
  if (generated.length) {
    lines.push('', 'Generated on first start (shown once; stored in the data directory):');
    for (const [name, value] of generated) lines.push(`  ${name.padEnd(22)} ${value}`);
    lines.push('  admin API user         admin');
  }
  const notify = stack.urls['notify-http'];
  if (notify) {
    const key = generated.length ? secrets.serviceKeys[0] : '$MANA_SERVICE_KEY';
    lines.push('', 'Send a test notification:', `  curl -s ${notify}/api/v1/notifications/send -H 'Content-Type: application/json' -H 'X-Service-Key: ${key}' \\`,
      `    -d '{"channel":"email","appId":"demo","recipient":"you@example.com","subject":"Hello from mana","body":"<p>It works.</p>"}'`);
    lines.push(`  then: curl -s ${notify}/api/v1/notifications/<id> -H 'X-Service-Key: ${key}'`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

async function serve(services: ServiceName[], config: Readonly<Config>): Promise<void> {
  const stack = await startStack({ config, services });
  printStartup(stack, services);
  let closing = false;
  const stop = async (signal: string) => {
    if (closing) return;
    closing = true;
    process.stdout.write(`stopping (${signal})\n`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    await stack.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE);
    return cmd ? 0 : 1;
  }
  const serviceOf: Record<string, ServiceName[]> = { start: ['mail', 'notify', 'auth'], mail: ['mail'], notify: ['notify'], auth: ['auth'] };
  if (serviceOf[cmd]) {
    const overrides: Record<string, any> = {};
    if (rest.includes('--capture')) overrides.mail = { delivery: 'capture' };
    if (rest.includes('--deliver')) overrides.mail = { delivery: 'deliver' };
    // The quick start keeps the terminal for the lines a person reads; JSON logs go to the daily files (and stderr from warn up).
    if (cmd === 'start' && !process.env.MANA_LOG_LEVEL) overrides.logLevel = 'warn';
    // The quick start listens on loopback only unless told otherwise; the single services (containers) on every address.
    const env = cmd === 'start' && !process.env.MANA_BIND ? { ...process.env, MANA_BIND: '127.0.0.1' } : process.env;
    const config = loadConfig({ env, service: cmd === 'start' ? undefined : cmd, overrides });
    await serve(serviceOf[cmd], config);
    return -1; // keeps running
  }
  const modulePath = COMMANDS[cmd];
  if (!modulePath) {
    process.stderr.write(`mana: unknown command "${cmd}"\n\n${USAGE}`);
    return 2;
  }
  const config = loadConfig({ skipFile: cmd === 'config' });
  const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
  try {
    await store.migrate(migrations);
    const mod = (await import(modulePath)) as { run(args: string[], io: CliIo): Promise<number> };
    return await mod.run(rest, { config, store, out: (s) => process.stdout.write(s.endsWith('\n') ? s : s + '\n') });
  } finally {
    await store.close();
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => { if (code >= 0) process.exitCode = code; },
    (err) => {
      if (err instanceof ConfigError) process.stderr.write(`mana: ${err.message}\n`);
      else if (err?.code === 'EADDRINUSE' || err?.code === 'EACCES') process.stderr.write(`mana: cannot listen on ${err.address ?? ''}:${err.port ?? ''}: ${err.code === 'EACCES' ? 'permission denied (ports below 1024 need root; set the port in config or the environment)' : 'address in use (another mana or mail server is running? set the port in config or the environment)'}\n`);
      else process.stderr.write(`mana: ${err?.stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
}
