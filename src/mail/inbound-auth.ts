// Inbound message authentication: SPF (RFC 7208), DKIM (RFC 6376), DMARC (RFC 7489), stamped as Authentication-Results (RFC 8601); the checks are mailauth's.
import { authenticate, type AuthenticateResult } from 'mailauth';
import { mailauthResolver, type DnsResolver, type LookupOptions } from './route/resolver.ts';
import { headerEnd } from './message/headers.ts';

export type SpfResult = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'temperror' | 'permerror';
export type DkimResult = 'pass' | 'fail' | 'neutral' | 'policy' | 'none' | 'temperror' | 'permerror';
export type DmarcResult = 'pass' | 'fail' | 'none' | 'temperror' | 'permerror';
/** DMARC policy requests (RFC 7489 §6.3 "p"). */
export type DmarcPolicy = 'none' | 'quarantine' | 'reject';
/** What the inbound listener does with the results: stamp them only, or also refuse a DMARC fail under p=reject. */
export type InboundAuthPolicy = 'record' | 'reject';

export type InboundAuth = {
  spf: SpfResult;
  /** The best of the message's signatures: pass if one passes, else the first signature's result; none when unsigned. */
  dkim: DkimResult;
  dmarc: DmarcResult;
  /** The whole `Authentication-Results: ...` field, folded, ending in CRLF. */
  header: string;
  /** RFC5322.From domain DMARC evaluated (RFC 7489 §3.2). */
  fromDomain?: string;
  /** The policy the domain asks for this message, after sp= and t= are applied; set when DMARC reached a verdict. */
  dmarcPolicy?: DmarcPolicy;
  /** True when the check hit its deadline: unfinished lookups were abandoned as temperror. */
  timedOut: boolean;
  /** Set when mailauth itself failed; every result is then temperror. */
  error?: Error;
};

export type CheckOptions = {
  /** The message as received, before our own trace fields are added. */
  raw: Buffer;
  /** The SMTP client's address (RFC 7208 §4.1 <ip>). */
  ip: string;
  /** The EHLO/HELO name (RFC 7208 §2.3). */
  helo?: string;
  /** MAIL FROM, '' for the null reverse-path (then SPF checks postmaster@<helo>, RFC 7208 §2.4). */
  mailFrom: string;
  /** Our host name: the authserv-id of the stamp (RFC 8601 §2.5). */
  hostname: string;
  resolver: DnsResolver;
  /** Bound of the whole check, ms (default 10 s); lookups still running then fail as temporary. */
  timeoutMs?: number;
};

export const DEFAULT_TIMEOUT_MS = 10_000;
/** After the deadline aborts every lookup mailauth finishes at once; this is the backstop if it does not. */
const GRACE_MS = 1_000;

/** A DnsResolver whose every lookup is aborted by `signal` (they then fail as `temporary`). */
function boundResolver(resolver: DnsResolver, signal: AbortSignal): DnsResolver {
  const opts: LookupOptions = { signal };
  return {
    resolveMx: (name) => resolver.resolveMx(name, opts),
    resolve4: (name) => resolver.resolve4(name, opts),
    resolve6: (name) => resolver.resolve6(name, opts),
    resolveTxt: (name) => resolver.resolveTxt(name, opts),
    resolvePtr: (name) => resolver.resolvePtr(name, opts),
    resolveCname: (name) => resolver.resolveCname(name, opts),
  };
}

/** The Authentication-Results field of mailauth's headers (it puts Received-SPF there too, which we leave out). */
function arField(headers: string): string | undefined {
  const m = /^Authentication-Results:.*(?:\r\n[ \t].*)*/im.exec(headers);
  return m ? `${m[0]}\r\n` : undefined;
}

function dkimWord(result: AuthenticateResult): DkimResult {
  const rows = result.dkim?.results ?? [];
  if (rows.some((r) => r.status?.result === 'pass')) return 'pass';
  return (rows[0]?.status?.result as DkimResult | undefined) ?? 'none';
}

/** Every result temperror: the check did not finish (deadline) or failed. */
function unfinished(options: CheckOptions, why: string, timedOut: boolean, error?: Error): InboundAuth {
  const dkim: DkimResult = /^DKIM-Signature[ \t]*:/im.test(options.raw.subarray(0, headerEnd(options.raw)).toString('latin1')) ? 'temperror' : 'none';
  const header = `Authentication-Results: ${options.hostname};\r\n spf=temperror (${why});\r\n dkim=${dkim}${dkim === 'none' ? ' (message not signed)' : ` (${why})`};\r\n dmarc=temperror (${why})\r\n`;
  return { spf: 'temperror', dkim, dmarc: 'temperror', header, timedOut, error };
}

/**
 * Runs SPF, DKIM, ARC and DMARC on an inbound message. Every DNS query goes through `resolver`;
 * the whole check is bounded by `timeoutMs`, after which what is unfinished is temperror. Never throws.
 */
export async function checkInboundAuth(options: CheckOptions): Promise<InboundAuth> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = new AbortController();
  let backstop: ReturnType<typeof setTimeout> | undefined;
  const timer = setTimeout(() => deadline.abort(new Error(`inbound authentication took over ${timeoutMs} ms`)), timeoutMs);
  try {
    const run = authenticate(options.raw, {
      ip: options.ip,
      helo: options.helo || undefined,
      sender: options.mailFrom,
      mta: options.hostname,
      // Our own client data only: Received fields and Return-Path come from the sender and prove nothing.
      trustReceived: false,
      disableBimi: true,
      resolver: mailauthResolver(boundResolver(options.resolver, deadline.signal)) as (name: string, rrtype: string) => Promise<string[][] | string[]>,
    }).then(
      (result) => ({ result }),
      (error: unknown) => ({ error: error instanceof Error ? error : new Error(String(error)) }),
    );
    const stuck = new Promise<'stuck'>((resolve) => { backstop = setTimeout(() => resolve('stuck'), timeoutMs + GRACE_MS); });
    const outcome = await Promise.race([run, stuck]);
    const timedOut = deadline.signal.aborted;
    if (outcome === 'stuck') return unfinished(options, 'timed out', true);
    if ('error' in outcome) return unfinished(options, 'internal error', timedOut, outcome.error);
    const { result } = outcome;
    const header = arField(result.headers);
    if (!header) return unfinished(options, 'internal error', timedOut, new Error('mailauth returned no Authentication-Results'));
    const dmarc = result.dmarc || undefined;
    return {
      spf: ((result.spf && result.spf.status?.result) || 'none') as SpfResult,
      dkim: dkimWord(result),
      dmarc: (dmarc?.status?.result ?? 'none') as DmarcResult,
      header,
      fromDomain: dmarc?.status?.header?.from ?? undefined,
      dmarcPolicy: (dmarc as { policy?: DmarcPolicy } | undefined)?.policy,
      timedOut,
    };
  } finally {
    clearTimeout(timer);
    clearTimeout(backstop);
  }
}

/**
 * The reply text when `policy` is `reject` and the message fails DMARC of a domain whose policy
 * is p=reject (RFC 7489 §6.6.3, §10.3: 550 5.7.1); undefined when the message is to be accepted.
 * temperror and quarantine are accepted and only recorded (we keep no quarantine).
 */
export function dmarcRejection(auth: InboundAuth, policy: InboundAuthPolicy): string | undefined {
  if (policy !== 'reject' || auth.dmarc !== 'fail' || auth.dmarcPolicy !== 'reject') return undefined;
  return `5.7.1 DMARC policy of ${auth.fromDomain ?? 'the sender domain'} says reject: no SPF or DKIM pass aligned with the From domain (spf=${auth.spf}, dkim=${auth.dkim})`;
}

/** The authserv-id of an Authentication-Results value (RFC 8601 §2.2): the first token, comments and quotes removed. */
export function authservIdOf(value: string): string {
  // CFWS (RFC 5322 §3.2.2): comments may nest, and hold quoted-pairs; each closed comment becomes one space, an
  // unclosed "(" stays as text. One pass with a stack: stripping innermost comments in rounds is quadratic in the depth.
  const out: string[] = [];
  const open: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '(') { open.push(out.length); out.push(c); }
    else if (c === ')' && open.length) { out.length = open.pop()!; out.push(' '); }
    else if (c === '\\' && open.length && i + 1 < value.length) out.push(c, value[++i]);
    else out.push(c);
  }
  const v = out.join('').trim();
  const quoted = /^"((?:[^"\\]|\\.)*)"/.exec(v);
  if (quoted) return quoted[1].replace(/\\(.)/g, '$1').toLowerCase();
  return (/^[^\s;]*/.exec(v)?.[0] ?? '').toLowerCase();
}

/**
 * Removes every Authentication-Results field whose authserv-id is ours: one that arrived with the
 * message is forged (RFC 8601 §5). Fields of other authserv-ids are kept. Expects CRLF line ends.
 */
export function removeForgedResults(raw: Buffer, authservId: string): { raw: Buffer; removed: number } {
  const ours = authservId.toLowerCase().replace(/\.$/, '');
  const end = headerEnd(raw);
  const head = raw.subarray(0, end).toString('latin1');
  // A bare CR or LF would fall between the fields; such a header is left alone (the listener refuses it anyway).
  // Checked first: the field scan below is quadratic on a long line that ends in a bare CR or LF.
  if (/\r(?!\n)|(?<!\r)\n/.test(head)) return { raw, removed: 0 };
  // One header field per element: a line and its continuation lines (RFC 5322 §2.2.3).
  const fields = head.match(/[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*|[^\r\n]+$/g) ?? [];
  if (fields.join('') !== head) return { raw, removed: 0 };
  let removed = 0;
  const kept = fields.filter((field) => {
    const m = /^Authentication-Results[ \t]*:([\s\S]*)$/i.exec(field);
    if (!m) return true;
    const id = authservIdOf(m[1].replace(/\r\n/g, '')).replace(/\.$/, '');
    if (id !== ours) return true;
    removed++;
    return false;
  });
  if (!removed) return { raw, removed };
  return { raw: Buffer.concat([Buffer.from(kept.join(''), 'latin1'), raw.subarray(end)]), removed };
}
