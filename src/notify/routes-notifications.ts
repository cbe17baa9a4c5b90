// The notification routes of the notify API (send, schedule, batch, get, cancel), compatible with the original mana-notify; accepted (202) means committed to the durable queue.
import type { Hono } from 'hono';
import type { Logger } from '../lib/log.ts';
import { BATCH_BODY_LIMIT, invalidBody, readJson, rfc3339, sendError, sendJson } from './http.ts';
import type { NotifyMetrics } from './metrics.ts';
import { blockedBy, type PreferenceStore } from './preferences.ts';
import type { ChannelOptions, DeliveryLogRow, NewNotification, NotificationRow, NotifyQueue } from './queue.ts';
import { validateBatchRequest, validateScheduleRequest, validateSendRequest, type SendRequest } from './request.ts';
import type { TemplateStore } from './template-store.ts';
import { renderTemplate } from './templates/render.ts';

export type NotificationRouteDeps = {
  queue: NotifyQueue;
  templates: TemplateStore;
  preferences: PreferenceStore;
  log: Logger;
  metrics?: NotifyMetrics;
  /** Called after a commit, so the local worker picks the notification up at once. */
  wake?: () => void;
};

type Prepared = { ok: true; notification: NewNotification } | { ok: false; status: number; message: string };

/** The locale a request asks for: a `locale` field, `data.locale`, or Accept-Language. */
function requestedLocale(raw: unknown, req: SendRequest, acceptLanguage: string | undefined): string | undefined {
  const top = raw && typeof raw === 'object' ? (raw as Record<string, unknown>)['locale'] : undefined;
  if (typeof top === 'string' && top) return top;
  const inData = req.data?.['locale'];
  if (typeof inData === 'string' && inData) return inData;
  return acceptLanguage || undefined;
}

function channelOptions(req: SendRequest): ChannelOptions {
  const o: ChannelOptions = {};
  if (req.channel === 'email' && req.emailOptions) o.email = req.emailOptions;
  if (req.channel === 'webhook' && req.webhookOptions) o.webhook = req.webhookOptions;
  if (req.channel === 'push' && req.pushOptions) o.push = req.pushOptions;
  return o;
}

/**
 * Turns a valid request into a row: renders its template in the chosen locale. Values the
 * request gives itself (subject, body, text) win over the template's (*fix*: the original let
 * the template override them).
 */
async function prepare(deps: NotificationRouteDeps, req: SendRequest, locale: string | undefined): Promise<Prepared> {
  let subject = req.subject;
  let body = req.body;
  let text = req.text;
  if (req.template !== undefined) {
    const t = await deps.templates.find(req.template, locale);
    if (t === undefined) {
      if (body === undefined) return { ok: false, status: 400, message: `template not found: ${req.template}` };
      deps.log.warn({ template: req.template }, 'template not found, using the request body');
    } else {
      try {
        const r = renderTemplate({ subject: t.subject, bodyTemplate: t.body_template, text: t.text_template }, req.data, { format: req.channel === 'email' ? 'html' : 'text' });
        subject ??= r.subject || undefined;
        if (body === undefined) {
          body = req.channel === 'email' ? r.html : r.text;
          if (req.channel === 'email') text ??= r.text;
        }
      } catch (err) {
        return { ok: false, status: 400, message: (err as Error).message };
      }
    }
  }
  return {
    ok: true,
    notification: {
      appId: req.appId,
      channel: req.channel,
      ...(req.userId !== undefined ? { userId: req.userId } : {}),
      ...(req.template !== undefined ? { templateId: req.template } : {}),
      ...(subject !== undefined ? { subject } : {}),
      ...(body !== undefined ? { body } : {}),
      ...(text !== undefined ? { textBody: text } : {}),
      ...(req.data !== undefined ? { data: req.data } : {}),
      priority: req.priority,
      ...(req.recipient !== undefined ? { recipient: req.recipient } : {}),
      ...(req.recipients !== undefined ? { recipients: req.recipients } : {}),
      ...(req.externalId !== undefined ? { externalId: req.externalId } : {}),
      options: channelOptions(req),
    },
  };
}

function optional<T>(key: string, value: T | null | undefined): Record<string, T> {
  return value === null || value === undefined || value === '' ? {} : { [key]: value };
}

/** GET /notifications/{id}: the original's fields (camelCase, absent when null) plus recipients, Message-ID and the delivery log. */
export function notificationJson(row: NotificationRow, logs: DeliveryLogRow[]): Record<string, unknown> {
  const time = (v: number | null) => (v === null || v === undefined ? undefined : new Date(Number(v)).toISOString());
  return {
    id: row.id,
    ...optional('userId', row.user_id),
    appId: row.app_id,
    channel: row.channel,
    ...optional('templateId', row.template_id),
    ...optional('subject', row.subject),
    ...optional('body', row.body),
    status: row.status,
    priority: row.priority,
    ...optional('scheduledFor', time(row.scheduled_for)),
    ...optional('recipient', row.recipient),
    ...(row.recipients ? { recipients: JSON.parse(row.recipients) as string[] } : {}),
    ...optional('externalId', row.external_id),
    attempts: Number(row.attempts),
    ...optional('deliveredAt', time(row.delivered_at)),
    ...optional('errorMessage', row.error_message),
    ...optional('messageId', row.smtp_message_id),
    ...optional('mailQueueId', row.mail_queue_id),
    ...(row.status === 'pending' && row.attempts > 0 ? { nextAttemptAt: new Date(Number(row.next_attempt_at)).toISOString() } : {}),
    createdAt: new Date(Number(row.created_at)).toISOString(),
    updatedAt: new Date(Number(row.updated_at)).toISOString(),
    deliveryLogs: logs.map((l) => ({
      attempt: Number(l.attempt_number),
      channel: l.channel,
      success: Boolean(l.success),
      ...optional('event', l.event),
      ...optional('provider', l.provider),
      ...optional('statusCode', l.status_code === null ? null : Number(l.status_code)),
      ...optional('providerId', l.provider_id),
      ...optional('errorMessage', l.error_message),
      ...optional('durationMs', l.duration_ms === null ? null : Number(l.duration_ms)),
      createdAt: new Date(Number(l.created_at)).toISOString(),
    })),
  };
}

const IDEMPOTENCY_KEY_MAX = 255;

export function registerNotificationRoutes(app: Hono<any>, deps: NotificationRouteDeps): void {
  const { queue, metrics } = deps;

  app.post('/api/v1/notifications/send', async (c) => {
    const started = performance.now();
    const body = await readJson(c);
    if (!body.ok) return invalidBody(c);
    const v = validateSendRequest(body.value);
    if (!v.ok) return sendError(c, 400, v.message);
    const req = v.value;
    const header = c.req.header('idempotency-key');
    if (header !== undefined && (header === '' || header.length > IDEMPOTENCY_KEY_MAX)) {
      return sendError(c, 400, `Idempotency-Key must be 1 to ${IDEMPOTENCY_KEY_MAX} characters`);
    }
    const idempotencyKey = header === undefined ? undefined : `${req.appId}:${header}`;
    const keys = { ...(req.externalId !== undefined ? { externalId: req.externalId } : {}), ...(idempotencyKey !== undefined ? { idempotencyKey } : {}) };
    if (keys.externalId !== undefined || keys.idempotencyKey !== undefined) {
      const existing = await queue.findDuplicate(keys);
      if (existing !== undefined) {
        metrics?.deduplicated.inc({ app_id: req.appId });
        return sendJson(c, 200, { notification: { id: existing, status: 'existing' }, deduplicated: true });
      }
    }
    if (req.userId !== undefined) {
      const reason = blockedBy(await deps.preferences.get(req.userId), req.channel, new Date());
      if (reason !== undefined) return sendJson(c, 200, { notification: { status: 'cancelled', reason } });
    }
    const prepared = await prepare(deps, req, requestedLocale(body.value, req, c.req.header('accept-language')));
    if (!prepared.ok) return sendError(c, prepared.status, prepared.message);
    let inserted;
    try {
      inserted = await queue.insert({ ...prepared.notification, ...keys });
    } catch (err) {
      deps.log.error({ err }, 'notification insert failed');
      return sendError(c, 500, 'failed to create notification');
    }
    if (!inserted.created) {
      metrics?.deduplicated.inc({ app_id: req.appId });
      return sendJson(c, 200, { notification: { id: inserted.id, status: 'existing' }, deduplicated: true });
    }
    deps.wake?.();
    metrics?.accepted.inc({ channel: req.channel, app_id: req.appId });
    metrics?.acceptLatency.observe({ route: 'send' }, (performance.now() - started) / 1000);
    return sendJson(c, 202, { notification: { id: inserted.id, status: 'pending' } });
  });

  app.post('/api/v1/notifications/schedule', async (c) => {
    const body = await readJson(c);
    if (!body.ok) return invalidBody(c);
    const v = validateScheduleRequest(body.value);
    if (!v.ok) return sendError(c, 400, v.message);
    const req = v.value;
    const prepared = await prepare(deps, req, requestedLocale(body.value, req, c.req.header('accept-language')));
    if (!prepared.ok) return sendError(c, prepared.status, prepared.message);
    let inserted;
    try {
      inserted = await queue.insert({ ...prepared.notification, scheduledFor: req.scheduledFor.getTime() });
    } catch (err) {
      deps.log.error({ err }, 'notification insert failed');
      return sendError(c, 500, 'failed to create notification');
    }
    if (!inserted.created) return sendJson(c, 200, { notification: { id: inserted.id, status: 'existing' }, deduplicated: true });
    deps.wake?.();
    metrics?.accepted.inc({ channel: req.channel, app_id: req.appId });
    return sendJson(c, 202, { notification: { id: inserted.id, status: 'pending', scheduledFor: rfc3339(req.scheduledFor) } });
  });

  app.post('/api/v1/notifications/batch', async (c) => {
    const body = await readJson(c, BATCH_BODY_LIMIT);
    if (!body.ok) return invalidBody(c);
    const v = validateBatchRequest(body.value);
    if (!v.ok) return sendError(c, 400, v.message);
    const rawItems = ((body.value as Record<string, unknown>)['notifications'] as unknown[]) ?? [];
    const results: Array<Record<string, unknown>> = [];
    let succeeded = 0;
    let failed = 0;
    for (const [i, item] of v.value.notifications.entries()) {
      if (!item.ok) {
        results.push({ status: 'failed', error: item.message });
        failed++;
        continue;
      }
      const prepared = await prepare(deps, item.value, requestedLocale(rawItems[i], item.value, c.req.header('accept-language')));
      if (!prepared.ok) {
        results.push({ status: 'failed', error: prepared.message });
        failed++;
        continue;
      }
      try {
        const inserted = await queue.insert(prepared.notification);
        if (inserted.created) {
          results.push({ id: inserted.id, status: 'pending' });
          metrics?.accepted.inc({ channel: item.value.channel, app_id: item.value.appId });
        } else results.push({ id: inserted.id, status: 'existing', deduplicated: true });
        succeeded++;
      } catch (err) {
        deps.log.error({ err }, 'notification insert failed');
        results.push({ status: 'failed', error: 'database error' });
        failed++;
      }
    }
    if (succeeded > 0) deps.wake?.();
    return sendJson(c, 202, { results, succeeded, failed });
  });

  app.get('/api/v1/notifications/:id', async (c) => {
    const row = await queue.get(c.req.param('id')).catch(() => undefined);
    if (!row) return sendError(c, 404, 'notification not found');
    return sendJson(c, 200, { notification: notificationJson(row, await queue.logs(row.id)) });
  });

  app.delete('/api/v1/notifications/:id', async (c) => {
    let cancelled: boolean;
    try {
      cancelled = await queue.cancel(c.req.param('id'));
    } catch (err) {
      deps.log.error({ err }, 'notification cancel failed');
      return sendError(c, 500, 'failed to cancel notification');
    }
    if (!cancelled) return sendError(c, 404, 'notification not found or already processed');
    return sendJson(c, 200, { cancelled: true });
  });
}
