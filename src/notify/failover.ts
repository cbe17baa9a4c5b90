// SMTP provider failover for notify: a primary and an optional fallback; the fallback takes over while the primary keeps failing and hands back when a probe finds it healthy.
import type { Logger } from '../lib/log.ts';
import { NOT_CONFIGURED, SmtpSendError, type OutgoingMessage, type SmtpAccepted, type SmtpSender } from './smtp-provider.ts';

export type ProviderRole = 'primary' | 'fallback';

export type FailoverOptions = {
  primary: SmtpSender;
  fallback?: SmtpSender;
  /** Consecutive primary failures (connection, timeout, AUTH, 421, 4xx) after which the fallback takes over. */
  threshold?: number;
  /** While on the fallback, how often the primary is probed (connect, STARTTLS, AUTH, QUIT). */
  probeIntervalMs?: number;
  log: Logger;
  onSwitch?: (to: ProviderRole, reason: string) => void;
};

export type ProviderStatus = {
  name: string;
  host: string;
  port: number;
  configured: boolean;
  consecutiveFailures: number;
  lastError?: string;
  lastErrorAt?: string;
  lastSuccessAt?: string;
};

export type FailoverStatus = {
  active: ProviderRole;
  configured: boolean;
  error?: string;
  primary: ProviderStatus;
  fallback?: ProviderStatus;
};

/** The message to send, built for the provider that will carry it (its default From, its Message-ID domain). */
export type BuildMessage = (sender: SmtpSender) => Promise<OutgoingMessage>;

export type FailoverResult = SmtpAccepted & { provider: ProviderRole; messageId?: string };

type State = { failures: number; lastError?: string; lastErrorAt?: number; lastSuccessAt?: number };

export type ProviderSwitch = ReturnType<typeof createProviderSwitch>;

export function createProviderSwitch(options: FailoverOptions) {
  const threshold = options.threshold ?? 3;
  const probeIntervalMs = options.probeIntervalMs ?? 30_000;
  const { log } = options;
  // With only the fallback configured, it is the provider: nothing to fail over from.
  const primary = options.primary.configured || !options.fallback?.configured ? options.primary : options.fallback;
  const fallback = primary === options.primary && options.fallback?.configured ? options.fallback : undefined;
  const state: Record<ProviderRole, State> = { primary: { failures: 0 }, fallback: { failures: 0 } };
  let active: ProviderRole = 'primary';
  let probeTimer: NodeJS.Timeout | undefined;
  let probing = false;
  let closed = false;

  const sender = (role: ProviderRole): SmtpSender | undefined => (role === 'primary' ? primary : fallback);

  function switchTo(role: ProviderRole, reason: string): void {
    if (active === role) return;
    active = role;
    log.warn({ provider: role, host: sender(role)?.host, reason }, role === 'fallback' ? 'smtp failover to fallback' : 'smtp back to primary');
    options.onSwitch?.(role, reason);
    if (role === 'fallback') scheduleProbe();
    else if (probeTimer) {
      clearTimeout(probeTimer);
      probeTimer = undefined;
    }
  }

  function scheduleProbe(): void {
    if (closed || probeTimer || !fallback) return;
    probeTimer = setTimeout(async () => {
      probeTimer = undefined;
      if (closed || active !== 'fallback' || probing) return;
      probing = true;
      try {
        const ok = await primary.probe();
        if (ok) {
          state.primary.failures = 0;
          switchTo('primary', 'probe succeeded');
        } else {
          log.info({ provider: 'primary', host: primary.host }, 'smtp primary probe failed');
        }
      } finally {
        probing = false;
        if (active === 'fallback') scheduleProbe();
      }
    }, probeIntervalMs);
    probeTimer.unref();
  }

  function noteFailure(role: ProviderRole, err: SmtpSendError): void {
    const s = state[role];
    s.failures += 1;
    s.lastError = err.message;
    s.lastErrorAt = Date.now();
    if (role === 'primary' && fallback && s.failures >= threshold) switchTo('fallback', `${s.failures} consecutive failures, last: ${err.message}`);
  }

  function noteSuccess(role: ProviderRole): void {
    state[role].failures = 0;
    state[role].lastSuccessAt = Date.now();
  }

  function statusOf(s: SmtpSender, st: State): ProviderStatus {
    return {
      name: s.name,
      host: s.host,
      port: s.port,
      configured: s.configured,
      consecutiveFailures: st.failures,
      ...(st.lastError !== undefined ? { lastError: st.lastError, lastErrorAt: new Date(st.lastErrorAt!).toISOString() } : {}),
      ...(st.lastSuccessAt !== undefined ? { lastSuccessAt: new Date(st.lastSuccessAt).toISOString() } : {}),
    };
  }

  return {
    get active(): ProviderRole {
      return active;
    },
    configured: primary.configured,

    /**
     * Sends through the active provider. When it fails as a provider (cannot connect, TLS, AUTH,
     * 421), the other one is tried at once for this message; a 4xx or 5xx reply to the message is
     * returned as it is (4xx still counts towards the failover threshold).
     */
    async send(build: BuildMessage): Promise<FailoverResult> {
      if (!primary.configured) throw new SmtpSendError({ message: NOT_CONFIGURED, kind: 'config', code: 'smtp.not_configured', provider: 'primary' });
      const order: ProviderRole[] = fallback ? (active === 'primary' ? ['primary', 'fallback'] : ['fallback', 'primary']) : ['primary'];
      let lastError: SmtpSendError | undefined;
      for (const role of order) {
        const s = sender(role)!;
        const message = await build(s);
        try {
          const accepted = await s.send(message);
          noteSuccess(role);
          return { ...accepted, provider: role };
        } catch (err) {
          const e = err instanceof SmtpSendError ? err : new SmtpSendError({ message: String(err), kind: 'transient', code: 'smtp.transient', provider: role, cause: err });
          lastError = e;
          if (e.kind === 'provider' || e.kind === 'transient') noteFailure(role, e);
          log.warn({ provider: role, host: s.host, kind: e.kind, responseCode: e.responseCode, err: e.message }, 'smtp send failed');
          if (e.kind !== 'provider') throw e;
        }
      }
      throw lastError!;
    },

    status(): FailoverStatus {
      return {
        active,
        configured: primary.configured,
        ...(primary.configured ? {} : { error: NOT_CONFIGURED }),
        primary: statusOf(primary, state.primary),
        ...(fallback ? { fallback: statusOf(fallback, state.fallback) } : {}),
      };
    },

    close(): void {
      closed = true;
      if (probeTimer) clearTimeout(probeTimer);
      primary.close();
      fallback?.close();
    },
  };
}
