// Tests for reports.ts: DMARC aggregate reports (RFC 7489 Appendix C) and TLS reports (RFC 8460 §4) as real reporters send them, broken and hostile ones, and keeping them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createReportKeeper, getReport, summarize, listReports, parseReportContent, parseReports, saveReport, unzipFirst, type DmarcReport, type TlsReport } from './reports.ts';
import type { ClaimedMessage } from './queue/queue.ts';
import type { Store } from '../store/store.ts';
import { silentLogger } from '../lib/log.ts';
import { storeFactories } from '../../test/support/stores.ts';
import { zip } from '../../test/support/zip.ts';

/** An aggregate report as Google writes it (policy_published with np, auth_results with selectors). */
const GOOGLE_XML = `<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata>
    <org_name>google.com</org_name>
    <email>noreply-dmarc-support@google.com</email>
    <extra_contact_info>https://support.google.com/a/answer/2466580</extra_contact_info>
    <report_id>0017107811868587391</report_id>
    <date_range>
      <begin>1704067200</begin>
      <end>1704153599</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>mana.test</domain>
    <adkim>r</adkim>
    <aspf>r</aspf>
    <p>quarantine</p>
    <sp>quarantine</sp>
    <pct>100</pct>
    <np>quarantine</np>
  </policy_published>
  <record>
    <row>
      <source_ip>203.0.113.25</source_ip>
      <count>42</count>
      <policy_evaluated>
        <disposition>none</disposition>
        <dkim>pass</dkim>
        <spf>pass</spf>
      </policy_evaluated>
    </row>
    <identifiers>
      <header_from>mana.test</header_from>
    </identifiers>
    <auth_results>
      <dkim>
        <domain>mana.test</domain>
        <result>pass</result>
        <selector>ed-2024</selector>
      </dkim>
      <dkim>
        <domain>mana.test</domain>
        <result>pass</result>
        <selector>rsa-2024</selector>
      </dkim>
      <spf>
        <domain>mana.test</domain>
        <result>pass</result>
      </spf>
    </auth_results>
  </record>
  <record>
    <row>
      <source_ip>198.51.100.7</source_ip>
      <count>3</count>
      <policy_evaluated>
        <disposition>quarantine</disposition>
        <dkim>fail</dkim>
        <spf>fail</spf>
      </policy_evaluated>
    </row>
    <identifiers>
      <header_from>mana.test</header_from>
    </identifiers>
    <auth_results>
      <spf>
        <domain>spoofer.example</domain>
        <result>softfail</result>
      </spf>
    </auth_results>
  </record>
</feedback>
`;

/** As Outlook.com writes it: namespace attributes, version, envelope_to and envelope_from, a policy override reason, &amp; in a name. */
const MICROSOFT_XML = `<?xml version="1.0"?>
<feedback xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <version>1.0</version>
  <report_metadata>
    <org_name>Enterprise Outlook &amp; Co</org_name>
    <email>dmarcreport@microsoft.com</email>
    <report_id>b5e1e4bcd1b24e3c8d4b6c1ba8a7c9d2</report_id>
    <date_range>
      <begin>1704067200</begin>
      <end>1704153600</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>Mana.Test</domain>
    <adkim>r</adkim>
    <aspf>r</aspf>
    <p>quarantine</p>
    <sp>quarantine</sp>
    <pct>100</pct>
    <fo>0</fo>
  </policy_published>
  <record>
    <row>
      <source_ip>2001:db8::25</source_ip>
      <count>1</count>
      <policy_evaluated>
        <disposition>none</disposition>
        <dkim>pass</dkim>
        <spf>fail</spf>
        <reason>
          <type>forwarded</type>
          <comment>list at lists.example.org</comment>
        </reason>
      </policy_evaluated>
    </row>
    <identifiers>
      <envelope_to>outlook.com</envelope_to>
      <envelope_from>bounce.mana.test</envelope_from>
      <header_from>mana.test</header_from>
    </identifiers>
    <auth_results>
      <dkim>
        <domain>mana.test</domain>
        <selector>ed-2024</selector>
        <result>pass</result>
      </dkim>
      <spf>
        <domain>bounce.mana.test</domain>
        <scope>mfrom</scope>
        <result>fail</result>
      </spf>
    </auth_results>
  </record>
</feedback>
`;

/** RFC 8460 §4.4's example report, with the sts policy for our domain. */
const TLS_JSON = JSON.stringify({
  'organization-name': 'Company-X',
  'date-range': { 'start-datetime': '2024-01-01T00:00:00Z', 'end-datetime': '2024-01-01T23:59:59Z' },
  'contact-info': 'sts-reporting@company-x.example',
  'report-id': '5065427c-23d3-47ca-b6e0-946ea0e8c4be',
  policies: [{
    policy: {
      'policy-type': 'sts',
      'policy-string': ['version: STSv1', 'mode: testing', 'mx: mail.mana.test', 'max_age: 86400'],
      'policy-domain': 'mana.test',
      'mx-host': ['mail.mana.test'],
    },
    summary: { 'total-successful-session-count': 5326, 'total-failure-session-count': 303 },
    'failure-details': [
      { 'result-type': 'certificate-expired', 'sending-mta-ip': '2001:db8:abcd:0012::1', 'receiving-mx-hostname': 'mail.mana.test', 'failed-session-count': 100 },
      { 'result-type': 'starttls-not-supported', 'sending-mta-ip': '2001:db8:abcd:0013::1', 'receiving-mx-hostname': 'mail.mana.test', 'receiving-ip': '203.0.113.56', 'failed-session-count': 200, 'additional-information': 'https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported' },
      { 'result-type': 'validation-failure', 'sending-mta-ip': '198.51.100.62', 'receiving-ip': '203.0.113.58', 'receiving-mx-hostname': 'mail.mana.test', 'failed-session-count': 3, 'failure-reason-code': 'X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED' },
    ],
  }],
}, null, 2);

const base64 = (b: Buffer) => b.toString('base64').replace(/.{76}/g, '$&\r\n');

/** A report mail: a short text part and the report as a base64 attachment (RFC 7489 §7.2.1.1). */
function reportMail(o: { from?: string; subject?: string; contentType: string; filename: string; content: Buffer; top?: string[] }): Buffer {
  const b = '000000000000a1b2c3d4e5f6';
  return Buffer.from([
    `From: ${o.from ?? 'noreply-dmarc-support@google.com'}`,
    'To: postmaster@mana.test',
    `Subject: ${o.subject ?? 'Report domain: mana.test Submitter: google.com Report-ID: 0017107811868587391'}`,
    'Date: Tue, 02 Jan 2024 08:00:00 +0000',
    'Message-ID: <0017107811868587391@google.com>',
    'MIME-Version: 1.0',
    ...(o.top ?? [`Content-Type: multipart/mixed; boundary="${b}"`]),
    '',
    `--${b}`,
    'Content-Type: text/plain; charset="UTF-8"',
    '',
    'This is an aggregate report.',
    '',
    `--${b}`,
    `Content-Type: ${o.contentType}; name="${o.filename}"`,
    `Content-Disposition: attachment; filename="${o.filename}"`,
    'Content-Transfer-Encoding: base64',
    '',
    base64(o.content),
    `--${b}--`,
    '',
  ].join('\r\n'));
}

/** RFC 8460 §5.3: multipart/report; report-type="tlsrpt" with the TLS-Report-Domain and TLS-Report-Submitter fields. */
function tlsMail(json: string): Buffer {
  const b = '----=_NextPart_tlsrpt';
  return Buffer.from([
    'From: tlsrpt-noreply@company-x.example',
    'To: postmaster@mana.test',
    'Subject: Report Domain: mana.test Submitter: company-x.example Report-ID: <5065427c-23d3-47ca-b6e0-946ea0e8c4be>',
    'TLS-Report-Domain: mana.test',
    'TLS-Report-Submitter: company-x.example',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type="tlsrpt"; boundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain; charset="us-ascii"',
    '',
    'This is an aggregate TLS report from company-x.example',
    '',
    `--${b}`,
    'Content-Type: application/tlsrpt+gzip',
    'Content-Disposition: attachment; filename="company-x.example!mana.test!1704067200!1704153599.json.gz"',
    'Content-Transfer-Encoding: base64',
    '',
    base64(gzipSync(json)),
    `--${b}--`,
    '',
  ].join('\r\n'));
}

const GOOGLE_NAME = 'google.com!mana.test!1704067200!1704153599';

/** A logger whose lines the test can read. */
function recordingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, new Writable({ write(chunk, _e, done) { lines.push(JSON.parse(String(chunk))); done(); } }));
  return { log, lines };
}

function assertGoogle(r: DmarcReport) {
  assert.equal(r.kind, 'dmarc');
  assert.equal(r.org, 'google.com');
  assert.equal(r.email, 'noreply-dmarc-support@google.com');
  assert.equal(r.reportId, '0017107811868587391', 'a report id is text: leading zeros stay');
  assert.equal(r.domain, 'mana.test');
  assert.equal(r.begin, Date.UTC(2024, 0, 1));
  assert.equal(r.end, Date.UTC(2024, 0, 1, 23, 59, 59));
  assert.deepEqual(r.policy, { domain: 'mana.test', adkim: 'r', aspf: 'r', p: 'quarantine', sp: 'quarantine', pct: 100, fo: null });
  assert.equal(r.records.length, 2);
  assert.deepEqual(r.records[0], {
    sourceIp: '203.0.113.25', count: 42, disposition: 'none', dkim: 'pass', spf: 'pass', reasons: [], headerFrom: 'mana.test', envelopeFrom: null, envelopeTo: null,
    dkimResults: [{ domain: 'mana.test', selector: 'ed-2024', result: 'pass' }, { domain: 'mana.test', selector: 'rsa-2024', result: 'pass' }],
    spfResults: [{ domain: 'mana.test', scope: null, result: 'pass' }],
  });
  assert.equal(r.records[1].sourceIp, '198.51.100.7');
  assert.equal(r.records[1].count, 3);
  assert.equal(r.records[1].disposition, 'quarantine');
  assert.deepEqual(r.records[1].dkimResults, []);
  assert.deepEqual(r.records[1].spfResults, [{ domain: 'spoofer.example', scope: null, result: 'softfail' }]);
}

describe('DMARC aggregate reports in mail (RFC 7489 §7.2.1.1, Appendix C)', () => {
  it('Google style, gzip (application/gzip, .xml.gz)', async () => {
    const reports = await parseReports(reportMail({ contentType: 'application/gzip', filename: `${GOOGLE_NAME}.xml.gz`, content: gzipSync(GOOGLE_XML) }));
    assert.equal(reports.length, 1);
    assertGoogle(reports[0] as DmarcReport);
  });

  it('the same as .zip (application/zip), written plainly and as a streaming zipper writes it (data descriptor)', async () => {
    for (const descriptor of [false, true]) {
      const content = zip(`${GOOGLE_NAME}.xml`, Buffer.from(GOOGLE_XML), { descriptor });
      const reports = await parseReports(reportMail({ contentType: 'application/zip', filename: `${GOOGLE_NAME}.zip`, content }));
      assert.equal(reports.length, 1, `descriptor ${descriptor}`);
      assertGoogle(reports[0] as DmarcReport);
    }
  });

  it('a gzip labelled application/octet-stream or x-gzip is recognised by its bytes', async () => {
    for (const contentType of ['application/octet-stream', 'application/x-gzip']) {
      const reports = await parseReports(reportMail({ contentType, filename: `${GOOGLE_NAME}.xml.gz`, content: gzipSync(GOOGLE_XML) }));
      assertGoogle(reports[0] as DmarcReport);
    }
  });

  it('Microsoft style plain XML (text/xml and application/xml): entities decoded, domain lower-cased, reasons and envelope kept', async () => {
    for (const contentType of ['text/xml', 'application/xml']) {
      const [r] = (await parseReports(reportMail({ from: 'dmarcreport@microsoft.com', contentType, filename: 'enterprise.protection.outlook.com!mana.test!1704067200!1704153600.xml', content: Buffer.from(MICROSOFT_XML) }))) as DmarcReport[];
      assert.ok(r, contentType);
      assert.equal(r.org, 'Enterprise Outlook & Co');
      assert.equal(r.reportId, 'b5e1e4bcd1b24e3c8d4b6c1ba8a7c9d2');
      assert.equal(r.domain, 'mana.test');
      assert.equal(r.policy.fo, '0');
      assert.deepEqual(r.records[0].reasons, [{ type: 'forwarded', comment: 'list at lists.example.org' }]);
      assert.equal(r.records[0].envelopeFrom, 'bounce.mana.test');
      assert.equal(r.records[0].envelopeTo, 'outlook.com');
      assert.deepEqual(r.records[0].spfResults, [{ domain: 'bounce.mana.test', scope: 'mfrom', result: 'fail' }]);
    }
  });

  it('a report that is the whole body (Content-Type: application/gzip at the top)', async () => {
    const raw = Buffer.from([
      'From: dmarc@reporter.example', 'To: postmaster@mana.test', 'Subject: Report domain: mana.test', 'MIME-Version: 1.0',
      `Content-Type: application/gzip; name="${GOOGLE_NAME}.xml.gz"`, 'Content-Transfer-Encoding: base64', '', base64(gzipSync(GOOGLE_XML)), '',
    ].join('\r\n'));
    assertGoogle((await parseReports(raw))[0] as DmarcReport);
  });

  it('DMARCbis namespace prefixes are read like plain tags', () => {
    const prefixed = GOOGLE_XML.replace('<feedback>', '<dmarc:feedback xmlns:dmarc="urn:ietf:params:xml:ns:dmarc-2.0">').replace('</feedback>', '</dmarc:feedback>').replace(/<(\/?)(org_name|report_id)>/g, '<$1dmarc:$2>');
    assertGoogle(parseReportContent(Buffer.from(prefixed)) as DmarcReport);
  });

  it('a DOCTYPE with entities is not expanded (no billion laughs)', () => {
    const laughs = `<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>` + GOOGLE_XML.replace(/^<\?xml[^>]*>/, '').replace('<org_name>google.com</org_name>', '<org_name>&c;</org_name>');
    const r = parseReportContent(Buffer.from(laughs)) as DmarcReport;
    assert.equal(r.org, '&c;', 'the entity stays a reference');
    assert.equal(r.records.length, 2);
  });
});

describe('TLS reports in mail (RFC 8460 §4, §5.3)', () => {
  it('application/tlsrpt+gzip inside multipart/report: policies, counts and failure details', async () => {
    const [r] = (await parseReports(tlsMail(TLS_JSON))) as TlsReport[];
    assert.equal(r.kind, 'tls');
    assert.equal(r.org, 'Company-X');
    assert.equal(r.reportId, '5065427c-23d3-47ca-b6e0-946ea0e8c4be');
    assert.equal(r.contact, 'sts-reporting@company-x.example');
    assert.equal(r.domain, 'mana.test');
    assert.equal(r.begin, Date.UTC(2024, 0, 1));
    assert.equal(r.end, Date.UTC(2024, 0, 1, 23, 59, 59));
    assert.equal(r.policies.length, 1);
    const p = r.policies[0];
    assert.equal(p.policyType, 'sts');
    assert.deepEqual(p.mxHost, ['mail.mana.test']);
    assert.equal(p.successful, 5326);
    assert.equal(p.failed, 303);
    assert.deepEqual(p.failures.map((f) => [f.resultType, f.sendingMtaIp, f.receivingMxHostname, f.failedSessions]), [
      ['certificate-expired', '2001:db8:abcd:0012::1', 'mail.mana.test', 100],
      ['starttls-not-supported', '2001:db8:abcd:0013::1', 'mail.mana.test', 200],
      ['validation-failure', '198.51.100.62', 'mail.mana.test', 3],
    ]);
    assert.equal(p.failures[2].failureReasonCode, 'X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED');
    assert.equal(p.failures[1].receivingIp, '203.0.113.56');
  });

  it('application/tlsrpt+json, uncompressed', async () => {
    const raw = reportMail({ from: 'tlsrpt@company-x.example', contentType: 'application/tlsrpt+json', filename: 'company-x.example!mana.test!1704067200!1704153599.json', content: Buffer.from(TLS_JSON) });
    const [r] = (await parseReports(raw)) as TlsReport[];
    assert.equal(r.org, 'Company-X');
    assert.equal(r.policies[0].failed, 303);
  });
});

describe('broken and hostile reports: nothing kept, logged at info, never thrown', () => {
  it('a gzip that inflates past the cap (zip bomb) is refused, however small it is', async () => {
    const bomb = gzipSync(Buffer.concat([Buffer.from(GOOGLE_XML.slice(0, 200)), Buffer.alloc(11 * 1024 * 1024, 0x20)]));
    assert.ok(bomb.length < 100_000);
    const { log, lines } = recordingLogger();
    assert.deepEqual(await parseReports(reportMail({ contentType: 'application/gzip', filename: 'bomb.xml.gz', content: bomb }), { log }), []);
    assert.equal(lines.length, 1);
    assert.equal(lines[0].msg, 'report.malformed');
    assert.equal(lines[0].level, 30, 'info');
    assert.match(String(lines[0].reason), /larger than 10485760 bytes/);
  });

  it('the decompressed bytes of one message have one budget, shared by all its attachments', async () => {
    const b = 'multi-att';
    const big = (i: number) => gzipSync(GOOGLE_XML.replace('0017107811868587391', `big-${i}`).replace('</feedback>', `${' '.repeat(400_000)}</feedback>`));
    const raw = Buffer.from([
      'From: noreply-dmarc-support@google.com', 'To: postmaster@mana.test', 'Subject: reports', 'MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="${b}"`, '',
      ...[0, 1, 2].flatMap((i) => [`--${b}`, `Content-Type: application/gzip; name="r${i}.xml.gz"`, `Content-Disposition: attachment; filename="r${i}.xml.gz"`, 'Content-Transfer-Encoding: base64', '', base64(big(i))]),
      `--${b}--`, '',
    ].join('\r\n'));
    const { log, lines } = recordingLogger();
    const reports = await parseReports(raw, { log, maxTotalBytes: 1_000_000 });
    assert.deepEqual(reports.map((r) => r.reportId), ['big-0', 'big-1'], 'the third does not fit in what is left');
    assert.equal(lines.filter((l) => l.msg === 'report.malformed').length, 1);
    const none = await parseReports(raw, { log, maxTotalBytes: 500_000 });
    assert.deepEqual(none.map((r) => r.reportId), ['big-0']);
    assert.equal(lines.filter((l) => l.msg === 'report.skipped').length, 1, 'once the budget is spent the rest are not even opened');
  });

  it('a report with more records than the limit keeps the first ones and says it was cut', async () => {
    const record = GOOGLE_XML.slice(GOOGLE_XML.indexOf('<record>'), GOOGLE_XML.lastIndexOf('</record>') + '</record>'.length);
    const xmlText = GOOGLE_XML.replace(record, record.repeat(6));
    const { log, lines } = recordingLogger();
    const [r] = (await parseReports(reportMail({ contentType: 'application/gzip', filename: `${GOOGLE_NAME}.xml.gz`, content: gzipSync(xmlText) }), { log, maxRecords: 5 })) as DmarcReport[];
    assert.equal(r.records.length, 5);
    assert.equal(r.truncated, true);
    assert.equal(r.totalRecords, 12);
    assert.deepEqual(summarize(r), { messages: 42 * 3 + 3 * 2, passed: 42 * 3, failed: 3 * 2, rows: 5, policy: 'quarantine', truncated: true, totalRows: 12 });
    assert.equal(lines.filter((l) => l.msg === 'report.truncated').length, 1);
    const tls = JSON.parse(TLS_JSON);
    const details = tls.policies[0]['failure-details'];
    tls.policies[0]['failure-details'] = Array.from({ length: 7 }, () => details[0]);
    const t = parseReportContent(Buffer.from(JSON.stringify(tls)), undefined, 5) as TlsReport;
    assert.equal(t.policies[0].failures.length, 5);
    assert.equal(t.truncated, true);
    assert.equal((summarize(t) as { truncated?: boolean }).truncated, true);
    const whole = (await parseReports(reportMail({ contentType: 'application/gzip', filename: `${GOOGLE_NAME}.xml.gz`, content: gzipSync(GOOGLE_XML) }))) as DmarcReport[];
    assert.equal(whole[0].truncated, undefined, 'a report within the limit is not marked');
  });

  it('a zip whose header understates the size is cut off at the cap too', () => {
    const content = zip('report.xml', Buffer.concat([Buffer.from('<feedback>'), Buffer.alloc(2 * 1024 * 1024, 0x20), Buffer.from('</feedback>')]), { declaredSize: 100 });
    assert.throws(() => unzipFirst(content, 1024 * 1024), { code: 'report.malformed', message: /inflates to more than 1048576 bytes/ });
    assert.throws(() => parseReportContent(zip('report.xml', Buffer.alloc(2 * 1024 * 1024, 0x20)), 1024 * 1024), { code: 'report.malformed', message: /2097152 bytes, more than 1048576/ });
  });

  it('garbage: random bytes as gzip, truncated zip, XML that is not a report, JSON without the required fields, a plain mail', async () => {
    const { log, lines } = recordingLogger();
    const cases: Array<[string, string, Buffer]> = [
      ['application/gzip', 'x.xml.gz', Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.from('not deflate at all, not at all')])],
      ['application/zip', 'x.zip', zip('x.xml', Buffer.from(GOOGLE_XML)).subarray(0, 60)],
      ['text/xml', 'x.xml', Buffer.from('<html><body>hello</body></html>')],
      ['text/xml', 'x.xml', Buffer.from('<feedback><report_metadata><org_name>x</org_name>')],
      ['application/xml', 'x.xml', Buffer.from(GOOGLE_XML.replace('<count>42</count>', '<count>many</count>'))],
      ['application/tlsrpt+json', 'x.json', Buffer.from('{"organization-name":"X","report-id":"1","policies":[]}')],
      ['application/tlsrpt+json', 'x.json', Buffer.from('{"organization-name": "X", ')],
      ['application/octet-stream', 'x.bin', Buffer.from([0, 1, 2, 3, 4, 5])],
    ];
    for (const [contentType, filename, content] of cases) {
      assert.deepEqual(await parseReports(reportMail({ contentType, filename, content }), { log }), [], `${contentType} ${filename}`);
    }
    assert.equal(lines.filter((l) => l.msg === 'report.malformed').length, cases.length);
    const plain = Buffer.from('From: a@example.org\r\nTo: postmaster@mana.test\r\nSubject: hello\r\n\r\nJust a note.\r\n');
    assert.deepEqual(await parseReports(plain, { log }), []);
    assert.deepEqual(await parseReports(Buffer.from('\x00\xff garbage with .zip in it'), { log }), []);
  });
});

for (const factory of storeFactories()) describe(`keeping reports (${factory.name})`, () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  before(async () => ({ store, cleanup } = await factory.open()));
  after(async () => cleanup?.());

  const claimed = (id: string, raw: Buffer, source = 'inbound'): ClaimedMessage => ({
    id, mailFrom: 'noreply-dmarc-support@google.com', raw, headerMessageId: null, envId: null, ret: null, isDsn: false, source, receivedAt: 0, recipients: [],
  });
  const googleMail = reportMail({ contentType: 'application/gzip', filename: `${GOOGLE_NAME}.xml.gz`, content: gzipSync(GOOGLE_XML) });

  it('a report for postmaster@ is kept once, however often it arrives; other recipients and our own DSNs are not read', async () => {
    const keeper = createReportKeeper({ log: silentLogger(), now: () => 1_704_160_000_000 });
    // Parsed before the delivery transaction, kept inside it, as deliverLocal does.
    const keep = async (_q: unknown, m: ClaimedMessage, outcomes: Array<{ rcpt: string; status: string }>) => {
      const prepared = await keeper.prepare(m, outcomes);
      return store.tx((q) => keeper.save(q, prepared, outcomes));
    };
    const delivered = (rcpt: string) => [{ rcpt, status: 'delivered' }];
    assert.equal(await keep(null, claimed('q1', googleMail), delivered('alice@mana.test')), 0, 'not the report address');
    assert.equal(await keep(null, claimed('q1', googleMail), [{ rcpt: 'postmaster@mana.test', status: 'failed' }]), 0, 'not delivered');
    assert.equal(await keep(null, claimed('q1', googleMail, 'dsn'), delivered('postmaster@mana.test')), 0, 'our own DSN');
    assert.equal((await listReports(store, { kind: 'dmarc', limit: 10, offset: 0 })).total, 0);

    assert.equal(await keep(null, claimed('q2', googleMail), delivered('postmaster@mana.test')), 1);
    assert.equal(await keep(null, claimed('q3', googleMail), delivered('Postmaster@mana.test')), 0, 'the same report again');
    const list = await listReports(store, { kind: 'dmarc', limit: 10, offset: 0 });
    assert.equal(list.total, 1);
    assert.deepEqual(list.items[0], {
      id: list.items[0].id, org: 'google.com', reportId: '0017107811868587391', domain: 'mana.test', begin: '2024-01-01T00:00:00.000Z', end: '2024-01-01T23:59:59.000Z',
      summary: { messages: 45, passed: 42, failed: 3, rows: 2, policy: 'quarantine' },
    });
    const full = await getReport(store, 'dmarc', list.items[0].id);
    assert.equal(full?.messageId, 'q2', 'the mail that carried it first');
    assert.equal(full?.receivedAt, new Date(1_704_160_000_000).toISOString());
    assertGoogle(full!.report as DmarcReport);
    assert.equal(await getReport(store, 'tls', list.items[0].id), null, 'ids are per kind');
  });

  it('prepare reads only mail to the report address (outside any transaction); a savepoint that cannot be set fails the caller', async () => {
    const keeper = createReportKeeper({ log: silentLogger() });
    assert.equal(await keeper.prepare(claimed('p1', googleMail), [{ rcpt: 'alice@mana.test' }]), null);
    assert.equal(await keeper.prepare(claimed('p1', googleMail, 'dsn'), [{ rcpt: 'postmaster@mana.test' }]), null);
    const prepared = await keeper.prepare(claimed('p1', googleMail), [{ rcpt: 'alice@mana.test' }, { rcpt: 'postmaster@mana.test' }]);
    assert.equal(prepared?.reports.length, 1);
    assert.equal(await store.tx((q) => keeper.save(q, prepared, [{ rcpt: 'postmaster@mana.test', status: 'failed' }])), 0, 'not delivered to the report address');
    if (factory.name === 'postgres') {
      let thrown: unknown = null;
      await store.tx(async (q) => {
        await q.run('SELECT * FROM no_such_table').catch(() => {});
        thrown = await keeper.save(q, prepared, [{ rcpt: 'postmaster@mana.test', status: 'delivered' }]).then(() => null, (e) => e);
      }).catch(() => {});
      assert.match(String((thrown as Error | null)?.message), /aborted/, 'save rejects instead of returning 0');
    }
  });

  it('lists by kind, filters by domain, pages newest period first', async () => {
    const t = await store.tx(async (q) => {
      let n = 0;
      for (let i = 0; i < 3; i++) {
        const r = parseReportContent(Buffer.from(TLS_JSON.replace('5065427c', `r${i}`).replace(/2024-01-01/g, `2024-01-0${i + 2}`))) as TlsReport;
        if (await saveReport(q, i === 2 ? { ...r, domain: 'other.test' } : r, { messageId: null, now: 1 })) n++;
      }
      return n;
    });
    assert.equal(t, 3);
    const all = await listReports(store, { kind: 'tls', limit: 10, offset: 0 });
    assert.equal(all.total, 3);
    assert.deepEqual(all.items.map((i) => i.begin.slice(0, 10)), ['2024-01-04', '2024-01-03', '2024-01-02']);
    assert.deepEqual(all.items[0].summary, { successful: 5326, failed: 303, policies: 1 });
    const ours = await listReports(store, { kind: 'tls', domain: 'MANA.TEST', limit: 1, offset: 1 });
    assert.equal(ours.total, 2);
    assert.deepEqual(ours.items.map((i) => i.reportId), ['r0-23d3-47ca-b6e0-946ea0e8c4be']);
    assert.equal((await listReports(store, { kind: 'dmarc', limit: 10, offset: 0 })).total, 1, 'DMARC reports are listed apart');
  });
});
