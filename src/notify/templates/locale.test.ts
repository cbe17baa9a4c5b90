// Tests for locale.ts: template locale choice (RFC 4647 lookup, RFC 9110 Accept-Language).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pickLocale } from './locale.ts';

const both = ['de-DE', 'en-US'];

describe('pickLocale', () => {
  it('takes an exact match, ignoring case and "_" vs "-"', () => {
    assert.equal(pickLocale('en-US', both), 'en-US');
    assert.equal(pickLocale('EN-us', both), 'en-US');
    assert.equal(pickLocale('en_US', both), 'en-US');
  });

  it('falls back to the same language: de -> de-DE, en-GB -> en-US', () => {
    assert.equal(pickLocale('de', both), 'de-DE');
    assert.equal(pickLocale('de-AT', both), 'de-DE');
    assert.equal(pickLocale('en-GB', both), 'en-US');
    assert.equal(pickLocale('en', both), 'en-US');
  });

  it("falls back to de-DE, the original service's default", () => {
    assert.equal(pickLocale('fr-FR', ['en-US', 'de-DE']), 'de-DE');
    assert.equal(pickLocale(undefined, ['en-US', 'de-DE']), 'de-DE');
    assert.equal(pickLocale('', ['en-US', 'de-DE']), 'de-DE');
  });

  it('falls back to the first available when de-DE is not available', () => {
    assert.equal(pickLocale('fr', ['en-US', 'es-ES']), 'en-US');
  });

  it('returns undefined when nothing is available', () => {
    assert.equal(pickLocale('de-DE', []), undefined);
  });

  it('reads an Accept-Language list by quality, skipping q=0 and "*" (RFC 9110 §12.5.4)', () => {
    assert.equal(pickLocale('fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5', both), 'en-US');
    assert.equal(pickLocale('de;q=0.5, en-GB;q=0.9', both), 'en-US');
    assert.equal(pickLocale('en;q=0, de', both), 'de-DE');
  });

  it('spells the result as in the available list', () => {
    assert.equal(pickLocale('de-de', ['de-DE']), 'de-DE');
  });
});
