// Benchmark preload (node --import): measures a service process from inside without changing it: event-loop delay, event-loop utilisation and CPU time between two marks (no RFC; Node's perf_hooks).
//
// Usage: BENCH_PROBE_FILE=/tmp/x.jsonl node --import ./bench/notify-loop-probe.ts src/main.ts notify
// Each SIGUSR2 appends one JSON line to BENCH_PROBE_FILE with the figures since the previous SIGUSR2 (or start), then
// starts a new window: {"delay":{"p50","p99","max","mean"} (ms), "elu": 0..1, "cpuMs": {"user","system"}, "wallMs",
// "gc":{"count","ms","maxMs","majorCount","majorMaxMs"}, "sqlite":{"commits","commitMs","slowCommits" (over 2 ms),"commitMaxMs","statements","statementMs","statementMaxMs"}}: node:sqlite's COMMITs (each one an fsync of
// the WAL with synchronous=FULL) and statements, counted and timed by wrapping DatabaseSync/StatementSync (the
// event loop is blocked for all of that time).
// An experiment knob, not the product: BENCH_SQLITE_PRAGMA='synchronous = NORMAL' adds one PRAGMA when the store opens.
import { appendFileSync } from 'node:fs';
import { constants, monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { DatabaseSync, StatementSync } from 'node:sqlite';
import { isMainThread } from 'node:worker_threads';

const gc = { count: 0, ms: 0, maxMs: 0, majorCount: 0, majorMaxMs: 0 };
function watchGc(): void {
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const major = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR;
      gc.count++;
      gc.ms += entry.duration;
      if (entry.duration > gc.maxMs) gc.maxMs = entry.duration;
      if (major) {
        gc.majorCount++;
        if (entry.duration > gc.majorMaxMs) gc.majorMaxMs = entry.duration;
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
}

const sqlite = { commits: 0, commitMs: 0, slowCommits: 0, commitMaxMs: 0, statements: 0, statementMs: 0, statementMaxMs: 0 };

/** BENCH_SQL_STATS=1: time per statement text too (the ten costliest are added to each window as "sql"). */
const perSql = process.env.BENCH_SQL_STATS === '1' ? new Map<string, { n: number; ms: number }>() : undefined;

function wrapSqlite(): void {
  const exec = DatabaseSync.prototype.exec;
  const extra = process.env.BENCH_SQLITE_PRAGMA;
  DatabaseSync.prototype.exec = function (this: DatabaseSync, sql: string) {
    if (extra && sql === 'PRAGMA foreign_keys = ON') {
      // Experiment knob, not the product: one more PRAGMA right after the store opened the database.
      exec.call(this, sql);
      return exec.call(this, `PRAGMA ${extra}`);
    }
    if (sql !== 'COMMIT') return exec.call(this, sql);
    const t = performance.now();
    try {
      return exec.call(this, sql);
    } finally {
      const ms = performance.now() - t;
      sqlite.commits++;
      sqlite.commitMs += ms;
      if (ms > 2) sqlite.slowCommits++;
      if (ms > sqlite.commitMaxMs) sqlite.commitMaxMs = ms;
    }
  };
  for (const name of ['all', 'get', 'run'] as const) {
    const original = StatementSync.prototype[name] as (...a: unknown[]) => unknown;
    (StatementSync.prototype as any)[name] = function (this: StatementSync, ...params: unknown[]) {
      const t = performance.now();
      try {
        return original.apply(this, params);
      } finally {
        const ms = performance.now() - t;
        if (perSql) {
          const key = (this as StatementSync & { sourceSQL: string }).sourceSQL.replace(/\s+/g, ' ').slice(0, 90);
          const e = perSql.get(key) ?? { n: 0, ms: 0 };
          e.n++;
          e.ms += ms;
          perSql.set(key, e);
        }
        sqlite.statements++;
        sqlite.statementMs += ms;
        if (ms > sqlite.statementMaxMs) sqlite.statementMaxMs = ms;
      }
    };
  }
}

const file = process.env.BENCH_PROBE_FILE;
if (file && isMainThread) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  wrapSqlite();
  watchGc();
  let elu = performance.eventLoopUtilization();
  let cpu = process.cpuUsage();
  let wall = performance.now();
  process.on('SIGUSR2', () => {
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    const nowElu = performance.eventLoopUtilization(elu);
    const nowCpu = process.cpuUsage(cpu);
    const line = {
      delay: { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max), mean: ms(histogram.mean) },
      elu: Math.round(nowElu.utilization * 1000) / 1000,
      cpuMs: { user: Math.round(nowCpu.user / 1000), system: Math.round(nowCpu.system / 1000) },
      wallMs: Math.round(performance.now() - wall),
      heapMb: Math.round(process.memoryUsage().heapUsed / 1e6),
      gc: { count: gc.count, ms: Math.round(gc.ms), maxMs: ms(gc.maxMs * 1e6), majorCount: gc.majorCount, majorMaxMs: ms(gc.majorMaxMs * 1e6) },
      sqlite: { ...sqlite, commitMs: Math.round(sqlite.commitMs), statementMs: Math.round(sqlite.statementMs), commitMaxMs: ms(sqlite.commitMaxMs * 1e6), statementMaxMs: ms(sqlite.statementMaxMs * 1e6) },
    };
    if (perSql) {
      (line as Record<string, unknown>).sql = [...perSql].sort((a, b) => b[1].ms - a[1].ms).slice(0, 10).map(([k, v]) => ({ sql: k, n: v.n, ms: Math.round(v.ms) }));
      perSql.clear();
    }
    appendFileSync(file, `${JSON.stringify(line)}\n`);
    Object.assign(gc, { count: 0, ms: 0, maxMs: 0, majorCount: 0, majorMaxMs: 0 });
    Object.assign(sqlite, { commits: 0, commitMs: 0, slowCommits: 0, commitMaxMs: 0, statements: 0, statementMs: 0, statementMaxMs: 0 });
    histogram.reset();
    elu = performance.eventLoopUtilization();
    cpu = process.cpuUsage();
    wall = performance.now();
  });
}
