// A mail server in its own process for the crash test: started on a data directory given by the parent, killed with SIGKILL, started again on the same directory.
//
// Usage: node test/e2e/mail-crash-child.ts <dataDir> <dnsServer host:port> <mxPort>
// Prints one line `READY {"inbound":<port>,...}` on stdout once listening.
import { startMail } from '../../src/mail/service.ts';
import { makeTestContext } from '../support/context.ts';

const [dataDir, dnsServer, mxPort] = process.argv.slice(2);
if (!dataDir || !dnsServer || !mxPort) {
  process.stderr.write('usage: mail-crash-child.ts <dataDir> <dnsServer> <mxPort>\n');
  process.exit(2);
}
const test = await makeTestContext({
  dataDir,
  overrides: {
    mail: {
      domain: 'mana.test',
      hostname: 'mail.mana.test',
      delivery: 'deliver',
      dnsServers: [dnsServer],
      mxPort: Number(mxPort),
      // Short leases: after the kill, what the dead process held is taken over within seconds.
      queue: { leaseSeconds: 2, retrySchedule: [1] },
    },
  },
});
const mail = await startMail(test.ctx);
process.stdout.write(`READY ${JSON.stringify(mail.ports)}\n`);
const stop = async () => {
  await mail.close();
  await test.cleanup();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
