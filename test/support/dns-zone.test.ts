// Tests for the fake DNS zone: node's own resolver (c-ares) and a raw TCP client query it over real sockets.
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { startDnsZone, type DnsZone } from './dns-zone.ts';

const require = createRequire(import.meta.url);
const dns2 = require('dns2') as typeof import('dns2');

describe('test/support/dns-zone', () => {
  let zone: DnsZone;
  let resolver: Resolver;

  before(async () => {
    zone = await startDnsZone({
      'example.test': {
        MX: [
          { exchange: 'mx1.example.test', priority: 10 },
          { exchange: 'mx2.example.test', priority: 20 },
        ],
        TXT: ['v=spf1 -all'],
      },
      'MX1.Example.Test.': { A: ['192.0.2.1'], AAAA: ['2001:db8::1'] },
      'long.example.test': { TXT: ['a'.repeat(300)] },
      'null.example.test': { MX: [{ exchange: '.', priority: 0 }] },
      'alias.example.test': { CNAME: 'mx1.example.test' },
      '_submission._tcp.example.test': {
        SRV: [
          { priority: 0, weight: 1, port: 587, target: 'mx1.example.test' },
          { priority: 10, weight: 5, port: 2587, target: 'mx2.example.test.' },
        ],
      },
      '_submissions._tcp.example.test': { CNAME: '_submission._tcp.example.test' },
      '_imap._tcp.example.test': { SRV: [{ priority: 0, weight: 0, port: 0, target: '.' }] },
      'broken.example.test': { servfail: true },
      'silent.example.test': { drop: true },
    });
    resolver = new Resolver({ timeout: 200, tries: 1 });
    resolver.setServers([zone.server]);
  });

  after(async () => {
    await zone.close();
  });

  it('serves A, AAAA, MX and TXT records to node:dns (names are case-insensitive)', async () => {
    assert.deepEqual(await resolver.resolve4('mx1.example.test'), ['192.0.2.1']);
    assert.deepEqual(await resolver.resolve6('MX1.example.test'), ['2001:db8::1']);
    const mx = await resolver.resolveMx('example.test');
    assert.deepEqual(
      mx.map((r) => [r.exchange, r.priority]),
      [
        ['mx1.example.test', 10],
        ['mx2.example.test', 20],
      ],
    );
    assert.deepEqual(await resolver.resolveTxt('example.test'), [['v=spf1 -all']]);
  });

  it('splits TXT data longer than 255 bytes into character-strings (RFC 1035 §3.3.14)', async () => {
    const [record] = await resolver.resolveTxt('long.example.test');
    assert.deepEqual(
      record?.map((s) => s.length),
      [255, 45],
    );
  });

  it('serves a null MX as the root name (RFC 7505 §3)', async () => {
    const mx = await resolver.resolveMx('null.example.test');
    assert.equal(mx.length, 1);
    assert.equal(mx[0]?.exchange, '');
  });

  it('serves SRV records: priority, weight, port, target (RFC 2782)', async () => {
    const srv = await resolver.resolveSrv('_submission._tcp.example.test');
    assert.deepEqual(
      srv.map((r) => [r.priority, r.weight, r.port, r.name]).sort((a, b) => Number(a[0]) - Number(b[0])),
      [
        [0, 1, 587, 'mx1.example.test'],
        [10, 5, 2587, 'mx2.example.test'],
      ],
    );
    await assert.rejects(resolver.resolveSrv('example.test'), { code: 'ENODATA' });
  });

  it('serves SRV records at the end of a CNAME chain, and over TCP', async () => {
    const srv = await resolver.resolveSrv('_submissions._tcp.example.test');
    assert.deepEqual(srv.map((r) => r.port).sort(), [2587, 587]);
    const query = dns2.TCPClient({ dns: '127.0.0.1', port: zone.port });
    const response = await query('_submission._tcp.example.test', 'SRV');
    assert.deepEqual(
      response.answers.map((a) => {
        const r = a as unknown as { port: number; target: string };
        return [r.port, r.target];
      }),
      [
        [587, 'mx1.example.test'],
        [2587, 'mx2.example.test'],
      ],
    );
  });

  it('serves an SRV target of "." as the root name: service not offered (RFC 2782, RFC 6186 §4)', async () => {
    const srv = await resolver.resolveSrv('_imap._tcp.example.test');
    assert.deepEqual(
      srv.map((r) => [r.priority, r.weight, r.port, r.name]),
      [[0, 0, 0, '']],
    );
  });

  it('follows a CNAME inside the zone like a recursive resolver', async () => {
    assert.deepEqual(await resolver.resolve4('alias.example.test'), ['192.0.2.1']);
  });

  it('answers NXDOMAIN for unknown names and NODATA for a missing type', async () => {
    await assert.rejects(resolver.resolve4('nowhere.example.test'), { code: 'ENOTFOUND' });
    await assert.rejects(resolver.resolve4('example.test'), { code: 'ENODATA' });
  });

  it('answers SERVFAIL for a name marked servfail, and nothing for one marked drop', async () => {
    await assert.rejects(resolver.resolve4('broken.example.test'), { code: 'ESERVFAIL' });
    await assert.rejects(resolver.resolve4('silent.example.test'), { code: 'ETIMEOUT' });
  });

  it('answers over TCP on the same port as UDP (RFC 7766)', async () => {
    const query = dns2.TCPClient({ dns: '127.0.0.1', port: zone.port });
    const response = await query('mx1.example.test', 'A');
    assert.equal(response.header.rcode, 0);
    assert.deepEqual(
      response.answers.map((a) => (a as unknown as { address: string }).address),
      ['192.0.2.1'],
    );
    assert.ok(zone.queries.some((q) => q.transport === 'tcp' && q.name === 'mx1.example.test' && q.type === 'A'));
  });

  it('update() replaces the zone for later queries', async () => {
    const other = await startDnsZone({ 'a.test': { A: ['192.0.2.7'] } });
    try {
      const r = new Resolver({ timeout: 200, tries: 1 });
      r.setServers([other.server]);
      assert.deepEqual(await r.resolve4('a.test'), ['192.0.2.7']);
      other.update({ 'a.test': { A: ['192.0.2.8'] } });
      assert.deepEqual(await r.resolve4('a.test'), ['192.0.2.8']);
    } finally {
      await other.close();
    }
  });
});
