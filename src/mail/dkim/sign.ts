// DKIM signing, RFC 6376 (rsa-sha256) and RFC 8463 (ed25519-sha256): one DKIM-Signature per key, relaxed/relaxed.
//
// Canonicalization, body hashing and header formatting are mailauth's (its DkimSigner). What
// is ours is the key handling: mailauth's dkimSign() turns the PEM into a new KeyObject for
// every signature of every message, and a fresh RSA key pays OpenSSL's per-key set-up (blinding,
// Montgomery tables) on its first use; a fresh Ed25519 key recomputes its public half. Keeping
// the parsed KeyObject roughly doubles throughput (bench/dkim-sign.ts). mailauth 7 accepts only
// a PEM/Buffer, so this subclasses DkimSigner and replaces its finalize() step; sign.test.ts
// checks that the result stays byte-identical to mailauth's own dkimSign().
import { createHash, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { parsePrivateKey, type DkimAlgorithm } from './keys.ts';

export type DkimSigningKey = {
  /** d= (RFC 6376 §3.5) */
  domain: string;
  /** s= */
  selector: string;
  algorithm: DkimAlgorithm;
  privateKeyPem: string;
};

export type DkimSignInput = { raw: Buffer; keys: DkimSigningKey[] };

export type DkimSigner = {
  /** The message with one DKIM-Signature header field per key in front of it. */
  sign(input: DkimSignInput): Promise<Buffer>;
};

export type DkimSignerOptions = {
  /** Clock for t= (RFC 6376 §3.5). */
  now?: () => Date;
  /** Parsed keys kept; the oldest is dropped beyond this. */
  maxCachedKeys?: number;
};

/**
 * RFC 6376 §5.4: the fields we sign when present. From first, as §5.4.1 recommends; every
 * instance of a field present is signed (mailauth lists them bottom-up, §5.4.2).
 */
export const SIGNED_FIELDS: readonly string[] = [
  'From',
  'To',
  'Cc',
  'Subject',
  'Date',
  'Message-ID',
  'Reply-To',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'In-Reply-To',
  'References',
];

const CANONICALIZATION = 'relaxed/relaxed';
/** RFC 8301 §3.2 */
const MIN_RSA_BITS = 1024;

// --- the parts of mailauth 7 used here (CommonJS, no type declarations for these paths) ---
type ParsedHeader = { key: string; casedKey: string; line: Buffer };
type SigningHeaderLines = { keys: string; headers: ParsedHeader[] };
type SignatureOpts = Record<string, string | number | null | false | undefined>;
type MailauthSignatureData = { signingDomain: string; selector: string; privateKey: unknown; algorithm: string; maxBodyLength?: number | '' };
type MailauthSignerBase = Writable & {
  headers: { parsed: ParsedHeader[] } | false | undefined;
  bodyHashes: Map<string, { hash: string | null }>;
  signatureData: MailauthSignatureData[];
  signatureHeaders: string[];
  errors: Array<{ err: Error; selector?: string; signingDomain?: string }>;
  finalize(): Promise<void>;
};
type MailauthSignerClass = new (options: { canonicalization: string; signatureData: MailauthSignatureData[] }) => MailauthSignerBase;

const requireCjs = createRequire(import.meta.url);
const { DkimSigner: MailauthDkimSigner } = requireCjs('mailauth/lib/dkim/dkim-signer.js') as { DkimSigner: MailauthSignerClass };
const { generateCanonicalizedHeader } = requireCjs('mailauth/lib/dkim/header/index.js') as {
  generateCanonicalizedHeader: (
    type: 'DKIM',
    lines: SigningHeaderLines,
    options: Record<string, unknown>,
  ) => { canonicalizedHeader: Buffer; dkimHeaderOpts: SignatureOpts };
};
const { getSigningHeaderLines, formatSignatureHeaderLine } = requireCjs('mailauth/lib/tools.js') as {
  getSigningHeaderLines: (parsed: ParsedHeader[], fieldNames: string) => SigningHeaderLines;
  formatSignatureHeaderLine: (type: 'DKIM', values: SignatureOpts, folded: boolean) => string;
};

const FIELD_LIST = SIGNED_FIELDS.join(':');

function signError(code: string, message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

/** mailauth's DkimSigner with the signing step done by an already parsed KeyObject. */
class KeyObjectDkimSigner extends MailauthDkimSigner {
  timestamp: number;

  constructor(keys: Array<{ key: DkimSigningKey; keyObject: KeyObject }>, timestamp: number) {
    super({
      canonicalization: CANONICALIZATION,
      // privateKey is only tested for presence before finalize(); ours reads the KeyObject
      signatureData: keys.map(({ key, keyObject }) => ({
        signingDomain: key.domain,
        selector: key.selector,
        privateKey: keyObject,
        algorithm: `${key.algorithm}-sha256`,
      })),
    });
    this.timestamp = timestamp;
  }

  override async finalize(): Promise<void> {
    if (!this.headers) return;
    const lines = getSigningHeaderLines(this.headers.parsed, FIELD_LIST);
    for (const data of this.signatureData) {
      try {
        // RFC 6376 §5.4: From MUST be signed; without it every verifier fails the signature
        if (!lines.headers.some((h) => h.key === 'from')) throw signError('dkim.no_from', 'Cannot DKIM-sign a message without a From header field');
        const bodyHash = this.bodyHashes.get(`relaxed:sha256:${data.maxBodyLength ?? ''}`)?.hash;
        if (!bodyHash) throw signError('dkim.internal', 'mailauth computed no relaxed/sha256 body hash');
        const { canonicalizedHeader, dkimHeaderOpts } = generateCanonicalizedHeader('DKIM', lines, {
          signingDomain: data.signingDomain,
          selector: data.selector,
          algorithm: data.algorithm,
          canonicalization: CANONICALIZATION,
          bodyHash,
          timestamp: this.timestamp,
          expiration: false,
        });
        const key = data.privateKey as KeyObject;
        // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the canonicalized header (PureEdDSA over it)
        const signature =
          key.asymmetricKeyType === 'ed25519'
            ? cryptoSign(null, createHash('sha256').update(canonicalizedHeader).digest(), key)
            : cryptoSign('sha256', canonicalizedHeader, key);
        dkimHeaderOpts.b = signature.toString('base64');
        this.signatureHeaders.push(formatSignatureHeaderLine('DKIM', dkimHeaderOpts, true));
      } catch (err) {
        this.errors.push({ err: err as Error, selector: data.selector, signingDomain: data.signingDomain });
      }
    }
  }
}

function runSigner(signer: MailauthSignerBase, raw: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    signer.once('error', reject);
    signer.once('finish', () => resolve());
    signer.end(raw);
  });
}

export function createDkimSigner(options: DkimSignerOptions = {}): DkimSigner {
  const now = options.now ?? (() => new Date());
  const maxCachedKeys = options.maxCachedKeys ?? 256;
  const cache = new Map<string, KeyObject>();

  function keyObjectFor(key: DkimSigningKey): KeyObject {
    const cacheKey = `${key.algorithm}\n${key.privateKeyPem}`;
    let keyObject = cache.get(cacheKey);
    if (keyObject) return keyObject;
    keyObject = parsePrivateKey(key.privateKeyPem);
    if (keyObject.asymmetricKeyType !== key.algorithm) {
      throw signError('dkim.key_mismatch', `DKIM key ${key.selector}._domainkey.${key.domain} is ${keyObject.asymmetricKeyType}, configured as ${key.algorithm}`);
    }
    const bits = keyObject.asymmetricKeyDetails?.modulusLength;
    if (key.algorithm === 'rsa' && (bits === undefined || bits < MIN_RSA_BITS)) {
      throw signError('dkim.key_too_short', `DKIM key ${key.selector}._domainkey.${key.domain} has ${bits} bits, RFC 8301 asks for at least ${MIN_RSA_BITS}`);
    }
    if (cache.size >= maxCachedKeys) cache.delete(cache.keys().next().value as string);
    cache.set(cacheKey, keyObject);
    return keyObject;
  }

  return {
    async sign({ raw, keys }) {
      if (keys.length === 0) return raw;
      const prepared = keys.map((key) => ({ key, keyObject: keyObjectFor(key) }));
      const signer = new KeyObjectDkimSigner(prepared, Math.floor(now().getTime() / 1000));
      await runSigner(signer, raw);
      const failed = signer.errors[0];
      if (failed) {
        const code = (failed.err as { code?: unknown }).code;
        throw signError(
          typeof code === 'string' && code.startsWith('dkim.') ? code : 'dkim.sign_failed',
          `DKIM signing failed for ${failed.selector}._domainkey.${failed.signingDomain}: ${failed.err.message}`,
          failed.err,
        );
      }
      const headers = signer.signatureHeaders.map((h) => `${h}\r\n`).join('');
      return Buffer.concat([Buffer.from(headers, 'latin1'), raw]);
    },
  };
}
