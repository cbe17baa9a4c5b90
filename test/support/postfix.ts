// Test support: a throwaway Postfix instance (RFC 5321 MX or relay) run from its own config, queue and log directories.
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, freePort } from './tmp.ts';

const POSTFIX = '/usr/sbin/postfix';
const POSTCONF = '/usr/sbin/postconf';
const COMMAND_TIMEOUT_MS = 30_000;

export type PostfixOptions =
  | {
      /** Final destination for `domain`: every recipient there lands in one maildir, read with messages(). */
      mode: 'mx';
      domain: string;
      /** Extra or overriding main.cf parameters. */
      main?: Record<string, string>;
    }
  | {
      /** Relays everything from 127.0.0.0/8 to `relayhost` ('127.0.0.1:2525' or '[127.0.0.1]:2525'). */
      mode: 'relay';
      relayhost: string;
      main?: Record<string, string>;
    };

export type PostfixInstance = {
  host: '127.0.0.1';
  port: number;
  /** The instance's directory (config in `conf/`, queue in `queue/`, log in `maillog`). */
  dir: string;
  /** The Postfix log so far (maillog_file); '' before the first line. */
  maillog: () => string;
  /** Resolves with the log once `pattern` matches it; rejects with code 'test.timeout'. */
  waitForLog: (pattern: RegExp, timeoutMs?: number) => Promise<string>;
  /** mx mode: every delivered message, oldest first, as stored in the maildir. */
  messages: () => Promise<Buffer[]>;
  /** mx mode: resolves once at least `count` messages were delivered; rejects with code 'test.timeout'. */
  waitForMessages: (count: number, timeoutMs?: number) => Promise<Buffer[]>;
  /** Stops Postfix and removes the directory; safe to call twice. */
  stop: () => Promise<void>;
};

type RunResult = { code: number; stdout: string; stderr: string };

function run(file: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: COMMAND_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr: stderr || (err?.message ?? '') });
    });
  });
}

function postfixError(message: string, code: string, detail?: string): Error {
  return Object.assign(new Error(detail ? `${message}: ${detail.trim()}` : message), { code });
}

function accountIds(user: string): { uid: number; gid: number } {
  const uid = spawnSync('id', ['-u', user], { encoding: 'utf8', timeout: 5000 });
  const gid = spawnSync('id', ['-g', user], { encoding: 'utf8', timeout: 5000 });
  if (uid.status !== 0 || gid.status !== 0) {
    throw postfixError(`no system account ${user} (is the postfix package installed?)`, 'test.postfix_missing');
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function bracketed(relayhost: string): string {
  // "[host]:port" turns off MX lookups for the relay host (postconf(5) relayhost).
  if (relayhost.startsWith('[')) return relayhost;
  const match = /^(.*):(\d+)$/.exec(relayhost);
  return match ? `[${match[1]}]:${match[2]}` : `[${relayhost}]`;
}

/** Debian's master.cf services, chroot off, with one SMTP listener on 127.0.0.1:port. */
function masterCf(port: number): string {
  const services = [
    `127.0.0.1:${port} inet n - n - - smtpd`,
    'pickup unix n - n 60 1 pickup',
    'cleanup unix n - n - 0 cleanup',
    'qmgr unix n - n 300 1 qmgr',
    'rewrite unix - - n - - trivial-rewrite',
    'bounce unix - - n - 0 bounce',
    'defer unix - - n - 0 bounce',
    'trace unix - - n - 0 bounce',
    'verify unix - - n - 1 verify',
    'flush unix n - n 1000? 0 flush',
    'proxymap unix - - n - - proxymap',
    'proxywrite unix - - n - 1 proxymap',
    'smtp unix - - n - - smtp',
    'relay unix - - n - - smtp',
    'showq unix n - n - - showq',
    'error unix - - n - - error',
    'retry unix - - n - - error',
    'discard unix - - n - - discard',
    'local unix - n n - - local',
    'virtual unix - n n - - virtual',
    'lmtp unix - - n - - lmtp',
    'anvil unix - - n - 1 anvil',
    'scache unix - - n - 1 scache',
    'postlog unix-dgram n - n - 1 postlogd',
  ];
  return `# throwaway test instance\n${services.join('\n')}\n`;
}

function mainCf(options: {
  dir: string;
  settings: PostfixOptions;
  owner: { uid: number; gid: number };
}): string {
  const { dir, settings, owner } = options;
  const common: Record<string, string> = {
    compatibility_level: '3.6',
    queue_directory: join(dir, 'queue'),
    data_directory: join(dir, 'data'),
    meta_directory: '/etc/postfix',
    mail_owner: 'postfix',
    setgid_group: 'postdrop',
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    mynetworks: '127.0.0.0/8',
    mydestination: '',
    local_transport: 'error:local delivery disabled',
    local_recipient_maps: '',
    alias_maps: '',
    alias_database: '',
    relay_domains: '',
    biff: 'no',
    append_dot_mydomain: 'no',
    smtpd_peername_lookup: 'no',
    smtpd_tls_security_level: 'none',
    smtp_tls_security_level: 'none',
    smtp_dns_support_level: 'disabled',
    smtputf8_enable: 'yes',
    maillog_file: join(dir, 'maillog'),
    maillog_file_prefixes: dir,
    syslog_name: `postfix-test`,
    notify_classes: '',
    delay_warning_time: '0',
  };
  const modeSettings: Record<string, string> =
    settings.mode === 'mx'
      ? {
          myhostname: `mx.${settings.domain}`,
          virtual_mailbox_domains: settings.domain,
          virtual_mailbox_base: join(dir, 'mail'),
          virtual_mailbox_maps: 'static:inbox/', // catch-all: trailing slash = maildir
          virtual_uid_maps: `static:${owner.uid}`,
          virtual_gid_maps: `static:${owner.gid}`,
          virtual_minimum_uid: String(owner.uid),
          smtpd_relay_restrictions: 'reject_unauth_destination',
        }
      : {
          myhostname: 'relay.test',
          relayhost: bracketed(settings.relayhost),
          smtpd_relay_restrictions: 'permit_mynetworks, reject',
        };
  const all = { ...common, ...modeSettings, ...(settings.main ?? {}) };
  return `${Object.entries(all)
    .map(([k, v]) => `${k} = ${v}`)
    .join('\n')}\n`;
}

const running = new Set<string>();
let exitHookInstalled = false;

/** If a test dies without stop(), do not leave Postfix masters behind. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const dir of running) {
      spawnSync(POSTFIX, ['-c', join(dir, 'conf'), 'abort'], { timeout: 10_000, stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readMaildir(base: string): Promise<Buffer[]> {
  const files: string[] = [];
  for (const sub of ['new', 'cur']) {
    const path = join(base, sub);
    if (!existsSync(path)) continue;
    for (const name of await readdir(path)) files.push(join(path, name));
  }
  // Maildir names start with the delivery time in seconds, then a unique part: sort for order.
  files.sort((a, b) => {
    const ta = Number(/(\d+)\.[^/]*$/.exec(a)?.[1] ?? 0);
    const tb = Number(/(\d+)\.[^/]*$/.exec(b)?.[1] ?? 0);
    return ta - tb || a.localeCompare(b);
  });
  return Promise.all(files.map((f) => readFile(f)));
}

/** Starts a Postfix instance listening on 127.0.0.1 (a free port). Needs root, as Postfix's master does. */
export async function startPostfix(settings: PostfixOptions): Promise<PostfixInstance> {
  if (process.getuid?.() !== 0) {
    throw postfixError('a Postfix instance must be started as root', 'test.postfix_needs_root');
  }
  if (!existsSync(POSTFIX)) throw postfixError(`${POSTFIX} not found`, 'test.postfix_missing');
  const owner = accountIds('postfix');
  const temp = await makeTempDir(`postfix-${settings.mode}`);
  const dir = temp.path;
  chmodSync(dir, 0o755); // Postfix daemons run as mail_owner and must reach the queue below.
  const conf = join(dir, 'conf');
  mkdirSync(conf);
  mkdirSync(join(dir, 'queue'), { mode: 0o755 }); // post-install creates what is below it
  if (settings.mode === 'mx') {
    mkdirSync(join(dir, 'mail'));
    chownSync(join(dir, 'mail'), owner.uid, owner.gid); // virtual(8) creates the maildir as that user
  }
  writeFileSync(join(dir, 'maillog'), '');

  let port = 0;
  let lastError = '';
  for (let attempt = 0; attempt < 3 && port === 0; attempt++) {
    const candidate = await freePort();
    writeFileSync(join(conf, 'main.cf'), mainCf({ dir, settings, owner }));
    writeFileSync(join(conf, 'master.cf'), masterCf(candidate));
    const started = await run(POSTFIX, ['-c', conf, 'start']);
    if (started.code === 0) {
      port = candidate;
      break;
    }
    lastError = `${started.stderr}\n${readFileSync(join(dir, 'maillog'), 'utf8')}`;
    // A lost race for the port shows as a bind failure; anything else will not heal on retry.
    if (!/bind|address already in use/i.test(lastError)) break;
    await run(POSTFIX, ['-c', conf, 'abort']);
  }
  if (port === 0) {
    await temp.remove();
    throw postfixError('postfix did not start', 'test.postfix_start_failed', lastError);
  }
  running.add(dir);
  installExitHook();

  const maillog = (): string => {
    try {
      return readFileSync(join(dir, 'maillog'), 'utf8');
    } catch {
      return '';
    }
  };
  const maildir = join(dir, 'mail', 'inbox');
  const messages = (): Promise<Buffer[]> => {
    if (settings.mode !== 'mx') {
      return Promise.reject(postfixError('messages() is for mx mode only', 'test.postfix_wrong_mode'));
    }
    return readMaildir(maildir);
  };
  let stopping: Promise<void> | undefined;

  return {
    host: '127.0.0.1',
    port,
    dir,
    maillog,
    async waitForLog(pattern, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const log = maillog();
        if (pattern.test(log)) return log;
        if (Date.now() > deadline) {
          throw postfixError(`postfix log did not match ${pattern} within ${timeoutMs} ms`, 'test.timeout', log.slice(-2000));
        }
        await sleep(50);
      }
    },
    messages,
    async waitForMessages(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = await messages();
        if (found.length >= count) return found;
        if (Date.now() > deadline) {
          throw postfixError(
            `postfix delivered ${found.length} of ${count} messages within ${timeoutMs} ms`,
            'test.timeout',
            maillog().slice(-2000),
          );
        }
        await sleep(50);
      }
    },
    stop() {
      stopping ??= (async () => {
        const stopped = await run(POSTFIX, ['-c', conf, 'stop']);
        if (stopped.code !== 0) await run(POSTFIX, ['-c', conf, 'abort']);
        running.delete(dir);
        await temp.remove();
      })();
      return stopping;
    },
  };
}

/** The value of a main.cf parameter as this Postfix build knows it (`postconf -d`), to check names. */
export async function postconfDefault(name: string): Promise<string | undefined> {
  const result = await run(POSTCONF, ['-d', '-h', name]);
  // An unknown name exits 0 with "warning: NAME: unknown parameter" on stderr.
  if (result.code !== 0 || /unknown parameter/.test(result.stderr)) return undefined;
  return result.stdout.trim();
}
