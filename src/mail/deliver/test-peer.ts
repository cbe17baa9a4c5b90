// Test-only SMTP peers for the delivery client: an smtp-server (RFC 5321) on 127.0.0.1:0 that records what it saw, and self-signed certificates.
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export type Received = {
  from: string;
  to: string[];
  data: Buffer;
  secure: boolean;
  /** RFC 3461 parameters as smtp-server parsed them: RET/ENVID from MAIL, NOTIFY/ORCPT per RCPT. */
  dsn: { ret?: string; envid?: string; notify: Array<string[] | undefined> };
};

export type PeerOptions = {
  /** Server TLS key and certificate; STARTTLS is offered only when given. */
  tls?: { key: string; cert: string; maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3' };
  /** Reply to MAIL FROM: return an SMTP reply like '550 5.7.1 no' to refuse. */
  onMail?: (from: string) => string | undefined;
  /** Reply to RCPT TO; by default addresses starting with "defer" get 450, "reject" get 550. */
  onRcpt?: (to: string) => string | undefined;
  /** Reply after the final dot, to refuse the message. */
  onMessage?: (data: Buffer) => string | undefined;
  /** Greeting refusal, e.g. '421 4.3.2 busy'. */
  onConnect?: () => string | undefined;
  /** Server closes idle connections after this long (smtp-server socketTimeout). */
  socketTimeoutMs?: number;
  size?: number;
  /** TLS from the first byte (port 465 style); needs `tls`. */
  implicitTls?: boolean;
  /** Accounts for AUTH PLAIN/LOGIN; AUTH is offered only when given. */
  users?: Record<string, string>;
  /** Allow AUTH before TLS (to prove the client does not send credentials in plaintext). */
  allowInsecureAuth?: boolean;
};

export type Peer = {
  port: number;
  connections: number;
  /** Connections the server has seen close. */
  closed: number;
  /** MAIL FROM commands accepted or refused, in order. */
  mailFrom: string[];
  /** AUTH attempts: user name and whether the password matched. */
  auths: Array<{ user: string; ok: boolean; secure: boolean }>;
  received: Received[];
  /** Resolves when `closed` reaches n. */
  waitClosed: (n: number) => Promise<void>;
  close: () => Promise<void>;
};

function smtpError(reply: string): Error & { responseCode: number } {
  const code = Number(reply.slice(0, 3));
  return Object.assign(new Error(reply.slice(4)), { responseCode: code });
}

function defaultRcpt(to: string): string | undefined {
  if (to.startsWith('defer')) return '450 4.2.1 mailbox busy, try later';
  if (to.startsWith('reject')) return '550 5.1.1 no such user';
  return undefined;
}

export async function startPeer(options: PeerOptions = {}): Promise<Peer> {
  const closeWaiters: Array<{ n: number; resolve: () => void }> = [];
  const peer: Peer = {
    port: 0,
    connections: 0,
    closed: 0,
    mailFrom: [],
    auths: [],
    received: [],
    waitClosed: (n) => new Promise<void>((resolve) => (peer.closed >= n ? resolve() : closeWaiters.push({ n, resolve }))),
    close: async () => {},
  };
  const serverOptions: SMTPServerOptions = {
    logger: false,
    authOptional: true,
    ...(options.users === undefined ? { disabledCommands: ['AUTH'] } : { authMethods: ['PLAIN', 'LOGIN'] }),
    ...(options.allowInsecureAuth && { allowInsecureAuth: true }),
    ...(options.implicitTls && { secure: true }),
    hideENHANCEDSTATUSCODES: false,
    hideDSN: false,
    disableReverseLookup: true,
    closeTimeout: 1000,
    // Without a certificate STARTTLS is not offered at all (smtp-server would otherwise upgrade with its built-in one).
    ...(options.tls === undefined && { disabledCommands: options.users === undefined ? ['STARTTLS', 'AUTH'] : ['STARTTLS'] }),
    ...(options.tls && { key: options.tls.key, cert: options.tls.cert, ...(options.tls.maxVersion && { maxVersion: options.tls.maxVersion }) }),
    ...(options.socketTimeoutMs !== undefined && { socketTimeout: options.socketTimeoutMs }),
    ...(options.size !== undefined && { size: options.size }),
    onConnect(_session, callback) {
      peer.connections++;
      const reply = options.onConnect?.();
      callback(reply === undefined ? undefined : smtpError(reply));
    },
    onClose() {
      peer.closed++;
      for (const w of closeWaiters.filter((w) => peer.closed >= w.n)) {
        closeWaiters.splice(closeWaiters.indexOf(w), 1);
        w.resolve();
      }
    },
    onAuth(auth, session, callback) {
      const ok = options.users?.[auth.username ?? ''] === auth.password;
      peer.auths.push({ user: auth.username ?? '', ok, secure: session.secure });
      if (!ok) return callback(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
      callback(null, { user: auth.username });
    },
    onMailFrom(address, _session, callback) {
      peer.mailFrom.push(address.address);
      const reply = options.onMail?.(address.address);
      callback(reply === undefined ? undefined : smtpError(reply));
    },
    onRcptTo(address, _session, callback) {
      const reply = (options.onRcpt ?? defaultRcpt)(address.address);
      callback(reply === undefined ? undefined : smtpError(reply));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const data = Buffer.concat(chunks);
        const reply = options.onMessage?.(data);
        if (reply !== undefined) return callback(smtpError(reply));
        const envelope = session.envelope as typeof session.envelope & { dsn?: { ret?: string; envid?: string } };
        peer.received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data,
          secure: session.secure,
          dsn: {
            ...(envelope.dsn?.ret && { ret: envelope.dsn.ret }),
            ...(envelope.dsn?.envid && { envid: envelope.dsn.envid }),
            notify: session.envelope.rcptTo.map((r) => (r as typeof r & { dsn?: { notify?: string[] } }).dsn?.notify),
          },
        });
        callback(null, 'queued as TEST1');
      });
    },
  };
  const server = new SMTPServer(serverOptions);
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  peer.port = (server.server.address() as AddressInfo).port;
  peer.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return peer;
}

/** A self-signed certificate for the given DNS names (RSA: selfsigned 5.5 cannot build EC certificates here). */
export async function selfSignedCert(names: string[]): Promise<{ key: string; cert: string }> {
  const pem = await generate([{ name: 'commonName', value: names[0] ?? 'localhost' }], {
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'subjectAltName', altNames: names.map((value) => ({ type: 2 as const, value })) },
    ],
  });
  return { key: pem.private, cert: pem.cert };
}
