// Structured logging (pino): JSON lines on stderr and in a daily file logs/<service>.log.YYYY-MM-DD under the data directory.
import { mkdirSync, openSync, write, closeSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

export type { Logger };

/** Appends to logs/<service>.log.<UTC date>, switching file when the date changes. */
export class DailyFile extends Writable {
  dir: string;
  service: string;
  now: () => Date;
  #fd = -1;
  #day = '';
  constructor(options: { dir: string; service: string; now?: () => Date }) {
    super();
    this.dir = options.dir;
    this.service = options.service;
    this.now = options.now ?? (() => new Date());
    mkdirSync(this.dir, { recursive: true });
  }
  path(day = this.now().toISOString().slice(0, 10)): string {
    return join(this.dir, `${this.service}.log.${day}`);
  }
  /**
   * Writes are asynchronous; lines that arrive while one write is under way are written together
   * by _writev, so a busy server makes one write call for many lines and never blocks on the file.
   */
  _write(chunk: Buffer, _enc: string, done: (err?: Error | null) => void): void {
    this._writev([{ chunk }], done);
  }
  _writev(chunks: Array<{ chunk: Buffer }>, done: (err?: Error | null) => void): void {
    try {
      const day = this.now().toISOString().slice(0, 10);
      if (day !== this.#day) {
        if (this.#fd >= 0) closeSync(this.#fd);
        this.#fd = openSync(this.path(day), 'a', 0o640);
        this.#day = day;
      }
      const data = chunks.length === 1 ? chunks[0].chunk : Buffer.concat(chunks.map((c) => c.chunk));
      const fd = this.#fd;
      const rest = (offset: number) => write(fd, data, offset, data.length - offset, null, (err, n) => {
        if (err) return done(err);
        if (offset + n < data.length) return rest(offset + n);
        done();
      });
      rest(0);
    } catch (err) {
      done(err as Error);
    }
  }
  _final(done: () => void): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
    done();
  }
}

/** Keys whose values never reach a log, at any depth of a logged object (compared in lower case). */
const SECRET_KEYS = new Set(['password', 'secret', 'secrets', 'authorization', 'privatekey', 'privatekeypem', 'token', 'servicekey', 'x-service-key', 'pass']);
/** Keys censored only at the top level of a logged object (deeper, `key` and `auth` often name harmless things). */
const TOP_SECRET_KEYS = new Set(['key', 'auth']);
const CENSOR = '[redacted]';
const MAX_DEPTH = 4;

/**
 * A copy of a logged object with every secret-named value replaced, copying only the objects on
 * the way to a replaced value; the object itself when there is nothing to hide (the usual case,
 * so a log line costs one walk over its keys).
 */
export function scrubSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH || Array.isArray(value) || Buffer.isBuffer(value)) return value;
  if (value instanceof Error) {
    const own = Object.keys(value);
    if (own.length === 0) return value;
    const serialized = pino.stdSerializers.err(value);
    const scrubbed = scrubSecrets(serialized, depth);
    return scrubbed === serialized && !own.some((k) => SECRET_KEYS.has(k.toLowerCase())) ? value : scrubbed;
  }
  const obj = value as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const k in obj) {
    if (!Object.hasOwn(obj, k)) continue;
    const lower = k.toLowerCase();
    const v = obj[k];
    if (v !== undefined && (SECRET_KEYS.has(lower) || (depth === 0 && TOP_SECRET_KEYS.has(lower)))) {
      out ??= { ...obj };
      out[k] = CENSOR;
    } else if (v !== null && typeof v === 'object') {
      const s = scrubSecrets(v, depth + 1);
      if (s !== v) {
        out ??= { ...obj };
        out[k] = s;
      }
    }
  }
  return out ?? obj;
}

export type LogOptions = { dataDir: string; service: string; level: string; stderr?: boolean };

export function createLogger(options: LogOptions): Logger {
  const streams: pino.StreamEntry[] = [
    { level: 'info', stream: new DailyFile({ dir: join(options.dataDir, 'logs'), service: options.service }) },
  ];
  if (options.stderr !== false && options.level !== 'silent') streams.push({ level: options.level as pino.Level, stream: process.stderr });
  return pino(
    {
      level: options.level === 'silent' ? 'info' : (['trace', 'debug'].includes(options.level) ? options.level : 'info'),
      base: { service: options.service },
      formatters: { log: (obj) => scrubSecrets(obj) as Record<string, unknown> },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.multistream(streams),
  );
}

/** A logger that writes nowhere, for tests and tools. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
