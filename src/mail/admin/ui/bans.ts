// Web admin page of auto-ban: addresses refused for too many failed AUTHs, refused relays or protocol errors, and lifting a ban (as DELETE /api/security/bans/IP does).
import type { Context as HonoContext, Hono } from 'hono';
import type { AdminDeps } from '../http.ts';
import { isValidIp, liftBan, listBans, normalizeIp } from '../../security/bans.ts';
import { html } from './html.ts';
import { type UiEnv, notice, page, postButton, seeOther, time } from './layout.ts';

type Context = HonoContext<UiEnv>;

const NOTICES = {
  lifted: 'The ban is lifted; the address may connect again.',
  'not-banned': '!That address is not banned.',
};

const REASONS: Record<string, string> = {
  auth: 'failed logins',
  relay: 'refused relaying',
  protocol: 'protocol errors',
  manual: 'by an admin',
};

async function list(c: Context, deps: AdminDeps): Promise<Response> {
  const items = deps.security ? await deps.security.list() : await listBans(deps.ctx.store, Date.now());
  return page(c, {
    title: 'Bans',
    section: 'bans',
    body: html`
${notice(c, NOTICES)}
<p class="muted">Banned addresses are refused at connect (SMTP 421) and by this admin listener. ${items.length} in force.</p>
<table>
<thead><tr><th>Address</th><th>Reason</th><th>Events</th><th>Since</th><th>Until</th><th></th></tr></thead>
<tbody>
${items.length ? items.map((b) => html`<tr>
<td class="mono">${b.ip}</td><td>${REASONS[b.reason] ?? b.reason}</td><td>${b.hits}</td><td>${time(b.bannedAt)}</td>
<td>${b.expiresAt ? time(b.expiresAt) : 'until lifted'}</td>
<td>${postButton({ action: '/ui/bans/lift', label: 'Lift', fields: { ip: b.ip } })}</td>
</tr>`) : html`<tr><td colspan="6" class="muted">No address is banned.</td></tr>`}
</tbody>
</table>`,
  });
}

async function lift(c: Context, deps: AdminDeps): Promise<Response> {
  const form = await c.req.parseBody();
  const ip = normalizeIp(typeof form.ip === 'string' ? form.ip : '');
  if (!isValidIp(ip)) return seeOther(c, '/ui/bans', 'not-banned');
  const lifted = deps.security ? await deps.security.unban(ip) : await liftBan(deps.ctx.store, ip, Date.now());
  if (lifted) deps.ctx.log.info({ ip, admin: c.get('admin')?.name }, 'admin.ui_unban');
  return seeOther(c, '/ui/bans', lifted ? 'lifted' : 'not-banned');
}

export function banPages(app: Hono<UiEnv>, deps: AdminDeps): void {
  app.get('/bans', (c) => list(c, deps));
  app.post('/bans/lift', (c) => lift(c, deps));
}
