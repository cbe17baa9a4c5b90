// Web admin pages of the capture mailbox: outbound mail kept instead of delivered, newest first; one message's header and text (RFC 5322, MIME via mailparser), never its HTML; the raw .eml.
import type { Context as HonoContext, Hono } from 'hono';
import { simpleParser } from 'mailparser';
import type { AdminDeps } from '../http.ts';
import { CAPTURE_MAILBOX, listMailbox, readMailboxMessage } from '../../mailbox.ts';
import { href, html, seg } from './html.ts';
import { type UiEnv, errorPage, page, pageParam, pager, time } from './layout.ts';

type Context = HonoContext<UiEnv>;

const LIMIT = 50;
/** Header bytes read for the list's Subject column. */
const HEADER_BYTES = 16 * 1024;

/** The header section (RFC 5322 §2.1: up to the first empty line). */
function headerSection(raw: Buffer): Buffer {
  const head = raw.subarray(0, HEADER_BYTES);
  const end = head.indexOf('\r\n\r\n');
  return end >= 0 ? head.subarray(0, end + 2) : head;
}

async function subjectOf(raw: Buffer): Promise<string> {
  try {
    return (await simpleParser(headerSection(raw))).subject ?? '';
  } catch {
    return '';
  }
}

async function list(c: Context, deps: AdminDeps): Promise<Response> {
  const pageNo = pageParam(c);
  const rcpt = c.req.query('rcpt')?.trim() || undefined;
  const items = await listMailbox(deps.ctx.store, { mailbox: CAPTURE_MAILBOX, rcpt, limit: LIMIT + 1, offset: (pageNo - 1) * LIMIT });
  const more = items.length > LIMIT;
  const shown = items.slice(0, LIMIT);
  const subjects = new Map<number, string>();
  for (const m of shown) {
    const full = await readMailboxMessage(deps.ctx.store, m.id);
    subjects.set(m.id, full ? await subjectOf(full.raw) : '');
  }
  return page(c, {
    title: 'Captured mail',
    section: 'captured',
    body: html`
<p class="muted">In capture mode outbound mail is kept here instead of going to the recipients' servers. Newest first.</p>
<form class="bar" method="get" action="/ui/captured">
<label>Recipient <input type="email" name="rcpt" value="${rcpt ?? ''}"></label>
<button type="submit">Filter</button>
</form>
<table>
<thead><tr><th>#</th><th>Received</th><th>From</th><th>To</th><th>Subject</th><th>Size</th><th>Queue id</th></tr></thead>
<tbody>
${shown.length ? shown.map((m) => html`<tr>
<td><a href="/ui/captured/${m.id}">${m.id}</a></td>
<td>${time(m.receivedAt)}</td>
<td>${m.mailFrom ?? ''}</td>
<td>${m.rcpt ?? ''}</td>
<td><a href="/ui/captured/${m.id}">${subjects.get(m.id) || html`<span class="muted">(no subject)</span>`}</a></td>
<td>${m.size}</td>
<td>${m.queueId ? html`<a class="mono" href="/ui/queue/${seg(m.queueId)}">${m.queueId}</a>` : ''}</td>
</tr>`) : html`<tr><td colspan="7" class="muted">No captured mail.</td></tr>`}
</tbody>
</table>
${pager({ page: pageNo, limit: LIMIT, more, link: (p) => href('/ui/captured', { rcpt, page: p > 1 ? p : undefined }) })}`,
  });
}

async function load(c: Context, deps: AdminDeps) {
  const id = c.req.param('id')!;
  const m = /^\d{1,15}$/.test(id) ? await readMailboxMessage(deps.ctx.store, Number(id)) : undefined;
  return m && m.mailbox === CAPTURE_MAILBOX ? m : undefined;
}

async function show(c: Context, deps: AdminDeps): Promise<Response> {
  const m = await load(c, deps);
  if (!m) return errorPage(c, 404, 'Message not found', 'There is no captured message with this number.');
  const parsed = await simpleParser(m.raw);
  const header = parsed.headerLines.map((h) => h.line).join('\n');
  const attachments = parsed.attachments ?? [];
  return page(c, {
    title: parsed.subject ? `Captured: ${parsed.subject}` : `Captured message ${m.id}`,
    section: 'captured',
    body: html`
<dl>
<dt>Envelope from</dt><dd>${m.mailFrom ?? ''}</dd>
<dt>Envelope to</dt><dd>${m.rcpt ?? ''}</dd>
<dt>Captured</dt><dd>${time(m.receivedAt)}</dd>
<dt>Size</dt><dd>${m.size} bytes</dd>
${m.queueId ? html`<dt>Queue id</dt><dd><a class="mono" href="/ui/queue/${seg(m.queueId)}">${m.queueId}</a></dd>` : ''}
</dl>
<p><a href="/ui/captured/${m.id}/raw" download="captured-${m.id}.eml">Download the raw message (.eml)</a></p>
<h2>Header</h2>
<pre>${header}</pre>
<h2>Text</h2>
${parsed.text ? html`<pre>${parsed.text}</pre>` : html`<p class="muted">The message has no text part.</p>`}
${parsed.html ? html`<p class="muted">The message also has an HTML part; it is not shown here (download the .eml to look at it).</p>` : ''}
${attachments.length ? html`<h2>Attachments</h2><ul>${attachments.map((a) => html`<li>${a.filename ?? '(no name)'} <span class="muted">${a.contentType}, ${a.size} bytes</span></li>`)}</ul>` : ''}`,
  });
}

/** The message as it was captured, as a download (never rendered by the browser). */
async function rawMessage(c: Context, deps: AdminDeps): Promise<Response> {
  const m = await load(c, deps);
  if (!m) return errorPage(c, 404, 'Message not found', 'There is no captured message with this number.');
  return c.body(new Uint8Array(m.raw), 200, {
    'content-type': 'message/rfc822',
    'content-disposition': `attachment; filename="captured-${m.id}.eml"`,
    'content-security-policy': "default-src 'none'; sandbox",
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
  });
}

export function capturedPages(app: Hono<UiEnv>, deps: AdminDeps): void {
  app.get('/captured', (c) => list(c, deps));
  app.get('/captured/:id', (c) => show(c, deps));
  app.get('/captured/:id/raw', (c) => rawMessage(c, deps));
}
