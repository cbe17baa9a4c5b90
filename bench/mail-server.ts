// Benchmark child: the mail server alone (SMTP in, durable queue, DKIM, delivery), as `mana mail` runs it but without a notify subscriber, in its own process so its CPU and memory are its own.
//
// Usage: node bench/mail-server.ts <dataDir> <dnsServer host:port> <mxPort> [perDomainConcurrency]
// Prints `READY {"inbound":<port>,...}` once listening; SIGTERM stops it.
// Diagnostics and experiments (environment, inherited through bench/smtp-relay.ts), none of them part of the product:
//   BENCH_COUNT_TX=1      count the store's transactions and the time spent in BEGIN/COMMIT (printed on exit)
//   BENCH_ASYNC_FSYNC=1   synchronous=NORMAL plus an fdatasync of the WAL on the thread pool before each commit resolves
//                         (what moving the fsync off the event loop would buy)
//   BENCH_PRAGMA='...'    one extra PRAGMA, e.g. 'wal_autocheckpoint = 20000'
import { loadConfig } from '../src/config/load.ts';
import { createLogger } from '../src/lib/log.ts';
import { openStore } from '../src/store/open.ts';
import { migrations } from '../src/store/migrations.ts';
import { loadSecrets } from '../src/stack/secrets.ts';
import { startMail } from '../src/mail/service.ts';

const [dataDir, dnsServer, mxPort, perDomain] = process.argv.slice(2);
if (!dataDir || !dnsServer || !mxPort) {
  process.stderr.write('usage: node bench/mail-server.ts <dataDir> <dnsServer> <mxPort> [perDomainConcurrency]\n');
  process.exit(2);
}
const local = { host: '127.0.0.1', port: 0 };
const config = loadConfig({
  env: { MANA_DATA_DIR: dataDir, MANA_LOG_LEVEL: 'warn' },
  file: undefined,
  overrides: {
    mail: {
      domain: 'mana.test',
      hostname: 'mail.mana.test',
      delivery: 'deliver',
      dnsServers: [dnsServer],
      mxPort: Number(mxPort),
      // smtp-source injects from loopback: the trusted network that may relay without AUTH (server.allowed-ip).
      allowedIp: ['127.0.0.0/8'],
      listeners: { inbound: local, submission: local, submissions: local, admin: local, imap: local, imaps: local },
      queue: { perDomainConcurrency: Number(perDomain ?? 20) },
    },
  },
});
const store = await openStore({ dataDir: config.dataDir });
await store.migrate(migrations);
const secrets = await loadSecrets(config, store);
if (process.env.BENCH_COUNT_TX === '1') {
  // Diagnostics: how many transactions (commits) the run took, and their time including lock waits.
  const tx = store.tx.bind(store);
  let n = 0;
  let ms = 0;
  (store as any).tx = async (fn: any) => { n++; const t = performance.now(); try { return await tx(fn); } finally { ms += performance.now() - t; } };
  const db = (store as any).db;
  const exec = db.exec.bind(db);
  const spent: Record<string, number> = {};
  db.exec = (sql: string) => { const t = performance.now(); try { return exec(sql); } finally { spent[sql] = (spent[sql] ?? 0) + performance.now() - t; } };
  process.on('exit', () => process.stderr.write(`transactions: ${n}, ${ms.toFixed(0)} ms inside; exec: ${JSON.stringify(Object.fromEntries(Object.entries(spent).map(([k, v]) => [k, Math.round(v)])))}\n`));
}
if (process.env.BENCH_PRAGMA) await store.run(`PRAGMA ${process.env.BENCH_PRAGMA}`); // experiments, e.g. wal_autocheckpoint = 10000
if (process.env.BENCH_ASYNC_FSYNC === '1') {
  // Experiment only (not the product): commit without fsync on the event loop, then fdatasync the WAL on the thread pool before resolving.
  const { open, fdatasync } = await import('node:fs');
  const { promisify } = await import('node:util');
  await store.run('PRAGMA synchronous = NORMAL');
  const fd = await promisify(open)(`${config.dataDir}/mana.db-wal`, 'r+');
  const sync = promisify(fdatasync);
  const tx = store.tx.bind(store);
  (store as any).tx = async (fn: any) => { const r = await tx(fn); await sync(fd); return r; };
}
const log = createLogger({ dataDir: config.dataDir, service: 'mail', level: config.logLevel });
const mail = await startMail({ config, store, log, secrets, announce: () => {} });
process.stdout.write(`READY ${JSON.stringify(mail.ports)}\n`);

let closing = false;
process.on('SIGTERM', () => {
  if (closing) return;
  closing = true;
  void mail.close().then(() => store.close()).then(() => process.exit(0));
});
