// Whole path: DMARC aggregate reports (RFC 7489 §7.2) and SMTP TLS reports (RFC 8460 §5.3) sent by a remote reporter over port 25 to
// postmaster@, the rua of the records mana publishes: stored in the postmaster mailbox, parsed, kept once, listed by the admin API.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { DOMAIN, startMailHarness, waitUntil, type MailHarness } from './mail-harness.ts';
import { mailBackends } from '../support/stores.ts';

const RUA = `postmaster@${DOMAIN}`;
const base64 = (b: Buffer) => b.toString('base64').replace(/.{76}/g, '$&\r\n');

const DMARC_XML = `<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata>
    <org_name>google.com</org_name>
    <email>noreply-dmarc-support@google.com</email>
    <report_id>9182736450123456789</report_id>
    <date_range><begin>1704067200</begin><end>1704153599</end></date_range>
  </report_metadata>
  <policy_published><domain>${DOMAIN}</domain><adkim>r</adkim><aspf>r</aspf><p>quarantine</p><sp>quarantine</sp><pct>100</pct></policy_published>
  <record>
    <row><source_ip>203.0.113.25</source_ip><count>17</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
    <identifiers><header_from>${DOMAIN}</header_from></identifiers>
    <auth_results><dkim><domain>${DOMAIN}</domain><result>pass</result><selector>ed-2024</selector></dkim><spf><domain>${DOMAIN}</domain><result>pass</result></spf></auth_results>
  </record>
  <record>
    <row><source_ip>198.51.100.7</source_ip><count>2</count><policy_evaluated><disposition>quarantine</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
    <identifiers><header_from>${DOMAIN}</header_from></identifiers>
    <auth_results><spf><domain>spoofer.example</domain><result>fail</result></spf></auth_results>
  </record>
</feedback>
`;

const TLS_JSON = JSON.stringify({
  'organization-name': 'Company-X',
  'date-range': { 'start-datetime': '2024-01-01T00:00:00Z', 'end-datetime': '2024-01-01T23:59:59Z' },
  'contact-info': 'sts-reporting@company-x.example',
  'report-id': '5065427c-23d3-47ca-b6e0-946ea0e8c4be',
  policies: [{
    policy: { 'policy-type': 'sts', 'policy-string': ['version: STSv1', 'mode: enforce', `mx: mail.${DOMAIN}`, 'max_age: 86400'], 'policy-domain': DOMAIN, 'mx-host': [`mail.${DOMAIN}`] },
    summary: { 'total-successful-session-count': 5326, 'total-failure-session-count': 303 },
    'failure-details': [
      { 'result-type': 'certificate-expired', 'sending-mta-ip': '2001:db8:abcd:12::1', 'receiving-mx-hostname': `mail.${DOMAIN}`, 'failed-session-count': 300 },
      { 'result-type': 'starttls-not-supported', 'sending-mta-ip': '198.51.100.62', 'receiving-mx-hostname': `mail.${DOMAIN}`, 'failed-session-count': 3 },
    ],
  }],
});

/** A DMARC report mail as Google sends it: the .xml.gz as a base64 attachment; `tag` makes each copy a distinct message. */
function dmarcMail(tag: string): string {
  const b = '000000000000f00dfeed';
  const name = `google.com!${DOMAIN}!1704067200!1704153599.xml.gz`;
  return [
    'From: noreply-dmarc-support@google.com',
    `To: ${RUA}`,
    `Subject: Report domain: ${DOMAIN} Submitter: google.com Report-ID: 9182736450123456789 ${tag}`,
    `Message-ID: <${tag}.9182736450123456789@google.com>`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain; charset="UTF-8"',
    '',
    '',
    `--${b}`,
    `Content-Type: application/gzip; name="${name}"`,
    `Content-Disposition: attachment; filename="${name}"`,
    'Content-Transfer-Encoding: base64',
    '',
    base64(gzipSync(DMARC_XML)),
    `--${b}--`,
    '',
  ].join('\r\n');
}

/** RFC 8460 §5.3: multipart/report; report-type="tlsrpt", the report as application/tlsrpt+gzip. */
function tlsMail(): string {
  const b = '----=_tlsrpt_boundary';
  return [
    'From: tlsrpt-noreply@company-x.example',
    `To: ${RUA}`,
    `Subject: Report Domain: ${DOMAIN} Submitter: company-x.example Report-ID: <5065427c-23d3-47ca-b6e0-946ea0e8c4be>`,
    `TLS-Report-Domain: ${DOMAIN}`,
    'TLS-Report-Submitter: company-x.example',
    'Message-ID: <tlsrpt.5065427c@company-x.example>',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type="tlsrpt"; boundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain',
    '',
    `This is an aggregate TLS report from company-x.example`,
    '',
    `--${b}`,
    'Content-Type: application/tlsrpt+gzip',
    `Content-Disposition: attachment; filename="company-x.example!${DOMAIN}!1704067200!1704153599.json.gz"`,
    'Content-Transfer-Encoding: base64',
    '',
    base64(gzipSync(TLS_JSON)),
    `--${b}--`,
    '',
  ].join('\r\n');
}

/** Sends as a remote reporter's MTA to our port 25. */
async function sendInbound(port: number, from: string, to: string, raw: string): Promise<string> {
  const conn = new SMTPConnection({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, name: 'mail-sor-f41.google.example', connectionTimeout: 10_000, socketTimeout: 20_000, logger: false });
  conn.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
    const info = await new Promise<{ response: string }>((resolve, reject) => conn.send({ from, to: [to] }, raw, (err, i) => (err ? reject(err) : resolve(i))));
    return info.response;
  } finally {
    conn.quit();
  }
}

for (const backend of mailBackends()) {
  describe(`DMARC aggregate and TLS reports to postmaster@ (RFC 7489 §7.2, RFC 8460 §5.3) (${backend})`, () => {
    let h: MailHarness;
    let admin: (path: string, auth?: boolean) => Promise<{ status: number; body: any }>;
    const inPostmaster = async (needle: string) => (await h.mailbox('postmaster')).filter((m) => m.raw.toString('latin1').includes(needle));

    before(async () => {
      h = await startMailHarness({ backend });
      const authorization = `Basic ${Buffer.from(`admin:${h.test.ctx.secrets.adminPassword}`).toString('base64')}`;
      admin = async (path, auth = true) => {
        const r = await fetch(`http://127.0.0.1:${h.mail.ports.admin}${path}`, { headers: auth ? { authorization } : {} });
        return { status: r.status, body: await r.json() };
      };
    });
    after(async () => {
      await h?.close();
    });

    it('a gzipped DMARC report is listed with its organisation, domain and counts, in full by id, and the mail stays in the mailbox', async () => {
      assert.match(await sendInbound(h.mail.ports.inbound, 'noreply-dmarc-support@google.com', RUA, dmarcMail('first')), /^250/);
      const list = await waitUntil(async () => { const r = await admin('/api/reports/dmarc'); return r.body.data?.total > 0 ? r : undefined; }, 'the DMARC report listed');
      assert.equal(list.status, 200);
      assert.equal(list.body.data.total, 1);
      const [item] = list.body.data.items;
      assert.deepEqual(item, {
        id: item.id, org: 'google.com', reportId: '9182736450123456789', domain: DOMAIN, begin: '2024-01-01T00:00:00.000Z', end: '2024-01-01T23:59:59.000Z',
        summary: { messages: 19, passed: 17, failed: 2, rows: 2, policy: 'quarantine' },
      });

      const full = await admin(`/api/reports/dmarc/${item.id}`);
      assert.equal(full.status, 200);
      const report = full.body.data.report;
      assert.deepEqual(report.policy, { domain: DOMAIN, adkim: 'r', aspf: 'r', p: 'quarantine', sp: 'quarantine', pct: 100, fo: null });
      assert.deepEqual(report.records.map((r: any) => [r.sourceIp, r.count, r.disposition, r.dkim, r.spf, r.headerFrom]), [
        ['203.0.113.25', 17, 'none', 'pass', 'pass', DOMAIN],
        ['198.51.100.7', 2, 'quarantine', 'fail', 'fail', DOMAIN],
      ]);
      const stored = await inPostmaster('Report-ID: 9182736450123456789 first');
      assert.equal(stored.length, 1, 'the report mail is in the postmaster mailbox');
      assert.equal(full.body.data.messageId, stored[0].queueId, 'the report names the mail that carried it');
    });

    it('a TLS report (application/tlsrpt+gzip) is listed with its policy domain and session counts', async () => {
      assert.match(await sendInbound(h.mail.ports.inbound, 'tlsrpt-noreply@company-x.example', RUA, tlsMail()), /^250/);
      const list = await waitUntil(async () => { const r = await admin('/api/reports/tls'); return r.body.data?.total > 0 ? r : undefined; }, 'the TLS report listed');
      const [item] = list.body.data.items;
      assert.equal(item.org, 'Company-X');
      assert.equal(item.reportId, '5065427c-23d3-47ca-b6e0-946ea0e8c4be');
      assert.equal(item.domain, DOMAIN);
      assert.deepEqual(item.summary, { successful: 5326, failed: 303, policies: 1 });
      const full = (await admin(`/api/reports/tls/${item.id}`)).body.data.report;
      assert.deepEqual(full.policies[0].failures.map((f: any) => [f.resultType, f.sendingMtaIp, f.receivingMxHostname, f.failedSessions]), [
        ['certificate-expired', '2001:db8:abcd:12::1', `mail.${DOMAIN}`, 300],
        ['starttls-not-supported', '198.51.100.62', `mail.${DOMAIN}`, 3],
      ]);
      assert.equal((await inPostmaster('TLS-Report-Submitter: company-x.example')).length, 1);
      assert.equal((await admin('/api/reports/dmarc')).body.data.total, 1, 'the TLS report is not listed with DMARC reports');
    });

    it('the same report sent twice is listed once; both mails are in the mailbox', async () => {
      assert.match(await sendInbound(h.mail.ports.inbound, 'noreply-dmarc-support@google.com', RUA, dmarcMail('second')), /^250/);
      await waitUntil(async () => (await inPostmaster('Report-ID: 9182736450123456789 second')).length === 1, 'the second copy delivered');
      const list = await admin('/api/reports/dmarc');
      assert.equal(list.body.data.total, 1);
      assert.equal(list.body.data.items.length, 1);
      assert.equal((await inPostmaster('Report-ID: 9182736450123456789')).length, 2);
    });

    it('domain filter and paging; an unknown id is notFound; the routes need the admin credentials', async () => {
      assert.equal((await admin(`/api/reports/dmarc?domain=${DOMAIN}`)).body.data.total, 1);
      assert.deepEqual((await admin('/api/reports/dmarc?domain=other.test')).body.data, { items: [], total: 0 });
      assert.deepEqual((await admin('/api/reports/tls?page=2&limit=1')).body.data, { items: [], total: 1 });
      const missing = await admin('/api/reports/dmarc/999999');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error, 'notFound');
      assert.equal((await admin('/api/reports/tls/not-a-number')).status, 404);
      assert.equal((await admin('/api/reports/dmarc?limit=x')).status, 400);
      assert.equal((await admin('/api/reports/dmarc', false)).status, 401);
    });
  });
}
