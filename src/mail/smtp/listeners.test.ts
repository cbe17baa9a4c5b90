// Tests for the bare line break check of the SMTP listeners (RFC 5321 §2.3.8), without sockets; the whole path is in test/e2e/mail-smuggling.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findBareLineBreak } from './listeners.ts';

const find = (text: string) => findBareLineBreak(Buffer.from(text, 'latin1'));

describe('mail/smtp/listeners findBareLineBreak', () => {
  it('finds nothing when every line break is CRLF (RFC 5321 §2.3.8)', () => {
    assert.equal(find(''), undefined);
    assert.equal(find('no line break'), undefined);
    assert.equal(find('Subject: x\r\n\r\nbody\r\n.\r\nmore\r\n'), undefined);
  });

  it('finds a bare LF, also at the start and after a CRLF', () => {
    assert.deepEqual(find('\nx'), { char: 'LF', offset: 0 });
    assert.deepEqual(find('ab\n.\ncd'), { char: 'LF', offset: 2 });
    assert.deepEqual(find('ab\r\n\n'), { char: 'LF', offset: 4 });
  });

  it('finds a bare CR, also at the very end and before another CR', () => {
    assert.deepEqual(find('ab\r.\rcd'), { char: 'CR', offset: 2 });
    assert.deepEqual(find('ab\r\n.\r'), { char: 'CR', offset: 5 });
    assert.deepEqual(find('ab\r\r\n'), { char: 'CR', offset: 2 });
  });

  it('reports the first of the two kinds (the fake ends of SMTP smuggling, CVE-2023-51764)', () => {
    assert.deepEqual(find('x\n.\r\ny'), { char: 'LF', offset: 1 });
    assert.deepEqual(find('x\r\n.\ny'), { char: 'LF', offset: 4 });
    assert.deepEqual(find('x\r.\r\ny'), { char: 'CR', offset: 1 });
    assert.deepEqual(find('x\n.\ry'), { char: 'LF', offset: 1 });
    assert.deepEqual(find('x\r\n.\rMAIL'), { char: 'CR', offset: 4 });
  });
});
