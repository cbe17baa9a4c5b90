// Tests for DKIM signing (RFC 6376, RFC 8463), checked by two independent verifiers: mailauth and dkimpy.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { generateDkimKey, dkimTxtRecord, type DkimKeyPair } from './keys.ts';
import { createDkimSigner, SIGNED_FIELDS, type DkimSigningKey } from './sign.ts';

const DOMAIN = 'mana.test';
const SIGN_TIME = new Date('2026-03-01T12:00:00Z');

function message(extra: { body?: string; headers?: string[] } = {}): Buffer {
  const headers = extra.headers ?? [
    'From: Mana <noreply@mana.test>',
    'To: Someone <someone@example.org>',
    'Cc: other@example.org',
    'Subject: Please verify your email address',
    'Date: Sun, 01 Mar 2026 12:00:00 +0000',
    'Message-ID: <abc123@mana.test>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 7bit',
    'X-Mailer: not signed',
  ];
  const body = extra.body ?? 'Hello,\r\n\r\nclick the link to verify:   https://mana.test/verify?t=1\r\n\r\n';
  return Buffer.from(`${headers.join('\r\n')}\r\n\r\n${body}`);
}

/** A resolver for mailauth serving only the given TXT records. */
function zoneResolver(records: Map<string, string>) {
  return async (name: string, rrtype: string): Promise<string[][]> => {
    const txt = rrtype === 'TXT' ? records.get(name.toLowerCase().replace(/\.$/, '')) : undefined;
    if (txt === undefined) throw Object.assign(new Error(`no ${rrtype} for ${name}`), { code: 'ENOTFOUND' });
    return [[txt]];
  };
}

// dkimpy (Debian python3-dkim): verifies every DKIM-Signature by index with a fixed key table.
const DKIMPY = `
import sys, json, base64, dkim
job = json.load(sys.stdin)
msg = base64.b64decode(job['message'])
records = job['records']
def dnsfunc(name, timeout=5):
    return records.get(name.decode('ascii').rstrip('.').lower(), '').encode('ascii')
d = dkim.DKIM(msg)
count = len([h for h in d.headers if h[0].lower() == b'dkim-signature'])
out = []
for i in range(count):
    try:
        out.append({'index': i, 'ok': bool(dkim.DKIM(msg).verify(idx=i, dnsfunc=dnsfunc))})
    except Exception as e:
        out.append({'index': i, 'ok': False, 'error': str(e)})
print(json.dumps(out))
`;

function dkimpyVerify(signed: Buffer, records: Map<string, string>): Array<{ index: number; ok: boolean; error?: string }> {
  const input = JSON.stringify({ message: signed.toString('base64'), records: Object.fromEntries(records) });
  const out = execFileSync('/usr/bin/python3', ['-c', DKIMPY], { input, timeout: 30_000, encoding: 'utf8' });
  return JSON.parse(out);
}

async function mailauthResults(signed: Buffer, records: Map<string, string>) {
  const result = await dkimVerify(signed, { resolver: zoneResolver(records), curTime: SIGN_TIME });
  return result.results.map((r) => ({ selector: r.selector, algo: r.algo, result: r.status.result }));
}

describe('DKIM signing', () => {
  let ed: DkimKeyPair;
  let rsa: DkimKeyPair;
  let keys: DkimSigningKey[];
  let records: Map<string, string>;
  const signer = createDkimSigner({ now: () => SIGN_TIME });

  before(async () => {
    [ed, rsa] = await Promise.all([generateDkimKey('ed25519'), generateDkimKey('rsa')]);
    keys = [
      { domain: DOMAIN, selector: 'ed2026', algorithm: 'ed25519', privateKeyPem: ed.privateKeyPem },
      { domain: DOMAIN, selector: 'rsa2026', algorithm: 'rsa', privateKeyPem: rsa.privateKeyPem },
    ];
    records = new Map([
      [`ed2026._domainkey.${DOMAIN}`, dkimTxtRecord(ed)],
      [`rsa2026._domainkey.${DOMAIN}`, dkimTxtRecord(rsa)],
    ]);
  });

  it('adds one DKIM-Signature per key, ed25519-sha256 and rsa-sha256, relaxed/relaxed (RFC 6376 §3.5, RFC 8463 §3)', async () => {
    const signed = await signer.sign({ raw: message(), keys });
    const text = signed.toString();
    const sigs = text.split(/\r\n(?=\S)/).filter((l) => l.startsWith('DKIM-Signature:'));
    assert.equal(sigs.length, 2);
    assert.match(sigs[0]!, /a=ed25519-sha256;/);
    assert.match(sigs[0]!, /s=ed2026;/);
    assert.match(sigs[1]!, /a=rsa-sha256;/);
    assert.match(sigs[1]!, /s=rsa2026;/);
    for (const sig of sigs) {
      assert.match(sig, /c=relaxed\/relaxed;/);
      assert.match(sig, /d=mana\.test;/);
      assert.match(sig, new RegExp(`t=${SIGN_TIME.getTime() / 1000};`));
    }
    assert.ok(signed.subarray(signed.length - message().length).equals(message()), 'the message follows unchanged');
  });

  it('signs the listed header fields that are present and no others (RFC 6376 §5.4)', async () => {
    const signed = await signer.sign({ raw: message(), keys: [keys[0]!] });
    const h = /h=([^;]+);/.exec(signed.toString().replace(/\r\n\s+/g, ' '))![1]!;
    const names = h.split(':').map((n) => n.trim().toLowerCase());
    assert.deepEqual(
      [...names].sort(),
      ['cc', 'content-transfer-encoding', 'content-type', 'date', 'from', 'message-id', 'mime-version', 'subject', 'to'],
    );
    assert.ok(!names.includes('x-mailer'));
    for (const name of names) assert.ok(SIGNED_FIELDS.map((f) => f.toLowerCase()).includes(name));
  });

  it('both signatures pass in mailauth with the published TXT records (RFC 6376 §6.1)', async () => {
    const signed = await signer.sign({ raw: message(), keys });
    const results = await mailauthResults(signed, records);
    assert.deepEqual(results, [
      { selector: 'ed2026', algo: 'ed25519-sha256', result: 'pass' },
      { selector: 'rsa2026', algo: 'rsa-sha256', result: 'pass' },
    ]);
  });

  it('both signatures pass in dkimpy with the published TXT records (RFC 6376 §6.1, RFC 8463)', async () => {
    const signed = await signer.sign({ raw: message(), keys });
    assert.deepEqual(dkimpyVerify(signed, records), [
      { index: 0, ok: true },
      { index: 1, ok: true },
    ]);
  });

  it('a changed body fails both signatures in both verifiers (RFC 6376 §3.7 body hash)', async () => {
    const signed = await signer.sign({ raw: message(), keys });
    const tampered = Buffer.from(signed.toString().replace('click the link', 'click this link'));
    assert.notDeepEqual(tampered, signed);
    const results = await mailauthResults(tampered, records);
    assert.equal(results.length, 2);
    // mailauth reports a body hash mismatch as "neutral" (body hash did not verify), never "pass"
    for (const r of results) assert.notEqual(r.result, 'pass');
    for (const r of dkimpyVerify(tampered, records)) assert.equal(r.ok, false);
  });

  it('a changed signed header field fails, an unsigned one does not (RFC 6376 §5.4)', async () => {
    const signed = await signer.sign({ raw: message(), keys });
    const subject = Buffer.from(signed.toString().replace('Subject: Please', 'Subject: Kindly'));
    for (const r of await mailauthResults(subject, records)) assert.equal(r.result, 'fail');
    for (const r of dkimpyVerify(subject, records)) assert.equal(r.ok, false);
    const mailer = Buffer.from(signed.toString().replace('X-Mailer: not signed', 'X-Mailer: changed'));
    for (const r of await mailauthResults(mailer, records)) assert.equal(r.result, 'pass');
    for (const r of dkimpyVerify(mailer, records)) assert.equal(r.ok, true);
  });

  it('relaxed canonicalization tolerates whitespace changes in transit (RFC 6376 §3.4.2, §3.4.4)', async () => {
    const signed = await signer.sign({ raw: message(), keys });
    const rewrapped = Buffer.from(signed.toString().replace('Subject: Please verify', 'Subject:  Please \t verify').replace('link to verify:   https', 'link to verify: https'));
    assert.deepEqual((await mailauthResults(rewrapped, records)).map((r) => r.result), ['pass', 'pass']);
    assert.deepEqual(dkimpyVerify(rewrapped, records).map((r) => r.ok), [true, true]);
  });

  it('produces the same bytes as mailauth dkimSign with the same keys and time', async () => {
    const raw = message();
    const ours = await signer.sign({ raw, keys });
    const theirs = await dkimSign(raw, {
      canonicalization: 'relaxed/relaxed',
      signTime: SIGN_TIME,
      headerList: [...SIGNED_FIELDS],
      signatureData: keys.map((k) => ({ signingDomain: k.domain, selector: k.selector, privateKey: k.privateKeyPem })),
    } as Parameters<typeof dkimSign>[1]);
    assert.deepEqual(theirs.errors, []);
    assert.equal(ours.toString(), theirs.signatures + raw.toString());
  });

  it('reuses a key across messages and keeps signing correctly', async () => {
    const a = await signer.sign({ raw: message({ body: 'first\r\n' }), keys });
    const b = await signer.sign({ raw: message({ body: 'second\r\n' }), keys });
    assert.deepEqual((await mailauthResults(a, records)).map((r) => r.result), ['pass', 'pass']);
    assert.deepEqual((await mailauthResults(b, records)).map((r) => r.result), ['pass', 'pass']);
  });

  it('a message without From cannot be signed (RFC 6376 §5.4: From MUST be signed)', async () => {
    const raw = message({ headers: ['To: a@example.org', 'Subject: x'] });
    await assert.rejects(signer.sign({ raw, keys }), { code: 'dkim.no_from' });
  });

  it('a key of another type than configured is refused', async () => {
    const wrong: DkimSigningKey = { ...keys[0]!, algorithm: 'rsa' };
    await assert.rejects(signer.sign({ raw: message(), keys: [wrong] }), { code: 'dkim.key_mismatch' });
  });

  it('an unreadable private key is refused', async () => {
    const wrong: DkimSigningKey = { ...keys[0]!, privateKeyPem: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' };
    await assert.rejects(signer.sign({ raw: message(), keys: [wrong] }), { code: 'dkim.key_unreadable' });
  });

  it('with no keys the message is returned unchanged', async () => {
    const raw = message();
    assert.equal(await signer.sign({ raw, keys: [] }), raw);
  });
});
