// `mana logs`: the daily JSON log files read as GET /api/logs reads them, filtered, oldest first, and followed across the daily file change.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestContext, type TestContext } from '../../test/support/context.ts';
import { poll } from '../../test/support/poll.ts';
import { createLogger } from '../lib/log.ts';
import { run as logs } from './logs.ts';
import type { CliIo } from './args.ts';

/** A line as pino writes it to logs/<service>.log.YYYY-MM-DD. */
function line(o: { time: string; level: number; service: string; msg: string; [k: string]: unknown }): string {
  const { time, level, service, msg, ...rest } = o;
  return JSON.stringify({ level, time, pid: 4242, hostname: 'test', service, ...rest, msg }) + '\n';
}

/** The EVENT column of a text line. */
const eventOf = (l: string) => l.split(/ +/)[3];

describe('mana logs', () => {
  let t: TestContext;
  let dir: string;
  const out: string[] = [];
  const err: string[] = [];
  let io: CliIo;
  const reset = () => { out.length = 0; err.length = 0; };

  before(async () => {
    t = await makeTestContext();
    dir = join(t.dataDir, 'logs');
    mkdirSync(dir, { recursive: true });
    io = { config: t.ctx.config, store: t.ctx.store, out: (s) => out.push(s), err: (s) => err.push(s) };
    writeFileSync(join(dir, 'mail.log.2031-03-01'), [
      line({ time: '2031-03-01T10:00:00.000Z', level: 30, service: 'mail', msg: 'mail.queued', queueId: 'q1abc', rcpt: 'a@example.org', size: 120 }),
      line({ time: '2031-03-01T10:00:01.000Z', level: 40, service: 'mail', msg: 'mail.deferred', queueId: 'q1abc', rcpt: 'a@example.org', code: 451, reply: '4.7.1 try again later' }),
      line({ time: '2031-03-01T10:00:02.000Z', level: 30, service: 'mail', msg: 'mail.queued', queueId: 'q2def', rcpt: 'b@example.org' }),
    ].join(''));
    writeFileSync(join(dir, 'notify.log.2031-03-01'), [
      line({ time: '2031-03-01T10:00:00.500Z', level: 50, service: 'notify', msg: 'notify.provider_failed', err: { message: 'connect ECONNREFUSED 127.0.0.1:587' } }),
      '{"level":30,"time":"2031-03-01T10:00:0', // cut by a crash mid-write, no newline yet
    ].join(''));
    writeFileSync(join(dir, 'not-a-log.txt'), 'ignored\n');
  });
  after(async () => t.cleanup());

  it('prints every service oldest first as TIME LEVEL SERVICE EVENT key=value, quoting values with spaces', async () => {
    reset();
    assert.equal(await logs([], io), 0);
    assert.deepEqual(out, [
      '2031-03-01T10:00:00.000Z info  mail   mail.queued queueId=q1abc rcpt=a@example.org size=120',
      '2031-03-01T10:00:00.500Z error notify notify.provider_failed err={"message":"connect ECONNREFUSED 127.0.0.1:587"}',
      '2031-03-01T10:00:01.000Z warn  mail   mail.deferred queueId=q1abc rcpt=a@example.org code=451 reply="4.7.1 try again later"',
      '2031-03-01T10:00:02.000Z info  mail   mail.queued queueId=q2def rcpt=b@example.org',
    ]);
    assert.deepEqual(err, []);
  });

  it('--service, --level, --grep and --queue narrow the lines; --lines keeps the newest N', async () => {
    reset();
    assert.equal(await logs(['--service', 'notify'], io), 0);
    assert.deepEqual(out.map(eventOf), ['notify.provider_failed']);
    reset();
    assert.equal(await logs(['--level', 'warn'], io), 0);
    assert.deepEqual(out.map(eventOf), ['notify.provider_failed', 'mail.deferred']);
    reset();
    assert.equal(await logs(['--grep', 'B@EXAMPLE.ORG'], io), 0);
    assert.deepEqual(out.map(eventOf), ['mail.queued']);
    assert.match(out[0], /queueId=q2def/);
    reset();
    assert.equal(await logs(['--queue', 'q1abc'], io), 0);
    assert.deepEqual(out.map(eventOf), ['mail.queued', 'mail.deferred']);
    reset();
    assert.equal(await logs(['--queue', 'q1ab'], io), 0, 'a prefix of a queue id is another id');
    assert.equal(out.length, 0);
    assert.match(err.join('\n'), /no log lines match/);
    reset();
    assert.equal(await logs(['--lines', '2'], io), 0);
    assert.deepEqual(out.map((l) => l.slice(0, 24)), ['2031-03-01T10:00:01.000Z', '2031-03-01T10:00:02.000Z']);
  });

  it('--json prints the lines as written', async () => {
    reset();
    assert.equal(await logs(['--json', '--service', 'mail', '--lines', '1'], io), 0);
    assert.equal(out.length, 1);
    assert.equal(out[0] + '\n', line({ time: '2031-03-01T10:00:02.000Z', level: 30, service: 'mail', msg: 'mail.queued', queueId: 'q2def', rcpt: 'b@example.org' }));
  });

  it('a wrong option is a usage error (exit 2)', async () => {
    for (const args of [['--service', 'imap'], ['--level', 'loud'], ['--lines', '-1'], ['--lines', 'x'], ['extra']]) {
      reset();
      assert.equal(await logs(args, io), 2, args.join(' '));
      assert.match(err.join('\n'), /Usage:/);
    }
  });

  it('reads what the project logger writes', async () => {
    const log = createLogger({ dataDir: t.dataDir, service: 'auth', level: 'silent' });
    log.info({ user: 'u1', path: '/sign in' }, 'auth.signed_in');
    log.debug({ user: 'u1' }, 'auth.debug_only');
    await poll('the auth line in the daily file', async () => {
      reset();
      await logs(['--service', 'auth'], io);
      return out.length ? out : undefined;
    }, 5_000);
    assert.equal(out.length, 1);
    assert.match(out[0], /^\d{4}-\d\d-\d\dT\S+Z info  auth   auth\.signed_in user=u1 path="\/sign in"$/);
  });

  it('--follow prints appended lines, a line written in two parts once, and the next day\'s file; stops on abort', async () => {
    const stop = new AbortController();
    const seen: string[] = [];
    const fio: CliIo = { ...io, out: (s) => seen.push(s) };
    const done = logs(['--follow', '--service', 'mail', '--lines', '1'], fio, { signal: stop.signal, pollMs: 20 });
    try {
      await poll('the last existing line', async () => (seen.length ? true : undefined), 5_000);
      assert.equal(seen.length, 1);
      assert.match(seen[0], /queueId=q2def/);

      appendFileSync(join(dir, 'mail.log.2031-03-01'), line({ time: '2031-03-01T23:59:59.000Z', level: 30, service: 'mail', msg: 'mail.delivered', queueId: 'q2def', rcpt: 'b@example.org' }));
      await poll('the appended line', async () => (seen.length === 2 ? true : undefined), 5_000);
      assert.match(seen[1], /^2031-03-01T23:59:59\.000Z info  mail   mail\.delivered queueId=q2def/);

      // The daily change: the logger opens tomorrow's file and writes there; a line may land in two writes.
      const next = line({ time: '2031-03-02T00:00:00.100Z', level: 50, service: 'mail', msg: 'delivery.crashed', queueId: 'q3ghi' });
      appendFileSync(join(dir, 'mail.log.2031-03-02'), next.slice(0, 30));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(seen.length, 2, 'half a line is not printed');
      appendFileSync(join(dir, 'mail.log.2031-03-02'), next.slice(30));
      await poll('the line in the next day\'s file', async () => (seen.length === 3 ? true : undefined), 5_000);
      assert.match(seen[2], /^2031-03-02T00:00:00\.100Z error mail   delivery\.crashed queueId=q3ghi$/);

      // Other services' files are not followed when --service is given.
      appendFileSync(join(dir, 'notify.log.2031-03-02'), line({ time: '2031-03-02T00:00:01.000Z', level: 30, service: 'notify', msg: 'notify.sent' }));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(seen.length, 3);
    } finally {
      stop.abort();
    }
    assert.equal(await done, 0);
    const count = seen.length;
    appendFileSync(join(dir, 'mail.log.2031-03-02'), line({ time: '2031-03-02T00:00:02.000Z', level: 30, service: 'mail', msg: 'mail.queued', queueId: 'q4' }));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(seen.length, count, 'nothing is printed after the abort');
  });
  it('--follow --lines 0 does not read the files already there: a 1 TB (sparse) log is skipped, lines after it are printed', async (tt) => {
    const big = await makeTestContext();
    tt.after(() => big.cleanup());
    const bigDir = join(big.dataDir, 'logs');
    mkdirSync(bigDir, { recursive: true });
    const path = join(bigDir, 'mail.log.2031-04-01');
    const fd = openSync(path, 'w');
    try {
      // Reading it whole at the start would need a 1 TB buffer; the end is one complete line and half of the next.
      const tail = line({ time: '2031-04-01T10:00:00.000Z', level: 30, service: 'mail', msg: 'mail.old', queueId: 'old' }) + '{"level":30,"ti';
      writeSync(fd, tail, 2 ** 40);
    } finally {
      closeSync(fd);
    }
    const stop = new AbortController();
    const seen: string[] = [];
    const failures: string[] = [];
    const done = logs(['--follow', '--lines', '0'], { ...io, config: big.ctx.config, out: (s) => seen.push(s), err: (s) => failures.push(s) }, { signal: stop.signal, pollMs: 20 });
    try {
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(seen, [], 'nothing that was there is printed');
      appendFileSync(path, 'me":"2031-04-01T10:00:01.000Z","service":"mail","msg":"mail.completed"}\n');
      appendFileSync(path, line({ time: '2031-04-01T10:00:02.000Z', level: 30, service: 'mail', msg: 'mail.new', queueId: 'new' }));
      await poll('the new lines', async () => (seen.length === 2 ? true : undefined), 5_000);
      assert.deepEqual(seen.map(eventOf), ['mail.completed', 'mail.new'], 'the half line, once complete, then the new one');
    } finally {
      stop.abort();
    }
    assert.equal(await done, 0, failures.join('\n'));
  });
});
