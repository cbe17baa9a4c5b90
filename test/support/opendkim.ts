// Test support: a throwaway OpenDKIM signing milter (RFC 6376 rsa-sha256, RFC 8463 ed25519-sha256) run from its own config, keys and pid file.
import { execFile, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, makeTempDir } from './tmp.ts';

const OPENDKIM = '/usr/sbin/opendkim';
const GENKEY = '/usr/sbin/opendkim-genkey';
const OPENSSL = '/usr/bin/openssl';
const COMMAND_TIMEOUT_MS = 30_000;

export type OpendkimKey = { selector: string; algorithm: 'rsa' | 'ed25519' };

export type OpendkimOptions = {
  /** d= of every signature; mail whose From: address is in this domain gets one signature per key. */
  domain: string;
  /** Default: an RSA-2048 key (selector `rsa`) and an Ed25519 key (selector `ed25519`). */
  keys?: OpendkimKey[];
  /**
   * How Postfix reaches the milter: 'unix' (default, as Debian's opendkim.conf has it) a socket in the
   * instance's directory; 'inet' a free port on 127.0.0.1. Over TCP every message stalls ~2 x 40 ms
   * (Nagle + delayed ACK: the milter reply and Postfix's DATA command each go out as two small writes).
   */
  transport?: 'unix' | 'inet';
  /** Extra or overriding opendkim.conf(5) lines: `{ SignatureTTL: '3600' }`. */
  config?: Record<string, string>;
};

/** One opendkim process: this build (Debian's 2.11.0~beta2) signs with one algorithm per process. */
export type OpendkimProcess = {
  algorithm: OpendkimKey['algorithm'];
  pid: number;
  /** Postfix's name for it: `unix:/tmp/.../rsa.sock` or `inet:127.0.0.1:<port>`. */
  milter: string;
  /** inet only. */
  port: number | undefined;
};

export type OpendkimInstance = {
  /**
   * Postfix's value for smtpd_milters: one milter per process, comma-separated, in the order of
   * `keys` (each process adds its signature on top of the message).
   */
  milters: string;
  processes: OpendkimProcess[];
  /** The instance's directory (one opendkim.conf, key table and signing table per process, the keys). */
  dir: string;
  /** The TXT record of every key: `{ 'rsa._domainkey.example.com': 'v=DKIM1; k=rsa; p=...' }`. */
  publicKeys: Record<string, string>;
  /** What the processes wrote on stdout and stderr so far (they log nothing else: `Syslog no`). */
  output: () => string;
  /** Stops every process (SIGTERM, then SIGKILL after 5 s) and removes the directory; safe to call twice. */
  stop: () => Promise<void>;
};

const DEFAULT_KEYS: OpendkimKey[] = [
  { selector: 'rsa', algorithm: 'rsa' },
  { selector: 'ed25519', algorithm: 'ed25519' },
];

function opendkimError(message: string, code: string, detail?: string): Error {
  return Object.assign(new Error(detail ? `${message}: ${detail.trim()}` : message), { code });
}

function run(file: string, args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: COMMAND_TIMEOUT_MS, encoding: 'buffer' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr: stderr.toString('utf8') || (err?.message ?? '') });
    });
  });
}

/** True if Debian's opendkim and opendkim-tools are installed (`apt-get install opendkim opendkim-tools`). */
export function opendkimInstalled(): boolean {
  return existsSync(OPENDKIM) && existsSync(GENKEY);
}

/** The key's TXT record (RFC 6376 §3.6.1); Ed25519: p= is the raw 32-byte public key (RFC 8463 §4.2). */
async function makeKey(dir: string, domain: string, key: OpendkimKey): Promise<{ file: string; txt: string }> {
  const file = join(dir, `${key.selector}.private`);
  if (key.algorithm === 'rsa') {
    const made = await run(GENKEY, ['-b', '2048', '-d', domain, '-s', key.selector, '-D', dir]);
    if (made.code !== 0) throw opendkimError('opendkim-genkey failed', 'test.opendkim_genkey', made.stderr);
    // selector.txt is a zone file stub: name IN TXT ( "part" "part" ) ; comment
    const stub = readFileSync(join(dir, `${key.selector}.txt`), 'utf8').replace(/;[^"\n]*$/gm, '');
    const txt = [...stub.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join('');
    return { file, txt: txt.replace(/;\s*$/, '') };
  }
  const made = await run(OPENSSL, ['genpkey', '-algorithm', 'ed25519', '-out', file]);
  if (made.code !== 0) throw opendkimError('openssl genpkey ed25519 failed', 'test.opendkim_genkey', made.stderr);
  const pub = await run(OPENSSL, ['pkey', '-in', file, '-pubout', '-outform', 'DER']);
  if (pub.code !== 0 || pub.stdout.length < 32) throw opendkimError('openssl pkey -pubout failed', 'test.opendkim_genkey', pub.stderr);
  return { file, txt: `v=DKIM1; k=ed25519; p=${pub.stdout.subarray(-32).toString('base64')}` };
}

function accountIds(user: string): { uid: number; gid: number } | undefined {
  const uid = spawnSync('id', ['-u', user], { encoding: 'utf8', timeout: 5000 });
  const gid = spawnSync('id', ['-g', user], { encoding: 'utf8', timeout: 5000 });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

const running = new Set<ChildProcess>();
const directories = new Set<string>();
let exitHookInstalled = false;

/** If a test dies without stop(), do not leave opendkim or its keys behind. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
    for (const dir of directories) rmSync(dir, { recursive: true, force: true });
  });
}

function listening(where: { port: number } | { path: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = 'port' in where ? connect(where.port, '127.0.0.1') : connect(where.path);
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Launched = OpendkimProcess & { output: () => string; stop: () => Promise<void> };

/** One opendkim in the foreground (`Background no`), signing with the keys of `algorithm` (`<algorithm>.keys`, `<algorithm>.signing`). */
async function launch(options: {
  dir: string;
  algorithm: OpendkimKey['algorithm'];
  transport: 'unix' | 'inet';
  owner: { uid: number; gid: number } | undefined;
  config: Record<string, string>;
}): Promise<Launched> {
  const { dir, algorithm, owner } = options;
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = options.transport === 'inet' ? await freePort() : undefined;
    const path = join(dir, `${algorithm}.sock`);
    const settings: Record<string, string> = {
      Mode: 's',
      Socket: port === undefined ? `local:${path}` : `inet:${port}@127.0.0.1`,
      // The socket is created as the opendkim account; Postfix's smtpd (account postfix) must connect.
      UMask: '000',
      SignatureAlgorithm: algorithm === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256',
      KeyTable: `file:${join(dir, `${algorithm}.keys`)}`,
      SigningTable: `refile:${join(dir, `${algorithm}.signing`)}`,
      MultipleSignatures: 'yes',
      Canonicalization: 'relaxed/relaxed',
      // A message that cannot be signed must not pass unsigned (the default for this is reject).
      'On-SignatureError': 'tempfail',
      'On-InternalError': 'tempfail',
      // The key files are still read and checked for every message; the check fails only because
      // the temp dir sits below the world-writable /tmp.
      RequireSafeKeys: 'no',
      Syslog: 'no',
      Background: 'no',
      PidFile: join(dir, `${algorithm}.pid`),
      ...(owner ? { UserID: 'opendkim:opendkim' } : {}),
      ...options.config,
    };
    const conf = join(dir, `${algorithm}.conf`);
    writeFileSync(conf, `${Object.entries(settings).map(([k, v]) => `${k} ${v}`).join('\n')}\n`);
    const child = spawn(OPENDKIM, ['-x', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-20_000);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    let exited = false;
    const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
    running.add(child);
    installExitHook();
    let up = false;
    for (let i = 0; i < 100 && !exited && !up; i++) {
      up = await listening(port === undefined ? { path } : { port });
      if (!up) await sleep(50);
    }
    if (up) {
      let stopping: Promise<void> | undefined;
      return {
        algorithm,
        pid: child.pid!,
        milter: port === undefined ? `unix:${path}` : `inet:127.0.0.1:${port}`,
        port,
        output: () => output,
        stop() {
          stopping ??= (async () => {
            if (!exited) {
              child.kill('SIGTERM');
              const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
              await exit;
              clearTimeout(killer);
            }
            running.delete(child);
          })();
          return stopping;
        },
      };
    }
    if (!exited) child.kill('SIGKILL');
    await exit;
    running.delete(child);
    lastError = output || `opendkim did not listen on ${settings.Socket}`;
    // A lost race for the port shows as a bind failure; anything else will not heal on retry.
    if (!/address already in use|bind/i.test(lastError)) break;
  }
  throw opendkimError(`opendkim (${algorithm}) did not start`, 'test.opendkim_start_failed', lastError);
}

/**
 * Starts opendkim as a signing-only milter: every message whose From: address is in
 * `domain` gets one signature per key (relaxed/relaxed). Debian's 2.11.0~beta2 has one
 * SignatureAlgorithm per process (a per-key algorithm in the KeyTable came later), so RSA and
 * Ed25519 keys run in one process each, chained as two milters. Runs as the `opendkim` account
 * when started as root and that account exists.
 */
export async function startOpendkim(options: OpendkimOptions): Promise<OpendkimInstance> {
  if (!opendkimInstalled()) {
    throw opendkimError(`${OPENDKIM} not found (apt-get install opendkim opendkim-tools)`, 'test.opendkim_missing');
  }
  const temp = await makeTempDir('opendkim');
  const dir = temp.path;
  directories.add(dir);
  installExitHook();
  const launched: Launched[] = [];
  try {
    const keys = options.keys ?? DEFAULT_KEYS;
    const publicKeys: Record<string, string> = {};
    const algorithms: OpendkimKey['algorithm'][] = [];
    for (const key of keys) {
      const made = await makeKey(dir, options.domain, key);
      const name = `${key.selector}._domainkey.${options.domain}`;
      publicKeys[name] = made.txt;
      if (!algorithms.includes(key.algorithm)) algorithms.push(key.algorithm);
      appendFileSync(join(dir, `${key.algorithm}.keys`), `${name} ${options.domain}:${key.selector}:${made.file}\n`);
      // refile: every line whose pattern matches the From: address adds its key (MultipleSignatures).
      appendFileSync(join(dir, `${key.algorithm}.signing`), `*@${options.domain} ${name}\n`);
    }
    const owner = process.getuid?.() === 0 ? accountIds('opendkim') : undefined;
    if (owner) {
      // opendkim creates its socket and reads the key files (for every message) as its own account.
      chmodSync(dir, 0o755);
      chownSync(dir, owner.uid, owner.gid);
      for (const name of readdirSync(dir)) chownSync(join(dir, name), owner.uid, owner.gid);
    }
    for (const algorithm of algorithms) {
      launched.push(await launch({ dir, algorithm, transport: options.transport ?? 'unix', owner, config: options.config ?? {} }));
    }
    let stopping: Promise<void> | undefined;
    return {
      milters: launched.map((p) => p.milter).join(', '),
      processes: launched.map(({ algorithm, pid, milter, port }) => ({ algorithm, pid, milter, port })),
      dir,
      publicKeys,
      output: () => launched.map((p) => p.output()).join(''),
      stop() {
        stopping ??= (async () => {
          await Promise.all(launched.map((p) => p.stop()));
          await temp.remove();
          directories.delete(dir);
        })();
        return stopping;
      },
    };
  } catch (err) {
    await Promise.all(launched.map((p) => p.stop()));
    await temp.remove();
    directories.delete(dir);
    throw err;
  }
}
