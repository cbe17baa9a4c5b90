// Per-destination rate limits: a token bucket per domain, so big providers are not flooded (they throttle senders that are).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createDomainRates } from './worker.ts';

it('a domain with messagesPerMinute gets a burst of a tenth of it, then one per 60/rate seconds', () => {
  let t = 0;
  const rates = createDomainRates({ 'gmail.com': { messagesPerMinute: 60 } }, () => t);
  let started = 0;
  while (rates.available('gmail.com')) { rates.take('gmail.com'); started++; }
  assert.equal(started, 6);
  t += 999;
  assert.equal(rates.available('gmail.com'), false);
  t += 1;
  assert.equal(rates.available('gmail.com'), true);
  rates.take('gmail.com');
  assert.equal(rates.available('gmail.com'), false);
});

it('a domain without a limit is never held back', () => {
  const rates = createDomainRates({ 'gmail.com': { messagesPerMinute: 1 } }, () => 0);
  for (let i = 0; i < 1000; i++) { assert.equal(rates.available('example.org'), true); rates.take('example.org'); }
});
