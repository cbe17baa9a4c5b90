// The admin HTTP API over a real socket: authentication (Basic RFC 7617, Bearer RFC 6750), principals, DKIM, DNS records, queue, logs, reload, MTA-STS host, and every route's errors.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { makeTestContext, type TestContext } from '../support/context.ts';
import { startDnsZone, type DnsZone } from '../support/dns-zone.ts';
import { freePort } from '../support/tmp.ts';
import { startMail, type RunningMail } from '../../src/mail/service.ts';
import { createLogger } from '../../src/lib/log.ts';
import { storeFactories } from '../support/stores.ts';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ADMIN = basic('admin', 'admin-secret');

type Reply = { status: number; type: string; body: any; headers: Headers };

for (const factory of storeFactories()) describe(`admin API (${factory.name})`, () => {
  let t: TestContext;
  let closeStore: () => Promise<void>;
  let zone: DnsZone;
  let mail: RunningMail;

  async function call(method: string, path: string, options: { body?: unknown; auth?: string | null } = {}): Promise<Reply> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const auth = options.auth === undefined ? ADMIN : options.auth;
    if (auth) headers.authorization = auth;
    const body = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    const r = await fetch(`http://127.0.0.1:${mail.ports.admin}${path}`, { method, headers, body });
    const text = await r.text();
    let parsed: unknown = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, type: r.headers.get('content-type') ?? '', body: parsed, headers: r.headers };
  }

  const expectError = (r: Reply, status: number, body: Record<string, unknown>) => {
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.match(r.type, /^application\/json/);
    for (const [k, v] of Object.entries(body)) assert.deepEqual(r.body[k], v, `${k} in ${JSON.stringify(r.body)}`);
  };

  const expectProblem = (r: Reply, status: number, detail?: RegExp) => {
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.match(r.type, /^application\/problem\+json/);
    assert.equal(r.body.status, status);
    if (detail) assert.match(r.body.detail, detail);
  };

  before(async () => {
    const mxPort = await freePort(); // nothing listens: deliveries are deferred and stay in the queue
    zone = await startDnsZone({
      'example.org': { MX: [{ exchange: 'mx.example.org', priority: 10 }] },
      'mx.example.org': { A: ['127.0.0.1'] },
      'mail.mana.test': { A: ['198.51.100.20'] },
    });
    const opened = await factory.open();
    closeStore = opened.cleanup;
    t = await makeTestContext({
      store: opened.store,
      overrides: { mail: { delivery: 'deliver', dnsServers: [zone.server], mxPort, queue: { retrySchedule: [3600] } } },
      env: { MAIL_ADMIN_PASSWORD: 'admin-secret' },
    });
    t.ctx.log = createLogger({ dataDir: t.dataDir, service: 'mail', level: 'silent' });
    mail = await startMail(t.ctx);
  });

  after(async () => {
    await mail?.close();
    await zone?.close();
    await t?.cleanup();
    await closeStore?.();
  });

  describe('authentication', () => {
    it('no credentials: 401 with a WWW-Authenticate challenge (RFC 7235 §3.1)', async () => {
      const r = await call('GET', '/api/principal', { auth: null });
      expectProblem(r, 401);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    });

    it('wrong password, unknown user, malformed header: 401', async () => {
      for (const auth of [basic('admin', 'nope'), basic('nobody', 'admin-secret'), 'Basic !!!', 'Digest x', 'Bearer wrong-token']) {
        const r = await call('GET', '/api/principal', { auth });
        expectProblem(r, 401, /Wrong credentials/);
        assert.ok(r.headers.get('www-authenticate'), auth);
      }
    });

    it('health needs no credentials', async () => {
      const r = await call('GET', '/healthz', { auth: null });
      assert.equal(r.status, 200);
    });

    it('an account with role admin may use the API; one without may not', async () => {
      assert.equal((await call('POST', '/api/principal', { body: { type: 'individual', name: 'boss', secrets: ['boss-pw'], roles: ['admin'] } })).status, 200);
      assert.equal((await call('POST', '/api/principal', { body: { type: 'individual', name: 'clerk', secrets: ['clerk-pw'], roles: ['user'] } })).status, 200);
      assert.equal((await call('GET', '/api/principal', { auth: basic('boss', 'boss-pw') })).status, 200);
      expectProblem(await call('GET', '/api/principal', { auth: basic('clerk', 'clerk-pw') }), 401);
      expectProblem(await call('GET', '/api/principal', { auth: basic('boss', 'wrong') }), 401);
    });

    it('an apiKey principal authenticates as a Bearer token, until it is deleted', async () => {
      assert.equal((await call('POST', '/api/principal', { body: { type: 'apiKey', name: 'ci-key', secrets: ['tok-123456'] } })).status, 200);
      assert.equal((await call('GET', '/api/principal', { auth: 'Bearer tok-123456' })).status, 200);
      assert.equal((await call('GET', '/api/principal', { auth: basic('ci-key', 'tok-123456') })).status, 200);
      assert.equal((await call('DELETE', '/api/principal/ci-key')).status, 200);
      expectProblem(await call('GET', '/api/principal', { auth: 'Bearer tok-123456' }), 401);
    });
  });

  describe('principals', () => {
    it('POST creates and returns {"data": id}; a plain secret is stored hashed (argon2id) and never shown', async () => {
      const r = await call('POST', '/api/principal', { body: { type: 'individual', name: 'alice', secrets: ['alice-pw'], emails: ['Alice@Mana.Test'], description: 'Alice' } });
      assert.equal(r.status, 200);
      assert.equal(typeof r.body.data, 'number');
      const g = await call('GET', '/api/principal/alice');
      assert.equal(g.status, 200);
      assert.deepEqual(g.body.data, { id: r.body.data, type: 'individual', name: 'alice', description: 'Alice', secrets: ['[redacted argon2]'], emails: ['alice@mana.test'], roles: [], quota: 0 });
      const row = await t.ctx.store.get<{ secrets: string }>('SELECT secrets FROM mail_principals WHERE name = ?', ['alice']);
      assert.match(JSON.parse(row!.secrets)[0], /^\$argon2id\$/);
      assert.doesNotMatch(JSON.stringify(g.body), /alice-pw|argon2id\$/);
    });

    it('POST errors: duplicate name, unknown domain, address taken, missing/invalid fields, bad JSON', async () => {
      expectError(await call('POST', '/api/principal', { body: { type: 'individual', name: 'alice' } }), 409, { error: 'fieldAlreadyExists', field: 'name', value: 'alice' });
      expectError(await call('POST', '/api/principal', { body: { type: 'individual', name: 'bob', emails: ['bob@nowhere.example'] } }), 404, { error: 'notFound', item: 'nowhere.example' });
      expectError(await call('POST', '/api/principal', { body: { type: 'individual', name: 'bob', emails: ['alice@mana.test'] } }), 409, { error: 'fieldAlreadyExists', field: 'emails', value: 'alice@mana.test' });
      expectError(await call('POST', '/api/principal', { body: { type: 'individual' } }), 400, { error: 'fieldMissing', field: 'name' });
      expectError(await call('POST', '/api/principal', { body: { name: 'bob' } }), 400, { error: 'fieldMissing', field: 'type' });
      expectError(await call('POST', '/api/principal', { body: { type: 'superuser', name: 'bob' } }), 400, { error: 'fieldInvalid', field: 'type' });
      expectError(await call('POST', '/api/principal', { body: { type: 'individual', name: 'bob@mana.test' } }), 400, { error: 'fieldInvalid', field: 'name' });
      expectError(await call('POST', '/api/principal', { body: { type: 'individual', name: 'bob', emails: 'not-an-address' } }), 400, { error: 'fieldInvalid', field: 'emails' });
      expectError(await call('POST', '/api/principal', { body: { type: 'individual', name: 'bob', quota: -1 } }), 400, { error: 'fieldInvalid', field: 'quota' });
      expectError(await call('POST', '/api/principal', { body: [1, 2] }), 400, { error: 'fieldInvalid' });
      expectProblem(await call('POST', '/api/principal', { body: '{"type":"individual",' }), 400, /not valid JSON/);
      expectProblem(await call('POST', '/api/principal', { body: '' }), 400, /needs a JSON body/);
      assert.equal((await call('GET', '/api/principal/bob')).status, 404, 'nothing was created');
    });

    it('GET and DELETE of an unknown principal: 404 notFound', async () => {
      expectError(await call('GET', '/api/principal/nobody'), 404, { error: 'notFound', item: 'nobody' });
      expectError(await call('DELETE', '/api/principal/nobody'), 404, { error: 'notFound', item: 'nobody' });
      expectError(await call('PATCH', '/api/principal/nobody', { body: [{ action: 'set', field: 'roles', value: ['user'] }] }), 404, { error: 'notFound', item: 'nobody' });
    });

    it('PATCH set / addItem / removeItem on roles, emails, secrets, description, quota', async () => {
      const ops = [
        { action: 'set', field: 'roles', value: ['user'] },
        { action: 'addItem', field: 'roles', value: 'admin' },
        { action: 'addItem', field: 'emails', value: 'a.l@mana.test' },
        { action: 'set', field: 'description', value: 'Alice L.' },
        { action: 'set', field: 'quota', value: 1048576 },
        { action: 'addItem', field: 'secrets', value: 'second-pw' },
      ];
      assert.deepEqual((await call('PATCH', '/api/principal/alice', { body: ops })).body, { data: null });
      let p = (await call('GET', '/api/principal/alice')).body.data;
      assert.deepEqual([p.roles, p.emails, p.description, p.quota, p.secrets.length], [['user', 'admin'], ['alice@mana.test', 'a.l@mana.test'], 'Alice L.', 1048576, 2]);
      assert.equal((await call('GET', '/api/principal', { auth: basic('alice', 'second-pw') })).status, 200, 'the added secret works');
      const remove = [
        { action: 'removeItem', field: 'roles', value: 'admin' },
        { action: 'removeItem', field: 'emails', value: 'a.l@mana.test' },
        { action: 'removeItem', field: 'secrets', value: 'alice-pw' },
      ];
      assert.equal((await call('PATCH', '/api/principal/alice', { body: remove })).status, 200);
      p = (await call('GET', '/api/principal/alice')).body.data;
      assert.deepEqual([p.roles, p.emails, p.secrets.length], [['user'], ['alice@mana.test'], 1]);
      const addr = await t.ctx.store.get('SELECT 1 AS x FROM mail_addresses WHERE address = ?', ['a.l@mana.test']);
      assert.equal(addr, undefined, 'a removed address no longer routes to the account');
    });

    it('PATCH errors: bad action, unknown field, addItem on a single value, unknown domain (nothing applied), bad JSON', async () => {
      expectError(await call('PATCH', '/api/principal/alice', { body: [{ action: 'frobnicate', field: 'roles', value: ['x'] }] }), 400, { error: 'fieldInvalid', field: 'action', value: 'frobnicate' });
      expectError(await call('PATCH', '/api/principal/alice', { body: [{ action: 'set', field: 'colour', value: 'red' }] }), 400, { error: 'fieldInvalid', field: 'field', value: 'colour' });
      expectError(await call('PATCH', '/api/principal/alice', { body: [{ action: 'addItem', field: 'quota', value: 1 }] }), 400, { error: 'fieldInvalid', field: 'action' });
      expectError(await call('PATCH', '/api/principal/alice', { body: [{ field: 'roles', value: [] }] }), 400, { error: 'fieldMissing', field: 'action' });
      expectError(await call('PATCH', '/api/principal/alice', { body: [{ action: 'set', field: 'roles', value: ['x', 'bad role'] }] }), 400, { error: 'fieldInvalid', field: 'roles' });
      const atomic = [{ action: 'set', field: 'description', value: 'changed' }, { action: 'addItem', field: 'emails', value: 'alice@nowhere.example' }];
      expectError(await call('PATCH', '/api/principal/alice', { body: atomic }), 404, { error: 'notFound', item: 'nowhere.example' });
      assert.equal((await call('GET', '/api/principal/alice')).body.data.description, 'Alice L.', 'the whole patch was rolled back');
      expectProblem(await call('PATCH', '/api/principal/alice', { body: '[{"action":' }), 400, /not valid JSON/);
      expectError(await call('PATCH', '/api/principal/alice', { body: '"set"' }), 400, { error: 'fieldInvalid', field: 'body' });
    });

    it('PATCH set name renames the account and its addresses; a taken name is fieldAlreadyExists', async () => {
      expectError(await call('PATCH', '/api/principal/alice', { body: [{ action: 'set', field: 'name', value: 'clerk' }] }), 409, { error: 'fieldAlreadyExists', field: 'name', value: 'clerk' });
      assert.equal((await call('PATCH', '/api/principal/alice', { body: [{ action: 'set', field: 'name', value: 'alicia' }] })).status, 200);
      expectError(await call('GET', '/api/principal/alice'), 404, { error: 'notFound' });
      assert.deepEqual((await call('GET', '/api/principal/alicia')).body.data.emails, ['alice@mana.test']);
      const owner = await t.ctx.store.get<{ principal_name: string }>('SELECT principal_name FROM mail_addresses WHERE address = ?', ['alice@mana.test']);
      assert.equal(owner?.principal_name, 'alicia');
    });

    it('GET /api/principal lists with types, filter, page and limit -> {"data":{"items","total"}}', async () => {
      for (const n of ['p1', 'p2', 'p3']) assert.equal((await call('POST', '/api/principal', { body: { type: 'individual', name: `page-${n}` } })).status, 200);
      const all = (await call('GET', '/api/principal?types=individual&filter=page-')).body.data;
      assert.equal(all.total, 3);
      const page2 = (await call('GET', '/api/principal?types=individual&filter=page-&page=2&limit=2')).body.data;
      assert.equal(page2.total, 3);
      assert.deepEqual(page2.items.map((p: { name: string }) => p.name), ['page-p3']);
      const domains = (await call('GET', '/api/principal?types=domain')).body.data.items.map((p: { name: string }) => p.name);
      assert.ok(domains.includes('mana.test'), 'the domain made on first start is a domain principal');
      const byAddress = (await call('GET', '/api/principal?filter=alice@mana')).body.data.items.map((p: { name: string }) => p.name);
      assert.deepEqual(byAddress, ['alicia']);
      for (const item of (await call('GET', '/api/principal')).body.data.items) for (const s of item.secrets) assert.match(s, /^\[redacted /);
      expectError(await call('GET', '/api/principal?types=robot'), 400, { error: 'fieldInvalid', field: 'types' });
      expectProblem(await call('GET', '/api/principal?page=-1'), 400, /page/);
      expectProblem(await call('GET', '/api/principal?limit=ten'), 400, /limit/);
    });

    it('a domain principal makes the domain local; a domain with addresses is not deleted', async () => {
      assert.equal((await call('POST', '/api/principal', { body: { type: 'domain', name: 'Example.COM' } })).status, 200);
      const keys = ((await call('GET', '/api/dns/records/example.com')).body.data as Array<{ name: string; content: string }>).filter((r) => r.name.endsWith('._domainkey.example.com.'));
      assert.deepEqual(keys.map((k) => /k=(\w+)/.exec(k.content)?.[1]).sort(), ['ed25519', 'rsa'], 'a new domain gets an Ed25519 and an RSA key');
      expectError(await call('POST', '/api/principal', { body: { type: 'domain', name: 'example.com' } }), 409, { error: 'fieldAlreadyExists', field: 'name' });
      expectError(await call('POST', '/api/principal', { body: { type: 'domain', name: 'not a domain' } }), 400, { error: 'fieldInvalid', field: 'name' });
      assert.equal((await call('POST', '/api/principal', { body: { type: 'individual', name: 'carol', emails: ['carol@example.com'] } })).status, 200);
      expectError(await call('DELETE', '/api/principal/example.com'), 409, { error: 'other' });
      assert.equal((await call('DELETE', '/api/principal/carol')).status, 200);
      assert.equal((await call('DELETE', '/api/principal/example.com')).status, 200);
      assert.equal((await call('GET', '/api/dkim?domain=example.com')).body.data.total, 0, 'its keys go with it');
      expectError(await call('GET', '/api/dns/records/example.com'), 404, { error: 'notFound', item: 'example.com' });
      expectError(await call('POST', '/api/principal', { body: { type: 'individual', name: 'carol', emails: ['carol@example.com'] } }), 404, { error: 'notFound', item: 'example.com' });
    });
  });

  describe('cross-site requests (CSRF)', () => {
    /** A POST as a browser sends it: the cached Basic credentials of /ui, and the headers given. */
    const post = async (path: string, body: string, headers: Record<string, string>): Promise<Reply> => {
      const r = await fetch(`http://127.0.0.1:${mail.ports.admin}${path}`, { method: 'POST', headers: { authorization: ADMIN, ...headers }, body });
      const text = await r.text();
      let parsed: unknown = text;
      try { parsed = JSON.parse(text); } catch { /* not JSON */ }
      return { status: r.status, type: r.headers.get('content-type') ?? '', body: parsed, headers: r.headers };
    };
    // What <form enctype="text/plain"> with input name='{"type":..., "x":"' value='"}' sends.
    const formBody = (name: string) => `{"type":"individual","name":"${name}","secrets":["pw-123456789"],"roles":["admin"],"emails":[],"x":"=` + '"}';

    it('a text/plain form POST from another site is refused and creates nothing', async () => {
      const r = await post('/api/principal', formBody('evil1'), { 'content-type': 'text/plain', origin: 'https://attacker.example', 'sec-fetch-site': 'cross-site' });
      expectProblem(r, 403);
      const referer = await post('/api/principal', formBody('evil2'), { 'content-type': 'text/plain', referer: 'https://attacker.example/page' });
      expectProblem(referer, 403);
      const json = await post('/api/principal', JSON.stringify({ type: 'individual', name: 'evil3', roles: ['admin'] }), { 'content-type': 'application/json', origin: 'null' });
      expectProblem(json, 403);
      for (const name of ['evil1', 'evil2', 'evil3']) assert.equal((await call('GET', `/api/principal/${name}`)).status, 404, `${name} was not created`);
    });

    it('a body not declared JSON is 415 with a problem naming Content-Type: application/json, even without Origin', async () => {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
        const r = await post('/api/principal', formBody('evil4'), { 'content-type': type });
        expectProblem(r, 415, /Content-Type: application\/json/);
      }
      const none = await fetch(`http://127.0.0.1:${mail.ports.admin}/api/security/bans`, { method: 'POST', headers: { authorization: ADMIN }, body: new Blob(['{"ip":"192.0.2.9"}']) });
      assert.equal(none.status, 415);
      assert.equal((await call('GET', '/api/principal/evil4')).status, 404, 'nothing was created');
    });

    it('curl-style JSON (no Origin) and a same-origin JSON request still work; +json types count as JSON', async () => {
      const curl = await post('/api/principal', JSON.stringify({ type: 'individual', name: 'csrf-curl' }), { 'content-type': 'application/json; charset=utf-8' });
      assert.equal(curl.status, 200, JSON.stringify(curl.body));
      const same = await post('/api/principal', JSON.stringify({ type: 'individual', name: 'csrf-same' }), { 'content-type': 'application/json', origin: `http://127.0.0.1:${mail.ports.admin}` });
      assert.equal(same.status, 200, JSON.stringify(same.body));
      const plus = await post('/api/principal', JSON.stringify({ type: 'individual', name: 'csrf-plus' }), { 'content-type': 'application/merge-patch+json' });
      assert.equal(plus.status, 200, JSON.stringify(plus.body));
      for (const name of ['csrf-curl', 'csrf-same', 'csrf-plus']) assert.equal((await call('DELETE', `/api/principal/${name}`)).status, 200);
    });
  });

  describe('DKIM and DNS records', () => {
    it('POST /api/dkim makes a key; it is listed and published; retiring removes it from the records', async () => {
      const r = await call('POST', '/api/dkim', { body: { algorithm: 'Rsa', domain: 'mana.test', selector: 'rot2027' } });
      assert.equal(r.status, 200);
      assert.equal(r.body.data.selector, 'rot2027');
      assert.match(r.body.data.record.content, /^v=DKIM1; k=rsa; h=sha256; p=MII/);
      const listed = (await call('GET', '/api/dkim?domain=mana.test')).body.data;
      assert.ok(listed.items.some((k: { selector: string; status: string }) => k.selector === 'rot2027' && k.status === 'active'));
      assert.ok(listed.items.length >= 3, 'rotation: the first-start keys stay active beside the new one');
      const records = (await call('GET', '/api/dns/records/mana.test')).body.data as Array<{ type: string; name: string; content: string }>;
      assert.equal(records.find((x) => x.name === 'rot2027._domainkey.mana.test.')?.content, r.body.data.record.content);
      assert.deepEqual((await call('DELETE', '/api/dkim/mana.test/rot2027')).body, { data: null });
      const after = (await call('GET', '/api/dns/records/mana.test')).body.data as Array<{ name: string }>;
      assert.equal(after.some((x) => x.name === 'rot2027._domainkey.mana.test.'), false);
      expectError(await call('DELETE', '/api/dkim/mana.test/rot2027'), 404, { error: 'notFound' });
    });

    it('POST /api/dkim errors: unknown domain, missing domain, bad algorithm, bad selector, bad JSON', async () => {
      expectError(await call('POST', '/api/dkim', { body: { algorithm: 'Ed25519', domain: 'nowhere.example' } }), 404, { error: 'notFound', item: 'nowhere.example' });
      expectError(await call('POST', '/api/dkim', { body: { algorithm: 'Ed25519' } }), 400, { error: 'fieldMissing', field: 'domain' });
      expectError(await call('POST', '/api/dkim', { body: { domain: 'mana.test' } }), 400, { error: 'fieldMissing', field: 'algorithm' });
      expectError(await call('POST', '/api/dkim', { body: { algorithm: 'Dsa', domain: 'mana.test' } }), 400, { error: 'fieldInvalid', field: 'algorithm' });
      expectError(await call('POST', '/api/dkim', { body: { algorithm: 'Ed25519', domain: 'mana.test', selector: 'bad selector!' } }), 400, { error: 'fieldInvalid', field: 'selector' });
      expectProblem(await call('POST', '/api/dkim', { body: "{'algorithm':'Ed25519'}" }), 400, /not valid JSON/);
    });

    it('GET /api/dns/records: SPF carries the address the host name resolves to; an unknown domain is notFound', async () => {
      const records = (await call('GET', '/api/dns/records/mana.test')).body.data as Array<{ type: string; name: string; content: string }>;
      assert.equal(records.find((x) => x.type === 'TXT' && x.name === 'mana.test.')?.content, 'v=spf1 a mx ip4:198.51.100.20 ~all');
      assert.equal(records.find((x) => x.type === 'MX')?.content, '10 mail.mana.test.');
      assert.match(records.find((x) => x.name === '_mta-sts.mana.test.')?.content ?? '', /^v=STSv1; id=[0-9a-f]{20}$/);
      assert.equal(records.find((x) => x.name === '_smtp._tls.mana.test.')?.content, 'v=TLSRPTv1; rua=mailto:postmaster@mana.test');
      assert.equal(records.find((x) => x.name === '_submission._tcp.mana.test.')?.content, '0 1 587 mail.mana.test.');
      assert.ok(records.some((x) => x.name === '_imaps._tcp.mana.test.'));
      expectError(await call('GET', '/api/dns/records/nowhere.example'), 404, { error: 'notFound', item: 'nowhere.example' });
    });

    it('the MTA-STS policy is served to Host mta-sts.<local domain> without credentials (RFC 8461 §3.3)', async () => {
      const get = (host: string, path: string) => new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: mail.ports.admin, path, headers: { host } }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
        });
        req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
        req.on('error', reject).end();
      });
      const policy = await get('mta-sts.mana.test:8080', '/.well-known/mta-sts.txt');
      assert.equal(policy.status, 200);
      assert.match(policy.type, /^text\/plain/);
      assert.equal(policy.body, 'version: STSv1\r\nmode: testing\r\nmx: mail.mana.test\r\nmax_age: 604800\r\n');
      assert.equal((await get('mta-sts.mana.test', '/api/principal')).status, 404, 'that host serves only the policy');
      assert.equal((await get('mta-sts.nowhere.example', '/.well-known/mta-sts.txt')).status, 404, 'not for other domains');
    });
  });

  describe('queue, logs, reload, captured', () => {
    let id: string;

    before(async () => {
      id = await mail.queue.enqueue({ mailFrom: 'noreply@mana.test', recipients: [{ address: 'rcpt@example.org' }], raw: Buffer.from('Subject: q\r\n\r\nbody\r\n'), source: 'api' });
      // The delivery attempt fails (nothing listens on the MX port) and the recipient waits for its retry.
      for (let i = 0; i < 200; i++) {
        const r = await t.ctx.store.get<{ attempts: number }>('SELECT attempts FROM mail_recipients WHERE message_id = ?', [id]);
        if (Number(r?.attempts) > 0) break;
        await new Promise((res) => setTimeout(res, 50));
      }
    });

    it('GET /api/queue/messages lists waiting messages; {id} shows recipients and the timeline', async () => {
      const list = (await call('GET', '/api/queue/messages')).body.data;
      const item = list.items.find((m: { id: string }) => m.id === id);
      assert.ok(item, JSON.stringify(list));
      assert.equal(item.recipients[0].status, 'queued');
      assert.equal(item.recipients[0].retry_num, 1);
      const one = (await call('GET', `/api/queue/messages/${id}`)).body.data;
      assert.deepEqual(one.timeline.slice(0, 2).map((e: { type: string }) => e.type), ['received', 'queued']);
      assert.ok(one.timeline.some((e: { type: string }) => e.type === 'deferred'));
      assert.equal((await call('GET', '/api/queue/messages?text=RCPT@example')).body.data.total, 1);
      assert.equal((await call('GET', '/api/queue/messages?text=nobody@')).body.data.total, 0);
    });

    it('PATCH retries now, DELETE cancels; the timeline records both', async () => {
      assert.deepEqual((await call('PATCH', `/api/queue/messages/${id}`)).body, { data: true });
      assert.deepEqual((await call('DELETE', `/api/queue/messages/${id}`)).body, { data: true });
      assert.deepEqual((await call('DELETE', `/api/queue/messages/${id}`)).body, { data: false }, 'nothing left to cancel');
      const types = (await call('GET', `/api/queue/messages/${id}/timeline`)).body.data.map((e: { type: string }) => e.type);
      assert.ok(types.includes('retry') && types.includes('cancelled'), types.join(','));
      assert.equal((await call('GET', '/api/queue/messages?status=cancelled')).body.data.items[0].id, id);
    });

    it('queue errors: unknown message is notFound on every route; a bad status is fieldInvalid', async () => {
      for (const [method, path] of [['GET', '/api/queue/messages/nope'], ['PATCH', '/api/queue/messages/nope'], ['DELETE', '/api/queue/messages/nope'], ['GET', '/api/queue/messages/nope/timeline']]) {
        expectError(await call(method, path), 404, { error: 'notFound', item: 'nope' });
      }
      expectError(await call('GET', '/api/queue/messages?status=lost'), 400, { error: 'fieldInvalid', field: 'status' });
    });

    it('GET /api/logs reads the daily JSON log: filter, level, pages', async () => {
      const r = (await call('GET', '/api/logs?filter=mail.started')).body.data;
      assert.ok(r.total >= 1);
      assert.equal(r.items[0].event, 'mail.started');
      assert.equal(r.items[0].service, 'mail');
      const paged = (await call('GET', '/api/logs?limit=1&page=1')).body.data;
      assert.equal(paged.items.length, 1);
      assert.ok(paged.total > 1);
      const warn = (await call('GET', '/api/logs?level=warn')).body.data;
      assert.ok(warn.items.every((e: { level: string }) => ['warn', 'error', 'fatal'].includes(e.level)));
      expectError(await call('GET', '/api/logs?level=loud'), 400, { error: 'fieldInvalid', field: 'level' });
      expectProblem(await call('GET', '/api/logs?page=x'), 400, /page/);
    });

    it('GET /api/reload answers like Stalwart and keeps serving', async () => {
      assert.deepEqual((await call('GET', '/api/reload')).body, { data: { warnings: {}, errors: {} } });
    });

    it('captured mailbox routes: bad and unknown ids', async () => {
      assert.deepEqual((await call('GET', '/api/captured')).body, { data: { items: [] } });
      expectProblem(await call('GET', '/api/captured/abc'), 400);
      expectError(await call('GET', '/api/captured/999'), 404, { error: 'notFound', item: '999' });
    });

    it('bans: a bad address is fieldInvalid, an unknown one notFound; POST bans by hand', async () => {
      expectError(await call('DELETE', '/api/security/bans/not-an-ip'), 400, { error: 'fieldInvalid', field: 'ip' });
      expectError(await call('DELETE', '/api/security/bans/192.0.2.1'), 404, { error: 'notFound', item: '192.0.2.1' });
      expectError(await call('POST', '/api/security/bans', { body: {} }), 400, { error: 'fieldMissing', field: 'ip' });
      const b = await call('POST', '/api/security/bans', { body: { ip: '192.0.2.1', duration: 0 } });
      assert.equal(b.body.data.expiresAt, null);
      assert.equal((await call('GET', '/api/security/bans')).body.data.items[0].ip, '192.0.2.1');
      assert.equal((await call('DELETE', '/api/security/bans/192.0.2.1')).status, 200);
    });

    it('an unknown route is a 404 problem', async () => {
      expectProblem(await call('GET', '/api/nothing-here'), 404);
    });
  });
});
