// Tests for the notify HTTP plumbing: constant-time service-key check against several keys, bounded JSON bodies, the original's envelope.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { matchesServiceKey, readJson, rfc3339, sendError } from './http.ts';

describe('matchesServiceKey', () => {
  it('accepts any configured key and nothing else', () => {
    assert.equal(matchesServiceKey('k1', ['k1', 'k2']), true);
    assert.equal(matchesServiceKey('k2', ['k1', 'k2']), true);
    assert.equal(matchesServiceKey('k3', ['k1', 'k2']), false);
    assert.equal(matchesServiceKey('k1x', ['k1']), false);
    assert.equal(matchesServiceKey(undefined, ['k1']), false);
    assert.equal(matchesServiceKey('', ['']), false, 'an empty key never authenticates');
    assert.equal(matchesServiceKey('k1', []), false);
  });
});

describe('readJson', () => {
  const app = new Hono();
  app.post('/', async (c) => {
    const body = await readJson(c, 16);
    return c.json(body);
  });
  const post = async (body: string, headers: Record<string, string> = {}) => (await app.request('/', { method: 'POST', body, headers })).json();
  it('parses JSON within the limit', async () => {
    assert.deepEqual(await post('{"a":1}'), { ok: true, value: { a: 1 } });
  });
  it('refuses bodies over the limit, declared or streamed, and anything that is not JSON', async () => {
    assert.deepEqual(await post('{"a":"0123456789abcdef"}'), { ok: false });
    assert.deepEqual(await post('{', {}), { ok: false });
    assert.deepEqual(await post(''), { ok: false });
  });
});

describe('error envelope', () => {
  it('is {"success":false,"error":{"statusCode","message","timestamp"}} with an RFC 3339 UTC timestamp and a trailing newline', async () => {
    const app = new Hono();
    app.get('/', (c) => sendError(c, 418, 'teapot'));
    const res = await app.request('/');
    const text = await res.text();
    assert.equal(res.status, 418);
    assert.ok(text.endsWith('}\n'));
    const json = JSON.parse(text);
    assert.deepEqual(Object.keys(json), ['success', 'error']);
    assert.equal(json.error.message, 'teapot');
    assert.equal(json.error.statusCode, 418);
    assert.match(json.error.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(rfc3339(Date.UTC(2026, 3, 3, 15, 3, 46, 123)), '2026-04-03T15:03:46Z');
  });
});
