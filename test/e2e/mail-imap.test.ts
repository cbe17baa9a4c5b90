// IMAP (RFC 3501) over real sockets with real clients: imapflow and curl against the mail server's 993- and 143-style listeners.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { RawImap } from '../support/raw-imap.ts';
import { startMailHarness, message, waitUntil, DOMAIN, type MailHarness } from './mail-harness.ts';
import { createPrincipal } from '../../src/mail/accounts.ts';
import { createImapServer } from '../../src/mail/imap/server.ts';
import { ensureCertificate } from '../../src/lib/tls.ts';
import { makeTestContext } from '../support/context.ts';
import { isolatedPostgresUrl, mailBackends, storeFactories, type StoreFactory } from '../support/stores.ts';
import { createImapStore } from '../../src/mail/imap/mailstore.ts';
import { storeInMailbox } from '../../src/mail/mailbox.ts';

const run = promisify(execFile);
const USER = 'reader';
const PASS = 'reader-password-1';
const ADDR = `${USER}@${DOMAIN}`;
const ADMIN = 'boss';
const ADMIN_PASS = 'boss-password-1';

function client(port: number, options: { user?: string; pass?: string; secure?: boolean } = {}): ImapFlow {
  return new ImapFlow({
    host: '127.0.0.1', port, secure: options.secure ?? true,
    auth: { user: options.user ?? USER, pass: options.pass ?? PASS },
    tls: { rejectUnauthorized: false },
    logger: false,
    connectionTimeout: 10_000,
  });
}


for (const backend of mailBackends()) {
  describe(`IMAP server (RFC 3501) with imapflow and curl (${backend})`, { timeout: 120_000 }, () => {
    let h: MailHarness;
    // The data outlives one harness, for the restart below: the data dir, and on PostgreSQL a schema this suite owns.
    let dataDir: string;
    let db: { url: string; drop(): Promise<void> } | undefined;
    let imaps: number;
    let imap: number;
    const raws: string[] = [];

    async function deliver(subject: string, body = 'Hello over IMAP.'): Promise<void> {
      const before = (await h.mailbox(USER)).length;
      const raw = message({ from: ADDR, to: ADDR, subject, body, messageId: `<${subject.replace(/\W/g, '')}@${DOMAIN}>` });
      await h.submit({ user: USER, pass: PASS, from: ADDR, to: [ADDR], raw });
      await waitUntil(async () => (await h.mailbox(USER)).length > before, `delivery of ${subject}`);
    }

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'mana-imap-'));
      if (backend === 'postgres') db = await isolatedPostgresUrl(process.env.DATABASE_URL!);
      h = await startMailHarness({ backend, dataDir, databaseUrl: db?.url });
      imaps = h.mail.ports.imaps;
      imap = h.mail.ports.imap;
      await h.addUser(USER, PASS, [ADDR]);
      await h.store.tx((q) => createPrincipal(q, { type: 'individual', name: ADMIN, secrets: [ADMIN_PASS], emails: [`${ADMIN}@${DOMAIN}`], roles: ['user', 'admin'] }));
      await deliver('First message');
      await deliver('Second about invoices', 'The invoice is attached in spirit.\r\nSecond line.');
      for (const m of await h.mailbox(USER)) raws.push(m.raw.toString('latin1'));
    });

    after(async () => {
      await h?.close();
      await db?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('greets with its capabilities; on the plain port LOGIN is refused before STARTTLS (LOGINDISABLED, RFC 3501 §6.2.3), allowed after', async () => {
      const r = await RawImap.open(imap, false);
      const greeting = await r.until(/^\* OK/);
      assert.match(greeting, /CAPABILITY IMAP4rev1 .*STARTTLS LOGINDISABLED/);
      assert.doesNotMatch(greeting, /AUTH=PLAIN/);
      assert.match(await r.cmd(`a1 LOGIN ${USER} ${PASS}`), /^a1 NO \[PRIVACYREQUIRED\]/m);
      assert.match(await r.cmd('a2 AUTHENTICATE PLAIN AHJlYWRlcgB4'), /^a2 NO \[PRIVACYREQUIRED\]/m);
      assert.match(await r.cmd('a3 STARTTLS'), /^a3 OK/m);
      const secure = tlsConnect({ socket: r.socket as Socket, rejectUnauthorized: false });
      await new Promise((res) => secure.once('secureConnect', res));
      const s = new RawImap(secure);
      const caps = await s.cmd('b1 CAPABILITY');
      assert.match(caps, /AUTH=PLAIN/);
      assert.doesNotMatch(caps, /LOGINDISABLED|STARTTLS/);
      assert.match(await s.cmd(`b2 LOGIN ${USER} ${PASS}`), /^b2 OK/m);
      s.close();

      // imapflow upgrades by itself on the plain port.
      const c = client(imap, { secure: false });
      await c.connect();
      const st = await c.status('INBOX', { messages: true });
      assert.ok(st);
      assert.equal(st.messages, 2);
      await c.logout();
    });

    it('refuses a wrong password with NO [AUTHENTICATIONFAILED] (RFC 5530); AUTHENTICATE PLAIN with and without an initial response', async () => {
      const c = client(imaps, { pass: 'wrong' });
      await assert.rejects(c.connect(), (err: Error & { authenticationFailed?: boolean; serverResponseCode?: string }) => err.authenticationFailed === true || err.serverResponseCode === 'AUTHENTICATIONFAILED');
      const r = await RawImap.open(imaps, true);
      await r.until(/^\* OK/);
      assert.match(await r.cmd(`x LOGIN ${USER} nope`), /^x NO \[AUTHENTICATIONFAILED\]/m);
      // AUTHENTICATE PLAIN with SASL-IR (RFC 4959), and without it (continuation).
      const plain = Buffer.from(`\0${USER}\0${PASS}`).toString('base64');
      r.socket.write('y AUTHENTICATE PLAIN\r\n');
      await r.until(/^\+/);
      assert.match(await r.cmd(plain, 'y'), /^y OK/m);
      r.close();
    });

    it('answers BAD to malformed input and stays up', async () => {
      const r = await RawImap.open(imaps, true);
      await r.until(/^\* OK/);
      assert.match(await r.cmd('t1 FETCH (1'), /^t1 BAD/m);
      assert.match(await r.cmd('t2 FROB'), /^t2 BAD/m);
      assert.match(await r.cmd('t3 SELECT INBOX'), /^t3 BAD/m, 'SELECT before login');
      r.socket.write('\x00\xff\xfe garbage\r\n');
      assert.match(await r.until(/^\* BAD/), /BAD/);
      r.socket.write(`t4 APPEND INBOX {${100 * 1024 * 1024}}\r\n`);
      assert.match(await r.until(/^t4 /), /^t4 NO \[TOOBIG\]/m);
      assert.match(await r.cmd('t5 NOOP'), /^t5 OK/m);
      r.close();
    });

    it('LIST shows INBOX, and Captured for an administrator; SELECT reports counts and UIDs', async () => {
      const c = client(imaps);
      await c.connect();
      assert.deepEqual((await c.list()).map((m) => m.path), ['INBOX']);
      const lock = await c.getMailboxLock('INBOX');
      try {
        const box = c.mailbox as { exists: number; uidValidity: bigint; uidNext: number; flags: Set<string>; permanentFlags: Set<string> };
        assert.equal(box.exists, 2);
        assert.ok(box.uidValidity > 0n);
        const uids = (await h.store.all<{ id: number }>('SELECT id FROM mail_mailbox WHERE mailbox = ? ORDER BY id', [USER])).map((r) => Number(r.id));
        assert.ok(box.uidNext > uids[1]);
        assert.ok(box.permanentFlags.has('\\Seen'));
      } finally {
        lock.release();
      }
      await c.logout();
      const a = client(imaps, { user: ADMIN, pass: ADMIN_PASS });
      await a.connect();
      assert.deepEqual((await a.list()).map((m) => m.path).sort(), ['Captured', 'INBOX']);
      await a.logout();
    });

    it('FETCH gives envelope, body structure, whole body, parts and partial ranges that match the stored message (RFC 3501 §6.4.5)', async () => {
      const c = client(imaps);
      await c.connect();
      const lock = await c.getMailboxLock('INBOX');
      try {
        const all = [];
        for await (const m of c.fetch('1:*', { uid: true, envelope: true, bodyStructure: true, size: true, internalDate: true, flags: true })) all.push(m);
        assert.equal(all.length, 2);
        assert.equal(all[1].envelope!.subject, 'Second about invoices');
        assert.equal(all[1].envelope!.from![0].address, ADDR);
        assert.equal(all[1].envelope!.messageId, `<Secondaboutinvoices@${DOMAIN}>`);
        assert.equal(all[1].bodyStructure!.type, 'text/plain');
        assert.equal(all[1].size, Buffer.byteLength(raws[1], 'latin1'));
        assert.ok(all[1].internalDate instanceof Date);
        const uid = all[1].uid;

        const whole = await c.fetchOne(String(uid), { source: true }, { uid: true });
        assert.equal(whole && whole.source!.toString('latin1'), raws[1]);
        const partial = await c.fetchOne(String(uid), { source: { start: 10, maxLength: 25 } }, { uid: true });
        assert.equal(partial && partial.source!.toString('latin1'), raws[1].slice(10, 35));
        const headers = await c.fetchOne(String(uid), { headers: ['subject', 'from'] }, { uid: true });
        assert.ok(headers);
        const headerText = headers.headers!.toString();
        assert.match(headerText!, /^Subject: Second about invoices$/m);
        assert.match(headerText!, /^From: /m);
        assert.doesNotMatch(headerText!, /^To:/m);
        const text = await c.fetchOne(String(uid), { bodyParts: ['1', 'text'] }, { uid: true });
        const body = raws[1].slice(raws[1].indexOf('\r\n\r\n') + 4);
        assert.equal(text && text.bodyParts!.get('text')!.toString('latin1'), body);
        assert.equal(text && text.bodyParts!.get('1')!.toString('latin1'), body);
      } finally {
        lock.release();
      }
      await c.logout();
    });

    it('FETCH BODY[] sets \\Seen and reports FLAGS, BODY.PEEK[] does not (RFC 3501 §6.4.5)', async () => {
      const r = await RawImap.open(imaps, true);
      await r.until(/^\* OK/);
      await r.cmd(`a LOGIN ${USER} ${PASS}`);
      await r.cmd('b SELECT INBOX');
      const peek = await r.cmd('c FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])');
      assert.match(peek, /^\* 1 FETCH \(BODY\[HEADER\.FIELDS \(SUBJECT\)\] \{\d+\}\r\nSubject: First message\r\n\r\n\)/m);
      assert.doesNotMatch(peek, /FLAGS/);
      assert.match(await r.cmd('d FETCH 1 FLAGS'), /FLAGS \(\)/);
      const read = await r.cmd('e FETCH 1 BODY[]<0.4>');
      assert.match(read, /BODY\[\]<0> \{4\}\r\n.{4} FLAGS \(\\Seen\)\)/);
      assert.match(await r.cmd('f UID FETCH 1:* (FLAGS)'), /\* 1 FETCH \(UID \d+ FLAGS \(\\Seen\)\)/);
      // STORE to undo it, and SEARCH sees both states.
      assert.match(await r.cmd('g STORE 1 -FLAGS.SILENT (\\Seen)'), /^g OK/m);
      assert.match(await r.cmd('h SEARCH UNSEEN'), /^\* SEARCH 1 2$/m);
      await r.cmd('z LOGOUT');
      r.close();
    });

    it('STORE, SEARCH (unseen, from, subject, body, since, larger, not/or, UID) and EXAMINE is read-only', async () => {
      const c = client(imaps);
      await c.connect();
      const lock = await c.getMailboxLock('INBOX');
      try {
        const uids = (await c.search({ all: true }, { uid: true })) as number[];
        assert.equal(uids.length, 2);
        await c.messageFlagsAdd(String(uids[0]), ['\\Seen', '\\Flagged', 'urgent'], { uid: true });
        const f = await c.fetchOne(String(uids[0]), { flags: true }, { uid: true });
        assert.deepEqual([...(f ? f.flags! : [])].sort(), ['\\Flagged', '\\Seen', 'urgent']);
        assert.deepEqual(await c.search({ seen: false }, { uid: true }), [uids[1]]);
        assert.deepEqual(await c.search({ flagged: true }, { uid: true }), [uids[0]]);
        assert.deepEqual(await c.search({ keyword: 'urgent' }, { uid: true }), [uids[0]]);
        assert.deepEqual(await c.search({ from: ADDR.toUpperCase() }, { uid: true }), uids);
        assert.deepEqual(await c.search({ subject: 'INVOICES' }, { uid: true }), [uids[1]]);
        assert.deepEqual(await c.search({ body: 'second line' }, { uid: true }), [uids[1]]);
        assert.deepEqual(await c.search({ since: new Date(Date.now() - 86400_000) }, { uid: true }), uids);
        assert.deepEqual(await c.search({ before: new Date(Date.now() - 86400_000) }, { uid: true }), []);
        assert.deepEqual(await c.search({ larger: 10, not: { subject: 'first' } }, { uid: true }), [uids[1]]);
        assert.deepEqual(await c.search({ or: [{ subject: 'first' }, { subject: 'invoices' }] }, { uid: true }), uids);
        assert.deepEqual(await c.search({ uid: `${uids[1]}:*` }), [2]);
        await c.messageFlagsSet(String(uids[0]), ['\\Seen'], { uid: true });
        const g = await c.fetchOne(String(uids[0]), { flags: true }, { uid: true });
        assert.deepEqual([...(g ? g.flags! : [])], ['\\Seen']);
      } finally {
        lock.release();
      }
      const ro = await c.getMailboxLock('INBOX', { readOnly: true });
      try {
        assert.equal(await c.messageFlagsAdd('1', ['\\Deleted']), false);
      } finally {
        ro.release();
      }
      await c.logout();
    });

    it('APPEND stores a message with flags and date (APPENDUID), COPY to Captured as admin (COPYUID), EXPUNGE removes it', async () => {
      const c = client(imaps);
      await c.connect();
      const raw = 'From: someone@example.org\r\nTo: reader@mana.test\r\nSubject: Appended \u00e9t\u00e9\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAppended body \u00e9\r\n';
      const date = new Date('2026-03-04T05:06:07Z');
      const res = await c.append('INBOX', Buffer.from(raw), ['\\Draft'], date);
      assert.ok(res && res.uid, 'APPENDUID');
      const lock = await c.getMailboxLock('INBOX');
      try {
        const m = await c.fetchOne(String(res!.uid), { source: true, flags: true, internalDate: true }, { uid: true });
        assert.equal(m && m.source!.toString('utf8'), raw);
        assert.deepEqual([...(m ? m.flags! : [])], ['\\Draft']);
        assert.equal(m && (m.internalDate as Date).toISOString(), date.toISOString());
        assert.deepEqual(await c.search({ on: date }, { uid: true }), [res!.uid]);
        assert.equal(await c.messageDelete(String(res!.uid), { uid: true }), true);
        assert.equal((c.mailbox as { exists: number }).exists, 2);
        assert.equal(await c.messageCopy('1', 'Captured'), false, 'a plain user has no Captured');
      } finally {
        lock.release();
      }
      await c.logout();

      const a = client(imaps, { user: ADMIN, pass: ADMIN_PASS });
      await a.connect();
      await a.append('INBOX', Buffer.from(raw));
      const alock = await a.getMailboxLock('INBOX');
      try {
        const copied = await a.messageCopy('1:*', 'Captured');
        assert.ok(copied && copied.uidMap && copied.uidMap.size === 1, 'COPYUID');
      } finally {
        alock.release();
      }
      const st = await a.status('Captured', { messages: true });
      assert.ok(st);
      assert.equal(st.messages, 1);
      const captured = await h.mailbox('captured');
      assert.equal(captured.at(-1)!.raw.toString('utf8'), raw);
      await a.logout();
    });

    it('IDLE reports a message delivered by SMTP while idling (RFC 2177)', async () => {
      const c = client(imaps);
      await c.connect();
      const lock = await c.getMailboxLock('INBOX');
      try {
        const start = (c.mailbox as { exists: number }).exists;
        const seen: number[] = [];
        c.on('exists', (d: { count: number }) => seen.push(d.count));
        const idling = c.idle();
        await new Promise((r) => setTimeout(r, 200));
        await deliver('Arrived while idling');
        await waitUntil(() => seen.includes(start + 1), 'EXISTS during IDLE', 10_000);
        void idling;
      } finally {
        lock.release();
      }
      await c.logout();
    });

    it('curl reads the mailbox list and a message by UID (AUTHENTICATE PLAIN with SASL-IR)', async () => {
      const uid = Number((await h.store.get<{ id: number }>('SELECT MIN(id) AS id FROM mail_mailbox WHERE mailbox = ?', [USER]))!.id);
      const list = await run('/usr/bin/curl', ['-sS', '-k', '--max-time', '20', `imaps://127.0.0.1:${imaps}/`, '-u', `${USER}:${PASS}`]);
      assert.match(list.stdout, /LIST .*INBOX/);
      const msg = await run('/usr/bin/curl', ['-sS', '-k', '--max-time', '20', `imaps://127.0.0.1:${imaps}/INBOX;UID=${uid}`, '-u', `${USER}:${PASS}`], { encoding: 'latin1' });
      assert.equal(msg.stdout, raws[0]);
      // And over the plain port with STARTTLS required.
      const plain = await run('/usr/bin/curl', ['-sS', '-k', '--ssl-reqd', '--max-time', '20', `imap://127.0.0.1:${imap}/INBOX;UID=${uid}`, '-u', `${USER}:${PASS}`], { encoding: 'latin1' });
      assert.equal(plain.stdout, raws[0]);
    });

    it('an idling session sees another session\'s APPENDs as EXISTS and its EXPUNGE highest number first (RFC 3501 §7.4.1)', async () => {
      const a = await RawImap.open(imaps, true);
      const b = await RawImap.open(imaps, true);
      for (const r of [a, b]) {
        await r.until(/^\* OK/);
        await r.cmd(`l LOGIN ${USER} ${PASS}`);
      }
      const selected = await a.cmd('s SELECT INBOX');
      const n = Number(/^\* (\d+) EXISTS/m.exec(selected)![1]);
      await b.cmd('s SELECT INBOX');
      a.socket.write('i IDLE\r\n');
      await a.until(/^\+ idling/);
      const literal = 'Subject: x\r\n\r\nx\r\n';
      // LITERAL+ (RFC 7888): no continuation request.
      assert.match(await b.cmd(`p1 APPEND INBOX {${literal.length}+}\r\n${literal}`, 'p1'), /^p1 OK \[APPENDUID \d+ \d+\]/m);
      assert.match(await b.cmd(`p2 APPEND INBOX {${literal.length}+}\r\n${literal}`, 'p2'), /^p2 OK/m);
      await a.until(new RegExp(`^\\* ${n + 2} EXISTS`));
      await b.cmd('n NOOP');
      assert.match(await b.cmd(`d STORE ${n + 1}:${n + 2} +FLAGS.SILENT (\\Deleted)`), /^d OK/m);
      const expunged = await b.cmd('e EXPUNGE');
      assert.match(expunged, new RegExp(`\\* ${n + 2} EXPUNGE\r\n\\* ${n + 1} EXPUNGE`));
      const seen = await a.until(new RegExp(`^\\* ${n + 1} EXPUNGE`));
      assert.match(seen, new RegExp(`\\* ${n + 2} EXPUNGE\r\n\\* ${n + 1} EXPUNGE`));
      a.socket.write('DONE\r\n');
      assert.match(await a.until(/^i /), /^i OK/m);
      a.close();
      b.close();
    });

    it('STARTTLS drops commands pipelined behind it in clear text (RFC 3501 §6.2.1)', async () => {
      const r = await RawImap.open(imap, false);
      await r.until(/^\* OK/);
      r.socket.write('a STARTTLS\r\nb CAPABILITY\r\n');
      await r.until(/^a OK/);
      const secure = tlsConnect({ socket: r.socket as Socket, rejectUnauthorized: false });
      await new Promise((res) => secure.once('secureConnect', res));
      const s = new RawImap(secure);
      assert.match(await s.cmd('c NOOP'), /^c OK/m);
      assert.doesNotMatch(s.buf + r.buf, /^b /m);
      s.close();
    });

    it('UIDs and UIDVALIDITY stay the same across a restart of the mail server (RFC 3501 §2.3.1.1)', async () => {
      async function snapshot(port: number) {
        const c = client(port);
        await c.connect();
        const lock = await c.getMailboxLock('INBOX');
        try {
          const uids = (await c.search({ all: true }, { uid: true })) as number[];
          return { validity: (c.mailbox as { uidValidity: bigint }).uidValidity, uids };
        } finally {
          lock.release();
          await c.logout();
        }
      }
      const before = await snapshot(imaps);
      const open = await RawImap.open(imaps, true);
      await open.until(/^\* OK/);
      await open.cmd(`a LOGIN ${USER} ${PASS}`);
      await h.close();
      assert.match(await open.until(/^\* BYE/), /BYE Server shutting down/, 'sessions are told on shutdown');
      open.close();
      h = await startMailHarness({ backend, dataDir, databaseUrl: db?.url });
      const afterRestart = await snapshot(h.mail.ports.imaps);
      assert.deepEqual(afterRestart, before);
      imaps = h.mail.ports.imaps;
    });
  });
}

describe('IMAP autologout (RFC 3501 §5.4)', () => {
  it('says BYE and closes a connection idle for longer than the timer', async () => {
    const test = await makeTestContext();
    const tls = await ensureCertificate({ dataDir: test.dataDir, hostname: 'localhost' });
    const local = { host: '127.0.0.1', port: 0 };
    const server = await createImapServer({ store: test.ctx.store, log: test.ctx.log, tls, listeners: { imap: local, imaps: local }, maxMessageSize: 1024, idleTimeoutMs: 300 });
    try {
      const r = await RawImap.open(server.ports.imaps, true);
      await r.until(/^\* OK/);
      const started = Date.now();
      assert.match(await r.until(/^\* BYE/, 5000), /Autologout/);
      assert.ok(Date.now() - started >= 250);
      await new Promise((res) => r.socket.once('close', res));
    } finally {
      await server.close();
      await test.cleanup();
    }
  });
});

for (const factory of storeFactories()) {
  describe(`IMAP against concurrent sessions, quotas and costly commands (${factory.name})`, { timeout: 60_000 }, () => {
    let opened: Awaited<ReturnType<StoreFactory['open']>>;
    let test: Awaited<ReturnType<typeof makeTestContext>>;
    let server: Awaited<ReturnType<typeof createImapServer>>;
    const QUSER = 'quota-reader';

    before(async () => {
      opened = await factory.open();
      test = await makeTestContext({ store: opened.store });
      const tls = await ensureCertificate({ dataDir: test.dataDir, hostname: 'localhost' });
      const local = { host: '127.0.0.1', port: 0 };
      server = await createImapServer({ store: opened.store, log: test.ctx.log, tls, listeners: { imap: local, imaps: local }, maxMessageSize: 1024 * 1024 });
      await opened.store.tx(async (q) => {
        await createPrincipal(q, { type: 'individual', name: USER, secrets: [PASS], roles: ['user'] });
        await createPrincipal(q, { type: 'individual', name: QUSER, secrets: [PASS], roles: ['user'], quota: 1000 });
      });
    });

    after(async () => {
      await server?.close();
      await test?.cleanup();
      await opened?.cleanup();
    });

    async function login(user = USER): Promise<RawImap> {
      const r = await RawImap.open(server.ports.imaps, true);
      await r.until(/^\* OK/);
      assert.match(await r.cmd(`l LOGIN ${user} ${PASS}`), /^l OK/m);
      return r;
    }
    const flagsOf = async (uid: number) => JSON.parse((await opened.store.get<{ flags: string }>('SELECT flags FROM mail_mailbox WHERE id = ?', [uid]))!.flags) as string[];
    async function appendOne(r: RawImap, body = 'Subject: s\r\n\r\nbody\r\n'): Promise<number> {
      const res = await r.cmd(`ap APPEND INBOX {${body.length}+}\r\n${body}`, 'ap');
      return Number(/APPENDUID \d+ (\d+)/.exec(res)![1]);
    }

    it('EXPUNGE removes only messages whose flags contain \\Deleted now, not in a stale view; STORE ±FLAGS and FETCH\'s \\Seen apply to the current flags (RFC 3501 §6.4.3, §6.4.6)', async () => {
      const a = await login();
      const b = await login();
      const uid = await appendOne(a);
      const sa = await a.cmd('s SELECT INBOX');
      const n = Number(/^\* (\d+) EXISTS/m.exec(sa)![1]);
      await b.cmd('s SELECT INBOX');
      assert.match(await a.cmd(`d STORE ${n} +FLAGS.SILENT (\\Deleted)`), /^d OK/m);
      // B has not seen A's \Deleted; its -FLAGS must still remove it from the stored flags.
      assert.match(await b.cmd(`u STORE ${n} -FLAGS (\\Deleted)`), /^u OK/m);
      assert.deepEqual(await flagsOf(uid), []);
      const ex = await a.cmd('e EXPUNGE');
      assert.doesNotMatch(ex, /EXPUNGE\r\n/);
      assert.ok(await opened.store.get('SELECT id FROM mail_mailbox WHERE id = ?', [uid]), 'the message survives');

      // +FLAGS from a stale view keeps the other session's flag.
      assert.match(await a.cmd(`f STORE ${n} +FLAGS.SILENT (\\Flagged)`), /^f OK/m);
      const plus = await b.cmd(`g STORE ${n} +FLAGS (\\Answered)`);
      assert.match(plus, /FETCH \(FLAGS \(\\Flagged \\Answered\)\)/, 'reports the resulting flags');
      assert.deepEqual(await flagsOf(uid), ['\\Flagged', '\\Answered']);
      // FETCH BODY[] adds \Seen to the current flags, not to the view's.
      assert.match(await a.cmd(`h STORE ${n} -FLAGS.SILENT (\\Answered)`), /^h OK/m);
      await b.cmd(`i FETCH ${n} BODY[]`);
      assert.deepEqual((await flagsOf(uid)).sort(), ['\\Flagged', '\\Seen']);

      // And a \Deleted that is current goes, reported once.
      assert.match(await b.cmd(`j STORE ${n} +FLAGS.SILENT (\\Deleted)`), /^j OK/m);
      assert.match(await a.cmd('k EXPUNGE'), new RegExp(`^\\* ${n} EXPUNGE`, 'm'));
      assert.equal(await opened.store.get('SELECT id FROM mail_mailbox WHERE id = ?', [uid]), undefined);
      a.close();
      b.close();
    });

    it('APPEND and COPY past the account\'s quota answer NO [OVERQUOTA] (RFC 9208 §5) and store nothing', async () => {
      const r = await login(QUSER);
      const body = `Subject: q\r\n\r\n${'x'.repeat(580)}\r\n`;
      assert.match(await r.cmd(`a1 APPEND INBOX {${body.length}+}\r\n${body}`, 'a1'), /^a1 OK/m);
      assert.match(await r.cmd(`a2 APPEND INBOX {${body.length}+}\r\n${body}`, 'a2'), /^a2 NO \[OVERQUOTA\] .*quota/m);
      await r.cmd('s SELECT INBOX');
      assert.match(await r.cmd('c COPY 1 INBOX'), /^c NO \[OVERQUOTA\]/m);
      const n = (await opened.store.get<{ n: number }>('SELECT COUNT(*) AS n FROM mail_mailbox WHERE mailbox = ?', [QUSER]))!.n;
      assert.equal(Number(n), 1);
      // A small message still fits.
      assert.match(await r.cmd('a3 APPEND INBOX {14+}\r\nSubject: y\r\n\r\n', 'a3'), /^a3 OK/m);
      r.close();
    });

    it('SEARCH refuses more than 64 keys with BAD', async () => {
      const r = await login();
      await r.cmd('s SELECT INBOX');
      assert.match(await r.cmd(`t1 SEARCH ${Array(64).fill('BODY a').join(' ')}`), /^t1 OK/m);
      assert.match(await r.cmd(`t2 SEARCH ${Array(65).fill('BODY a').join(' ')}`), /^t2 BAD .*too many search keys/m);
      assert.match(await r.cmd(`t3 SEARCH NOT (${Array(40).fill('ALL').join(' ')}) OR ${Array(30).fill('ALL').join(' ')}`), /^t3 BAD/m);
      r.close();
    });

    it('a long SEARCH lets the event loop turn between messages, so one command does not stall every connection', async () => {
      const r = await login();
      await r.cmd('s SELECT INBOX');
      for (let i = 0; i < 400; i++) {
        await opened.store.run('INSERT INTO mail_mailbox (mailbox, message_id, mail_from, rcpt, raw, flags, received_at) VALUES (?, NULL, NULL, NULL, ?, ?, ?)', [USER, Buffer.from('Subject: z\r\n\r\nz\r\n'), '[]', Date.now()]);
      }
      await r.cmd('n NOOP');
      let turns = 0;
      let spinning = true;
      const spin = () => { turns++; if (spinning) setImmediate(spin); };
      setImmediate(spin);
      assert.match(await r.cmd('t4 SEARCH ALL'), /^t4 OK/m);
      spinning = false;
      assert.ok(turns >= 300, `the event loop turned ${turns} times during a SEARCH of 400 messages`);
      r.close();
    });

    it('on PostgreSQL, inserts into one mailbox commit in id order: a later transaction waits for an earlier one (RFC 3501 §2.3.1.1)', { skip: factory.name !== 'postgres' && 'PostgreSQL only: SQLite has one writer' }, async () => {
      const store = opened.store;
      const imapStore = createImapStore(store);
      const order: string[] = [];
      let open!: () => void;
      const gate = new Promise<void>((res) => (open = res));
      let inserted!: () => void;
      const insertedP = new Promise<void>((res) => (inserted = res));
      let first = 0;
      const t1 = store.tx(async (q) => {
        first = await storeInMailbox(q, { mailbox: 'ordered', queueId: 'q1', mailFrom: 'a@x', rcpt: 'b@x', raw: Buffer.from('Subject: 1\r\n\r\n1\r\n') });
        inserted();
        await gate;
      }).then(() => order.push('first'));
      await insertedP;
      let second = 0;
      const t2 = store.tx(async (q) => {
        second = await storeInMailbox(q, { mailbox: 'ordered', queueId: 'q2', mailFrom: 'a@x', rcpt: 'b@x', raw: Buffer.from('Subject: 2\r\n\r\n2\r\n') });
      }).then(() => order.push('second'));
      const t3 = imapStore.append('ordered', { raw: Buffer.from('Subject: 3\r\n\r\n3\r\n'), flags: [], internalDate: Date.now() }).then((uid) => { order.push('append'); return uid; });
      await new Promise((res) => setTimeout(res, 400));
      const early = [...order];
      open();
      const [, , third] = await Promise.all([t1, t2, t3]);
      assert.deepEqual(early, [], 'the later transactions wait for the first');
      assert.equal(order[0], 'first');
      assert.ok(second > first && Number(third) > first, 'ids follow the commit order');
    });
  });
}

describe('IMAP shutdown and connections that stall (no reading, no TLS handshake, big literals before login)', { timeout: 60_000 }, () => {
  async function withServer(options: { handshakeTimeoutMs?: number }, fn: (server: Awaited<ReturnType<typeof createImapServer>>, test: Awaited<ReturnType<typeof makeTestContext>>) => Promise<void>) {
    const test = await makeTestContext();
    const tls = await ensureCertificate({ dataDir: test.dataDir, hostname: 'localhost' });
    const local = { host: '127.0.0.1', port: 0 };
    const server = await createImapServer({ store: test.ctx.store, log: test.ctx.log, tls, listeners: { imap: local, imaps: local }, maxMessageSize: 8 * 1024 * 1024, ...options });
    try {
      await fn(server, test);
    } finally {
      await Promise.race([server.close(), new Promise((r) => setTimeout(r, 5000))]);
      await test.cleanup();
    }
  }
  /** Whether close() finishes within ms. */
  async function closesWithin(server: { close(): Promise<void> }, ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([server.close().then(() => true), new Promise<boolean>((r) => { timer = setTimeout(() => r(false), ms); })]);
    clearTimeout(timer);
    return ok;
  }

  it('closes even when a client stopped reading in the middle of a large FETCH', async () => {
    await withServer({}, async (server, test) => {
      await test.ctx.store.tx((q) => createPrincipal(q, { type: 'individual', name: USER, secrets: [PASS], roles: ['user'] }));
      const r = await RawImap.open(server.ports.imaps, true);
      await r.until(/^\* OK/);
      assert.match(await r.cmd(`a LOGIN ${USER} ${PASS}`), /^a OK/m);
      const body = `Subject: big\r\n\r\n${'z'.repeat(998)}\r\n`.padEnd(4 * 1024 * 1024, 'z');
      assert.match(await r.cmd(`b APPEND INBOX {${body.length}+}\r\n${body}`, 'b'), /^b OK/m);
      assert.match(await r.cmd('c SELECT INBOX'), /^c OK/m);
      r.socket.pause();
      // About 24 MB of answers, more than the socket buffers of both ends hold.
      for (let i = 0; i < 6; i++) r.socket.write(`f${i} FETCH 1 BODY.PEEK[]\r\n`);
      await new Promise((res) => setTimeout(res, 500));
      const started = Date.now();
      assert.ok(await closesWithin(server, 8000), 'server.close() completed');
      assert.ok(Date.now() - started < 8000);
      r.close();
    });
  });

  it('drops a connection to the implicit-TLS port that never starts the handshake', async () => {
    await withServer({ handshakeTimeoutMs: 200 }, async (server) => {
      const s = tcpConnect({ host: '127.0.0.1', port: server.ports.imaps });
      s.on('error', () => {});
      await new Promise((r) => s.once('connect', r));
      const closed = await Promise.race([new Promise((r) => s.once('close', () => r(true))), new Promise((r) => setTimeout(() => r(false), 3000))]);
      assert.equal(closed, true, 'the server hung up after the handshake timeout');
    });
  });

  it('closes while a connection to the implicit-TLS port has not started the handshake', async () => {
    await withServer({}, async (server) => {
      const s = tcpConnect({ host: '127.0.0.1', port: server.ports.imaps });
      s.on('error', () => {});
      await new Promise((r) => s.once('connect', r));
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(await closesWithin(server, 2000), 'server.close() completed');
      s.destroy();
    });
  });

  it('refuses a large LITERAL+ before login on port 143 and hangs up, instead of buffering it', async () => {
    await withServer({}, async (server) => {
      const r = await RawImap.open(server.ports.imap, false);
      await r.until(/^\* OK/);
      r.socket.write(`a LOGIN {${2 * 1024 * 1024}+}\r\n`);
      r.socket.write(Buffer.alloc(64 * 1024, 'x'));
      assert.match(await r.until(/^a /), /^a BAD \[TOOBIG\]/);
      await new Promise((res) => r.socket.once('close', res));
    });
  });
});
