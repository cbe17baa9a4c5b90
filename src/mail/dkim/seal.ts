// DKIM private keys at rest: AES-256-GCM (NIST SP 800-38D) under a key derived with scrypt (RFC 7914).
//
// Sealed form: `mana-seal:v1:` + base64url(salt[16] | iv[12] | tag[16] | ciphertext). The prefix
// and version are the GCM additional data, so a blob cannot be relabelled. Anything without the
// prefix is read as a plain PEM, so keys stored before sealing was configured keep working.
import { createCipheriv, createDecipheriv, randomBytes, scrypt, type BinaryLike, type ScryptOptions } from 'node:crypto';

export const SEAL_PREFIX = 'mana-seal:v1:';

const SALT_BYTES = 16;
const IV_BYTES = 12; // SP 800-38D §8.2: 96-bit IVs
const TAG_BYTES = 16;
/** RFC 7914 §2 "interactive" cost: N=2^14, r=8, p=1 (16 MiB, tens of ms). Fixed by the v1 prefix. */
const SCRYPT: ScryptOptions = { N: 2 ** 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

function sealError(code: string, message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

function deriveKey(sealKey: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(sealKey as BinaryLike, salt, 32, SCRYPT, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function requireKey(sealKey: string | undefined): string {
  if (typeof sealKey !== 'string' || sealKey.length === 0) {
    throw sealError('dkim.seal_key_missing', 'A sealed DKIM key needs the seal key (mail.dkimSealKey / MAIL_DKIM_SEAL_KEY)');
  }
  return sealKey;
}

/** True when `stored` is in the sealed form (it may still fail to open). */
export function isSealed(stored: string): boolean {
  return stored.startsWith(SEAL_PREFIX);
}

/** Encrypts a private key PEM for storage. */
export async function sealPrivateKey(pem: string, sealKey: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(IV_BYTES);
  const key = await deriveKey(requireKey(sealKey), salt);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(SEAL_PREFIX));
  const ciphertext = Buffer.concat([cipher.update(pem, 'utf8'), cipher.final()]);
  return SEAL_PREFIX + Buffer.concat([salt, iv, cipher.getAuthTag(), ciphertext]).toString('base64url');
}

/**
 * Returns the PEM of a stored key: opens a sealed one, passes a plain PEM through.
 * Throws `dkim.seal_key_missing`, `dkim.seal_malformed`, `dkim.unseal_failed` (wrong key or
 * altered data) or `dkim.key_unreadable` (neither sealed nor PEM).
 */
export async function unsealPrivateKey(stored: string, sealKey: string | undefined): Promise<string> {
  if (!isSealed(stored)) {
    if (stored.trimStart().startsWith('-----BEGIN ')) return stored;
    throw sealError('dkim.key_unreadable', 'Stored DKIM key is neither sealed nor a PEM');
  }
  const body = stored.slice(SEAL_PREFIX.length).trim();
  const blob = Buffer.from(body, 'base64url');
  if (!/^[A-Za-z0-9_-]+$/.test(body) || blob.length <= SALT_BYTES + IV_BYTES + TAG_BYTES) {
    throw sealError('dkim.seal_malformed', 'Sealed DKIM key is truncated or not base64url');
  }
  const salt = blob.subarray(0, SALT_BYTES);
  const iv = blob.subarray(SALT_BYTES, SALT_BYTES + IV_BYTES);
  const tag = blob.subarray(SALT_BYTES + IV_BYTES, SALT_BYTES + IV_BYTES + TAG_BYTES);
  const ciphertext = blob.subarray(SALT_BYTES + IV_BYTES + TAG_BYTES);
  const key = await deriveKey(requireKey(sealKey), salt);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(SEAL_PREFIX));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch (err) {
    throw sealError('dkim.unseal_failed', 'Sealed DKIM key could not be opened: wrong seal key or altered data', err);
  }
}
