// HTTP client of notify's send API (POST /api/v1/notifications/send with X-Service-Key): the only way auth sends email; no SMTP here.

/** The body notify accepts (SPEC §2, ORIGINAL §1.5), as auth fills it in. */
export type NotifySendRequest = {
  channel: 'email';
  appId: string;
  recipient: string;
  template?: string;
  subject?: string;
  body?: string;
  text?: string;
  data?: Record<string, unknown>;
  externalId?: string;
  locale?: string;
  userId?: string;
  priority?: 'low' | 'normal' | 'high' | 'critical';
};

/**
 * What one attempt came to. `sent`: notify took the email (202, or 200 when it already had this
 * externalId); `retry`: try again later (network, timeout, 5xx, 401, 429); `rejected`: notify refused
 * the request itself (other 4xx), trying again cannot help.
 */
export type NotifyOutcome =
  | { status: 'sent'; notificationId?: string; deduplicated: boolean }
  | { status: 'retry'; error: string }
  | { status: 'rejected'; error: string };

export type NotifyClient = { send(request: NotifySendRequest): Promise<NotifyOutcome> };

export function createNotifyClient(options: { url: string; serviceKey: string; timeoutMs?: number }): NotifyClient {
  const endpoint = `${options.url.replace(/\/+$/, '')}/api/v1/notifications/send`;
  const timeoutMs = options.timeoutMs ?? 10_000;
  return {
    async send(request) {
      let res: Response;
      try {
        res = await fetch(endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-service-key': options.serviceKey },
          body: JSON.stringify(request),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        return { status: 'retry', error: `notify unreachable: ${e.cause?.code ?? e.name}: ${e.message}` };
      }
      const text = await res.text().catch(() => '');
      if (res.ok) {
        let parsed: { notification?: { id?: string }; deduplicated?: boolean } = {};
        try {
          parsed = JSON.parse(text);
        } catch {
          // a 2xx without JSON still means notify took it
        }
        return { status: 'sent', notificationId: parsed.notification?.id, deduplicated: parsed.deduplicated === true };
      }
      const error = `notify returned ${res.status}: ${text.slice(0, 300)}`;
      if (res.status >= 500 || res.status === 401 || res.status === 403 || res.status === 408 || res.status === 429) return { status: 'retry', error };
      return { status: 'rejected', error };
    },
  };
}
