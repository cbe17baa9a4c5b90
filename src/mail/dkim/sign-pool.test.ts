// Tests for DKIM signing on worker threads (RFC 6376, RFC 8463): same signatures as in-process signing, verified by dkimpy, errors carried back with their code.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dkimTxtRecord, generateDkimKey } from './keys.ts';
import { createDkimSigner, type DkimSigningKey } from './sign.ts';
import { createDkimSignerPool, type DkimSignerPool } from './sign-pool.ts';
import { dkimpyVerify } from '../../../test/support/dkimpy.ts';

const raw = Buffer.from('From: Mana <noreply@mana.test>\r\nTo: someone@example.org\r\nSubject: pooled\r\nMessage-ID: <p1@mana.test>\r\n\r\nHello from a worker thread.\r\n');

describe('DKIM signing on worker threads', () => {
  let keys: DkimSigningKey[];
  let records: Record<string, string>;
  let pool: DkimSignerPool;

  before(async () => {
    const ed = await generateDkimKey('ed25519');
    const rsa = await generateDkimKey('rsa');
    keys = [
      { domain: 'mana.test', selector: 'ed', algorithm: 'ed25519', privateKeyPem: ed.privateKeyPem },
      { domain: 'mana.test', selector: 'rsa', algorithm: 'rsa', privateKeyPem: rsa.privateKeyPem },
    ];
    records = { 'ed._domainkey.mana.test': dkimTxtRecord(ed), 'rsa._domainkey.mana.test': dkimTxtRecord(rsa) };
    pool = createDkimSignerPool({ threads: 2 });
  });
  after(() => pool.close());

  it('prepends the same DKIM-Signature fields as in-process signing, and both verify with dkimpy', async () => {
    const inline = await createDkimSigner().sign({ raw, keys });
    const pooled = await pool.sign({ raw, keys });
    // t= is the signing second: equal unless a second boundary fell between the two calls.
    const strip = (b: Buffer) => b.toString('latin1').replace(/t=\d+;/g, 't=;').replace(/b=[^;]*$/gm, '');
    assert.equal(strip(pooled), strip(inline));
    assert.ok(pooled.subarray(pooled.length - raw.length).equals(raw), 'the message itself is unchanged');
    const results = await dkimpyVerify(pooled, records);
    assert.deepEqual(results.map((r) => [r.selector, r.ok]), [['ed', true], ['rsa', true]]);
  });

  it('signs many messages concurrently, each with its own signature', async () => {
    const messages = Array.from({ length: 40 }, (_, i) => Buffer.from(raw.toString('latin1').replace('p1@', `p${i}@`), 'latin1'));
    const signed = await Promise.all(messages.map((m) => pool.sign({ raw: m, keys })));
    signed.forEach((s, i) => assert.ok(s.subarray(s.length - messages[i].length).equals(messages[i])));
    const sample = await dkimpyVerify(signed[17], records);
    assert.ok(sample.every((r) => r.ok));
  });

  it('a signing error comes back with its code (a key of the wrong type, RFC 8463 §3)', async () => {
    await assert.rejects(pool.sign({ raw, keys: [{ ...keys[1], algorithm: 'ed25519' }] }), { code: 'dkim.key_mismatch' });
  });

  it('after close() it signs in-process', async () => {
    const closing = createDkimSignerPool({ threads: 1 });
    await closing.close();
    const signed = await closing.sign({ raw, keys });
    assert.ok((await dkimpyVerify(signed, records)).every((r) => r.ok));
  });
});
