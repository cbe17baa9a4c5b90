// `mana reports dmarc|tls [ID]`: DMARC aggregate reports (RFC 7489 §7.2) and TLS reports (RFC 8460) received at postmaster@, as kept by src/mail/reports.ts.
import { EXIT, parse, positiveInt, runCommand, str, table, UsageError, type CliIo } from './args.ts';
import { getReport, listReports, type DmarcSummary, type ReportKind, type TlsSummary } from '../mail/reports.ts';
import { notFound } from '../mail/admin/errors.ts';

export const USAGE = `Usage:
  mana reports dmarc [--domain D] [--limit N] [--page N]   DMARC aggregate reports, newest period first
  mana reports tls [--domain D] [--limit N] [--page N]     TLS reports (SMTP TLS reporting)
  mana reports dmarc|tls ID [--json]                       one report, whole
`;

function summaryText(kind: ReportKind, s: DmarcSummary | TlsSummary): string {
  if (kind === 'dmarc') {
    const d = s as DmarcSummary;
    return `${d.messages} messages, ${d.passed} passed, ${d.failed} failed (p=${d.policy})`;
  }
  const t = s as TlsSummary;
  return `${t.successful} sessions ok, ${t.failed} failed`;
}

export async function run(args: string[], io: CliIo): Promise<number> {
  const [kind, ...rest] = args;
  return runCommand(io, 'reports', USAGE, async () => {
    if (kind !== 'dmarc' && kind !== 'tls') throw new UsageError(kind ? `unknown report kind "${kind}"` : 'expected dmarc or tls');
    const { positionals, values } = parse(rest, { domain: { type: 'string' }, limit: { type: 'string' }, page: { type: 'string' }, json: { type: 'boolean' } });
    if (positionals.length > 1) throw new UsageError(`unexpected ${positionals[1]}`);
    if (positionals.length === 1) {
      if (!/^\d+$/.test(positionals[0])) throw new UsageError('a report ID is a number (see the list)');
      const report = await getReport(io.store, kind, Number(positionals[0]));
      if (!report) throw notFound(positionals[0], `${kind} report`);
      if (values.json) io.out(JSON.stringify(report, null, 2));
      else {
        io.out(`${report.org}  report ${report.reportId}  for ${report.domain}  ${report.begin} .. ${report.end}`);
        io.out(summaryText(kind, report.summary));
        io.out(JSON.stringify(report.report, null, 2));
      }
      return EXIT.ok;
    }
    const limit = positiveInt('limit', str(values.limit), 50);
    const page = positiveInt('page', str(values.page), 1);
    const { items, total } = await listReports(io.store, { kind, domain: str(values.domain), limit, offset: (page - 1) * limit });
    if (!total) {
      io.out(`no ${kind} report received yet`);
      return EXIT.ok;
    }
    io.out(table(['ID', 'FROM', 'DOMAIN', 'PERIOD', 'SUMMARY'], items.map((r) => [String(r.id), r.org, r.domain, `${r.begin.slice(0, 10)} .. ${r.end.slice(0, 10)}`, summaryText(kind, r.summary)])));
    io.out(`${items.length} of ${total}`);
    return EXIT.ok;
  });
}
