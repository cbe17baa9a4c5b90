// Test support: a scriptable recipient MX / smart host on 127.0.0.1 (RFC 5321 server side, RFC 3207 STARTTLS, RFC 4954 AUTH), built on smtp-server.
import { generate } from 'selfsigned';
import { SMTPServer } from 'smtp-server';
import type {
  SMTPServerAddress,
  SMTPServerDataStream,
  SMTPServerOptions,
  SMTPServerSession,
} from 'smtp-server';

/**
 * A reply the peer gives: `'451 4.7.1 try again later'` or `{ code: 451, message: '4.7.1 try again later' }`.
 * Enhanced status codes (RFC 3463) are not added by the peer: write them into the text yourself.
 * A 2xx reply accepts; 421 replies and closes the connection (RFC 5321 §3.8).
 */
export type SmtpReply = string | { code: number; message: string };

/**
 * How the peer answers one stage: one reply for every attempt, a script (attempt n gets entry n,
 * the last entry repeats: `['451 4.7.1 later', '250 2.1.5 ok']`), or a function of the context
 * (return undefined to accept with the default reply).
 */
export type ReplyRule<Context> =
  | SmtpReply
  | readonly SmtpReply[]
  | ((context: Context) => SmtpReply | undefined | Promise<SmtpReply | undefined>);

export type ConnectContext = { remoteAddress: string; attempt: number };
export type MailFromContext = { mailFrom: string; params: Record<string, string>; tls: boolean; attempt: number };
/** `attempt` counts RCPT commands for this address (case-insensitive) over the peer's lifetime, from 1. */
export type RcptContext = { address: string; mailFrom: string; params: Record<string, string>; tls: boolean; attempt: number };
/** `attempt` counts DATA transfers of this message (same Message-ID, else same envelope), from 1. */
export type DataContext = { mailFrom: string; rcptTo: string[]; raw: Buffer; tls: boolean; attempt: number };

export type ReceivedMessage = {
  mailFrom: string; // '' for the null reverse-path
  mailParams: Record<string, string>; // MAIL FROM parameters, upper-case keys (SIZE, BODY, SMTPUTF8, RET, ENVID, REQUIRETLS)
  rcptTo: string[]; // accepted recipients only
  rcptParams: Record<string, string>[]; // RCPT TO parameters (NOTIFY, ORCPT), same order as rcptTo
  raw: Buffer; // message as received, dot-unstuffed, CRLF line ends
  tls: boolean;
  remoteAddress: string;
  helo: string;
  user: string | undefined; // authenticated user, if any
  connectionId: string;
};

export type PeerConnection = {
  id: string;
  remoteAddress: string;
  remotePort: number;
  tls: boolean; // true once STARTTLS (or implicit TLS) completed
  helo: string; // last EHLO/HELO name seen at MAIL FROM time
  user: string | undefined;
  closed: boolean;
};

/** One programmed decision, in order: lets a test see what the client was told. */
export type PeerDecision = {
  stage: 'connect' | 'mail' | 'rcpt' | 'data';
  address: string | undefined; // sender for 'mail', recipient for 'rcpt'
  code: number;
  message: string;
};

export type SmtpPeerOptions = {
  /** 'starttls' (default): offers STARTTLS with a self-signed certificate; 'implicit': TLS from the first byte (port 465 style); 'none': hides STARTTLS. */
  tls?: 'starttls' | 'implicit' | 'none';
  /** Names for the certificate's subjectAltName (default localhost, mx.test); 127.0.0.1 is always added. */
  tlsNames?: string[];
  /** Refuse MAIL FROM with 530 until STARTTLS was done. */
  requireTls?: boolean;
  /** Require AUTH with this user/password before MAIL FROM (smart-host tests). */
  auth?: { user: string; pass: string; methods?: ('PLAIN' | 'LOGIN' | 'CRAM-MD5')[]; allowInsecure?: boolean };
  /** Hostname in the greeting and EHLO reply (default mx.test). */
  name?: string;
  /** Advertised SIZE limit in bytes; larger messages get 552. */
  size?: number;
  /** Offer DSN (RFC 3461) in the EHLO reply, so clients send RET/ENVID and NOTIFY/ORCPT (seen in mailParams/rcptParams). Default false. */
  dsn?: boolean;
  onConnect?: ReplyRule<ConnectContext>;
  onMailFrom?: ReplyRule<MailFromContext>;
  onRcpt?: ReplyRule<RcptContext>;
  onData?: ReplyRule<DataContext>;
  /** How long close() lets open sessions finish before replying 421 and dropping them (default 200 ms). */
  closeTimeoutMs?: number;
  /** Idle timeout of a session (default 30 s). */
  socketTimeoutMs?: number;
};

export type SmtpPeer = {
  host: '127.0.0.1';
  port: number;
  /** PEM of the self-signed certificate (undefined when tls is 'none'): pass as `ca` to verify it. */
  cert: string | undefined;
  messages: ReceivedMessage[];
  connections: PeerConnection[];
  decisions: PeerDecision[];
  /** Resolves with all messages once `count` have been accepted; rejects with code 'test.timeout'. */
  waitFor: (count: number, timeoutMs?: number) => Promise<ReceivedMessage[]>;
  close: () => Promise<void>;
};

type Parsed = { code: number; message: string };

function parseReply(reply: SmtpReply): Parsed {
  if (typeof reply !== 'string') return reply;
  const match = /^([2-5]\d\d)(?:[ -](.*))?$/s.exec(reply.trim());
  if (match === null) {
    throw Object.assign(new Error(`smtp-peer reply must start with a 3-digit code: ${JSON.stringify(reply)}`), {
      code: 'test.bad_reply',
    });
  }
  return { code: Number(match[1]), message: match[2] ?? '' };
}

async function decide<Context extends { attempt: number }>(
  rule: ReplyRule<Context> | undefined,
  context: Context,
): Promise<Parsed | undefined> {
  if (rule === undefined) return undefined;
  let reply: SmtpReply | undefined;
  if (typeof rule === 'function') reply = await rule(context);
  else if (Array.isArray(rule)) reply = rule.length === 0 ? undefined : rule[Math.min(context.attempt, rule.length) - 1];
  else reply = rule as SmtpReply;
  return reply === undefined ? undefined : parseReply(reply);
}

function replyError(reply: Parsed): Error {
  return Object.assign(new Error(reply.message), { responseCode: reply.code });
}

function upperArgs(args: object | false | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!args) return out;
  for (const [key, value] of Object.entries(args)) out[key.toUpperCase()] = value === true ? '' : String(value);
  return out;
}

const certCache = new Map<string, Promise<string[]>>();

/**
 * Self-signed RSA-2048 certificate for the given names, generated once per process per name set.
 * (selfsigned's EC option fails here: two @peculiar/asn1-schema copies in node_modules.)
 */
function selfSignedCert(names: string[]): Promise<string[]> {
  const key = names.join(',');
  let pending = certCache.get(key);
  if (pending === undefined) {
    pending = generate([{ name: 'commonName', value: names[0] ?? 'localhost' }], {
      keyType: 'rsa',
      keySize: 2048,
      algorithm: 'sha256',
      notAfterDate: new Date(Date.now() + 7 * 24 * 3600 * 1000),
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [...names.map((value) => ({ type: 2 as const, value })), { type: 7 as const, ip: '127.0.0.1' }],
        },
      ],
    }).then((pems) => [pems.private, pems.cert]);
    certCache.set(key, pending);
  }
  return pending;
}

/**
 * smtp-server waits a fixed 100 ms before its greeting to catch early talkers. A test peer
 * has no use for that, so each new connection of this server skips straight to the greeting
 * (the connection's own init without the timer). Touches private methods; if they are gone
 * in a later smtp-server, the delay simply stays.
 */
function skipEarlyTalkerDelay(server: SMTPServer): void {
  const connections = server.connections;
  const add = connections.add.bind(connections);
  connections.add = (connection: Parameters<typeof add>[0]) => {
    const c = connection as { init?: () => void; _setListeners?: unknown; connectionReady?: unknown };
    if (typeof c._setListeners === 'function' && typeof c.connectionReady === 'function') {
      const setListeners = c._setListeners as (this: unknown, cb: () => void) => void;
      const ready = c.connectionReady as (this: unknown) => void;
      c.init = () => setListeners.call(c, () => ready.call(c));
    }
    return add(connection);
  };
}

function sessionRecipients(session: SMTPServerSession): SMTPServerAddress[] {
  return session.envelope.rcptTo;
}

function mailFromOf(session: SMTPServerSession): string {
  return session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
}

function messageKey(raw: Buffer, mailFrom: string, rcptTo: string[]): string {
  const headerEnd = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, headerEnd === -1 ? raw.length : headerEnd).toString('latin1');
  const id = /^message-id:[ \t]*(.*(?:\r\n[ \t].*)*)/im.exec(head);
  return id ? `id:${id[1].replace(/\s+/g, '')}` : `env:${mailFrom}>${rcptTo.join(',')}`;
}

/** Starts a peer on 127.0.0.1 with a kernel-chosen port. */
export async function startSmtpPeer(options: SmtpPeerOptions = {}): Promise<SmtpPeer> {
  const tlsMode = options.tls ?? 'starttls';
  const names = options.tlsNames ?? ['localhost', 'mx.test'];
  let key: string | undefined;
  let cert: string | undefined;
  if (tlsMode !== 'none') [key, cert] = await selfSignedCert(names);

  const messages: ReceivedMessage[] = [];
  const connections: PeerConnection[] = [];
  const byId = new Map<string, PeerConnection>();
  const decisions: PeerDecision[] = [];
  const counters = new Map<string, number>();
  const waiters = new Set<() => void>();
  const count = (k: string): number => {
    const n = (counters.get(k) ?? 0) + 1;
    counters.set(k, n);
    return n;
  };
  const record = (stage: PeerDecision['stage'], address: string | undefined, reply: Parsed): void => {
    decisions.push({ stage, address, code: reply.code, message: reply.message });
  };
  const connectionOf = (session: SMTPServerSession): PeerConnection | undefined => byId.get(session.id);

  const serverOptions: SMTPServerOptions = {
    name: options.name ?? 'mx.test',
    logger: false,
    disableReverseLookup: true,
    hideENHANCEDSTATUSCODES: true,
    hideDSN: options.dsn !== true,
    secure: tlsMode === 'implicit',
    hideSTARTTLS: tlsMode === 'none',
    disabledCommands: [...(tlsMode === 'none' ? ['STARTTLS'] : []), ...(options.auth ? [] : ['AUTH'])],
    authOptional: options.auth === undefined,
    authMethods: options.auth?.methods ?? ['PLAIN', 'LOGIN'],
    allowInsecureAuth: options.auth?.allowInsecure ?? tlsMode === 'none',
    size: options.size,
    closeTimeout: options.closeTimeoutMs ?? 200,
    socketTimeout: options.socketTimeoutMs ?? 30_000,
    ...(key !== undefined && cert !== undefined ? { key, cert } : {}),

    onConnect(session, callback) {
      const connection: PeerConnection = {
        id: session.id,
        remoteAddress: session.remoteAddress,
        remotePort: session.remotePort,
        tls: tlsMode === 'implicit',
        helo: '',
        user: undefined,
        closed: false,
      };
      connections.push(connection);
      byId.set(session.id, connection);
      if (options.onConnect === undefined) return callback();
      decide(options.onConnect, { remoteAddress: session.remoteAddress, attempt: count('connect') }).then(
        (reply) => {
          if (reply === undefined || reply.code < 400) return callback();
          record('connect', undefined, reply);
          callback(replyError(reply));
        },
        (err: unknown) => callback(err as Error),
      );
    },

    onSecure(_socket, session, callback) {
      const connection = connectionOf(session);
      if (connection) connection.tls = true;
      callback();
    },

    onAuth(auth, session, callback) {
      const expected = options.auth;
      const ok =
        expected !== undefined &&
        auth.username === expected.user &&
        (auth.method === ('CRAM-MD5' as string) ? auth.validatePassword(expected.pass) : auth.password === expected.pass);
      if (!ok) return callback(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
      const connection = connectionOf(session);
      if (connection) connection.user = auth.username;
      callback(null, { user: auth.username });
    },

    onMailFrom(address, session, callback) {
      const connection = connectionOf(session);
      if (connection) connection.helo = session.hostNameAppearsAs;
      if (options.requireTls && !session.secure) {
        return callback(Object.assign(new Error('5.7.0 Must issue a STARTTLS command first'), { responseCode: 530 }));
      }
      const context: MailFromContext = {
        mailFrom: address.address ?? '',
        params: upperArgs(address.args),
        tls: session.secure,
        attempt: count(`mail:${(address.address ?? '').toLowerCase()}`),
      };
      decide(options.onMailFrom, context).then(
        (reply) => {
          if (reply === undefined) return callback();
          record('mail', context.mailFrom, reply);
          callback(reply.code < 400 ? null : replyError(reply));
        },
        (err: unknown) => callback(err as Error),
      );
    },

    onRcptTo(address, session, callback) {
      const context: RcptContext = {
        address: address.address,
        mailFrom: mailFromOf(session),
        params: upperArgs(address.args),
        tls: session.secure,
        attempt: count(`rcpt:${address.address.toLowerCase()}`),
      };
      decide(options.onRcpt, context).then(
        (reply) => {
          if (reply === undefined) return callback();
          record('rcpt', context.address, reply);
          callback(reply.code < 400 ? null : replyError(reply));
        },
        (err: unknown) => callback(err as Error),
      );
    },

    onData(stream: SMTPServerDataStream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('error', (err: Error) => callback(err));
      stream.once('end', () => {
        const raw = Buffer.concat(chunks);
        const rcpts = sessionRecipients(session);
        const rcptTo = rcpts.map((r) => r.address);
        const mailFrom = mailFromOf(session);
        if (stream.sizeExceeded) {
          return callback(Object.assign(new Error('5.3.4 Message too big'), { responseCode: 552 }));
        }
        const context: DataContext = {
          mailFrom,
          rcptTo,
          raw,
          tls: session.secure,
          attempt: count(`data:${messageKey(raw, mailFrom, rcptTo)}`),
        };
        decide(options.onData, context).then(
          (reply) => {
            if (reply !== undefined) record('data', undefined, reply);
            if (reply !== undefined && reply.code >= 400) return callback(replyError(reply));
            messages.push({
              mailFrom,
              mailParams: session.envelope.mailFrom ? upperArgs(session.envelope.mailFrom.args) : {},
              rcptTo,
              rcptParams: rcpts.map((r) => upperArgs(r.args)),
              raw,
              tls: session.secure,
              remoteAddress: session.remoteAddress,
              helo: session.hostNameAppearsAs,
              user: session.user,
              connectionId: session.id,
            });
            for (const wake of waiters) wake();
            callback(null, reply?.message ?? '2.0.0 Ok: queued');
          },
          (err: unknown) => callback(err as Error),
        );
      });
    },

    onClose(session) {
      const connection = connectionOf(session);
      if (connection) connection.closed = true;
    },
  };

  const server = new SMTPServer(serverOptions);
  skipEarlyTalkerDelay(server);
  server.on('error', () => {
    // Client-side resets and TLS failures are part of what tests provoke; they are not peer failures.
  });

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const address = server.server.address();
  if (address === null || typeof address === 'string') {
    throw Object.assign(new Error('smtp-peer has no port'), { code: 'test.no_port' });
  }

  let closed: Promise<void> | undefined;

  return {
    host: '127.0.0.1',
    port: address.port,
    cert,
    messages,
    connections,
    decisions,
    waitFor(wanted, timeoutMs = 10_000) {
      if (messages.length >= wanted) return Promise.resolve(messages.slice());
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (messages.length < wanted) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(messages.slice());
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            Object.assign(new Error(`smtp-peer: ${messages.length} of ${wanted} messages after ${timeoutMs} ms`), {
              code: 'test.timeout',
            }),
          );
        }, timeoutMs);
        waiters.add(check);
      });
    },
    close() {
      closed ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return closed;
    },
  };
}
