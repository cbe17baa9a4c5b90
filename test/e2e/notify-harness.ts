// Test support for notify's end-to-end tests: notify on 127.0.0.1 port 0 with smtp-peer as its SMTP provider, over a real socket.
import { createHmac } from 'node:crypto';
import { startNotify, type NotifyTuning, type SmtpProvider } from '../../src/notify/service.ts';
import type { RunningService } from '../../src/stack/context.ts';
import type { Store } from '../../src/store/store.ts';
import { makeTestContext, type TestContext } from '../support/context.ts';
import { startSmtpPeer, type SmtpPeer, type SmtpPeerOptions } from '../support/smtp-peer.ts';

export const SERVICE_KEY = 'test-service-key';
export const SMTP_USER = 'noreply';
export const SMTP_PASS = 'peer-secret';

export type Harness = {
  t: TestContext;
  notify: RunningService;
  url: string;
  peer: SmtpPeer;
  /** fetch against notify with the service key and JSON. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any; text: string; headers: Headers }>;
  /** Signs a mail-event body as the mail server does. */
  sign(raw: string): string;
  /** Polls GET /notifications/{id} until `check` holds. */
  waitFor(id: string, check: (n: any) => boolean, timeoutMs?: number): Promise<any>;
  close(): Promise<void>;
};

export function peerProvider(peer: SmtpPeer, extra: Partial<SmtpProvider> = {}): SmtpProvider {
  return { host: peer.host, port: peer.port, user: SMTP_USER, password: SMTP_PASS, from: 'Mana <noreply@mana.test>', insecureTls: true, ...extra };
}

export async function startHarness(options: {
  store?: Store;
  peer?: SmtpPeerOptions;
  /** The primary provider: the peer itself by default, 'none' for no credentials, or built from the peer. */
  smtp?: SmtpProvider | 'none' | ((peer: SmtpPeer) => Promise<SmtpProvider>);
  fallback?: SmtpProvider;
  tuning?: NotifyTuning;
  overrides?: Record<string, any>;
  workerId?: string;
} = {}): Promise<Harness> {
  const peer = await startSmtpPeer({ auth: { user: SMTP_USER, pass: SMTP_PASS }, ...options.peer });
  const t = await makeTestContext({
    ...(options.store ? { store: options.store } : {}),
    overrides: { notify: { serviceKeys: [SERVICE_KEY, 'second-key'], webhookSecret: 'hook-secret', ...options.overrides?.notify }, ...options.overrides },
  });
  const smtp = options.smtp === 'none' ? undefined : typeof options.smtp === 'function' ? await options.smtp(peer) : (options.smtp ?? peerProvider(peer));
  const notify = await startNotify(t.ctx, {
    ...(smtp ? { smtp } : {}),
    ...(options.fallback ? { fallback: options.fallback } : {}),
    ...(options.workerId ? { workerId: options.workerId } : {}),
    tuning: { pollMs: 100, retry: { email: { baseMs: 50 }, webhook: { baseMs: 50 } }, ...options.tuning },
  });
  const url = notify.urls['notify-http']!;
  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { 'X-Service-Key': SERVICE_KEY, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text, headers: res.headers };
  }
  return {
    t,
    notify,
    url,
    peer,
    call,
    sign: (raw) => `sha256=${createHmac('sha256', 'hook-secret').update(raw).digest('hex')}`,
    async waitFor(id, check, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      let last: any;
      for (;;) {
        last = (await call('GET', `/api/v1/notifications/${id}`)).json?.notification;
        if (last && check(last)) return last;
        if (Date.now() > until) throw Object.assign(new Error(`notification ${id} did not reach the expected state: ${JSON.stringify(last)}`), { code: 'test.timeout' });
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      await notify.close();
      await peer.close();
      await t.cleanup();
    },
  };
}
