// Account secrets: password hashes in the formats Stalwart accepts — SHA-crypt ($5$/$6$, Drepper's
// "Unix crypt using SHA-256 and SHA-512"), bcrypt ($2a$/$2b$/$2y$) and Argon2 (RFC 9106, PHC string).
import { createHash, timingSafeEqual } from 'node:crypto';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import { encrypt as shaCrypt } from 'unixcrypt';

export type SecretScheme = 'sha512-crypt' | 'sha256-crypt' | 'bcrypt' | 'argon2';

// SHA-crypt: $5$ or $6$, optional rounds=N$, a salt of up to 16 characters other than "$", then
// the hash in the crypt alphabet (43 characters for SHA-256, 86 for SHA-512).
const SHA256_CRYPT = /^\$5\$(?:rounds=(\d{1,9})\$)?[^$\n]{0,16}\$[./0-9A-Za-z]{43}$/;
const SHA512_CRYPT = /^\$6\$(?:rounds=(\d{1,9})\$)?[^$\n]{0,16}\$[./0-9A-Za-z]{86}$/;
// The salt alphabet unixcrypt computes with: generators (openssl passwd, glibc) draw from it.
const CRYPT_SALT = /^[./0-9A-Za-z]*$/;
// bcrypt: $2a$, $2b$ or $2y$, cost 04-31, 22 characters of salt and 31 of hash.
const BCRYPT = /^\$2[aby]\$(?:0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;
// Argon2 PHC string: $argon2id|i|d$[v=19$]m=..,t=..,p=..$salt$hash (base64 without padding).
const ARGON2 = /^\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=\d+,t=\d+,p=\d+(?:,[a-z]+=[^$,]*)*\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/;

/**
 * SHA-crypt with more rounds than this is refused rather than verified: the hash runs on the
 * event loop (about 2 µs a round here), and glibc allows up to 999,999,999 rounds.
 */
export const MAX_SHA_CRYPT_ROUNDS = 1_000_000;

/** Which supported hash format `stored` is in, or undefined for anything else (plain text included). */
export function secretScheme(stored: string): SecretScheme | undefined {
  if (typeof stored !== 'string') return undefined;
  if (SHA512_CRYPT.test(stored)) return 'sha512-crypt';
  if (SHA256_CRYPT.test(stored)) return 'sha256-crypt';
  if (BCRYPT.test(stored)) return 'bcrypt';
  if (ARGON2.test(stored)) return 'argon2';
  return undefined;
}

/** True for a well-formed hash in a supported format; anything else is a plain secret to hash. */
export function isHashedSecret(s: string): boolean {
  return secretScheme(s) !== undefined;
}

/** Equal-time comparison of two strings of any length (digests first, so lengths do not show). */
function sameString(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

function verifyShaCrypt(stored: string, password: string, pattern: RegExp): boolean {
  const rounds = pattern.exec(stored)?.[1];
  if (rounds !== undefined && Number(rounds) > MAX_SHA_CRYPT_ROUNDS) return false;
  const settings = stored.slice(0, stored.lastIndexOf('$')); // "$6$[rounds=N$]salt"
  const salt = settings.slice(settings.lastIndexOf('$') + 1);
  if (!CRYPT_SALT.test(salt)) return false;
  return sameString(shaCrypt(password, settings), stored);
}

/**
 * Checks a password against a stored secret. Unknown formats, plain text and malformed hashes
 * are `false`: a secret is never compared as plain text.
 */
export async function verifySecret(stored: string, password: string): Promise<boolean> {
  if (typeof password !== 'string') return false;
  try {
    switch (secretScheme(stored)) {
      case 'sha512-crypt':
        return verifyShaCrypt(stored, password, SHA512_CRYPT);
      case 'sha256-crypt':
        return verifyShaCrypt(stored, password, SHA256_CRYPT);
      case 'bcrypt':
        return await bcrypt.compare(password, stored);
      case 'argon2':
        return await argon2Verify(stored, password);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/**
 * Hashes a plain secret for storage: Argon2id (RFC 9106) with the library's defaults,
 * m=19456 KiB, t=2, p=1, the OWASP minimum for Argon2id.
 */
export async function hashSecret(plain: string): Promise<string> {
  if (typeof plain !== 'string' || plain.length === 0) {
    throw Object.assign(new Error('A secret to hash must be a non-empty string'), { code: 'secret.empty' });
  }
  return argon2Hash(plain, { algorithm: 2 /* Argon2id */ });
}
