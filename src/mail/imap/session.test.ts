// One IMAP session over a real loopback socket and a real store: limits before login, the IDLE poller, SELECT racing a disconnect, `closed`.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import { startSession, type RunningSession } from './session.ts';
import { createImapStore, type ImapStore } from './mailstore.ts';
import { createMailboxWatch, type MailboxWatch } from './watch.ts';
import { imapCommands } from './commands/index.ts';
import type { CommandSpec, ImapSession } from './commands/types.ts';
import { ensureCertificate } from '../../lib/tls.ts';
import { createPrincipal } from '../accounts.ts';
import { makeTestContext, type TestContext } from '../../../test/support/context.ts';
import { RawImap } from '../../../test/support/raw-imap.ts';

const USER = 'sess';
const PASS = 'session-password-1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('IMAP session limits and teardown', () => {
  let test: TestContext;
  let secureContext: ReturnType<typeof createSecureContext>;
  let server: Server;
  let store: ImapStore;
  const running: RunningSession[] = [];
  let next: (socket: Socket) => RunningSession;

  before(async () => {
    test = await makeTestContext();
    const tls = await ensureCertificate({ dataDir: test.dataDir, hostname: 'localhost' });
    secureContext = createSecureContext({ key: tls.key, cert: tls.cert });
    await test.ctx.store.tx((q) => createPrincipal(q, { type: 'individual', name: USER, secrets: [PASS], emails: [], roles: ['user'] }));
    store = createImapStore(test.ctx.store);
    server = createServer((socket) => running.push(next(socket)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    await Promise.all(running.map((s) => s.close('bye')));
    await new Promise((r) => server.close(r));
    await test.cleanup();
  });

  /** Starts sessions with these options (secure: true so LOGIN works over the plain test socket) and connects. */
  async function open(o: { store?: ImapStore; watch?: MailboxWatch; commands?: Map<string, CommandSpec>; preAuthTimeoutMs?: number; pollMs?: number } = {}): Promise<RawImap> {
    next = (socket) => startSession({
      socket, listener: 'imaps', secure: true, secureContext, store: o.store ?? store, watch: o.watch ?? createMailboxWatch(),
      log: test.ctx.log, commands: o.commands ?? imapCommands(), idleTimeoutMs: 60_000, preAuthTimeoutMs: o.preAuthTimeoutMs,
      pollMs: o.pollMs ?? 1000, maxLine: 8192, maxLiteral: 1024 * 1024,
    });
    const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
    const c = new RawImap(socket);
    await c.until(/^\* OK/);
    return c;
  }

  it('accepts only small literals before login: NO [TOOBIG] for a synchronizing one, BAD [TOOBIG] and close for LITERAL+', async () => {
    const c = await open();
    assert.match(await c.cmd('a LOGIN {20000}'), /^a NO \[TOOBIG\]/m);
    assert.match(await c.cmd('b NOOP'), /^b OK/m, 'the connection goes on after a refused synchronizing literal');
    c.socket.write('c LOGIN {20000+}\r\n' + 'x'.repeat(20000));
    assert.match(await c.until(/^c /), /^c BAD \[TOOBIG\]/m);
    assert.match(await c.until(/^\* BYE/), /TOOBIG/);
    assert.ok(await c.waitClosed(), 'the server closes after a non-synchronizing literal it will not take');
  });

  it('caps the bytes of one command, however many literals it has', async () => {
    const c = await open();
    // Each literal is under the 8 KiB limit before login; together they are over maxLine + 8 KiB.
    let line = 'a LOGIN';
    for (let i = 0; i < 4; i++) { c.socket.write(`${line} {8000+}\r\n` + 'y'.repeat(8000)); line = ''; }
    c.socket.write('\r\n');
    assert.match(await c.until(/^a /), /^a BAD \[TOOBIG\]/m);
    assert.ok(await c.waitClosed());
  });

  it('logs out a client that does not log in within the short timer, and keeps a logged-in one', async () => {
    const idle = await open({ preAuthTimeoutMs: 200 });
    const started = Date.now();
    assert.match(await idle.until(/^\* BYE/, 3000), /Autologout/);
    assert.ok(Date.now() - started < 3000);
    assert.ok(await idle.waitClosed());
    const user = await open({ preAuthTimeoutMs: 200 });
    assert.match(await user.cmd(`a LOGIN ${USER} ${PASS}`), /^a OK/m);
    await sleep(500);
    assert.equal(user.closed, false, 'after login the long timer applies');
    assert.match(await user.cmd('b NOOP'), /^b OK/m);
    user.socket.destroy();
  });

  it('stops polling when IDLE ends while a poll query is in flight', async () => {
    let polls = 0;
    let slow = false;
    const counted: ImapStore = {
      ...store,
      async fingerprint(box: string) {
        if (slow) { polls++; await sleep(150); }
        return store.fingerprint(box);
      },
    };
    const c = await open({ store: counted, pollMs: 20 });
    assert.match(await c.cmd(`a LOGIN ${USER} ${PASS}`), /^a OK/m);
    assert.match(await c.cmd('b SELECT INBOX'), /^b OK/m);
    assert.match(await c.cmd('b2 NOOP'), /^b2 OK/m, 'the session knows the fingerprint now, so a poll finds nothing new');
    c.socket.write('c IDLE\r\n');
    await c.until(/^\+ /);
    slow = true;
    await sleep(60); // the first poll is in its query now
    c.socket.write('DONE\r\n');
    await c.until(/^c OK/);
    await sleep(400); // the query in flight is over
    const after = polls;
    await sleep(600);
    assert.equal(polls, after, 'no poller is left behind');
    c.socket.destroy();
  });

  it('leaves no watch subscription when SELECT finishes after the client went away', async () => {
    let live = 0;
    const real = createMailboxWatch();
    const watch: MailboxWatch = {
      changed: real.changed,
      subscribe(box, fn) {
        live++;
        const off = real.subscribe(box, fn);
        return () => { live--; off(); };
      },
    };
    let gate!: () => void;
    const held = new Promise<void>((r) => (gate = r));
    let reached!: () => void;
    const inSelect = new Promise<void>((r) => (reached = r));
    const slowStore: ImapStore = { ...store, async uidNext(box: string) { reached(); await held; return store.uidNext(box); } };
    const c = await open({ store: slowStore, watch });
    assert.match(await c.cmd(`a LOGIN ${USER} ${PASS}`), /^a OK/m);
    c.socket.write('b SELECT INBOX\r\n');
    await inSelect;
    const session = running[running.length - 1];
    c.socket.destroy();
    await session.done;
    gate();
    await sleep(100);
    assert.equal(live, 0);
  });

  it('tells handlers when the session is closed', async () => {
    let seen: ImapSession | undefined;
    const states: boolean[] = [];
    let reached!: () => void;
    const inHandler = new Promise<void>((r) => (reached = r));
    const commands = imapCommands();
    commands.set('XWAIT', {
      name: 'XWAIT', states: ['not-authenticated'], schema: [],
      async handler(s) {
        seen = s;
        states.push(seen.closed);
        reached();
        for (let i = 0; i < 200 && !seen.closed; i++) await sleep(10);
        states.push(seen.closed);
        return { status: 'OK', text: 'done' };
      },
    });
    const c = await open({ commands });
    c.socket.write('a XWAIT\r\n');
    await inHandler;
    await running[running.length - 1].close('Server shutting down');
    await sleep(50);
    assert.deepEqual(states, [false, true]);
    assert.match(await c.until(/^\* BYE/), /shutting down/);
    assert.ok(await c.waitClosed());
  });
});
