// Web admin page of the suppression list: addresses that hard-bounced (RFC 3464 DSN) or were listed by hand; add and remove, as POST /api/suppressions and DELETE /api/suppressions/ADDRESS do.
import type { Context as HonoContext, Hono } from 'hono';
import type { AdminDeps } from '../http.ts';
import { addSuppression, listSuppressions, removeSuppression } from '../../bounces.ts';
import { href, html, seg } from './html.ts';
import { type UiEnv, notice, page, pageParam, pager, postButton, seeOther, time } from './layout.ts';
import { isAddrSpec } from '../../accounts.ts';

type Context = HonoContext<UiEnv>;

const LIMIT = 100;


const NOTICES = {
  added: 'The address is on the suppression list; messages to it fail at once.',
  'already-listed': 'The address was already on the list; its first entry is kept.',
  'bad-address': '!That is not an email address (local@domain).',
  'bad-reason': '!The reason is limited to 200 characters.',
  removed: 'The address is off the suppression list; mail to it is delivered again.',
  'not-listed': '!That address is not on the suppression list.',
};

async function list(c: Context, deps: AdminDeps): Promise<Response> {
  const pageNo = pageParam(c);
  const { items, total } = await listSuppressions(deps.ctx.store, { limit: LIMIT, offset: (pageNo - 1) * LIMIT });
  return page(c, {
    title: 'Suppression list',
    section: 'suppressions',
    body: html`
${notice(c, NOTICES)}
<p class="muted">Mail to these addresses fails at once (550 5.1.1), without a delivery attempt or a DSN. A hard bounce adds the address.</p>
<form class="bar" method="post" action="/ui/suppressions">
<label>Address <input type="email" name="address" required maxlength="320"></label>
<label>Reason <input type="text" name="reason" maxlength="200" placeholder="manual"></label>
<button type="submit">Add</button>
</form>
<table>
<thead><tr><th>Address</th><th>Reason</th><th>Since</th><th>From message</th><th></th></tr></thead>
<tbody>
${items.length ? items.map((s) => html`<tr>
<td>${s.address}</td><td>${s.reason ?? ''}</td><td>${time(s.createdAt)}</td>
<td>${s.sourceMessageId ? html`<a class="mono" href="/ui/queue/${seg(s.sourceMessageId)}">${s.sourceMessageId}</a>` : ''}</td>
<td>${postButton({ action: '/ui/suppressions/remove', label: 'Remove', fields: { address: s.address }, danger: true })}</td>
</tr>`) : html`<tr><td colspan="5" class="muted">The list is empty.</td></tr>`}
</tbody>
</table>
${pager({ page: pageNo, limit: LIMIT, total, link: (p) => href('/ui/suppressions', { page: p > 1 ? p : undefined }) })}`,
  });
}

const field = (form: Record<string, unknown>, name: string): string => (typeof form[name] === 'string' ? (form[name] as string) : '');

async function add(c: Context, deps: AdminDeps): Promise<Response> {
  const form = await c.req.parseBody();
  const address = field(form, 'address').trim();
  const reason = field(form, 'reason').trim() || 'manual';
  if (address.length > 320 || !isAddrSpec(address)) return seeOther(c, '/ui/suppressions', 'bad-address');
  if (reason.length > 200) return seeOther(c, '/ui/suppressions', 'bad-reason');
  const addr = address.toLowerCase();
  const added = await deps.ctx.store.tx((q) => addSuppression(q, { address: addr, reason, now: Date.now() }));
  if (added) deps.ctx.log.info({ address: addr, reason, admin: c.get('admin')?.name }, 'mail.suppression_added');
  return seeOther(c, '/ui/suppressions', added ? 'added' : 'already-listed');
}

async function remove(c: Context, deps: AdminDeps): Promise<Response> {
  const addr = field(await c.req.parseBody(), 'address').trim().toLowerCase();
  const removed = addr ? await deps.ctx.store.tx((q) => removeSuppression(q, addr)) : false;
  if (removed) deps.ctx.log.info({ address: addr, admin: c.get('admin')?.name }, 'mail.suppression_removed');
  return seeOther(c, '/ui/suppressions', removed ? 'removed' : 'not-listed');
}

export function suppressionPages(app: Hono<UiEnv>, deps: AdminDeps): void {
  app.get('/suppressions', (c) => list(c, deps));
  app.post('/suppressions', (c) => add(c, deps));
  app.post('/suppressions/remove', (c) => remove(c, deps));
}
