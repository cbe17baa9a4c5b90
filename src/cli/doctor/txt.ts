// `mana doctor`: a published TXT record compared with the needed one, by kind: SPF (RFC 7208), DKIM key (RFC 6376), DMARC (RFC 7489), TLS-RPT (RFC 8460), MTA-STS (RFC 8461).
import { isIP } from 'node:net';
import { canonicalIp } from './address.ts';

/** The kind of a TXT record, from its v= tag. */
export function txtKind(content: string): string {
  const v = /^v=([A-Za-z0-9]+)/i.exec(content)?.[1]?.toLowerCase();
  return ({ spf1: 'SPF', dkim1: 'DKIM', dmarc1: 'DMARC', tlsrptv1: 'TLS-RPT', stsv1: 'MTA-STS' } as Record<string, string>)[v ?? ''] ?? 'TXT';
}

/** `invalid`: published in a way no receiver uses (several records where one is allowed). */
export type Verdict = { status: 'ok' | 'warn' | 'missing' | 'different' | 'invalid'; detail: string };

/**
 * A TXT record as one string: its character-strings joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2), and
 * zone-file quoting pasted into a provider's form by mistake undone; runs of whitespace become one space.
 */
export function normalizeTxt(strings: string[] | string): string {
  let text = (Array.isArray(strings) ? strings.join('') : strings).trim();
  if (/^".*"$/s.test(text)) text = text.slice(1, -1).replace(/"\s*"/g, '').replace(/\\(["\\])/g, '$1');
  return text.replace(/\s+/g, ' ').trim();
}

/** `k=v; k=v` tag lists (RFC 6376 §3.2, RFC 7489 §6.4, RFC 8460 §3, RFC 8461 §3.1): keys lowercased, values trimmed. */
function tags(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).trim());
  }
  return out;
}

const uris = (v: string | undefined) => (v ?? '').split(',').map((u) => u.trim().toLowerCase()).filter(Boolean);

/** Compares the needed TXT record with those published at its name (already normalised). */
export function compareTxt(needed: string, published: string[]): Verdict {
  const kind = txtKind(needed);
  const version = /^v=[A-Za-z0-9]+/i.exec(needed)?.[0].toLowerCase();
  const tagged = (p: string) => (version ? new RegExp(`^${version}(?:\\s|;|$)`, 'i').test(p) : true);
  // RFC 6376 §3.6.1: v= is only recommended in a DKIM key record; one without v= but with p= counts.
  const candidates = published.filter((p) => tagged(p) || (kind === 'DKIM' && !/^v=/i.test(p) && tags(p).has('p')));
  const others = published.filter((p) => !candidates.includes(p));
  if (!candidates.length) {
    return { status: 'missing', detail: `missing: needed "${needed}"${others.length ? ` (other TXT here: ${others.map((p) => `"${p}"`).join(', ')})` : ''}` };
  }
  const shown = candidates.map((p) => `"${p}"`).join(', ');
  const different = (why: string): Verdict => ({ status: 'different', detail: `different: ${why}; published ${shown}; needed "${needed}"` });
  // RFC 7208 §4.5, RFC 7489 §6.6.3, RFC 8460 §3, RFC 8461 §3.1: more than one record of the kind at a name and none applies.
  if (kind !== 'DKIM' && kind !== 'TXT' && candidates.length > 1) {
    return { status: 'invalid', detail: `invalid: ${candidates.length} ${kind} records, a receiver uses none of them (${kind === 'SPF' ? 'RFC 7208 §4.5 permerror' : 'only one is allowed'}): ${shown}` };
  }
  const one = candidates[0];
  switch (kind) {
    case 'SPF': {
      const term = (t: string) => {
        const s = t.toLowerCase().replace(/^\+/, '');
        const m = /^(ip[46]):(.+?)(\/\d+)?$/.exec(s);
        return m && isIP(m[2]) ? `${m[1]}:${canonicalIp(m[2])}${m[3] ?? ''}` : s;
      };
      const want = needed.split(' ').slice(1).map(term);
      const have = one.split(' ').slice(1).map(term);
      const all = have.find((t) => /^[~?-]?all$/.test(t));
      const lacking = want.filter((t) => !/all$/.test(t) && !have.includes(t));
      if (lacking.length) return different(`lacks ${lacking.join(' ')}`);
      // ~all as needed, or the stricter -all; ?all and +all authorise every sender.
      if (all !== '~all' && all !== '-all') return different(all ? `ends in ${all}` : 'has no ~all/-all');
      const extra = have.filter((t) => !want.includes(t) && !/all$/.test(t));
      return { status: 'ok', detail: `published "${one}"${extra.length ? ` (also ${extra.join(' ')})` : ''}` };
    }
    case 'DKIM': {
      // RFC 6376 §3.6.1: whitespace inside p= is ignored; the key itself must match exactly.
      const want = tags(needed);
      const keyOf = (t: Map<string, string>) => (t.get('p') ?? '').replace(/\s+/g, '');
      const algOf = (t: Map<string, string>) => (t.get('k') ?? 'rsa').toLowerCase();
      const match = candidates.find((c) => keyOf(tags(c)) === keyOf(want) && algOf(tags(c)) === algOf(want));
      if (match) return { status: 'ok', detail: `published, p= matches (k=${algOf(want)})` };
      return different(candidates.some((c) => algOf(tags(c)) !== algOf(want)) ? 'other key type (k=)' : 'other public key (p=)');
    }
    case 'DMARC': {
      const want = tags(needed);
      const have = tags(one);
      const p = (have.get('p') ?? '').toLowerCase();
      if (!['none', 'quarantine', 'reject'].includes(p)) return different(p ? `p=${p} is not a policy` : 'no p= tag (RFC 7489 §6.3)');
      const lacking = uris(want.get('rua')).filter((u) => !uris(have.get('rua')).includes(u));
      if (lacking.length) return different(`aggregate reports do not reach ${lacking.join(', ')} (rua=)`);
      if (p === 'none') return { status: 'warn', detail: `published "${one}": p=none asks receivers to take no action on failing mail (monitoring only); needed p=${want.get('p')}` };
      return { status: 'ok', detail: `published "${one}"` };
    }
    case 'TLS-RPT': {
      const lacking = uris(tags(needed).get('rua')).filter((u) => !uris(tags(one).get('rua')).includes(u));
      if (lacking.length) return different(`reports do not reach ${lacking.join(', ')} (rua=)`);
      return { status: 'ok', detail: `published "${one}"` };
    }
    case 'MTA-STS': {
      // RFC 8461 §3.1: senders fetch the policy again only when id= changes.
      if (tags(one).get('id') !== tags(needed).get('id')) return different('id= is not that of the current policy');
      return { status: 'ok', detail: `published "${one}"` };
    }
    default:
      return candidates.includes(needed) ? { status: 'ok', detail: `published "${needed}"` } : different('content');
  }
}
