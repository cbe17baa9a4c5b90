// Shared shape of the admin subcommands (`mana account|domain|dkim|dns|queue|captured|security|config`): their io, option parsing, tables and error reporting.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Config } from '../config/schema.ts';
import type { Store } from '../store/store.ts';
import { asManagementError } from '../mail/admin/errors.ts';

export type CliIo = {
  config: Readonly<Config>;
  store: Store;
  /** One line or block of normal output. */
  out: (s: string) => void;
  /** Errors; stderr when not given. */
  err?: (s: string) => void;
};

/** Exit codes: 0 done, 1 the operation failed (not found, invalid), 2 the command line was wrong. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export class UsageError extends Error {
  code = 'cli.usage';
}

export type Parsed = { positionals: string[]; values: Record<string, string | boolean | string[] | undefined> };

export function parse(args: string[], options: ParseArgsConfig['options'] = {}): Parsed {
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { positionals: r.positionals, values: r.values as Parsed['values'] };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
export const strs = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : []);

export function positiveInt(name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || n <= 0) throw new UsageError(`--${name} must be a positive whole number`);
  return n;
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : (cell ?? '').padEnd(widths[i]))).join('  ').trimEnd()).join('\n');
}

/**
 * Runs a subcommand: usage errors print the usage (exit 2); management errors (not found, exists,
 * invalid) print their message (exit 1); anything else propagates.
 */
export async function runCommand(io: CliIo, command: string, usage: string, body: () => Promise<number>): Promise<number> {
  const err = io.err ?? ((s: string) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`));
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) {
      err(`mana ${command}: ${e.message}\n\n${usage}`);
      return EXIT.usage;
    }
    const m = asManagementError(e);
    if (m) {
      err(`mana ${command}: ${m.message}`);
      return EXIT.failed;
    }
    throw e;
  }
}
