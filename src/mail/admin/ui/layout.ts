// The web admin's page shell: navigation, one CSS block, security headers (CSP, frame and referrer policy), pagination, notices and error pages.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { AdminIdentity } from '../auth.ts';
import { href, html, raw, type Html } from './html.ts';

/** What the pages' context carries: the admin the request authenticated as (set by the middleware in ../http.ts). */
export type UiEnv = { Variables: { admin: AdminIdentity } };

export type Section = 'queue' | 'captured' | 'suppressions' | 'bans' | 'reports' | 'dns';

const NAV: Array<[Section, string]> = [
  ['queue', 'Queue'],
  ['captured', 'Captured'],
  ['suppressions', 'Suppressions'],
  ['bans', 'Bans'],
  ['reports', 'Reports'],
  ['dns', 'DNS'],
];

/** The pages load nothing but themselves: no script, no image, inline CSS only; forms post to this origin; never framed. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
};

const CSS = `
:root{color-scheme:light dark;--fg:#1b1d21;--bg:#f6f7f9;--card:#fff;--muted:#5b616c;--accent:#2848c8;--border:#d3d7de;--ok:#1d6b37;--warn:#8a5a00;--err:#a4161a}
@media (prefers-color-scheme:dark){:root{--fg:#e8eaee;--bg:#15171b;--card:#1f2228;--muted:#a9b0bc;--accent:#8ea6ff;--border:#3a3f49;--ok:#7bd99a;--warn:#f2c46d;--err:#ff8b8e}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;padding:.6rem 1rem;border-bottom:1px solid var(--border);background:var(--card)}
header strong{margin-right:1rem}
header a{color:var(--fg);text-decoration:none;padding:.2rem .4rem;border-radius:.3rem}
header a[aria-current=page]{background:var(--accent);color:var(--card)}
main{padding:1rem;max-width:80rem}
h1{font-size:1.3rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
a{color:var(--accent)}
table{border-collapse:collapse;width:100%;background:var(--card);margin:.5rem 0}
th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid var(--border)}
th{font-weight:600;color:var(--muted)}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em}
pre{white-space:pre-wrap;word-break:break-word;background:var(--card);border:1px solid var(--border);padding:.6rem;margin:.5rem 0}
.copy{user-select:all;word-break:break-all}
textarea{width:100%;font-family:ui-monospace,monospace;font-size:.9em;background:var(--card);color:inherit;border:1px solid var(--border)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.5rem 0}dt{color:var(--muted)}dd{margin:0}
form.inline{display:inline}
form.bar{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin:.5rem 0}
label{display:flex;flex-direction:column;gap:.1rem;color:var(--muted);font-size:.9em}
input,select,button{font:inherit;color:inherit;padding:.3rem .5rem;border:1px solid var(--border);border-radius:.3rem;background:var(--card)}
button{cursor:pointer;border-color:var(--accent);color:var(--accent)}
button.danger{border-color:var(--err);color:var(--err)}
button:disabled{opacity:.5;cursor:default}
:focus-visible{outline:3px solid var(--accent);outline-offset:1px}
.st{display:inline-block;padding:0 .35rem;border-radius:.3rem;border:1px solid currentColor;font-size:.85em}
.st-delivered,.st-captured,.st-pass{color:var(--ok)}.st-queued,.st-deferred,.st-retry{color:var(--warn)}
.st-failed,.st-expired,.st-bounced,.st-cancelled,.st-fail{color:var(--err)}
.muted{color:var(--muted)}
.notice{padding:.5rem .7rem;border:1px solid var(--ok);color:var(--ok);border-radius:.3rem;margin:0 0 1rem}
.notice.error{border-color:var(--err);color:var(--err)}
nav.pager{display:flex;gap:1rem;margin:.5rem 0}
ul.data{list-style:none;margin:0;padding:0}ul.data li{word-break:break-word}
`;

/** A whole page: `body` is the content of <main>. */
export function page(c: Context, o: { title: string; section?: Section; body: Html; status?: ContentfulStatusCode; headers?: Record<string, string> }): Response {
  const doc = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} — mana mail admin</title>
<style>${raw(CSS)}</style>
</head>
<body>
<header><strong>mana mail</strong>
<nav aria-label="sections">${NAV.map(([s, label]) => html`<a href="/ui/${s}"${s === o.section ? raw(' aria-current="page"') : ''}>${label}</a> `)}</nav>
</header>
<main id="main">
<h1>${o.title}</h1>
${o.body}
</main>
</body>
</html>
`;
  return c.body(doc.value, o.status ?? 200, { ...SECURITY_HEADERS, ...o.headers });
}

/** An error page (401, 403, 404, 400, 500) with the same headers. */
export function errorPage(c: Context, status: ContentfulStatusCode, title: string, detail: string, headers: Record<string, string> = {}): Response {
  return page(c, { title, status, headers, body: html`<p>${detail}</p><p><a href="/ui/queue">Back to the queue</a></p>` });
}

/** POST-redirect-GET (RFC 9110 §15.4.4) to a page of the UI, with a notice key the page turns into a fixed sentence. */
export function seeOther(c: Context, path: string, notice?: string): Response {
  return c.body(null, 303, { location: href(path, { notice }), 'cache-control': 'no-store' });
}

/** The notice of `?notice=` when it is one of `known`; anything else shows nothing (no text is reflected from the URL). */
export function notice(c: Context, known: Record<string, string>): Html {
  const key = c.req.query('notice');
  if (!key || !Object.hasOwn(known, key)) return html``;
  const text = known[key]!;
  return html`<p class="notice${text.startsWith('!') ? ' error' : ''}" role="status">${text.replace(/^!/, '')}</p>`;
}

/** `?page=` as a positive whole number (1 when absent or malformed). */
export function pageParam(c: Context, name = 'page'): number {
  const raw = c.req.query(name);
  return raw && /^\d{1,6}$/.test(raw) && Number(raw) > 0 ? Number(raw) : 1;
}

/** Previous / next links; `total` when known, else `more` says whether a next page exists. */
export function pager(o: { page: number; limit: number; total?: number; more?: boolean; link: (page: number) => string }): Html {
  const pages = o.total === undefined ? undefined : Math.max(1, Math.ceil(o.total / o.limit));
  const hasNext = pages === undefined ? !!o.more : o.page < pages;
  if (o.page === 1 && !hasNext) return html``;
  return html`<nav class="pager" aria-label="pages">
${o.page > 1 ? html`<a href="${o.link(o.page - 1)}" rel="prev">← Newer</a>` : ''}
<span class="muted">page ${o.page}${pages ? ` of ${pages}` : ''}</span>
${hasNext ? html`<a href="${o.link(o.page + 1)}" rel="next">Older →</a>` : ''}
</nav>`;
}

/** An ISO time shown to the second, UTC. */
export function time(iso: string | null | undefined): Html {
  if (!iso) return html`<span class="muted">—</span>`;
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>`;
}

/** A state word with its colour. */
export function status(word: string): Html {
  return html`<span class="st st-${word.replace(/[^a-z_-]/gi, '')}">${word}</span>`;
}

/** A POST button: a form of its own, so it works without script. */
export function postButton(o: { action: string; label: string; fields?: Record<string, string>; danger?: boolean; disabled?: boolean }): Html {
  return html`<form class="inline" method="post" action="${o.action}">${Object.entries(o.fields ?? {}).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}<button type="submit"${o.danger ? raw(' class="danger"') : ''}${o.disabled ? raw(' disabled') : ''}>${o.label}</button></form>`;
}
