// Stored notification templates (notify_templates): the built-ins seeded as system templates, CRUD for the API, and lookup by slug with locale choice (RFC 4647 lookup via pickLocale).
import { randomUUID } from 'node:crypto';
import { isUniqueViolation, type Store } from '../store/store.ts';
import { BUILTIN_TEMPLATES } from './templates/builtin.ts';
import { pickLocale } from './templates/locale.ts';
import type { TemplateCreateRequest, TemplateUpdateRequest } from './request.ts';

export type TemplateRow = {
  id: string;
  slug: string;
  app_id: string | null;
  channel: string;
  subject: string | null;
  body_template: string;
  text_template: string | null;
  locale: string;
  is_active: number | boolean;
  is_system: number | boolean;
  variables: string | null;
  created_at: number;
  updated_at: number;
};

export type TemplateJson = {
  id: string;
  slug: string;
  appId?: string;
  channel: string;
  subject?: string;
  bodyTemplate: string;
  text?: string;
  locale: string;
  isActive: boolean;
  isSystem: boolean;
  variables?: unknown;
  createdAt: string;
  updatedAt: string;
};

/** The original's template JSON, with `variables` as JSON (the original sent base64 of the bytes). */
export function templateJson(row: TemplateRow): TemplateJson {
  let variables: unknown;
  if (row.variables !== null) {
    try {
      variables = JSON.parse(row.variables);
    } catch {
      variables = row.variables;
    }
  }
  return {
    id: row.id,
    slug: row.slug,
    ...(row.app_id ? { appId: row.app_id } : {}),
    channel: row.channel,
    ...(row.subject !== null ? { subject: row.subject } : {}),
    bodyTemplate: row.body_template,
    ...(row.text_template !== null ? { text: row.text_template } : {}),
    locale: row.locale,
    isActive: Boolean(row.is_active),
    isSystem: Boolean(row.is_system),
    ...(variables !== undefined ? { variables } : {}),
    createdAt: new Date(Number(row.created_at)).toISOString(),
    updatedAt: new Date(Number(row.updated_at)).toISOString(),
  };
}

export type TemplateStore = ReturnType<typeof createTemplateStore>;

export function createTemplateStore(options: { store: Store; now?: () => number }) {
  const { store } = options;
  const now = options.now ?? Date.now;
  return {
    /**
     * Writes the built-ins as system templates; a newer text in the code replaces the stored one.
     * A caller's own template with the same slug and locale is left alone.
     */
    async seedBuiltins(): Promise<number> {
      let changed = 0;
      for (const t of BUILTIN_TEMPLATES) {
        const at = now();
        const r = await store.run(
          `INSERT INTO notify_templates (id, slug, app_id, channel, subject, body_template, text_template, locale, is_active, is_system, variables, created_at, updated_at)
           VALUES (?, ?, NULL, ?, ?, ?, NULL, ?, 1, 1, ?, ?, ?)
           ON CONFLICT (slug, locale) DO UPDATE SET subject = excluded.subject, body_template = excluded.body_template,
             variables = excluded.variables, updated_at = excluded.updated_at
           WHERE notify_templates.is_system = 1
             AND (notify_templates.body_template <> excluded.body_template OR notify_templates.subject <> excluded.subject OR notify_templates.variables <> excluded.variables)`,
          [randomUUID(), t.slug, t.channel, t.subject, t.bodyTemplate, t.locale, JSON.stringify(t.variables), at, at],
        );
        changed += r.changes;
      }
      return changed;
    },

    async list(): Promise<TemplateRow[]> {
      return store.all<TemplateRow>('SELECT * FROM notify_templates ORDER BY slug, locale');
    },

    async get(slug: string, locale: string): Promise<TemplateRow | undefined> {
      return store.get<TemplateRow>('SELECT * FROM notify_templates WHERE slug = ? AND locale = ?', [slug, locale]);
    },

    /** The active template for `slug` in the best locale for `requested` (tag or Accept-Language list). */
    async find(slug: string, requested?: string | null): Promise<TemplateRow | undefined> {
      const rows = await store.all<TemplateRow>('SELECT * FROM notify_templates WHERE slug = ? AND is_active = 1', [slug]);
      const chosen = pickLocale(requested, rows.map((r) => r.locale));
      return rows.find((r) => r.locale === chosen);
    },

    /** Undefined when the slug+locale is taken (409 in the API). */
    async create(t: TemplateCreateRequest): Promise<string | undefined> {
      const id = randomUUID();
      const at = now();
      try {
        await store.run(
          `INSERT INTO notify_templates (id, slug, app_id, channel, subject, body_template, text_template, locale, is_active, is_system, variables, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, 0, ?, ?, ?)`,
          [id, t.slug, t.appId ?? null, t.channel, t.subject ?? null, t.bodyTemplate, t.text ?? null, t.locale, t.variables === undefined ? null : JSON.stringify(t.variables), at, at],
        );
        return id;
      } catch (err) {
        if (isUniqueViolation(err)) return undefined;
        throw err;
      }
    },

    /** False when there is no such non-system template. */
    async update(slug: string, locale: string, t: TemplateUpdateRequest): Promise<boolean> {
      const r = await store.run(
        `UPDATE notify_templates SET subject = COALESCE(?, subject), body_template = COALESCE(?, body_template),
           text_template = COALESCE(?, text_template), is_active = COALESCE(?, is_active),
           variables = COALESCE(?, variables), updated_at = ?
         WHERE slug = ? AND locale = ? AND is_system = 0`,
        [
          t.subject ?? null, t.bodyTemplate ?? null, t.text ?? null, t.isActive === undefined ? null : t.isActive ? 1 : 0,
          t.variables === undefined ? null : JSON.stringify(t.variables), now(), slug, locale,
        ],
      );
      return r.changes > 0;
    },

    /** Deletes every locale of a non-system template; false when there was none. */
    async remove(slug: string): Promise<boolean> {
      const r = await store.run('DELETE FROM notify_templates WHERE slug = ? AND is_system = 0', [slug]);
      return r.changes > 0;
    },
  };
}
