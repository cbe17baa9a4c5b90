// `mana send`: a test message submitted to the running mail server as an application submits one (RFC 6409 submission, STARTTLS per RFC 3207, AUTH per RFC 4954, as `noreply`), then its delivery outcome from the queue.
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import nodemailer from 'nodemailer';
import { EXIT, parse, runCommand, str, UsageError, type CliIo } from './args.ts';
import { getSetting } from '../store/settings.ts';
import { isAddrSpec, isLocalDomain, listDomains } from '../mail/accounts.ts';
import { getQueueMessage } from '../mail/admin/queue-view.ts';
import { queueIdFromReply } from '../notify/smtp-provider.ts';

export const USAGE = `Usage:
  mana send --to ADDRESS [--from ADDRESS] [--subject S] [--text BODY] [--no-wait] [--insecure]
      Submits a test message to the running mail server (the submission listener, STARTTLS,
      AUTH as noreply with the password in the store) and waits up to 30 s for its outcome.
      --from       default noreply@<local domain>; an address of the noreply account
      --no-wait    print the queue id and stop
      --insecure   accept a certificate that does not verify (always accepted on a loopback host)
`;

/** The account applications submit with; its generated password is kept in the store (src/stack/secrets.ts). */
const USER = 'noreply';
const SECRET_KEY = 'secret.noreply_password';

export type SendOptions = {
  /** How long to wait for the outcome, ms (30 s). */
  waitMs?: number;
  /** How often the store is read while waiting, ms (250). */
  pollMs?: number;
};

/** An outcome the command reports as a failure (exit 1), with the line that says what to do. */
class SendFailed extends Error {
  code = 'send.failed';
}

/** 127.0.0.0/8, ::1 and localhost: the certificate is the server's own self-signed one and the path never leaves the machine. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Where the submission listener is reached: its bind address, loopback when it binds every address. */
export function submissionTarget(io: CliIo): { host: string; port: number } {
  const { host, port } = io.config.mail.listeners.submission;
  return { host: host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host, port };
}

async function defaultFrom(io: CliIo): Promise<string> {
  const domain = (await isLocalDomain(io.store, io.config.mail.domain)) ? io.config.mail.domain : (await listDomains(io.store))[0];
  if (!domain) throw new SendFailed('there is no local domain yet: start the mail server once (npm start or mana mail) so it creates one, or pass --from');
  return `${USER}@${domain}`;
}

/** Says what a submission error means for a person at the terminal. */
function explain(err: unknown, target: { host: string; port: number }, insecureHint: boolean): string {
  const e = err as { code?: string; originalCode?: string; message?: string; response?: string; command?: string };
  const where = `${target.host}:${target.port}`;
  const code = e.originalCode ?? e.code;
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(e.message ?? '')) {
    return `cannot connect to the submission listener at ${where} (connection refused): is the mail server running? start it with npm start or mana mail`;
  }
  if (code === 'ETIMEDOUT' || e.code === 'ETIMEDOUT') return `no answer from ${where} (timed out): is the mail server running there, and is the port open?`;
  if (e.code === 'EAUTH') return `the server refused AUTH as ${USER}: ${e.response ?? e.message}; the password in the store is not the account's (the server sets it on start: restart it, or mana account passwd ${USER})`;
  if (e.code === 'ETLS' || /certificate|self[- ]signed|CERT_|unable to verify/i.test(e.message ?? '')) {
    return `TLS with ${where} failed: ${e.message}${insecureHint ? '; if the server uses its self-signed certificate, pass --insecure' : ''}`;
  }
  if (e.response) return `the server refused the message: ${e.response}`;
  return `submission to ${where} failed: ${e.message ?? String(err)}`;
}

type Outcome = { address: string; state: 'delivered' | 'captured' | 'failed' | 'expired' | 'cancelled' | 'deferred' | 'queued'; reply: string };

/** The recipients' states now: `deferred` is a recipient still queued after a failed attempt. */
async function outcomes(io: CliIo, id: string): Promise<Outcome[] | undefined> {
  const m = await getQueueMessage(io.store, id);
  if (!m) return undefined;
  return m.recipients.map((r) => {
    const captured = r.status === 'delivered' && m.timeline.some((e) => e.type === 'delivered' && e.rcpt === r.address && e.data.route === 'capture');
    const state = captured ? 'captured' : r.status === 'queued' ? (r.retry_num > 0 ? 'deferred' : 'queued') : (r.status as Outcome['state']);
    return { address: r.address, state, reply: r.last_reply ? `${r.last_code ?? ''} ${r.last_reply}`.trim() : '-' };
  });
}

export async function run(args: string[], io: CliIo, options: SendOptions = {}): Promise<number> {
  const err = io.err ?? ((s: string) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`));
  return runCommand(io, 'send', USAGE, async () => {
    const { positionals, values } = parse(args, {
      to: { type: 'string' }, from: { type: 'string' }, subject: { type: 'string' }, text: { type: 'string' },
      'no-wait': { type: 'boolean' }, insecure: { type: 'boolean' },
    });
    if (positionals.length) throw new UsageError(`unexpected ${positionals[0]}`);
    const to = str(values.to);
    if (!to || !isAddrSpec(to)) throw new UsageError('--to expects an email address, local@domain');
    const fromGiven = str(values.from);
    if (fromGiven !== undefined && !isAddrSpec(fromGiven)) throw new UsageError('--from expects an email address, local@domain');
    const waitMs = options.waitMs ?? 30_000;

    try {
      const pass = await getSetting(io.store, SECRET_KEY);
      if (!pass) throw new SendFailed(`no ${USER} password in the store at ${io.config.databaseUrl ? 'DATABASE_URL' : io.config.dataDir}: start the mail server once (npm start or mana mail) so it creates the account`);
      const from = fromGiven ?? (await defaultFrom(io));
      const target = submissionTarget(io);
      const loopback = isLoopback(target.host);
      const verify = !loopback && !values.insecure;
      if (!verify) io.out(`note: the server's certificate is not verified (${loopback ? `${target.host} is this machine` : '--insecure'})`);
      const now = new Date();
      const transport = nodemailer.createTransport({
        host: target.host,
        port: target.port,
        secure: false,
        requireTLS: true, // RFC 3207: never AUTH in the clear
        auth: { user: USER, pass },
        // The certificate names the mail host name, not the address the listener binds.
        tls: { rejectUnauthorized: verify, servername: isIP(target.host) ? io.config.mail.hostname : target.host },
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 30_000,
        logger: false,
        debug: false,
      });
      let response: string;
      try {
        const info = (await transport.sendMail({
          from,
          to,
          subject: str(values.subject) ?? `mana test message ${now.toISOString()}`,
          text: str(values.text) ?? `This is a test message sent by "mana send" at ${now.toISOString()} through the submission listener ${target.host}:${target.port} as ${USER}, to check that mail from this server is accepted, signed and delivered.\n`,
        })) as { response?: string };
        response = info.response ?? '';
      } catch (e) {
        throw new SendFailed(explain(e, target, verify), { cause: e });
      } finally {
        transport.close();
      }
      const id = queueIdFromReply(response);
      if (!id) throw new SendFailed(`the server accepted the message but named no queue id: ${response}`);
      io.out(`sent: queued as ${id}`);
      if (values['no-wait']) return EXIT.ok;

      // The outcome, from the queue the server writes to (the same store).
      const deadline = Date.now() + waitMs;
      let last: Outcome[] = [];
      for (;;) {
        last = (await outcomes(io, id)) ?? [];
        if (last.length && last.every((o) => o.state !== 'queued')) break;
        if (Date.now() >= deadline) break;
        await sleep(options.pollMs ?? 250);
      }
      for (const o of last) io.out(`${o.state}: ${o.address} (${o.reply})`);
      const pending = !last.length || last.some((o) => o.state === 'queued');
      if (!pending && last.every((o) => o.state === 'delivered' || o.state === 'captured')) {
        if (last.some((o) => o.state === 'captured')) io.out('note: delivery is off (capture mode): the message is in the captured mailbox, see: mana captured list');
        return EXIT.ok;
      }
      err(pending
        ? `mana send: not delivered after ${Math.round(waitMs / 1000)} s; see: mana queue show ${id} and mana logs --queue ${id}`
        : `mana send: not delivered; see: mana queue show ${id} and mana logs --queue ${id}`);
      return EXIT.failed;
    } catch (e) {
      if (!(e instanceof SendFailed)) throw e;
      err(`mana send: ${e.message}`);
      return EXIT.failed;
    }
  });
}
