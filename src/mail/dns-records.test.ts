// Tests for the published DNS records (MX, SPF, DKIM, DMARC, TLS-RPT, MTA-STS, SRV) and their zone-file form.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateDkimKey, type DkimKeyPair } from './dkim/keys.ts';
import { buildDnsRecords, mtaStsPolicyText, toZoneFile, type DnsRecord, type DnsRecordsOptions } from './dns-records.ts';

const ED_PUBLIC = 'oR3PJitX2xsZh5sFm1Lt5gMqR2jureP2WxVdY9CTjk4=';

function find(records: DnsRecord[], type: string, name: string): DnsRecord[] {
  return records.filter((r) => r.type === type && r.name === name);
}

describe('DNS records', () => {
  let rsa: DkimKeyPair;
  let base: DnsRecordsOptions;

  before(async () => {
    rsa = await generateDkimKey('rsa');
    base = {
      domain: 'mana.how',
      hostname: 'mail.mana.how',
      ipv4: ['194.191.241.139'],
      ipv6: ['2001:db8::25'],
      dkimKeys: [
        { selector: 'mana2026', algorithm: 'ed25519', publicKey: ED_PUBLIC },
        { selector: 'rsa2026', algorithm: 'rsa', publicKey: rsa.publicKey },
      ],
      mtaStsPolicyId: '20260301T1200',
    };
  });

  it('every name is fully qualified with the trailing dot, as Stalwart lists them', () => {
    for (const r of buildDnsRecords(base)) assert.match(r.name, /^[a-z0-9._-]+\.how\.$/, r.name);
  });

  it('MX points the domain at the hostname with preference 10 (RFC 5321 §5.1)', () => {
    assert.deepEqual(find(buildDnsRecords(base), 'MX', 'mana.how.'), [{ type: 'MX', name: 'mana.how.', content: '10 mail.mana.how.' }]);
  });

  it('A and AAAA are published for the hostname when addresses are given', () => {
    const records = buildDnsRecords(base);
    assert.deepEqual(find(records, 'A', 'mail.mana.how.').map((r) => r.content), ['194.191.241.139']);
    assert.deepEqual(find(records, 'AAAA', 'mail.mana.how.').map((r) => r.content), ['2001:db8::25']);
    const none = buildDnsRecords({ ...base, ipv4: undefined, ipv6: undefined });
    assert.equal(none.filter((r) => r.type === 'A' || r.type === 'AAAA').length, 0);
  });

  it('one SPF record on the domain with the server addresses, one on the hostname for HELO (RFC 7208 §2.3, §3.2)', () => {
    const records = buildDnsRecords(base);
    const spf = (name: string) => find(records, 'TXT', name).filter((r) => r.content.startsWith('v=spf1'));
    assert.deepEqual(spf('mana.how.').map((r) => r.content), ['v=spf1 a mx ip4:194.191.241.139 ip6:2001:db8::25 ~all']);
    assert.deepEqual(spf('mail.mana.how.').map((r) => r.content), ['v=spf1 a ~all']);
    const bare = buildDnsRecords({ ...base, ipv4: [], ipv6: [] });
    assert.deepEqual(find(bare, 'TXT', 'mana.how.').map((r) => r.content), ['v=spf1 a mx ~all']);
  });

  it('a hostname equal to the domain gets no second SPF record (RFC 7208 §3.2: one record per name)', () => {
    const records = buildDnsRecords({ ...base, hostname: 'mana.how' });
    assert.equal(find(records, 'TXT', 'mana.how.').filter((r) => r.content.startsWith('v=spf1')).length, 1);
    assert.deepEqual(find(records, 'MX', 'mana.how.')[0]!.content, '10 mana.how.');
  });

  it('a hostname in another zone gets no A, AAAA or SPF here, only MX/SRV/CNAME targets', () => {
    const records = buildDnsRecords({ ...base, hostname: 'mx.provider.example' });
    assert.ok(records.every((r) => r.name.endsWith('mana.how.')));
    assert.equal(find(records, 'MX', 'mana.how.')[0]!.content, '10 mx.provider.example.');
  });

  it('one DKIM TXT record per key at <selector>._domainkey (RFC 6376 §3.6.2.1, RFC 8463 §4)', () => {
    const records = buildDnsRecords(base);
    assert.deepEqual(find(records, 'TXT', 'mana2026._domainkey.mana.how.'), [
      { type: 'TXT', name: 'mana2026._domainkey.mana.how.', content: `v=DKIM1; k=ed25519; h=sha256; p=${ED_PUBLIC}` },
    ]);
    assert.deepEqual(find(records, 'TXT', 'rsa2026._domainkey.mana.how.').map((r) => r.content), [`v=DKIM1; k=rsa; h=sha256; p=${rsa.publicKey}`]);
    assert.equal(records.filter((r) => r.name.includes('._domainkey.')).length, 2);
  });

  it('DMARC and TLS-RPT send reports to postmaster or the given address (RFC 7489 §6.3, RFC 8460 §3)', () => {
    const records = buildDnsRecords(base);
    assert.deepEqual(find(records, 'TXT', '_dmarc.mana.how.').map((r) => r.content), ['v=DMARC1; p=quarantine; rua=mailto:postmaster@mana.how']);
    assert.deepEqual(find(records, 'TXT', '_smtp._tls.mana.how.').map((r) => r.content), ['v=TLSRPTv1; rua=mailto:postmaster@mana.how']);
    const other = buildDnsRecords({ ...base, reportAddress: 'reports@mana.how' });
    assert.equal(find(other, 'TXT', '_dmarc.mana.how.')[0]!.content, 'v=DMARC1; p=quarantine; rua=mailto:reports@mana.how');
    assert.equal(find(other, 'TXT', '_smtp._tls.mana.how.')[0]!.content, 'v=TLSRPTv1; rua=mailto:reports@mana.how');
  });

  it('MTA-STS: _mta-sts TXT with the policy id and the mta-sts host for the policy (RFC 8461 §3.1, §3.3)', () => {
    const records = buildDnsRecords(base);
    assert.deepEqual(find(records, 'TXT', '_mta-sts.mana.how.').map((r) => r.content), ['v=STSv1; id=20260301T1200']);
    assert.deepEqual(find(records, 'CNAME', 'mta-sts.mana.how.').map((r) => r.content), ['mail.mana.how.']);
    assert.throws(() => buildDnsRecords({ ...base, mtaStsPolicyId: 'not-valid!' }), { code: 'dns.invalid_mta_sts_id' });
    assert.throws(() => buildDnsRecords({ ...base, mtaStsPolicyId: 'x'.repeat(33) }), { code: 'dns.invalid_mta_sts_id' });
  });

  it('SRV records for submission 587, submissions 465, imap 143, imaps 993 (RFC 6186 §3, RFC 8314 §5.1)', () => {
    const srv = buildDnsRecords(base).filter((r) => r.type === 'SRV');
    assert.deepEqual(srv, [
      { type: 'SRV', name: '_submission._tcp.mana.how.', content: '0 1 587 mail.mana.how.' },
      { type: 'SRV', name: '_submissions._tcp.mana.how.', content: '0 1 465 mail.mana.how.' },
      { type: 'SRV', name: '_imap._tcp.mana.how.', content: '0 1 143 mail.mana.how.' },
      { type: 'SRV', name: '_imaps._tcp.mana.how.', content: '0 1 993 mail.mana.how.' },
    ]);
    const custom = buildDnsRecords({ ...base, submissionPort: 2587, imapPort: false }).filter((r) => r.type === 'SRV');
    assert.equal(find(custom, 'SRV', '_submission._tcp.mana.how.')[0]!.content, '0 1 2587 mail.mana.how.');
    assert.equal(find(custom, 'SRV', '_imap._tcp.mana.how.').length, 0);
    assert.throws(() => buildDnsRecords({ ...base, imapsPort: 70000 }), { code: 'dns.invalid_port' });
  });

  it('names are normalized: case, trailing dot and IDN to A-labels', () => {
    const records = buildDnsRecords({ ...base, domain: 'Bücher.Example.', hostname: 'MAIL.bücher.example', ipv4: [], ipv6: [] });
    assert.equal(find(records, 'MX', 'xn--bcher-kva.example.')[0]!.content, '10 mail.xn--bcher-kva.example.');
  });

  it('bad input is refused with a code', () => {
    assert.throws(() => buildDnsRecords({ ...base, domain: 'not a domain' }), { code: 'dns.invalid_name' });
    assert.throws(() => buildDnsRecords({ ...base, ipv4: ['300.1.1.1'] }), { code: 'dns.invalid_address' });
    assert.throws(() => buildDnsRecords({ ...base, ipv6: ['194.191.241.139'] }), { code: 'dns.invalid_address' });
    assert.throws(() => buildDnsRecords({ ...base, reportAddress: 'a@b; p=none' }), { code: 'dns.invalid_address' });
    assert.throws(() => buildDnsRecords({ ...base, dkimKeys: [{ selector: 'bad selector', algorithm: 'rsa', publicKey: rsa.publicKey }] }), {
      code: 'dns.invalid_name',
    });
  });
});

describe('MTA-STS policy', () => {
  it('is the RFC 8461 §3.2 key/value body with CRLF line ends', () => {
    assert.equal(
      mtaStsPolicyText({ mode: 'enforce', mxHosts: ['mail.mana.how', 'MX2.mana.how.'], maxAgeSeconds: 604800 }),
      'version: STSv1\r\nmode: enforce\r\nmx: mail.mana.how\r\nmx: mx2.mana.how\r\nmax_age: 604800\r\n',
    );
  });

  it('allows wildcard mx patterns and mode none without mx (RFC 8461 §3.2, §4.1)', () => {
    assert.equal(
      mtaStsPolicyText({ mode: 'testing', mxHosts: ['*.mana.how'], maxAgeSeconds: 86400 }),
      'version: STSv1\r\nmode: testing\r\nmx: *.mana.how\r\nmax_age: 86400\r\n',
    );
    assert.equal(mtaStsPolicyText({ mode: 'none', mxHosts: [], maxAgeSeconds: 0 }), 'version: STSv1\r\nmode: none\r\nmax_age: 0\r\n');
  });

  it('refuses max_age above 31557600, an unknown mode, or enforce without mx (RFC 8461 §3.2)', () => {
    assert.throws(() => mtaStsPolicyText({ mode: 'enforce', mxHosts: ['mail.mana.how'], maxAgeSeconds: 31_557_601 }), { code: 'dns.invalid_mta_sts_policy' });
    assert.throws(() => mtaStsPolicyText({ mode: 'strict' as 'enforce', mxHosts: ['mail.mana.how'], maxAgeSeconds: 60 }), { code: 'dns.invalid_mta_sts_policy' });
    assert.throws(() => mtaStsPolicyText({ mode: 'enforce', mxHosts: [], maxAgeSeconds: 60 }), { code: 'dns.invalid_mta_sts_policy' });
  });
});

// dnspython (Debian python3-dnspython) reads the zone file back: every record, TXT strings joined.
const READ_ZONE = `
import sys, json, dns.zone, dns.rdatatype
zone = dns.zone.from_text(sys.stdin.read(), origin='mana.how.', relativize=False, check_origin=False)
out = []
for name, ttl, rdata in zone.iterate_rdatas():
    t = dns.rdatatype.to_text(rdata.rdtype)
    if t == 'TXT':
        content = b''.join(rdata.strings).decode('utf8')
        out.append({'type': t, 'name': name.to_text(), 'content': content, 'strings': [len(s) for s in rdata.strings], 'ttl': ttl})
    else:
        out.append({'type': t, 'name': name.to_text(), 'content': rdata.to_text(), 'ttl': ttl})
print(json.dumps(out))
`;

describe('zone file', () => {
  it('TXT data is quoted, long TXT is split into 255-octet strings (RFC 1035 §3.3.14), and a zone parser reads back every record', async () => {
    const rsa = await generateDkimKey('rsa');
    const records = buildDnsRecords({
      domain: 'mana.how',
      hostname: 'mail.mana.how',
      ipv4: ['194.191.241.139'],
      dkimKeys: [{ selector: 'rsa2026', algorithm: 'rsa', publicKey: rsa.publicKey }],
      mtaStsPolicyId: '1',
    });
    records.push({ type: 'TXT', name: 'quote.mana.how.', content: 'say "hi" \\ bye' });
    const zone = toZoneFile(records);
    assert.match(zone, /^mana\.how\.\s+3600\tIN\tMX\t10 mail\.mana\.how\.$/m);
    assert.match(zone, /^_dmarc\.mana\.how\.\s+3600\tIN\tTXT\t"v=DMARC1; p=quarantine; rua=mailto:postmaster@mana\.how"$/m);
    const dkimLine = zone.split('\n').find((l) => l.startsWith('rsa2026.'))!;
    assert.match(dkimLine, /\tTXT\t"[^"]{255}" "[^"]+"$/);

    const parsed = JSON.parse(execFileSync('/usr/bin/python3', ['-c', READ_ZONE], { input: zone, encoding: 'utf8', timeout: 30_000 })) as Array<
      DnsRecord & { strings?: number[]; ttl: number }
    >;
    assert.equal(parsed.length, records.length);
    for (const record of records) {
      const back = parsed.find((p) => p.type === record.type && p.name === record.name && p.content === record.content);
      assert.ok(back, `${record.type} ${record.name} ${record.content} read back`);
      assert.equal(back.ttl, 3600);
      for (const len of back.strings ?? []) assert.ok(len <= 255);
    }
    const dkim = parsed.find((p) => p.name === 'rsa2026._domainkey.mana.how.')!;
    assert.ok(dkim.strings!.length >= 2);
  });

  it('a custom TTL is written on every line', () => {
    const zone = toZoneFile([{ type: 'A', name: 'mail.mana.how.', content: '192.0.2.1' }], { ttl: 300 });
    assert.equal(zone, 'mail.mana.how.\t300\tIN\tA\t192.0.2.1\n');
  });
});
