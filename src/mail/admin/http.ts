// Admin HTTP API of the mail server (Stalwart v0.15 REST shapes). Minimal: health and the captured mailbox; the full API lands with the admin issue.
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { ServiceContext } from '../../stack/context.ts';
import { listenerUrl } from '../../stack/context.ts';
import type { MailQueue } from '../queue/queue.ts';
import type { SigningKeyCache } from '../dkim/key-store.ts';
import type { TlsMaterial } from '../../lib/tls.ts';
import type { SmtpSecurity } from '../smtp/listeners.ts';
import { CAPTURE_MAILBOX, listMailbox, readMailboxMessage } from '../mailbox.ts';
import { timeline } from '../events.ts';

export type AdminOptions = { ctx: ServiceContext; queue: MailQueue; signingKeys: SigningKeyCache; tls: TlsMaterial; security?: SmtpSecurity };

export function createAdminApp(options: AdminOptions): Hono {
  const { store } = options.ctx;
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/api/captured', async (c) => c.json({ data: { items: await listMailbox(store, { mailbox: CAPTURE_MAILBOX, rcpt: c.req.query('rcpt') ?? undefined, limit: Number(c.req.query('limit') ?? 50) }) } }));
  app.get('/api/captured/:id', async (c) => {
    const m = await readMailboxMessage(store, Number(c.req.param('id')));
    if (!m) return c.json({ error: 'notFound', item: c.req.param('id') }, 404);
    return c.body(new Uint8Array(m.raw), 200, { 'content-type': 'message/rfc822' });
  });
  app.get('/api/queue/messages/:id/timeline', async (c) => c.json({ data: await timeline(store, c.req.param('id')) }));
  return app;
}

export async function startAdminHttp(options: AdminOptions): Promise<{ port: number; url: string; close(): Promise<void> }> {
  const app = createAdminApp(options);
  const l = options.ctx.config.mail.listeners.admin;
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: l.host, port: l.port }, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  return { port, url: listenerUrl('http', l.host, port), close: () => new Promise((r) => server.close(() => r())) };
}
