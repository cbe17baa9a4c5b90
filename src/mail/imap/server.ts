// The IMAP listeners (RFC 3501, RFC 8314): implicit TLS (993) and plain with STARTTLS (143), each connection an IMAP session over the local mailboxes.
import { createServer as createNetServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { createSecureContext, createServer as createTlsServer } from 'node:tls';
import type { Logger } from '../../lib/log.ts';
import type { Store } from '../../store/store.ts';
import type { TlsMaterial } from '../../lib/tls.ts';
import type { Listener } from '../../config/schema.ts';
import type { SmtpSecurity } from '../smtp/listeners.ts';
import { createImapStore } from './mailstore.ts';
import { createMailboxWatch, type MailboxWatch } from './watch.ts';
import { startSession, type RunningSession } from './session.ts';
import { imapCommands } from './commands/index.ts';

export type ImapServerOptions = {
  store: Store;
  log: Logger;
  tls: TlsMaterial;
  listeners: { imap: Listener; imaps: Listener };
  /** Largest APPEND literal, bytes. */
  maxMessageSize: number;
  /** Auto-ban hooks: banned addresses get `* BYE`, failed logins are counted. */
  security?: SmtpSecurity;
  /** RFC 3501 §5.4 autologout timer, ms (30 minutes). */
  idleTimeoutMs?: number;
  /** How often IDLE looks for changes made by other nodes, ms (2 s). */
  pollMs?: number;
  /** Inactivity allowed before login, ms (60 s). */
  preAuthTimeoutMs?: number;
  /** How long a connection to the implicit-TLS port may take to finish the handshake, ms (30 s). */
  handshakeTimeoutMs?: number;
};

export type ImapServer = {
  ports: { imap: number; imaps: number };
  /** Tell idling sessions that a mailbox changed (a local delivery); every mailbox when undefined. */
  changed(box?: string): void;
  watch: MailboxWatch;
  close(): Promise<void>;
};

function listen(server: Server, l: Listener): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(l.port, l.host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function createImapServer(o: ImapServerOptions): Promise<ImapServer> {
  const { log } = o;
  const secureContext = createSecureContext({ key: o.tls.key, cert: o.tls.cert, minVersion: 'TLSv1.2' });
  const watch = createMailboxWatch();
  const store = createImapStore(o.store);
  const commands = imapCommands();
  const sessions = new Set<RunningSession>();
  /** Every TCP connection, with or without a session yet (an implicit-TLS one before its handshake has none). */
  const sockets = new Set<Socket>();
  /** `address:port` of the connections that have a session, to tell the ones that do not. */
  const withSession = new Set<string>();
  const peer = (s: Socket) => `${s.remoteAddress}:${s.remotePort}`;

  function track(socket: Socket) {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  }

  function accept(socket: Socket, listener: 'imap' | 'imaps') {
    socket.setNoDelay(true);
    const key = peer(socket);
    withSession.add(key);
    const session = startSession({
      socket, listener, secure: listener === 'imaps', secureContext, store, watch, log, security: o.security, commands,
      idleTimeoutMs: o.idleTimeoutMs ?? 30 * 60_000,
      preAuthTimeoutMs: o.preAuthTimeoutMs,
      pollMs: o.pollMs ?? 2_000,
      maxLine: 64 * 1024,
      maxLiteral: o.maxMessageSize,
    });
    sessions.add(session);
    void session.done.then(() => { sessions.delete(session); withSession.delete(key); });
  }

  const plain = createNetServer((socket) => accept(socket, 'imap'));
  const secure = createTlsServer(
    { key: o.tls.key, cert: o.tls.cert, minVersion: 'TLSv1.2', handshakeTimeout: o.handshakeTimeoutMs ?? 30_000 },
    (socket) => accept(socket, 'imaps'),
  );
  plain.on('connection', track);
  secure.on('connection', track);
  secure.on('tlsClientError', (err, socket) => {
    log.debug({ ip: socket.remoteAddress, err: { message: err.message, code: (err as NodeJS.ErrnoException).code } }, 'imap.tls_error');
    // Node reports a failed or timed-out handshake (handshakeTimeout) here but leaves the connection open.
    socket.destroy();
  });
  for (const [server, name] of [[plain, 'imap'], [secure, 'imaps']] as const) {
    server.on('error', (err) => log.warn({ err: { message: err.message }, listener: name }, 'imap.error'));
  }
  const ports = { imap: 0, imaps: 0 };
  try {
    ports.imap = await listen(plain, o.listeners.imap);
    ports.imaps = await listen(secure, o.listeners.imaps);
  } catch (err) {
    plain.close();
    secure.close();
    throw err;
  }

  return {
    ports,
    watch,
    changed: (box) => watch.changed(box),
    async close() {
      const closed = Promise.all([plain, secure].map((s) => new Promise((r) => s.close(() => r(undefined)))));
      // Connections still in the TLS handshake have no session to say BYE: they just go.
      for (const s of sockets) if (!withSession.has(peer(s))) s.destroy();
      const open = [...sessions];
      // The BYEs are inside the timed race: a client that stops reading cannot hold shutdown up.
      const said = Promise.all(open.map((s) => s.close('Server shutting down'))).then(() => Promise.all(open.map((s) => s.done)));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([said, new Promise((r) => { timer = setTimeout(r, 3000); })]);
      clearTimeout(timer);
      // Whatever is left would keep server.close() waiting forever.
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
