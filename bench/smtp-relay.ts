// Benchmark: SMTP relay throughput (RFC 5321) of the mail server, both DKIM signatures on (RFC 6376, RFC 8463), side by side with a throwaway Postfix relay, unsigned and signed by OpenDKIM, all loaded by Postfix's smtp-source and delivering to smtp-sink.
//
// Usage (as root, Debian's postfix installed; opendkim and opendkim-tools for the third row):
//   node bench/smtp-relay.ts [--messages 5000] [--sessions 20] [--size 4096] [--rounds 1] [--per-domain 20] [--profile] [--no-postfix] [--no-opendkim]
//
// For each round, the mail server (bench/mail-server.ts, its own process, SQLite queue synced before every 250),
// then Postfix, then Postfix with OpenDKIM as its milter (test/support/opendkim.ts: an RSA-2048 and an Ed25519
// signature on every message, like ours; Debian's opendkim 2.11.0~beta2 signs with one algorithm per process, so
// two opendkim processes chained as smtpd_milters, milter_default_action = tempfail so that nothing passes
// unsigned) get the same load: `smtp-source -d -s <sessions> -m <messages> -l <size>` on their SMTP port, relayed
// to their own `smtp-sink`. Printed per system: accepted/s (smtp-source start to exit), delivered/s (start to the
// sink's last message), accept-to-delivered latency p50/p99 (ours: received and delivered events in the store;
// Postfix: delay= of its status=sent log lines), peak RSS (ours: VmHWM; Postfix: the largest sum of RSS over its
// processes and opendkim's, sampled every 100 ms) and the CPU time used from the start of the load to the last
// delivery (utime + stime; Postfix: its master, live daemons and the daemons they reaped, plus opendkim).
// --profile runs the mail server under --cpu-prof and prints where its CPU time went.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { startDnsZone } from '../test/support/dns-zone.ts';
import { opendkimInstalled, startOpendkim } from '../test/support/opendkim.ts';
import type { OpendkimInstance } from '../test/support/opendkim.ts';
import { startPostfix } from '../test/support/postfix.ts';
import { freePort, makeTempDir } from '../test/support/tmp.ts';
import { openSqlite } from '../src/store/sqlite.ts';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '5000' },
    sessions: { type: 'string', default: '20' },
    size: { type: 'string', default: '4096' },
    rounds: { type: 'string', default: '1' },
    'per-domain': { type: 'string', default: '20' },
    profile: { type: 'boolean', default: false },
    'no-postfix': { type: 'boolean', default: false },
    'no-opendkim': { type: 'boolean', default: false },
  },
});
const MESSAGES = Number(args.messages);
const SESSIONS = Number(args.sessions);
const SIZE = Number(args.size);
const ROUNDS = Number(args.rounds);
const SOURCE = '/usr/sbin/smtp-source';
const SINK = '/usr/sbin/smtp-sink';

type Figures = { accepted: number; delivered: number; p50: number; p99: number; rssMb: number; cpuS?: number };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** smtp-sink with a running counter (-c): resolves its count of completed DATA. */
async function startSink(): Promise<{ port: number; count: () => number; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn(SINK, ['-c', '-u', 'postfix', `127.0.0.1:${port}`, '1024'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let last = 0;
  let tail = '';
  child.stdout!.setEncoding('latin1').on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-200);
    const all = [...tail.matchAll(/mesg=(\d+)/g)];
    if (all.length) last = Number(all[all.length - 1][1]);
  });
  for (let i = 0; i < 50; i++) {
    const probe = spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { timeout: 1000 });
    if (probe.status === 0) break;
    await sleep(50);
  }
  return {
    port,
    count: () => last,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** Runs smtp-source against host:port; resolves with the wall time in ms. */
function runSource(port: number, from: string, to: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(SOURCE, ['-d', '-s', String(SESSIONS), '-m', String(MESSAGES), '-l', String(SIZE), '-f', from, '-t', to, `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('exit', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`smtp-source exited ${code}: ${stderr.slice(-500)}`))));
  });
}

async function waitForCount(count: () => number, target: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (count() < target) {
    if (performance.now() > deadline) throw new Error(`only ${count()} of ${target} delivered within ${timeoutMs} ms`);
    await sleep(5);
  }
  return performance.now();
}

function procStatus(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function cpuSeconds(pid: number, withChildren = false): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // utime + stime (+ cutime + cstime: children it has reaped), clock ticks (USER_HZ = 100)
    const ticks = Number(fields[11]) + Number(fields[12]) + (withChildren ? Number(fields[13]) + Number(fields[14]) : 0);
    return ticks / 100;
  } catch {
    return NaN;
  }
}

/** Every process descended from `root` (Postfix's master and its daemons). */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    out.push(pid);
    for (const c of children.get(pid) ?? []) walk(c);
  };
  walk(root);
  return out;
}

/**
 * CPU seconds of a process tree so far: every live process's own time plus what it has reaped
 * (Postfix's master reaps its daemons when they exit after max_use/max_idle). A process gone since
 * the last sample is counted in its parent's cutime/cstime, so differences of two samples hold.
 */
function treeCpuSeconds(root: number): number {
  return descendants(root).reduce((sum, pid) => sum + (cpuSeconds(pid, true) || 0), 0);
}

async function runMana(profileDir: string | undefined): Promise<Figures> {
  const sink = await startSink();
  const zone = await startDnsZone({ 'sink.example': { MX: [{ exchange: 'mx.sink.example', priority: 10 }] }, 'mx.sink.example': { A: ['127.0.0.1'] } });
  const dir = await makeTempDir('bench-mana');
  const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, join(import.meta.dirname, 'mail-server.ts'), dir.path, zone.server, String(sink.port), args['per-domain']!], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    const ports = await new Promise<Record<string, number>>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => line.startsWith('READY ') && resolve(JSON.parse(line.slice(6))));
      child.once('exit', (code) => reject(new Error(`mail server exited with ${code}`)));
    });
    const cpuBefore = cpuSeconds(child.pid!);
    const started = performance.now();
    const acceptMs = await runSource(ports.inbound, 'bench@mana.test', 'rcpt@sink.example');
    const doneAt = await waitForCount(sink.count, MESSAGES, 300_000);
    const rssMb = procStatus(child.pid!, 'VmHWM') / 1024;
    const cpuS = cpuSeconds(child.pid!) - cpuBefore;
    const store = openSqlite({ path: join(dir.path, 'mana.db') });
    const rows = await store.all<{ received: number; delivered: number }>(
      `SELECT r.at AS received, d.at AS delivered FROM mail_events r JOIN mail_events d ON d.message_id = r.message_id AND d.type = 'delivered' WHERE r.type = 'received'`,
    );
    await store.close();
    const latencies = rows.map((r) => Number(r.delivered) - Number(r.received)).sort((a, b) => a - b);
    return {
      accepted: MESSAGES / (acceptMs / 1000),
      delivered: MESSAGES / ((doneAt - started) / 1000),
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      rssMb,
      cpuS,
    };
  } finally {
    child.kill('SIGTERM');
    await exited;
    await sink.stop();
    await zone.close();
    await dir.remove();
  }
}

/** Postfix as a relay; with `opendkim`, every message signed by OpenDKIM (RSA-2048 + Ed25519) as a milter. */
async function runPostfix(withOpendkim: boolean): Promise<Figures> {
  const sink = await startSink();
  let opendkim: OpendkimInstance | undefined;
  let postfix: Awaited<ReturnType<typeof startPostfix>> | undefined;
  let sampling = true;
  let sampler: Promise<void> = Promise.resolve();
  try {
    const main: Record<string, string> = {};
    if (withOpendkim) {
      opendkim = await startOpendkim({ domain: 'mana.test' }); // From: <bench@mana.test>, as smtp-source writes it
      Object.assign(main, {
        smtpd_milters: opendkim.milters,
        non_smtpd_milters: opendkim.milters,
        milter_protocol: '6',
        // A milter that fails or times out temp-fails the message: nothing is relayed unsigned.
        milter_default_action: 'tempfail',
      });
    }
    postfix = await startPostfix({ mode: 'relay', relayhost: `127.0.0.1:${sink.port}`, main });
    const masterPid = Number(readFileSync(join(postfix.dir, 'queue', 'pid', 'master.pid'), 'utf8').trim());
    const opendkimPids = opendkim?.processes.map((p) => p.pid) ?? [];
    const cpuNow = () => treeCpuSeconds(masterPid) + opendkimPids.reduce((sum, pid) => sum + cpuSeconds(pid, true), 0);
    let peak = 0;
    sampler = (async () => {
      while (sampling) {
        const rss = [...descendants(masterPid), ...opendkimPids].reduce((sum, pid) => sum + procStatus(pid, 'VmRSS'), 0);
        peak = Math.max(peak, rss);
        await sleep(100);
      }
    })();
    const cpuBefore = cpuNow();
    const started = performance.now();
    const acceptMs = await runSource(postfix.port, 'bench@mana.test', 'rcpt@sink.example');
    const doneAt = await waitForCount(sink.count, MESSAGES, 300_000);
    const cpuS = cpuNow() - cpuBefore;
    sampling = false;
    await sampler;
    await postfix.waitForLog(new RegExp(`(status=sent[\\s\\S]*){${Math.min(MESSAGES, 1)}}`), 10_000);
    const delays = [...postfix.maillog().matchAll(/ delay=([\d.]+),.* status=sent/g)].map((m) => Number(m[1]) * 1000).sort((a, b) => a - b);
    return {
      accepted: MESSAGES / (acceptMs / 1000),
      delivered: MESSAGES / ((doneAt - started) / 1000),
      p50: percentile(delays, 50),
      p99: percentile(delays, 99),
      rssMb: peak / 1024,
      cpuS,
    };
  } finally {
    sampling = false;
    await sampler;
    await postfix?.stop();
    await opendkim?.stop();
    await sink.stop();
  }
}

/** Self time per function and per file from a V8 .cpuprofile (the samples' time deltas summed by node). */
function summarizeProfile(dir: string): string {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (!files.length) return '(no profile written)';
  const profile = JSON.parse(readFileSync(join(dir, files[0]), 'utf8')) as {
    nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const url = f.url.replace(/^file:\/\/\/work\/main\//, '');
    const name = `${f.functionName || '(anonymous)'} ${url ? `${url.replace(/^.*node_modules\//, '')}:${f.lineNumber + 1}` : ''}`.trim();
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    const area = !url ? f.functionName.startsWith('(') ? f.functionName : 'native/builtin'
      : url.includes('node_modules/') ? url.replace(/^.*node_modules\/((?:@[^/]+\/)?[^/]+).*$/, '$1')
      : url.startsWith('node:') ? url.replace(/^(node:[^/]+).*$/, '$1')
      : url.replace(/\/[^/]+$/, '');
    byArea.set(area, (byArea.get(area) ?? 0) + us);
  }
  const fmt = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([k, us]) => `  ${((us / total) * 100).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`).join('\n');
  return `CPU profile of the mail server (${(total / 1e6).toFixed(1)} s sampled), self time:\nby area:\n${fmt(byArea, 15)}\nby function:\n${fmt(byFunction, Number(process.env.BENCH_PROFILE_TOP ?? 25))}`;
}

const NAME_WIDTH = 44; // 'postfix 3 + opendkim (rsa+ed25519) (round 9)'

function row(name: string, f: Figures): string {
  const cpu = f.cpuS !== undefined ? `   ${f.cpuS.toFixed(1)} s CPU, ${((f.cpuS / MESSAGES) * 1000).toFixed(2)} ms/msg` : '';
  return `${name.padEnd(NAME_WIDTH)} ${f.accepted.toFixed(0).padStart(10)} ${f.delivered.toFixed(0).padStart(12)} ${f.p50.toFixed(0).padStart(9)} ${f.p99.toFixed(0).padStart(9)} ${f.rssMb.toFixed(0).padStart(9)}${cpu}`;
}

/** `ratio delivered/s mana : postfix = 1.60, mana : postfix+opendkim = 3.10; CPU per message ...` */
function ratios(m: Figures, p: Figures | undefined, d: Figures | undefined): string {
  const pairs: [string, Figures][] = [];
  if (p) pairs.push(['postfix', p]);
  if (d) pairs.push(['postfix+opendkim', d]);
  if (!pairs.length) return '';
  const delivered = pairs.map(([name, f]) => `mana : ${name} = ${(m.delivered / f.delivered).toFixed(2)}`).join(', ');
  const cpu = pairs.map(([name, f]) => `mana : ${name} = ${(m.cpuS! / f.cpuS!).toFixed(2)}`).join(', ');
  return `ratio delivered/s ${delivered}\nratio CPU per message ${cpu}\n`;
}

const DKIM_LABEL = 'postfix 3 + opendkim (rsa+ed25519)';
const header = `${'system'.padEnd(NAME_WIDTH)} ${'accepted/s'.padStart(10)} ${'delivered/s'.padStart(12)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'peak MB'.padStart(9)}`;
process.stdout.write(`smtp-source -d -s ${SESSIONS} -m ${MESSAGES} -l ${SIZE} -> relay -> smtp-sink; ${ROUNDS} round(s); mail server per-domain concurrency ${args['per-domain']}\n`);
let withOpendkim = !args['no-postfix'] && !args['no-opendkim'];
if (withOpendkim && !opendkimInstalled()) {
  withOpendkim = false;
  process.stdout.write(`${DKIM_LABEL}: row skipped, /usr/sbin/opendkim not found (install: apt-get install -y opendkim opendkim-tools; --no-opendkim skips it)\n`);
}
const ours: Figures[] = [];
const theirs: Figures[] = [];
const signed: Figures[] = [];
const profileDir = args.profile ? (await makeTempDir('bench-prof')).path : undefined;
for (let round = 1; round <= ROUNDS; round++) {
  const m = await runMana(round === 1 ? profileDir : undefined);
  ours.push(m);
  process.stdout.write(`${header}\n${row(`mana (round ${round})`, m)}\n`);
  let p: Figures | undefined;
  let d: Figures | undefined;
  if (!args['no-postfix']) {
    p = await runPostfix(false);
    theirs.push(p);
    process.stdout.write(`${row(`postfix 3 relay (round ${round})`, p)}\n`);
  }
  if (withOpendkim) {
    d = await runPostfix(true);
    signed.push(d);
    process.stdout.write(`${row(`${DKIM_LABEL} (round ${round})`, d)}\n`);
  }
  process.stdout.write(ratios(m, p, d));
}
if (ROUNDS > 1) {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const med = (fs: Figures[]): Figures => ({ accepted: median(fs.map((f) => f.accepted)), delivered: median(fs.map((f) => f.delivered)), p50: median(fs.map((f) => f.p50)), p99: median(fs.map((f) => f.p99)), rssMb: median(fs.map((f) => f.rssMb)), cpuS: median(fs.map((f) => f.cpuS!)) });
  process.stdout.write(`\nmedians of ${ROUNDS} rounds\n${header}\n${row('mana', med(ours))}\n`);
  if (theirs.length) process.stdout.write(`${row('postfix 3 relay', med(theirs))}\n`);
  if (signed.length) process.stdout.write(`${row(DKIM_LABEL, med(signed))}\n`);
  process.stdout.write(ratios(med(ours), theirs.length ? med(theirs) : undefined, signed.length ? med(signed) : undefined));
}
if (profileDir) process.stdout.write(`\n${summarizeProfile(profileDir)}\n`);
