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

/** Keys whose values never reach a log, wherever they appear. */
const REDACT = ['password', 'secret', 'secrets', 'authorization', 'auth', 'key', 'privateKey', 'privateKeyPem', 'token', 'serviceKey', '*.password', '*.secret', '*.secrets', '*.authorization', '*.privateKey', '*.privateKeyPem', '*.token', 'headers.authorization', 'headers["x-service-key"]', 'req.headers.authorization', 'req.headers["x-service-key"]'];

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
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.multistream(streams),
  );
}

/** A logger that writes nowhere, for tests and tools. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
