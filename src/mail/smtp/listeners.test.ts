// Tests for the bare line break check of the SMTP listeners (RFC 5321 §2.3.8), without sockets; the whole path is in test/e2e/mail-smuggling.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { SMTPServerDataStream } from 'smtp-server';
import { findBareLineBreak, readStream } from './listeners.ts';

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

describe('readStream: DATA past the size limit is drained, not kept', () => {
  /** A DATA stream as smtp-server makes it: a PassThrough that sets sizeExceeded once more than `max` bytes went through. */
  function dataStream(max: number) {
    const stream = Object.assign(new PassThrough(), { byteLength: 0, sizeExceeded: false });
    stream.on('data', (c: Buffer) => {
      stream.byteLength += c.length;
      if (stream.byteLength > max) stream.sizeExceeded = true;
    });
    return stream;
  }

  it('keeps nothing once the limit is passed, drains the rest and reports it exceeded', async () => {
    const limit = 64 * 1024;
    const stream = dataStream(limit);
    const read = readStream(stream as unknown as SMTPServerDataStream, limit);
    const chunk = Buffer.alloc(16 * 1024, 0x61);
    const total = 5 * 1024 * 1024;
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (!stream.write(chunk)) await once(stream, 'drain');
    }
    stream.end();
    const { raw, exceeded } = await read;
    assert.equal(exceeded, true);
    assert.equal(raw.length, 0, 'nothing of an oversized message is returned');
    assert.equal(stream.byteLength, total, 'the stream was drained to its end');
    assert.ok(stream.readableEnded);
  });

  it('stops keeping chunks at the limit even before sizeExceeded is set', async () => {
    const limit = 1000;
    const stream = Object.assign(new PassThrough(), { sizeExceeded: false });
    const read = readStream(stream as unknown as SMTPServerDataStream, limit);
    stream.write(Buffer.alloc(600));
    stream.write(Buffer.alloc(600));
    stream.end(Buffer.alloc(600));
    const { raw, exceeded } = await read;
    assert.equal(exceeded, true);
    assert.equal(raw.length, 0);
  });

  it('returns a message within the limit whole', async () => {
    const stream = dataStream(100);
    const read = readStream(stream as unknown as SMTPServerDataStream, 100);
    stream.write('Subject: a\r\n\r\n');
    stream.end('hello\r\n');
    const { raw, exceeded } = await read;
    assert.equal(exceeded, false);
    assert.equal(raw.toString(), 'Subject: a\r\n\r\nhello\r\n');
  });
});
