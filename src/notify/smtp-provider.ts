// One SMTP submission provider for notify: a pooled nodemailer transport (RFC 5321, STARTTLS per RFC 3207, AUTH per RFC 4954, implicit TLS per RFC 8314) and the classification of its failures.
import nodemailer from 'nodemailer';
import type { SmtpProvider as SmtpProviderConfig } from '../config/schema.ts';

/** A provider as the stack or SMTP_* give it; `secure` forces implicit TLS (port 465 implies it). */
export type SmtpProvider = SmtpProviderConfig & { secure?: boolean };

export type SmtpTimeouts = { connectionMs: number; greetingMs: number; socketMs: number };

export const DEFAULT_SMTP_TIMEOUTS: SmtpTimeouts = { connectionMs: 10_000, greetingMs: 10_000, socketMs: 60_000 };

/**
 * How a failure counts: `provider` (cannot connect, TLS, AUTH, 421: the provider is failing, try
 * the other one now), `transient` (a 4xx reply to this message: retry later), `permanent` (5xx:
 * the message is refused for good), `config` (no credentials: fail fast, nothing to retry).
 */
export type SmtpFailureKind = 'provider' | 'transient' | 'permanent' | 'config';

export class SmtpSendError extends Error {
  code: string;
  kind: SmtpFailureKind;
  responseCode: number | undefined;
  provider: string;
  constructor(options: { message: string; kind: SmtpFailureKind; code: string; provider: string; responseCode?: number; cause?: unknown }) {
    super(options.message, { cause: options.cause });
    this.code = options.code;
    this.kind = options.kind;
    this.provider = options.provider;
    this.responseCode = options.responseCode;
  }
}

export type SmtpAccepted = {
  /** The server's final reply, e.g. `250 2.0.0 Ok: queued as 4Fx…` */
  response: string;
  /** The queue id in that reply, when it names one */
  queueId: string | undefined;
  /** Recipients the server refused while accepting the others */
  rejected: string[];
  durationMs: number;
};

export type OutgoingMessage = { envelope: { from: string; to: string[] }; raw: Buffer };

export const NOT_CONFIGURED = 'smtp not configured';

const PROVIDER_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROXY', 'EAUTH', 'ENOAUTH', 'EREQUIRETLS', 'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Sorts a nodemailer error into the kinds above (RFC 5321 §4.2.1: 4yz transient, 5yz permanent). */
export function classifySmtpError(err: unknown): { kind: SmtpFailureKind; responseCode: number | undefined } {
  const e = err as { code?: string; responseCode?: number; command?: string };
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  // 421: the service is closing the channel (RFC 5321 §3.8), a provider problem, not the message's.
  if (responseCode === 421) return { kind: 'provider', responseCode };
  if (e.code === 'EAUTH' || e.command === 'CONN' || e.command === 'AUTH PLAIN' || e.command === 'AUTH LOGIN') return { kind: 'provider', responseCode };
  if (responseCode !== undefined && responseCode >= 500 && responseCode !== 503) return { kind: 'permanent', responseCode };
  if (responseCode !== undefined) return { kind: 'transient', responseCode };
  if (e.code !== undefined && PROVIDER_CODES.has(e.code)) return { kind: 'provider', responseCode };
  return { kind: 'transient', responseCode };
}

/** The queue id a server names in its 250 reply (`queued as X`, `id=X`, Postfix, Stalwart, smtp-server). */
export function queueIdFromReply(reply: string): string | undefined {
  const m = /(?:queued as|queue id|id=|\bid\s)\s*<?([A-Za-z0-9._@-]+)>?/i.exec(reply);
  return m?.[1];
}

export function isConfigured(p: Partial<SmtpProvider> | undefined): p is SmtpProvider {
  return !!p && !!p.host && !!p.user && !!p.password;
}

export type SmtpSender = ReturnType<typeof createSmtpSender>;

/**
 * A pooled transport to one provider. STARTTLS is required on submission ports unless
 * insecureTls is set (then it is used when offered, as the original did); port 465 or
 * `secure: true` means TLS from the first byte. AUTH uses what the server offers.
 */
export function createSmtpSender(options: { name: string; provider: Partial<SmtpProvider>; timeouts?: SmtpTimeouts; maxConnections?: number; clientName?: string }) {
  const { name, provider } = options;
  const timeouts = options.timeouts ?? DEFAULT_SMTP_TIMEOUTS;
  const configured = isConfigured(provider);
  const port = provider.port || 587;
  const secure = provider.secure ?? port === 465;
  const insecure = provider.insecureTls ?? false;
  const transport = configured
    ? nodemailer.createTransport({
        pool: true,
        maxConnections: options.maxConnections ?? 5,
        maxMessages: 1000,
        host: provider.host,
        port,
        secure,
        requireTLS: !secure && !insecure,
        opportunisticTLS: insecure,
        auth: { user: provider.user!, pass: provider.password! },
        tls: { rejectUnauthorized: !insecure, servername: /^[\d.]+$|:/.test(provider.host!) ? undefined : provider.host },
        connectionTimeout: timeouts.connectionMs,
        greetingTimeout: timeouts.greetingMs,
        socketTimeout: timeouts.socketMs,
        dnsTimeout: timeouts.connectionMs,
        name: options.clientName,
        logger: false,
        debug: false,
      })
    : undefined;

  function fail(err: unknown): SmtpSendError {
    const { kind, responseCode } = classifySmtpError(err);
    const e = err as { message?: string; response?: string; code?: string };
    const message = e.response ? e.response : (e.message ?? String(err));
    return new SmtpSendError({ message, kind, code: `smtp.${kind}`, provider: name, responseCode, cause: err });
  }

  return {
    name,
    configured,
    host: provider.host ?? '',
    port,
    secure,
    from: provider.from,

    /** Submits one message; resolves when the server answered 250 to the data. */
    async send(message: OutgoingMessage): Promise<SmtpAccepted> {
      if (!transport) throw new SmtpSendError({ message: NOT_CONFIGURED, kind: 'config', code: 'smtp.not_configured', provider: name });
      const started = performance.now();
      try {
        const info = (await transport.sendMail({ envelope: message.envelope, raw: message.raw })) as { response?: string; rejected?: Array<string | { address: string }> };
        const response = info.response ?? '';
        return {
          response,
          queueId: queueIdFromReply(response),
          rejected: (info.rejected ?? []).map((r) => (typeof r === 'string' ? r : r.address)),
          durationMs: performance.now() - started,
        };
      } catch (err) {
        throw fail(err);
      }
    },

    /** Connects, greets, STARTTLS, AUTH and QUIT: whether the provider would take mail now. */
    async probe(): Promise<boolean> {
      if (!transport) return false;
      try {
        await transport.verify();
        return true;
      } catch {
        return false;
      }
    },

    close(): void {
      transport?.close();
    },
  };
}
