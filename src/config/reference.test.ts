// docs/configuration.md is the generated reference: it must describe every key the schema has, as it is now.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configReference } from './reference.ts';

it('docs/configuration.md equals `mana config reference` (regenerate it when the schema changes)', () => {
  const committed = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  assert.equal(committed, configReference());
});

it('every leaf key of the reference has a description', () => {
  const rows = configReference().split('\n').filter((l) => l.startsWith('| `'));
  assert.ok(rows.length > 40);
  for (const r of rows) assert.doesNotMatch(r, /\| $/, r);
});
