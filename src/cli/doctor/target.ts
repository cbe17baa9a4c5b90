// `mana doctor`: the server to check (the domain's MX per RFC 5321 §5.1, else mail.hostname) and its ports (RFC 6409, RFC 8314).
import { isIP } from 'node:net';
import type { Config } from '../../config/schema.ts';
import type { DnsResolver } from '../../mail/route/resolver.ts';
import { isThisMachine } from './address.ts';
import { bare, errorText, type CheckResult, type DoctorOptions, type DoctorPorts } from './check.ts';

const STANDARD_PORTS: DoctorPorts = { smtp: 25, submission: 587, submissions: 465 };

export type Target = { host: string; address?: string; addresses: string[]; local: boolean; ports: DoctorPorts; portsFrom: string; result: CheckResult };
export type ServerContext = Target & { address: string; config: Readonly<Config>; stepMs: number; now: () => number; fromIp?: string };

export async function findTarget(o: { options: DoctorOptions; domain: string; dns: DnsResolver }): Promise<Target> {
  const { options, domain, dns } = o;
  const { config } = options;
  let host = options.host?.trim().toLowerCase().replace(/\.$/, '');
  let why = 'given with --host';
  if (!host) {
    const mx = await dns.resolveMx(domain).catch(() => []);
    const best = mx.filter((m) => bare(m.exchange)).sort((a, b) => a.priority - b.priority)[0];
    host = best ? bare(best.exchange) : config.mail.hostname;
    why = best ? `MX of ${domain}` : `mail.hostname; ${domain} has no MX`;
  }
  let addresses: string[] = [];
  let lookupError = '';
  if (isIP(host)) addresses = [host];
  else {
    const [a, aaaa] = await Promise.all([dns.resolve4(host).catch((e) => { lookupError = errorText(e); return []; }), dns.resolve6(host).catch(() => [])]);
    addresses = [...a, ...aaaa];
  }
  const address = addresses[0];
  const local = address !== undefined && isThisMachine(address);
  const l = config.mail.listeners;
  const base = local ? { smtp: l.inbound.port, submission: l.submission.port, submissions: l.submissions.port } : STANDARD_PORTS;
  const ports: DoctorPorts = {
    smtp: options.ports?.smtp ?? base.smtp,
    submission: options.ports?.submission ?? base.submission,
    submissions: options.ports?.submissions ?? base.submissions,
  };
  const given = options.ports && Object.values(options.ports).some((p) => p !== undefined);
  const portsFrom = given ? 'ports as given' : local ? "this machine: the configured listeners' ports" : 'another host: the standard ports';
  const portList = `smtp ${ports.smtp}, submission ${ports.submission}, submissions ${ports.submissions}`;
  const result: CheckResult = address
    ? { check: 'target', status: 'ok', detail: `${host} (${why}) = ${addresses.join(', ')}; ${portsFrom}: ${portList}` }
    : { check: 'target', status: 'error', detail: `${host} (${why}) has no A/AAAA record${lookupError ? `: ${lookupError}` : ''}` };
  return { host, address, addresses, local, ports, portsFrom, result };
}
