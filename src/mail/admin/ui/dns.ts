// Web admin pages of DNS: the local domains, and for one the records to publish (RFC 7208 SPF, RFC 6376 DKIM, RFC 7489 DMARC, RFC 8460 TLS-RPT, RFC 8461 MTA-STS), copyable one by one or as a zone file.
import type { Context as HonoContext, Hono } from 'hono';
import type { AdminDeps } from '../http.ts';
import { listDomains } from '../../accounts.ts';
import { toZoneFile } from '../../dns-records.ts';
import { asManagementError } from '../errors.ts';
import { dnsRecordsFor } from '../dns.ts';
import { html, seg } from './html.ts';
import { type UiEnv, errorPage, page } from './layout.ts';

type Context = HonoContext<UiEnv>;

async function index(c: Context, deps: AdminDeps): Promise<Response> {
  const domains = await listDomains(deps.ctx.store);
  return page(c, {
    title: 'DNS records',
    section: 'dns',
    body: html`
<p class="muted">The records each local domain needs so that its mail is accepted and authenticated. Pick a domain:</p>
<ul>${domains.map((d) => html`<li><a href="/ui/dns/${seg(d)}">${d}</a></li>`)}</ul>
${domains.length ? '' : html`<p class="muted">No local domain.</p>`}`,
  });
}

async function show(c: Context, deps: AdminDeps): Promise<Response> {
  const domain = c.req.param('domain')!;
  let records;
  try {
    records = await dnsRecordsFor({ q: deps.ctx.store, config: deps.ctx.config, domain, addresses: await deps.addresses() });
  } catch (err) {
    if (asManagementError(err)?.status === 404) return errorPage(c, 404, 'Domain not found', `${domain} is not a local domain.`);
    throw err;
  }
  const zone = toZoneFile(records);
  return page(c, {
    title: `DNS records for ${domain}`,
    section: 'dns',
    body: html`
<p class="muted">Publish these at your DNS provider. Click a value to select it.</p>
<table>
<thead><tr><th>Type</th><th>Name</th><th>Content</th></tr></thead>
<tbody>
${records.map((r) => html`<tr><td>${r.type}</td><td class="mono copy">${r.name}</td><td class="mono copy">${r.content}</td></tr>`)}
</tbody>
</table>
<h2>As a zone file</h2>
<textarea readonly rows="${Math.min(30, records.length + 2)}" aria-label="zone file" spellcheck="false">${zone}</textarea>
<p><a href="/api/dns/records/${seg(domain)}">JSON</a></p>`,
  });
}

export function dnsPages(app: Hono<UiEnv>, deps: AdminDeps): void {
  app.get('/dns', (c) => index(c, deps));
  app.get('/dns/:domain', (c) => show(c, deps));
}
