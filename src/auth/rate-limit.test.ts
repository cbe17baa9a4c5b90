// Tests of the fixed-window limiter: per IP and per address, window reset, Retry-After (RFC 6585 §4).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRateLimiter } from './rate-limit.ts';

describe('rate limiter', () => {
  it('refuses the attempt after max per address, whatever the IP, until the window is over', () => {
    let now = 1_000_000;
    const l = createRateLimiter({ now: () => now, rules: { reset: { ip: { max: 100, windowMs: 60_000 }, address: { max: 2, windowMs: 60_000 } } } });
    assert.deepEqual(l.hit({ action: 'reset', ip: '192.0.2.1', address: 'A@x.test' }), { allowed: true });
    assert.deepEqual(l.hit({ action: 'reset', ip: '192.0.2.2', address: 'a@x.test' }), { allowed: true });
    const third = l.hit({ action: 'reset', ip: '192.0.2.3', address: 'a@X.test ' });
    assert.deepEqual(third, { allowed: false, retryAfterSeconds: 60, scope: 'address' });
    assert.deepEqual(l.hit({ action: 'reset', ip: '192.0.2.3', address: 'b@x.test' }), { allowed: true }, 'other addresses unaffected');
    assert.deepEqual(l.hit({ action: 'sign-in', ip: '192.0.2.3', address: 'a@x.test' }), { allowed: true }, 'other actions unaffected');
    now += 60_000;
    assert.deepEqual(l.hit({ action: 'reset', ip: '192.0.2.1', address: 'a@x.test' }), { allowed: true }, 'a new window');
  });

  it('refuses the attempt after max per IP, whatever the address', () => {
    const now = 5_000;
    const l = createRateLimiter({ now: () => now, rules: { 'sign-up': { ip: { max: 3, windowMs: 10_000 }, address: { max: 10, windowMs: 10_000 } } } });
    for (let i = 0; i < 3; i++) assert.equal(l.hit({ action: 'sign-up', ip: '198.51.100.7', address: `u${i}@x.test` }).allowed, true);
    const d = l.hit({ action: 'sign-up', ip: '198.51.100.7', address: 'fresh@x.test' });
    assert.deepEqual(d, { allowed: false, retryAfterSeconds: 10, scope: 'ip' });
    assert.equal(l.hit({ action: 'sign-up', ip: '198.51.100.8', address: 'fresh@x.test' }).allowed, true, 'another IP is fine');
  });
});
