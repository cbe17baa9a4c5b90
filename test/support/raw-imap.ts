// Test support: a raw IMAP client session (RFC 3501 §2.2: CRLF-terminated lines, tagged completions) over TCP or TLS, for what real clients hide (greetings, refusals, BAD, the server closing).
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RawImap {
  socket: Socket | TLSSocket;
  /** What arrived and was not read by until() yet. */
  buf = '';
  /** The server closed the connection. */
  closed = false;
  waiters: Array<() => void> = [];
  constructor(socket: Socket | TLSSocket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    const wake = () => { for (const w of this.waiters.splice(0)) w(); };
    socket.on('data', (c: string) => { this.buf += c; wake(); });
    socket.on('close', () => { this.closed = true; wake(); });
    socket.on('error', () => {});
  }
  static async open(port: number, tls: boolean): Promise<RawImap> {
    const s = tls ? tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }) : tcpConnect({ host: '127.0.0.1', port });
    await new Promise((r, j) => { s.once(tls ? 'secureConnect' : 'connect', r); s.once('error', j); });
    return new RawImap(s);
  }
  /** Everything up to and including the first line matching `re`. */
  async until(re: RegExp, timeoutMs = 10_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.buf.split('\r\n');
      const i = lines.slice(0, -1).findIndex((l) => re.test(l));
      if (i >= 0) {
        const out = lines.slice(0, i + 1).join('\r\n');
        this.buf = lines.slice(i + 1).join('\r\n');
        return out;
      }
      if (Date.now() > end) throw new Error(`timed out waiting for ${re} in ${JSON.stringify(this.buf.slice(0, 300))}`);
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 100); });
    }
  }
  /** Sends one command line and reads up to its tagged completion. */
  async cmd(line: string, tag = line.split(' ')[0]): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return this.until(new RegExp(`^${tag} (OK|NO|BAD)`));
  }
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < end) await sleep(10);
    return this.closed;
  }
  close() { this.socket.destroy(); }
}
