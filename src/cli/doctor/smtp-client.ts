// `mana doctor`: a small SMTP client (RFC 5321 §4.2 replies, RFC 3207 STARTTLS, RFC 8314 implicit TLS): one step at a time, each with a deadline.
import { connect as connectTcp, isIP, isIPv6, type Socket } from 'node:net';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { unmapped } from './address.ts';
import { withDeadline } from './check.ts';

export type Reply = { code: number; text: string };

export type Conversation = {
  readonly socket: Socket;
  reply: (what: string) => Promise<Reply>;
  command: (line: string) => Promise<Reply>;
  startTls: (servername: string) => Promise<TLSSocket>;
  close: () => void;
};

export function converse(first: Socket, stepMs: number): Conversation {
  let socket = first;
  let buffer = '';
  let lines: string[] = [];
  const ready: Reply[] = [];
  let waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void } | undefined;
  let failed: Error | undefined;
  const onData = (chunk: Buffer) => {
    buffer += chunk.toString('latin1');
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const line = buffer.slice(0, i).replace(/\r$/, '');
      buffer = buffer.slice(i + 1);
      lines.push(line);
      // RFC 5321 §4.2.1: the last line of a reply has a space (or nothing) after the code.
      if (!/^\d{3}(?: |$)/.test(line)) continue;
      const r = { code: Number(line.slice(0, 3)), text: lines.join('\n') };
      lines = [];
      const w = waiting;
      waiting = undefined;
      if (w) w.resolve(r);
      else ready.push(r);
    }
  };
  const fail = (err: Error) => {
    failed ??= err;
    const w = waiting;
    waiting = undefined;
    w?.reject(failed);
  };
  const onError = (err: Error) => fail(err);
  const onClose = () => fail(new Error('the server closed the connection'));
  const attach = (s: Socket) => { s.on('data', onData); s.on('error', onError); s.on('close', onClose); };
  const detach = (s: Socket) => { s.off('data', onData); s.off('error', onError); s.off('close', onClose); };
  attach(socket);

  const reply = (what: string) => {
    const r = ready.shift();
    if (r) return Promise.resolve(r);
    if (failed) return Promise.reject(failed);
    return withDeadline(
      new Promise<Reply>((resolve, reject) => { waiting = { resolve, reject }; }),
      stepMs,
      () => new Error(`no ${what} within ${stepMs} ms`),
      () => { waiting = undefined; socket.destroy(); },
    );
  };
  return {
    get socket() { return socket; },
    reply,
    async command(line) {
      socket.write(`${line}\r\n`);
      return reply(`reply to ${line.split(/[ :]/)[0]}`);
    },
    async startTls(servername) {
      detach(socket);
      const plain = socket;
      plain.on('error', () => {}); // the TLS socket reports failures from here on
      const secure = connectTls({ socket: plain, servername: isIP(servername) ? undefined : servername, rejectUnauthorized: false });
      socket = secure;
      attach(secure);
      await withDeadline(
        new Promise<void>((resolve, reject) => { secure.once('secureConnect', () => resolve()); secure.once('error', reject); }),
        stepMs, () => new Error(`no TLS handshake within ${stepMs} ms`), () => secure.destroy(),
      );
      return secure;
    },
    close() {
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    },
  };
}

/** A TCP connection (from `localAddress` when given), or with `tls` (the SNI name) an implicit-TLS one (RFC 8314). */
export function connect(o: { address: string; port: number; localAddress?: string; tls?: string; stepMs: number }): Promise<Socket> {
  const socket = o.tls !== undefined
    ? connectTls({ host: o.address, port: o.port, servername: isIP(o.tls) ? undefined : o.tls, rejectUnauthorized: false })
    : connectTcp({ host: o.address, port: o.port, localAddress: o.localAddress });
  return withDeadline(
    new Promise<Socket>((resolve, reject) => {
      socket.once(o.tls !== undefined ? 'secureConnect' : 'connect', () => { socket.off('error', reject); resolve(socket); });
      socket.once('error', reject);
    }),
    o.stepMs,
    () => new Error(`no connection within ${o.stepMs} ms`),
    () => socket.destroy(),
  ).catch((err) => { socket.destroy(); throw err; });
}

/** RFC 5321 §4.1.3: a client without a name of its own says EHLO with its address literal. */
export function ehloName(socket: Socket): string {
  const ip = unmapped(socket.localAddress ?? '127.0.0.1');
  return isIPv6(ip) ? `[IPv6:${ip}]` : `[${ip}]`;
}

export const firstLine = (r: Reply) => r.text.split('\n')[0];
export const lastLine = (r: Reply) => r.text.split('\n').at(-1) ?? '';
