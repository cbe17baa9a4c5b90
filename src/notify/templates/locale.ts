// Locale choice for templates: BCP 47 language tags (RFC 5646) matched by RFC 4647 §3.4 lookup, from a tag or an Accept-Language list (RFC 9110 §12.5.4).

/** The original service's default locale; it seeded and rendered only de-DE. */
export const DEFAULT_LOCALE = 'de-DE';

function normalise(tag: string): string {
  return tag.trim().replace(/_/g, '-').toLowerCase();
}

function language(tag: string): string {
  return normalise(tag).split('-')[0] ?? '';
}

/** Language ranges from `de-DE`, `de_DE` or an Accept-Language value, best first (q=0 dropped). */
function ranges(requested: string): string[] {
  const weighted = requested
    .split(',')
    .map((part, order) => {
      const [range = '', ...params] = part.split(';');
      const q = params.map((p) => /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p)).find((m) => m !== null);
      return { range: normalise(range), q: q ? Number.parseFloat(q[1]!) : 1, order };
    })
    .filter((r) => r.range !== '' && r.range !== '*' && r.q > 0 && !Number.isNaN(r.q));
  weighted.sort((a, b) => b.q - a.q || a.order - b.order);
  return weighted.map((r) => r.range);
}

/**
 * Picks the available locale for a request: for each requested range (best first) an exact
 * match, then one of the same language (`de` -> `de-DE`, `en-GB` -> `en-US`); failing that
 * de-DE, then the first available. Case and `_`/`-` do not matter; the result is spelled as
 * in `available`. Undefined only when nothing is available.
 */
export function pickLocale(requested: string | null | undefined, available: readonly string[]): string | undefined {
  for (const range of ranges(requested ?? '')) {
    const exact = available.find((tag) => normalise(tag) === range);
    if (exact !== undefined) return exact;
    const lang = range.split('-')[0];
    const sameLanguage = available.find((tag) => language(tag) === lang);
    if (sameLanguage !== undefined) return sameLanguage;
  }
  return available.find((tag) => normalise(tag) === normalise(DEFAULT_LOCALE)) ?? available[0];
}
