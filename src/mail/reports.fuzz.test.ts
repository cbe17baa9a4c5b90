// Fuzz tests for reports.ts: DMARC aggregate (RFC 7489 Appendix C) and TLS (RFC 8460 §4) reports, plain, gzip (RFC 1952) and zip (APPNOTE),
// mutated at the byte level and in their container headers (corrupt signatures, huge declared sizes): parseReports never throws and
// returns a list; parseReportContent throws nothing but report.malformed; what parses keeps its documented shape.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { parseReportContent, parseReports, unzipFirst, type ParsedReport } from './reports.ts';
import { forEachSeed, mutate, randomInput, type Rng } from '../../test/support/fuzz.ts';
import { zip, zipLayout, type ZipLayout } from '../../test/support/zip.ts';

const DMARC_XML = `<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata>
    <org_name>Example &amp; Co</org_name>
    <email>noreply-dmarc@example.org</email>
    <report_id>0017107811868587391</report_id>
    <date_range><begin>1704067200</begin><end>1704153599</end></date_range>
    <error>one &#x41; &#66;</error>
  </report_metadata>
  <policy_published><domain>Mana.Test</domain><adkim>r</adkim><aspf>r</aspf><p>quarantine</p><pct>100</pct></policy_published>
  <record>
    <row>
      <source_ip>203.0.113.25</source_ip><count>42</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf><reason><type>forwarded</type><comment>list</comment></reason></policy_evaluated>
    </row>
    <identifiers><envelope_from>bounce.mana.test</envelope_from><header_from>mana.test</header_from></identifiers>
    <auth_results>
      <dkim><domain>mana.test</domain><selector>ed</selector><result>pass</result></dkim>
      <spf><domain>bounce.mana.test</domain><scope>mfrom</scope><result>fail</result></spf>
    </auth_results>
  </record>
  <record><row><source_ip>198.51.100.7</source_ip><count>3</count><policy_evaluated><disposition>quarantine</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
    <identifiers><header_from>mana.test</header_from></identifiers><auth_results><spf><domain>x.example</domain><result>softfail</result></spf></auth_results></record>
</feedback>
`;

const TLS_JSON = JSON.stringify({
  'organization-name': 'Company-X',
  'date-range': { 'start-datetime': '2024-01-01T00:00:00Z', 'end-datetime': '2024-01-01T23:59:59Z' },
  'contact-info': 'sts-reporting@company-x.example',
  'report-id': '5065427c-23d3-47ca-b6e0-946ea0e8c4be',
  policies: [{
    policy: { 'policy-type': 'sts', 'policy-string': ['version: STSv1', 'mode: testing'], 'policy-domain': 'Mana.Test.', 'mx-host': ['mail.mana.test'] },
    summary: { 'total-successful-session-count': 5326, 'total-failure-session-count': 303 },
    'failure-details': [
      { 'result-type': 'certificate-expired', 'sending-mta-ip': '2001:db8::1', 'receiving-mx-hostname': 'mail.mana.test', 'failed-session-count': 100 },
      { 'result-type': 'validation-failure', 'receiving-ip': '203.0.113.58', 'failed-session-count': 203, 'failure-reason-code': 'X509_V_ERR' },
    ],
  }],
});

/** A one-file zip archive and where its records are, for mutations aimed at them. */
const zipped = (name: string, content: Buffer) => {
  const bytes = zip(name, content);
  return { bytes, layout: zipLayout(bytes) };
};

const ZIP_XML = zipped('google.com!mana.test!1704067200!1704153599.xml', Buffer.from(DMARC_XML));
const ZIP_JSON = zipped('company-x.example!mana.test.json', Buffer.from(TLS_JSON));
const GZIP_XML = gzipSync(DMARC_XML);
const GZIP_JSON = gzipSync(TLS_JSON);

const HUGE = [0xffffffff, 0x7fffffff, 0x80000000, 0xfffffffe, 10 * 1024 * 1024 + 1, 0, 1];

/** Corrupts the records of a zip: signatures, sizes, offsets, counts and name/extra lengths set to huge or small values. */
function mutateZip(r: Rng, z: { bytes: Buffer; layout: ZipLayout }): Buffer {
  const b = Buffer.from(z.bytes);
  const { local, central, eocd } = z.layout;
  const fields: Array<[number, 2 | 4]> = [
    [local, 4], [local + 6, 2], [local + 8, 2], [local + 18, 4], [local + 22, 4], [local + 26, 2], [local + 28, 2],
    [central, 4], [central + 8, 2], [central + 10, 2], [central + 20, 4], [central + 24, 4], [central + 28, 2], [central + 30, 2], [central + 32, 2], [central + 42, 4],
    [eocd, 4], [eocd + 8, 2], [eocd + 10, 2], [eocd + 12, 4], [eocd + 16, 4], [eocd + 20, 2],
  ];
  for (let n = 1 + r.int(3); n > 0; n--) {
    const [at, size] = r.pick(fields);
    const v = r.pick(HUGE);
    if (size === 4) b.writeUInt32LE(v >>> 0, at);
    else b.writeUInt16LE(v & 0xffff, at);
  }
  return r.chance(0.3) ? mutate(r, b, { maxOps: 2, longRun: 0 }) : b;
}

/** Corrupts a gzip member (RFC 1952 §2.3): magic, method, flags (FEXTRA with a huge XLEN, FNAME without its end), ISIZE, truncation. */
function mutateGzip(r: Rng, g: Buffer): Buffer {
  let b = Buffer.from(g);
  for (let n = 1 + r.int(3); n > 0; n--) {
    switch (r.int(7)) {
      case 0: b[r.int(2)] ^= 1 << r.int(8); break;
      case 1: b[2] = r.pick([0, 7, 8, 9, 0xff]); break;
      case 2: b[3] = r.int(256); break;
      case 3: b = Buffer.concat([b.subarray(0, 3), Buffer.from([0x04]), b.subarray(4, 10), Buffer.from([0xff, 0xff]), b.subarray(10)]); break;
      case 4: if (b.length >= 4) b.writeUInt32LE(r.pick(HUGE) >>> 0, b.length - 4); break;
      case 5: b = Buffer.concat([b, r.chance(0.5) ? g : r.bytes(r.int(20))]); break;
      default: b = b.subarray(0, r.int(b.length + 1));
    }
  }
  return b;
}

const CONTENT_SEEDS = [Buffer.from(DMARC_XML), Buffer.from(TLS_JSON), GZIP_XML, GZIP_JSON, ZIP_XML.bytes, ZIP_JSON.bytes];
const TOKENS = ['<feedback>', '</feedback>', '<record>', '<count>', '<![CDATA[', ']]>', '<!DOCTYPE x [<!ENTITY a "aaaa">]>', '&a;', '&#x110000;', '&#99999999;', '&amp;', '<?xml', '-->', '<!--', '{"policies":', '[', ']', ',', 'null', '1e999', '"\\u0000"', '\uFEFF'];

/** The shape parseReportContent documents (the types of reports.ts): names present, times and counts finite and whole. */
function assertShape(p: ParsedReport): void {
  const count = (n: unknown, what: string) => assert.ok(Number.isSafeInteger(n) && (n as number) >= 0, `${what}: ${String(n)}`);
  const time = (n: unknown, what: string) => assert.ok(typeof n === 'number' && Number.isFinite(n), `${what}: ${String(n)}`);
  assert.ok(typeof p.org === 'string' && p.org.length > 0, 'org');
  assert.ok(typeof p.reportId === 'string' && p.reportId.length > 0, 'reportId');
  assert.ok(typeof p.domain === 'string' && p.domain === p.domain.toLowerCase(), 'domain lower-cased');
  time(p.begin, 'begin');
  time(p.end, 'end');
  if (p.kind === 'dmarc') {
    assert.ok(p.domain.length > 0);
    assert.ok(p.policy.pct === null || (Number.isInteger(p.policy.pct) && p.policy.pct >= 0 && p.policy.pct <= 999));
    assert.ok(Array.isArray(p.errors) && p.errors.every((e) => typeof e === 'string'));
    for (const rec of p.records) {
      assert.ok(typeof rec.sourceIp === 'string' && rec.sourceIp.length > 0, 'sourceIp');
      count(rec.count, 'record count');
      for (const k of ['disposition', 'dkim', 'spf', 'headerFrom'] as const) assert.equal(rec[k], rec[k].toLowerCase(), k);
      assert.ok(Array.isArray(rec.dkimResults) && Array.isArray(rec.spfResults) && Array.isArray(rec.reasons));
    }
  } else {
    assert.equal(p.kind, 'tls');
    assert.ok(p.policies.length > 0);
    for (const pol of p.policies) {
      count(pol.successful, 'successful');
      count(pol.failed, 'failed');
      assert.ok(pol.policyDomain.length > 0 && !pol.policyDomain.endsWith('.'));
      assert.ok(pol.policyString.every((s) => typeof s === 'string') && pol.mxHost.every((s) => typeof s === 'string'));
      for (const f of pol.failures) count(f.failedSessions, 'failed-session-count');
    }
  }
}

/** Small enough that a mutated size or a concatenation crosses it now and then. */
const MAX_BYTES = 64 * 1024;

/** parseReportContent's contract: a report of the documented shape, or an error with code report.malformed (MalformedReport). */
function checkContent(content: Buffer): ParsedReport | undefined {
  let report: ParsedReport;
  try {
    report = parseReportContent(content, MAX_BYTES);
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'report.malformed', `only report.malformed is thrown, got ${(err as Error)?.stack ?? String(err)}`);
    return undefined;
  }
  assertShape(report);
  return report;
}

function reportMail(r: Rng, content: Buffer): Buffer {
  const b = '000000000000a1b2c3d4e5f6';
  const [type, name] = r.pick([['application/gzip', 'r.xml.gz'], ['application/zip', 'r.zip'], ['text/xml', 'r.xml'], ['application/tlsrpt+json', 'r.json'], ['application/octet-stream', 'r.bin']]);
  return Buffer.from([
    'From: noreply-dmarc@example.org',
    'To: postmaster@mana.test',
    'Subject: Report domain: mana.test',
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain; charset="UTF-8"',
    '',
    'This is an aggregate report.',
    '',
    `--${b}`,
    `Content-Type: ${type}; name="${name}"`,
    `Content-Disposition: attachment; filename="${name}"`,
    'Content-Transfer-Encoding: base64',
    '',
    content.toString('base64').replace(/.{76}/g, '$&\r\n'),
    `--${b}--`,
    '',
  ].join('\r\n'), 'latin1');
}

/** parseReports' contract: never throws (rejects), always a list of reports of the documented shape. */
async function checkMail(raw: Buffer): Promise<ParsedReport[]> {
  const out = await parseReports(raw, { maxBytes: MAX_BYTES });
  assert.ok(Array.isArray(out));
  for (const p of out) assertShape(p);
  return out;
}

describe('reports fuzz (RFC 7489 Appendix C, RFC 8460 §4)', () => {
  it('the unmutated seeds parse, as content and as mail', async () => {
    for (const c of CONTENT_SEEDS) assert.ok(checkContent(c), 'seed parses');
    assert.equal((checkContent(ZIP_XML.bytes) as { records: unknown[] }).records.length, 2);
    for (const [i, c] of CONTENT_SEEDS.entries()) {
      const reports = await checkMail(reportMail({ int: () => i % 5, chance: () => false, pick: (x) => x[i % x.length], bytes: (n) => Buffer.alloc(n) }, c));
      assert.equal(reports.length, 1, `seed ${i} in a mail`);
    }
  });

  it('mutated report contents (bytes, tokens, long runs) throw only report.malformed', async () => {
    await forEachSeed({ firstSeed: 0x4e900000, iterations: 2000 }, (r) => {
      checkContent(mutate(r, r.pick(CONTENT_SEEDS), { tokens: TOKENS }));
    });
  });

  it('corrupt zip records and huge declared sizes throw only report.malformed; sizes over the limit never get through', async () => {
    await forEachSeed({ firstSeed: 0x4e910000, iterations: 2000 }, (r) => {
      const z = r.pick([ZIP_XML, ZIP_JSON]);
      const bytes = mutateZip(r, z);
      checkContent(bytes);
      try {
        const file = unzipFirst(bytes, MAX_BYTES);
        assert.ok(file.content.length <= MAX_BYTES, 'the output cap holds');
      } catch (err) {
        assert.equal((err as { code?: string }).code, 'report.malformed', String((err as Error)?.stack ?? err));
      }
    });
  });

  it('corrupt gzip members (magic, method, flags, XLEN, ISIZE, truncation, trailing members) throw only report.malformed', async () => {
    await forEachSeed({ firstSeed: 0x4e920000, iterations: 2000 }, (r) => {
      checkContent(mutateGzip(r, r.pick([GZIP_XML, GZIP_JSON])));
    });
  });

  it('random inputs, and random bytes behind the gzip and zip magic, throw only report.malformed', async () => {
    await forEachSeed({ firstSeed: 0x4e930000, iterations: 2000 }, (r) => {
      const body = randomInput(r, 300, TOKENS);
      const magic = r.pick([Buffer.alloc(0), Buffer.from([0x1f, 0x8b]), Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.from('PK\x03\x04', 'latin1')]);
      const tail = r.chance(0.3) ? Buffer.from('PK\x05\x06', 'latin1') : Buffer.alloc(0);
      checkContent(Buffer.concat([magic, body, tail, r.bytes(r.int(24))]));
    });
  });

  it('mails: mutated attachments and mutated MIME never make parseReports throw', async () => {
    await forEachSeed({ firstSeed: 0x4e940000, iterations: 1000 }, async (r) => {
      const seed = r.pick(CONTENT_SEEDS);
      const k = r.int(4);
      const content = k === 0 ? mutate(r, seed, { tokens: TOKENS, longRun: 0.01 }) : k === 1 ? mutateZip(r, r.pick([ZIP_XML, ZIP_JSON])) : k === 2 ? mutateGzip(r, GZIP_XML) : seed;
      const mail = reportMail(r, content);
      await checkMail(r.chance(0.5) ? mail : mutate(r, mail, { tokens: ['\r\n--000000000000a1b2c3d4e5f6\r\n', 'Content-Type: application/zip\r\n', 'Content-Transfer-Encoding: base64\r\n', '\r\n\r\n'], longRun: 0.02 }));
    });
  });
});
