// DKIM signing keys and their DNS key records: RSA (RFC 6376 §3.6.1) and Ed25519 (RFC 8463 §4).
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

const generateKeyPairAsync = promisify(generateKeyPair);

/** The k= key types this server signs with (RFC 6376 §3.6.1, RFC 8463 §4). */
export type DkimAlgorithm = 'ed25519' | 'rsa';

export type DkimPublicKey = {
  algorithm: DkimAlgorithm;
  /** The p= value of the key record: base64 SPKI DER for RSA, the raw 32-byte key for Ed25519. */
  publicKey: string;
};

export type DkimKeyPair = DkimPublicKey & {
  /** PKCS#8 PEM. A secret: never logged, sealed at rest (seal.ts). */
  privateKeyPem: string;
};

/** RSA-2048: RFC 8301 §3.2 asks for at least 1024 bits, and 2048 still fits one 255-octet TXT string pair. */
const RSA_BITS = 2048;

function keyError(code: string, message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

function toAlgorithm(key: KeyObject): DkimAlgorithm {
  const type = key.asymmetricKeyType;
  if (type === 'ed25519' || type === 'rsa') return type;
  throw keyError('dkim.key_unsupported', `DKIM keys are Ed25519 or RSA, this one is ${type ?? 'unknown'}`);
}

/** The p= value for a public key (RFC 8463 §4: Ed25519 publishes the bare key, not SPKI). */
function publicKeyValue(key: KeyObject): string {
  if (toAlgorithm(key) === 'ed25519') {
    const jwk = key.export({ format: 'jwk' });
    if (typeof jwk.x !== 'string') throw keyError('dkim.key_unsupported', 'Ed25519 key without a public part');
    return Buffer.from(jwk.x, 'base64url').toString('base64');
  }
  return key.export({ format: 'der', type: 'spki' }).toString('base64');
}

/** Makes a new signing key: Ed25519, or RSA-2048 (generated off the main thread). */
export async function generateDkimKey(algorithm: DkimAlgorithm): Promise<DkimKeyPair> {
  const pair =
    algorithm === 'ed25519'
      ? await generateKeyPairAsync('ed25519')
      : algorithm === 'rsa'
        ? await generateKeyPairAsync('rsa', { modulusLength: RSA_BITS, publicExponent: 0x10001 })
        : undefined;
  if (!pair) throw keyError('dkim.key_unsupported', `Unknown DKIM algorithm ${String(algorithm)}, expected ed25519 or rsa`);
  return {
    algorithm,
    privateKeyPem: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKey: publicKeyValue(pair.publicKey),
  };
}

/** Parses a private key PEM (PKCS#8, or PKCS#1 for RSA); throws `dkim.key_unreadable`. */
export function parsePrivateKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw keyError('dkim.key_unreadable', 'DKIM private key is not a readable PEM private key', err);
  }
  toAlgorithm(key);
  return key;
}

/** The algorithm of a private key PEM. */
export function keyAlgorithm(pem: string): DkimAlgorithm {
  return toAlgorithm(parsePrivateKey(pem));
}

/** The p= value (see DkimPublicKey) that belongs to a private key PEM. */
export function publicKeyFromPrivate(pem: string): string {
  return publicKeyValue(createPublicKey(parsePrivateKey(pem)));
}

/** The TXT record for `<selector>._domainkey.<domain>` (RFC 6376 §3.6.1, RFC 8463 §4). */
export function dkimTxtRecord(key: DkimPublicKey): string {
  if (key.algorithm !== 'ed25519' && key.algorithm !== 'rsa') {
    throw keyError('dkim.key_unsupported', `Unknown DKIM algorithm ${String(key.algorithm)}`);
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key.publicKey)) {
    throw keyError('dkim.key_unreadable', 'DKIM public key must be base64');
  }
  return `v=DKIM1; k=${key.algorithm}; h=sha256; p=${key.publicKey}`;
}
