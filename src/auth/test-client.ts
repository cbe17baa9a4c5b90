// Test HTTP client for auth: fetch with a cookie jar (RFC 6265 §5.3, names and values only), JSON and form posts that carry the site's Origin, no redirect following.

export type TestClient = {
  base: string;
  cookies: Map<string, string>;
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  postJson(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  postForm(path: string, fields: Record<string, string>, headers?: Record<string, string>): Promise<Response>;
  request(path: string, init: RequestInit): Promise<Response>;
};

export function createTestClient(base: string): TestClient {
  const cookies = new Map<string, string>();
  const origin = new URL(base).origin;
  const cookieHeader = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  async function request(path: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    if (cookies.size) headers.set('cookie', cookieHeader());
    const res = await fetch(new URL(path, base), { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age\s*=\s*(0|-)/i.test(a)) || value === '';
      if (expired) cookies.delete(name);
      else cookies.set(name, value);
    }
    return res;
  }
  return {
    base,
    cookies,
    request,
    get: (path, headers = {}) => request(path, { method: 'GET', headers }),
    postJson: (path, body, headers = {}) => request(path, { method: 'POST', headers: { 'content-type': 'application/json', origin, ...headers }, body: JSON.stringify(body) }),
    postForm: (path, fields, headers = {}) => request(path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin, ...headers }, body: new URLSearchParams(fields).toString() }),
  };
}

/** The path and query of an absolute link, to request it through a client of the same site. */
export function pathOf(url: string): string {
  const u = new URL(url);
  return u.pathname + u.search;
}

/** Value of a hidden form field in a page, e.g. hiddenField(html, 'token'). */
export function hiddenField(html: string, name: string): string | undefined {
  const m = new RegExp(`<input type="hidden" name="${name}" value="([^"]*)">`).exec(html);
  return m?.[1]?.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}
