// Fuzz test for findBareLineBreak (RFC 5321 §2.3.8: CR and LF only together as CRLF): it agrees with a plain byte loop on random and mutated data.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { findBareLineBreak, type BareLineBreak } from './listeners.ts';
import { forEachSeed, LONG_RUN, mutate, randomInput } from '../../../test/support/fuzz.ts';

/** The reference: the first CR not followed by LF, or LF not preceded by CR, one byte at a time. */
function reference(raw: Buffer): BareLineBreak | undefined {
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x0d && raw[i + 1] !== 0x0a) return { char: 'CR', offset: i };
    if (raw[i] === 0x0a && (i === 0 || raw[i - 1] !== 0x0d)) return { char: 'LF', offset: i };
  }
  return undefined;
}

const SEEDS = [
  'From: <a@b.example>\r\nSubject: x\r\n\r\nbody\r\n.\r\n',
  'Subject: smuggling\r\n\r\nfirst\n.\r\nMAIL FROM:<x@y>\r\n',
  'a\r\r\n\n\r\n\r',
  '',
].map((s) => Buffer.from(s, 'latin1'));

describe('findBareLineBreak fuzz (RFC 5321 §2.3.8)', () => {
  it('agrees with a byte loop on data made of CR, LF and a few other bytes', async () => {
    await forEachSeed({ firstSeed: 0x5e7a0000, iterations: 3000 }, (r) => {
      const alphabet = [0x0d, 0x0a, 0x0d, 0x0a, 0x2e, 0x61, 0x00, 0xff];
      const raw = Buffer.from(Array.from({ length: r.int(64) }, () => r.pick(alphabet)));
      assert.deepEqual(findBareLineBreak(raw), reference(raw), raw.toString('hex'));
    });
  });

  it('agrees with a byte loop on random bytes and on mutated messages (with long runs)', async () => {
    await forEachSeed({ firstSeed: 0x5e7b0000, iterations: 3000 }, (r) => {
      const raw = r.chance(0.5) ? randomInput(r, 300, ['\r\n', '\r\n.\r\n']) : mutate(r, r.pick(SEEDS));
      assert.deepEqual(findBareLineBreak(raw), reference(raw));
    });
  });

  it('edges: at the first and last byte, after a long clean run', () => {
    for (const text of ['\n', '\r', '\r\n', 'x\r', '\nx', `${'\r\n'.repeat(LONG_RUN)}\n`, `${'\r\n'.repeat(LONG_RUN)}\r`, `${'\r\n'.repeat(LONG_RUN)}`]) {
      const raw = Buffer.from(text, 'latin1');
      assert.deepEqual(findBareLineBreak(raw), reference(raw), JSON.stringify(text.slice(-4)));
    }
  });
});
