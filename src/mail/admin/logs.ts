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

/** The service and UTC day of a daily log file name (`mail.log.2025-01-31`); undefined for other files. */
export function logFileOf(name: string): { service: string; day: string } | undefined {
  const m = FILE.exec(name);
  return m ? { service: m[1], day: m[2] } : undefined;
}

/** A log line as an entry with its time in ms (`at`, 0 when unreadable). */
export type ParsedLogLine = LogEntry & { at: number };

/**
 * A parser of single log lines that keeps only those matching `filter` and `level`; undefined for
 * lines that do not match, blank lines and lines cut by a crash mid-write. `fileService` names the
 * service of lines without a `service` field. Throws LogQueryError for an unknown level.
 */
export function logLineMatcher(query: Pick<LogQuery, 'filter' | 'level'> = {}): (line: string, fileService: string) => ParsedLogLine | undefined {
  const minLevel = query.level ? LEVEL_NUMBER[query.level.toLowerCase()] : 0;
  if (minLevel === undefined) throw new LogQueryError(`level is one of ${Object.keys(LEVEL_NUMBER).join(', ')}`);
  const needle = query.filter?.toLowerCase();
  return (line, fileService) => {
    if (!line.trim() || (needle && !line.toLowerCase().includes(needle))) return undefined;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line);
    } catch {
      return undefined; // a line cut by a crash mid-write
    }
    const level = Number(o.level);
    if (level < minLevel) return undefined;
    const { time, level: _l, msg, service, pid: _p, hostname: _h, ...details } = o;
    const at = Date.parse(String(time));
    return {
      at: Number.isNaN(at) ? 0 : at,
      timestamp: typeof time === 'string' ? time : new Date(Number(time) || 0).toISOString(),
      level: LEVELS[level] ?? String(o.level),
      event: String(msg ?? ''),
      service: String(service ?? fileService),
      details,
    };
  };
}

export async function readLogs(dir: string, query: LogQuery = {}): Promise<{ items: LogEntry[]; total: number }> {
  const match = logLineMatcher(query);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { items: [], total: 0 };
    throw err;
  }
  const files = names
    .map((name) => ({ name, f: logFileOf(name) }))
    .filter((x): x is { name: string; f: { service: string; day: string } } => !!x.f && (!query.service || x.f.service === query.service));
  const entries: Array<ParsedLogLine & { seq: number }> = [];
  for (const { name, f } of files) {
    const text = await readFile(join(dir, name), 'utf8');
    for (const line of text.split('\n')) {
      const e = match(line, f.service);
      if (e) entries.push({ ...e, seq: entries.length });
    }
  }
  // Newest first; lines of the same millisecond in reverse file order.
  entries.sort((a, b) => b.at - a.at || b.seq - a.seq);
  const limit = query.limit && query.limit > 0 ? query.limit : 100;
  const page = Math.max(1, query.page ?? 1);
  const items = entries.slice((page - 1) * limit, page * limit).map(({ at: _a, seq: _s, ...e }) => e);
  return { items, total: entries.length };
}
