// Delivery webhooks: the outbox written with each event is POSTed to its subscriber, signed with HMAC-SHA256 of the body, retried with backoff.
import { createHmac } from 'node:crypto';
import type { Store } from '../store/store.ts';
import type { Logger } from '../lib/log.ts';
import type { WebhookSubscriber } from './events.ts';

export const SIGNATURE_HEADER = 'x-mana-signature';

export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

const MAX_AGE_MS = 24 * 3600_000;

export function startWebhookSender(options: { store: Store; log: Logger; subscribers: WebhookSubscriber[]; intervalMs?: number; timeoutMs?: number }) {
  const { store, log } = options;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;

  async function sendOne(row: { id: number; url: string; body: string; attempts: number; created_at: number }): Promise<void> {
    const secret = options.subscribers.find((s) => s.url === row.url)?.secret;
    let ok = false;
    let error = '';
    if (secret !== undefined) {
      try {
        const res = await fetch(row.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(row.body, secret), 'user-agent': 'mana-mail' },
          body: row.body,
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
        ok = res.ok;
        if (!ok) error = `HTTP ${res.status}`;
        await res.body?.cancel();
      } catch (err) {
        error = (err as Error).message;
      }
    } else error = 'no longer subscribed';
    const now = Date.now();
    if (ok || secret === undefined || now - Number(row.created_at) > MAX_AGE_MS) {
      if (!ok) log.warn({ url: row.url, error }, 'webhook.dropped');
      await store.run('DELETE FROM mail_webhook_outbox WHERE id = ?', [row.id]);
    } else {
      const delay = Math.min(3600_000, 2000 * 2 ** row.attempts);
      await store.run('UPDATE mail_webhook_outbox SET attempts = attempts + 1, next_attempt_at = ?, lease_until = NULL WHERE id = ?', [now + delay, row.id]);
      log.debug({ url: row.url, error, attempt: row.attempts + 1 }, 'webhook.retry');
    }
  }

  async function tick(): Promise<void> {
    do {
      again = false;
      const now = Date.now();
      const rows = await store.tx(async (q) => {
        const due = await q.all<{ id: number; url: string; body: string; attempts: number; created_at: number }>(
          `SELECT id, url, body, attempts, created_at FROM mail_webhook_outbox WHERE next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?) ORDER BY id LIMIT 100 ${q.dialect === 'postgres' ? 'FOR UPDATE SKIP LOCKED' : ''}`,
          [now, now],
        );
        for (const r of due) await q.run('UPDATE mail_webhook_outbox SET lease_until = ? WHERE id = ?', [now + 60_000, r.id]);
        return due;
      });
      // Per subscriber in order, subscribers in parallel.
      const byUrl = new Map<string, typeof rows>();
      for (const r of rows) byUrl.set(r.url, [...(byUrl.get(r.url) ?? []), r]);
      await Promise.all([...byUrl.values()].map(async (list) => { for (const r of list) await sendOne(r); }));
      if (rows.length === 100) again = true;
    } while (again && !stopped);
  }

  function schedule(ms: number) {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      running = tick().catch((err) => log.error({ err }, 'webhook.loop_failed')).finally(() => { running = undefined; schedule(options.intervalMs ?? 1000); });
    }, ms);
  }
  schedule(0);
  return {
    /** Sends soon instead of at the next interval. */
    poke() { if (!running) schedule(20); else again = true; },
    async stop() { stopped = true; clearTimeout(timer); await running; },
  };
}
