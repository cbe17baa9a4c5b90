// A mail server node in its own process on a shared PostgreSQL store, for the scale-out test: one node of several, SIGKILLed while it holds leases.
//
// Usage: node test/e2e/mail-scale-out-child.ts <databaseUrl> <dnsServer host:port> <mxPort> <hostname> [mail config JSON]
// Prints one line `READY {"inbound":<port>,...}` on stdout once listening.
import { startMail } from '../../src/mail/service.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { makeTestContext } from '../support/context.ts';

const [url, dnsServer, mxPort, hostname, extra] = process.argv.slice(2);
if (!url || !dnsServer || !mxPort || !hostname) {
  process.stderr.write('usage: mail-scale-out-child.ts <databaseUrl> <dnsServer> <mxPort> <hostname> [mail config JSON]\n');
  process.exit(2);
}
// Its own connections to the shared database, as a node on another machine would have.
const store = await openPostgres({ url, max: 5 });
const test = await makeTestContext({
  store,
  overrides: {
    mail: {
      domain: 'mana.test',
      hostname,
      delivery: 'deliver',
      dnsServers: [dnsServer],
      mxPort: Number(mxPort),
      ...(extra ? JSON.parse(extra) : {}),
    },
  },
});
const mail = await startMail(test.ctx);
process.stdout.write(`READY ${JSON.stringify(mail.ports)}\n`);
const stop = async () => {
  await mail.close();
  await test.cleanup();
  await store.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
