// Boundary check of auth (SPEC §3, CONVENTIONS "auth never imports SMTP code"): no module under src/auth imports SMTP libraries or mail/notify code; it talks to notify over HTTP only.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';

const AUTH_DIR = dirname(new URL(import.meta.url).pathname);
const SRC_DIR = resolve(AUTH_DIR, '..');
const FORBIDDEN_PACKAGES = /^(nodemailer|smtp-server|smtp-connection|emailjs)(\/|$)/;
const FORBIDDEN_DIRS = [join(SRC_DIR, 'mail'), join(SRC_DIR, 'notify')];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : /\.(ts|js|mjs)$/.test(name) ? [p] : [];
  });
}

/** Every module specifier of static imports, re-exports, dynamic imports and require calls. */
export function specifiers(source: string): string[] {
  const out: string[] = [];
  const patterns = [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]/g, /\brequire\s*\(\s*['"]([^'"]+)['"]/g];
  for (const re of patterns) for (const m of source.matchAll(re)) out.push(m[1]!);
  return [...new Set(out)];
}

describe('auth boundary', () => {
  it('the checker sees imports of every form (a test that cannot fail is a defect)', () => {
    const sample = `import a from 'nodemailer';\nexport { b } from "../mail/x.ts";\nconst c = await import('smtp-server');\nimport 'smtp-connection';\nimport type { T } from '../notify/compose.ts';`;
    assert.deepEqual(specifiers(sample).sort(), ['../mail/x.ts', '../notify/compose.ts', 'nodemailer', 'smtp-connection', 'smtp-server'].sort());
  });

  it('no module under src/auth imports SMTP libraries or code of src/mail or src/notify (SPEC §3)', () => {
    const offences: string[] = [];
    const list = files(AUTH_DIR);
    assert.ok(list.length > 5, 'found the auth modules');
    for (const file of list) {
      if (file === new URL(import.meta.url).pathname) continue; // this file names the forbidden modules as data
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        const rel = relative(AUTH_DIR, file);
        if (FORBIDDEN_PACKAGES.test(spec)) offences.push(`${rel} imports ${spec}`);
        if (spec.startsWith('.')) {
          const target = resolve(dirname(file), spec);
          if (FORBIDDEN_DIRS.some((d) => target === d || target.startsWith(d + '/'))) offences.push(`${rel} imports ${spec}`);
        }
      }
    }
    assert.deepEqual(offences, []);
  });
});
