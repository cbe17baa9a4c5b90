// Admin API routes for received aggregate reports (/api/reports/dmarc, /api/reports/tls): DMARC (RFC 7489 §7.2) and SMTP TLS (RFC 8460) reports kept by src/mail/reports.ts.
import { Hono } from 'hono';
import type { AdminDeps } from './http.ts';
import { notFound } from './errors.ts';
import { intParam } from './request.ts';
import { getReport, listReports, type ReportKind } from '../reports.ts';

export function reportRoutes(deps: AdminDeps): Hono {
  const { store } = deps.ctx;
  const app = new Hono();
  for (const kind of ['dmarc', 'tls'] as ReportKind[]) {
    /** Newest period first; `domain` keeps the reports about one domain. */
    app.get(`/${kind}`, async (c) => {
      const limit = Math.min(intParam(c, 'limit', 100)!, 1000);
      const page = Math.max(1, intParam(c, 'page', 1)!);
      const domain = c.req.query('domain')?.trim() || undefined;
      return c.json({ data: await listReports(store, { kind, domain, limit, offset: (page - 1) * limit }) });
    });
    app.get(`/${kind}/:id`, async (c) => {
      const id = c.req.param('id');
      const report = /^\d{1,15}$/.test(id) ? await getReport(store, kind, Number(id)) : null;
      if (!report) throw notFound(id, `${kind} report`);
      return c.json({ data: report });
    });
  }
  return app;
}
