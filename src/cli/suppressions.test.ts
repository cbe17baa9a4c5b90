// `mana suppressions` and `mana reports`: the suppression list (RFC 3464 hard bounces) and received DMARC (RFC 7489) / TLS (RFC 8460) reports from the command line.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeTestContext, type TestContext } from '../../test/support/context.ts';
import { suppressedAmong } from '../mail/bounces.ts';
import { saveReport, type DmarcReport } from '../mail/reports.ts';
import { run as suppressions } from './suppressions.ts';
import { run as reports } from './reports.ts';
import type { CliIo } from './args.ts';

describe('mana suppressions / mana reports', () => {
  let t: TestContext;
  const out: string[] = [];
  const err: string[] = [];
  let io: CliIo;
  const reset = () => { out.length = 0; err.length = 0; };

  before(async () => {
    t = await makeTestContext();
    io = { config: t.ctx.config, store: t.ctx.store, out: (s) => out.push(s), err: (s) => err.push(s) };
  });
  after(async () => t.cleanup());

  it('add, list and remove an address; the list is what delivery reads', async () => {
    reset();
    assert.equal(await suppressions(['list'], io), 0);
    assert.match(out.join('\n'), /no address is suppressed/);
    reset();
    assert.equal(await suppressions(['add', 'Gone@Example.org', '--reason', 'asked to stop'], io), 0);
    assert.match(out.join('\n'), /suppressed gone@example\.org/);
    assert.ok((await suppressedAmong(t.ctx.store, ['gone@example.org'])).has('gone@example.org'), 'delivery sees it');
    reset();
    assert.equal(await suppressions(['list'], io), 0);
    assert.match(out.join('\n'), /^gone@example\.org\s+asked to stop\s+\d{4}-/m);
    assert.match(out.join('\n'), /^1 of 1$/m);
    reset();
    assert.equal(await suppressions(['remove', 'gone@example.org'], io), 0);
    assert.equal((await suppressedAmong(t.ctx.store, ['gone@example.org'])).size, 0);
  });

  it('says what to fix: a bad address is a usage error (2), removing an unlisted one fails (1)', async () => {
    reset();
    assert.equal(await suppressions(['add', 'not-an-address'], io), 2);
    assert.match(err.join('\n'), /expected one email address/);
    reset();
    assert.equal(await suppressions(['remove', 'never@example.org'], io), 1);
    assert.match(err.join('\n'), /never@example\.org/);
    reset();
    assert.equal(await suppressions(['purge'], io), 2);
    assert.match(err.join('\n'), /unknown subcommand "purge"/);
  });

  it('lists DMARC reports with their summary and shows one whole', async () => {
    const report: DmarcReport = {
      kind: 'dmarc', org: 'google.com', reportId: 'r-1', domain: 'mana.test', begin: Date.UTC(2026, 10, 1), end: Date.UTC(2026, 10, 2),
      policy: { p: 'reject', sp: null, pct: 100 },
      records: [{ sourceIp: '192.0.2.1', count: 3, disposition: 'none', dkim: 'pass', spf: 'pass', headerFrom: 'mana.test' }],
    } as unknown as DmarcReport;
    assert.ok(await t.ctx.store.tx((q) => saveReport(q, report, { messageId: null, now: Date.now() })));
    reset();
    assert.equal(await reports(['dmarc'], io), 0);
    const line = out.join('\n');
    assert.match(line, /^\d+\s+google\.com\s+mana\.test\s+2026-11-01 \.\. 2026-11-02\s+3 messages, 3 passed, 0 failed \(p=reject\)$/m);
    const id = /^(\d+)\s+google\.com/m.exec(line)![1];
    reset();
    assert.equal(await reports(['dmarc', id, '--json'], io), 0);
    assert.equal(JSON.parse(out.join('\n')).reportId, 'r-1');
    reset();
    assert.equal(await reports(['tls'], io), 0);
    assert.match(out.join('\n'), /no tls report received yet/);
    reset();
    assert.equal(await reports(['dmarc', '999999'], io), 1);
    reset();
    assert.equal(await reports(['spf'], io), 2);
    assert.match(err.join('\n'), /unknown report kind "spf"/);
  });
});
