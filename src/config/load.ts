// Configuration loading: config.toml (the seed's Stalwart keys included) overlaid by the environment, validated once, frozen.
import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isIP } from 'node:net';
import { parse as parseToml } from 'smol-toml';
import { configSchema, type Config } from './schema.ts';

type Env = Record<string, string | undefined>;
type Raw = Record<string, any>;

export class ConfigError extends Error {
  code = 'config.invalid';
  issues: string[];
  constructor(issues: string[], source: string) {
    super(`invalid configuration (${source}):\n  ${issues.join('\n  ')}`);
    this.issues = issues;
  }
}

/** Unprivileged stand-ins for the well-known ports, used when not running as root. */
export const UNPRIVILEGED_PORTS = { inbound: 2525, submission: 5587, submissions: 5465, imap: 5143, imaps: 5993 } as const;

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function defaults(env: Env, root: boolean): Raw {
  const bind = env.MANA_BIND ?? '0.0.0.0';
  return {
    dataDir: './data',
    logLevel: 'info',
    mail: {
      domain: 'mana.localhost',
      hostname: '',
      delivery: 'capture',
      dnsServers: [],
      dnsTimeoutMs: 5000,
      mxPort: 25,
      allowedIp: [],
      inboundAuth: 'record',
      scanBan: true,
      security: {
        banLoopback: false,
        banDuration: 86400,
        authFailures: { count: 10, window: 3600 },
        relayAttempts: { count: 35, window: 86400 },
        protocolErrors: { count: 30, window: 86400 },
      },
      publicIp: [],
      mtaSts: { mode: 'testing', maxAge: 604800 },
      tls: {},
      listeners: {
        inbound: { host: bind, port: root ? 25 : UNPRIVILEGED_PORTS.inbound },
        submission: { host: bind, port: root ? 587 : UNPRIVILEGED_PORTS.submission },
        submissions: { host: bind, port: root ? 465 : UNPRIVILEGED_PORTS.submissions },
        admin: { host: bind, port: 8080 },
        imap: { host: bind, port: root ? 143 : UNPRIVILEGED_PORTS.imap },
        imaps: { host: bind, port: root ? 993 : UNPRIVILEGED_PORTS.imaps },
      },
      maxMessageSize: 25 * 1024 * 1024,
      maxRecipients: 100,
      queue: {
        retrySchedule: [120, 300, 600, 900, 1800, 3600, 7200],
        expireAfter: 3 * 86400,
        delayNoticeAfter: 86400,
        concurrency: 100,
        perDomainConcurrency: 10,
        leaseSeconds: 60,
        domainLimits: {
          'gmail.com': { concurrency: 10, messagesPerMinute: 1200 },
          'googlemail.com': { concurrency: 10, messagesPerMinute: 1200 },
          'outlook.com': { concurrency: 5, messagesPerMinute: 300 },
          'hotmail.com': { concurrency: 5, messagesPerMinute: 300 },
          'live.com': { concurrency: 5, messagesPerMinute: 300 },
          'yahoo.com': { concurrency: 5, messagesPerMinute: 300 },
          'icloud.com': { concurrency: 5, messagesPerMinute: 300 },
          'gmx.de': { concurrency: 5, messagesPerMinute: 300 },
          'web.de': { concurrency: 5, messagesPerMinute: 300 },
          't-online.de': { concurrency: 3, messagesPerMinute: 120 },
        },
      },
      relayRoutes: {},
      webhooks: [],
    },
    notify: {
      listener: { host: bind, port: 3013 },
      serviceKeys: [],
      smtp: {},
      fallback: {},
      authUrl: 'http://localhost:3001',
      corsOrigins: ['http://localhost:3000', 'http://localhost:5173'],
    },
    auth: {
      listener: { host: bind, port: 3001 },
      baseUrl: '',
      notifyUrl: '',
      production: false,
      corsOrigins: ['http://localhost:3000', 'http://localhost:5173'],
    },
  };
}

function merge(target: Raw, source: Raw): Raw {
  for (const [k, v] of Object.entries(source)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && target[k] && typeof target[k] === 'object' && !Array.isArray(target[k])) {
      merge(target[k], v);
    } else if (v !== undefined) {
      target[k] = v;
    }
  }
  return target;
}

/** The seed's Stalwart keys, mapped onto ours: [lookup.default] hostname, [server.allowed-ip], [server.security] analysis.scan-ban. */
function fromStalwartKeys(toml: Raw): Raw {
  const out: Raw = { mail: {} };
  const hostname = toml.lookup?.default?.hostname;
  if (typeof hostname === 'string') out.mail.hostname = hostname;
  const allowed = toml.server?.['allowed-ip'];
  if (allowed && typeof allowed === 'object') {
    out.mail.allowedIp = Object.entries(allowed).filter(([, on]) => on === true || on === '').map(([cidr]) => cidr);
  }
  const scanBan = toml.server?.security?.analysis?.['scan-ban'] ?? toml.server?.security?.['analysis.scan-ban'];
  if (typeof scanBan === 'boolean') out.mail.scanBan = scanBan;
  // [server.auto-ban] auth.rate / abuse.rate / scan.rate = "count/period" (period like 30s, 10m, 1h, 1d)
  const autoBan = toml.server?.['auto-ban'];
  const rates: Array<[string, string]> = [['auth', 'authFailures'], ['abuse', 'relayAttempts'], ['scan', 'protocolErrors']];
  for (const [stalwart, ours] of rates) {
    const rate = autoBan?.[stalwart]?.rate ?? autoBan?.[`${stalwart}.rate`];
    if (rate === undefined) continue;
    out.mail.security ??= {};
    out.mail.security[ours] = parseRate(rate);
  }
  return out;
}

/** "10/1h" -> { count: 10, window: 3600 }; anything else is passed through for the schema to reject. */
function parseRate(v: unknown): unknown {
  const m = typeof v === 'string' ? /^\s*(\d+)\s*\/\s*(\d+)\s*([smhd]?)\s*$/.exec(v) : null;
  if (!m) return v;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[3] as '' | 's' | 'm' | 'h' | 'd'];
  return { count: Number(m[1]), window: Number(m[2]) * unit };
}

const list = (v: string | undefined) => v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean);
const num = (v: string | undefined) => v === undefined || v === '' ? undefined : Number(v);
const bool = (v: string | undefined) => v === undefined || v === '' ? undefined : /^(1|true|yes|on)$/i.test(v);

function provider(env: Env, prefix: string): Raw {
  return {
    host: env[`${prefix}HOST`] || undefined,
    port: num(env[`${prefix}PORT`]),
    user: env[`${prefix}USER`],
    password: env[`${prefix}PASSWORD`],
    from: env[`${prefix}FROM`] || undefined,
    insecureTls: bool(env[`${prefix}INSECURE_TLS`]),
  };
}

function fromEnv(env: Env, service: string | undefined): Raw {
  const serviceKeys = list(env.MANA_SERVICE_KEY ?? env.SERVICE_KEY ?? env.MANA_CORE_SERVICE_KEY);
  // PORT is the port of the one service run by `mana notify` / `mana auth`, as in the seed's containers.
  const singlePort = num(env.PORT);
  return {
    dataDir: env.MANA_DATA_DIR,
    databaseUrl: env.DATABASE_URL || undefined,
    logLevel: env.MANA_LOG_LEVEL || undefined,
    mail: {
      domain: env.MAIL_DOMAIN,
      hostname: env.MAIL_HOSTNAME,
      adminPassword: env.MAIL_ADMIN_PASSWORD ?? env.STALWART_ADMIN_PASSWORD,
      delivery: env.MAIL_DELIVERY || (env.MAIL_DNS_SERVERS || env.MAIL_MX_PORT ? 'deliver' : undefined),
      dnsServers: list(env.MAIL_DNS_SERVERS),
      mxPort: num(env.MAIL_MX_PORT),
      dkimSealKey: env.MAIL_DKIM_SEAL_KEY,
      allowedIp: list(env.MAIL_ALLOWED_IP),
      inboundAuth: env.MAIL_INBOUND_AUTH || undefined,
      publicIp: list(env.MAIL_PUBLIC_IP),
      listeners: {
        inbound: { port: num(env.MAIL_SMTP_PORT) },
        submission: { port: num(env.MAIL_SUBMISSION_PORT) },
        submissions: { port: num(env.MAIL_SUBMISSIONS_PORT) },
        admin: { port: num(env.MAIL_ADMIN_PORT) },
        imap: { port: num(env.MAIL_IMAP_PORT) },
        imaps: { port: num(env.MAIL_IMAPS_PORT) },
      },
    },
    notify: {
      listener: { port: num(env.NOTIFY_PORT) ?? (service === 'notify' ? singlePort : undefined) },
      serviceKeys,
      smtp: provider(env, 'SMTP_'),
      fallback: provider(env, 'SMTP_FALLBACK_'),
      authUrl: env.MANA_AUTH_URL,
      webhookSecret: env.NOTIFY_WEBHOOK_SECRET,
      corsOrigins: list(env.CORS_ORIGINS),
    },
    auth: {
      listener: { port: num(env.AUTH_PORT) ?? (service === 'auth' ? singlePort : undefined) },
      baseUrl: env.BASE_URL,
      notifyUrl: env.MANA_NOTIFY_URL,
      secret: env.BETTER_AUTH_SECRET,
      cookieDomain: env.COOKIE_DOMAIN,
      production: env.NODE_ENV === undefined ? undefined : env.NODE_ENV === 'production',
      corsOrigins: list(env.CORS_ORIGINS),
    },
  };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export type LoadOptions = { env?: Env; file?: string; service?: string; overrides?: Raw; /** Read no config.toml at all (mana config check reads its file itself). */ skipFile?: boolean; /** Defaults as for root (privileged ports) or not; the real user id when unset. */ root?: boolean };

/** Reads config.toml (MANA_CONFIG, else <dataDir>/config.toml, else ./config.toml), applies the environment, validates. */
export function loadConfig(options: LoadOptions = {}): Readonly<Config> {
  const env = options.env ?? process.env;
  const raw = defaults(env, options.root ?? isRoot());
  const envRaw = fromEnv(env, options.service);
  const dataDir = envRaw.dataDir ?? raw.dataDir;
  const file = options.skipFile ? undefined : options.file ?? env.MANA_CONFIG ?? [join(dataDir, 'config.toml'), 'config.toml'].find((f) => existsSync(f));
  let source = 'defaults + environment';
  if (file) {
    const toml = parseConfigFile(file);
    merge(raw, fromStalwartKeys(toml));
    const { lookup: _l, server: _s, ...ours } = toml;
    merge(raw, ours);
    source = `${file} + environment`;
  }
  merge(raw, envRaw);
  if (options.overrides) merge(raw, options.overrides);
  if (!raw.mail.hostname) raw.mail.hostname = `mail.${raw.mail.domain}`;
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`), source);
  }
  const config = result.data;
  config.dataDir = resolve(config.dataDir);
  return deepFreeze(config);
}

/**
 * Stalwart's config parser takes networks as bare keys (`172.18.0.0/16 = true`, as the seed
 * writes [server.allowed-ip]); TOML does not (`/` and `:` are not bare-key characters, and dots
 * would make nested tables). Such keys are quoted before parsing; nothing else changes.
 */
export function quoteAddressKeys(text: string): string {
  return text.replace(/^(\s*)([0-9A-Fa-f:.]+(?:\/\d{1,3})?)(\s*=)/gm, (whole, indent: string, key: string, eq: string) =>
    isIP(key.split('/')[0]) ? `${indent}"${key}"${eq}` : whole);
}

/** Parses a TOML file, turning syntax errors into ConfigError with line and column. */
export function parseConfigFile(file: string): Raw {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read ${file}: ${(err as Error).message}`], file);
  }
  try {
    return parseToml(quoteAddressKeys(text)) as Raw;
  } catch (err) {
    const e = err as Error & { line?: number; column?: number };
    throw new ConfigError([`${file}${e.line ? `:${e.line}:${e.column}` : ''}: ${e.message.split('\n')[0]}`], file);
  }
}
