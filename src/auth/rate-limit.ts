// Abuse limits of auth: fixed-window counters per action, per client IP and per email address, in memory (no RFC; 429 + Retry-After per RFC 6585 §4 and RFC 9110 §10.2.3).

export type LimitedAction = 'sign-up' | 'sign-in' | 'reset' | 'resend' | 'magic-link';
export type Rule = { max: number; windowMs: number };
export type ActionRules = { ip: Rule; address: Rule };
export type RateLimits = Record<LimitedAction, ActionRules>;

const MIN = 60_000;

/** Generous enough for people behind one NAT, tight enough that an address cannot be mail-bombed. */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  'sign-up': { ip: { max: 20, windowMs: 10 * MIN }, address: { max: 3, windowMs: 10 * MIN } },
  'sign-in': { ip: { max: 30, windowMs: 5 * MIN }, address: { max: 10, windowMs: 5 * MIN } },
  reset: { ip: { max: 10, windowMs: 15 * MIN }, address: { max: 3, windowMs: 15 * MIN } },
  resend: { ip: { max: 10, windowMs: 15 * MIN }, address: { max: 3, windowMs: 15 * MIN } },
  'magic-link': { ip: { max: 10, windowMs: 15 * MIN }, address: { max: 3, windowMs: 15 * MIN } },
};

export type LimitDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number; scope: 'ip' | 'address' };

export type RateLimiter = {
  /** Counts one attempt of `action` by `ip` for `address` (lower-cased); refuses when either counter is over its rule. */
  hit(options: { action: LimitedAction; ip: string; address?: string }): LimitDecision;
  reset(): void;
};

export function createRateLimiter(options: { rules?: Partial<Record<LimitedAction, Partial<ActionRules>>>; now?: () => number } = {}): RateLimiter {
  const now = options.now ?? Date.now;
  const rules: RateLimits = structuredClone(DEFAULT_RATE_LIMITS);
  for (const [action, r] of Object.entries(options.rules ?? {}) as Array<[LimitedAction, Partial<ActionRules>]>) {
    rules[action] = { ...rules[action], ...r };
  }
  const windows = new Map<string, { start: number; count: number }>();
  let lastSweep = now();

  function count(key: string, rule: Rule, t: number): { over: boolean; retryAfterSeconds: number } {
    let w = windows.get(key);
    if (!w || t - w.start >= rule.windowMs) {
      w = { start: t, count: 0 };
      windows.set(key, w);
    }
    w.count++;
    return { over: w.count > rule.max, retryAfterSeconds: Math.max(1, Math.ceil((w.start + rule.windowMs - t) / 1000)) };
  }

  function sweep(t: number): void {
    if (t - lastSweep < MIN) return;
    lastSweep = t;
    const longest = Math.max(...Object.values(rules).flatMap((r) => [r.ip.windowMs, r.address.windowMs]));
    for (const [k, w] of windows) if (t - w.start >= longest) windows.delete(k);
  }

  return {
    hit({ action, ip, address }) {
      const t = now();
      sweep(t);
      const r = rules[action];
      const byIp = count(`${action}|ip|${ip}`, r.ip, t);
      // Count the address even when the IP is over, so rotating IPs cannot reset an address's budget.
      const byAddress = address ? count(`${action}|addr|${address.trim().toLowerCase()}`, r.address, t) : undefined;
      if (byIp.over) return { allowed: false, retryAfterSeconds: byIp.retryAfterSeconds, scope: 'ip' };
      if (byAddress?.over) return { allowed: false, retryAfterSeconds: byAddress.retryAfterSeconds, scope: 'address' };
      return { allowed: true };
    },
    reset() {
      windows.clear();
    },
  };
}
