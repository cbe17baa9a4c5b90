// `mana doctor`: the three SMTP ports: greeting, EHLO, STARTTLS (RFC 5321, RFC 3207) or implicit TLS (RFC 8314), and the certificate a sender sees (RFC 6125).
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate, type TLSSocket } from 'node:tls';
import { errorText, skipped, type CheckResult, type CheckStatus, type DoctorPorts } from './check.ts';
import { connect, converse, ehloName, firstLine, type Conversation } from './smtp-client.ts';
import type { ServerContext } from './target.ts';

const DAY = 86_400_000;

export async function checkPorts(ctx: ServerContext): Promise<CheckResult[]> {
  const kinds: Array<keyof DoctorPorts> = ['smtp', 'submission', 'submissions'];
  const results = await Promise.all(kinds.map((kind) => checkPort(ctx, kind)));
  return results.flat();
}

async function checkPort(ctx: ServerContext, kind: keyof DoctorPorts): Promise<CheckResult[]> {
  const port = ctx.ports[kind];
  const check = `${kind} ${ctx.address.includes(':') ? `[${ctx.address}]` : ctx.address}:${port}`;
  const certCheck = `certificate ${kind}`;
  const implicit = kind === 'submissions';
  let conversation: Conversation | undefined;
  try {
    if (!port) return [{ check, status: 'error', detail: 'port 0 (an ephemeral port) in the configuration: give the port with --ports' }];
    const socket = await connect({ address: ctx.address, port, stepMs: ctx.stepMs, tls: implicit ? ctx.host : undefined });
    const c = converse(socket, ctx.stepMs);
    conversation = c;
    const greeting = await c.reply('greeting');
    if (greeting.code !== 220) return [{ check, status: 'error', detail: `greeting ${firstLine(greeting)}` }];
    const ehlo = await c.command(`EHLO ${ehloName(socket)}`);
    if (ehlo.code !== 250) return [{ check, status: 'error', detail: `EHLO answered ${firstLine(ehlo)}` }];
    let tlsSocket: TLSSocket;
    if (implicit) tlsSocket = socket as TLSSocket;
    else {
      // RFC 3207 §4: the server lists STARTTLS in its EHLO reply.
      if (!/^250[- ]STARTTLS\b/im.test(ehlo.text)) return [{ check, status: 'error', detail: `${firstLine(greeting)}; no STARTTLS offered after EHLO` }, skipped(certCheck, 'no TLS')];
      const go = await c.command('STARTTLS');
      if (go.code !== 220) return [{ check, status: 'error', detail: `STARTTLS answered ${firstLine(go)}` }, skipped(certCheck, 'no TLS')];
      tlsSocket = await c.startTls(ctx.host);
      // RFC 3207 §4.2: the session starts over after the handshake.
      const again = await c.command(`EHLO ${ehloName(socket)}`);
      if (again.code !== 250) return [{ check, status: 'error', detail: `EHLO after STARTTLS answered ${firstLine(again)}` }, certificateVerdict(ctx, certCheck, tlsSocket)];
    }
    await c.command('QUIT').catch(() => undefined);
    const how = implicit ? `implicit TLS (${tlsSocket.getProtocol()})` : `STARTTLS (${tlsSocket.getProtocol()})`;
    return [{ check, status: 'ok', detail: `${firstLine(greeting)}; ${how}` }, certificateVerdict(ctx, certCheck, tlsSocket)];
  } catch (err) {
    return [{ check, status: 'error', detail: errorText(err) }, skipped(certCheck, `no TLS session on ${kind}`)];
  } finally {
    conversation?.close();
  }
}

/** The certificate a sender sees: names (RFC 6125), validity, issuer. */
function certificateVerdict(ctx: ServerContext, check: string, socket: TLSSocket): CheckResult {
  const cert = socket.getPeerCertificate(false) as PeerCertificate;
  if (!cert || !Object.keys(cert).length) return { check, status: 'error', detail: 'the server sent no certificate' };
  // The name senders check is the MX host name; with --host ADDRESS, our configured host name.
  const name = isIP(ctx.host) ? ctx.config.mail.hostname : ctx.host;
  const notes: string[] = [];
  let status: CheckStatus = 'ok';
  const worse = (s: CheckStatus) => { if (s === 'error' || (s === 'warn' && status === 'ok')) status = s; };
  const sans = (cert.subjectaltname ?? '').split(',').map((s) => s.trim().replace(/^DNS:/, '').replace(/^IP Address:/, '')).filter(Boolean);
  notes.push(`CN=${cert.subject?.CN ?? '-'}${sans.length ? `, SAN ${sans.join(' ')}` : ''}`);
  const mismatch = checkServerIdentity(name, cert);
  if (mismatch) { worse('warn'); notes.push(`does not cover ${name}`); }
  else notes.push(`covers ${name}`);
  const days = Math.floor((Date.parse(cert.valid_to) - ctx.now()) / DAY);
  if (!(days >= 0)) { worse('error'); notes.push(`expired ${cert.valid_to}`); }
  else if (days < 14) { worse('warn'); notes.push(`expires in ${days} days`); }
  else notes.push(`expires in ${days} days`);
  const authError = socket.authorizationError as unknown as { code?: string } | string | null | undefined;
  const code = typeof authError === 'string' ? authError : authError?.code;
  if (code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'SELF_SIGNED_CERT_IN_CHAIN') {
    worse('warn');
    notes.push('self-signed: mail still flows with opportunistic TLS, but MTA-STS enforce needs a CA-signed certificate');
  } else if (code) {
    worse('warn');
    notes.push(`not trusted (${code})`);
  } else notes.push(`issued by ${cert.issuer?.O ?? cert.issuer?.CN ?? 'a trusted CA'}`);
  if (status !== 'ok' && ctx.config.mail.mtaSts.mode === 'enforce') notes.push('mail.mtaSts.mode is enforce: senders that honour it will refuse to deliver');
  return { check, status, detail: notes.join('; ') };
}
