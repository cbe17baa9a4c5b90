// Tests for the dkimpy bridge: mailauth signs (RFC 6376 rsa-sha256, RFC 8463 ed25519-sha256), dkimpy verifies.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { dkimTxtRecord, dkimpyVerify } from './dkimpy.ts';

const ed = generateKeyPairSync('ed25519');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const edPem = ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const rsaPem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

const message = Buffer.from(
  [
    'From: Sender <sender@example.org>',
    'To: rcpt@example.com',
    'Subject: dkimpy bridge',
    'Date: Tue, 24 Nov 2026 10:00:00 +0000',
    'Message-ID: <dkimpy-1@example.org>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Hello, signed world.',
    '',
  ].join('\r\n'),
);

async function signBoth(): Promise<Buffer> {
  // mailauth signs only what signatureData lists; the top-level key fields are just defaults.
  const result = await dkimSign(message, {
    signingDomain: 'example.org',
    selector: 'unused',
    privateKey: edPem,
    signatureData: [
      { signingDomain: 'example.org', selector: 'ed', privateKey: edPem, algorithm: 'ed25519-sha256' },
      { signingDomain: 'example.org', selector: 'rsa', privateKey: rsaPem, algorithm: 'rsa-sha256' },
    ],
  });
  assert.deepEqual(result.errors ?? [], []);
  return Buffer.concat([Buffer.from(result.signatures), message]);
}

const records = {
  'ed._domainkey.example.org': dkimTxtRecord(ed.publicKey),
  'rsa._domainkey.example.org.': dkimTxtRecord(rsa.publicKey), // trailing dot accepted too
};

describe('test/support/dkimpy', () => {
  it('verifies an Ed25519 (RFC 8463) and an RSA (RFC 6376) signature made by mailauth', async () => {
    const signed = await signBoth();
    const results = await dkimpyVerify(signed, records);
    assert.equal(results.length, 2);
    const bySelector = new Map(results.map((r) => [r.selector, r]));
    assert.deepEqual(
      [...bySelector.keys()].sort(),
      ['ed', 'rsa'],
    );
    for (const r of results) {
      assert.equal(r.domain, 'example.org');
      assert.equal(r.ok, true, `${r.selector}: ${r.error}`);
    }
    assert.deepEqual(
      results.map((r) => r.index),
      [0, 1],
    );
  });

  it('a body changed after signing fails both signatures (RFC 6376 §6.1.3 body hash)', async () => {
    const signed = (await signBoth()).toString().replace('Hello, signed world.', 'Hello, tampered world.');
    const results = await dkimpyVerify(Buffer.from(signed), records);
    assert.deepEqual(
      results.map((r) => r.ok),
      [false, false],
    );
  });

  it('a missing key record fails verification with an error, not a pass (RFC 6376 §6.1.2)', async () => {
    const results = await dkimpyVerify(await signBoth(), { 'ed._domainkey.example.org': records['ed._domainkey.example.org'] });
    const rsaResult = results.find((r) => r.selector === 'rsa');
    const edResult = results.find((r) => r.selector === 'ed');
    assert.equal(edResult?.ok, true);
    assert.equal(rsaResult?.ok, false);
    assert.match(rsaResult?.error ?? '', /\S/);
    assert.deepEqual(rsaResult?.queries, ['rsa._domainkey.example.org.']);
  });

  it('a key record of another key fails the signature', async () => {
    const other = generateKeyPairSync('ed25519');
    const results = await dkimpyVerify(await signBoth(), { ...records, 'ed._domainkey.example.org': dkimTxtRecord(other.publicKey) });
    assert.equal(results.find((r) => r.selector === 'ed')?.ok, false);
    assert.equal(results.find((r) => r.selector === 'rsa')?.ok, true);
  });

  it('an unsigned message has no results', async () => {
    assert.deepEqual(await dkimpyVerify(message, records), []);
  });
});
