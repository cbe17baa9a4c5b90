// Web admin pages of received aggregate reports: DMARC (RFC 7489 §7.2, Appendix C) and SMTP TLS (RFC 8460 §4) lists with their summaries, and one report as tables.
import type { Context as HonoContext, Hono } from 'hono';
import type { AdminDeps } from '../http.ts';
import { getReport, listReports, type DmarcReport, type DmarcSummary, type ReportKind, type TlsReport, type TlsSummary } from '../../reports.ts';
import { href, html, type Html } from './html.ts';
import { type UiEnv, errorPage, page, pageParam, pager, status, time } from './layout.ts';

type Context = HonoContext<UiEnv>;

const LIMIT = 25;
const iso = (ms: number) => new Date(ms).toISOString();
const list = (xs: string[]) => xs.join(', ');
/** A failure count, marked when not zero. */
const failed = (n: number): Html | number => (n ? html`<span class="st st-fail">${n}</span>` : 0);

async function index(c: Context, deps: AdminDeps): Promise<Response> {
  const domain = c.req.query('domain')?.trim() || undefined;
  const dmarcPage = pageParam(c, 'dmarc_page');
  const tlsPage = pageParam(c, 'tls_page');
  const dmarc = await listReports(deps.ctx.store, { kind: 'dmarc', domain, limit: LIMIT, offset: (dmarcPage - 1) * LIMIT });
  const tls = await listReports(deps.ctx.store, { kind: 'tls', domain, limit: LIMIT, offset: (tlsPage - 1) * LIMIT });
  const link = (p: { dmarc_page?: number; tls_page?: number }) => href('/ui/reports', { domain, dmarc_page: p.dmarc_page ?? (dmarcPage > 1 ? dmarcPage : undefined), tls_page: p.tls_page ?? (tlsPage > 1 ? tlsPage : undefined) });
  return page(c, {
    title: 'Reports',
    section: 'reports',
    body: html`
<p class="muted">Aggregate reports other servers send to postmaster@ (the rua of the DMARC and TLS-RPT records), newest period first.</p>
<form class="bar" method="get" action="/ui/reports">
<label>Domain <input type="text" name="domain" value="${domain ?? ''}"></label>
<button type="submit">Filter</button>
</form>
<h2>DMARC aggregate reports</h2>
<table>
<thead><tr><th>Reporter</th><th>Report id</th><th>Domain</th><th>Period</th><th>Messages</th><th>Passed</th><th>Failed</th><th>Policy</th></tr></thead>
<tbody>
${dmarc.items.length ? dmarc.items.map((r) => {
  const s = r.summary as DmarcSummary;
  return html`<tr><td><a href="/ui/reports/dmarc/${r.id}">${r.org}</a></td><td class="mono">${r.reportId}</td><td>${r.domain}</td><td>${time(r.begin)} – ${time(r.end)}</td>
<td>${s.messages}</td><td>${s.passed}</td><td>${failed(s.failed)}</td><td>${s.policy}</td></tr>`;
}) : html`<tr><td colspan="8" class="muted">No DMARC reports.</td></tr>`}
</tbody>
</table>
${pager({ page: dmarcPage, limit: LIMIT, total: dmarc.total, link: (p) => link({ dmarc_page: p }) })}
<h2>TLS reports</h2>
<table>
<thead><tr><th>Reporter</th><th>Report id</th><th>Domain</th><th>Period</th><th>Successful sessions</th><th>Failed sessions</th><th>Policies</th></tr></thead>
<tbody>
${tls.items.length ? tls.items.map((r) => {
  const s = r.summary as TlsSummary;
  return html`<tr><td><a href="/ui/reports/tls/${r.id}">${r.org}</a></td><td class="mono">${r.reportId}</td><td>${r.domain}</td><td>${time(r.begin)} – ${time(r.end)}</td>
<td>${s.successful}</td><td>${failed(s.failed)}</td><td>${s.policies}</td></tr>`;
}) : html`<tr><td colspan="7" class="muted">No TLS reports.</td></tr>`}
</tbody>
</table>
${pager({ page: tlsPage, limit: LIMIT, total: tls.total, link: (p) => link({ tls_page: p }) })}`,
  });
}

function dmarcBody(r: DmarcReport): Html {
  const p = r.policy;
  return html`
<dl>
<dt>Reporter</dt><dd>${r.org}${r.email ? ` <${r.email}>` : ''}</dd>
<dt>Report id</dt><dd class="mono">${r.reportId}</dd>
<dt>Period</dt><dd>${time(iso(r.begin))} – ${time(iso(r.end))}</dd>
<dt>Published policy</dt><dd class="mono">domain=${p.domain} p=${p.p}${p.sp ? ` sp=${p.sp}` : ''}${p.adkim ? ` adkim=${p.adkim}` : ''}${p.aspf ? ` aspf=${p.aspf}` : ''}${p.pct !== null ? ` pct=${p.pct}` : ''}${p.fo ? ` fo=${p.fo}` : ''}</dd>
${r.errors.length ? html`<dt>Errors</dt><dd>${list(r.errors)}</dd>` : ''}
</dl>
<h2>Records</h2>
<table>
<thead><tr><th>Source IP</th><th>Count</th><th>Disposition</th><th>DKIM</th><th>SPF</th><th>Header from</th><th>Envelope from / to</th><th>DKIM results</th><th>SPF results</th><th>Reasons</th></tr></thead>
<tbody>
${r.records.map((x) => html`<tr>
<td class="mono">${x.sourceIp}</td><td>${x.count}</td><td>${x.disposition}</td><td>${status(x.dkim)}</td><td>${status(x.spf)}</td><td>${x.headerFrom}</td>
<td>${x.envelopeFrom ?? '—'} / ${x.envelopeTo ?? '—'}</td>
<td>${x.dkimResults.map((d) => html`<div>${d.domain}${d.selector ? ` (${d.selector})` : ''}: ${d.result}</div>`)}</td>
<td>${x.spfResults.map((s) => html`<div>${s.domain}${s.scope ? ` (${s.scope})` : ''}: ${s.result}</div>`)}</td>
<td>${x.reasons.map((s) => html`<div>${s.type}${s.comment ? `: ${s.comment}` : ''}</div>`)}</td>
</tr>`)}
</tbody>
</table>`;
}

function tlsBody(r: TlsReport): Html {
  return html`
<dl>
<dt>Reporter</dt><dd>${r.org}${r.contact ? ` <${r.contact}>` : ''}</dd>
<dt>Report id</dt><dd class="mono">${r.reportId}</dd>
<dt>Period</dt><dd>${time(iso(r.begin))} – ${time(iso(r.end))}</dd>
</dl>
<h2>Policies</h2>
<table>
<thead><tr><th>Type</th><th>Domain</th><th>MX hosts</th><th>Successful</th><th>Failed</th><th>Policy</th></tr></thead>
<tbody>
${r.policies.map((p) => html`<tr><td>${p.policyType}</td><td>${p.policyDomain}</td><td>${list(p.mxHost)}</td><td>${p.successful}</td><td>${p.failed}</td><td><pre>${p.policyString.join('\n')}</pre></td></tr>`)}
</tbody>
</table>
${r.policies.some((p) => p.failures.length) ? html`<h2>Failures</h2>
<table>
<thead><tr><th>Result</th><th>Sessions</th><th>Sending MTA</th><th>Receiving MX</th><th>Receiving IP</th><th>Reason code</th><th>Information</th></tr></thead>
<tbody>
${r.policies.flatMap((p) => p.failures).map((f) => html`<tr><td>${status(f.resultType)}</td><td>${f.failedSessions}</td><td class="mono">${f.sendingMtaIp ?? ''}</td>
<td>${f.receivingMxHostname ?? ''}${f.receivingMxHelo ? ` (HELO ${f.receivingMxHelo})` : ''}</td><td class="mono">${f.receivingIp ?? ''}</td><td>${f.failureReasonCode ?? ''}</td><td>${f.additionalInformation ?? ''}</td></tr>`)}
</tbody>
</table>` : ''}`;
}

async function show(c: Context, deps: AdminDeps): Promise<Response> {
  const kind = c.req.param('kind') as ReportKind;
  const id = c.req.param('id')!;
  const stored = (kind === 'dmarc' || kind === 'tls') && /^\d{1,15}$/.test(id) ? await getReport(deps.ctx.store, kind, Number(id)) : null;
  if (!stored) return errorPage(c, 404, 'Report not found', 'There is no such report.');
  const r = stored.report;
  return page(c, {
    title: `${r.kind === 'dmarc' ? 'DMARC' : 'TLS'} report from ${r.org} about ${r.domain}`,
    section: 'reports',
    body: html`
${r.kind === 'dmarc' ? dmarcBody(r) : tlsBody(r)}
<p class="muted">Received ${time(stored.receivedAt)}${stored.messageId ? html` in message <a class="mono" href="/ui/queue/${encodeURIComponent(stored.messageId)}">${stored.messageId}</a>` : ''}. <a href="/api/reports/${r.kind}/${stored.id}">JSON</a></p>`,
  });
}

export function reportPages(app: Hono<UiEnv>, deps: AdminDeps): void {
  app.get('/reports', (c) => index(c, deps));
  app.get('/reports/:kind/:id', (c) => show(c, deps));
}
