// Test support: a raw SMTP client session (RFC 5321) over TCP or implicit TLS (RFC 8314) that writes exactly the bytes it is given, for tests of what clients like nodemailer cannot send.
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';

export type RawSession = {
  /** The next complete reply (lines of a multi-line reply joined with \n). */
  reply: () => Promise<string>;
  command: (line: string, expect: RegExp) => Promise<string>;
  write: (data: string) => Promise<void>;
  /** Every reply not yet read, once the server closed the connection. */
  rest: () => Promise<string[]>;
  destroy: () => void;
};

/** A raw SMTP session over TCP (or implicit TLS, RFC 8314): exactly the bytes written reach the server. */
export async function openSession(options: { port: number; tls?: boolean; localAddress?: string }): Promise<RawSession> {
  const socket: Socket = options.tls
    ? connectTls({ host: '127.0.0.1', port: options.port, rejectUnauthorized: false })
    : connectTcp({ host: '127.0.0.1', port: options.port, localAddress: options.localAddress });
  socket.setNoDelay(true);
  socket.setEncoding('latin1');
  socket.setTimeout(15_000, () => socket.destroy(new Error('smtp session timed out')));
  const ready: string[] = [];
  const waiting: Array<{ resolve: (reply: string) => void; reject: (err: Error) => void }> = [];
  let failed: Error | undefined;
  let buffer = '';
  let lines: string[] = [];
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    for (let i = buffer.indexOf('\r\n'); i >= 0; i = buffer.indexOf('\r\n')) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 2);
      lines.push(line);
      // RFC 5321 §4.2.1: the last line of a reply has a space (or nothing) after the code.
      if (!/^\d{3}(?: |$)/.test(line)) continue;
      const reply = lines.join('\n');
      lines = [];
      const w = waiting.shift();
      if (w) w.resolve(reply);
      else ready.push(reply);
    }
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const fail = (err: Error) => {
    failed ??= err;
    for (const w of waiting.splice(0)) w.reject(err);
  };
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('smtp connection closed')));
  const reply = () =>
    new Promise<string>((resolve, reject) => {
      const r = ready.shift();
      if (r !== undefined) resolve(r);
      else if (failed) reject(failed);
      else waiting.push({ resolve, reject });
    });
  const write = (data: string) => new Promise<void>((resolve, reject) => socket.write(Buffer.from(data, 'latin1'), (err) => (err ? reject(err) : resolve())));
  return {
    reply,
    async command(line, expect) {
      await write(`${line}\r\n`);
      const r = await reply();
      if (!expect.test(r)) throw new Error(`${line.split(' ')[0]}: unexpected reply ${JSON.stringify(r)}`);
      return r;
    },
    write,
    async rest() {
      await closed;
      return ready.splice(0);
    },
    destroy: () => socket.destroy(),
  };
}

