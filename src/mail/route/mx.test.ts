// Tests for outbound routing (RFC 5321 §5.1, RFC 7505) against a fake DNS zone.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startDnsZone, type DnsZone } from '../../../test/support/dns-zone.ts';
import { resolveRoute, type Route } from './mx.ts';
import { createResolver, type DnsResolver } from './resolver.ts';

function hostsOf(route: Route): Array<[string, number, string[]]> {
  assert.equal(route.kind, 'hosts', JSON.stringify(route));
  return route.kind === 'hosts' ? route.hosts.map((h) => [h.host, h.preference, h.addresses]) : [];
}

/** A deterministic stand-in for Math.random. */
function sequence(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] ?? 0;
}

describe('mail/route/mx', () => {
  let zone: DnsZone;
  let resolver: DnsResolver;

  before(async () => {
    zone = await startDnsZone({
      'multi.test': {
        MX: [
          { exchange: 'c.multi.test', priority: 20 },
          { exchange: 'a.multi.test', priority: 10 },
          { exchange: 'b.multi.test', priority: 10 },
          { exchange: 'backup.multi.test.', priority: 30 },
        ],
      },
      'a.multi.test': { A: ['192.0.2.1'] },
      'b.multi.test': { A: ['192.0.2.2'], AAAA: ['2001:db8::2'] },
      'c.multi.test': { AAAA: ['2001:db8::3'] },
      'backup.multi.test': { A: ['192.0.2.4'] },
      'implicit.test': { A: ['192.0.2.9'], AAAA: ['2001:db8::9'] },
      'nothing.test': { TXT: ['v=spf1 -all'] },
      'nullmx.test': { MX: [{ exchange: '.', priority: 0 }], A: ['192.0.2.10'] },
      'lamemx.test': {
        MX: [
          { exchange: 'gone.lamemx.test', priority: 5 },
          { exchange: 'ok.lamemx.test', priority: 10 },
        ],
      },
      'ok.lamemx.test': { A: ['192.0.2.11'] },
      'allgone.test': { MX: [{ exchange: 'gone.allgone.test', priority: 10 }] },
      'flaky.test': {
        MX: [
          { exchange: 'sf.flaky.test', priority: 10 },
          { exchange: 'gone.flaky.test', priority: 20 },
        ],
      },
      'sf.flaky.test': { servfail: true },
      'broken.test': { servfail: true },
      'silent.test': { drop: true },
      'self.test': {
        MX: [
          { exchange: 'better.self.test', priority: 5 },
          { exchange: 'mail.local.test', priority: 10 },
          { exchange: 'worse.self.test', priority: 20 },
        ],
      },
      'better.self.test': { A: ['192.0.2.20'] },
      'worse.self.test': { A: ['192.0.2.21'] },
      'onlyself.test': { MX: [{ exchange: 'mail.local.test', priority: 10 }] },
      'xn--bcher-kva.test': { MX: [{ exchange: 'a.multi.test', priority: 1 }] },
    });
    resolver = createResolver({ servers: [zone.server], timeoutMs: 100, tries: 1 });
  });

  after(async () => {
    await zone.close();
  });

  it('orders MX hosts by preference and resolves each host’s A and AAAA (RFC 5321 §5.1)', async () => {
    const route = await resolveRoute('multi.test', { resolver, random: () => 0.99 });
    assert.deepEqual(hostsOf(route), [
      ['a.multi.test', 10, ['192.0.2.1']],
      ['b.multi.test', 10, ['192.0.2.2', '2001:db8::2']],
      ['c.multi.test', 20, ['2001:db8::3']],
      ['backup.multi.test', 30, ['192.0.2.4']],
    ]);
  });

  it('shuffles MX hosts of equal preference (RFC 5321 §5.1)', async () => {
    const first = (random: () => number) => resolveRoute('multi.test', { resolver, random }).then((r) => hostsOf(r).map(([h]) => h));
    assert.deepEqual(await first(sequence([0.99])), ['a.multi.test', 'b.multi.test', 'c.multi.test', 'backup.multi.test']);
    assert.deepEqual(await first(sequence([0])), ['b.multi.test', 'a.multi.test', 'c.multi.test', 'backup.multi.test']);
  });

  it('puts IPv6 addresses first when asked to', async () => {
    const route = await resolveRoute('b.multi.test', { resolver, prefer: 'ipv6' });
    assert.deepEqual(hostsOf(route), [['b.multi.test', 0, ['2001:db8::2', '192.0.2.2']]]);
  });

  it('uses the domain itself as implicit MX when it has no MX records (RFC 5321 §5.1)', async () => {
    const route = await resolveRoute('Implicit.Test.', { resolver });
    assert.deepEqual(hostsOf(route), [['implicit.test', 0, ['192.0.2.9', '2001:db8::9']]]);
    assert.equal(route.kind === 'hosts' && route.implicit, true);
  });

  it('fails permanently when there is no MX and no address record', async () => {
    const route = await resolveRoute('nothing.test', { resolver });
    assert.equal(route.kind, 'permanent');
  });

  it('null MX is a permanent failure (RFC 7505 §3)', async () => {
    const route = await resolveRoute('nullmx.test', { resolver });
    assert.equal(route.kind, 'permanent');
    assert.match(route.kind === 'permanent' ? route.reason : '', /null MX/);
  });

  it('a domain that does not exist is a permanent failure (NXDOMAIN)', async () => {
    const route = await resolveRoute('no-such-domain.test', { resolver });
    assert.equal(route.kind, 'permanent');
    assert.match(route.kind === 'permanent' ? route.reason : '', /NXDOMAIN/);
  });

  it('SERVFAIL or no answer on the MX lookup is a temporary failure', async () => {
    assert.equal((await resolveRoute('broken.test', { resolver })).kind, 'temporary');
    assert.equal((await resolveRoute('silent.test', { resolver })).kind, 'temporary');
  });

  it('skips an MX host whose name does not resolve and keeps the others', async () => {
    const route = await resolveRoute('lamemx.test', { resolver });
    assert.deepEqual(hostsOf(route), [['ok.lamemx.test', 10, ['192.0.2.11']]]);
    assert.deepEqual(
      route.kind === 'hosts' ? route.skipped.map((s) => s.host) : [],
      ['gone.lamemx.test'],
    );
  });

  it('fails permanently when no MX host exists, temporarily when a lookup failed temporarily', async () => {
    assert.equal((await resolveRoute('allgone.test', { resolver })).kind, 'permanent');
    assert.equal((await resolveRoute('flaky.test', { resolver })).kind, 'temporary');
  });

  it('delivers to an address literal without DNS (RFC 5321 §4.1.3)', async () => {
    assert.deepEqual(hostsOf(await resolveRoute('[127.0.0.1]', { resolver })), [['127.0.0.1', 0, ['127.0.0.1']]]);
    assert.deepEqual(hostsOf(await resolveRoute('[IPv6:2001:DB8::1]', { resolver })), [['2001:db8::1', 0, ['2001:db8::1']]]);
    assert.equal((await resolveRoute('[999.1.1.1]', { resolver })).kind, 'permanent');
    assert.equal((await resolveRoute('[x-tag:foo]', { resolver })).kind, 'permanent');
  });

  it('uses only MX hosts more preferred than this server when it is listed itself (RFC 5321 §5.1)', async () => {
    const route = await resolveRoute('self.test', { resolver, localHosts: ['MAIL.local.test'] });
    assert.deepEqual(hostsOf(route), [['better.self.test', 5, ['192.0.2.20']]]);
    const loop = await resolveRoute('onlyself.test', { resolver, localHosts: ['mail.local.test'] });
    assert.equal(loop.kind, 'permanent');
  });

  it('looks up internationalized domains by their A-label (RFC 5890)', async () => {
    assert.deepEqual(hostsOf(await resolveRoute('bücher.test', { resolver })), [['a.multi.test', 1, ['192.0.2.1']]]);
  });
});
