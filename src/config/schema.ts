// Configuration schema: one description of every setting of mail, notify and auth, for config.toml and the environment.
import { z } from 'zod';
import { isIP } from 'node:net';

const port = z.number().int().min(0).max(65535);
const hostPort = z.string().regex(/^[^\s:]+(:\d+)?$|^\[[0-9a-fA-F:]+\](:\d+)?$/, 'expected host or host:port');

export const listenerSchema = z.object({
  host: z.string().describe('Address to bind, e.g. 0.0.0.0 or 127.0.0.1'),
  port: port.describe('TCP port; 0 picks a free one'),
});

export const smtpProviderSchema = z.object({
  host: z.string().describe('SMTP server notify submits to (SMTP_HOST)'),
  port: port.describe('Its port (SMTP_PORT)'),
  user: z.string().describe('AUTH user, without domain (SMTP_USER)'),
  password: z.string().describe('AUTH password (SMTP_PASSWORD)'),
  from: z.string().describe('Default From, e.g. "ManaCore <noreply@mana.how>" (SMTP_FROM)'),
  insecureTls: z.boolean().describe('Accept self-signed certificates (SMTP_INSECURE_TLS)'),
});

export const relayRouteSchema = z.object({
  host: z.string().describe('Smart host name or address'),
  port: port.default(587).describe('Smart host port'),
  tls: z.enum(['starttls', 'implicit', 'none', 'opportunistic']).default('starttls').describe('How to secure the connection'),
  user: z.string().optional().describe('AUTH user'),
  password: z.string().optional().describe('AUTH password'),
  insecureTls: z.boolean().default(false).describe('Accept an unverified certificate'),
});

/** "count events in window seconds", e.g. 10 failed AUTHs in 3600 s. */
export const banRateSchema = z.object({
  count: z.number().int().positive().describe('Events from one address that trigger a ban'),
  window: z.number().int().positive().describe('Within this many seconds'),
});

export const webhookSchema = z.object({
  url: z.string().url().describe('Where delivery events are POSTed'),
  secret: z.string().describe('HMAC-SHA256 key; the signature is sent in X-Mana-Signature'),
});

export const configSchema = z.object({
  dataDir: z.string().describe('Where the embedded store, keys, certificates and logs live (MANA_DATA_DIR)'),
  databaseUrl: z.string().optional().describe('PostgreSQL URL; SQLite in dataDir when unset (DATABASE_URL)'),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).describe('Level of JSON logs on stderr (MANA_LOG_LEVEL); the daily files always get info and up'),
  mail: z.object({
    domain: z.string().min(1).describe('Local mail domain created on first start (MAIL_DOMAIN)'),
    hostname: z.string().min(1).describe('Our host name: HELO, certificates, MX records (MAIL_HOSTNAME, lookup.default.hostname)'),
    adminPassword: z.string().optional().describe('Password of the admin API user "admin" (MAIL_ADMIN_PASSWORD, STALWART_ADMIN_PASSWORD); generated on first start when unset'),
    delivery: z.enum(['capture', 'deliver']).describe('capture keeps outbound mail in the local catch-all mailbox; deliver sends it to recipient MX hosts (MAIL_DELIVERY)'),
    dnsServers: z.array(hostPort).describe('Resolvers used for every lookup, host:port (MAIL_DNS_SERVERS, comma separated); system resolvers when empty'),
    dnsTimeoutMs: z.number().int().positive().describe('Timeout of one DNS query'),
    mxPort: port.describe('Port used to reach MX hosts (MAIL_MX_PORT)'),
    allowedIp: z.array(z.string()).describe('Trusted networks (CIDR): may relay without AUTH and are never banned (server.allowed-ip)'),
    inboundAuth: z.enum(['record', 'reject']).describe('Mail from the Internet on port 25 (not from allowedIp or loopback) gets SPF, DKIM and DMARC checked and an Authentication-Results field (RFC 8601); record only stamps the results, reject also refuses a DMARC fail of a p=reject domain with 550 5.7.1 (MAIL_INBOUND_AUTH)'),
    scanBan: z.boolean().describe('Ban addresses that scan or misbehave (server.security.analysis.scan-ban)'),
    security: z.object({
      banLoopback: z.boolean().describe('Loopback addresses (127.0.0.0/8, ::1) may be banned too; off by default, so local tools are never locked out'),
      banDuration: z.number().int().min(0).describe('Seconds a ban lasts; 0 keeps it until an admin lifts it'),
      authFailures: banRateSchema.describe('Failed AUTHs (SMTP and admin API) before a ban (server.auto-ban.auth.rate, e.g. "10/1h")'),
      relayAttempts: banRateSchema.describe('Refused relay attempts before a ban (server.auto-ban.abuse.rate)'),
      protocolErrors: banRateSchema.describe('Unknown commands and protocol errors before a ban, counted only when scanBan is on (server.auto-ban.scan.rate)'),
    }).describe('Auto-ban of misbehaving addresses; server.allowed-ip networks are never banned'),
    publicIp: z.array(z.string().refine((s) => isIP(s) !== 0, 'expected an IPv4 or IPv6 address')).describe('Public addresses of the server, for the A and SPF records (MAIL_PUBLIC_IP, comma separated); looked up from the host name when empty'),
    mtaSts: z.object({
      mode: z.enum(['enforce', 'testing', 'none']).describe('Policy mode served at https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461 §3.2)'),
      maxAge: z.number().int().min(0).max(31_557_600).describe('Policy max_age in seconds'),
    }),
    dkimSealKey: z.string().optional().describe('Key that encrypts DKIM private keys at rest (MAIL_DKIM_SEAL_KEY)'),
    tls: z.object({
      cert: z.string().optional().describe('PEM certificate file; a self-signed one is generated when unset'),
      key: z.string().optional().describe('PEM private key file'),
    }),
    listeners: z.object({
      inbound: listenerSchema.describe('SMTP for other servers, port 25 (MAIL_SMTP_PORT)'),
      submission: listenerSchema.describe('Submission with STARTTLS, port 587 (MAIL_SUBMISSION_PORT)'),
      submissions: listenerSchema.describe('Submission over implicit TLS, port 465 (MAIL_SUBMISSIONS_PORT)'),
      admin: listenerSchema.describe('Admin HTTP API, port 8080 (MAIL_ADMIN_PORT)'),
      imap: listenerSchema.describe('IMAP with STARTTLS, port 143 (MAIL_IMAP_PORT); LOGIN and AUTHENTICATE only after STARTTLS'),
      imaps: listenerSchema.describe('IMAP over implicit TLS, port 993 (MAIL_IMAPS_PORT)'),
    }),
    maxMessageSize: z.number().int().positive().describe('Largest message accepted, bytes (SIZE)'),
    maxRecipients: z.number().int().positive().describe('Recipients per message'),
    queue: z.object({
      retrySchedule: z.array(z.number().int().positive()).min(1).describe('Seconds between attempts; the last repeats'),
      expireAfter: z.number().int().positive().describe('Seconds after which an undelivered recipient expires'),
      delayNoticeAfter: z.number().int().positive().describe('Seconds after which the sender gets a delay notice'),
      concurrency: z.number().int().positive().describe('Deliveries in flight at once, all destinations'),
      perDomainConcurrency: z.number().int().positive().describe('Deliveries in flight to one destination domain'),
      domainLimits: z.record(z.string(), z.object({
        concurrency: z.number().int().positive().optional().describe('Deliveries in flight to this domain'),
        messagesPerMinute: z.number().positive().optional().describe('Deliveries started per minute (a burst of a tenth of it)'),
      })).describe('Limits per destination domain; defaults for the big mailbox providers, which throttle senders that open too many connections'),
      leaseSeconds: z.number().int().positive().describe('How long a worker owns a message before others may take it; renewed every third of it while the worker lives, so this is how long mail of a crashed node waits'),
    }),
    relay: relayRouteSchema.optional().describe('Smart host for all outbound mail'),
    relayRoutes: z.record(z.string(), relayRouteSchema).describe('Smart host per destination domain'),
    webhooks: z.array(webhookSchema).describe('Subscribers to delivery events'),
  }),
  notify: z.object({
    listener: listenerSchema.describe('notify HTTP API, port 3013 (NOTIFY_PORT, PORT)'),
    serviceKeys: z.array(z.string().min(1)).describe('Accepted X-Service-Key values (MANA_SERVICE_KEY, SERVICE_KEY, MANA_CORE_SERVICE_KEY; comma separated for rotation)'),
    smtp: smtpProviderSchema.partial().describe('Primary SMTP provider (SMTP_*); the local mail server when unset'),
    fallback: smtpProviderSchema.partial().describe('Fallback SMTP provider (SMTP_FALLBACK_*)'),
    authUrl: z.string().describe('mana-auth, for JWT validation (MANA_AUTH_URL)'),
    webhookSecret: z.string().optional().describe('Secret for webhooks from the mail server (NOTIFY_WEBHOOK_SECRET); generated when unset'),
    corsOrigins: z.array(z.string()).describe('Allowed CORS origins (CORS_ORIGINS)'),
  }),
  auth: z.object({
    listener: listenerSchema.describe('auth HTTP, port 3001 (AUTH_PORT, PORT)'),
    baseUrl: z.string().describe('Public URL of auth, used in email links (BASE_URL)'),
    notifyUrl: z.string().describe('Where notify is (MANA_NOTIFY_URL)'),
    secret: z.string().optional().describe('Better Auth secret (BETTER_AUTH_SECRET); generated and stored when unset'),
    cookieDomain: z.string().optional().describe('Cookie domain (COOKIE_DOMAIN)'),
    production: z.boolean().describe('Secure cookies and no dev shortcuts (NODE_ENV=production)'),
    corsOrigins: z.array(z.string()).describe('Allowed CORS origins (CORS_ORIGINS)'),
  }),
});

export type Config = z.infer<typeof configSchema>;
export type Listener = z.infer<typeof listenerSchema>;
export type SmtpProvider = z.infer<typeof smtpProviderSchema>;
export type RelayRoute = z.infer<typeof relayRouteSchema>;
