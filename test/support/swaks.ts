// Test support: run swaks (the Swiss Army Knife for SMTP) as a real RFC 5321 client against our servers.
import { spawn } from 'node:child_process';

const SWAKS = '/usr/bin/swaks';

/** swaks exit codes (swaks(1) "EXIT CODES"), named for assertions. */
export const SWAKS_EXIT = {
  ok: 0,
  badOptions: 1,
  connectFailed: 2,
  connectionClosed: 6,
  bannerError: 21,
  heloError: 22,
  mailError: 23,
  noRcptAccepted: 24,
  dataCommandError: 25,
  dataRejected: 26,
  quitError: 27,
  authError: 28,
  tlsError: 29,
  ehloAfterTlsError: 32,
} as const;

export type SwaksLine = {
  /** swaks' line hint: '===' info, '***' error, '->' sent, '~>' sent over TLS, '<-' received, '<~' received over TLS, '<**' / '<~*' unexpected reply, '**>' / '*~>' unexpected send. */
  hint: string;
  text: string;
};

export type SwaksResult = {
  /** swaks exit status (see SWAKS_EXIT); -1 when it was killed by the timeout. */
  code: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved in arrival order. */
  transcript: string;
  lines: SwaksLine[];
  /** Every line the server sent (expected or not), TLS or not, without the hint. */
  replies: string[];
  timedOut: boolean;
};

const HINT = /^(===|\*\*\*|\*\*>|\*~>| ->| ~>|<- |<~ |<\*\*|<~\*)\s?(.*)$/;

export function parseTranscript(transcript: string): SwaksLine[] {
  const lines: SwaksLine[] = [];
  for (const raw of transcript.split(/\r?\n/)) {
    const match = HINT.exec(raw);
    if (match) lines.push({ hint: match[1].trim(), text: match[2] });
  }
  return lines;
}

/** Runs /usr/bin/swaks with `args`; never throws for an SMTP failure (see `code`). */
export function runSwaks(args: string[], options: { timeoutMs?: number; stdin?: string | Buffer } = {}): Promise<SwaksResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(SWAKS, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let transcript = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      transcript += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      transcript += chunk;
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`cannot run ${SWAKS}: ${err.message}`), { code: 'test.swaks_missing', cause: err }));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      const lines = parseTranscript(transcript);
      const replies = lines.filter((l) => l.hint.startsWith('<')).map((l) => l.text);
      resolve({ code: timedOut || code === null ? -1 : code, stdout, stderr, transcript, lines, replies, timedOut });
    });
    child.stdin.on('error', () => {
      // swaks may exit before reading stdin; that is its result, not ours.
    });
    child.stdin.end(options.stdin ?? '');
  });
}

export type SwaksArgsOptions = {
  port: number;
  server?: string; // default 127.0.0.1
  from?: string;
  to?: string | string[];
  /** 'starttls': --tls (STARTTLS required); 'optional': --tls-optional; 'on-connect': --tls-on-connect (port 465 style). */
  tls?: 'starttls' | 'optional' | 'on-connect';
  /** SASL mechanism(s), e.g. 'PLAIN', 'LOGIN', 'CRAM-MD5'. */
  auth?: string;
  user?: string;
  password?: string;
  pipeline?: boolean;
  ehlo?: string;
  /** Whole DATA portion; swaks' default test message when omitted. */
  data?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Stop after this point: connect, banner, first-helo, tls, helo, auth, mail, rcpt, ... */
  quitAfter?: string;
  /** swaks' own per-read timeout in seconds (default 10). */
  timeoutSeconds?: number;
  extra?: string[];
};

/** Builds swaks arguments for the usual cases; pass the result to runSwaks. */
export function swaksArgs(options: SwaksArgsOptions): string[] {
  const args = ['--server', options.server ?? '127.0.0.1', '--port', String(options.port)];
  args.push('--timeout', String(options.timeoutSeconds ?? 10));
  if (options.from !== undefined) args.push('--from', options.from);
  if (options.to !== undefined) args.push('--to', Array.isArray(options.to) ? options.to.join(',') : options.to);
  if (options.ehlo !== undefined) args.push('--ehlo', options.ehlo);
  if (options.tls === 'starttls') args.push('--tls');
  else if (options.tls === 'optional') args.push('--tls-optional');
  else if (options.tls === 'on-connect') args.push('--tls-on-connect');
  if (options.auth !== undefined) args.push('--auth', options.auth);
  if (options.user !== undefined) args.push('--auth-user', options.user);
  if (options.password !== undefined) args.push('--auth-password', options.password);
  if (options.pipeline) args.push('--pipeline');
  if (options.data !== undefined) args.push('--data', options.data);
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push('--header', `${name}: ${value}`);
  if (options.body !== undefined) args.push('--body', options.body);
  if (options.quitAfter !== undefined) args.push('--quit-after', options.quitAfter);
  args.push(...(options.extra ?? []));
  return args;
}
