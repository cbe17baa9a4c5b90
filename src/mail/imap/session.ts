// One IMAP connection, RFC 3501 §3 and §7: state machine, greeting, command dispatch, tagged/untagged responses, STARTTLS, autologout.
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../lib/log.ts';
import type { SmtpSecurity } from '../smtp/listeners.ts';
import type { ImapStore } from './mailstore.ts';
import type { MailboxWatch } from './watch.ts';
import { asText, createCommandReader, ImapSyntaxError, parseCommand, parseFetchAtts, parseSequenceSet, type Frame, type ImapToken } from './parser.ts';
import { flagList } from './format.ts';
import type { ArgSchema, ArgValue, CommandSpec, Completion, ImapSession, ImapState, SelectedMailbox } from './commands/types.ts';

export type SessionOptions = {
  socket: Socket;
  listener: 'imap' | 'imaps';
  /** True on the implicit-TLS listener. */
  secure: boolean;
  secureContext: SecureContext;
  store: ImapStore;
  watch: MailboxWatch;
  log: Logger;
  security?: SmtpSecurity;
  commands: Map<string, CommandSpec>;
  /** RFC 3501 §5.4: at least 30 minutes of inactivity before an autologout. */
  idleTimeoutMs: number;
  /** Inactivity allowed before login (60 s; never more than idleTimeoutMs): §5.4's 30 minutes are for logged-in users. */
  preAuthTimeoutMs?: number;
  pollMs: number;
  maxLine: number;
  maxLiteral: number;
  /** Largest literal before login, and the most literal bytes one command may carry then (8 KiB). */
  maxPreAuthLiteral?: number;
};


export type RunningSession = {
  cid: string;
  /** Says `* BYE reason` and closes (server shutdown). */
  close(reason: string): Promise<void>;
  /** Resolves when the connection is gone. */
  done: Promise<void>;
};

/** Checks tokens against a command's schema; a string is the BAD text. */
export function checkArgs(schema: ArgSchema, tokens: ImapToken[]): ArgValue[] | string {
  const out: ArgValue[] = [];
  let i = 0;
  for (const entry of schema) {
    const optional = entry.endsWith('?');
    const kind = entry.replace('?', '');
    if (kind === 'rest') {
      out.push(tokens.slice(i));
      i = tokens.length;
      continue;
    }
    const t = tokens[i];
    if (!t) {
      if (optional) { out.push(undefined); continue; }
      return 'Missing argument';
    }
    i++;
    switch (kind) {
      case 'astring': {
        const v = asText(t);
        if (v === undefined) return 'Expected a string';
        out.push(v);
        break;
      }
      case 'atom':
        if (t.type !== 'atom') return 'Expected an atom';
        out.push(t.value);
        break;
      case 'number':
        if (t.type !== 'atom' || !/^\d{1,10}$/.test(t.value)) return 'Expected a number';
        out.push(Number(t.value));
        break;
      case 'sequence': {
        const set = t.type === 'atom' ? parseSequenceSet(t.value) : undefined;
        if (!set) return 'Invalid sequence set';
        out.push(set);
        break;
      }
      case 'fetch-atts': {
        const atts = parseFetchAtts(t);
        if (!atts) return 'Invalid fetch attributes';
        out.push(atts);
        break;
      }
      case 'list':
        if (t.type !== 'list') return 'Expected a parenthesized list';
        out.push(t.items);
        break;
      default:
        out.push(t);
    }
  }
  if (i < tokens.length) return 'Too many arguments';
  return out;
}

let counter = 0;

export function startSession(o: SessionOptions): RunningSession {
  const cid = `imap-${randomBytes(3).toString('hex')}${(counter++ % 1296).toString(36)}`;
  const remoteAddress = (o.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  const log = o.log;
  let socket: Socket = o.socket;
  let secure = o.secure;
  let state: ImapState = 'not-authenticated';
  let selected: SelectedMailbox | undefined;
  let unsubscribe: (() => void) | undefined;
  let changed = false;
  let fingerprint = '';
  let closed = false;
  /** BYE said: nothing more is read or written. */
  let closing = false;
  let waiter: (() => void) | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));

  const wake = () => {
    const w = waiter;
    waiter = undefined;
    w?.();
  };
  // Before login a client has no business sending big literals (LOGIN's are a few bytes): it gets 8 KiB, not maxLiteral.
  const maxLiteral = () => (state === 'not-authenticated' ? Math.min(o.maxPreAuthLiteral ?? 8192, o.maxLiteral) : o.maxLiteral);
  const maxCommand = () => o.maxLine + maxLiteral();
  const reader = createCommandReader({
    maxLine: o.maxLine,
    maxLiteral,
    maxCommand,
    continueLiteral: () => write(Buffer.from('+ Ready for literal data\r\n')),
  });

  function onData(chunk: Buffer) {
    if (closing) return;
    resetIdle();
    reader.push(chunk);
    // Backpressure: a client that sends faster than we answer waits in the kernel, not in our memory. `buffered`
    // counts the literals of the command being read too; frame() resumes reading when it needs more bytes.
    if (reader.buffered > maxCommand()) socket.pause();
    wake();
  }
  function onClose() {
    if (closed) return;
    closed = true;
    clearTimeout(idleTimer);
    unsubscribe?.();
    wake();
    log.info({ cid, ip: remoteAddress, listener: o.listener }, 'imap.close');
    resolveDone();
  }
  function onError(err: Error) {
    log.debug({ cid, err: { message: err.message, code: (err as NodeJS.ErrnoException).code } }, 'imap.socket_error');
  }
  function attach(s: Socket) {
    s.on('data', onData);
    s.on('close', onClose);
    s.on('error', onError);
  }
  function detach(s: Socket) {
    s.off('data', onData);
    s.off('close', onClose);
    s.off('error', onError);
  }
  function resetIdle() {
    clearTimeout(idleTimer);
    if (closing || closed) return;
    const ms = state === 'not-authenticated' ? Math.min(o.preAuthTimeoutMs ?? 60_000, o.idleTimeoutMs) : o.idleTimeoutMs;
    idleTimer = setTimeout(() => {
      log.info({ cid, ip: remoteAddress }, 'imap.autologout');
      void bye('Autologout; idle for too long');
    }, ms);
    idleTimer.unref();
  }

  async function write(buf: Buffer): Promise<void> {
    if (closed || closing || socket.destroyed) return;
    if (!socket.write(buf)) {
      await new Promise<void>((resolve) => {
        const end = () => { socket.off('drain', end); socket.off('close', end); resolve(); };
        socket.once('drain', end);
        socket.once('close', end);
      });
    }
  }

  /**
   * Says BYE and closes, waiting for nothing: a client that stopped reading must not hold up shutdown, so the destroy
   * timer starts first and the BYE goes out only if the socket takes it.
   */
  function bye(reason: string): Promise<void> {
    if (closed || closing) return Promise.resolve();
    const s = socket;
    setTimeout(() => s.destroy(), 2000).unref();
    void write(Buffer.from(`* BYE ${reason}\r\n`));
    closing = true;
    clearTimeout(idleTimer);
    reader.clear();
    s.end();
    wake();
    return Promise.resolve();
  }

  async function frame(mode: 'command' | 'line'): Promise<Frame | undefined> {
    for (;;) {
      if (closed || closing) return undefined;
      const f = reader.next(mode);
      if (f) return f;
      if (socket.isPaused()) socket.resume();
      await new Promise<void>((r) => (waiter = r));
    }
  }

  function lineOf(f: Frame | undefined): string | undefined {
    if (!f) return undefined;
    if (f.kind === 'line') return f.text;
    if (f.kind === 'command') return f.bytes.toString('utf8');
    return '';
  }

  const session: ImapSession = {
    cid,
    get closed() { return closed || closing; },
    remoteAddress,
    listener: o.listener,
    get secure() { return secure; },
    get state() { return state; },
    set state(s: ImapState) { state = s; },
    user: undefined,
    get selected() { return selected; },
    set selected(s: SelectedMailbox | undefined) {
      unsubscribe?.();
      unsubscribe = undefined;
      selected = s;
      fingerprint = '';
      // A SELECT that finishes after the connection went away must not leave a subscription behind (onClose ran already).
      if (s && !closed) unsubscribe = o.watch.subscribe(s.ref.box, () => { changed = true; wake(); });
    },
    store: o.store,
    watch: o.watch,
    log,
    security: o.security,
    pollMs: o.pollMs,
    capabilities() {
      // RFC 3501 §7.2.1; LOGINDISABLED and STARTTLS before TLS on the plain port (§6.2.1, §6.2.3), AUTH=PLAIN only over TLS.
      const caps = ['IMAP4rev1', 'LITERAL+', 'SASL-IR', 'ID', 'IDLE', 'UIDPLUS', 'UNSELECT'];
      if (state === 'not-authenticated') {
        if (secure) caps.push('AUTH=PLAIN');
        else caps.push('STARTTLS', 'LOGINDISABLED');
      }
      return caps;
    },
    async send(...parts) {
      const first = parts[0];
      const prefix = typeof first === 'string' && (first.startsWith('* ') || first.startsWith('+')) ? '' : '* ';
      await write(Buffer.concat([Buffer.from(prefix), ...parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)), Buffer.from('\r\n')]));
    },
    async readLine() {
      return lineOf(await frame('line'));
    },
    async readLineOrChange() {
      let poll: NodeJS.Timeout | undefined;
      // False once this wait is over: a poll query still in flight then must not schedule another one.
      let active = true;
      const box = selected?.ref.box;
      // Other nodes (PostgreSQL) change mailboxes without telling us: poll a cheap fingerprint while waiting.
      const tick = () => {
        poll = setTimeout(async () => {
          try {
            if (box && active && !closed && (await o.store.fingerprint(box)) !== fingerprint) { changed = true; wake(); return; }
          } catch (err) {
            log.warn({ cid, err }, 'imap.poll_failed');
          }
          if (active && !closed) tick();
        }, o.pollMs);
      };
      try {
        for (;;) {
          if (closed || closing) return undefined;
          const f = reader.next('line');
          if (f) return lineOf(f);
          if (changed) { changed = false; return { changed: true }; }
          if (!poll) tick();
          if (socket.isPaused()) socket.resume();
          await new Promise<void>((r) => (waiter = r));
        }
      } finally {
        active = false;
        clearTimeout(poll);
      }
    },
    async startTls() {
      const plain = socket;
      detach(plain);
      // RFC 3501 §6.2.1: anything the client sent after STARTTLS and before the handshake is dropped, not run (CVE-2011-0411 class).
      reader.clear();
      const upgraded = new TLSSocket(plain, { isServer: true, secureContext: o.secureContext });
      socket = upgraded;
      attach(upgraded);
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { upgraded.destroy(); resolve(); }, 30_000);
        upgraded.once('secure', () => { clearTimeout(t); resolve(); });
        upgraded.once('close', () => { clearTimeout(t); resolve(); });
      });
      secure = true;
      log.debug({ cid, protocol: upgraded.getProtocol?.() }, 'imap.starttls');
    },
    async sync({ expunges }) {
      const sel = selected;
      if (!sel) return;
      changed = false;
      const [fresh, print] = await Promise.all([o.store.list(sel.ref.box), o.store.fingerprint(sel.ref.box)]);
      fingerprint = print;
      if (selected !== sel) return;
      const byUid = new Map(fresh.map((m) => [m.uid, m]));
      const out: string[] = [];
      if (expunges) {
        // RFC 3501 §7.4.1: each EXPUNGE renumbers the later messages, so they go from the highest number down.
        for (let i = sel.messages.length - 1; i >= 0; i--) {
          if (!byUid.has(sel.messages[i].uid)) {
            out.push(`* ${i + 1} EXPUNGE`);
            sel.messages.splice(i, 1);
          }
        }
      }
      sel.messages.forEach((m, i) => {
        const now = byUid.get(m.uid);
        if (now && now.flags.join(' ') !== m.flags.join(' ')) {
          m.flags = now.flags;
          out.push(`* ${i + 1} FETCH (UID ${m.uid} FLAGS ${flagList(m.flags)})`);
        }
      });
      const top = sel.messages.length ? sel.messages[sel.messages.length - 1].uid : 0;
      const added = fresh.filter((m) => m.uid > top);
      if (added.length) {
        sel.messages.push(...added);
        out.push(`* ${sel.messages.length} EXISTS`, '* 0 RECENT');
      }
      if (out.length) await write(Buffer.from(out.map((l) => `${l}\r\n`).join('')));
    },
    authFailed(mechanism) {
      o.security?.onAuthFailure?.(remoteAddress);
      log.info({ cid, ip: remoteAddress, listener: o.listener, mechanism }, 'imap.auth_failed');
    },
    loggedIn(user, mechanism) {
      session.user = user;
      state = 'authenticated';
      resetIdle();
      log.info({ cid, ip: remoteAddress, user: user.name, mechanism }, 'imap.login');
    },
  };

  async function tagged(tag: string, c: Completion): Promise<void> {
    await write(Buffer.from(`${tag} ${c.status}${c.code ? ` [${c.code}]` : ''} ${c.text}\r\n`));
  }

  function protocolError() {
    o.security?.onProtocolError?.(remoteAddress);
  }

  async function run(): Promise<void> {
    try {
      await o.security?.onConnect?.(remoteAddress);
    } catch {
      await bye('Too many errors from your address, try again later');
      return;
    }
    if (closed) return;
    log.info({ cid, ip: remoteAddress, listener: o.listener }, 'imap.connect');
    await session.send(`OK [CAPABILITY ${session.capabilities().join(' ')}] mana IMAP4rev1 ready`);
    for (;;) {
      const f = await frame('command');
      if (!f || closed) return;
      if (f.kind === 'line') continue;
      if (f.kind === 'too-long') {
        protocolError();
        await write(Buffer.from(`${f.tag ?? '*'} BAD Command line too long\r\n`));
        continue;
      }
      if (f.kind === 'too-big') {
        if (f.sync) {
          // RFC 7888 §4 / RFC 4469 TOOBIG: the client has not sent the literal, the command is over.
          await write(Buffer.from(`${f.tag ?? '*'} NO [TOOBIG] Literal of ${f.size} octets is larger than ${f.limit}\r\n`));
          continue;
        }
        // RFC 7888 §4: a non-synchronizing literal over the limit is on its way already; the command is rejected with
        // BAD [TOOBIG] and, since its bytes cannot be told from the next command, the connection ends.
        protocolError();
        await write(Buffer.from(`${f.tag ?? '*'} BAD [TOOBIG] Literal of ${f.size} octets is larger than ${f.limit}\r\n`));
        await bye('[TOOBIG] Literal too large, closing');
        return;
      }
      let command;
      try {
        command = parseCommand(f.bytes);
      } catch (err) {
        if (!(err instanceof ImapSyntaxError)) throw err;
        protocolError();
        await write(Buffer.from(`${err.tag ?? '*'} BAD ${err.message}\r\n`));
        continue;
      }
      const spec = o.commands.get(command.name);
      if (!spec) {
        protocolError();
        await tagged(command.tag, { status: 'BAD', text: `Unknown command ${command.name.slice(0, 32)}` });
        continue;
      }
      if (!spec.states.includes(state)) {
        await tagged(command.tag, { status: 'BAD', text: `${spec.name} is not valid in this state` });
        continue;
      }
      const args = checkArgs(spec.schema, command.args);
      if (typeof args === 'string') {
        protocolError();
        await tagged(command.tag, { status: 'BAD', text: `${spec.name}: ${args}` });
        continue;
      }
      // Never the arguments: LOGIN and AUTHENTICATE carry passwords.
      log.debug({ cid, tag: command.tag, command: spec.name }, 'imap.command');
      let completion: Completion;
      try {
        completion = await spec.handler(session, args, command);
        if (state === 'selected' && !closed && spec.name !== 'SELECT' && spec.name !== 'EXAMINE') {
          await session.sync({ expunges: spec.expungesAfter !== false });
        }
      } catch (err) {
        log.error({ cid, err, command: spec.name }, 'imap.command_failed');
        completion = { status: 'NO', code: 'SERVERBUG', text: 'Internal error, try again' };
      }
      await tagged(command.tag, completion);
      if (completion.after) await completion.after();
      if (state === 'logout') {
        socket.end();
        setTimeout(() => socket.destroy(), 2000).unref();
        return;
      }
    }
  }

  attach(socket);
  resetIdle();
  run().catch((err) => {
    log.error({ cid, err }, 'imap.session_failed');
    socket.destroy();
  });

  return {
    cid,
    done,
    async close(reason) {
      await bye(reason);
    },
  };
}
