// The configuration reference, generated from the schema's descriptions: every config.toml key, its type, default and meaning.
import { z } from 'zod';
import { configSchema } from './schema.ts';
import { loadConfig } from './load.ts';

type Json = { type?: string | string[]; description?: string; properties?: Record<string, Json>; items?: Json; enum?: unknown[]; additionalProperties?: Json | boolean; anyOf?: Json[] };

function typeOf(s: Json): string {
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ');
  if (s.type === 'array') return `${s.items ? typeOf(s.items) : 'value'}[]`;
  if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object') return `table of ${typeOf(s.additionalProperties)}`;
  return Array.isArray(s.type) ? s.type.join(' \\| ') : s.type ?? 'value';
}

function defaultAt(defaults: unknown, path: string[]): string {
  let v: any = defaults;
  for (const p of path) v = v?.[p];
  if (v === undefined) return '—';
  const text = JSON.stringify(v);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/** Markdown: one row per leaf key, dotted as in config.toml. Defaults are those of a non-root start with an empty environment. */
export function configReference(): string {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Json;
  const defaults = loadConfig({ env: { MANA_DATA_DIR: './data' }, skipFile: true, root: false });
  const rows: string[] = [];
  const walk = (s: Json, path: string[]) => {
    if (s.type === 'object' && s.properties) {
      if (path.length && s.description) rows.push(`| **${path.join('.')}** | table | | ${s.description} |`);
      for (const [k, v] of Object.entries(s.properties)) walk(v, [...path, k]);
      return;
    }
    rows.push(`| \`${path.join('.')}\` | ${typeOf(s)} | ${path[0] === 'dataDir' ? '`./data`' : `\`${defaultAt(defaults, path)}\``.replace('`—`', '—')} | ${(s.description ?? '').replace(/\|/g, '\\|')} |`);
  };
  walk(schema, []);
  return [
    '# Configuration reference',
    '',
    'Generated from `src/config/schema.ts` by `mana config reference`; a test keeps this file equal to its output.',
    'Keys are as in `config.toml`; the environment variable that sets a key is named in its description.',
    'Defaults are those of a start as a non-root user with an empty environment.',
    '',
    '| key | type | default | meaning |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
