// The user routes of the notify API behind a bearer token (RFC 6750): notification preferences and push devices, as the original mana-notify answers them.
import { randomUUID } from 'node:crypto';
import type { Hono } from 'hono';
import type { Store } from '../store/store.ts';
import { invalidBody, readJson, sendError, sendJson } from './http.ts';
import { DEFAULT_PREFERENCES, preferencesJson, type PreferenceStore } from './preferences.ts';
import { validateDeviceRegister, validatePreferencesUpdate } from './request.ts';
import { userAuth, type UserAuthOptions } from './user-auth.ts';

type DeviceRow = {
  id: string;
  user_id: string;
  push_token: string;
  token_type: string;
  platform: string | null;
  device_name: string | null;
  app_id: string | null;
  is_active: number | boolean;
  last_seen_at: number | null;
  created_at: number;
  updated_at: number;
};

function deviceJson(d: DeviceRow): Record<string, unknown> {
  return {
    id: d.id,
    userId: d.user_id,
    pushToken: d.push_token,
    tokenType: d.token_type,
    ...(d.platform ? { platform: d.platform } : {}),
    ...(d.device_name ? { deviceName: d.device_name } : {}),
    ...(d.app_id ? { appId: d.app_id } : {}),
    isActive: Boolean(d.is_active),
    ...(d.last_seen_at ? { lastSeenAt: new Date(Number(d.last_seen_at)).toISOString() } : {}),
    createdAt: new Date(Number(d.created_at)).toISOString(),
    updatedAt: new Date(Number(d.updated_at)).toISOString(),
  };
}

export function registerUserRoutes(app: Hono<{ Variables: { userId: string } }>, deps: { store: Store; preferences: PreferenceStore; auth: UserAuthOptions }): void {
  const { store, preferences } = deps;
  const guard = userAuth(deps.auth);
  app.use('/api/v1/preferences', guard);
  app.use('/api/v1/devices', guard);
  app.use('/api/v1/devices/*', guard);

  app.get('/api/v1/preferences', async (c) => {
    const row = await preferences.get(c.get('userId'));
    return sendJson(c, 200, { preferences: row ? preferencesJson(row) : { ...DEFAULT_PREFERENCES } });
  });

  app.put('/api/v1/preferences', async (c) => {
    const body = await readJson(c);
    if (!body.ok) return invalidBody(c);
    const v = validatePreferencesUpdate(body.value);
    if (!v.ok) return sendError(c, 400, v.message);
    await preferences.put(c.get('userId'), v.value);
    return sendJson(c, 200, { updated: true });
  });

  app.post('/api/v1/devices/register', async (c) => {
    const body = await readJson(c);
    if (!body.ok) return invalidBody(c);
    const v = validateDeviceRegister(body.value);
    if (!v.ok) return sendError(c, 400, v.message);
    const d = v.value;
    const at = Date.now();
    // Upsert on the token: a token moves to whoever registers it last.
    const row = await store.get<{ id: string }>(
      `INSERT INTO notify_devices (id, user_id, push_token, token_type, platform, device_name, app_id, is_active, last_seen_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
       ON CONFLICT (push_token) DO UPDATE SET user_id = excluded.user_id, token_type = excluded.token_type,
         platform = COALESCE(excluded.platform, notify_devices.platform), device_name = COALESCE(excluded.device_name, notify_devices.device_name),
         app_id = COALESCE(excluded.app_id, notify_devices.app_id), is_active = 1, last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at
       RETURNING id`,
      [randomUUID(), c.get('userId'), d.pushToken, d.tokenType, d.platform ?? null, d.deviceName ?? null, d.appId ?? null, at, at, at],
    );
    return sendJson(c, 201, { device: { id: row!.id } });
  });

  app.get('/api/v1/devices', async (c) => {
    const rows = await store.all<DeviceRow>('SELECT * FROM notify_devices WHERE user_id = ? AND is_active = 1 ORDER BY created_at DESC', [c.get('userId')]);
    return sendJson(c, 200, { devices: rows.map(deviceJson) });
  });

  app.delete('/api/v1/devices/:id', async (c) => {
    const r = await store.run('UPDATE notify_devices SET is_active = 0, updated_at = ? WHERE id = ? AND user_id = ? AND is_active = 1', [Date.now(), c.req.param('id'), c.get('userId')]);
    if (r.changes === 0) return sendError(c, 404, 'device not found');
    return sendJson(c, 200, { deleted: true });
  });
}
