// `mana logs`: the daily JSON log files (<dataDir>/logs/<service>.log.YYYY-MM-DD) read as GET /api/logs reads them, oldest first, filtered, and followed as they grow.
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT, parse, positiveInt, runCommand, str, UsageError, type CliIo } from './args.ts';
import { logFileOf, logLineMatcher, LogQueryError, type ParsedLogLine } from '../mail/admin/logs.ts';

export const USAGE = `Usage:
  mana logs [--service mail|notify|auth] [--level info|warn|error] [--grep TEXT] [--queue ID]
            [--lines N] [--json] [--follow]
      The last N (50; 0 with --follow: none) log lines, oldest first, as TIME LEVEL SERVICE EVENT key=value...
      --level      this level and above      --grep   lines containing TEXT (any case)
      --queue ID   lines about one queued message (mana queue show ID)
      --json       the lines as written (one JSON object a line)
      --follow     keep printing new lines, across the daily file change, until Ctrl-C
`;

export const SERVICES = ['mail', 'notify', 'auth'] as const;

export type LogsOptions = {
  /** Stops --follow (default: SIGINT). */
  signal?: AbortSignal;
  /** How often --follow looks at the files, ms (500). */
  pollMs?: number;
};

/** A matching line with where it came from, so lines of one millisecond keep their file order. */
type Line = { entry: ParsedLogLine; raw: string; day: string; seq: number };

/** Bytes of each file already read, up to the last complete line. */
type Offsets = Map<string, number>;

/** The log files in `dir` (of one service when given), by name. */
async function logFiles(dir: string, service: string | undefined): Promise<Array<{ name: string; service: string; day: string }>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const files = [];
  for (const name of names.sort()) {
    const f = logFileOf(name);
    if (f && (!service || f.service === service)) files.push({ name, service: f.service, day: f.day });
  }
  return files;
}

/**
 * --follow --lines 0: starts each file's offset after its last complete line, found by reading back from the end
 * in blocks, so what is already there is not read (a half-written last line is printed once it is complete).
 */
async function skipExisting(dir: string, offsets: Offsets, service: string | undefined): Promise<void> {
  const BLOCK = 64 * 1024;
  for (const { name } of await logFiles(dir, service)) {
    let handle;
    try {
      handle = await open(join(dir, name), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    try {
      let pos = (await handle.stat()).size;
      const buf = Buffer.alloc(BLOCK);
      let offset = 0;
      while (pos > 0) {
        const from = Math.max(0, pos - BLOCK);
        const { bytesRead } = await handle.read(buf, 0, pos - from, from);
        const nl = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
        if (nl >= 0) {
          offset = from + nl + 1;
          break;
        }
        pos = from;
      }
      offsets.set(name, offset);
    } finally {
      await handle.close();
    }
  }
}

/** Reads what was appended to the log files since `offsets`, complete lines only, and advances the offsets. */
async function readNew(dir: string, offsets: Offsets, keep: (raw: string, service: string) => ParsedLogLine | undefined, service: string | undefined): Promise<Line[]> {
  const lines: Line[] = [];
  for (const f of await logFiles(dir, service)) {
    const name = f.name;
    const path = join(dir, name);
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed between readdir and open
      throw err;
    }
    try {
      const size = (await handle.stat()).size;
      let from = offsets.get(name) ?? 0;
      if (size < from) from = 0; // truncated or replaced: read it again from the start
      if (size === from) continue;
      const buf = Buffer.alloc(size - from);
      const { bytesRead } = await handle.read(buf, 0, buf.length, from);
      // A line still being written stays for the next read.
      const end = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (end < 0) continue;
      offsets.set(name, from + end + 1);
      for (const raw of buf.subarray(0, end).toString('utf8').split('\n')) {
        const entry = keep(raw, f.service);
        if (entry) lines.push({ entry, raw, day: f.day, seq: lines.length });
      }
    } finally {
      await handle.close();
    }
  }
  // Oldest first: by time, then by day of the file, then in file order.
  return lines.sort((a, b) => a.entry.at - b.entry.at || (a.day < b.day ? -1 : a.day > b.day ? 1 : 0) || a.seq - b.seq);
}

/** A value as it appears after `key=`: bare when it is one word, JSON otherwise. */
function shown(v: unknown): string {
  if (typeof v === 'string') return v === '' || /[\s"=\\]/.test(v) ? JSON.stringify(v) : v;
  return JSON.stringify(v) ?? String(v);
}

/** `TIME LEVEL SERVICE EVENT key=value...` */
export function formatLogLine(e: ParsedLogLine): string {
  const fields = Object.entries(e.details).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${shown(v)}`);
  return [e.timestamp, e.level.padEnd(5), e.service.padEnd(6), e.event, ...fields].join(' ');
}

export async function run(args: string[], io: CliIo, options: LogsOptions = {}): Promise<number> {
  return runCommand(io, 'logs', USAGE, async () => {
    const { positionals, values } = parse(args, {
      service: { type: 'string' }, level: { type: 'string' }, grep: { type: 'string' }, queue: { type: 'string' },
      lines: { type: 'string' }, json: { type: 'boolean' }, follow: { type: 'boolean', short: 'f' },
    });
    if (positionals.length) throw new UsageError(`unexpected ${positionals[0]}`);
    const service = str(values.service);
    if (service && !SERVICES.includes(service as (typeof SERVICES)[number])) throw new UsageError(`--service is one of ${SERVICES.join(', ')}`);
    // --lines 0 with --follow: only what comes next.
    const lines = values.lines === '0' ? 0 : positiveInt('lines', values.lines, 50);
    const queueId = str(values.queue);
    let match: ReturnType<typeof logLineMatcher>;
    try {
      match = logLineMatcher({ level: str(values.level), filter: str(values.grep) });
    } catch (e) {
      if (e instanceof LogQueryError) throw new UsageError(`--${e.message}`);
      throw e;
    }
    // --queue: a cheap text test first, then the queueId field of the line.
    const keep = queueId
      ? (raw: string, svc: string) => {
          if (!raw.includes(queueId)) return undefined;
          const e = match(raw, svc);
          return e?.details.queueId === queueId ? e : undefined;
        }
      : match;
    const print = (l: Line) => io.out(values.json ? l.raw : formatLogLine(l.entry));

    const dir = join(io.config.dataDir, 'logs');
    const offsets: Offsets = new Map();
    // --follow --lines 0 prints nothing that is there already: the files are not read, only their ends found.
    let first: Line[] = [];
    if (values.follow && lines === 0) await skipExisting(dir, offsets, service);
    else first = await readNew(dir, offsets, keep, service);
    for (const l of lines ? first.slice(-lines) : []) print(l);
    if (!values.follow) {
      if (!first.length) {
        const filtered = service || values.level || values.grep || queueId;
        (io.err ?? ((s: string) => process.stderr.write(`${s}\n`)))(`mana logs: no log lines${filtered ? ' match' : ''} in ${dir}`);
      }
      return EXIT.ok;
    }

    // --follow: look at the files every pollMs; a new day's file is read from its start.
    const stop = new AbortController();
    const onSigint = () => stop.abort();
    if (options.signal?.aborted) stop.abort();
    else if (options.signal) options.signal.addEventListener('abort', onSigint, { once: true });
    else process.once('SIGINT', onSigint);
    try {
      while (!stop.signal.aborted) {
        try {
          await sleep(options.pollMs ?? 500, undefined, { signal: stop.signal });
        } catch {
          break; // aborted
        }
        for (const l of await readNew(dir, offsets, keep, service)) print(l);
      }
    } finally {
      if (options.signal) options.signal.removeEventListener('abort', onSigint);
      else process.removeListener('SIGINT', onSigint);
    }
    return EXIT.ok;
  });
}
