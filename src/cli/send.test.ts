// `mana send`: a test message over real sockets to the mail server's submission listener (RFC 6409, STARTTLS per RFC 3207, AUTH per RFC 4954 as noreply), and its outcome read back from the queue.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMailHarness, DOMAIN, type MailHarness } from '../../test/e2e/mail-harness.ts';
import { freePort } from '../../test/support/tmp.ts';
import { run as send } from './send.ts';
import type { CliIo } from './args.ts';
import type { Config } from '../config/schema.ts';
import { setSetting } from '../store/settings.ts';

/** The CLI's view of a running harness: its config with the submission port the server really listens on, and its store. */
function cliIo(h: MailHarness, out: string[], err: string[], port = h.mail.ports.submission): CliIo {
  const c = h.test.ctx.config;
  const config: Config = { ...c, mail: { ...c.mail, listeners: { ...c.mail.listeners, submission: { host: '127.0.0.1', port } } } };
  return { config, store: h.store, out: (s) => out.push(s), err: (s) => err.push(s) };
}

const header = (raw: Buffer, name: string) => new RegExp(`^${name}: (.*)$`, 'mi').exec(raw.toString('utf8'))?.[1];

describe('mana send', () => {
  describe('capture mode', () => {
    let h: MailHarness;
    const out: string[] = [];
    const err: string[] = [];
    const reset = () => { out.length = 0; err.length = 0; };

    before(async () => {
      h = await startMailHarness({ mail: { delivery: 'capture' } });
      await h.addUser('alice', 'alice password', [`alice@${DOMAIN}`]);
    });
    after(async () => h?.close());

    it('submits as noreply with the password from the store; the captured message is reported (exit 0)', async () => {
      reset();
      const code = await send(['--to', 'someone@example.org'], cliIo(h, out, err));
      assert.equal(code, 0, [...out, ...err].join('\n'));
      assert.match(out[0], /^note: the server's certificate is not verified \(127\.0\.0\.1 is this machine\)$/);
      const id = /^sent: queued as ([0-9a-z]+)$/m.exec(out.join('\n'))?.[1];
      assert.ok(id, out.join('\n'));
      assert.match(out.join('\n'), /^captured: someone@example\.org \(250 2\.0\.0 captured/m);
      assert.deepEqual(err, []);
      const [m] = (await h.mailbox('captured')).filter((x) => x.queueId === id);
      assert.ok(m, 'the message is in the captured mailbox');
      assert.equal(m.mailFrom, `noreply@${DOMAIN}`);
      assert.equal(m.rcpt, 'someone@example.org');
      assert.match(header(m.raw, 'Subject') ?? '', /^mana test message \d{4}-\d\d-\d\dT/);
      assert.match(m.raw.toString('utf8'), /test message sent by "mana send"/);
      assert.ok(header(m.raw, 'DKIM-Signature'), 'signed like any submitted message');
      const [row] = await h.store.all<{ source: string; auth_user: string }>('SELECT source, auth_user FROM mail_messages WHERE id = ?', [id]);
      assert.equal(row.auth_user, 'noreply', 'authenticated as noreply');
    });

    it('a local recipient is delivered to its mailbox, with the given subject and text', async () => {
      reset();
      const code = await send(['--to', `alice@${DOMAIN}`, '--subject', 'Hello Alice', '--text', 'It works.'], cliIo(h, out, err));
      assert.equal(code, 0, [...out, ...err].join('\n'));
      assert.match(out.join('\n'), new RegExp(`^delivered: alice@${DOMAIN.replace('.', '\\.')} \\(250 2\\.0\\.0 delivered to mailbox alice\\)$`, 'm'));
      const [m] = await h.mailbox('alice');
      assert.equal(header(m.raw, 'Subject'), 'Hello Alice');
      assert.match(m.raw.toString('utf8'), /It works\./);
    });

    it('--no-wait prints the queue id and returns', async () => {
      reset();
      assert.equal(await send(['--to', 'other@example.org', '--no-wait'], cliIo(h, out, err)), 0);
      assert.match(out.at(-1) ?? '', /^sent: queued as [0-9a-z]+$/);
    });

    it('a refused recipient is the server\'s reply, exit 1, no stack trace', async () => {
      reset();
      assert.equal(await send(['--to', `nobody@${DOMAIN}`], cliIo(h, out, err)), 1);
      assert.match(err.join('\n'), /^mana send: the server refused the message: 550 5\.1\.1 <nobody@mana\.test>: mailbox does not exist$/m);
      assert.doesNotMatch(err.join('\n'), /\n\s+at /);
    });

    it('a --from the noreply account may not use is refused by the server (RFC 6409 §6.1)', async () => {
      reset();
      assert.equal(await send(['--to', 'someone@example.org', '--from', `alice@${DOMAIN}`], cliIo(h, out, err)), 1);
      assert.match(err.join('\n'), /may not send as alice@mana\.test/);
    });

    it('nothing listening: exit 1 and "is the mail server running"', async () => {
      reset();
      const port = await freePort();
      assert.equal(await send(['--to', 'someone@example.org'], cliIo(h, out, err, port)), 1);
      assert.equal(err.length, 1, err.join('\n'));
      assert.match(err[0], new RegExp(`^mana send: cannot connect to the submission listener at 127\\.0\\.0\\.1:${port} \\(connection refused\\): is the mail server running\\? start it with npm start or mana mail$`));
    });

    it('a wrong command line is a usage error (exit 2)', async () => {
      for (const args of [[], ['--to', 'not an address'], ['--to', 'a@example.org', 'extra']]) {
        reset();
        assert.equal(await send(args, cliIo(h, out, err)), 2, args.join(' '));
        assert.match(err.join('\n'), /Usage:/);
      }
    });
  });

  describe('deliver mode', () => {
    let h: MailHarness;
    const out: string[] = [];
    const err: string[] = [];

    before(async () => {
      h = await startMailHarness({ zone: { 'nullmx.example': { MX: [{ exchange: '.', priority: 0 }] } } });
    });
    after(async () => h?.close());

    it('a failed recipient prints the outcome and the reply, exit 1, and says what to look at (RFC 7505 §3)', async () => {
      const code = await send(['--to', 'someone@nullmx.example'], cliIo(h, out, err));
      assert.equal(code, 1, [...out, ...err].join('\n'));
      const id = /^sent: queued as ([0-9a-z]+)$/m.exec(out.join('\n'))?.[1];
      assert.ok(id);
      assert.match(out.join('\n'), /^failed: someone@nullmx\.example \(.*null MX.*\)$/m);
      assert.equal(err.at(-1), `mana send: not delivered; see: mana queue show ${id} and mana logs --queue ${id}`);
    });

    it('a password in the store that is not the account\'s: AUTH refused, exit 1, and what to do', async () => {
      out.length = 0;
      err.length = 0;
      await setSetting(h.store, 'secret.noreply_password', 'not the password');
      assert.equal(await send(['--to', 'someone@nullmx.example'], cliIo(h, out, err)), 1);
      assert.match(err.join('\n'), /^mana send: the server refused AUTH as noreply: 535 .*restart it, or mana account passwd noreply\)$/m);
      assert.ok(!out.some((l) => l.startsWith('sent:')));
    });
  });
});
