// Tests for turning SMTP replies into delivery outcomes (RFC 5321 §4.2, RFC 3463), without sockets.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { outcome, parseReply, statusOf, type NodemailerError } from './reply.ts';

function refusal(recipient: string, response: string): NodemailerError {
  return Object.assign(new Error('Recipient command failed'), { code: 'EENVELOPE', command: 'RCPT TO', recipient, response });
}

describe('mail/deliver/reply', () => {
  it('parses multi-line replies and RFC 3463 enhanced codes (RFC 5321 §4.2.1)', () => {
    assert.deepEqual(parseReply('550-5.1.1 The email account does not exist.\n550 5.1.1 Please check the address.'), {
      code: 550,
      enhanced: '5.1.1',
      text: 'The email account does not exist. Please check the address.',
    });
    assert.deepEqual(parseReply('250 ok'), { code: 250, text: 'ok' });
    assert.deepEqual(parseReply('421 4.7.0 closing'), { code: 421, enhanced: '4.7.0', text: 'closing' });
  });

  it('2yz is delivered, 4yz deferred, 5yz failed (RFC 5321 §4.2.1)', () => {
    assert.deepEqual(
      [250, 251, 421, 450, 452, 550, 554, 0].map(statusOf),
      ['delivered', 'delivered', 'deferred', 'deferred', 'deferred', 'failed', 'failed', 'deferred'],
    );
  });

  it('a 4xx DATA refusal defers the accepted recipients and keeps RCPT refusals', () => {
    const err = Object.assign(new Error('Data command failed'), { code: 'EENVELOPE', command: 'DATA', response: '451 4.3.0 try again' });
    const result = outcome({ where: 'mx[192.0.2.1]:25', to: ['a@x.test', 'b@x.test'], err, info: undefined, tracked: [refusal('b@x.test', '550 5.1.1 unknown')] });
    assert.equal(result.failure?.stage, 'data');
    assert.deepEqual(
      result.recipients.map((r) => [r.rcpt, r.status, r.code]),
      [
        ['a@x.test', 'deferred', 451],
        ['b@x.test', 'failed', 550],
      ],
    );
  });

  it('a connection lost without a reply defers with 4.4.2 (RFC 3463)', () => {
    const err = Object.assign(new Error('Connection closed unexpectedly'), { code: 'ECONNECTION', command: 'CONN' });
    const result = outcome({ where: 'mx[192.0.2.1]:25', to: ['a@x.test'], err, info: undefined, tracked: [] });
    assert.deepEqual(
      result.recipients.map((r) => [r.status, r.code, r.enhanced]),
      [['deferred', 0, '4.4.2']],
    );
  });
});
