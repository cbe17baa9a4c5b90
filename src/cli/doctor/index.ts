// `mana doctor DOMAIN`: DNS as published vs as needed (RFC 7208, 6376, 7489, 8460, 8461, 6186), SMTP ports and STARTTLS (RFC 5321, 3207, 8314), the TLS certificate, forward-confirmed reverse DNS of the HELO name, and an open-relay self-test; this file: the command line, the run and the output.
import { isIP } from 'node:net';
import { createResolver } from '../../mail/route/resolver.ts';
import { EXIT, parse, positiveInt, runCommand, str, UsageError, type CliIo } from '../args.ts';
import { errorText, skipped, type CheckResult, type CheckStatus, type DoctorOptions, type DoctorPorts } from './check.ts';
import { checkDns, memoize, srvLookup } from './dns.ts';
import { checkPorts } from './ports.ts';
import { checkRelay } from './relay.ts';
import { checkPtr } from './reverse.ts';
import { findTarget, type ServerContext } from './target.ts';

export type { CheckResult, CheckStatus, DoctorOptions, DoctorPorts } from './check.ts';
export { compareTxt, normalizeTxt, type Verdict } from './txt.ts';
export { isLoopback, reverseName } from './address.ts';

export const USAGE = `Usage:
  mana doctor DOMAIN [--host HOST] [--ports SMTP,SUBMISSION,SUBMISSIONS] [--from-ip ADDR] [--timeout MS] [--json]
      Checks DNS records as published against those mana dns records DOMAIN lists, SMTP on the
      three ports (greeting, EHLO, STARTTLS, implicit TLS), the TLS certificate, PTR/HELO, and
      that the server is no open relay. HOST defaults to the domain's MX, else mail.hostname.
      Ports: the configured listeners when HOST is this machine, else 25, 587 and 465.
      --from-ip binds the relay test to a local address (loopback is trusted by our own server).
      Exit code 0 when no check is an error, 1 otherwise.
`;

// ---------------------------------------------------------------------------------------------
// Command line

export async function run(args: string[], io: CliIo): Promise<number> {
  return runCommand(io, 'doctor', USAGE, async () => {
    const { positionals, values } = parse(args, {
      host: { type: 'string' }, ports: { type: 'string' }, 'from-ip': { type: 'string' }, timeout: { type: 'string' }, json: { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new UsageError('expected DOMAIN');
    const fromIp = str(values['from-ip']);
    if (fromIp !== undefined && !isIP(fromIp)) throw new UsageError('--from-ip must be an IP address');
    const results = await runDoctor({
      config: io.config,
      store: io.store,
      domain: positionals[0],
      host: str(values.host),
      fromIp,
      ports: parsePorts(str(values.ports)),
      timeoutMs: positiveInt('timeout', values.timeout, 5000),
    });
    io.out(values.json ? JSON.stringify(results, null, 2) : formatResults(results));
    return results.some((r) => r.status === 'error') ? EXIT.failed : EXIT.ok;
  });
}

function parsePorts(v: string | undefined): Partial<DoctorPorts> | undefined {
  if (v === undefined) return undefined;
  const parts = v.split(',').map((s) => s.trim());
  const ok = (p: string) => p === '' || (/^\d+$/.test(p) && Number(p) >= 1 && Number(p) <= 65535);
  if (parts.length !== 3 || !parts.every(ok)) throw new UsageError('--ports takes SMTP,SUBMISSION,SUBMISSIONS (e.g. 25,587,465; leave one empty for its default)');
  const [smtp, submission, submissions] = parts.map((p) => (p === '' ? undefined : Number(p)));
  return { smtp, submission, submissions };
}

/** One line per check (`status  check  detail`, columns aligned) and a summary line. */
export function formatResults(results: CheckResult[]): string {
  const width = Math.max(0, ...results.map((r) => r.check.length));
  const lines = results.map((r) => `${r.status.padEnd(5)}  ${r.check.padEnd(width)}  ${r.detail}`);
  const count = (s: CheckStatus) => results.filter((r) => r.status === s).length;
  const errors = count('error');
  lines.push('', `${results.length} checks: ${count('ok')} ok, ${count('warn')} warn, ${errors} error, ${count('skip')} skipped${errors ? ' - fix the errors above' : ' - no errors'}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// The checks

/** Runs every check; one failing (or throwing) never stops the others. Results in a fixed order. */
export async function runDoctor(options: DoctorOptions): Promise<CheckResult[]> {
  const { config } = options;
  const domain = options.domain.trim().toLowerCase().replace(/\.$/, '');
  const stepMs = options.timeoutMs ?? 5000;
  const now = options.now ?? Date.now;
  const dns = memoize(options.resolver ?? createResolver({ servers: config.mail.dnsServers, timeoutMs: Math.min(config.mail.dnsTimeoutMs, stepMs), tries: 1 }));
  const srv = srvLookup(config.mail.dnsServers, Math.min(config.mail.dnsTimeoutMs, stepMs));

  const dnsSection = guard('dns', () => checkDns({ ...options, domain, dns, srv }));
  const serverSection = guard('target', async () => {
    const target = await findTarget({ options, domain, dns });
    if (!target.address) return [target.result, ...['smtp', 'submission', 'submissions', 'ptr', 'open-relay'].map((check) => skipped(check, `no address for ${target.host}`))];
    const ctx: ServerContext = { ...target, address: target.address, config, stepMs, now, fromIp: options.fromIp };
    const [ports, ptr, relay] = await Promise.all([
      guard('smtp', () => checkPorts(ctx)),
      guard('ptr', () => checkPtr(ctx, dns)),
      guard('open-relay', async () => [await checkRelay(ctx)]),
    ]);
    return [target.result, ...ports, ...ptr, ...relay];
  });
  const [a, b] = await Promise.all([dnsSection, serverSection]);
  return [...a, ...b];
}

async function guard(check: string, body: () => Promise<CheckResult[]>): Promise<CheckResult[]> {
  try {
    return await body();
  } catch (err) {
    return [{ check, status: 'error', detail: `check failed: ${errorText(err)}` }];
  }
}
