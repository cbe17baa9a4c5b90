// Benchmark: DKIM signing throughput (RFC 6376 rsa-sha256, RFC 8463 ed25519-sha256) on one core, ~4 KB message.
//
// Usage: node bench/dkim-sign.ts [seconds-per-case]
// Prints msgs/s for Ed25519 only, RSA-2048 only and both, for our signer (keys parsed once) and,
// for comparison, mailauth's dkimSign() as it is (the PEM re-read for every message).
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { generateDkimKey } from '../src/mail/dkim/keys.ts';
import { createDkimSigner, SIGNED_FIELDS, type DkimSigningKey } from '../src/mail/dkim/sign.ts';

const seconds = Number(process.argv[2] ?? 3);

function message(): Buffer {
  const line = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n';
  const head = [
    'From: Mana <noreply@mana.how>',
    'To: someone@example.org',
    'Subject: Please verify your email address',
    'Date: Mon, 05 Jan 2026 10:00:00 +0000',
    'Message-ID: <0123456789abcdef@mana.how>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 7bit',
  ].join('\r\n');
  let body = '';
  while (head.length + body.length < 4096) body += line;
  return Buffer.from(`${head}\r\n\r\n${body}`);
}

async function measure(run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await run(); // warm-up
  let count = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 50; i++) await run();
    count += 50;
  }
  return count / ((performance.now() - start) / 1000);
}

const raw = message();
const ed = await generateDkimKey('ed25519');
const rsa = await generateDkimKey('rsa');
const edKey: DkimSigningKey = { domain: 'mana.how', selector: 'ed2026', algorithm: 'ed25519', privateKeyPem: ed.privateKeyPem };
const rsaKey: DkimSigningKey = { domain: 'mana.how', selector: 'rsa2026', algorithm: 'rsa', privateKeyPem: rsa.privateKeyPem };
const signer = createDkimSigner();

const cases: Array<[string, DkimSigningKey[]]> = [
  ['ed25519', [edKey]],
  ['rsa-2048', [rsaKey]],
  ['both', [edKey, rsaKey]],
];

console.log(`node ${process.version}, message ${raw.length} bytes, ${seconds} s per case`);
for (const [name, keys] of cases) {
  const ours = await measure(() => signer.sign({ raw, keys }));
  const plain = await measure(() =>
    dkimSign(raw, {
      canonicalization: 'relaxed/relaxed',
      headerList: [...SIGNED_FIELDS],
      signatureData: keys.map((k) => ({ signingDomain: k.domain, selector: k.selector, privateKey: k.privateKeyPem })),
    } as Parameters<typeof dkimSign>[1]),
  );
  console.log(`${name.padEnd(9)} ${Math.round(ours).toString().padStart(6)} msgs/s   (mailauth dkimSign, key re-read each call: ${Math.round(plain)} msgs/s)`);
}
