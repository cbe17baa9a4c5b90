// The delivery channels of notify: email (RFC 5322 message via the SMTP provider switch), webhook (HTTP POST/PUT with an HMAC-SHA256 signature, RFC 2104), push (Expo, not configured).
import { createHmac, randomBytes } from 'node:crypto';
import { domainToASCII } from 'node:url';
import type { Logger } from '../lib/log.ts';
import { composeEmail, tryParseAddress, type ComposedEmail, type ComposeOptions } from './compose.ts';
import type { ProviderSwitch } from './failover.ts';
import type { NotifyMetrics } from './metrics.ts';
import type { ChannelOptions, ClaimedNotification, NotificationRow } from './queue.ts';
import { SmtpSendError, type OutgoingMessage, type SmtpSender } from './smtp-provider.ts';
import type { ChannelHandler, Delivery } from './worker.ts';

/** Header naming the notification in every email and webhook notify sends. */
export const NOTIFICATION_ID_HEADER = 'X-Mana-Notification-Id';
/** Header carrying `sha256=<hex HMAC-SHA256 of the body>` on webhooks notify sends. */
export const SIGNATURE_HEADER = 'X-Mana-Signature';

function channelOptions(n: ClaimedNotification): ChannelOptions {
  try {
    return JSON.parse(n.options) as ChannelOptions;
  } catch {
    return {};
  }
}

function recipientsOf(n: ClaimedNotification): string[] {
  const list: string[] = [];
  if (n.recipient) list.push(n.recipient);
  if (n.recipients) {
    try {
      for (const r of JSON.parse(n.recipients) as string[]) if (r && !list.includes(r)) list.push(r);
    } catch {
      // stored by us; never malformed
    }
  }
  return list;
}

/** Puts a Message-ID chosen by an earlier attempt back into a freshly composed message (RFC 5322 §3.6.4: a resend keeps its id). */
export function withMessageId(raw: Buffer, messageId: string): Buffer {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end === -1 ? raw.length : end).toString('latin1');
  const replaced = head.replace(/^Message-ID:[ \t]*<[^>\r\n]*>/im, `Message-ID: ${messageId}`);
  return Buffer.concat([Buffer.from(replaced, 'latin1'), raw.subarray(end === -1 ? raw.length : end)]);
}

/**
 * The Message-ID an email notification will carry, `<random@from-domain>` (RFC 5322 §3.6.4),
 * chosen when it is first claimed so it is stored before the message leaves.
 */
export function emailMessageIdFor(defaultFrom: string): (row: Pick<NotificationRow, 'channel' | 'options'>) => string | undefined {
  return (row) => {
    if (row.channel !== 'email') return undefined;
    let from = defaultFrom;
    try {
      from = (JSON.parse(row.options) as ChannelOptions).email?.from ?? defaultFrom;
    } catch {
      // stored by us
    }
    const address = tryParseAddress(from)?.address;
    const domain = address ? domainToASCII(address.slice(address.lastIndexOf('@') + 1)) : '';
    if (!/^[a-z0-9.-]+$/.test(domain)) return undefined;
    return `<${randomBytes(16).toString('hex')}@${domain}>`;
  };
}

export function createEmailChannel(options: {
  providers: ProviderSwitch;
  defaultFrom: string;
  log: Logger;
  metrics?: NotifyMetrics;
  /** composeEmail, or the same on the SMTP thread (smtp-thread.ts). */
  compose?: (o: ComposeOptions) => Promise<ComposedEmail>;
}): ChannelHandler {
  const { providers, defaultFrom, metrics } = options;
  const compose = options.compose ?? composeEmail;
  return async (n, context): Promise<Delivery> => {
    const to = recipientsOf(n);
    if (to.length === 0) {
      return { ok: false, permanent: true, error: 'no recipient address: an email needs recipient or recipients (notify has no address book for userId)' };
    }
    const email = channelOptions(n).email ?? {};
    let messageId = n.smtp_message_id ?? undefined;
    const build = async (sender: SmtpSender): Promise<OutgoingMessage> => {
      const composed = await compose({
        from: email.from ?? sender.from ?? defaultFrom,
        to,
        ...(email.cc ? { cc: email.cc } : {}),
        ...(email.bcc ? { bcc: email.bcc } : {}),
        ...(email.replyTo ? { replyTo: email.replyTo } : {}),
        subject: n.subject ?? '',
        html: n.body ?? '',
        ...(n.text_body ? { text: n.text_body } : {}),
        headers: { ...email.headers, [NOTIFICATION_ID_HEADER]: n.id },
      });
      if (messageId !== undefined) return { envelope: composed.envelope, raw: withMessageId(composed.raw, messageId) };
      if (!(await context.recordMessageId(composed.messageId))) {
        throw Object.assign(new Error('lease lost before sending'), { code: 'queue.lease_lost' });
      }
      messageId = composed.messageId;
      return { envelope: composed.envelope, raw: composed.raw };
    };
    try {
      const accepted = await providers.send(build);
      metrics?.emails.inc({ template: n.template_id ?? 'custom', provider: accepted.provider, status: 'success' });
      metrics?.emailLatency.observe({}, accepted.durationMs / 1000);
      return {
        ok: true,
        provider: accepted.provider,
        providerId: accepted.queueId ?? accepted.response,
        statusCode: Number(accepted.response.slice(0, 3)) || 250,
        ...(accepted.queueId ? { mailQueueId: accepted.queueId } : {}),
        ...(accepted.rejected.length ? { note: `refused recipients: ${accepted.rejected.join(', ')}` } : {}),
      };
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (code === 'queue.lease_lost') return { ok: false, permanent: false, error: 'lease lost before sending' };
      if (code.startsWith('compose.')) return { ok: false, permanent: true, error: (err as Error).message };
      if (err instanceof SmtpSendError) {
        metrics?.emails.inc({ template: n.template_id ?? 'custom', provider: err.provider, status: 'failed' });
        return {
          ok: false,
          permanent: err.kind === 'permanent' || err.kind === 'config',
          error: err.message,
          provider: err.provider,
          ...(err.responseCode !== undefined ? { statusCode: err.responseCode } : {}),
        };
      }
      throw err;
    }
  };
}

/** HMAC-SHA256 of a body under the shared secret, as `sha256=<hex>`. */
export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function createWebhookChannel(options: { secret: string; log: Logger; metrics?: NotifyMetrics }): ChannelHandler {
  const { secret, metrics } = options;
  return async (n): Promise<Delivery> => {
    let url: URL;
    try {
      url = new URL(n.recipient ?? '');
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
    } catch {
      return { ok: false, permanent: true, error: 'recipient is not an http(s) URL' };
    }
    const webhook = channelOptions(n).webhook ?? {};
    const body = n.data ?? '{}';
    const headers: Record<string, string> = { ...webhook.headers };
    headers['Content-Type'] = 'application/json';
    headers['User-Agent'] = 'ManaNotify/1.0';
    headers[NOTIFICATION_ID_HEADER] = n.id;
    headers[SIGNATURE_HEADER] = signBody(secret, body);
    try {
      const res = await fetch(url, { method: webhook.method ?? 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(webhook.timeout ?? 10_000) });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) {
        metrics?.webhooks.inc({ status: 'success' });
        return { ok: true, statusCode: res.status };
      }
      metrics?.webhooks.inc({ status: 'failed' });
      // 4xx other than 408/429 will not change on retry.
      const permanent = res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429;
      return { ok: false, permanent, error: `webhook returned ${res.status}`, statusCode: res.status };
    } catch (err) {
      metrics?.webhooks.inc({ status: 'failed' });
      const e = err as Error;
      const message = e.name === 'TimeoutError' ? `webhook timed out after ${webhook.timeout ?? 10_000} ms` : `webhook request failed: ${(e.cause as Error | undefined)?.message ?? e.message}`;
      return { ok: false, permanent: false, error: message };
    }
  };
}

/** Push goes to Expo, which needs EXPO_ACCESS_TOKEN; this build has no Expo client, so push fails at once with the original's text. */
export function createPushChannel(options: { metrics?: NotifyMetrics }): ChannelHandler {
  return async () => {
    options.metrics?.push.inc({ platform: 'expo', status: 'failed' });
    return { ok: false, permanent: true, error: 'Expo not configured' };
  };
}
