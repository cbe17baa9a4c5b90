// Tests for sealing DKIM private keys at rest (AES-256-GCM, scrypt RFC 7914).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateDkimKey } from './keys.ts';
import { SEAL_PREFIX, isSealed, sealPrivateKey, unsealPrivateKey } from './seal.ts';

const SEAL_KEY = 'correct horse battery staple';

describe('DKIM key sealing', () => {
  it('a sealed key opens to the same PEM with the same seal key', async () => {
    const { privateKeyPem } = await generateDkimKey('ed25519');
    const sealed = await sealPrivateKey(privateKeyPem, SEAL_KEY);
    assert.ok(sealed.startsWith(SEAL_PREFIX));
    assert.ok(isSealed(sealed));
    assert.ok(!sealed.includes('PRIVATE KEY'));
    assert.equal(await unsealPrivateKey(sealed, SEAL_KEY), privateKeyPem);
  });

  it('sealing twice gives different output (random salt and IV, SP 800-38D §8)', async () => {
    const { privateKeyPem } = await generateDkimKey('ed25519');
    const a = await sealPrivateKey(privateKeyPem, SEAL_KEY);
    const b = await sealPrivateKey(privateKeyPem, SEAL_KEY);
    assert.notEqual(a, b);
    assert.equal(await unsealPrivateKey(b, SEAL_KEY), privateKeyPem);
  });

  it('a wrong seal key fails with dkim.unseal_failed', async () => {
    const { privateKeyPem } = await generateDkimKey('rsa');
    const sealed = await sealPrivateKey(privateKeyPem, SEAL_KEY);
    await assert.rejects(unsealPrivateKey(sealed, 'another key'), { code: 'dkim.unseal_failed' });
  });

  it('an altered sealed blob fails authentication (GCM tag)', async () => {
    const { privateKeyPem } = await generateDkimKey('ed25519');
    const sealed = await sealPrivateKey(privateKeyPem, SEAL_KEY);
    const body = Buffer.from(sealed.slice(SEAL_PREFIX.length), 'base64url');
    body[body.length - 1]! ^= 0x01;
    await assert.rejects(unsealPrivateKey(SEAL_PREFIX + body.toString('base64url'), SEAL_KEY), { code: 'dkim.unseal_failed' });
  });

  it('a plain PEM stored before sealing is read as it is, with or without a seal key', async () => {
    const { privateKeyPem } = await generateDkimKey('ed25519');
    assert.ok(!isSealed(privateKeyPem));
    assert.equal(await unsealPrivateKey(privateKeyPem, SEAL_KEY), privateKeyPem);
    assert.equal(await unsealPrivateKey(privateKeyPem, undefined), privateKeyPem);
  });

  it('a sealed key without a seal key, a truncated blob, or junk fail with their codes', async () => {
    const { privateKeyPem } = await generateDkimKey('ed25519');
    const sealed = await sealPrivateKey(privateKeyPem, SEAL_KEY);
    await assert.rejects(unsealPrivateKey(sealed, undefined), { code: 'dkim.seal_key_missing' });
    await assert.rejects(unsealPrivateKey(sealed, ''), { code: 'dkim.seal_key_missing' });
    await assert.rejects(unsealPrivateKey(`${SEAL_PREFIX}AAAA`, SEAL_KEY), { code: 'dkim.seal_malformed' });
    await assert.rejects(unsealPrivateKey(`${SEAL_PREFIX}not base64!`, SEAL_KEY), { code: 'dkim.seal_malformed' });
    await assert.rejects(unsealPrivateKey('hello', SEAL_KEY), { code: 'dkim.key_unreadable' });
    await assert.rejects(sealPrivateKey(privateKeyPem, ''), { code: 'dkim.seal_key_missing' });
  });
});
