// Tests for DKIM key generation and key records (RFC 6376 §3.6.1, RFC 8463 §4).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { dkimTxtRecord, generateDkimKey, keyAlgorithm, publicKeyFromPrivate } from './keys.ts';

describe('DKIM keys', () => {
  it('an Ed25519 key record carries the raw 32-byte public key, not SPKI (RFC 8463 §4)', async () => {
    const key = await generateDkimKey('ed25519');
    assert.equal(key.algorithm, 'ed25519');
    const raw = Buffer.from(key.publicKey, 'base64');
    assert.equal(raw.length, 32);
    // the same 32 bytes end the SPKI form of the key
    const spki = createPublicKey(key.privateKeyPem).export({ format: 'der', type: 'spki' });
    assert.deepEqual(spki.subarray(spki.length - 32), raw);
    // and they verify what the private key signs
    const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
    const data = Buffer.from('canonicalized header hash');
    assert.ok(verify(null, data, pub, sign(null, data, createPrivateKey(key.privateKeyPem))));
  });

  it('an RSA key is 2048 bits and its record carries base64 SPKI DER (RFC 6376 §3.6.1, RFC 8301 §3.2)', async () => {
    const key = await generateDkimKey('rsa');
    assert.equal(key.algorithm, 'rsa');
    assert.match(key.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    const pub = createPublicKey({ key: Buffer.from(key.publicKey, 'base64'), format: 'der', type: 'spki' });
    assert.equal(pub.asymmetricKeyType, 'rsa');
    assert.equal(pub.asymmetricKeyDetails?.modulusLength, 2048);
    assert.ok(key.publicKey.startsWith('MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'));
  });

  it('TXT records have exactly the v=DKIM1; k=; h=sha256; p= shape (RFC 6376 §3.6.1)', async () => {
    const ed = await generateDkimKey('ed25519');
    const rsa = await generateDkimKey('rsa');
    assert.equal(dkimTxtRecord(ed), `v=DKIM1; k=ed25519; h=sha256; p=${ed.publicKey}`);
    assert.equal(dkimTxtRecord(rsa), `v=DKIM1; k=rsa; h=sha256; p=${rsa.publicKey}`);
    assert.equal(
      dkimTxtRecord({ algorithm: 'ed25519', publicKey: 'oR3PJitX2xsZh5sFm1Lt5gMqR2jureP2WxVdY9CTjk4=' }),
      'v=DKIM1; k=ed25519; h=sha256; p=oR3PJitX2xsZh5sFm1Lt5gMqR2jureP2WxVdY9CTjk4=',
    );
  });

  it('a record is refused for a p= that is not base64 (it would break the tag list)', () => {
    assert.throws(() => dkimTxtRecord({ algorithm: 'rsa', publicKey: 'abc; k=rsa' }), { code: 'dkim.key_unreadable' });
    assert.throws(() => dkimTxtRecord({ algorithm: 'dsa' as 'rsa', publicKey: 'AAAA' }), { code: 'dkim.key_unsupported' });
  });

  it('the public key derived from a stored private key matches the generated one', async () => {
    for (const algorithm of ['ed25519', 'rsa'] as const) {
      const key = await generateDkimKey(algorithm);
      assert.equal(publicKeyFromPrivate(key.privateKeyPem), key.publicKey);
      assert.equal(keyAlgorithm(key.privateKeyPem), algorithm);
    }
  });

  it('a PKCS#1 RSA private key ("BEGIN RSA PRIVATE KEY") is read too', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pkcs1 = privateKey.export({ format: 'pem', type: 'pkcs1' }).toString();
    assert.match(pkcs1, /BEGIN RSA PRIVATE KEY/);
    assert.equal(publicKeyFromPrivate(pkcs1), publicKey.export({ format: 'der', type: 'spki' }).toString('base64'));
  });

  it('keys that are not DKIM keys are refused with a code', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    assert.throws(() => publicKeyFromPrivate(ec), { code: 'dkim.key_unsupported' });
    assert.throws(() => publicKeyFromPrivate('not a key'), { code: 'dkim.key_unreadable' });
    await assert.rejects(generateDkimKey('dsa' as 'rsa'), { code: 'dkim.key_unsupported' });
  });
});
