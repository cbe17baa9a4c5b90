// The template routes of the notify API: list, get by slug and locale, create, update, delete, preview (stored or ad hoc), as the original mana-notify answers them.
import type { Hono } from 'hono';
import { invalidBody, readJson, sendError, sendJson } from './http.ts';
import { validateTemplateCreate, validateTemplatePreview, validateTemplateSlugPreview, validateTemplateUpdate } from './request.ts';
import { templateJson, type TemplateStore } from './template-store.ts';
import { DEFAULT_LOCALE } from './templates/locale.ts';
import { renderTemplate } from './templates/render.ts';

export function registerTemplateRoutes(app: Hono<any>, deps: { templates: TemplateStore }): void {
  const { templates } = deps;

  app.get('/api/v1/templates', async (c) => {
    const rows = await templates.list();
    // The original answered null for an empty list.
    return sendJson(c, 200, { templates: rows.length ? rows.map(templateJson) : null });
  });

  app.post('/api/v1/templates', async (c) => {
    const body = await readJson(c);
    if (!body.ok) return invalidBody(c);
    const v = validateTemplateCreate(body.value);
    if (!v.ok) return sendError(c, 400, v.message);
    const id = await templates.create(v.value);
    if (id === undefined) return sendError(c, 409, 'template already exists for this slug+locale');
    return sendJson(c, 201, { id });
  });

  // Ad-hoc preview; registered before /:slug so "preview" is not taken for a slug.
  app.post('/api/v1/templates/preview', async (c) => {
    const body = await readJson(c);
    if (!body.ok) return invalidBody(c);
    const v = validateTemplatePreview(body.value);
    if (!v.ok) return sendError(c, 400, v.message);
    try {
      const r = renderTemplate({ subject: v.value.subject, bodyTemplate: v.value.bodyTemplate, text: v.value.text }, v.value.data);
      return sendJson(c, 200, { subject: r.subject, body: r.html, text: r.text });
    } catch (err) {
      return sendError(c, 400, (err as Error).message);
    }
  });

  app.get('/api/v1/templates/:slug', async (c) => {
    const locale = c.req.query('locale') || DEFAULT_LOCALE;
    const row = await templates.get(c.req.param('slug'), locale);
    if (!row) return sendError(c, 404, 'template not found');
    return sendJson(c, 200, { template: templateJson(row) });
  });

  app.put('/api/v1/templates/:slug', async (c) => {
    const body = await readJson(c);
    if (!body.ok) return invalidBody(c);
    const v = validateTemplateUpdate(body.value);
    if (!v.ok) return sendError(c, 400, v.message);
    const locale = c.req.query('locale') || DEFAULT_LOCALE;
    if (!(await templates.update(c.req.param('slug'), locale, v.value))) return sendError(c, 404, 'template not found or is a system template');
    return sendJson(c, 200, { updated: true });
  });

  app.delete('/api/v1/templates/:slug', async (c) => {
    if (!(await templates.remove(c.req.param('slug')))) return sendError(c, 404, 'template not found or is a system template');
    return sendJson(c, 200, { deleted: true });
  });

  app.post('/api/v1/templates/:slug/preview', async (c) => {
    const body = await readJson(c);
    if (!body.ok) return invalidBody(c);
    const v = validateTemplateSlugPreview(body.value);
    if (!v.ok) return sendError(c, 400, v.message);
    const row = await templates.find(c.req.param('slug'), c.req.query('locale') ?? c.req.header('accept-language'));
    if (!row) return sendError(c, 404, 'template not found');
    try {
      const r = renderTemplate({ subject: row.subject, bodyTemplate: row.body_template, text: row.text_template }, v.value.data);
      return sendJson(c, 200, { subject: r.subject, body: r.html, text: r.text, locale: row.locale });
    } catch (err) {
      return sendError(c, 400, (err as Error).message);
    }
  });
}
