// Reads the daily JSON log files (<dataDir>/logs/<service>.log.YYYY-MM-DD, one pino line an event) for GET /api/logs and the CLI: newest first, filtered, in pages.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export type LogEntry = {
  timestamp: string;
  level: string;
  /** The fixed message of the event, e.g. `security.ip-blocked`. */
  event: string;
  service: string;
  details: Record<string, unknown>;
};

export type LogQuery = {
  /** Case-insensitive text every returned line contains. */
  filter?: string;
  /** Lowest level returned: trace, debug, info, warn, error, fatal. */
  level?: string;
  service?: string;
  /** 1-based. */
  page?: number;
  limit?: number;
};

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const LEVEL_NUMBER: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
const FILE = /^([A-Za-z0-9_-]+)\.log\.(\d{4}-\d{2}-\d{2})$/;

export class LogQueryError extends Error {
  code = 'logs.bad_query';
}

export async function readLogs(dir: string, query: LogQuery = {}): Promise<{ items: LogEntry[]; total: number }> {
  const minLevel = query.level ? LEVEL_NUMBER[query.level.toLowerCase()] : 0;
  if (minLevel === undefined) throw new LogQueryError(`level is one of ${Object.keys(LEVEL_NUMBER).join(', ')}`);
  const needle = query.filter?.toLowerCase();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { items: [], total: 0 };
    throw err;
  }
  const files = names
    .map((name) => ({ name, m: FILE.exec(name) }))
    .filter((f): f is { name: string; m: RegExpExecArray } => !!f.m && (!query.service || f.m[1] === query.service));
  const entries: Array<LogEntry & { at: number; seq: number }> = [];
  for (const f of files) {
    const text = await readFile(join(dir, f.name), 'utf8');
    for (const line of text.split('\n')) {
      if (!line.trim() || (needle && !line.toLowerCase().includes(needle))) continue;
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line);
      } catch {
        continue; // a line cut by a crash mid-write
      }
      const level = Number(o.level);
      if (level < minLevel) continue;
      const { time, level: _l, msg, service, pid: _p, hostname: _h, ...details } = o;
      const at = Date.parse(String(time));
      entries.push({
        at: Number.isNaN(at) ? 0 : at,
        seq: entries.length,
        timestamp: typeof time === 'string' ? time : new Date(Number(time) || 0).toISOString(),
        level: LEVELS[level] ?? String(o.level),
        event: String(msg ?? ''),
        service: String(service ?? f.m[1]),
        details,
      });
    }
  }
  // Newest first; lines of the same millisecond in reverse file order.
  entries.sort((a, b) => b.at - a.at || b.seq - a.seq);
  const limit = query.limit && query.limit > 0 ? query.limit : 100;
  const page = Math.max(1, query.page ?? 1);
  const items = entries.slice((page - 1) * limit, page * limit).map(({ at: _a, seq: _s, ...e }) => e);
  return { items, total: entries.length };
}
