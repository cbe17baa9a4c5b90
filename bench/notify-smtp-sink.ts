// Benchmark child: a discard SMTP provider for notify (RFC 5321 server side, AUTH PLAIN/LOGIN per RFC 4954 accepting any credentials, no TLS), in its own process so its CPU is not notify's.
//
// Usage: node bench/notify-smtp-sink.ts
// Prints `READY {"port":<port>}` once listening on 127.0.0.1 (port chosen by the kernel); every second after the
// first message, `COUNT <messages accepted so far>`. SIGTERM stops it. Postfix's smtp-sink cannot stand in here:
// it answers AUTH with 250 instead of 235, which nodemailer (rightly) treats as a failed login.
import { randomBytes } from 'node:crypto';
import { SMTPServer } from 'smtp-server';

let count = 0;
let reported = -1;
const server = new SMTPServer({
  authMethods: ['PLAIN', 'LOGIN'],
  allowInsecureAuth: true,
  disabledCommands: ['STARTTLS'],
  hideSTARTTLS: true,
  logger: false,
  // Clients connect once and reuse the session (notify pools 5 connections): no early-talker wait worth keeping.
  useXClient: false,
  size: 10 * 1024 * 1024,
  onAuth(auth, _session, callback) {
    callback(null, { user: auth.username });
  },
  onData(stream, _session, callback) {
    stream.on('data', () => {});
    stream.on('end', () => {
      count++;
      callback(null, `2.0.0 Ok: queued as ${randomBytes(6).toString('hex')}`);
    });
  },
});
server.on('error', (err) => process.stderr.write(`sink error: ${err.message}\n`));
server.listen(0, '127.0.0.1', () => {
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`READY ${JSON.stringify({ port })}\n`);
});
const ticker = setInterval(() => {
  if (count !== reported) process.stdout.write(`COUNT ${count}\n`);
  reported = count;
}, 1000);
process.on('SIGTERM', () => {
  clearInterval(ticker);
  process.stdout.write(`COUNT ${count}\n`);
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
});
