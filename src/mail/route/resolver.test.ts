// Tests for the DNS resolver wrapper against a fake zone on 127.0.0.1 (UDP and TCP).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startDnsZone, type DnsZone } from '../../../test/support/dns-zone.ts';
import { createResolver, dnsFailureOf, DnsLookupError, mailauthResolver, type DnsResolver } from './resolver.ts';

describe('mail/route/resolver', () => {
  let zone: DnsZone;
  let resolver: DnsResolver;

  before(async () => {
    zone = await startDnsZone({
      'example.test': {
        MX: [{ exchange: 'mx.example.test', priority: 10 }],
        TXT: ['v=spf1 ip4:192.0.2.0/24 -all', 'k'.repeat(400)],
      },
      'mx.example.test': { A: ['192.0.2.10'], AAAA: ['2001:db8::10'] },
      'www.example.test': { CNAME: 'mx.example.test' },
      '10.2.0.192.in-addr.arpa': { PTR: ['mx.example.test'] },
      'broken.test': { servfail: true },
      'silent.test': { drop: true },
    });
    resolver = createResolver({ servers: [zone.server], timeoutMs: 100, tries: 1 });
  });

  after(async () => {
    await zone.close();
  });

  it('returns MX, A, AAAA, TXT, PTR and CNAME answers', async () => {
    assert.deepEqual(await resolver.resolveMx('example.test'), [{ exchange: 'mx.example.test', priority: 10 }]);
    assert.deepEqual(await resolver.resolve4('mx.example.test'), ['192.0.2.10']);
    assert.deepEqual(await resolver.resolve6('mx.example.test'), ['2001:db8::10']);
    const txt = await resolver.resolveTxt('example.test');
    assert.deepEqual(
      txt.map((chunks) => chunks.join('')),
      ['v=spf1 ip4:192.0.2.0/24 -all', 'k'.repeat(400)],
    );
    assert.deepEqual(await resolver.resolvePtr('10.2.0.192.in-addr.arpa'), ['mx.example.test']);
    assert.deepEqual(await resolver.resolveCname('www.example.test'), ['mx.example.test']);
  });

  it('classifies a name that does not exist as nxdomain (RFC 2308 §2.1)', async () => {
    const err = await resolver.resolveMx('missing.test').catch((e: unknown) => e);
    assert.ok(err instanceof DnsLookupError);
    assert.equal(err.code, 'dns.nxdomain');
    assert.equal(dnsFailureOf(err), 'nxdomain');
  });

  it('classifies an existing name without the asked type as nodata (RFC 2308 §2.2)', async () => {
    await assert.rejects(resolver.resolveMx('mx.example.test'), { code: 'dns.nodata', failure: 'nodata' });
  });

  it('classifies SERVFAIL as temporary', async () => {
    await assert.rejects(resolver.resolve4('broken.test'), { code: 'dns.temporary' });
  });

  it('classifies a server that never answers as temporary (timeout)', async () => {
    await assert.rejects(resolver.resolveTxt('silent.test'), { code: 'dns.temporary', failure: 'temporary' });
  });

  it('classifies an unreachable DNS server as temporary', async () => {
    // A zone that has been closed leaves a port nobody listens on.
    const gone = await startDnsZone({});
    await gone.close();
    const r = createResolver({ servers: [gone.server], timeoutMs: 100, tries: 1 });
    await assert.rejects(r.resolve4('example.test'), { code: 'dns.temporary' });
  });

  it('stops waiting when the caller aborts, and the failure is temporary', async () => {
    const controller = new AbortController();
    const pending = resolver.resolve4('silent.test', { signal: controller.signal });
    controller.abort(new Error('shutting down'));
    await assert.rejects(pending, (err: unknown) => err instanceof DnsLookupError && err.failure === 'temporary' && /aborted/.test(err.message));
    await assert.rejects(resolver.resolve4('mx.example.test', { signal: AbortSignal.abort() }), { code: 'dns.temporary' });
  });

  it('mailauthResolver rethrows with the node codes mailauth reads', async () => {
    const lookup = mailauthResolver(resolver);
    assert.deepEqual(await lookup('mx.example.test', 'A'), ['192.0.2.10']);
    await assert.rejects(lookup('missing.test', 'TXT'), { code: 'ENOTFOUND' });
    await assert.rejects(lookup('mx.example.test', 'MX'), { code: 'ENODATA' });
    await assert.rejects(lookup('broken.test', 'TXT'), { code: 'ESERVFAIL' });
  });
});
