// Admin API routes for operations: DNS records (GET /api/dns/records/{domain}), the queue (/api/queue/messages), logs (/api/logs), bans (/api/security/bans), reload, and the captured mailbox.
import { join } from 'node:path';
import { Hono } from 'hono';
import type { AdminDeps } from './http.ts';
import { BadRequestError, fieldInvalid, fieldMissing, notFound } from './errors.ts';
import { intParam, readJson } from './request.ts';
import { dnsRecordsFor } from './dns.ts';
import { getQueueMessage, listQueue, QUEUE_STATES } from './queue-view.ts';
import { LogQueryError, readLogs } from './logs.ts';
import { syncDomainPrincipals } from './principals.ts';
import { isValidIp, listBans, liftBan, normalizeIp, saveBan } from '../security/bans.ts';
import { CAPTURE_MAILBOX, listMailbox, readMailboxMessage } from '../mailbox.ts';
import { timeline } from '../events.ts';

export function dnsRoutes(deps: AdminDeps): Hono {
  const app = new Hono();
  app.get('/records/:domain', async (c) => {
    const data = await dnsRecordsFor({ q: deps.ctx.store, config: deps.ctx.config, domain: c.req.param('domain'), addresses: await deps.addresses() });
    return c.json({ data });
  });
  return app;
}

export function queueRoutes(deps: AdminDeps): Hono {
  const { store } = deps.ctx;
  const app = new Hono();
  app.get('/messages', async (c) => {
    const status = c.req.query('status') || undefined;
    if (status && !QUEUE_STATES.includes(status as (typeof QUEUE_STATES)[number])) throw fieldInvalid('status', status, `status is one of ${QUEUE_STATES.join(', ')}`);
    const data = await listQueue(store, { status, text: c.req.query('text') || undefined, page: intParam(c, 'page', 1), limit: intParam(c, 'limit', 100) });
    return c.json({ data });
  });
  app.get('/messages/:id', async (c) => {
    const m = await getQueueMessage(store, c.req.param('id'));
    if (!m) throw notFound(c.req.param('id'), 'message');
    return c.json({ data: m });
  });
  app.get('/messages/:id/timeline', async (c) => {
    if (!(await store.get('SELECT 1 AS x FROM mail_messages WHERE id = ?', [c.req.param('id')]))) throw notFound(c.req.param('id'), 'message');
    return c.json({ data: await timeline(store, c.req.param('id')) });
  });
  /** Retry now: every recipient still queued is due at once. `data` is false when none was waiting. */
  app.patch('/messages/:id', async (c) => {
    if (!(await store.get('SELECT 1 AS x FROM mail_messages WHERE id = ?', [c.req.param('id')]))) throw notFound(c.req.param('id'), 'message');
    return c.json({ data: (await deps.queue.retryNow(c.req.param('id'))) > 0 });
  });
  /** Cancel: recipients not yet delivered are never tried again. */
  app.delete('/messages/:id', async (c) => {
    if (!(await store.get('SELECT 1 AS x FROM mail_messages WHERE id = ?', [c.req.param('id')]))) throw notFound(c.req.param('id'), 'message');
    return c.json({ data: (await deps.queue.cancel(c.req.param('id'))) > 0 });
  });
  return app;
}

export function logRoutes(deps: AdminDeps): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    try {
      const data = await readLogs(join(deps.ctx.config.dataDir, 'logs'), {
        filter: c.req.query('filter') || undefined,
        level: c.req.query('level') || undefined,
        service: c.req.query('service') || undefined,
        page: intParam(c, 'page', 1),
        limit: intParam(c, 'limit', 100),
      });
      return c.json({ data });
    } catch (err) {
      if (err instanceof LogQueryError) throw fieldInvalid('level', c.req.query('level'), err.message);
      throw err;
    }
  });
  return app;
}

export function securityRoutes(deps: AdminDeps): Hono {
  const { store, config } = deps.ctx;
  const app = new Hono();
  app.get('/bans', async (c) => {
    const items = deps.security ? await deps.security.list() : await listBans(store, Date.now());
    return c.json({ data: { items, total: items.length } });
  });
  /** A ban by hand: {"ip", "duration"? seconds (0 = until lifted)}. */
  app.post('/bans', async (c) => {
    const body = (await readJson(c)) as Record<string, unknown> | null;
    const ip = body && typeof body === 'object' ? body.ip : undefined;
    if (ip === undefined) throw fieldMissing('ip');
    if (typeof ip !== 'string' || !isValidIp(ip)) throw fieldInvalid('ip', ip, 'an IPv4 or IPv6 address');
    const duration = body!.duration ?? config.mail.security.banDuration;
    if (typeof duration !== 'number' || !Number.isInteger(duration) || duration < 0) throw fieldInvalid('duration', duration, 'seconds, 0 for until lifted');
    const ban = deps.security
      ? await deps.security.ban(ip, { durationSeconds: duration })
      : await saveBan(store, { ip, reason: 'manual', hits: 0, durationMs: duration * 1000, now: Date.now() });
    return c.json({ data: ban });
  });
  app.delete('/bans/:ip', async (c) => {
    const ip = normalizeIp(c.req.param('ip'));
    if (!isValidIp(ip)) throw fieldInvalid('ip', c.req.param('ip'), 'an IPv4 or IPv6 address');
    const lifted = deps.security ? await deps.security.unban(ip) : await liftBan(store, ip, Date.now());
    if (!lifted) throw notFound(ip, 'ban');
    return c.json({ data: null });
  });
  return app;
}

/** GET /api/reload: drops what this node caches (DKIM keys, verified credentials) so changes made elsewhere apply now. */
export function reloadRoutes(deps: AdminDeps): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    deps.signingKeys.invalidate();
    deps.auth.forget();
    await deps.ctx.store.tx((q) => syncDomainPrincipals(q));
    deps.ctx.log.info({}, 'mail.reloaded');
    return c.json({ data: { warnings: {}, errors: {} } });
  });
  return app;
}

/** The capture mailbox: outbound mail kept instead of delivered (capture mode). */
export function capturedRoutes(deps: AdminDeps): Hono {
  const { store } = deps.ctx;
  const app = new Hono();
  app.get('/', async (c) => {
    const limit = intParam(c, 'limit', 50)!;
    const page = intParam(c, 'page', 1)!;
    const items = await listMailbox(store, { mailbox: CAPTURE_MAILBOX, rcpt: c.req.query('rcpt') || undefined, limit, offset: (Math.max(1, page) - 1) * limit });
    return c.json({ data: { items } });
  });
  app.get('/:id', async (c) => {
    const id = c.req.param('id');
    if (!/^\d{1,15}$/.test(id)) throw new BadRequestError('admin.bad_parameter', 'Invalid parameter', `message id must be a number, not ${JSON.stringify(id)}`);
    const m = await readMailboxMessage(store, Number(id));
    if (!m || m.mailbox !== CAPTURE_MAILBOX) throw notFound(id, 'captured message');
    return c.body(new Uint8Array(m.raw), 200, { 'content-type': 'message/rfc822' });
  });
  return app;
}
