// Benchmark: accept rate and accept latency of notify's POST /api/v1/notifications/send (mana-notify API), at a fixed 1,000 requests/s and unthrottled, with notify's queue worker sending to an SMTP provider (RFC 5321) meanwhile.
//
// Usage:
//   node bench/notify-accept.ts [--target notify|start] [--store sqlite|postgres|both] [--rate 1000] [--duration 20]
//                               [--warmup 5] [--max-duration 10] [--max-connections 50] [--template] [--profile] [--skip-max]
//
// --target notify (default): `node src/main.ts notify` in a child process (temp data dir, SMTP_* pointing at a
//   discard SMTP server, bench/notify-smtp-sink.ts, in a third process), as the seed's notify container runs.
// --target start: `node src/main.ts start` (mail + notify + auth in one process, capture mode): notify submits
//   every notification to the local mail server, which DKIM-signs, queues and captures it in the same process.
// --store: SQLite in the data dir (default); PostgreSQL too when DATABASE_URL is set (a fresh database is
//   created next to the one it names and dropped afterwards).
//
// The fixed-rate run is open loop: request i is issued at start + i/rate whatever happened to the earlier ones
// (keep-alive sockets, as many as needed), so a slow answer cannot hold the next requests back (no coordinated
// omission). autocannon's `-R`/overallRate is not used for it: it gives each connection a per-second quota that the
// connection spends back to back at the start of every second, i.e. a burst at full speed and then silence.
// The unthrottled run uses autocannon (closed loop, --max-connections connections).
// Printed: accepted/s, latency p50/p90/p99/p99.9/max (from the moment the request was issued; "late" shows
// the same from its scheduled moment), errors, what the worker sent meanwhile, and the service's event-loop delay
// and CPU (bench/notify-loop-probe.ts, preloaded into the child). --profile writes a CPU profile of the child
// (node --cpu-prof) over the whole run and prints where the time went.
import { request, Agent } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { fetchMetrics, freshPostgres, metricSum, SERVICE_KEY, startService, startSink, summariseCpuProfile, type ProbeWindow, type Sink, type Target } from './notify-child.ts';

const { values: args } = parseArgs({
  options: {
    target: { type: 'string', default: 'notify' },
    store: { type: 'string', default: process.env.DATABASE_URL ? 'both' : 'sqlite' },
    rate: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    'max-duration': { type: 'string', default: '10' },
    'max-connections': { type: 'string', default: '50' },
    template: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    'skip-max': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const RATE = Number(args.rate);
const DURATION = Number(args.duration);
const WARMUP = Number(args.warmup);
const MAX_DURATION = Number(args['max-duration']);
const MAX_CONNECTIONS = Number(args['max-connections']);
const TARGET = args.target as Target;
if (TARGET !== 'notify' && TARGET !== 'start') throw new Error('--target is notify or start');
const stores = args.store === 'both' ? ['sqlite', 'postgres'] : [args.store!];
if (stores.includes('postgres') && !process.env.DATABASE_URL) throw new Error('--store postgres needs DATABASE_URL');

const PATH = '/api/v1/notifications/send';
const BODY = Buffer.from(JSON.stringify(args.template
  ? { channel: 'email', appId: 'bench', recipient: 'user@example.com', template: 'auth-verification', data: { name: 'Ada', code: '482913', url: 'https://app.example.com/verify?token=abc123' } }
  : {
      channel: 'email',
      appId: 'bench',
      recipient: 'user@example.com',
      subject: 'Your sign-in code',
      body: '<p>Hello Ada,</p><p>your sign-in code is <b>482913</b>. It is valid for 10 minutes.</p><p>If you did not ask for it, ignore this message.</p><p>— The Mana team</p>',
    }));

type RateFigures = {
  issued: number;
  accepted: number;
  errors: number;
  statuses: Record<string, number>;
  seconds: number;
  latency: Percentiles;
  late: Percentiles;
};
type Percentiles = { p50: number; p90: number; p99: number; p999: number; max: number };

function percentiles(values: number[]): Percentiles {
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN);
  return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: s.length ? s[s.length - 1]! : NaN };
}

/** Open-loop load: request i goes out at start + i·1000/rate ms, each on a free keep-alive socket. */
function openLoop(o: { url: string; rate: number; seconds: number }): Promise<RateFigures> {
  const target = new URL(o.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 512 });
  const total = Math.round(o.rate * o.seconds);
  const latencies: number[] = [];
  const late: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let finished = 0;
  let issued = 0;
  const headers = { 'Content-Type': 'application/json', 'Content-Length': String(BODY.length), 'X-Service-Key': SERVICE_KEY };
  return new Promise((resolve) => {
    const start = performance.now();
    const done = () => {
      if (++finished < total) return;
      agent.destroy();
      resolve({
        issued,
        accepted: statuses['202'] ?? 0,
        errors,
        statuses,
        seconds: (performance.now() - start) / 1000,
        latency: percentiles(latencies),
        late: percentiles(late),
      });
    };
    const fire = (scheduled: number) => {
      const sent = performance.now();
      issued++;
      const req = request({ agent, host: target.hostname, port: target.port, path: PATH, method: 'POST', headers }, (res) => {
        res.on('data', () => {});
        res.on('end', () => {
          const now = performance.now();
          const code = String(res.statusCode);
          statuses[code] = (statuses[code] ?? 0) + 1;
          if (res.statusCode === 202) {
            latencies.push(now - sent);
            late.push(now - scheduled);
          } else errors++;
          done();
        });
      });
      req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        errors++;
        done();
      });
      req.end(BODY);
    };
    let next = 0;
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * o.rate) / 1000) + 1);
      while (next < due) fire(start + (next++ * 1000) / o.rate);
      if (next < total) setTimeout(tick, 1);
    };
    tick();
  });
}

type MaxFigures = { acceptedPerSec: number; accepted: number; non2xx: number; errors: number; timeouts: number; p50: number; p99: number; seconds: number };

async function maxThroughput(url: string): Promise<MaxFigures> {
  const result = await autocannon({
    url: `${url}${PATH}`,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-service-key': SERVICE_KEY },
    body: BODY.toString('utf8'),
    connections: MAX_CONNECTIONS,
    duration: MAX_DURATION,
  });
  const accepted = result['2xx'];
  return {
    acceptedPerSec: accepted / result.duration,
    accepted,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    p50: result.latency.p50,
    p99: result.latency.p99,
    seconds: result.duration,
  };
}

type Sent = { sent: number; pending: number; failed: number };
async function sentSoFar(url: string): Promise<Sent> {
  const page = await fetchMetrics(url);
  return {
    sent: metricSum(page, 'mana_notify_notifications_sent_total'),
    failed: metricSum(page, 'mana_notify_notifications_failed_total'),
    pending: metricSum(page, 'mana_notify_queue_depth', 'state="pending"'),
  };
}

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
const loopLine = (w: ProbeWindow) => {
  const perSec = (n: number) => f1((n * 1000) / w.wallMs);
  const lines = [`service event loop: delay p50 ${f1(w.delay.p50)} ms, p99 ${f1(w.delay.p99)} ms, max ${f1(w.delay.max)} ms; utilisation ${(w.elu * 100).toFixed(0)} %; CPU ${(((w.cpuMs.user + w.cpuMs.system) / w.wallMs) * 100).toFixed(0)} % of one core`];
  if (w.sqlite.commits + w.sqlite.statements > 0) {
    const s = w.sqlite;
    lines.push(`  sqlite on the loop: ${perSec(s.commits)} commits/s (mean ${f2(s.commitMs / Math.max(1, s.commits))} ms, ${s.slowCommits} over 2 ms, max ${f1(s.commitMaxMs)} ms), ${perSec(s.statements)} statements/s (max ${f1(s.statementMaxMs)} ms); blocked ${perSec(s.commitMs)} + ${perSec(s.statementMs)} ms/s`);
  }
  lines.push(`  GC: ${perSec(w.gc.count)} pauses/s, ${perSec(w.gc.ms)} ms/s, longest ${f1(w.gc.maxMs)} ms (${w.gc.majorCount} major, longest ${f1(w.gc.majorMaxMs)} ms); heap used ${w.heapMb} MB`);
  return lines.join('\n');
};

type StoreResult = { store: string; rate: RateFigures; worker: { sentPerSec: number; pendingAfter: number; failed: number }; loop: ProbeWindow; max?: MaxFigures; maxLoop?: ProbeWindow };

async function runOne(store: string): Promise<StoreResult> {
  const pgdb = store === 'postgres' ? await freshPostgres(process.env.DATABASE_URL!) : undefined;
  let sink: Sink | undefined;
  const profDir = args.profile ? join(process.cwd(), `notify-accept-profile-${store}-${Date.now()}`) : undefined;
  if (TARGET === 'notify') sink = await startSink();
  const service = await startService({
    target: TARGET,
    ...(pgdb ? { databaseUrl: pgdb.url } : {}),
    ...(sink ? { smtpPort: sink.port } : {}),
    ...(profDir ? { cpuProfDir: profDir } : {}),
  });
  const url = service.urls['notify-http']!;
  try {
    process.stderr.write(`[${store}] ${TARGET} up at ${url}; warm-up ${WARMUP} s at ${RATE}/s\n`);
    await openLoop({ url, rate: RATE, seconds: WARMUP });
    await service.mark();
    const before = await sentSoFar(url);
    const t0 = performance.now();
    process.stderr.write(`[${store}] measuring ${DURATION} s at ${RATE}/s\n`);
    const rate = await openLoop({ url, rate: RATE, seconds: DURATION });
    const loop = await service.mark();
    const after = await sentSoFar(url);
    const worker = { sentPerSec: (after.sent - before.sent) / ((performance.now() - t0) / 1000), pendingAfter: after.pending, failed: after.failed - before.failed };
    const out: StoreResult = { store, rate, worker, loop };
    if (!args['skip-max']) {
      process.stderr.write(`[${store}] unthrottled ${MAX_DURATION} s, ${MAX_CONNECTIONS} connections\n`);
      out.max = await maxThroughput(url);
      out.maxLoop = await service.mark();
    }
    return out;
  } finally {
    await service.stop();
    await sink?.stop();
    await service.temp.remove();
    await pgdb?.drop().catch((err) => process.stderr.write(`could not drop the bench database: ${err.message}\n`));
    if (profDir) process.stdout.write(`${summariseCpuProfile(profDir)}\n(profile kept in ${profDir})\n`);
  }
}

const results: StoreResult[] = [];
for (const store of stores) results.push(await runOne(store));

const lines: string[] = [];
for (const r of results) {
  const { rate } = r;
  lines.push(`== notify accept, mana ${TARGET}, ${r.store}${args.template ? ', template auth-verification' : ''} ==`);
  lines.push(`fixed rate ${RATE}/s for ${DURATION} s (open loop): ${rate.issued} issued, accepted ${f1(rate.accepted / rate.seconds)}/s, errors ${rate.errors}${Object.keys(rate.statuses).some((s) => s !== '202') ? ` ${JSON.stringify(rate.statuses)}` : ''}`);
  lines.push(`  accept latency ms: p50 ${f2(rate.latency.p50)}  p90 ${f2(rate.latency.p90)}  p99 ${f2(rate.latency.p99)}  p99.9 ${f2(rate.latency.p999)}  max ${f2(rate.latency.max)}`);
  lines.push(`  from scheduled time: p50 ${f2(rate.late.p50)}  p99 ${f2(rate.late.p99)}  max ${f2(rate.late.max)}`);
  lines.push(`  worker meanwhile: sent ${f1(r.worker.sentPerSec)}/s, pending at the end ${r.worker.pendingAfter}, failed ${r.worker.failed}`);
  lines.push(`  ${loopLine(r.loop)}`);
  if (r.max) {
    lines.push(`unthrottled (autocannon, ${MAX_CONNECTIONS} connections, ${MAX_DURATION} s): accepted ${f1(r.max.acceptedPerSec)}/s, p50 ${r.max.p50} ms, p99 ${r.max.p99} ms, non-2xx ${r.max.non2xx}, errors ${r.max.errors}, timeouts ${r.max.timeouts}`);
    if (r.maxLoop) lines.push(`  ${loopLine(r.maxLoop)}`);
  }
}
process.stdout.write(`${lines.join('\n')}\n`);
if (args.json) process.stdout.write(`${JSON.stringify(results)}\n`);
