// SMTP client for outbound delivery to one MX host or smart host: RFC 5321 transaction, RFC 3207 STARTTLS (opportunistic per RFC 7435, verified per RFC 8461), RFC 8314 implicit TLS, RFC 4954 AUTH, RFC 3461 DSN parameters; built on nodemailer's SMTPConnection.
import { isAscii } from 'node:buffer';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { TLSSocket } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import {
  cleanRefusal,
  fromFailure,
  localFailure,
  outcome,
  replyFailure,
  validAddress,
  type FailureStage,
  type NodemailerError,
  type RecipientResult,
  type SendInfo,
  type SessionFailure,
} from './reply.ts';

export { parseReply } from './reply.ts';
export type { FailureStage, RecipientResult, RecipientStatus, SessionFailure } from './reply.ts';

/**
 * - `opportunistic`: STARTTLS when offered, any certificate accepted; a failed handshake is retried
 *   in plaintext (RFC 7435, RFC 8461 testing mode).
 * - `required-verified`: STARTTLS with a certificate valid for `host`, or no delivery (RFC 8461 enforce).
 * - `none`: plaintext, STARTTLS ignored.
 */
export type TlsMode = 'opportunistic' | 'required-verified' | 'none';

export type DeliveryTimeouts = {
  /** TCP connect (default 30 s). */
  connectMs?: number;
  /** Greeting and STARTTLS handshake (default 5 min, RFC 5321 §4.5.3.2.1). */
  greetingMs?: number;
  /** Silence while waiting for any reply, including after the final dot (default 10 min, RFC 5321 §4.5.3.2.6). */
  commandMs?: number;
};

export type Envelope = {
  /** Return path; '' for the null sender of a DSN (MAIL FROM:<>). */
  from: string;
  to: string[];
  /**
   * RFC 3461 parameters, sent when the server offers DSN: RET and ENVID on MAIL, NOTIFY and ORCPT on every RCPT of
   * the transaction (so recipients with different NOTIFY/ORCPT need transactions of their own).
   * `orcpt` is `addr-type;address` as received, xtext-decoded; nodemailer xtext-encodes it (RFC 3461 §4, §4.2).
   */
  dsn?: { ret?: 'FULL' | 'HDRS'; envid?: string; notify?: Array<'NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY'>; orcpt?: string };
  /** Declare BODY=8BITMIME (RFC 6152); detected from a Buffer body when not given. */
  eightBitMime?: boolean;
};

export type SessionOptions = {
  /** MX host name: the TLS server name (SNI) and the name the certificate must match. */
  host: string;
  /** IP address to connect to. */
  address: string;
  /** Default 25. */
  port?: number;
  heloName: string;
  tls: TlsMode;
  /** Trust anchors replacing the default roots (tests, private CAs). */
  ca?: string | Buffer | Array<string | Buffer>;
  localAddress?: string;
  timeouts?: DeliveryTimeouts;
  signal?: AbortSignal;
  /** TLS from the first byte (RFC 8314, port 465) instead of STARTTLS; never falls back to plaintext. */
  implicitTls?: boolean;
  /**
   * SMTP AUTH (RFC 4954) for a smart host. Credentials are only sent over TLS, unless the mode is
   * 'none' (an explicit choice for a relay on a trusted network).
   */
  auth?: { user: string; pass: string };
};

export type DeliverOptions = SessionOptions & { envelope: Envelope; raw: Buffer | Readable };

export type TlsInfo = { version: string; cipher: string; authorized: boolean; authorizationError?: string };

export type DeliveryResult = {
  tls: TlsInfo | null;
  recipients: RecipientResult[];
  remote: { host: string; address: string; port: number };
  /** Set when the transaction failed as a whole rather than per recipient; with `deferred` the next MX host may be tried. */
  failure: SessionFailure | null;
  /** The STARTTLS handshake failed and the message went over a new plaintext connection (RFC 7435 §4). */
  tlsFallback: boolean;
  /** The connection had carried an earlier message (pool). */
  reused: boolean;
  /** The server offered DSN (RFC 3461), so NOTIFY/RET/ENVID went on with the message and it reports from here on. */
  dsn?: boolean;
};

/** Turns a nodemailer error from connecting (before any MAIL FROM) into a failure. */
function connectFailure(err: NodemailerError, options: SessionOptions, duringHandshake: boolean): SessionFailure {
  const where = `${options.host}[${options.address}]:${options.port ?? 25}`;
  const reply = err.response;
  if (err.code === 'ETLS' && reply !== undefined) {
    // RFC 3207 §4: STARTTLS refused, or (required TLS) not offered at all.
    // The deferral is our TLS policy, not the server's reply, so the code is ours (RFC 3463 X.7.4 security features not supported).
    return localFailure('tls', '4.7.4', `TLS required but STARTTLS failed at ${where}: ${reply.replace(/\s+/g, ' ')}`);
  }
  if (err.code === 'ETLS' || duringHandshake) {
    const detail = err.message.replace(/^Error initiating TLS - /, '').split('\n')[0];
    return localFailure('tls', '4.7.5', `TLS handshake with ${where} failed: ${err.originalCode ? `${err.originalCode}: ` : ''}${detail}`);
  }
  if (reply !== undefined && /^\d{3}/.test(reply)) {
    const stage: FailureStage = err.command === 'EHLO' || err.command === 'HELO' ? 'ehlo' : 'greeting';
    // A 5xx greeting or EHLO rejects this host, not the recipients: the next MX may still take the mail.
    return { ...replyFailure(stage, reply), status: 'deferred' };
  }
  if (err.code === 'ETIMEDOUT') {
    const phase = err.timeoutType === 'CONNECT_TIMEOUT' ? 'connecting to' : err.timeoutType === 'GREETING_TIMEOUT' ? 'waiting for the greeting of' : 'talking to';
    return localFailure(err.timeoutType === 'CONNECT_TIMEOUT' ? 'connect' : 'greeting', '4.4.2', `timed out ${phase} ${where}`);
  }
  const system = err.originalCode ?? err.code ?? 'error';
  if (system === 'ECONNREFUSED' || system === 'EHOSTUNREACH' || system === 'ENETUNREACH' || system === 'EADDRNOTAVAIL') {
    return localFailure('connect', '4.4.1', `connect to ${where}: ${system}`);
  }
  return localFailure('connect', '4.4.2', `lost connection with ${where}: ${err.message}`);
}

function tlsInfoOf(conn: SMTPConnection): TlsInfo | null {
  const socket = conn._socket;
  if (!(socket instanceof TLSSocket) || !conn.secure) return null;
  const info: TlsInfo = { version: socket.getProtocol() ?? 'unknown', cipher: socket.getCipher()?.name ?? 'unknown', authorized: socket.authorized };
  if (!socket.authorized && socket.authorizationError) info.authorizationError = String(socket.authorizationError);
  return info;
}

/** One open SMTP connection, ready for MAIL FROM; what the pool keeps between messages. */
export type SmtpSession = {
  readonly remote: DeliveryResult['remote'];
  readonly tls: TlsInfo | null;
  readonly tlsFallback: boolean;
  /** Messages sent over this connection. */
  readonly messages: number;
  /** False once the connection closed or failed. */
  usable: () => boolean;
  /** Runs one transaction; never throws. */
  send: (envelope: Envelope, raw: Buffer | Readable, signal?: AbortSignal) => Promise<DeliveryResult>;
  /** RSET (RFC 5321 §4.1.1.5); false when the connection is no longer usable. */
  reset: () => Promise<boolean>;
  /** Polite close: QUIT, then the socket is closed. */
  quit: () => void;
  /** Closes the socket without QUIT. */
  close: () => void;
  /** Called once when the connection ends for any reason. */
  onEnd: (listener: () => void) => void;
};

function connectionOptions(options: SessionOptions, plaintext: boolean): ConstructorParameters<typeof SMTPConnection>[0] {
  const mode = options.tls;
  const t = options.timeouts ?? {};
  return {
    host: options.address,
    port: options.port ?? 25,
    name: options.heloName,
    servername: isIP(options.host) === 0 ? options.host : undefined,
    localAddress: options.localAddress,
    secure: options.implicitTls === true,
    ignoreTLS: mode === 'none' || plaintext,
    requireTLS: mode === 'required-verified',
    opportunisticTLS: mode === 'opportunistic',
    tls: {
      // RFC 8461 §5: enforce mode needs a certificate valid for the MX host; otherwise any certificate (RFC 7435).
      rejectUnauthorized: mode === 'required-verified',
      ...(options.ca !== undefined && { ca: options.ca }),
    },
    connectionTimeout: t.connectMs ?? 30_000,
    greetingTimeout: t.greetingMs ?? 300_000,
    socketTimeout: t.commandMs ?? 600_000,
    socketCloseTimeout: 2_000,
    logger: false,
  };
}

const TLS_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_|HOSTNAME|ALTNAME|SSL|TLS|alert|wrong version/i;

type Connected = { conn: SMTPConnection } | { failure: SessionFailure; retryPlaintext: boolean };

function connectOnce(options: SessionOptions, plaintext: boolean): Promise<Connected> {
  const conn = new SMTPConnection(connectionOptions(options, plaintext));
  // nodemailer emits 'error' for every failure; without a listener it would throw.
  conn.on('error', () => {});
  return new Promise<Connected>((resolve) => {
    let settled = false;
    const finish = (value: Connected) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      conn.removeListener('error', onError);
      conn.removeListener('end', onEnd);
      resolve(value);
    };
    const onError = (err: NodemailerError) => {
      // A failed handshake surfaces as a socket error while nodemailer is still upgrading (STARTTLS),
      // or as a socket error carrying an OpenSSL / certificate code (implicit TLS).
      const duringHandshake = conn.upgrading === true || (options.implicitTls === true && TLS_ERROR.test(err.originalCode ?? err.message));
      const failure = connectFailure(err, options, duringHandshake);
      // RFC 7435 §4 / RFC 8461 §5: only opportunistic TLS may fall back to plaintext after a failed handshake.
      finish({ failure, retryPlaintext: options.tls === 'opportunistic' && !plaintext && failure.stage === 'tls' && err.response === undefined });
    };
    // A close without an error (e.g. before the greeting) is reported through the connect callback; 'end' is a backstop.
    const onEnd = () => setImmediate(() => finish({ failure: localFailure('connect', '4.4.2', `connection to ${options.address} closed`), retryPlaintext: false }));
    const onAbort = () => {
      conn.close();
      finish({ failure: localFailure('aborted', '4.4.2', 'delivery aborted'), retryPlaintext: false });
    };
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    conn.on('error', onError);
    conn.once('end', onEnd);
    conn.connect((err) => (err ? onError(err as NodemailerError) : finish({ conn })));
  });
}

/**
 * Opens a connection and brings it to the point where MAIL FROM can be sent (greeting, EHLO,
 * STARTTLS as the mode asks). Returns the failure instead when that is not possible.
 */
export async function openSession(options: SessionOptions): Promise<SmtpSession | SessionFailure> {
  let tlsFallback = false;
  let connected = await connectOnce(options, false);
  if ('failure' in connected && connected.retryPlaintext) {
    tlsFallback = true;
    connected = await connectOnce(options, true);
  }
  if ('failure' in connected) return connected.failure;
  const { conn } = connected;
  if (options.auth !== undefined) {
    const where = `${options.host}[${options.address}]:${options.port ?? 25}`;
    if (!conn.secure && options.tls !== 'none') {
      conn.close();
      return localFailure('tls', '4.7.0', `not sending credentials to ${where} without TLS (STARTTLS not offered)`);
    }
    const { err } = await runOperation<boolean>(conn, options.signal, (done) =>
      conn.login({ user: options.auth?.user, pass: options.auth?.pass }, (e) => done(e as NodemailerError | null, true)),
    );
    if (err !== null) {
      conn.close();
      if (err.code === 'EABORT') return localFailure('aborted', '4.4.2', 'delivery aborted');
      // A refused login is a configuration problem to fix, not a reason to bounce the mail: deferred.
      if (err.response !== undefined && /^\d{3}/.test(err.response)) return { ...replyFailure('auth', err.response), status: 'deferred' };
      return localFailure('auth', '4.7.0', `authentication with ${where} failed: ${err.message}`);
    }
  }
  return wrapSession(conn, options, tlsFallback);
}

/** Runs one nodemailer operation, settling also when the connection dies or the caller aborts. */
function runOperation<T>(conn: SMTPConnection, signal: AbortSignal | undefined, start: (done: (err: NodemailerError | null, value?: T) => void) => void) {
  return new Promise<{ err: NodemailerError | null; value?: T }>((resolve) => {
    let settled = false;
    const finish = (err: NodemailerError | null, value?: T) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      conn.removeListener('error', onError);
      conn.removeListener('end', onEnd);
      resolve({ err, value });
    };
    const onAbort = () => {
      conn.close();
      finish(Object.assign(new Error('delivery aborted'), { code: 'EABORT' }));
    };
    // nodemailer reports most failures to the callback; these cover replies queued outside a send (RSET, AUTH).
    const onError = (err: NodemailerError) => setImmediate(() => finish(err));
    const onEnd = () => setImmediate(() => finish(Object.assign(new Error('connection closed'), { code: 'ECONNECTION' })));
    if (signal?.aborted) return onAbort();
    if (conn.destroyed) return onEnd();
    signal?.addEventListener('abort', onAbort, { once: true });
    conn.on('error', onError);
    conn.once('end', onEnd);
    start(finish);
  });
}

function wrapSession(conn: SMTPConnection, options: SessionOptions, tlsFallback: boolean): SmtpSession {
  const remote = { host: options.host, address: options.address, port: options.port ?? 25 };
  const tls = tlsInfoOf(conn);
  let ended = false;
  let messages = 0;
  const endListeners: Array<() => void> = [];
  conn.once('end', () => {
    ended = true;
    for (const listener of endListeners.splice(0)) listener();
  });

  return {
    remote,
    tls,
    tlsFallback,
    get messages() {
      return messages;
    },
    usable: () => !ended && !conn.destroyed,
    async send(envelope, raw, signal) {
      const reused = messages > 0;
      messages++;
      const to = [...new Set(envelope.to)];
      // Addresses that cannot be put on a command line are refused here, each on its own (RFC 5321 §4.1.2).
      const badSender = !validAddress(envelope.from, true);
      const bad = new Set(to.filter((rcpt) => badSender || !validAddress(rcpt, false)));
      const sendable = to.filter((rcpt) => !bad.has(rcpt));
      const refusedHere = (rcpt: string): RecipientResult =>
        badSender
          ? { rcpt, status: 'failed', code: 0, enhanced: '5.1.7', text: `invalid sender address ${JSON.stringify(envelope.from)}` }
          : { rcpt, status: 'failed', code: 0, enhanced: '5.1.3', text: `invalid recipient address ${JSON.stringify(rcpt)}` };
      if (sendable.length === 0) {
        if (typeof (raw as Readable).destroy === 'function' && !Buffer.isBuffer(raw)) (raw as Readable).destroy();
        return { tls, remote, tlsFallback, reused, recipients: to.map(refusedHere), failure: null };
      }
      const eightBit = envelope.eightBitMime ?? (Buffer.isBuffer(raw) && !isAscii(raw));
      const { err, value } = await runOperation<SendInfo>(conn, signal, (done) =>
        conn.send(
          {
            from: envelope.from,
            to: sendable,
            ...(Buffer.isBuffer(raw) && { size: raw.length }),
            use8BitMime: eightBit,
            ...(envelope.dsn && { dsn: { ret: envelope.dsn.ret, envid: envelope.dsn.envid, notify: envelope.dsn.notify, orcpt: envelope.dsn.orcpt } }),
          },
          raw,
          (e, info) => done(e as NodemailerError | null, info as SendInfo | undefined),
        ),
      );
      // After anything but a clean SMTP refusal the session state is unknown: the connection is not used again.
      if (err !== null && !cleanRefusal(err)) conn.close();
      const result = outcome({ where: `${remote.host}[${remote.address}]:${remote.port}`, to: sendable, err, info: value, tracked: trackedEnvelope(conn)?.rejectedErrors ?? [] });
      const byRcpt = new Map(result.recipients.map((r) => [r.rcpt, r]));
      const dsn = ((conn as unknown as { _supportedExtensions?: string[] })._supportedExtensions ?? []).includes('DSN');
      return { tls, remote, tlsFallback, reused, dsn, failure: result.failure, recipients: to.map((rcpt) => byRcpt.get(rcpt) ?? refusedHere(rcpt)) };
    },
    async reset() {
      if (ended || conn.destroyed) return false;
      const { err } = await runOperation<boolean>(conn, undefined, (done) => conn.reset((e) => done(e as NodemailerError | null, true)));
      return err === null;
    },
    quit() {
      if (ended || conn.destroyed) return;
      // RFC 5321 §4.1.1.10: QUIT, wait for 221; a server that never answers is cut off after a grace period.
      const timer = setTimeout(() => conn.close(), 5_000);
      timer.unref();
      conn.once('end', () => clearTimeout(timer));
      try {
        conn.quit();
      } catch {
        conn.close();
      }
    },
    close() {
      if (!ended) conn.close();
    },
    onEnd(listener) {
      if (ended) listener();
      else endListeners.push(listener);
    },
  };
}

/** What nodemailer tracked about the envelope of the message in flight (its `_envelope`), when available. */
function trackedEnvelope(conn: SMTPConnection): { accepted: string[]; rejectedErrors: NodemailerError[] } | null {
  const envelope = (conn as unknown as { _envelope?: unknown })._envelope as { accepted?: unknown; rejectedErrors?: unknown } | false | undefined;
  if (!envelope || !Array.isArray(envelope.accepted) || !Array.isArray(envelope.rejectedErrors)) return null;
  return { accepted: envelope.accepted as string[], rejectedErrors: envelope.rejectedErrors as NodemailerError[] };
}

/** Delivers one message to one MX host over a fresh connection, then QUIT. Never throws. */
export async function deliverToHost(options: DeliverOptions): Promise<DeliveryResult> {
  const session = await openSession(options);
  if (!('send' in session)) {
    return {
      tls: null,
      recipients: [...new Set(options.envelope.to)].map((rcpt) => fromFailure(rcpt, session)),
      remote: { host: options.host, address: options.address, port: options.port ?? 25 },
      failure: session,
      tlsFallback: false,
      reused: false,
    };
  }
  try {
    return await session.send(options.envelope, options.raw, options.signal);
  } finally {
    session.quit();
  }
}
