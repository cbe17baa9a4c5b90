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

type OutboxRow = { id: number; url: string; body: string; attempts: number; created_at: number };
/** A row to try again at `at`; `failed` counts an attempt (the others of its message only wait). */
type Retry = { id: number; at: number; failed: boolean };

/** The queue id an event is about, so one message's events go out in order; undefined for a body we cannot read. */
function queueIdOf(body: string): string | undefined {
  try {
    const id = (JSON.parse(body) as { queueId?: unknown }).queueId;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

/** One subscriber's events of one message: the unit that goes out in order. */
function chainKey(r: { url: string; body: string }): string | undefined {
  const id = queueIdOf(r.body);
  return id === undefined ? undefined : JSON.stringify([r.url, id]);
}

/**
 * Posts the outbox. Each subscriber gets up to `concurrency` requests at a time; the events of one
 * message go out one after another in the order they were recorded (a subscriber never sees
 * `delivered` before that message's `queued`). Sent and dropped rows are deleted in one statement
 * per batch, so a busy server does not pay a commit per event.
 */
export function startWebhookSender(options: { store: Store; log: Logger; subscribers: WebhookSubscriber[]; intervalMs?: number; timeoutMs?: number; concurrency?: number; batch?: number }) {
  const { store, log } = options;
  const concurrency = options.concurrency ?? 16;
  const batch = options.batch ?? 500;
  /** How long picked rows are held; renewed every third of it while their batch runs. */
  const leaseMs = Math.max(60_000, 3 * (options.timeoutMs ?? 10_000));
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  /** Aborts requests in flight when the sender stops, so stopping never waits for a slow subscriber. */
  const stopping = new AbortController();

  /** POSTs one event; true when it is done with (sent, or dropped for good), false to retry later. */
  async function post(row: OutboxRow): Promise<boolean> {
    const secret = options.subscribers.find((s) => s.url === row.url)?.secret;
    let ok = false;
    let error = '';
    if (secret !== undefined) {
      try {
        const res = await fetch(row.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(row.body, secret), 'user-agent': 'mana-mail' },
          body: row.body,
          signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(options.timeoutMs ?? 10_000)]),
        });
        ok = res.ok;
        if (!ok) error = `HTTP ${res.status}`;
        await res.body?.cancel();
      } catch (err) {
        error = (err as Error).message;
      }
    } else error = 'no longer subscribed';
    if (ok || secret === undefined || Date.now() - Number(row.created_at) > MAX_AGE_MS) {
      if (!ok) log.warn({ url: row.url, error }, 'webhook.dropped');
      return true;
    }
    log.debug({ url: row.url, error, attempt: row.attempts + 1 }, 'webhook.retry');
    return false;
  }

  /** One subscriber's rows: chains per message, at most `concurrency` chains at a time. */
  async function sendAll(rows: OutboxRow[], done: number[], retry: Retry[]): Promise<void> {
    const chains = new Map<string, OutboxRow[]>();
    for (const r of rows) {
      const key = queueIdOf(r.body) ?? `row:${r.id}`;
      const chain = chains.get(key);
      if (chain) chain.push(r);
      else chains.set(key, [r]);
    }
    const queue = [...chains.values()];
    // After a failure the subscriber is taken for down for the rest of this batch: the events not
    // yet tried wait a little (no attempt counted) instead of each waiting for its own timeout.
    let down = false;
    const lane = async () => {
      for (let chain = queue.shift(); chain; chain = queue.shift()) {
        if (down || stopped) {
          const at = Date.now() + (stopped ? 0 : 2000);
          retry.push(...chain.map((r) => ({ id: r.id, at, failed: false })));
          continue;
        }
        for (let i = 0; i < chain.length; i++) {
          if (await post(chain[i])) done.push(chain[i].id);
          else {
            down = true;
            // Later events of this message wait for the one that failed, and become due with it.
            const at = stopped ? Date.now() : Date.now() + Math.min(3600_000, 2000 * 2 ** chain[i].attempts);
            retry.push({ id: chain[i].id, at, failed: !stopped }, ...chain.slice(i + 1).map((r) => ({ id: r.id, at, failed: false })));
            break;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, lane));
  }

  async function tick(): Promise<void> {
    do {
      again = false;
      const now = Date.now();
      let picked = 0;
      const rows = await store.tx(async (q) => {
        const due = await q.all<OutboxRow>(
          `SELECT id, url, body, attempts, created_at FROM mail_webhook_outbox WHERE next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?) ORDER BY id LIMIT ${batch} ${q.dialect === 'postgres' ? 'FOR UPDATE SKIP LOCKED' : ''}`,
          [now, now],
        );
        picked = due.length;
        if (due.length === 0) return due;
        // A message's event must not overtake an earlier one still in the outbox: one waiting for its retry, leased
        // by a batch in flight, or locked by another sender. Each earlier row not picked here holds back the later
        // due rows of its (subscriber, message), which then become due with it.
        const ids = new Set(due.map((r) => r.id));
        const earlier = await q.all<{ id: number; url: string; body: string; next_attempt_at: number }>(
          'SELECT id, url, body, next_attempt_at FROM mail_webhook_outbox WHERE id < ? ORDER BY id', [due[due.length - 1].id],
        );
        const blockedUntil = new Map<string, number>();
        for (const r of earlier) {
          if (ids.has(r.id)) continue;
          const key = chainKey(r);
          if (key === undefined) continue;
          // Due with a retry that waits; a row leased or locked elsewhere (its sender may finish any moment) is looked at again in a second.
          const until = Math.max(Number(r.next_attempt_at), now + 1000);
          blockedUntil.set(key, Math.max(blockedUntil.get(key) ?? 0, until));
        }
        const send: OutboxRow[] = [];
        for (const r of due) {
          const key = chainKey(r);
          const until = key === undefined ? undefined : blockedUntil.get(key);
          if (until === undefined) send.push(r);
          else await q.run('UPDATE mail_webhook_outbox SET next_attempt_at = ? WHERE id = ?', [until, r.id]);
        }
        if (send.length) await q.run(`UPDATE mail_webhook_outbox SET lease_until = ? WHERE id IN (${send.map(() => '?').join(', ')})`, [now + leaseMs, ...send.map((r) => r.id)]);
        return send;
      });
      if (picked === 0) return;
      if (rows.length === 0) {
        again = picked === batch;
        continue;
      }
      const byUrl = new Map<string, OutboxRow[]>();
      for (const r of rows) {
        const list = byUrl.get(r.url);
        if (list) list.push(r);
        else byUrl.set(r.url, [r]);
      }
      const done: number[] = [];
      const retry: Retry[] = [];
      // A batch can outlast its lease (many slow chains): the rows not yet settled are leased again while it runs.
      const renew = setInterval(() => {
        const settled = new Set([...done, ...retry.map((r) => r.id)]);
        const open = rows.filter((r) => !settled.has(r.id)).map((r) => r.id);
        if (open.length === 0) return;
        void (async () => {
          for (let i = 0; i < open.length; i += 500) {
            const ids = open.slice(i, i + 500);
            await store.run(`UPDATE mail_webhook_outbox SET lease_until = ? WHERE id IN (${ids.map(() => '?').join(', ')})`, [Date.now() + leaseMs, ...ids]);
          }
        })().catch((err) => log.error({ err }, 'webhook.renew_failed'));
      }, Math.floor(leaseMs / 3));
      try {
        await Promise.all([...byUrl.values()].map((list) => sendAll(list, done, retry)));
      } finally {
        clearInterval(renew);
      }
      await store.tx(async (q) => {
        for (let i = 0; i < done.length; i += 500) {
          const ids = done.slice(i, i + 500);
          await q.run(`DELETE FROM mail_webhook_outbox WHERE id IN (${ids.map(() => '?').join(', ')})`, ids);
        }
        for (const r of retry) {
          await q.run(`UPDATE mail_webhook_outbox SET attempts = attempts + ${r.failed ? 1 : 0}, next_attempt_at = ?, lease_until = NULL WHERE id = ?`, [r.at, r.id]);
        }
      });
      if (picked === batch) again = true;
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
    async stop() { stopped = true; clearTimeout(timer); stopping.abort(); await running; },
  };
}
