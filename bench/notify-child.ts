// Benchmark support for notify: runs `mana notify` or `mana start` as a user would (a child process, temp data dir, SQLite or a fresh PostgreSQL database), a discard SMTP provider, and reads /metrics (no RFC; process plumbing).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { makeTempDir, type TempDir } from '../test/support/tmp.ts';

export const SERVICE_KEY = 'bench-service-key';
const ROOT = new URL('..', import.meta.url).pathname;

export type Target = 'notify' | 'start';

export type RunningChild = {
  child: ChildProcess;
  urls: Record<string, string>;
  dataDir: string;
  /** Appends one line of event-loop/CPU figures to the probe file and starts a new window; resolves with the line. */
  mark(): Promise<ProbeWindow>;
  stop(): Promise<void>;
};

export type ProbeWindow = {
  delay: { p50: number; p99: number; max: number; mean: number };
  elu: number;
  cpuMs: { user: number; system: number };
  wallMs: number;
  heapMb: number;
  gc: { count: number; ms: number; maxMs: number; majorCount: number; majorMaxMs: number };
  sqlite: { commits: number; commitMs: number; slowCommits: number; commitMaxMs: number; statements: number; statementMs: number; statementMaxMs: number };
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the first stdout line matching `re` of a child, or rejects when it exits first. */
function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number, onLine?: (line: string) => void): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms`)), timeoutMs);
    let done = false;
    lines.on('line', (line) => {
      onLine?.(line);
      const m = re.exec(line);
      if (m && !done) {
        done = true;
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!done) reject(new Error(`child exited (${code}) before printing ${re}`));
    });
  });
}

export type Sink = { port: number; count(): number; stop(): Promise<void> };

/** The discard SMTP provider (bench/notify-smtp-sink.ts) in its own process. */
export async function startSink(): Promise<Sink> {
  const child = spawn(process.execPath, [join(ROOT, 'bench/notify-smtp-sink.ts')], { stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT });
  let count = 0;
  const m = await waitForLine(child, /^READY (.*)$/, 15_000, (line) => {
    const c = /^COUNT (\d+)$/.exec(line);
    if (c) count = Number(c[1]);
  });
  const { port } = JSON.parse(m[1]!) as { port: number };
  return {
    port,
    count: () => count,
    stop: () => stopChild(child),
  };
}

function stopChild(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** A fresh PostgreSQL database next to the one DATABASE_URL names; dropped by `drop()`. */
export async function freshPostgres(baseUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `mana_bench_notify_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export type StartOptions = {
  target: Target;
  /** PostgreSQL URL; SQLite in the data dir when absent. */
  databaseUrl?: string;
  /** `mana notify` only: the SMTP provider port (a discard sink). */
  smtpPort?: number;
  /** Write a V8 CPU profile of the child into this directory (node --cpu-prof). */
  cpuProfDir?: string;
  /** Extra environment (e.g. MANA_LOG_LEVEL). */
  env?: Record<string, string>;
};

/**
 * Starts `node src/main.ts notify|start` on a temp data dir with every port chosen by the kernel, as a user
 * would run it (default log level, capture mode for `start`). Resolves once every service announced its URL.
 */
export async function startService(options: StartOptions): Promise<RunningChild & { temp: TempDir }> {
  const temp = await makeTempDir('bench-notify');
  const probeFile = join(temp.path, 'probe.jsonl');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/root',
    MANA_DATA_DIR: join(temp.path, 'data'),
    MANA_BIND: '127.0.0.1',
    MANA_SERVICE_KEY: SERVICE_KEY,
    NOTIFY_PORT: '0',
    BENCH_PROBE_FILE: probeFile,
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    // Experiment knobs pass through: the probe's (BENCH_SQLITE_PRAGMA, BENCH_SQL_STATS) and V8 flags in NODE_OPTIONS.
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => (k.startsWith('BENCH_') && k !== 'BENCH_PROBE_FILE') || k === 'NODE_OPTIONS') as Array<[string, string]>),
  };
  if (options.target === 'notify') {
    if (options.smtpPort === undefined) throw new Error('mana notify needs an SMTP provider port');
    Object.assign(env, {
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(options.smtpPort),
      SMTP_USER: 'bench',
      SMTP_PASSWORD: 'bench-password',
      SMTP_FROM: 'Mana Bench <noreply@mana.test>',
      SMTP_INSECURE_TLS: 'true',
    });
  } else {
    Object.assign(env, { AUTH_PORT: '0', MAIL_SMTP_PORT: '0', MAIL_SUBMISSION_PORT: '0', MAIL_SUBMISSIONS_PORT: '0', MAIL_IMAP_PORT: '0', MAIL_IMAPS_PORT: '0', MAIL_ADMIN_PORT: '0', MAIL_DOMAIN: 'mana.test' });
  }
  Object.assign(env, options.env);
  const nodeArgs = ['--import', join(ROOT, 'bench/notify-loop-probe.ts')];
  if (options.cpuProfDir) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`);
  // The service's own stderr (its JSON logs) goes to a file, as a terminal or journald would take it.
  const stderr = openSync(join(temp.path, 'stderr.log'), 'a');
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'src/main.ts'), options.target], { cwd: temp.path, env, stdio: ['ignore', 'pipe', stderr] });
  const urls: Record<string, string> = {};
  const wanted = options.target === 'notify' ? ['notify-http'] : ['notify-http', 'admin-http', 'auth-http'];
  try {
    await waitForLine(child, /^listening\s+(\S+)\s+(\S+)/, 60_000, (line) => {
      const m = /^listening\s+(\S+)\s+(\S+)/.exec(line);
      if (m) urls[m[1]!] = m[2]!;
    }).then(async () => {
      for (let i = 0; i < 600 && !wanted.every((w) => urls[w]); i++) await sleep(50);
    });
  } catch (err) {
    child.kill('SIGKILL');
    const log = existsSync(join(temp.path, 'stderr.log')) ? readFileSync(join(temp.path, 'stderr.log'), 'utf8').slice(-2000) : '';
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  child.stdout!.resume();
  let marks = 0;
  return {
    child,
    urls,
    dataDir: env.MANA_DATA_DIR!,
    temp,
    async mark() {
      marks++;
      child.kill('SIGUSR2');
      for (let i = 0; i < 200; i++) {
        const lines = existsSync(probeFile) ? readFileSync(probeFile, 'utf8').trim().split('\n') : [];
        if (lines.length >= marks) return JSON.parse(lines[marks - 1]!) as ProbeWindow;
        await sleep(25);
      }
      throw new Error('the service did not answer the probe');
    },
    stop: () => stopChild(child),
  };
}

/** Sums the samples of one metric family in a Prometheus text page, optionally only those whose labels include `labelFilter`. */
export function metricSum(page: string, name: string, labelFilter?: string): number {
  let sum = 0;
  for (const line of page.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (labelFilter && !rest.includes(labelFilter)) continue;
    sum += Number(rest.slice(rest.lastIndexOf(' ') + 1));
  }
  return sum;
}

export async function fetchMetrics(notifyUrl: string): Promise<string> {
  const res = await fetch(`${notifyUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  return res.text();
}

/** The V8 CPU profile(s) in `dir`, summarised: self time per function (top `limit`), and per file. */
export function summariseCpuProfile(dir: string, limit = 25): string {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const lines: string[] = [];
  for (const f of files) {
    const profile = JSON.parse(readFileSync(join(dir, f), 'utf8')) as {
      nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>;
      samples: number[];
      timeDeltas: number[];
    };
    const self = new Map<number, number>();
    profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
    const byFn = new Map<string, number>();
    const byFile = new Map<string, number>();
    let total = 0;
    for (const node of profile.nodes) {
      const us = self.get(node.id) ?? 0;
      total += us;
      const url = node.callFrame.url.replace(/^file:\/\//, '').replace(ROOT, '');
      const key = `${node.callFrame.functionName || '(anonymous)'} ${url}${url ? `:${node.callFrame.lineNumber + 1}` : ''}`;
      byFn.set(key, (byFn.get(key) ?? 0) + us);
      const fileKey = url.startsWith('node_modules/') ? url.split('/').slice(0, url.split('/')[1]!.startsWith('@') ? 3 : 2).join('/') : url || `(${node.callFrame.functionName})`;
      byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
    }
    const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
    lines.push(`profile ${f}: ${(total / 1e6).toFixed(1)} s sampled`);
    lines.push('  self time by function:');
    for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, limit)) lines.push(`    ${pct(us)}  ${k}`);
    lines.push('  self time by file / package:');
    for (const [k, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, limit)) lines.push(`    ${pct(us)}  ${k}`);
  }
  return lines.join('\n');
}
