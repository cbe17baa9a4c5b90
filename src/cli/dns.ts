// `mana dns records DOMAIN [--json|--zone]`: the records to publish for a local domain (MX, SPF, DKIM, DMARC, TLS-RPT, MTA-STS, SRV), as a table, JSON or a BIND zone file (RFC 1035 §5).
import { EXIT, parse, runCommand, table, UsageError, type CliIo } from './args.ts';
import { createAddressFinder, dnsRecordsFor } from '../mail/admin/dns.ts';
import { toZoneFile } from '../mail/dns-records.ts';
import { createResolver } from '../mail/route/resolver.ts';

export const USAGE = `Usage:
  mana dns records DOMAIN [--json | --zone]
      A table by default; --json as GET /api/dns/records/DOMAIN gives it; --zone in zone-file format.
      The server's addresses come from mail.publicIp (MAIL_PUBLIC_IP), else from the A/AAAA records
      of the host name, else from this machine's public interface addresses.
`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  return runCommand(io, 'dns', USAGE, async () => {
    if (sub !== 'records') throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'expected a subcommand');
    const { positionals, values } = parse(rest, { json: { type: 'boolean' }, zone: { type: 'boolean' } });
    if (positionals.length !== 1) throw new UsageError('expected DOMAIN');
    if (values.json && values.zone) throw new UsageError('give --json or --zone, not both');
    const { config } = io;
    const addresses = createAddressFinder({ config, resolver: createResolver({ servers: config.mail.dnsServers, timeoutMs: config.mail.dnsTimeoutMs, tries: 1 }) });
    const records = await dnsRecordsFor({ q: io.store, config, domain: positionals[0], addresses: await addresses() });
    if (values.json) io.out(JSON.stringify(records, null, 2));
    else if (values.zone) io.out(toZoneFile(records));
    else io.out(table(['TYPE', 'NAME', 'CONTENT'], records.map((r) => [r.type, r.name, r.content])));
    return EXIT.ok;
  });
}
