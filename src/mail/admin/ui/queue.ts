// Web admin pages of the outbound queue: recent messages with each recipient's state, one message's recipients and whole timeline, Retry and Cancel (RFC 5321 §4.5.4).
import type { Context as HonoContext, Hono } from 'hono';
import type { AdminDeps } from '../http.ts';
import { getQueueMessage, listQueue, QUEUE_STATES } from '../queue-view.ts';
import { href, html, seg, type Html } from './html.ts';
import { type UiEnv, errorPage, notice, page, pageParam, pager, postButton, seeOther, status, time } from './layout.ts';

type Context = HonoContext<UiEnv>;

const LIMIT = 50;

const NOTICES = {
  retried: 'Every waiting recipient is due now; the delivery loop takes it up.',
  'retry-none': '!No recipient of this message is waiting; nothing to retry.',
  cancelled: 'Recipients not yet delivered are cancelled and will not be tried again.',
  'cancel-none': '!No recipient of this message is waiting; nothing to cancel.',
};

/** An event's data as `key value` lines; nested values as JSON. */
function eventData(data: Record<string, unknown>): Html {
  const entries = Object.entries(data).filter(([, v]) => v !== undefined && v !== null && v !== '');
  if (!entries.length) return html``;
  return html`<ul class="data">${entries.map(([k, v]) => html`<li><span class="muted">${k}</span> <span class="mono">${typeof v === 'object' ? JSON.stringify(v) : String(v)}</span></li>`)}</ul>`;
}

async function list(c: Context, deps: AdminDeps): Promise<Response> {
  const requested = c.req.query('status') || 'all';
  const state = (QUEUE_STATES as readonly string[]).includes(requested) ? requested : 'all';
  const text = c.req.query('text')?.trim() || undefined;
  const pageNo = pageParam(c);
  const { items, total } = await listQueue(deps.ctx.store, { status: state, text, page: pageNo, limit: LIMIT });
  const link = (p: number) => href('/ui/queue', { status: state === 'all' ? undefined : state, text, page: p > 1 ? p : undefined });
  return page(c, {
    title: 'Queue',
    section: 'queue',
    body: html`
<form class="bar" method="get" action="/ui/queue">
<label>Status <select name="status">${QUEUE_STATES.map((s) => html`<option value="${s}"${s === state ? html` selected` : ''}>${s === 'queued' ? 'waiting (queued)' : s}</option>`)}</select></label>
<label>Address contains <input type="search" name="text" value="${text ?? ''}"></label>
<button type="submit">Filter</button>
</form>
<p class="muted">${total} message${total === 1 ? '' : 's'}${state === 'all' ? '' : html` with a recipient ${state}`}, newest first.</p>
<table>
<thead><tr><th>Queue id</th><th>Received</th><th>From (return path)</th><th>Recipients</th><th>Size</th></tr></thead>
<tbody>
${items.length ? items.map((m) => html`<tr>
<td><a class="mono" href="/ui/queue/${seg(m.id)}">${m.id}</a></td>
<td>${time(m.created)}</td>
<td>${m.return_path || html`<span class="muted">&lt;&gt;</span>`}</td>
<td><ul class="data">${m.recipients.map((r) => html`<li>${r.address} ${status(r.status)}</li>`)}</ul></td>
<td>${m.size}</td>
</tr>`) : html`<tr><td colspan="5" class="muted">No messages.</td></tr>`}
</tbody>
</table>
${pager({ page: pageNo, limit: LIMIT, total, link })}`,
  });
}

async function show(c: Context, deps: AdminDeps): Promise<Response> {
  const id = c.req.param('id')!;
  const m = await getQueueMessage(deps.ctx.store, id);
  if (!m) return errorPage(c, 404, 'Message not found', `There is no message ${id} in the queue.`);
  const waiting = m.recipients.some((r) => r.status === 'queued');
  return page(c, {
    title: `Message ${m.id}`,
    section: 'queue',
    body: html`
${notice(c, NOTICES)}
<dl>
<dt>Return path</dt><dd>${m.return_path || '<>'}</dd>
<dt>Message-ID</dt><dd class="mono">${m.message_id ?? '—'}</dd>
<dt>Received</dt><dd>${time(m.created)}</dd>
<dt>Source</dt><dd>${m.source}${m.auth_user ? ` (${m.auth_user})` : ''}</dd>
<dt>Size</dt><dd>${m.size} bytes</dd>
${m.env_id ? html`<dt>ENVID</dt><dd class="mono">${m.env_id}</dd>` : ''}
</dl>
<p>
${postButton({ action: `/ui/queue/${seg(m.id)}/retry`, label: 'Retry now', disabled: !waiting })}
${postButton({ action: `/ui/queue/${seg(m.id)}/cancel`, label: 'Cancel', danger: true, disabled: !waiting })}
${waiting ? '' : html`<span class="muted">No recipient is waiting.</span>`}
</p>
<h2>Recipients</h2>
<table>
<thead><tr><th>Address</th><th>Status</th><th>Attempts</th><th>Next attempt</th><th>Last reply</th></tr></thead>
<tbody>
${m.recipients.map((r) => html`<tr>
<td>${r.address}</td><td>${status(r.status)}</td><td>${r.retry_num}</td><td>${time(r.next_retry)}</td>
<td class="mono">${r.last_code ?? ''} ${r.last_reply ?? ''}</td>
</tr>`)}
</tbody>
</table>
<h2>Timeline</h2>
<table>
<thead><tr><th>Time</th><th>Event</th><th>Recipient</th><th>Details</th></tr></thead>
<tbody>
${m.timeline.map((e) => html`<tr>
<td>${time(e.at)}</td><td>${status(e.type)}</td><td>${e.rcpt ?? ''}</td><td>${eventData(e.data)}</td>
</tr>`)}
</tbody>
</table>
<p><a href="/api/queue/messages/${seg(m.id)}">JSON</a></p>`,
  });
}

/** Retry and Cancel call the queue functions the API calls (PATCH / DELETE /api/queue/messages/ID). */
async function act(c: Context, deps: AdminDeps, action: 'retry' | 'cancel'): Promise<Response> {
  const id = c.req.param('id')!;
  if (!(await deps.ctx.store.get('SELECT 1 AS x FROM mail_messages WHERE id = ?', [id]))) return errorPage(c, 404, 'Message not found', `There is no message ${id} in the queue.`);
  const changed = action === 'retry' ? await deps.queue.retryNow(id) : await deps.queue.cancel(id);
  deps.ctx.log.info({ queueId: id, recipients: changed, admin: c.get('admin')?.name }, `admin.ui_${action}`);
  const done = action === 'retry' ? 'retried' : 'cancelled';
  return seeOther(c, `/ui/queue/${seg(id)}`, changed > 0 ? done : `${action}-none`);
}

export function queuePages(app: Hono<UiEnv>, deps: AdminDeps): void {
  app.get('/queue', (c) => list(c, deps));
  app.get('/queue/:id', (c) => show(c, deps));
  app.post('/queue/:id/retry', (c) => act(c, deps, 'retry'));
  app.post('/queue/:id/cancel', (c) => act(c, deps, 'cancel'));
}
