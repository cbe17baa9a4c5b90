// Aggregate reports sent to us: DMARC aggregate reports (RFC 7489 §7.2, Appendix C) and SMTP TLS reports (RFC 8460 §4), found in mail to postmaster@, parsed and kept.
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { simpleParser } from 'mailparser';
import { XMLParser } from 'fast-xml-parser';
import type { Queryable } from '../store/store.ts';
import type { Logger } from '../lib/log.ts';
import type { ClaimedMessage } from './queue/queue.ts';

export type ReportKind = 'dmarc' | 'tls';

/** RFC 7489 Appendix C DispositionType, DMARCResultType, DKIMResultType, SPFResultType: kept as the reporter wrote them (lower-cased). */
export type DmarcRecord = {
  sourceIp: string;
  count: number;
  /** policy_evaluated: what the receiver did (none | quarantine | reject) and the DMARC-aligned results (pass | fail). */
  disposition: string;
  dkim: string;
  spf: string;
  reasons: Array<{ type: string; comment: string | null }>;
  headerFrom: string;
  envelopeFrom: string | null;
  envelopeTo: string | null;
  /** auth_results: the underlying DKIM and SPF checks, aligned or not. */
  dkimResults: Array<{ domain: string; selector: string | null; result: string }>;
  spfResults: Array<{ domain: string; scope: string | null; result: string }>;
};

export type DmarcReport = {
  kind: 'dmarc';
  org: string;
  email: string | null;
  reportId: string;
  /** policy_published domain. */
  domain: string;
  /** date_range, epoch milliseconds (the XML has epoch seconds). */
  begin: number;
  end: number;
  errors: string[];
  policy: { domain: string; adkim: string | null; aspf: string | null; p: string; sp: string | null; pct: number | null; fo: string | null };
  records: DmarcRecord[];
  /** Set when the report had more than the record limit: `records` holds the first ones, `totalRecords` says how many there were. */
  truncated?: boolean;
  totalRecords?: number;
};

/** RFC 8460 §4.4 failure-details; result-type as in §4.3 (starttls-not-supported, certificate-expired, sts-policy-invalid, ...). */
export type TlsFailure = {
  resultType: string;
  sendingMtaIp: string | null;
  receivingMxHostname: string | null;
  receivingMxHelo: string | null;
  receivingIp: string | null;
  failedSessions: number;
  additionalInformation: string | null;
  failureReasonCode: string | null;
};

export type TlsPolicy = {
  /** sts | tlsa | no-policy-found (RFC 8460 §4.3). */
  policyType: string;
  policyString: string[];
  policyDomain: string;
  mxHost: string[];
  successful: number;
  failed: number;
  failures: TlsFailure[];
};

export type TlsReport = {
  kind: 'tls';
  org: string;
  contact: string | null;
  reportId: string;
  /** policy-domain of the first policy: the domain the report is about. */
  domain: string;
  /** date-range start-datetime / end-datetime (RFC 3339), epoch milliseconds. */
  begin: number;
  end: number;
  policies: TlsPolicy[];
  /** Set when the report had more failure-details than the record limit: each policy keeps the first ones, in order. */
  truncated?: boolean;
};

export type ParsedReport = DmarcReport | TlsReport;

export type ParseOptions = {
  log?: Logger;
  /** Largest decompressed report, bytes (against zip and gzip bombs). Default 10 MB. */
  maxBytes?: number;
  /** Decompressed bytes read from all the attachments of one message together. Default 10 MB. */
  maxTotalBytes?: number;
  /** Records kept per report (DMARC records, TLS failure-details); the rest are dropped and the report is marked truncated. Default 10,000. */
  maxRecords?: number;
  /** Largest message looked into, bytes. Default 25 MB. */
  maxMessageBytes?: number;
};

const MAX_BYTES = 10 * 1024 * 1024;
const MAX_TOTAL_BYTES = 10 * 1024 * 1024;
const MAX_RECORDS = 10_000;
const MAX_MESSAGE_BYTES = 25 * 1024 * 1024;
/** Attachments looked at per message; a report mail carries one. */
const MAX_ATTACHMENTS = 20;

/** A failure of one attachment: logged at info, never thrown out of parseReports. */
class MalformedReport extends Error {
  code = 'report.malformed';
}
const malformed = (message: string): MalformedReport => new MalformedReport(message);

// ---- containers: gzip (RFC 1952) and zip (PKWARE APPNOTE, central directory) ----

/** RFC 1952 §2.3.1: ID1 ID2. */
const isGzip = (b: Buffer) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
/** APPNOTE §4.3.7: local file header signature. */
const isZip = (b: Buffer) => b.length >= 4 && b.readUInt32LE(0) === 0x04034b50;

function gunzip(data: Buffer, maxBytes: number): Buffer {
  try {
    return gunzipSync(data, { maxOutputLength: maxBytes });
  } catch (err) {
    throw malformed((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' ? `gzip content larger than ${maxBytes} bytes` : `bad gzip data: ${(err as Error).message}`);
  }
}

/**
 * The first file of a zip archive whose name ends in .xml or .json (else the first file), inflated. Reads the central
 * directory (APPNOTE §4.3.12, end record §4.3.16), since the local header's sizes are zero when a data descriptor follows.
 * Stored (method 0) and deflate (method 8) only; no zip64, no encryption — report senders use neither.
 */
export function unzipFirst(zip: Buffer, maxBytes: number = MAX_BYTES): { name: string; content: Buffer } {
  // The end of central directory record: 22 bytes plus a comment of up to 65535 bytes, at the end of the file.
  let eocd = -1;
  for (let i = zip.length - 22; i >= 0 && i >= zip.length - 22 - 0xffff; i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw malformed('zip: no end of central directory record');
  const entries = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  type Entry = { name: string; method: number; flags: number; compressed: number; size: number; local: number };
  const files: Entry[] = [];
  for (let n = 0; n < entries; n++) {
    if (at + 46 > zip.length || zip.readUInt32LE(at) !== 0x02014b50) throw malformed('zip: bad central directory');
    const nameLength = zip.readUInt16LE(at + 28);
    const entry: Entry = {
      flags: zip.readUInt16LE(at + 8),
      method: zip.readUInt16LE(at + 10),
      compressed: zip.readUInt32LE(at + 20),
      size: zip.readUInt32LE(at + 24),
      name: zip.toString('utf8', at + 46, at + 46 + nameLength),
      local: zip.readUInt32LE(at + 42),
    };
    if (!entry.name.endsWith('/')) files.push(entry);
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  const file = files.find((f) => /\.(xml|json)$/i.test(f.name)) ?? files[0];
  if (!file) throw malformed('zip: no file in the archive');
  if (file.flags & 0x1) throw malformed('zip: encrypted entry');
  if (file.compressed === 0xffffffff || file.size === 0xffffffff) throw malformed('zip: zip64 entries are not read');
  if (file.size > maxBytes) throw malformed(`zip: ${file.name} is ${file.size} bytes, more than ${maxBytes}`);
  const local = file.local;
  if (local + 30 > zip.length || zip.readUInt32LE(local) !== 0x04034b50) throw malformed('zip: bad local file header');
  const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
  const data = zip.subarray(start, start + file.compressed);
  if (data.length !== file.compressed) throw malformed('zip: truncated entry');
  if (file.method === 0) return { name: file.name, content: data };
  if (file.method !== 8) throw malformed(`zip: compression method ${file.method} is not read`);
  try {
    // The declared size may lie: the output cap holds whatever the header says.
    return { name: file.name, content: inflateRawSync(data, { maxOutputLength: maxBytes }) };
  } catch (err) {
    throw malformed((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' ? `zip: ${file.name} inflates to more than ${maxBytes} bytes` : `zip: bad deflate data: ${(err as Error).message}`);
  }
}

// ---- DMARC aggregate report, RFC 7489 Appendix C ----

const xml = new XMLParser({
  ignoreAttributes: true,
  // Values stay text (report ids like 0012 keep their zeros); DOCTYPE entities are never expanded (no billion laughs).
  parseTagValue: false,
  processEntities: false,
  // DMARCbis reports use the namespace urn:ietf:params:xml:ns:dmarc-2.0, sometimes with a prefix.
  removeNSPrefix: true,
});

/** The five predefined entities (XML 1.0 §4.6) and character references (§4.1), the only ones a report needs. */
function unescapeXml(s: string): string {
  return s.replace(/&(?:#x([0-9a-f]{1,6})|#(\d{1,7})|(amp|lt|gt|quot|apos));/gi, (m, hex: string | undefined, dec: string | undefined, name: string | undefined) => {
    if (name) return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[name.toLowerCase()];
    const cp = hex ? parseInt(hex, 16) : Number(dec);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
  });
}

type Node = Record<string, unknown>;
const list = (v: unknown): unknown[] => (v === undefined || v === null || v === '' ? [] : Array.isArray(v) ? v : [v]);
const node = (v: unknown): Node => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Node) : Array.isArray(v) ? node(v[0]) : {});
/** A leaf's text, or null when absent or empty. */
function text(v: unknown): string | null {
  if (Array.isArray(v)) return text(v[0]);
  if (typeof v === 'string' || typeof v === 'number') return unescapeXml(String(v)).trim() || null;
  if (v && typeof v === 'object' && '#text' in v) return text((v as Node)['#text']);
  return null;
}
const lower = (v: unknown): string | null => text(v)?.toLowerCase() ?? null;
function required(v: unknown, what: string): string {
  const t = text(v);
  if (t === null) throw malformed(`${what} is missing`);
  return t;
}
function count(v: unknown, what: string): number {
  const t = text(v);
  if (t === null || !/^\d{1,15}$/.test(t)) throw malformed(`${what} is not a count: ${JSON.stringify(t)}`);
  return Number(t);
}

export function parseDmarcXml(content: string, maxRecords: number = MAX_RECORDS): DmarcReport {
  let doc: Node;
  try {
    doc = xml.parse(content) as Node;
  } catch (err) {
    throw malformed(`not XML: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || !('feedback' in doc)) throw malformed('no <feedback> element');
  const feedback = node(doc.feedback);
  const meta = node(feedback.report_metadata);
  const range = node(meta.date_range);
  const published = node(feedback.policy_published);
  const pct = text(published.pct);
  const domain = required(published.domain, 'policy_published/domain').toLowerCase();
  const all = list(feedback.record);
  const records = all.slice(0, maxRecords).map((r, i): DmarcRecord => {
    const rec = node(r);
    const row = node(rec.row);
    const evaluated = node(row.policy_evaluated);
    const ids = node(rec.identifiers);
    const auth = node(rec.auth_results);
    return {
      sourceIp: required(row.source_ip, `record ${i + 1} source_ip`),
      count: count(row.count, `record ${i + 1} count`),
      disposition: lower(evaluated.disposition) ?? 'none',
      dkim: lower(evaluated.dkim) ?? 'fail',
      spf: lower(evaluated.spf) ?? 'fail',
      reasons: list(evaluated.reason).map((x) => ({ type: lower(node(x).type) ?? 'other', comment: text(node(x).comment) })),
      headerFrom: (text(ids.header_from) ?? '').toLowerCase(),
      envelopeFrom: lower(ids.envelope_from),
      envelopeTo: lower(ids.envelope_to),
      dkimResults: list(auth.dkim).map((x) => ({ domain: lower(node(x).domain) ?? '', selector: text(node(x).selector), result: lower(node(x).result) ?? 'none' })),
      spfResults: list(auth.spf).map((x) => ({ domain: lower(node(x).domain) ?? '', scope: lower(node(x).scope), result: lower(node(x).result) ?? 'none' })),
    };
  });
  return {
    kind: 'dmarc',
    org: required(meta.org_name, 'report_metadata/org_name'),
    email: text(meta.email),
    reportId: required(meta.report_id, 'report_metadata/report_id'),
    domain,
    begin: count(range.begin, 'date_range/begin') * 1000,
    end: count(range.end, 'date_range/end') * 1000,
    errors: list(meta.error).map(text).filter((e): e is string => e !== null),
    policy: {
      domain,
      adkim: lower(published.adkim),
      aspf: lower(published.aspf),
      p: lower(published.p) ?? 'none',
      sp: lower(published.sp),
      pct: pct !== null && /^\d{1,3}$/.test(pct) ? Number(pct) : null,
      fo: text(published.fo),
    },
    records,
    ...(all.length > maxRecords ? { truncated: true, totalRecords: all.length } : {}),
  };
}

// ---- SMTP TLS report, RFC 8460 §4 ----

function jsonText(v: unknown): string | null {
  return typeof v === 'string' ? v.trim() || null : typeof v === 'number' ? String(v) : null;
}
function jsonCount(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  throw malformed(`${what} is not a count: ${JSON.stringify(v)}`);
}
function jsonTime(v: unknown, what: string): number {
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw malformed(`${what} is not a date-time: ${JSON.stringify(v)}`);
  return t;
}
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);

export function parseTlsJson(content: string, maxRecords: number = MAX_RECORDS): TlsReport {
  let doc: Node;
  try {
    doc = JSON.parse(content) as Node;
  } catch (err) {
    throw malformed(`not JSON: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw malformed('not a JSON object');
  const org = jsonText(doc['organization-name']);
  const reportId = jsonText(doc['report-id']);
  if (!org || !reportId) throw malformed('organization-name or report-id is missing');
  const range = node(doc['date-range']);
  if (!Array.isArray(doc.policies) || doc.policies.length === 0) throw malformed('policies is missing');
  let left = maxRecords;
  let truncated = doc.policies.length > maxRecords;
  const policies = doc.policies.slice(0, maxRecords).map((p, i): TlsPolicy => {
    const entry = node(p);
    const policy = node(entry.policy);
    const summary = node(entry.summary);
    const domain = jsonText(policy['policy-domain']);
    if (!domain) throw malformed(`policies[${i}] policy-domain is missing`);
    return {
      policyType: jsonText(policy['policy-type']) ?? 'no-policy-found',
      policyString: strings(policy['policy-string']),
      policyDomain: domain.toLowerCase().replace(/\.$/, ''),
      mxHost: strings(policy['mx-host']),
      successful: jsonCount(summary['total-successful-session-count'], `policies[${i}] total-successful-session-count`),
      failed: jsonCount(summary['total-failure-session-count'], `policies[${i}] total-failure-session-count`),
      failures: (() => {
        const details = Array.isArray(entry['failure-details']) ? entry['failure-details'] : [];
        if (details.length > left) truncated = true;
        const kept = details.slice(0, Math.max(0, left));
        left -= kept.length;
        return kept;
      })().map((f, j): TlsFailure => {
        const d = node(f);
        return {
          resultType: jsonText(d['result-type']) ?? 'unknown',
          sendingMtaIp: jsonText(d['sending-mta-ip']),
          receivingMxHostname: jsonText(d['receiving-mx-hostname']),
          receivingMxHelo: jsonText(d['receiving-mx-helo']),
          receivingIp: jsonText(d['receiving-ip']),
          failedSessions: jsonCount(d['failed-session-count'], `policies[${i}] failure-details[${j}] failed-session-count`),
          additionalInformation: jsonText(d['additional-information']),
          failureReasonCode: jsonText(d['failure-reason-code']),
        };
      }),
    };
  });
  return {
    kind: 'tls',
    org,
    contact: jsonText(doc['contact-info']),
    reportId,
    domain: policies[0].policyDomain,
    begin: jsonTime(range['start-datetime'], 'date-range start-datetime'),
    end: jsonTime(range['end-datetime'], 'date-range end-datetime'),
    policies,
    ...(truncated ? { truncated: true } : {}),
  };
}

// ---- finding reports in a message ----

/**
 * Media types a report comes in: RFC 7489 §7.2.1.1 (application/gzip, application/zip; text/xml and application/xml in practice),
 * RFC 8460 §5.3 (application/tlsrpt+gzip, application/tlsrpt+json), and application/octet-stream, which many senders use.
 */
const REPORT_TYPE = /^(application\/(xml|gzip|x-gzip|zip|x-zip-compressed|x-zip|tlsrpt\+gzip|tlsrpt\+json|json|octet-stream)|text\/xml)$/i;
const REPORT_NAME = /\.(xml|json|gz|zip)$/i;

/** One attachment's content as a report, looking at what the bytes are rather than trusting the label. */
export function parseReportContent(content: Buffer, maxBytes: number = MAX_BYTES, maxRecords: number = MAX_RECORDS): ParsedReport {
  return readReport(content, maxBytes, maxRecords).report;
}

/** The report, and how many decompressed bytes reading it took. */
function readReport(content: Buffer, maxBytes: number, maxRecords: number): { report: ParsedReport; bytes: number } {
  let body = content;
  if (isGzip(body)) body = gunzip(body, maxBytes);
  else if (isZip(body)) body = unzipFirst(body, maxBytes).content;
  if (body.length > maxBytes) throw malformed(`report larger than ${maxBytes} bytes`);
  const textBody = body.toString('utf8').replace(/^\uFEFF/, '').trimStart();
  if (textBody.startsWith('<')) return { report: parseDmarcXml(textBody, maxRecords), bytes: body.length };
  if (textBody.startsWith('{')) return { report: parseTlsJson(textBody, maxRecords), bytes: body.length };
  throw malformed('neither XML nor JSON');
}

/** Cheap look at the message before the MIME parser runs: no report media type or file name, no report. */
const MAYBE_REPORT = /content-type:\s*(application\/(xml|gzip|x-gzip|zip|x-zip|tlsrpt|json|octet-stream)|text\/xml)|\.(xml|gz|zip|json)\b/i;

/**
 * The DMARC aggregate and TLS reports attached to a message (or making up its whole body). An attachment that is
 * not a report, or a broken one, is skipped and logged at info. Never throws.
 */
export async function parseReports(raw: Buffer, options: ParseOptions = {}): Promise<ParsedReport[]> {
  const maxBytes = options.maxBytes ?? MAX_BYTES;
  const maxRecords = options.maxRecords ?? MAX_RECORDS;
  // One budget of decompressed bytes for the whole message: many attachments cannot each expand to maxBytes.
  let budget = options.maxTotalBytes ?? MAX_TOTAL_BYTES;
  if (raw.length > (options.maxMessageBytes ?? MAX_MESSAGE_BYTES) || !MAYBE_REPORT.test(raw.toString('latin1'))) return [];
  const out: ParsedReport[] = [];
  try {
    const mail = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true, skipImageLinks: true });
    for (const a of mail.attachments.slice(0, MAX_ATTACHMENTS)) {
      if (!REPORT_TYPE.test(a.contentType) && !REPORT_NAME.test(a.filename ?? '')) continue;
      if (budget <= 0) {
        options.log?.info({ reason: 'decompressed size limit of the message reached', contentType: a.contentType, filename: a.filename ?? null }, 'report.skipped');
        continue;
      }
      try {
        const { report, bytes } = readReport(a.content, Math.min(maxBytes, budget), maxRecords);
        budget -= bytes;
        if (report.truncated) options.log?.info({ kind: report.kind, org: report.org, reportId: report.reportId, maxRecords }, 'report.truncated');
        out.push(report);
      } catch (err) {
        // A failed attachment spent its share too (a bomb stops at the cap, having cost that much).
        budget -= Math.min(maxBytes, budget);
        if (!(err instanceof MalformedReport)) throw err;
        options.log?.info({ reason: err.message, contentType: a.contentType, filename: a.filename ?? null }, 'report.malformed');
      }
    }
  } catch (err) {
    options.log?.info({ reason: (err as Error).message }, 'report.malformed');
  }
  return out;
}

// ---- storage ----

/** What the list shows of a report. */
export type DmarcSummary = { messages: number; passed: number; failed: number; rows: number; policy: string; truncated?: true; totalRows?: number };
export type TlsSummary = { successful: number; failed: number; policies: number; truncated?: true };

export function summarize(report: ParsedReport): DmarcSummary | TlsSummary {
  if (report.kind === 'tls') {
    return {
      successful: report.policies.reduce((n, p) => n + p.successful, 0), failed: report.policies.reduce((n, p) => n + p.failed, 0), policies: report.policies.length,
      ...(report.truncated ? { truncated: true as const } : {}),
    };
  }
  // RFC 7489 §6.6.2: a message passes DMARC when aligned DKIM or aligned SPF passes.
  const passed = report.records.filter((r) => r.dkim === 'pass' || r.spf === 'pass').reduce((n, r) => n + r.count, 0);
  const messages = report.records.reduce((n, r) => n + r.count, 0);
  return {
    messages, passed, failed: messages - passed, rows: report.records.length, policy: report.policy.p,
    ...(report.truncated ? { truncated: true as const, totalRows: report.totalRecords } : {}),
  };
}

/** Keeps the report; one already kept (same kind, organisation and report id) is left as it is. Returns true when added. */
export async function saveReport(q: Queryable, report: ParsedReport, m: { messageId: string | null; now: number }): Promise<boolean> {
  const r = await q.run(
    `INSERT INTO mail_reports (kind, org, report_id, domain, begin_at, end_at, summary, body, message_id, received_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, org, report_id) DO NOTHING`,
    [report.kind, report.org, report.reportId, report.domain, report.begin, report.end, JSON.stringify(summarize(report)), JSON.stringify(report), m.messageId, m.now],
  );
  return r.changes > 0;
}

export type ReportItem = { id: number; org: string; reportId: string; domain: string; begin: string; end: string; summary: DmarcSummary | TlsSummary };
export type StoredReport = ReportItem & { kind: ReportKind; messageId: string | null; receivedAt: string; report: ParsedReport };

type Row = { id: number; kind: string; org: string; report_id: string; domain: string; begin_at: number; end_at: number; summary: string; body?: string; message_id?: string | null; received_at?: number };
const iso = (ms: number) => new Date(Number(ms)).toISOString();
const toItem = (r: Row): ReportItem => ({ id: Number(r.id), org: r.org, reportId: r.report_id, domain: r.domain, begin: iso(r.begin_at), end: iso(r.end_at), summary: JSON.parse(r.summary) });

/** Newest report period first. `domain` filters on the domain reported on. */
export async function listReports(q: Queryable, options: { kind: ReportKind; domain?: string; limit: number; offset: number }): Promise<{ items: ReportItem[]; total: number }> {
  const params: Array<string | number> = [options.kind];
  let where = 'kind = ?';
  if (options.domain) { where += ' AND domain = ?'; params.push(options.domain.toLowerCase().replace(/\.$/, '')); }
  const rows = await q.all<Row>(`SELECT id, kind, org, report_id, domain, begin_at, end_at, summary FROM mail_reports WHERE ${where} ORDER BY begin_at DESC, id DESC LIMIT ? OFFSET ?`, [...params, options.limit, options.offset]);
  const total = await q.get<{ n: number }>(`SELECT COUNT(*) AS n FROM mail_reports WHERE ${where}`, params);
  return { items: rows.map(toItem), total: Number(total?.n ?? 0) };
}

export async function getReport(q: Queryable, kind: ReportKind, id: number): Promise<StoredReport | null> {
  const r = await q.get<Row>('SELECT id, kind, org, report_id, domain, begin_at, end_at, summary, body, message_id, received_at FROM mail_reports WHERE kind = ? AND id = ?', [kind, id]);
  if (!r) return null;
  return { ...toItem(r), kind, messageId: r.message_id ?? null, receivedAt: iso(r.received_at ?? 0), report: JSON.parse(r.body!) };
}

// ---- the delivery hook ----

export type ReportKeeperOptions = {
  log: Logger;
  now?: () => number;
  /** Whether reports sent to this (delivered, local) recipient are read. Default: postmaster@ of any local domain, the rua of the DMARC and TLS-RPT records mana publishes (src/mail/dns-records.ts). */
  isReportAddress?: (rcpt: string) => boolean;
  maxBytes?: number;
};

/** The reports read from one message before its delivery transaction; null when the message is not read for reports. */
export type PreparedReports = { queueId: string; reports: ParsedReport[] } | null;

/**
 * Reads the reports in a message delivered locally to the report address and keeps them, in two steps: `prepare`
 * parses (decompression and XML/JSON parsing are costly) before the delivery transaction, so no lock is held while
 * it runs; `save` stores the result inside that transaction, under a savepoint, so a failed insert never loses the
 * delivery. `prepare` never throws; `save` throws only when the savepoint itself could not be set or rolled back
 * to (the transaction is then unusable, and the delivery must not be reported done).
 */
export function createReportKeeper(options: ReportKeeperOptions) {
  const now = options.now ?? Date.now;
  const isReportAddress = options.isReportAddress ?? ((rcpt: string) => /^postmaster@/i.test(rcpt));
  return {
    async prepare(message: ClaimedMessage, recipients: Array<{ rcpt: string }>): Promise<PreparedReports> {
      if (message.source === 'dsn' || !recipients.some((r) => isReportAddress(r.rcpt))) return null;
      const reports = await parseReports(message.raw, { log: options.log.child({ queueId: message.id }), maxBytes: options.maxBytes });
      return reports.length ? { queueId: message.id, reports } : null;
    },
    async save(q: Queryable, prepared: PreparedReports, outcomes: Array<{ rcpt: string; status: string }>): Promise<number> {
      if (!prepared || !outcomes.some((o) => o.status === 'delivered' && isReportAddress(o.rcpt))) return 0;
      const queueId = prepared.queueId;
      // Not caught: a transaction where even SAVEPOINT fails is aborted, and the caller's COMMIT would only roll it back.
      await q.run('SAVEPOINT reports');
      try {
        let added = 0;
        for (const r of prepared.reports) {
          const fresh = await saveReport(q, r, { messageId: queueId, now: now() });
          if (fresh) added++;
          options.log.info({ queueId, kind: r.kind, org: r.org, reportId: r.reportId, domain: r.domain, duplicate: !fresh, ...(r.truncated ? { truncated: true } : {}) }, 'report.received');
        }
        await q.run('RELEASE SAVEPOINT reports');
        return added;
      } catch (err) {
        // If this fails too, the transaction cannot go on: that error goes to the caller.
        await q.run('ROLLBACK TO SAVEPOINT reports');
        await q.run('RELEASE SAVEPOINT reports');
        options.log.error({ err: { message: (err as Error).message, code: (err as { code?: string }).code }, queueId }, 'report.failed');
        return 0;
      }
    },
  };
}
export type ReportKeeper = ReturnType<typeof createReportKeeper>;
