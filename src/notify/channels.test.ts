// Tests for notify's channel helpers: a resent message keeps its Message-ID (RFC 5322 §3.6.4), webhook bodies are signed with HMAC-SHA256 (RFC 2104).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { composeEmail } from './compose.ts';
import { signBody, withMessageId } from './channels.ts';

describe('withMessageId', () => {
  it('replaces the Message-ID field of a composed message and nothing else', async () => {
    const c = await composeEmail({ from: 'Mana <noreply@mana.test>', to: ['a@example.org'], subject: 'Message-ID: <no@x>', html: '<p>Message-ID: &lt;body@x&gt;</p>' });
    const out = withMessageId(c.raw, '<kept@mana.test>').toString();
    assert.match(out, /^Message-ID: <kept@mana\.test>\r$/m);
    assert.equal(out.includes(c.messageId), false);
    assert.equal(out.length, c.raw.length - c.messageId.length + '<kept@mana.test>'.length);
    assert.equal(out.split('\r\n\r\n').slice(1).join('\r\n\r\n'), c.raw.toString().split('\r\n\r\n').slice(1).join('\r\n\r\n'), 'the body is untouched');
  });
});

describe('signBody', () => {
  it('is sha256=<hex HMAC-SHA256 of the body>', () => {
    assert.equal(signBody('k', '{"a":1}'), `sha256=${createHmac('sha256', 'k').update('{"a":1}').digest('hex')}`);
  });
});
