// Tests for account secrets: SHA-crypt, bcrypt and Argon2 hashes made by other tools (openssl, libxcrypt, bcryptjs, @node-rs/argon2).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { hash as argon2Hash } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import { hashSecret, isHashedSecret, MAX_SHA_CRYPT_ROUNDS, secretScheme, verifySecret } from './secrets.ts';

const PASSWORDS = ['correct horse battery staple', 'pässwörd €', 'x'.repeat(100)];

/** What the seed runs: `echo -n PASSWORD | openssl passwd -6 -stdin`. */
function opensslPasswd(flag: '-5' | '-6', password: string): string {
  return execFileSync('openssl', ['passwd', flag, '-stdin'], { input: password, encoding: 'utf8', timeout: 10_000 }).trim();
}

/** libxcrypt's crypt(3) through Perl: the only tool here that takes SHA-crypt rounds= (OpenSSL 3.0's passwd has no -rounds). */
function libcCrypt(password: string, settings: string): string {
  const out = execFileSync('perl', ['-e', 'print crypt($ARGV[0], $ARGV[1])', password, settings], { encoding: 'utf8', timeout: 10_000 });
  assert.ok(out.startsWith(settings.slice(0, 3)), `crypt(3) did not accept ${settings}: ${out}`);
  return out;
}

async function assertVerifies(stored: string, password: string): Promise<void> {
  assert.equal(await verifySecret(stored, password), true, `right password for ${stored}`);
  assert.equal(await verifySecret(stored, `${password}!`), false, `wrong password for ${stored}`);
  assert.equal(await verifySecret(stored, password.slice(0, -1)), false, `shorter password for ${stored}`);
  assert.equal(await verifySecret(stored, ''), false);
}

describe('account secrets', () => {
  it('SHA512-crypt from openssl passwd -6 verifies the right password only ($6$)', async () => {
    for (const password of PASSWORDS) {
      const stored = opensslPasswd('-6', password);
      assert.match(stored, /^\$6\$[^$]{16}\$/);
      assert.equal(secretScheme(stored), 'sha512-crypt');
      await assertVerifies(stored, password);
    }
  });

  it('SHA512-crypt with rounds=N verifies ($6$rounds=N$)', async () => {
    const stored = libcCrypt('correct horse', '$6$rounds=10000$saltsaltsaltsalt$');
    assert.match(stored, /^\$6\$rounds=10000\$saltsaltsaltsalt\$/);
    await assertVerifies(stored, 'correct horse');
    // rounds=5000 written out is a different string from the implicit default, and still verifies
    await assertVerifies(libcCrypt('correct horse', '$6$rounds=5000$abc$'), 'correct horse');
  });

  it('SHA256-crypt from openssl passwd -5 and with rounds=N verifies ($5$)', async () => {
    for (const password of PASSWORDS) {
      const stored = opensslPasswd('-5', password);
      assert.equal(secretScheme(stored), 'sha256-crypt');
      await assertVerifies(stored, password);
    }
    await assertVerifies(libcCrypt('correct horse', '$5$rounds=20000$short$'), 'correct horse');
  });

  it(`SHA-crypt with more than ${MAX_SHA_CRYPT_ROUNDS} rounds is refused, not computed`, async () => {
    const stored = libcCrypt('correct horse', `$5$rounds=${MAX_SHA_CRYPT_ROUNDS + 1}$saltsalt$`);
    assert.equal(await verifySecret(stored, 'correct horse'), false);
    const below = libcCrypt('correct horse', '$5$rounds=100000$saltsalt$');
    assert.equal(await verifySecret(below, 'correct horse'), true);
  });

  it('bcrypt from bcryptjs verifies ($2b$ and the same hash as $2a$, $2y$)', async () => {
    for (const password of PASSWORDS.filter((p) => Buffer.byteLength(p) < 72)) {
      const stored = await bcrypt.hash(password, 4);
      assert.match(stored, /^\$2b\$04\$/);
      assert.equal(secretScheme(stored), 'bcrypt');
      await assertVerifies(stored, password);
      await assertVerifies(stored.replace(/^\$2b/, '$2a'), password);
      await assertVerifies(stored.replace(/^\$2b/, '$2y'), password);
    }
  });

  it('bcrypt reads only the first 72 bytes of a password (its known limit, kept for compatibility)', async () => {
    const stored = await bcrypt.hash('x'.repeat(72), 4);
    assert.equal(await verifySecret(stored, 'x'.repeat(72)), true);
    assert.equal(await verifySecret(stored, `${'x'.repeat(72)}anything`), true);
    assert.equal(await verifySecret(stored, 'x'.repeat(71)), false);
  });

  it('bcrypt $2a$, $2b$ and $2y$ from libxcrypt crypt(3) verify', async () => {
    for (const prefix of ['$2a$', '$2b$', '$2y$']) {
      const stored = libcCrypt('correct horse', `${prefix}05$abcdefghijklmnopqrstuu`);
      await assertVerifies(stored, 'correct horse');
    }
  });

  it('Argon2id, Argon2i and Argon2d PHC strings verify (RFC 9106)', async () => {
    const variants = [
      [2, /^\$argon2id\$v=19\$/],
      [1, /^\$argon2i\$v=19\$/],
      [0, /^\$argon2d\$v=19\$/],
    ] as const;
    for (const [algorithm, shape] of variants) {
      const stored = await argon2Hash('correct horse', { algorithm, memoryCost: 1024, timeCost: 1 });
      assert.match(stored, shape);
      assert.equal(secretScheme(stored), 'argon2');
      await assertVerifies(stored, 'correct horse');
    }
  });

  it('hashSecret makes Argon2id that verifies, with a new salt each time', async () => {
    const a = await hashSecret('correct horse');
    const b = await hashSecret('correct horse');
    assert.match(a, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.notEqual(a, b);
    assert.ok(isHashedSecret(a));
    await assertVerifies(a, 'correct horse');
    await assert.rejects(hashSecret(''), { code: 'secret.empty' });
  });

  it('plain text, unknown and malformed secrets never verify, not even against themselves', async () => {
    const md5 = execFileSync('openssl', ['passwd', '-1', '-stdin'], { input: 'pw', encoding: 'utf8' }).trim();
    const cases = [
      'pw',
      'plain-password',
      md5, // $1$ MD5-crypt: not supported
      '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=',
      '$6$salt$tooShort',
      '$2x$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a',
      '$argon2id$v=19$m=19456,t=2,p=1$garbage',
      '',
    ];
    for (const stored of cases) {
      assert.equal(isHashedSecret(stored), false, stored);
      assert.equal(await verifySecret(stored, stored), false, stored);
      assert.equal(await verifySecret(stored, 'pw'), false, stored);
    }
  });

  it('isHashedSecret recognizes every supported format', async () => {
    const samples = [
      opensslPasswd('-6', 'pw'),
      opensslPasswd('-5', 'pw'),
      libcCrypt('pw', '$6$rounds=1000$x$'),
      await bcrypt.hash('pw', 4),
      await argon2Hash('pw', { memoryCost: 1024, timeCost: 1 }),
    ];
    for (const s of samples) assert.equal(isHashedSecret(s), true, s);
  });
});
