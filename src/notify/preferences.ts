// Per-user notification preferences (channel switches, quiet hours in the user's IANA time zone) and the check the send path applies, as the original mana-notify does.
import type { Store } from '../store/store.ts';
import type { Channel } from './queue.ts';
import type { PreferencesUpdateRequest } from './request.ts';

export type PreferencesRow = {
  user_id: string;
  email_enabled: number | boolean;
  push_enabled: number | boolean;
  quiet_hours_enabled: number | boolean;
  quiet_hours_start: string | null;
  quiet_hours_end: string | null;
  timezone: string;
  category_preferences: string | null;
  created_at: number;
  updated_at: number;
};

/** What GET /preferences answers when the user has no row: the original's defaults (email off). */
export const DEFAULT_PREFERENCES = { emailEnabled: false, pushEnabled: true, quietHoursEnabled: false, timezone: 'Europe/Berlin' } as const;

export function preferencesJson(row: PreferencesRow): Record<string, unknown> {
  let category: unknown;
  if (row.category_preferences !== null) {
    try {
      category = JSON.parse(row.category_preferences);
    } catch {
      category = undefined;
    }
  }
  return {
    userId: row.user_id,
    emailEnabled: Boolean(row.email_enabled),
    pushEnabled: Boolean(row.push_enabled),
    quietHoursEnabled: Boolean(row.quiet_hours_enabled),
    ...(row.quiet_hours_start ? { quietHoursStart: row.quiet_hours_start } : {}),
    ...(row.quiet_hours_end ? { quietHoursEnd: row.quiet_hours_end } : {}),
    timezone: row.timezone,
    ...(category !== undefined ? { categoryPreferences: category } : {}),
    createdAt: new Date(Number(row.created_at)).toISOString(),
    updatedAt: new Date(Number(row.updated_at)).toISOString(),
  };
}

function minutes(hhmm: string): number | undefined {
  const m = /^(\d{1,2}):(\d{2})$/.exec(hhmm);
  return m ? Number(m[1]) * 60 + Number(m[2]) : undefined;
}

/** Minutes since midnight at `at` in time zone `tz` (Europe/Berlin when unknown). */
export function minutesInZone(at: Date, tz: string): number {
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  } catch {
    parts = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  }
  const hour = Number(parts.find((p) => p.type === 'hour')?.value ?? 0);
  const minute = Number(parts.find((p) => p.type === 'minute')?.value ?? 0);
  return hour * 60 + minute;
}

/** Whether `at` falls in [start, end) in the user's zone; a range whose end is before its start spans midnight. */
export function inQuietHours(o: { start: string; end: string; timezone: string; at: Date }): boolean {
  const start = minutes(o.start);
  const end = minutes(o.end);
  if (start === undefined || end === undefined || start === end) return false;
  const now = minutesInZone(o.at, o.timezone);
  return start < end ? now >= start && now < end : now >= start || now < end;
}

/** The reason a send is dropped for this user, or undefined to send. No row means send. */
export function blockedBy(row: PreferencesRow | undefined, channel: Channel, at: Date): string | undefined {
  if (!row) return undefined;
  if (channel === 'email' && !row.email_enabled) return 'email notifications disabled by user';
  if (channel === 'push' && !row.push_enabled) return 'push notifications disabled by user';
  if (row.quiet_hours_enabled && row.quiet_hours_start && row.quiet_hours_end) {
    if (inQuietHours({ start: row.quiet_hours_start, end: row.quiet_hours_end, timezone: row.timezone, at })) return 'quiet hours active';
  }
  return undefined;
}

export type PreferenceStore = ReturnType<typeof createPreferenceStore>;

export function createPreferenceStore(options: { store: Store; now?: () => number }) {
  const { store } = options;
  const now = options.now ?? Date.now;
  return {
    async get(userId: string): Promise<PreferencesRow | undefined> {
      return store.get<PreferencesRow>('SELECT * FROM notify_preferences WHERE user_id = ?', [userId]);
    },
    /** Upsert keeping old values for fields not given (the original's COALESCE). */
    async put(userId: string, p: PreferencesUpdateRequest): Promise<void> {
      const at = now();
      const b = (v: boolean | undefined) => (v === undefined ? null : v ? 1 : 0);
      await store.run(
        `INSERT INTO notify_preferences (user_id, email_enabled, push_enabled, quiet_hours_enabled, quiet_hours_start, quiet_hours_end, timezone, category_preferences, created_at, updated_at)
         VALUES (?, COALESCE(?, 0), COALESCE(?, 1), COALESCE(?, 0), ?, ?, COALESCE(?, 'Europe/Berlin'), ?, ?, ?)
         ON CONFLICT (user_id) DO UPDATE SET
           email_enabled = COALESCE(?, notify_preferences.email_enabled),
           push_enabled = COALESCE(?, notify_preferences.push_enabled),
           quiet_hours_enabled = COALESCE(?, notify_preferences.quiet_hours_enabled),
           quiet_hours_start = COALESCE(?, notify_preferences.quiet_hours_start),
           quiet_hours_end = COALESCE(?, notify_preferences.quiet_hours_end),
           timezone = COALESCE(?, notify_preferences.timezone),
           category_preferences = COALESCE(?, notify_preferences.category_preferences),
           updated_at = ?`,
        (() => {
          const fields = [b(p.emailEnabled), b(p.pushEnabled), b(p.quietHoursEnabled), p.quietHoursStart ?? null, p.quietHoursEnd ?? null, p.timezone ?? null, p.categoryPreferences === undefined ? null : JSON.stringify(p.categoryPreferences)];
          return [userId, ...fields, at, at, ...fields, at];
        })(),
      );
    },
  };
}
