// Tests for MTA-STS (RFC 8461): a fake DNS zone plus a local HTTPS policy host with a self-signed certificate.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { generate } from 'selfsigned';
import { startDnsZone, type DnsZone, type Zone } from '../../../test/support/dns-zone.ts';
import { createMemoryMtaStsCache, createMtaSts, mxAllowed, parsePolicy, parseStsRecord, type MtaSts } from './mta-sts.ts';
import { createResolver, type DnsResolver } from './resolver.ts';

type Served = { status?: number; type?: string; body: string };

const POLICY_HOSTS = ['enforce.test', 'testing.test', 'none.test', 'wild.test', 'change.test', 'flaky.test', 'html.test', 'big.test', 'gone.test', 'nopolicy.test'];

function baseZone(): Zone {
  const zone: Zone = {};
  for (const domain of POLICY_HOSTS) {
    zone[`_mta-sts.${domain}`] = { TXT: ['v=STSv1; id=first1;'] };
    zone[`mta-sts.${domain}`] = { A: ['127.0.0.1'] };
  }
  zone['_mta-sts.nopolicy.test'] = { TXT: ['v=spf1 -all'] };
  return zone;
}

function policy(mode: string, mx: string[], maxAge = 86400): string {
  return ['version: STSv1', `mode: ${mode}`, ...mx.map((m) => `mx: ${m}`), `max_age: ${maxAge}`, ''].join('\r\n');
}

describe('mail/route/mta-sts', () => {
  let zone: DnsZone;
  let resolver: DnsResolver;
  let server: Server;
  let port: number;
  let ca: string;
  let otherCa: string;
  const served = new Map<string, Served>();
  const requests: string[] = [];
  let clock = 1_700_000_000_000;

  function mtaSts(extra: { ca?: string } = {}): MtaSts {
    return createMtaSts({
      resolver,
      cache: createMemoryMtaStsCache(),
      now: () => clock,
      https: { ca: extra.ca ?? ca, port, timeoutMs: 5000 },
    });
  }

  before(async () => {
    const names = POLICY_HOSTS.map((d) => ({ type: 2 as const, value: `mta-sts.${d}` }));
    // RSA: selfsigned 5.5 fails to build EC certificates here ('Cannot get schema for AlgorithmIdentifier').
    const pem = await generate([{ name: 'commonName', value: 'mta-sts policy host' }], {
      extensions: [
        { name: 'basicConstraints', cA: true },
        { name: 'subjectAltName', altNames: names },
      ],
    });
    ca = pem.cert;
    otherCa = (await generate([{ name: 'commonName', value: 'someone else' }])).cert;
    server = createServer({ key: pem.private, cert: pem.cert }, (req, res) => {
      const host = String(req.headers.host ?? '').replace(/:\d+$/, '');
      requests.push(`${host}${req.url}`);
      const answer = req.url === '/.well-known/mta-sts.txt' ? served.get(host) : undefined;
      if (answer === undefined) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      res.writeHead(answer.status ?? 200, { 'content-type': answer.type ?? 'text/plain; charset=utf-8' }).end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    zone = await startDnsZone(baseZone());
    resolver = createResolver({ servers: [zone.server], timeoutMs: 200, tries: 1 });
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await zone.close();
  });

  beforeEach(() => {
    zone.update(baseZone());
    served.clear();
    requests.length = 0;
  });

  it('fetches an enforce policy and only its mx hosts are allowed (RFC 8461 §4.1)', async () => {
    served.set('mta-sts.enforce.test', { body: policy('enforce', ['mx1.enforce.test', 'mx2.enforce.test'], 604800) });
    const result = await mtaSts().getPolicy('Enforce.Test');
    assert.equal(result.source, 'fetched');
    assert.ok(result.policy !== null);
    assert.equal(result.policy.mode, 'enforce');
    assert.equal(result.policy.id, 'first1');
    assert.deepEqual(result.policy.mx, ['mx1.enforce.test', 'mx2.enforce.test']);
    assert.equal(result.policy.expiresAt, clock + 604800 * 1000);
    assert.equal(mxAllowed(result.policy, 'mx2.enforce.test'), true);
    assert.equal(mxAllowed(result.policy, 'MX1.enforce.test.'), true);
    assert.equal(mxAllowed(result.policy, 'evil.example'), false);
    assert.deepEqual(requests, ['mta-sts.enforce.test/.well-known/mta-sts.txt']);
  });

  it('reports testing mode so failures are only reported, not enforced (RFC 8461 §5)', async () => {
    served.set('mta-sts.testing.test', { body: policy('testing', ['mx.testing.test']) });
    const result = await mtaSts().getPolicy('testing.test');
    assert.equal(result.policy?.mode, 'testing');
    assert.equal(mxAllowed(result.policy!, 'other.test'), false);
  });

  it('a mode none policy allows every MX (RFC 8461 §5)', async () => {
    served.set('mta-sts.none.test', { body: policy('none', []) });
    const result = await mtaSts().getPolicy('none.test');
    assert.equal(result.policy?.mode, 'none');
    assert.equal(mxAllowed(result.policy!, 'anything.example'), true);
  });

  it('a wildcard mx pattern matches exactly one leftmost label (RFC 8461 §4.1)', async () => {
    served.set('mta-sts.wild.test', { body: policy('enforce', ['*.mail.wild.test']) });
    const { policy: p } = await mtaSts().getPolicy('wild.test');
    assert.ok(p !== null);
    assert.equal(mxAllowed(p, 'mx1.mail.wild.test'), true);
    assert.equal(mxAllowed(p, 'a.b.mail.wild.test'), false);
    assert.equal(mxAllowed(p, 'mail.wild.test'), false);
    assert.equal(mxAllowed(p, 'mx1.mail.wild.test.evil'), false);
  });

  it('uses the cached policy while the TXT id is unchanged and refetches when it changes (RFC 8461 §3.3)', async () => {
    const sts = mtaSts();
    served.set('mta-sts.change.test', { body: policy('testing', ['old.change.test']) });
    assert.equal((await sts.getPolicy('change.test')).source, 'fetched');
    served.set('mta-sts.change.test', { body: policy('enforce', ['new.change.test']) });
    const again = await sts.getPolicy('change.test');
    assert.equal(again.source, 'cache');
    assert.deepEqual(again.policy?.mx, ['old.change.test']);
    assert.equal(requests.length, 1);

    zone.update({ ...baseZone(), '_mta-sts.change.test': { TXT: ['v=STSv1; id=second2'] } });
    const changed = await sts.getPolicy('change.test');
    assert.equal(changed.source, 'fetched');
    assert.equal(changed.policy?.id, 'second2');
    assert.equal(changed.policy?.mode, 'enforce');
    assert.deepEqual(changed.policy?.mx, ['new.change.test']);
    assert.equal(requests.length, 2);
  });

  it('refetches an expired policy even when the id is unchanged (RFC 8461 §3.2 max_age)', async () => {
    const sts = mtaSts();
    served.set('mta-sts.change.test', { body: policy('enforce', ['mx.change.test'], 60) });
    await sts.getPolicy('change.test');
    clock += 61_000;
    const later = await sts.getPolicy('change.test');
    assert.equal(later.source, 'fetched');
    assert.equal(requests.length, 2);
  });

  it('keeps applying a cached policy when the new one cannot be fetched (RFC 8461 §5.1)', async () => {
    const sts = mtaSts();
    served.set('mta-sts.flaky.test', { body: policy('enforce', ['mx.flaky.test']) });
    await sts.getPolicy('flaky.test');
    served.delete('mta-sts.flaky.test');
    zone.update({ ...baseZone(), '_mta-sts.flaky.test': { TXT: ['v=STSv1; id=second2'] } });
    const result = await sts.getPolicy('flaky.test');
    assert.equal(result.source, 'cache');
    assert.equal(result.policy?.mode, 'enforce');
    assert.equal(result.policy?.id, 'first1');
    assert.equal(result.failure?.type, 'sts-policy-fetch-error');
    assert.match(result.failure?.detail ?? '', /HTTP 404/);
    assert.equal((await sts.getPolicy('flaky.test')).policy?.id, 'first1');
    assert.equal(requests.length, 2, 'the failed id is not refetched at once');

    // Discovery failing in DNS also falls back to the cache.
    zone.update({ ...baseZone(), '_mta-sts.flaky.test': { servfail: true } });
    assert.equal((await sts.getPolicy('flaky.test')).policy?.mode, 'enforce');
    zone.update({ ...baseZone(), '_mta-sts.flaky.test': { TXT: ['unrelated'] } });
    assert.equal((await sts.getPolicy('flaky.test')).policy?.mode, 'enforce');
  });

  it('without a cached policy a failed fetch means no policy, and is not retried at once', async () => {
    const sts = mtaSts();
    const result = await sts.getPolicy('gone.test');
    assert.equal(result.policy, null);
    assert.equal(result.source, 'none');
    assert.equal(result.failure?.type, 'sts-policy-fetch-error');
    assert.equal((await sts.getPolicy('gone.test')).failure?.type, 'sts-policy-fetch-error');
    assert.equal(requests.length, 1);
  });

  it('rejects a policy served with another content type than text/plain, or larger than 64 KB (RFC 8461 §3.2, §3.3)', async () => {
    served.set('mta-sts.html.test', { type: 'text/html', body: policy('enforce', ['mx.html.test']) });
    const html = await mtaSts().getPolicy('html.test');
    assert.equal(html.policy, null);
    assert.match(html.failure?.detail ?? '', /text\/plain/);
    served.set('mta-sts.big.test', { body: policy('enforce', ['mx.big.test']) + '#'.repeat(70_000) });
    const big = await mtaSts().getPolicy('big.test');
    assert.equal(big.policy, null);
    assert.match(big.failure?.detail ?? '', /larger than/);
  });

  it('refuses a policy host whose certificate does not validate (RFC 8461 §3.3, sts-webpki-invalid)', async () => {
    served.set('mta-sts.enforce.test', { body: policy('enforce', ['mx.enforce.test']) });
    const result = await mtaSts({ ca: otherCa }).getPolicy('enforce.test');
    assert.equal(result.policy, null);
    assert.equal(result.failure?.type, 'sts-webpki-invalid');
    assert.equal(requests.length, 0);
  });

  it('reports an invalid policy body as sts-policy-invalid', async () => {
    served.set('mta-sts.enforce.test', { body: 'version: STSv1\nmode: enforce\nmax_age: 600\n' });
    const result = await mtaSts().getPolicy('enforce.test');
    assert.equal(result.policy, null);
    assert.equal(result.failure?.type, 'sts-policy-invalid');
  });

  it('a domain without a v=STSv1 record has no policy and nothing is fetched (RFC 8461 §3.1)', async () => {
    served.set('mta-sts.nopolicy.test', { body: policy('enforce', ['mx.nopolicy.test']) });
    const result = await mtaSts().getPolicy('nopolicy.test');
    assert.deepEqual(result, { policy: null, source: 'none' });
    assert.equal((await mtaSts().getPolicy('unknown-domain.test')).policy, null);
    assert.equal(requests.length, 0);
  });

  it('parses the TXT record: exactly one v=STSv1 record with an id (RFC 8461 §3.1)', () => {
    assert.deepEqual(parseStsRecord([['v=STSv1; id=abc123']]), { id: 'abc123' });
    assert.deepEqual(parseStsRecord([['v=STSv1; ', 'id=split9;']]), { id: 'split9' });
    assert.deepEqual(parseStsRecord([['v=spf1 -all']]), null);
    assert.ok('invalid' in (parseStsRecord([['v=STSv1; id=a'], ['v=STSv1; id=b']]) ?? {}));
    assert.ok('invalid' in (parseStsRecord([['v=STSv1; id=has-dash']]) ?? {}));
  });

  it('parses policy fields and rejects a policy without mx in enforce mode (RFC 8461 §3.2)', () => {
    assert.deepEqual(parsePolicy(policy('enforce', ['MX.Example.Test'], 300)), { mode: 'enforce', mx: ['mx.example.test'], maxAge: 300 });
    assert.throws(() => parsePolicy('version: STSv1\nmode: enforce\nmax_age: 300\n'), { code: 'mta_sts.policy_invalid' });
    assert.throws(() => parsePolicy('version: STSv1\nmode: strict\nmx: a.test\nmax_age: 300\n'), { code: 'mta_sts.policy_invalid' });
  });
});
