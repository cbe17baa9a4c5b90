// `mana config check [FILE]`: validates a config.toml (TOML v1.0.0) against the configuration schema and says what is wrong and on which line.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, parse, runCommand, UsageError, type CliIo } from './args.ts';
import { ConfigError, loadConfig, parseConfigFile, quoteAddressKeys } from '../config/load.ts';
import { configSchema } from '../config/schema.ts';
import { configReference } from '../config/reference.ts';
import { invalidNetworks } from '../mail/smtp/networks.ts';

export const USAGE = `Usage:
  mana config reference
      Prints every configuration key with its type, default and meaning (Markdown).
  mana config check [FILE]
      Checks FILE (default: MANA_CONFIG, <dataDir>/config.toml, ./config.toml): TOML syntax, unknown
      keys, values of the wrong type or range, invalid networks in [server.allowed-ip]. The
      environment is left out, so what is reported is what the file says. Exit 1 on errors.
`;

export type Problem = { severity: 'error' | 'warning'; key: string; line?: number; message: string };

type Raw = Record<string, unknown>;
type Def = { type: string; shape?: Record<string, { _zod: { def: Def } }>; innerType?: { _zod: { def: Def } }; valueType?: { _zod: { def: Def } }; element?: { _zod: { def: Def } } };

const defOf = (s: unknown): Def => (s as { _zod: { def: Def } })._zod.def;

/** The schema under optional/default wrappers. */
function unwrap(d: Def): Def {
  while ((d.type === 'optional' || d.type === 'default' || d.type === 'nullable') && d.innerType) d = defOf(d.innerType);
  return d;
}

const isTable = (v: unknown): v is Raw => !!v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

function suggestion(key: string, known: string[]): string {
  const best = known.map((k) => ({ k, d: distance(key, k) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= Math.max(2, Math.floor(key.length / 3)) ? ` (did you mean ${best.k}?)` : '';
}

/** Keys of `raw` the schema does not know, as dotted paths. */
function unknownKeys(raw: Raw, def: Def, path: string[], out: Problem[]): void {
  const d = unwrap(def);
  if (d.type === 'object' && d.shape) {
    const known = Object.keys(d.shape);
    for (const [k, v] of Object.entries(raw)) {
      if (!d.shape[k]) {
        out.push({ severity: 'error', key: [...path, k].join('.'), message: `unknown key${suggestion(k, known)}` });
        continue;
      }
      const child = unwrap(defOf(d.shape[k]));
      if (isTable(v)) unknownKeys(v, child, [...path, k], out);
      else if (Array.isArray(v) && child.type === 'array' && child.element) {
        v.forEach((item, i) => { if (isTable(item)) unknownKeys(item, defOf(child.element), [...path, k, String(i)], out); });
      }
    }
  } else if (d.type === 'record' && d.valueType) {
    for (const [k, v] of Object.entries(raw)) if (isTable(v)) unknownKeys(v, defOf(d.valueType), [...path, k], out);
  }
}

/** The Stalwart keys mana reads; every other one under [lookup] and [server] is ignored. */
function stalwartKeys(toml: Raw, out: Problem[]): void {
  const walk = (v: unknown, path: string[]): void => {
    const key = path.join('.');
    if (key === 'lookup.default.hostname') {
      if (typeof v !== 'string' || !v) out.push({ severity: 'error', key, message: 'expected a host name, e.g. "mail.example.com"' });
      return;
    }
    if (key === 'server.allowed-ip') {
      if (!isTable(v)) {
        out.push({ severity: 'error', key, message: 'expected a table of networks, e.g. "172.18.0.0/16" = true' });
        return;
      }
      for (const [cidr, on] of Object.entries(v)) {
        if (invalidNetworks([cidr]).length) out.push({ severity: 'error', key: `${key}.${cidr}`, message: `"${cidr}" is not an address or CIDR network` });
        else if (typeof on !== 'boolean' && on !== '') out.push({ severity: 'error', key: `${key}.${cidr}`, message: 'expected true or false' });
      }
      return;
    }
    if (key === 'server.security.analysis.scan-ban') {
      if (typeof v !== 'boolean') out.push({ severity: 'error', key, message: 'expected true or false' });
      return;
    }
    if (/^server\.auto-ban\.(auth|abuse|scan)\.rate$/.test(key)) {
      if (typeof v !== 'string' || !/^\s*\d+\s*\/\s*\d+\s*[smhd]?\s*$/.test(v) || /^\s*0\s*\//.test(v)) out.push({ severity: 'error', key, message: 'expected "count/period", e.g. "10/1h"' });
      return;
    }
    if (isTable(v)) {
      for (const [k, child] of Object.entries(v)) walk(child, [...path, ...(k.includes('.') && key === 'server.security' ? k.split('.') : [k])]);
      return;
    }
    out.push({ severity: 'warning', key, message: 'Stalwart setting not used by mana (ignored)' });
  };
  if (toml.lookup !== undefined) walk(toml.lookup, ['lookup']);
  if (toml.server !== undefined) walk(toml.server, ['server']);
}

const BARE = /[A-Za-z0-9_-]+/.source;
const QUOTED = /"(?:[^"\\]|\\.)*"|'[^']*'/.source;
const KEY = `(?:${QUOTED}|${BARE})(?:\\s*\\.\\s*(?:${QUOTED}|${BARE}))*`;

function keyParts(dotted: string): string[] {
  const parts: string[] = [];
  const re = new RegExp(`${QUOTED}|${BARE}`, 'g');
  for (const m of dotted.matchAll(re)) {
    const p = m[0];
    parts.push(p.startsWith('"') ? JSON.parse(p) : p.startsWith("'") ? p.slice(1, -1) : p);
  }
  return parts;
}

/** Line numbers of the tables and keys of a TOML text, by dotted path (array indexes left out). */
export function keyLines(text: string): Map<string, number> {
  const lines = new Map<string, number>();
  let table: string[] = [];
  const header = new RegExp(`^\\s*\\[\\[?\\s*(${KEY})\\s*\\]\\]?\\s*(?:#.*)?$`);
  const assign = new RegExp(`^\\s*(${KEY})\\s*=`);
  text.split(/\r?\n/).forEach((line, i) => {
    const h = header.exec(line);
    if (h) {
      table = keyParts(h[1]);
      const k = table.join('.');
      if (!lines.has(k)) lines.set(k, i + 1);
      return;
    }
    const a = assign.exec(line);
    if (a) {
      const k = [...table, ...keyParts(a[1])].join('.');
      if (!lines.has(k)) lines.set(k, i + 1);
    }
  });
  return lines;
}

function lineOf(lines: Map<string, number>, key: string): number | undefined {
  if (lines.has(key)) return lines.get(key);
  const parts = key.split('.').filter((p) => !/^\d+$/.test(p));
  for (let n = parts.length; n > 0; n--) {
    const line = lines.get(parts.slice(0, n).join('.'));
    if (line !== undefined) return line;
  }
  return undefined;
}

/** Where in the file a schema path came from: our own key, or the Stalwart key mapped onto it. */
const MAPPED: Array<[RegExp, string]> = [
  [/^mail\.hostname$/, 'lookup.default.hostname'],
  [/^mail\.allowedIp(\.\d+)?$/, 'server.allowed-ip'],
  [/^mail\.scanBan$/, 'server.security.analysis.scan-ban'],
  [/^mail\.security\.authFailures/, 'server.auto-ban.auth.rate'],
  [/^mail\.security\.relayAttempts/, 'server.auto-ban.abuse.rate'],
  [/^mail\.security\.protocolErrors/, 'server.auto-ban.scan.rate'],
];

function tomlKey(path: string, lines: Map<string, number>): string {
  const present = (k: string) => [...lines.keys()].some((l) => l === k || l.startsWith(`${k}.`));
  if (present(path.split('.').filter((p) => !/^\d+$/.test(p)).join('.'))) return path;
  for (const [re, stalwart] of MAPPED) if (re.test(path) && present(stalwart)) return stalwart;
  return path;
}

/** Every problem of a config file; an unreadable or unparsable file is one error. */
export function checkConfigFile(file: string): Problem[] {
  let toml: Raw;
  try {
    toml = parseConfigFile(file);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((message) => ({ severity: 'error', key: '(file)', message }));
    throw err;
  }
  const lines = keyLines(quoteAddressKeys(readFileSync(file, 'utf8')));
  const problems: Problem[] = [];
  const { lookup: _l, server: _s, ...ours } = toml;
  unknownKeys(ours, defOf(configSchema), [], problems);
  stalwartKeys(toml, problems);
  try {
    loadConfig({ env: {}, file });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const issue of err.issues) {
      const at = issue.indexOf(': ');
      const path = at > 0 ? issue.slice(0, at) : '(root)';
      const message = at > 0 ? issue.slice(at + 2) : issue;
      const key = tomlKey(path, lines);
      // Stalwart keys already reported by stalwartKeys() are not reported twice.
      if (problems.some((p) => p.severity === 'error' && (p.key === key || p.key.startsWith(`${key}.`)))) continue;
      problems.push({ severity: 'error', key, message });
    }
  }
  for (const p of problems) if (p.key !== '(file)') p.line = lineOf(lines, p.key);
  return problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

export async function run(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  return runCommand(io, 'config', USAGE, async () => {
    if (sub === 'reference') {
      io.out(configReference());
      return EXIT.ok;
    }
    if (sub !== 'check') throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'expected a subcommand');
    const { positionals } = parse(rest);
    if (positionals.length > 1) throw new UsageError('expected at most one FILE');
    // The command line is the edge: MANA_CONFIG is read here, as main.ts reads the rest of the environment.
    const candidates = [process.env.MANA_CONFIG, join(io.config.dataDir, 'config.toml'), 'config.toml'].filter((f): f is string => !!f);
    const file = positionals[0] ?? candidates.find((f) => existsSync(f));
    if (!file) {
      (io.err ?? ((s: string) => process.stderr.write(`${s}\n`)))(`mana config: no config file found (looked for ${candidates.join(', ')}); give FILE`);
      return EXIT.failed;
    }
    const problems = checkConfigFile(file);
    for (const p of problems) io.out(p.key === '(file)' ? `error: ${p.message}` : `${file}${p.line ? `:${p.line}` : ''}: ${p.severity}: ${p.key}: ${p.message}`);
    const errors = problems.filter((p) => p.severity === 'error').length;
    const warnings = problems.length - errors;
    io.out(errors || warnings ? `${file}: ${errors} error(s), ${warnings} warning(s)` : `${file}: ok`);
    return errors ? EXIT.failed : EXIT.ok;
  });
}

