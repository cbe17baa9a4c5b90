// The web admin under /ui, through the admin app without a socket (app.request), and its auto-ban accounting over a real socket: Basic auth (RFC 7617), every page with seeded data, escaping, same-origin POSTs (CSRF), retry / cancel / unban / suppressions.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestContext, type TestContext } from '../../../../test/support/context.ts';
import { createAdminApp, startAdminHttp, type AdminOptions } from '../http.ts';
import { createQueue, type MailQueue } from '../../queue/queue.ts';
import { createCommitBatcher } from '../../../store/batch.ts';
import { createEvents } from '../../events.ts';
import { silentLogger } from '../../../lib/log.ts';
import { storeInMailbox, CAPTURE_MAILBOX } from '../../mailbox.ts';
import { addSuppression } from '../../bounces.ts';
import { saveReport, type DmarcReport, type TlsReport } from '../../reports.ts';
import { createAutoBan, type AutoBan } from '../../security/auto-ban.ts';
import { addDomain } from '../../accounts.ts';
import { createDkimKey, createSigningKeyCache } from '../../dkim/key-store.ts';
import { html, raw, escapeHtml } from './html.ts';
import { storeFactories } from '../../../../test/support/stores.ts';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ADMIN = basic('admin', 'ui-secret');
const SAME_ORIGIN = 'http://localhost';

const dmarcReport: DmarcReport = {
  kind: 'dmarc', org: 'google.com', email: 'noreply-dmarc-support@google.com', reportId: 'dmarc-4711', domain: 'mana.test',
  begin: Date.UTC(2026, 0, 1), end: Date.UTC(2026, 0, 2), errors: [],
  policy: { domain: 'mana.test', adkim: 'r', aspf: 'r', p: 'reject', sp: null, pct: 100, fo: null },
  records: [
    { sourceIp: '198.51.100.20', count: 7, disposition: 'none', dkim: 'pass', spf: 'pass', reasons: [], headerFrom: 'mana.test', envelopeFrom: 'mana.test', envelopeTo: null, dkimResults: [{ domain: 'mana.test', selector: 'mana2026', result: 'pass' }], spfResults: [{ domain: 'mana.test', scope: 'mfrom', result: 'pass' }] },
    { sourceIp: '203.0.113.9', count: 2, disposition: 'reject', dkim: 'fail', spf: 'fail', reasons: [], headerFrom: 'mana.test', envelopeFrom: 'spoof.example', envelopeTo: null, dkimResults: [], spfResults: [{ domain: 'spoof.example', scope: 'mfrom', result: 'fail' }] },
  ],
};

const tlsReport: TlsReport = {
  kind: 'tls', org: 'Microsoft Corporation', contact: 'tlsrpt@microsoft.com', reportId: 'tls-0815', domain: 'mana.test',
  begin: Date.UTC(2026, 0, 3), end: Date.UTC(2026, 0, 4),
  policies: [{
    policyType: 'sts', policyString: ['version: STSv1', 'mode: enforce', 'mx: mail.mana.test', 'max_age: 86400'], policyDomain: 'mana.test', mxHost: ['mail.mana.test'], successful: 40, failed: 3,
    failures: [{ resultType: 'certificate-expired', sendingMtaIp: '192.0.2.7', receivingMxHostname: 'mail.mana.test', receivingMxHelo: null, receivingIp: '198.51.100.20', failedSessions: 3, additionalInformation: null, failureReasonCode: null }],
  }],
};

const CAPTURED = [
  'From: App <app@mana.test>',
  'To: alice@example.org',
  'Subject: Welcome <script>alert(1)</script>',
  'Message-ID: <cap-1@mana.test>',
  'MIME-Version: 1.0',
  'Content-Type: multipart/alternative; boundary="b1"',
  '',
  '--b1',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Hello Alice, confirm here: https://app.example/verify?t=1 <img src=x onerror=alert(2)>',
  '--b1',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p>Hello <b id="html-part">Alice</b></p>',
  '--b1--',
  '',
].join('\r\n');

for (const factory of storeFactories()) describe(`web admin /ui (${factory.name})`, () => {
  let t: TestContext;
  let closeStore: () => Promise<void>;
  let queue: MailQueue;
  let security: AutoBan;
  let options: AdminOptions;
  let app: ReturnType<typeof createAdminApp>;
  let evilId: string;
  let plainId: string;
  let capturedId: number;
  let dmarcId: number;
  let tlsId: number;

  const get = (path: string, headers: Record<string, string> = {}) => app.request(path, { headers: { authorization: ADMIN, ...headers } });
  const post = (path: string, form: Record<string, string> = {}, headers: Record<string, string> = { origin: SAME_ORIGIN }) =>
    app.request(path, { method: 'POST', body: new URLSearchParams(form).toString(), headers: { authorization: ADMIN, 'content-type': 'application/x-www-form-urlencoded', ...headers } });
  const text = async (path: string) => {
    const r = await get(path);
    assert.equal(r.status, 200, `${path}: ${r.status}`);
    assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
    return r.text();
  };

  before(async () => {
    const opened = await factory.open();
    closeStore = opened.cleanup;
    t = await makeTestContext({
      store: opened.store,
      env: { MAIL_ADMIN_PASSWORD: 'ui-secret' },
      overrides: { mail: { security: { banLoopback: true, authFailures: { count: 3, window: 3600 } } } },
    });
    const store = t.ctx.store;
    const events = createEvents({ log: silentLogger(), subscribers: [] });
    queue = createQueue({ store, batcher: createCommitBatcher(store), events, retrySchedule: [3600], expireAfterMs: 86400_000, delayNoticeAfterMs: 3600_000, leaseMs: 60_000 });
    security = createAutoBan({ store, log: silentLogger(), allowedIp: [], scanBan: true, limits: t.ctx.config.mail.security });
    options = {
      ctx: t.ctx, queue, security,
      signingKeys: createSigningKeyCache({ store }),
      tls: { key: '', cert: '', selfSigned: true },
      addresses: async () => ({ ipv4: ['198.51.100.20'], ipv6: [] }),
    };
    app = createAdminApp(options);

    evilId = await queue.enqueue({ mailFrom: 'evil<script>alert(1)</script>@x.test', recipients: [{ address: 'victim@example.org' }], raw: Buffer.from('Subject: x\r\n\r\nx\r\n'), source: 'api' });
    await new Promise((r) => setTimeout(r, 5)); // a later received time, for the newest-first order
    plainId = await queue.enqueue({ mailFrom: 'noreply@mana.test', recipients: [{ address: 'a@example.org' }, { address: 'b@example.net' }], raw: Buffer.from('Subject: hi\r\n\r\nbody\r\n'), source: 'submission', authUser: 'noreply' });
    // An attempt as the delivery loop records it: MX host, IP, TLS version and reply land in the timeline.
    await store.tx(async (q) => {
      await events.record(q, { messageId: plainId, rcpt: 'a@example.org', type: 'attempt', data: { attempt: 1, status: 'delivered', code: 250, reply: '2.0.0 Ok: queued as 4711', mx: 'mx1.example.org', ip: '192.0.2.25', tls: 'TLSv1.3' } });
      await events.record(q, { messageId: plainId, rcpt: 'a@example.org', type: 'delivered', data: { code: 250, reply: '2.0.0 Ok: queued as 4711' } });
      await q.run("UPDATE mail_recipients SET status = 'delivered', last_code = 250, last_reply = '2.0.0 Ok: queued as 4711' WHERE message_id = ? AND rcpt = ?", [plainId, 'a@example.org']);
    });
    capturedId = await storeInMailbox(store, { mailbox: CAPTURE_MAILBOX, queueId: plainId, mailFrom: 'app@mana.test', rcpt: 'alice@example.org', raw: Buffer.from(CAPTURED) });
    await store.tx((q) => addSuppression(q, { address: 'gone@example.org', reason: 'hard-bounce', sourceMessageId: plainId, now: Date.now() }));
    await security.ban('203.0.113.66', { durationSeconds: 0 });
    await store.tx(async (q) => {
      await saveReport(q, dmarcReport, { messageId: null, now: Date.now() });
      await saveReport(q, tlsReport, { messageId: null, now: Date.now() });
    });
    dmarcId = Number((await store.get<{ id: number }>("SELECT id FROM mail_reports WHERE kind = 'dmarc'"))!.id);
    tlsId = Number((await store.get<{ id: number }>("SELECT id FROM mail_reports WHERE kind = 'tls'"))!.id);
    await store.tx(async (q) => {
      await addDomain(q, 'mana.test');
      await createDkimKey(q, { domain: 'mana.test', algorithm: 'ed25519', selector: 'mana2026' });
    });
  });
  after(async () => {
    await t?.cleanup();
    await closeStore?.();
  });

  describe('html helper', () => {
    it('escapes every interpolation (HTML 5 §13.1), keeps raw() and nested html, joins arrays, drops null/false', () => {
      assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
      const v = '<script>"x"</script>';
      assert.equal(html`<p title="${v}">${v}</p>`.value, '<p title="&lt;script&gt;&quot;x&quot;&lt;/script&gt;">&lt;script&gt;&quot;x&quot;&lt;/script&gt;</p>');
      assert.equal(html`<i>${raw('<b>ok</b>')}${html`<u>${'<'}</u>`}${['<', 1]}${null}${undefined}${false}${0}</i>`.value, '<i><b>ok</b><u>&lt;</u>&lt;10</i>');
    });
  });

  describe('authentication (the API check, RFC 7617)', () => {
    it('no credentials: 401 with a Basic challenge only, as an HTML page', async () => {
      for (const path of ['/ui', '/ui/queue', '/ui/captured/1']) {
        const r = await app.request(path);
        assert.equal(r.status, 401, path);
        assert.equal(r.headers.get('www-authenticate'), 'Basic realm="mana mail admin", charset="UTF-8"');
        assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
        assert.match(await r.text(), /Unauthorized/);
      }
      assert.equal((await app.request('/ui/queue/x/retry', { method: 'POST', headers: { origin: SAME_ORIGIN } })).status, 401);
    });

    it('wrong password: 401; an account without role admin: 401', async () => {
      assert.equal((await app.request('/ui/queue', { headers: { authorization: basic('admin', 'nope') } })).status, 401);
      assert.equal((await app.request('/ui/queue', { headers: { authorization: basic('nobody', 'ui-secret') } })).status, 401);
    });

    it('failed logins at /ui count for auto-ban like the API; a banned address gets 403 at /ui and /api', async () => {
      const server = await startAdminHttp(options);
      try {
        const base = `http://127.0.0.1:${server.port}`;
        assert.equal((await fetch(`${base}/ui/queue`, { headers: { authorization: ADMIN } })).status, 200);
        for (let i = 0; i < 3; i++) assert.equal((await fetch(`${base}/ui/queue`, { headers: { authorization: basic('admin', `wrong-${i}`) } })).status, 401);
        await security.idle();
        const r = await fetch(`${base}/ui/queue`, { headers: { authorization: ADMIN } });
        assert.equal(r.status, 403);
        assert.match(await r.text(), /Too many errors/);
        assert.equal((await fetch(`${base}/api/queue/messages`, { headers: { authorization: ADMIN } })).status, 403);
        assert.ok((await security.list()).some((b) => b.ip === '127.0.0.1' && b.reason === 'auth'));
      } finally {
        await security.unban('127.0.0.1');
        await server.close();
      }
    });
  });

  it('/ui redirects to the queue; unknown pages are an HTML 404', async () => {
    const r = await get('/ui');
    assert.equal(r.status, 302);
    assert.equal(r.headers.get('location'), '/ui/queue');
    const nf = await get('/ui/nope');
    assert.equal(nf.status, 404);
    assert.match(await nf.text(), /Page not found/);
    assert.equal((await get('/ui/queue/nosuchid')).status, 404);
    assert.equal((await get('/ui/captured/999999')).status, 404);
    assert.equal((await get('/ui/reports/dmarc/999999')).status, 404);
    assert.equal((await get('/ui/reports/spf/1')).status, 404);
  });

  it('pages carry CSP, X-Frame-Options DENY, Referrer-Policy same-origin and load no script', async () => {
    const r = await get('/ui/queue');
    assert.equal(r.headers.get('content-security-policy'), "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    assert.equal(r.headers.get('x-frame-options'), 'DENY');
    assert.equal(r.headers.get('referrer-policy'), 'same-origin');
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    const body = await r.text();
    assert.doesNotMatch(body, /<script/i);
    for (const label of ['Queue', 'Captured', 'Suppressions', 'Bans', 'Reports', 'DNS']) assert.match(body, new RegExp(`<a href="/ui/\\w+"[^>]*>${label}</a>`));
  });

  describe('queue', () => {
    it('lists recent messages with each recipient and its status, newest first; filters by status', async () => {
      const body = await text('/ui/queue');
      assert.ok(body.indexOf(plainId) < body.indexOf(evilId), 'newest first');
      assert.match(body, new RegExp(`href="/ui/queue/${plainId}"`));
      assert.match(body, /a@example\.org <span class="st st-delivered">delivered<\/span>/);
      assert.match(body, /b@example\.net <span class="st st-queued">queued<\/span>/);
      assert.match(body, /noreply@mana\.test/);
      const delivered = await text('/ui/queue?status=delivered');
      assert.match(delivered, new RegExp(plainId));
      assert.doesNotMatch(delivered, new RegExp(evilId));
      assert.match(delivered, /<option value="delivered" selected>/);
      const byText = await text('/ui/queue?text=victim');
      assert.match(byText, new RegExp(evilId));
      assert.doesNotMatch(byText, new RegExp(plainId));
    });

    it('a return path with <script> is shown escaped, never as markup', async () => {
      const body = await text('/ui/queue');
      assert.match(body, /evil&lt;script&gt;alert\(1\)&lt;\/script&gt;@x\.test/);
      assert.doesNotMatch(body, /<script/i);
      const detail = await text(`/ui/queue/${evilId}`);
      assert.match(detail, /evil&lt;script&gt;/);
      assert.doesNotMatch(detail, /<script/i);
    });

    it('a message shows its recipients and every timeline event with its data (MX host, IP, TLS version, reply)', async () => {
      const body = await text(`/ui/queue/${plainId}`);
      for (const type of ['received', 'queued', 'attempt', 'delivered']) assert.match(body, new RegExp(`st-${type}">${type}<`), type);
      for (const v of ['mx1.example.org', '192.0.2.25', 'TLSv1.3', '2.0.0 Ok: queued as 4711', 'noreply']) assert.ok(body.includes(v), v);
      assert.match(body, /<td>b@example\.net<\/td><td><span class="st st-queued">queued<\/span>/);
      assert.match(body, /<form class="inline" method="post" action="\/ui\/queue\/[0-9a-z]+\/retry"><button type="submit">Retry now<\/button>/);
    });

    it('Retry makes waiting recipients due (retry in the timeline); Cancel cancels them; both redirect back (RFC 9110 §15.4.4)', async () => {
      const r = await post(`/ui/queue/${plainId}/retry`);
      assert.equal(r.status, 303);
      assert.equal(r.headers.get('location'), `/ui/queue/${plainId}?notice=retried`);
      const after = await text(r.headers.get('location')!);
      assert.match(after, /st-retry">retry</);
      assert.match(after, /Every waiting recipient is due now/);
      const c = await post(`/ui/queue/${plainId}/cancel`);
      assert.equal(c.status, 303);
      assert.equal(c.headers.get('location'), `/ui/queue/${plainId}?notice=cancelled`);
      const row = await t.ctx.store.get<{ status: string }>('SELECT status FROM mail_recipients WHERE message_id = ? AND rcpt = ?', [plainId, 'b@example.net']);
      assert.equal(row!.status, 'cancelled');
      const page = await text(`/ui/queue/${plainId}?notice=cancelled`);
      assert.match(page, /st-cancelled">cancelled</);
      assert.match(page, /<button type="submit" disabled>Retry now<\/button>/);
      const again = await post(`/ui/queue/${plainId}/retry`);
      assert.equal(again.headers.get('location'), `/ui/queue/${plainId}?notice=retry-none`);
      assert.equal((await post('/ui/queue/nosuchid/cancel')).status, 404);
    });

    it('a notice is shown only for known keys; nothing is reflected from the URL', async () => {
      const body = await text(`/ui/queue/${plainId}?notice=%3Cb%3Eowned`);
      assert.doesNotMatch(body, /owned/);
    });
  });

  describe('CSRF: a POST must come from this origin', () => {
    it('no Origin and no Referer, another origin, Origin null, another port: 403, nothing changes', async () => {
      const before = await t.ctx.store.get<{ n: number }>('SELECT COUNT(*) AS n FROM mail_events WHERE message_id = ?', [evilId]);
      const refused: Array<Record<string, string>> = [{}, { origin: 'https://evil.example' }, { origin: 'null' }, { origin: 'http://localhost:8081' }, { referer: 'https://evil.example/ui/queue' }, { origin: 'https://evil.example', referer: 'http://localhost/ui/queue' }];
      for (const headers of refused) {
        const r = await post(`/ui/queue/${evilId}/cancel`, {}, headers);
        assert.equal(r.status, 403, JSON.stringify(headers));
        assert.match(await r.text(), /not sent from the admin pages/);
      }
      const after = await t.ctx.store.get<{ n: number }>('SELECT COUNT(*) AS n FROM mail_events WHERE message_id = ?', [evilId]);
      assert.equal(Number(after!.n), Number(before!.n));
      assert.equal((await post('/ui/suppressions', { address: 'x@example.org' }, { origin: 'https://evil.example' })).status, 403);
      assert.equal((await post('/ui/bans/lift', { ip: '203.0.113.66' }, {})).status, 403);
    });

    it('a same-origin Referer (no Origin) is accepted; the Host header is what is compared', async () => {
      const r = await post(`/ui/queue/${evilId}/retry`, {}, { referer: 'http://localhost/ui/queue' });
      assert.equal(r.status, 303);
      const h = await post(`/ui/queue/${evilId}/retry`, {}, { host: 'admin.mana.test:8080', origin: 'https://admin.mana.test:8080' });
      assert.equal(h.status, 303);
    });
  });

  describe('captured mail', () => {
    it('lists the capture mailbox newest first with the subject escaped', async () => {
      const second = await storeInMailbox(t.ctx.store, { mailbox: CAPTURE_MAILBOX, queueId: evilId, mailFrom: 'app@mana.test', rcpt: 'bob@example.org', raw: Buffer.from('Subject: Second\r\n\r\nhi\r\n') });
      const body = await text('/ui/captured');
      assert.ok(body.indexOf(`href="/ui/captured/${second}"`) < body.indexOf(`href="/ui/captured/${capturedId}"`), 'newest first');
      assert.match(body, /Welcome &lt;script&gt;alert\(1\)&lt;\/script&gt;/);
      assert.match(body, /alice@example\.org/);
      assert.doesNotMatch(body, /<script/i);
      const filtered = await text('/ui/captured?rcpt=bob@example.org');
      assert.match(filtered, /Second/);
      assert.doesNotMatch(filtered, /Welcome/);
    });

    it('shows the header and the text part escaped in <pre>, never the HTML part; links the raw .eml', async () => {
      const body = await text(`/ui/captured/${capturedId}`);
      assert.match(body, /<pre>[^]*Subject: Welcome &lt;script&gt;alert\(1\)&lt;\/script&gt;[^]*<\/pre>/);
      assert.match(body, /Message-ID: &lt;cap-1@mana\.test&gt;/);
      assert.match(body, /<pre>Hello Alice, confirm here: https:\/\/app\.example\/verify\?t=1 &lt;img src=x onerror=alert\(2\)&gt;/);
      assert.doesNotMatch(body, /<script|<img|id="html-part"/i);
      assert.match(body, /also has an HTML part; it is not shown/);
      assert.match(body, new RegExp(`href="/ui/captured/${capturedId}/raw"`));
      const eml = await get(`/ui/captured/${capturedId}/raw`);
      assert.equal(eml.status, 200);
      assert.equal(eml.headers.get('content-type'), 'message/rfc822');
      assert.match(eml.headers.get('content-disposition') ?? '', /^attachment; filename="captured-\d+\.eml"$/);
      assert.equal(await eml.text(), CAPTURED);
    });
  });

  describe('suppressions', () => {
    it('lists the list; Add puts an address on it (as POST /api/suppressions); Remove takes it off', async () => {
      let body = await text('/ui/suppressions');
      assert.match(body, /gone@example\.org/);
      assert.match(body, /hard-bounce/);
      const add = await post('/ui/suppressions', { address: ' Someone@Example.org ', reason: 'asked <us>' });
      assert.equal(add.status, 303);
      assert.equal(add.headers.get('location'), '/ui/suppressions?notice=added');
      body = await text('/ui/suppressions?notice=added');
      assert.match(body, /someone@example\.org/);
      assert.match(body, /asked &lt;us&gt;/);
      assert.equal((await post('/ui/suppressions', { address: 'not an address' })).headers.get('location'), '/ui/suppressions?notice=bad-address');
      const rm = await post('/ui/suppressions/remove', { address: 'someone@example.org' });
      assert.equal(rm.headers.get('location'), '/ui/suppressions?notice=removed');
      assert.equal(await t.ctx.store.get('SELECT 1 AS x FROM mail_suppressions WHERE address = ?', ['someone@example.org']), undefined);
      assert.equal((await post('/ui/suppressions/remove', { address: 'someone@example.org' })).headers.get('location'), '/ui/suppressions?notice=not-listed');
    });
  });

  describe('bans', () => {
    it('lists bans in force; Lift lifts one (as DELETE /api/security/bans/IP)', async () => {
      let body = await text('/ui/bans');
      assert.match(body, /203\.0\.113\.66/);
      assert.match(body, /until lifted/);
      const r = await post('/ui/bans/lift', { ip: '203.0.113.66' });
      assert.equal(r.status, 303);
      assert.equal(r.headers.get('location'), '/ui/bans?notice=lifted');
      assert.equal((await security.list()).some((b) => b.ip === '203.0.113.66'), false);
      body = await text('/ui/bans?notice=lifted');
      assert.match(body, /No address is banned/);
      assert.equal((await post('/ui/bans/lift', { ip: '203.0.113.66' })).headers.get('location'), '/ui/bans?notice=not-banned');
    });
  });

  describe('reports', () => {
    it('lists DMARC (RFC 7489) and TLS (RFC 8460) reports with their summaries', async () => {
      const body = await text('/ui/reports');
      assert.match(body, new RegExp(`href="/ui/reports/dmarc/${dmarcId}">google\\.com</a>`));
      assert.match(body, /dmarc-4711[^]*<td>9<\/td><td>7<\/td><td><span class="st st-fail">2<\/span><\/td><td>reject<\/td>/);
      assert.match(body, new RegExp(`href="/ui/reports/tls/${tlsId}">Microsoft Corporation</a>`));
      assert.match(body, /tls-0815[^]*<td>40<\/td><td><span class="st st-fail">3<\/span><\/td><td>1<\/td>/);
      assert.doesNotMatch(await text('/ui/reports?domain=other.test'), /dmarc-4711/);
    });

    it('shows one report as tables', async () => {
      const d = await text(`/ui/reports/dmarc/${dmarcId}`);
      assert.match(d, /<td class="mono">203\.0\.113\.9<\/td><td>2<\/td><td>reject<\/td>/);
      assert.match(d, /p=reject/);
      assert.match(d, /mana\.test \(mana2026\): pass/);
      const t2 = await text(`/ui/reports/tls/${tlsId}`);
      assert.match(t2, /certificate-expired/);
      assert.match(t2, /mode: enforce/);
      assert.match(t2, /<td>sts<\/td><td>mana\.test<\/td><td>mail\.mana\.test<\/td><td>40<\/td><td>3<\/td>/);
    });
  });

  describe('DNS', () => {
    it('lists the local domains and shows the records to publish, with a zone file to copy', async () => {
      assert.match(await text('/ui/dns'), /href="\/ui\/dns\/mana\.test">mana\.test<\/a>/);
      const body = await text('/ui/dns/mana.test');
      assert.match(body, /<td>MX<\/td><td class="mono copy">mana\.test\.?<\/td>/);
      assert.match(body, /mana2026\._domainkey\.mana\.test/);
      assert.match(body, /v=spf1/);
      assert.match(body, /198\.51\.100\.20/);
      assert.match(body, /<textarea readonly[^>]*>[^<]*_dmarc\.mana\.test/);
      assert.equal((await get('/ui/dns/not-ours.example')).status, 404);
    });
  });
});
