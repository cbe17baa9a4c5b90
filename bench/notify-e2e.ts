// Benchmark: end-to-end throughput of the whole stack, notify -> SMTP submission (RFC 5321, RFC 6409) -> DKIM (RFC 6376, RFC 8463) -> mail queue -> capture mailbox -> signed delivery event -> notify: sent/s and delivered/s.
//
// Usage:
//   node bench/notify-e2e.ts [--count 5000] [--batch 100] [--parallel 4] [--store sqlite|postgres|both] [--sample 200] [--profile]
//
// Runs `node src/main.ts start` in a child process (temp data dir, capture mode: every message goes through
// submission with AUTH, DKIM signing, the durable mail queue and the local capture mailbox, whose "captured"
// event marks the notification delivered). Submits --count notifications as fast as the API takes them
// (POST /api/v1/notifications/batch, --batch per request, --parallel requests at a time), then watches notify's
// /metrics until every one is `sent` (SMTP 250 from the mail server) and `delivered` (the mail server's event
// came back). Printed: accept time, time until all sent / all delivered (from the first submission) with sent/s
// and delivered/s, and for --sample notifications read back through GET /api/v1/notifications/{id} the latency
// accept -> sent, accept -> captured (the mail server's event time) and accept -> delivered (when notify applied the
// event) (p50/p99). SQLite by default; PostgreSQL too when DATABASE_URL is set.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fetchMetrics, freshPostgres, metricSum, SERVICE_KEY, startService, summariseCpuProfile, type ProbeWindow } from './notify-child.ts';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '5000' },
    batch: { type: 'string', default: '100' },
    parallel: { type: 'string', default: '4' },
    store: { type: 'string', default: process.env.DATABASE_URL ? 'both' : 'sqlite' },
    sample: { type: 'string', default: '200' },
    timeout: { type: 'string', default: '600' },
    profile: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const COUNT = Number(args.count);
const BATCH = Math.min(100, Number(args.batch));
const PARALLEL = Number(args.parallel);
const SAMPLE = Number(args.sample);
const TIMEOUT_MS = Number(args.timeout) * 1000;
const stores = args.store === 'both' ? ['sqlite', 'postgres'] : [args.store!];
if (stores.includes('postgres') && !process.env.DATABASE_URL) throw new Error('--store postgres needs DATABASE_URL');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');

function item(i: number) {
  return {
    channel: 'email',
    appId: 'bench',
    recipient: `user${i % 50}@example.com`,
    subject: 'Your sign-in code',
    body: `<p>Hello Ada,</p><p>your sign-in code is <b>${String(100000 + (i % 900000))}</b>. It is valid for 10 minutes.</p><p>If you did not ask for it, ignore this message.</p><p>— The Mana team</p>`,
  };
}

async function api(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { 'X-Service-Key': SERVICE_KEY, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: res.status, json: await res.json() };
}

/** Submits COUNT notifications in batches, PARALLEL requests at a time; resolves with their ids. */
async function submit(url: string): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  const one = async () => {
    while (next < COUNT) {
      const from = next;
      const n = Math.min(BATCH, COUNT - from);
      next += n;
      const r = await api(url, 'POST', '/api/v1/notifications/batch', { notifications: Array.from({ length: n }, (_, k) => item(from + k)) });
      if (r.status !== 202 || r.json.succeeded !== n) throw new Error(`batch refused: ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
      for (const x of r.json.results) ids.push(x.id);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, one));
  return ids;
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
}

type Result = {
  store: string;
  acceptSeconds: number;
  sentSeconds: number;
  deliveredSeconds: number;
  sentPerSec: number;
  deliveredPerSec: number;
  failed: number;
  bounced: number;
  sample: { n: number; sentP50: number; sentP99: number; capturedP50: number; capturedP99: number; deliveredP50: number; deliveredP99: number; notDelivered: number };
  loop: ProbeWindow;
};

async function runOne(store: string): Promise<Result> {
  const pgdb = store === 'postgres' ? await freshPostgres(process.env.DATABASE_URL!) : undefined;
  const profDir = args.profile ? join(process.cwd(), `notify-e2e-profile-${store}-${Date.now()}`) : undefined;
  const service = await startService({ target: 'start', ...(pgdb ? { databaseUrl: pgdb.url } : {}), ...(profDir ? { cpuProfDir: profDir } : {}) });
  const url = service.urls['notify-http']!;
  try {
    // Warm-up: one notification through the whole path, so the first batch does not pay for connection set-up.
    const warm = await api(url, 'POST', '/api/v1/notifications/send', { ...item(0), recipient: 'warmup@example.com' });
    if (warm.status !== 202) throw new Error(`warm-up refused: ${warm.status} ${JSON.stringify(warm.json)}`);
    for (let i = 0; ; i++) {
      const page = await fetchMetrics(url);
      if (metricSum(page, 'mana_notify_notifications_delivered_total') >= 1) break;
      if (i > 600) throw new Error('the warm-up notification was not delivered within 60 s (is the mail server up?)');
      await sleep(100);
    }
    const base = { sent: 1, delivered: 1 };
    await service.mark();
    process.stderr.write(`[${store}] stack up at ${url}; submitting ${COUNT}\n`);
    const t0 = performance.now();
    const ids = await submit(url);
    const tAccepted = performance.now();
    let tSent = 0;
    let tDelivered = 0;
    let failed = 0;
    let bounced = 0;
    while (!tDelivered) {
      const page = await fetchMetrics(url);
      const sent = metricSum(page, 'mana_notify_notifications_sent_total') - base.sent;
      const delivered = metricSum(page, 'mana_notify_notifications_delivered_total') - base.delivered;
      failed = metricSum(page, 'mana_notify_notifications_failed_total');
      bounced = metricSum(page, 'mana_notify_notifications_bounced_total');
      const now = performance.now();
      if (!tSent && sent >= COUNT) tSent = now;
      if (delivered + bounced >= COUNT) tDelivered = now;
      if (now - t0 > TIMEOUT_MS) throw new Error(`gave up after ${args.timeout} s: sent ${sent}, delivered ${delivered}, failed ${failed}, bounced ${bounced} of ${COUNT}`);
      if (!tDelivered) await sleep(100);
    }
    const loop = await service.mark();
    // Per-notification latency for a sample, from notify's own records.
    const step = Math.max(1, Math.floor(ids.length / SAMPLE));
    const sentLat: number[] = [];
    const capturedLat: number[] = [];
    const delivLat: number[] = [];
    let notDelivered = 0;
    for (let i = 0; i < ids.length; i += step) {
      const n = (await api(url, 'GET', `/api/v1/notifications/${ids[i]}`)).json.notification;
      const created = Date.parse(n.createdAt);
      const logs = n.deliveryLogs as Array<{ success: boolean; event?: string; createdAt: string }>;
      const sentLog = logs.find((l) => l.success && !l.event);
      if (sentLog) sentLat.push(Date.parse(sentLog.createdAt) - created);
      // deliveredAt is the mail server's time of the event; the event's log row is when notify applied it.
      const eventLog = logs.find((l) => l.event === 'captured' || l.event === 'delivered');
      if (n.status === 'delivered' && n.deliveredAt && eventLog) {
        capturedLat.push(Date.parse(n.deliveredAt) - created);
        delivLat.push(Date.parse(eventLog.createdAt) - created);
      } else notDelivered++;
    }
    const s = (t: number) => (t - t0) / 1000;
    return {
      store,
      acceptSeconds: s(tAccepted),
      sentSeconds: s(tSent),
      deliveredSeconds: s(tDelivered),
      sentPerSec: COUNT / s(tSent),
      deliveredPerSec: COUNT / s(tDelivered),
      failed,
      bounced,
      sample: {
        n: sentLat.length,
        sentP50: percentile(sentLat, 50),
        sentP99: percentile(sentLat, 99),
        capturedP50: percentile(capturedLat, 50),
        capturedP99: percentile(capturedLat, 99),
        deliveredP50: percentile(delivLat, 50),
        deliveredP99: percentile(delivLat, 99),
        notDelivered,
      },
      loop,
    };
  } finally {
    await service.stop();
    await service.temp.remove();
    await pgdb?.drop().catch((err) => process.stderr.write(`could not drop the bench database: ${err.message}\n`));
    if (profDir) process.stdout.write(`${summariseCpuProfile(profDir)}\n(profile kept in ${profDir})\n`);
  }
}

const results: Result[] = [];
for (const store of stores) results.push(await runOne(store));
const lines: string[] = [];
for (const r of results) {
  lines.push(`== notify end to end, mana start (capture), ${r.store}: ${COUNT} notifications, batches of ${BATCH}, ${PARALLEL} in parallel ==`);
  lines.push(`all accepted after ${f1(r.acceptSeconds)} s (${f1(COUNT / r.acceptSeconds)}/s)`);
  lines.push(`all sent after ${f1(r.sentSeconds)} s: ${f1(r.sentPerSec)} sent/s`);
  lines.push(`all delivered after ${f1(r.deliveredSeconds)} s: ${f1(r.deliveredPerSec)} delivered/s${r.bounced ? ` (${r.bounced} bounced)` : ''}${r.failed ? `, ${r.failed} failed` : ''}`);
  const sec = (ms: number) => f1(ms / 1000);
  lines.push(`sample of ${r.sample.n}, from accept: sent p50 ${sec(r.sample.sentP50)} s / p99 ${sec(r.sample.sentP99)} s; captured by the mail server p50 ${sec(r.sample.capturedP50)} s / p99 ${sec(r.sample.capturedP99)} s; delivered in notify (event applied) p50 ${sec(r.sample.deliveredP50)} s / p99 ${sec(r.sample.deliveredP99)} s${r.sample.notDelivered ? `; ${r.sample.notDelivered} not delivered` : ''}`);
  lines.push(`process: event loop delay p99 ${f1(r.loop.delay.p99)} ms, utilisation ${(r.loop.elu * 100).toFixed(0)} %, CPU ${(((r.loop.cpuMs.user + r.loop.cpuMs.system) / r.loop.wallMs) * 100).toFixed(0)} % of one core (all threads)`);
}
process.stdout.write(`${lines.join('\n')}\n`);
if (args.json) process.stdout.write(`${JSON.stringify(results)}\n`);
