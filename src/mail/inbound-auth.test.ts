// Inbound SPF (RFC 7208), DKIM (RFC 6376) and DMARC (RFC 7489) checks and the Authentication-Results field (RFC 8601), against a fake DNS zone.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { authservIdOf, checkInboundAuth, dmarcRejection, removeForgedResults, type InboundAuth } from './inbound-auth.ts';
import { createResolver, type DnsResolver } from './route/resolver.ts';
import { startDnsZone, type DnsZone } from '../../test/support/dns-zone.ts';

const HOST = 'mx.ours.example';

const msg = (fields: string[]) => Buffer.from([...fields, 'From: <a@sender.example>', 'Subject: x', '', 'Authentication-Results: mx.ours.example; body text', ''].join('\r\n'));

describe('removeForgedResults (RFC 8601 §5)', () => {
  it('removes every field with our authserv-id, whatever its case, comments, quoting, version or folding', () => {
    const raw = msg([
      'Authentication-Results: mx.ours.example; dmarc=pass',
      'authentication-results:(c) MX.OURS.EXAMPLE. ;\r\n\tspf=pass',
      'Authentication-Results: "mx.ours.example" 1; dkim=pass',
      'Authentication-Results:\r\n mx.ours.example (nested (comment)); none',
      'Authentication-Results: other.example; spf=pass',
      'Authentication-Results: mx.ours.example.evil; spf=pass',
    ]);
    const { raw: out, removed } = removeForgedResults(raw, HOST);
    assert.equal(removed, 4);
    assert.equal(out.toString('latin1'), msg(['Authentication-Results: other.example; spf=pass', 'Authentication-Results: mx.ours.example.evil; spf=pass']).toString('latin1'));
  });

  it('leaves the body and a message without such fields alone', () => {
    const raw = msg(['Received: from x']);
    const result = removeForgedResults(raw, HOST);
    assert.equal(result.removed, 0);
    assert.equal(result.raw, raw);
  });

  it('authservIdOf takes the first token of the value', () => {
    assert.equal(authservIdOf(' (x) Example.ORG 1; spf=pass'), 'example.org');
    assert.equal(authservIdOf('"quoted\\"id"; none'), 'quoted"id');
    assert.equal(authservIdOf('host;none'), 'host');
  });
});

describe('dmarcRejection (RFC 7489 §6.6.3)', () => {
  const auth = (over: Partial<InboundAuth>): InboundAuth => ({ spf: 'fail', dkim: 'none', dmarc: 'fail', header: '', fromDomain: 'sender.example', dmarcPolicy: 'reject', timedOut: false, ...over });
  it('refuses only a DMARC fail under p=reject, and only when the policy is reject', () => {
    assert.match(dmarcRejection(auth({}), 'reject') ?? '', /^5\.7\.1 DMARC policy of sender\.example says reject: .*spf=fail, dkim=none/);
    assert.equal(dmarcRejection(auth({}), 'record'), undefined);
    assert.equal(dmarcRejection(auth({ dmarcPolicy: 'quarantine' }), 'reject'), undefined);
    assert.equal(dmarcRejection(auth({ dmarc: 'temperror' }), 'reject'), undefined);
    assert.equal(dmarcRejection(auth({ dmarc: 'pass' }), 'reject'), undefined);
  });
});

describe('checkInboundAuth', () => {
  let zone: DnsZone;
  let resolver: DnsResolver;
  before(async () => {
    zone = await startDnsZone({
      'sender.example': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
      '_dmarc.sender.example': { TXT: ['v=DMARC1; p=quarantine; sp=reject'] },
      'sub.sender.example': { A: ['192.0.2.9'] },
      'broken.example': { servfail: true },
      '_dmarc.broken.example': { servfail: true },
    });
    resolver = createResolver({ servers: [zone.server], timeoutMs: 1000 });
  });
  after(async () => zone?.close());

  const raw = (from: string) => Buffer.from(`From: <${from}>\r\nSubject: x\r\n\r\nbody\r\n`);

  it('SPF pass aligns DMARC; the stamp names our host as authserv-id (RFC 8601 §2.5)', async () => {
    const r = await checkInboundAuth({ raw: raw('a@sender.example'), ip: '192.0.2.1', helo: 'client.example', mailFrom: 'a@sender.example', hostname: HOST, resolver });
    assert.deepEqual([r.spf, r.dkim, r.dmarc, r.dmarcPolicy, r.fromDomain, r.timedOut], ['pass', 'none', 'pass', 'quarantine', 'sender.example', false]);
    assert.match(r.header, /^Authentication-Results: mx\.ours\.example;\r\n /);
    assert.match(r.header, /\r\n$/);
    assert.doesNotMatch(r.header, /Received-SPF/);
  });

  it('a subdomain takes sp= of the organizational record (RFC 7489 §6.6.3)', async () => {
    const r = await checkInboundAuth({ raw: raw('a@sub.sender.example'), ip: '192.0.2.2', mailFrom: 'a@sub.sender.example', hostname: HOST, resolver });
    assert.deepEqual([r.spf, r.dmarc, r.dmarcPolicy, r.fromDomain], ['none', 'fail', 'reject', 'sub.sender.example']);
    assert.ok(dmarcRejection(r, 'reject'));
  });

  it('SERVFAIL is temperror, not none (RFC 7208 §5, RFC 7489 §6.6.3)', async () => {
    const r = await checkInboundAuth({ raw: raw('a@broken.example'), ip: '192.0.2.2', mailFrom: 'a@broken.example', hostname: HOST, resolver });
    assert.deepEqual([r.spf, r.dmarc], ['temperror', 'temperror']);
    assert.equal(dmarcRejection(r, 'reject'), undefined);
  });

  it('a resolver that never answers, even when aborted, still gives temperror soon after the bound', async () => {
    const never = () => new Promise<never>(() => {});
    const stuck: DnsResolver = { resolveMx: never, resolve4: never, resolve6: never, resolveTxt: never, resolvePtr: never, resolveCname: never };
    const started = Date.now();
    const r = await checkInboundAuth({ raw: raw('a@sender.example'), ip: '192.0.2.1', mailFrom: 'a@sender.example', hostname: HOST, resolver: stuck, timeoutMs: 200 });
    const ms = Date.now() - started;
    assert.ok(ms >= 200 && ms < 2500, `took ${ms} ms`);
    assert.deepEqual([r.spf, r.dkim, r.dmarc, r.timedOut], ['temperror', 'none', 'temperror', true]);
    assert.match(r.header, /^Authentication-Results: mx\.ours\.example;\r\n spf=temperror/);
  });
});
