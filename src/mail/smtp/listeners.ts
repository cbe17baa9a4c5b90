// SMTP listeners: inbound MX (RFC 5321, port 25), submission with STARTTLS (RFC 6409 + RFC 3207, port 587) and over implicit TLS (RFC 8314, port 465).
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerSession, type SMTPServerAddress, type SMTPServerDataStream } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../lib/log.ts';
import type { Store } from '../../store/store.ts';
import type { TlsMaterial } from '../../lib/tls.ts';
import { authenticate, domainOf, isLocalDomain, principalForAddress, type Principal } from '../accounts.ts';
import type { MailQueue, DsnNotify, Submission } from '../queue/queue.ts';
import { patchSmtpServer } from './patch.ts';
import { ensureIdAndDate, fromDomain, headerValue, receivedHeader } from '../message/headers.ts';
import type { DkimSigner } from '../dkim/sign.ts';
import type { SigningKeyCache } from '../dkim/key-store.ts';
import { inNetworks } from './networks.ts';
import type { DnsResolver } from '../route/resolver.ts';
import { checkInboundAuth, dmarcRejection, removeForgedResults, type InboundAuthPolicy } from '../inbound-auth.ts';

export type ListenerKind = 'inbound' | 'submission' | 'submissions';

/** Hooks of the security layer (auto-ban); each may throw an Error with responseCode to refuse. */
export type SmtpSecurity = {
  onConnect?(ip: string): Promise<void> | void;
  onAuthFailure?(ip: string): void;
  onRelayDenied?(ip: string): void;
  onProtocolError?(ip: string): void;
};

export type SmtpOptions = {
  store: Store;
  queue: MailQueue;
  log: Logger;
  tls: TlsMaterial;
  hostname: string;
  allowedIp: string[];
  maxMessageSize: number;
  maxRecipients: number;
  signer: DkimSigner;
  signingKeys: SigningKeyCache;
  security?: SmtpSecurity;
  greetingDelayMs?: number;
  /**
   * SPF, DKIM and DMARC of mail from untrusted clients on the inbound listener, stamped as
   * Authentication-Results (RFC 8601); unset: no checks. `timeoutMs` bounds the whole check (10 s).
   */
  inboundAuth?: { policy: InboundAuthPolicy; resolver: DnsResolver; timeoutMs?: number };
};

type Session = SMTPServerSession & { user?: Principal };

function reply(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

/**
 * The message of a DATA stream, collected up to `limit` bytes. smtp-server sets `sizeExceeded` once more than the
 * SIZE limit came in but keeps emitting data; from then on (or once the collected bytes pass `limit`) nothing is
 * kept and the rest is drained, so an oversized message never sits in memory. `exceeded`: `raw` is empty then.
 */
export function readStream(stream: SMTPServerDataStream, limit: number): Promise<{ raw: Buffer; exceeded: boolean }> {
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = [];
    let length = 0;
    let exceeded = false;
    stream.on('data', (c: Buffer) => {
      if (exceeded) return;
      length += c.length;
      if (stream.sizeExceeded || length > limit) {
        exceeded = true;
        chunks = [];
        length = 0;
        return;
      }
      chunks.push(c);
    });
    stream.on('end', () => resolve({ raw: exceeded ? Buffer.alloc(0) : Buffer.concat(chunks, length), exceeded: exceeded || Boolean(stream.sizeExceeded) }));
    stream.on('error', reject);
  });
}

/** A CR not followed by LF, or an LF not preceded by CR, and where it is (the first of either kind). */
export type BareLineBreak = { char: 'CR' | 'LF'; offset: number };

/** The first bare CR or bare LF in `raw`, or undefined when every line break is CRLF (RFC 5321 §2.3.8). */
export function findBareLineBreak(raw: Buffer): BareLineBreak | undefined {
  let lf = raw.indexOf(0x0a);
  while (lf > 0 && raw[lf - 1] === 0x0d) lf = raw.indexOf(0x0a, lf + 1);
  let cr = raw.indexOf(0x0d);
  while (cr !== -1 && raw[cr + 1] === 0x0a) cr = raw.indexOf(0x0d, cr + 1);
  if (lf === -1 && cr === -1) return undefined;
  return cr === -1 || (lf !== -1 && lf < cr) ? { char: 'LF', offset: lf } : { char: 'CR', offset: cr };
}

export function createSmtpListener(kind: ListenerKind, options: SmtpOptions): SMTPServer {
  patchSmtpServer();
  const { store, log } = options;
  const submission = kind !== 'inbound';
  const trusted = (ip: string) => ip === '127.0.0.1' || ip === '::1' || inNetworks(ip, options.allowedIp);

  const server = new SMTPServer({
    name: options.hostname,
    banner: 'mana ESMTP',
    secure: kind === 'submissions',
    key: options.tls.key,
    cert: options.tls.cert,
    size: options.maxMessageSize,
    maxRecipients: options.maxRecipients,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: !submission,
    allowInsecureAuth: false,
    disabledCommands: submission ? [] : ['AUTH'],
    disableReverseLookup: true,
    hideREQUIRETLS: true,
    // smtp-server hides both by default; RFC 3461 DSN parameters and RFC 2034 enhanced codes are part of our contract.
    hideDSN: false,
    hideENHANCEDSTATUSCODES: false,
    logger: false,
    socketTimeout: 120_000,
    closeTimeout: 5_000,
    ...({ greetingDelay: options.greetingDelayMs ?? (submission ? 0 : 100) } as object),

    async onConnect(session, callback) {
      try {
        await options.security?.onConnect?.(session.remoteAddress);
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },

    async onAuth(auth: SMTPServerAuthentication, session, callback) {
      // RFC 4954 §4: only after TLS on submission (allowInsecureAuth is off); username is the account name.
      try {
        const user = await authenticate(store, auth.username ?? '', auth.password ?? '');
        if (!user) {
          options.security?.onAuthFailure?.(session.remoteAddress);
          log.info({ cid: session.id, ip: session.remoteAddress, listener: kind }, 'smtp.auth_failed');
          return callback(reply(535, '5.7.8 Authentication credentials invalid'));
        }
        callback(null, { user });
      } catch (err) {
        log.error({ err, cid: session.id }, 'smtp.auth_error');
        callback(reply(454, '4.7.0 Temporary authentication failure'));
      }
    },

    async onMailFrom(address: SMTPServerAddress, session: Session, callback) {
      if (!submission) return callback();
      const user = session.user;
      if (!user) return callback(reply(530, '5.7.0 Authentication required'));
      if (!user.roles.includes('user') && !user.roles.includes('admin')) {
        return callback(reply(550, `5.7.1 ${user.name} is not authorized to send`));
      }
      const from = address.address.toLowerCase();
      if (!from) return callback(reply(550, '5.7.1 A null sender is not allowed on submission'));
      if (!/^[^@\s]+@[^@\s]+$/.test(from)) return callback(reply(501, '5.5.4 Invalid sender address'));
      if (!user.emails.includes(from)) {
        return callback(reply(550, `5.7.1 ${user.name} may not send as ${from}`));
      }
      callback();
    },

    async onRcptTo(address: SMTPServerAddress, session: Session, callback) {
      try {
        const rcpt = address.address.toLowerCase();
        const domain = domainOf(rcpt);
        if (await isLocalDomain(store, domain)) {
          const local = rcpt.split('@')[0];
          if (!(await principalForAddress(store, rcpt)) && local !== 'postmaster') {
            return callback(reply(550, `5.1.1 <${rcpt}>: mailbox does not exist`));
          }
          return callback();
        }
        if (submission && session.user) return callback();
        if (!submission && trusted(session.remoteAddress)) return callback();
        options.security?.onRelayDenied?.(session.remoteAddress);
        log.info({ cid: session.id, ip: session.remoteAddress, rcpt }, 'smtp.relay_denied');
        callback(reply(550, '5.7.1 Relay not allowed'));
      } catch (err) {
        log.error({ err, cid: session.id }, 'smtp.rcpt_error');
        callback(reply(451, '4.3.0 Temporary failure, try again'));
      }
    },

    async onData(stream, session: Session, callback) {
      try {
        const data = await readStream(stream, options.maxMessageSize);
        let raw = data.raw;
        if (data.exceeded) return callback(reply(552, `5.3.4 Message exceeds the maximum size of ${options.maxMessageSize} bytes`));
        // SMTP smuggling (CVE-2023-51764/51765/51766): smtp-server ends DATA only at CRLF.CRLF (RFC 5321 §4.1.1.4), but a
        // bare CR or LF (RFC 5321 §2.3.8: "CR and LF MUST only occur together as CRLF") is where a fake end of data hides,
        // for a later hop or reader that takes it for a line end. The whole message is refused, on every listener, like
        // Postfix's `smtpd_forbid_bare_newline = reject` (with bare CR too); our clients (nodemailer, swaks) send CRLF only.
        const bare = findBareLineBreak(raw);
        if (bare) {
          log.info({ cid: session.id, ip: session.remoteAddress, listener: kind, char: bare.char, offset: bare.offset }, 'smtp.bare_line_break');
          return callback(reply(554, `5.5.2 Message refused: bare <${bare.char}> at byte ${bare.offset} of the data; end every line with <CR><LF> (RFC 5321 section 2.3.8)`));
        }
        const envelope = session.envelope as SMTPServerSession['envelope'] & { dsn?: { ret?: string; envid?: string } };
        const mailFrom = envelope.mailFrom ? envelope.mailFrom.address.toLowerCase() : '';
        const senderDomain = fromDomain(raw) ?? (mailFrom ? domainOf(mailFrom) : options.hostname);
        const originatesHere = submission || trusted(session.remoteAddress);
        let messageId = headerValue(raw, 'message-id') ?? null;
        // RFC 8601 §5 / RFC 7489 §6.6: mail from the Internet (port 25, not a trusted relay) is authenticated, the
        // results stamped on top; the checks see the message as it came (a signature may cover a forged field).
        let authStamp = '';
        let authResults: { spf: string; dkim: string; dmarc: string } | undefined;
        if (!originatesHere && options.inboundAuth) {
          const result = await checkInboundAuth({
            raw, ip: session.remoteAddress, helo: session.hostNameAppearsAs, mailFrom, hostname: options.hostname,
            resolver: options.inboundAuth.resolver, timeoutMs: options.inboundAuth.timeoutMs,
          });
          authResults = { spf: result.spf, dkim: result.dkim, dmarc: result.dmarc };
          const fields = { cid: session.id, ip: session.remoteAddress, ...authResults, from: result.fromDomain, policy: result.dmarcPolicy, timedOut: result.timedOut || undefined };
          if (result.error) log.warn({ ...fields, err: result.error }, 'smtp.inbound_auth_error');
          const refusal = dmarcRejection(result, options.inboundAuth.policy);
          if (refusal) {
            log.info(fields, 'smtp.dmarc_reject');
            return callback(reply(550, refusal));
          }
          log.debug(fields, 'smtp.inbound_auth');
          authStamp = result.header;
        }
        // RFC 8601 §5: a field with our authserv-id that came with the message is forged, from the Internet and from a
        // submission client alike (a user could show another local user a "dmarc=pass" of ours). A trusted relay
        // (loopback, allowedIp) is inside the trust boundary: its fields are passed as they are.
        if (submission || !trusted(session.remoteAddress)) {
          const stripped = removeForgedResults(raw, options.hostname);
          if (stripped.removed) log.info({ cid: session.id, ip: session.remoteAddress, listener: kind, removed: stripped.removed }, 'smtp.forged_auth_results_removed');
          raw = stripped.raw;
        }
        if (originatesHere) {
          const fixed = ensureIdAndDate(raw, { domain: senderDomain });
          raw = fixed.raw;
          messageId = fixed.messageId;
        }
        const queueIdHint = session.id;
        const protocol = `ESMTP${session.secure ? 'S' : ''}${session.user ? 'A' : ''}`;
        // RFC 8601 §5: Authentication-Results goes above the trace fields, so ours is the topmost.
        raw = Buffer.concat([Buffer.from(authStamp + receivedHeader({ helo: session.hostNameAppearsAs, remoteIp: session.remoteAddress, by: options.hostname, protocol, id: queueIdHint })), raw]);
        let signedWith: string[] = [];
        if (originatesHere && (await isLocalDomain(store, senderDomain))) {
          const keys = await options.signingKeys.keysFor(senderDomain);
          if (keys.length) {
            raw = await options.signer.sign({ raw, keys });
            signedWith = keys.map((k) => `${k.selector}._domainkey.${k.domain}`);
          }
        }
        const queued: Submission = {
          mailFrom,
          recipients: envelope.rcptTo.map((r) => {
            const dsn = (r as SMTPServerAddress & { dsn?: { notify?: string[]; orcpt?: string } }).dsn;
            return { address: r.address.toLowerCase(), notify: dsn?.notify as DsnNotify | undefined, orcpt: dsn?.orcpt };
          }),
          raw,
          source: submission ? 'submission' : 'inbound',
          authUser: session.user?.name,
          remoteIp: session.remoteAddress,
          envId: envelope.dsn?.envid,
          ret: envelope.dsn?.ret === 'HDRS' ? 'HDRS' : envelope.dsn?.ret === 'FULL' ? 'FULL' : undefined,
          isDsn: mailFrom === '' && /multipart\/report/i.test(headerValue(raw, 'content-type') ?? ''),
          headerMessageId: messageId,
          signedWith,
          authResults,
        };
        const id = await options.queue.enqueue(queued);
        callback(null, `Ok: queued as ${id}`);
      } catch (err) {
        log.error({ err, cid: session.id }, 'smtp.data_error');
        callback(reply(451, '4.3.0 Message not accepted, try again'));
      }
    },
  });
  server.on('error', (err) => log.warn({ err: { message: err.message, code: (err as any).code }, listener: kind }, 'smtp.error'));
  return server;
}

export function listen(server: SMTPServer, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = (server as any).server as import('node:net').Server;
    const onError = (err: Error) => reject(err);
    s.once('error', onError);
    server.listen(port, host, () => {
      s.off('error', onError);
      resolve((s.address() as AddressInfo).port);
    });
  });
}
