// Auto-ban over real sockets: ten failed AUTHs ban an address (421 at connect, security.ip-blocked logged) but not an allowed-ip one; bans survive a restart and are lifted by the API and the CLI.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { makeTestContext, type TestContext } from '../support/context.ts';
import { startMail, type RunningMail } from '../../src/mail/service.ts';
import { createLogger } from '../../src/lib/log.ts';
import { runSwaks, swaksArgs, SWAKS_EXIT, type SwaksResult } from '../support/swaks.ts';
import { run as securityCli } from '../../src/cli/security.ts';

const ATTACKER = '127.0.0.2';
const TRUSTED = '127.0.0.3';

describe('auto-ban (server.allowed-ip trusted, loopback bannable for the test)', () => {
  let t: TestContext;
  let mail: RunningMail;
  let auth: string;

  const api = async (method: string, path: string) => {
    const r = await fetch(`http://127.0.0.1:${mail.ports.admin}${path}`, { method, headers: { authorization: auth } });
    return { status: r.status, body: (await r.json()) as any };
  };

  const login = (from: string, password: string): Promise<SwaksResult> =>
    runSwaks(swaksArgs({ port: mail.ports.submission, tls: 'starttls', auth: 'PLAIN', user: 'victim', password, from: 'victim@mana.test', to: 'x@example.org', quitAfter: 'auth', extra: ['--local-interface', from] }));

  async function failTenTimes(from: string): Promise<void> {
    for (let i = 0; i < 10; i++) {
      const r = await login(from, `wrong-${i}`);
      assert.equal(r.code, SWAKS_EXIT.authError, r.transcript);
    }
    await mail.autoBan.idle();
  }

  const refused = (r: SwaksResult) => r.code === SWAKS_EXIT.bannerError && r.replies.some((l) => l.startsWith('421 4.7.0 '));

  before(async () => {
    t = await makeTestContext({
      overrides: { mail: { allowedIp: [`${TRUSTED}/32`], security: { banLoopback: true, authFailures: { count: 10, window: 3600 }, protocolErrors: { count: 5, window: 3600 }, relayAttempts: { count: 3, window: 3600 } } } },
      env: { MAIL_ADMIN_PASSWORD: 'admin-pw' },
    });
    t.ctx.log = createLogger({ dataDir: t.dataDir, service: 'mail', level: 'silent' });
    mail = await startMail(t.ctx);
    auth = `Basic ${Buffer.from('admin:admin-pw').toString('base64')}`;
    const r = await fetch(`http://127.0.0.1:${mail.ports.admin}/api/principal`, {
      method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'individual', name: 'victim', secrets: ['right-pw'], emails: ['victim@mana.test'], roles: ['user'] }),
    });
    assert.equal(r.status, 200);
  });

  after(async () => {
    await mail?.close();
    await t?.cleanup();
  });

  it('ten failed AUTHs from one address ban it: the next connection is refused with 421 and security.ip-blocked is logged', async () => {
    assert.equal((await login(ATTACKER, 'right-pw')).code, SWAKS_EXIT.ok, 'not banned before');
    await failTenTimes(ATTACKER);
    const r = await login(ATTACKER, 'right-pw');
    assert.ok(refused(r), r.transcript);

    const { body } = await api('GET', '/api/security/bans');
    const ban = body.data.items.find((b: { ip: string }) => b.ip === ATTACKER);
    assert.equal(ban?.reason, 'auth');
    assert.equal(ban?.hits, 10);

    let logged: any[] = [];
    for (let i = 0; i < 50 && !logged.length; i++) {
      logged = (await api('GET', '/api/logs?filter=security.ip-blocked')).body.data.items;
      if (!logged.length) await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal(logged[0]?.event, 'security.ip-blocked');
    assert.equal(logged[0]?.details.ip, ATTACKER);
  });

  it('an allowed-ip address doing the same is not banned', async () => {
    await failTenTimes(TRUSTED);
    for (let i = 0; i < 3; i++) assert.equal((await login(TRUSTED, `wrong-again-${i}`)).code, SWAKS_EXIT.authError);
    assert.equal((await login(TRUSTED, 'right-pw')).code, SWAKS_EXIT.ok);
    const { body } = await api('GET', '/api/security/bans');
    assert.equal(body.data.items.some((b: { ip: string }) => b.ip === TRUSTED), false);
  });

  it('a ban survives a restart (it is in the store)', async () => {
    await mail.close();
    mail = await startMail(t.ctx);
    assert.ok(refused(await login(ATTACKER, 'right-pw')));
  });

  it('DELETE /api/security/bans/{ip} lifts the ban', async () => {
    assert.equal((await api('DELETE', `/api/security/bans/${ATTACKER}`)).status, 200);
    assert.equal((await login(ATTACKER, 'right-pw')).code, SWAKS_EXIT.ok);
    const again = await api('DELETE', `/api/security/bans/${ATTACKER}`);
    assert.equal(again.status, 404);
    assert.deepEqual(again.body, { error: 'notFound', item: ATTACKER });
  });

  it('mana security bans / unban lift a ban from the command line', async () => {
    await failTenTimes(ATTACKER);
    assert.ok(refused(await login(ATTACKER, 'right-pw')));
    const out: string[] = [];
    const io = { config: t.ctx.config, store: t.ctx.store, out: (s: string) => out.push(s), err: (s: string) => out.push(s) };
    assert.equal(await securityCli(['bans'], io), 0);
    assert.match(out.join('\n'), new RegExp(`^${ATTACKER.replaceAll('.', '\\.')}\\s+auth\\s+10\\s`, 'm'));
    assert.equal(await securityCli(['unban', ATTACKER], io), 0);
    assert.equal((await login(ATTACKER, 'right-pw')).code, SWAKS_EXIT.ok);
    assert.equal(await securityCli(['unban', ATTACKER], io), 1, 'not banned any more');
  });

  it('relay attempts from one address ban it (RFC 5321 §3.6.2: no open relay)', async () => {
    const from = '127.0.0.5';
    for (let i = 0; i < 3; i++) {
      const r = await runSwaks(swaksArgs({ port: mail.ports.inbound, from: 'a@example.net', to: 'b@example.org', quitAfter: 'rcpt', extra: ['--local-interface', from] }));
      assert.ok(r.replies.some((l) => l.startsWith('550 5.7.1 Relay not allowed')), r.transcript);
    }
    await mail.autoBan.idle();
    const r = await runSwaks(swaksArgs({ port: mail.ports.inbound, from: 'a@example.net', to: 'victim@mana.test', quitAfter: 'rcpt', extra: ['--local-interface', from] }));
    assert.ok(refused(r), r.transcript);
  });

  it('unknown commands count as protocol errors (scan-ban) and ban the address', async () => {
    const from = '127.0.0.4';
    const talk = (lines: string[]) => new Promise<string>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: mail.ports.submission, localAddress: from });
      let got = '';
      s.setEncoding('utf8');
      s.setTimeout(10_000, () => s.destroy(new Error('timeout')));
      s.on('data', (d: string) => {
        got += d;
        if (/^220 /m.test(got) && lines.length) s.write(`${lines.shift()}\r\n`);
        else if (!lines.length && (got.match(/^\d{3} /gm) ?? []).length >= 1) s.end();
      });
      s.on('close', () => resolve(got));
      s.on('error', reject);
    });
    const first = await talk(['FOO', 'BAR', 'BAZ', 'QUX', 'QUUX', 'QUIT']);
    assert.equal((first.match(/^500 /gm) ?? []).length, 5, first);
    await mail.autoBan.idle();
    const second = await talk([]);
    assert.match(second, /^421 4\.7\.0 /m);
  });
});
