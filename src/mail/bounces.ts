// Asynchronous bounces: RFC 3464 delivery status notifications (inside an RFC 6522 multipart/report) that answer our own messages, matched to the original and recipient, and the suppression list fed by hard bounces.
import type { Queryable } from '../store/store.ts';
import type { Logger } from '../lib/log.ts';
import type { Events } from './events.ts';
import type { ClaimedMessage } from './queue/queue.ts';
import { headerEnd } from './message/headers.ts';

/** One per-recipient block of message/delivery-status (RFC 3464 §2.3). */
export type DsnRecipientStatus = {
  /** Final-Recipient address without its address type (§2.3.2), lower-cased. */
  finalRecipient: string;
  /** Original-Recipient address (§2.3.1), lower-cased, when given. */
  originalRecipient: string | null;
  /** Action (§2.3.3), lower-cased: failed | delayed | delivered | relayed | expanded. */
  action: string;
  /** RFC 3463 status code (§2.3.4), e.g. 5.1.1. */
  status: string;
  /** Diagnostic-Code (§2.3.6) with its type, e.g. `smtp; 550 5.1.1 user unknown`. */
  diagnostic: string | null;
  remoteMta: string | null;
};

export type ParsedDsn = {
  /** Reporting-MTA (§2.2.2) without its type. */
  reportingMta: string | null;
  /** Original-Envelope-Id (§2.2.1): the ENVID of the original transaction (RFC 3461 §4.4). */
  envId: string | null;
  /** Message-ID of the returned original (message/rfc822 or text/rfc822-headers), with angle brackets. */
  originalMessageId: string | null;
  recipients: DsnRecipientStatus[];
};

type Part = { headers: Map<string, string>; body: Buffer };

/** Unfolded header fields (RFC 5322 §2.2.3), names lower-cased; the first of a repeated name wins. */
function parseFields(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    if (!out.has(name)) out.set(name, line.slice(i + 1).trim());
  }
  return out;
}

function splitHead(raw: Buffer): Part {
  const end = headerEnd(raw);
  return { headers: parseFields(raw.subarray(0, end).toString('latin1')), body: raw.subarray(end) };
}

/** A Content-Type as `type/subtype` plus its parameters (RFC 2045 §5.1), names lower-cased. */
function contentType(value: string | undefined): { type: string; params: Map<string, string> } {
  const [type, ...rest] = (value ?? 'text/plain').split(';');
  const params = new Map<string, string>();
  for (const p of rest) {
    const i = p.indexOf('=');
    if (i > 0) params.set(p.slice(0, i).trim().toLowerCase(), p.slice(i + 1).trim().replace(/^"(.*)"$/, '$1'));
  }
  return { type: type.trim().toLowerCase(), params };
}

/** The body parts between `--boundary` delimiter lines (RFC 2046 §5.1.1). */
function multipartParts(body: Buffer, boundary: string): Part[] {
  const text = body.toString('latin1');
  const delimiter = new RegExp(`(?:^|\\r?\\n)--${boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(--)?[ \\t]*(?=\\r?\\n|$)`, 'g');
  const parts: Part[] = [];
  let start = -1;
  for (let m = delimiter.exec(text); m; m = delimiter.exec(text)) {
    if (start >= 0) parts.push(splitHead(Buffer.from(text.slice(start, m.index).replace(/^\r?\n/, ''), 'latin1')));
    if (m[1]) return parts;
    start = m.index + m[0].length;
  }
  return parts;
}

/** The decoded content of a part (RFC 2045 §6: base64 and quoted-printable; 7bit/8bit as is). */
function decoded(part: Part): string {
  const cte = (part.headers.get('content-transfer-encoding') ?? '').toLowerCase();
  if (cte === 'base64') return Buffer.from(part.body.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64').toString('latin1');
  if (cte === 'quoted-printable') {
    return part.body.toString('latin1').replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  }
  return part.body.toString('latin1');
}

/** `rfc822; User@Example.org` -> `user@example.org` (RFC 3464 §2.3.1, §2.3.2: address-type ";" generic-address). */
function address(value: string | undefined): string | null {
  if (!value) return null;
  const i = value.indexOf(';');
  const addr = (i >= 0 ? value.slice(i + 1) : value).trim().replace(/^<(.*)>$/, '$1').toLowerCase();
  return addr || null;
}

/** `dns; mx.example.org` -> `mx.example.org` (RFC 3464 §2.2.2 mta-name-type ";" mta-name). */
function mtaName(value: string | undefined): string | null {
  if (!value) return null;
  const i = value.indexOf(';');
  return (i >= 0 ? value.slice(i + 1) : value).trim() || null;
}

function bracketed(id: string | undefined): string | null {
  const m = /<[^<>\s]+>/.exec(id ?? '');
  if (m) return m[0];
  // Else the first token holding an "@" between other characters; a scan of tokens, since the regex
  // /[^<>\s]+@[^<>\s]+/ is quadratic on a long token without "@" (each start rescans the token).
  const token = (id ?? '').split(/[<>\s]+/).find((t) => t.slice(1, -1).includes('@'));
  return token ? `<${token}>` : null;
}

/**
 * Parses an RFC 3464 report. Returns null for anything that is not a multipart/report with
 * report-type=delivery-status (RFC 6522 §3) and a message/delivery-status part. Never throws.
 * mailparser is not used: it folds message/delivery-status into the text body, and the per-recipient blocks are the point here.
 */
export function parseDsn(raw: Buffer): ParsedDsn | null {
  try {
    const top = splitHead(raw);
    const ct = contentType(top.headers.get('content-type'));
    const boundary = ct.params.get('boundary');
    if (ct.type !== 'multipart/report' || ct.params.get('report-type')?.toLowerCase() !== 'delivery-status' || !boundary) return null;
    const parts = multipartParts(top.body, boundary);
    // RFC 6533 message/global-delivery-status carries the same fields in UTF-8.
    const status = parts.find((p) => /^message\/(global-)?delivery-status$/.test(contentType(p.headers.get('content-type')).type));
    if (!status) return null;
    // RFC 3464 §2.1: the per-message fields, an empty line, then one block per recipient.
    const blocks = decoded(status).replace(/\r\n/g, '\n').trim().split(/\n[ \t]*\n/).map(parseFields);
    const perMessage = blocks[0] ?? new Map<string, string>();
    const recipients: DsnRecipientStatus[] = [];
    for (const b of blocks.slice(1)) {
      const finalRecipient = address(b.get('final-recipient'));
      if (!finalRecipient) continue;
      recipients.push({
        finalRecipient,
        originalRecipient: address(b.get('original-recipient')),
        action: (b.get('action') ?? '').toLowerCase(),
        status: /\d\.\d{1,3}\.\d{1,3}/.exec(b.get('status') ?? '')?.[0] ?? '',
        diagnostic: b.get('diagnostic-code') ?? null,
        remoteMta: mtaName(b.get('remote-mta')),
      });
    }
    // RFC 6522 §3: the third part returns the original, whole (message/rfc822) or its header (text/rfc822-headers).
    const returned = parts.find((p) => /^(message\/(global|rfc822)|text\/rfc822-headers|message\/global-headers)$/.test(contentType(p.headers.get('content-type')).type));
    const originalMessageId = returned ? bracketed(parseFields(decoded(returned).split(/\r?\n\r?\n/)[0]).get('message-id')) : null;
    return { reportingMta: mtaName(perMessage.get('reporting-mta')), envId: perMessage.get('original-envelope-id')?.trim() || null, originalMessageId, recipients };
  } catch {
    return null;
  }
}

/** RFC 3464 §2: a DSN comes with the null reverse-path; some MTAs send it from postmaster or MAILER-DAEMON. */
function fromReporter(mailFrom: string): boolean {
  return mailFrom === '' || /^(postmaster|mailer-daemon)@/i.test(mailFrom);
}

export type SuppressionReason = 'hard-bounce' | string;
export type Suppression = { address: string; reason: string | null; createdAt: string; sourceMessageId: string | null };

type SuppressionRow = { address: string; reason: string | null; source_message_id: string | null; created_at: number };
const toSuppression = (r: SuppressionRow): Suppression => ({
  address: r.address, reason: r.reason, createdAt: new Date(Number(r.created_at)).toISOString(), sourceMessageId: r.source_message_id,
});

/** Adds the address; an address already listed keeps its first entry. Returns true when it was added. */
export async function addSuppression(q: Queryable, s: { address: string; reason: string; sourceMessageId?: string | null; now: number }): Promise<boolean> {
  const r = await q.run(
    'INSERT INTO mail_suppressions (address, reason, source_message_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (address) DO NOTHING',
    [s.address.toLowerCase(), s.reason, s.sourceMessageId ?? null, s.now],
  );
  return r.changes > 0;
}

export async function removeSuppression(q: Queryable, addr: string): Promise<boolean> {
  return (await q.run('DELETE FROM mail_suppressions WHERE address = ?', [addr.toLowerCase()])).changes > 0;
}

export async function listSuppressions(q: Queryable, options: { limit: number; offset: number }): Promise<{ items: Suppression[]; total: number }> {
  const rows = await q.all<SuppressionRow>('SELECT address, reason, source_message_id, created_at FROM mail_suppressions ORDER BY created_at DESC, address LIMIT ? OFFSET ?', [options.limit, options.offset]);
  const total = await q.get<{ n: number }>('SELECT COUNT(*) AS n FROM mail_suppressions');
  return { items: rows.map(toSuppression), total: Number(total?.n ?? 0) };
}

/** The listed addresses among `addresses` (one primary key lookup each, in one query). */
export async function suppressedAmong(q: Queryable, addresses: string[]): Promise<Map<string, Suppression>> {
  const out = new Map<string, Suppression>();
  const unique = [...new Set(addresses.map((a) => a.toLowerCase()))];
  for (let i = 0; i < unique.length; i += 100) {
    const chunk = unique.slice(i, i + 100);
    const rows = await q.all<SuppressionRow>(`SELECT address, reason, source_message_id, created_at FROM mail_suppressions WHERE address IN (${chunk.map(() => '?').join(', ')})`, chunk);
    for (const r of rows) out.set(r.address, toSuppression(r));
  }
  return out;
}

/** The reply a suppressed recipient fails with (no SMTP attempt, no DSN). */
export function suppressedReply(s: Suppression): string {
  const why = s.reason === 'hard-bounce' || !s.reason ? 'hard bounce' : s.reason;
  return `5.1.1 <${s.address}> is on the suppression list (${why} on ${s.createdAt.slice(0, 10)}); remove it with DELETE /api/suppressions/${s.address}`;
}

export type BounceMatch = { originalId: string; headerMessageId: string | null; recorded: Array<{ rcpt: string; status: string; hard: boolean; suppressed: boolean }> };

export type BounceMatcherOptions = { events: Events; log: Logger; now?: () => number };

/**
 * Matches a DSN being stored in a local mailbox to the message of ours it answers: by Original-Envelope-Id
 * (our ENVID or queue id), else by the returned original's Message-ID. Each failed recipient gets a `bounced`
 * event on the original; a permanent failure (5.x.x, RFC 3463 §3.1) lists the address for suppression.
 * Runs inside the caller's transaction, under a savepoint, so a failure here never loses the delivery; throws only when
 * the savepoint itself cannot be set or rolled back to (the transaction is then unusable).
 * A recipient already reported bounced for that message is not recorded again (a DSN delivered twice, or two local recipients).
 */
export function createBounceMatcher(options: BounceMatcherOptions) {
  const now = options.now ?? Date.now;
  return async function matchBounce(q: Queryable, message: ClaimedMessage): Promise<BounceMatch | null> {
    // Our own DSNs (source dsn) report outcomes already on the timeline; mail from anyone else is not a report.
    if (message.source === 'dsn' || !fromReporter(message.mailFrom)) return null;
    const dsn = parseDsn(message.raw);
    if (!dsn || !dsn.recipients.some((r) => r.action === 'failed')) return null;
    // A savepoint keeps a failed statement from spoiling the delivery around it (PostgreSQL aborts the whole transaction otherwise).
    // Not caught: when SAVEPOINT itself fails the transaction is unusable, and the delivery must not be reported done.
    await q.run('SAVEPOINT bounce');
    try {
      type Original = { id: string; header_message_id: string | null };
      let original: Original | undefined;
      if (dsn.envId) {
        original = await q.get<Original>('SELECT id, header_message_id FROM mail_messages WHERE (id = ? OR env_id = ?) AND is_dsn = 0 AND id <> ? ORDER BY received_at DESC LIMIT 1', [dsn.envId, dsn.envId, message.id]);
      }
      if (!original && dsn.originalMessageId) {
        original = await q.get<Original>('SELECT id, header_message_id FROM mail_messages WHERE header_message_id = ? AND is_dsn = 0 AND id <> ? ORDER BY received_at DESC LIMIT 1', [dsn.originalMessageId, message.id]);
      }
      if (!original) {
        await q.run('RELEASE SAVEPOINT bounce');
        return null;
      }
      // Two DSNs for one original delivered at once: the second waits here until the first commits, then sees its events.
      if (q.dialect === 'postgres') await q.get("SELECT pg_advisory_xact_lock(hashtext('mana.bounce:' || ?))", [original.id]);
      const ours = new Set((await q.all<{ rcpt: string }>('SELECT rcpt FROM mail_recipients WHERE message_id = ?', [original.id])).map((r) => r.rcpt.toLowerCase()));
      const already = new Set((await q.all<{ rcpt: string | null }>("SELECT rcpt FROM mail_events WHERE message_id = ? AND type = 'bounced'", [original.id])).map((r) => r.rcpt));
      const recorded: BounceMatch['recorded'] = [];
      for (const r of dsn.recipients) {
        if (r.action !== 'failed') continue;
        // A forwarding hop reports the address it forwarded to; Original-Recipient then names ours.
        // A block about an address the original was never sent to is not ours to record (nor to mark a notification bounced with).
        const rcpt = ours.has(r.finalRecipient) ? r.finalRecipient : r.originalRecipient && ours.has(r.originalRecipient) ? r.originalRecipient : null;
        if (rcpt === null) {
          options.log.info({ queueId: message.id, originalId: original.id, finalRecipient: r.finalRecipient }, 'bounce.foreign_recipient');
          continue;
        }
        if (already.has(rcpt)) continue;
        already.add(rcpt);
        const hard = r.status.startsWith('5');
        const suppressed = hard && (await addSuppression(q, { address: rcpt, reason: 'hard-bounce', sourceMessageId: original.id, now: now() }));
        await options.events.record(q, {
          type: 'bounced', messageId: original.id, headerMessageId: original.header_message_id, rcpt,
          data: { status: r.status, diagnostic: r.diagnostic, reportingMta: dsn.reportingMta, remoteMta: r.remoteMta, hard, suppressed, dsnQueueId: message.id },
        });
        recorded.push({ rcpt, status: r.status, hard, suppressed });
      }
      await q.run('RELEASE SAVEPOINT bounce');
      return { originalId: original.id, headerMessageId: original.header_message_id, recorded };
    } catch (err) {
      // If the rollback to the savepoint fails too, the transaction cannot go on: that error goes to the caller.
      await q.run('ROLLBACK TO SAVEPOINT bounce');
      await q.run('RELEASE SAVEPOINT bounce');
      options.log.error({ err: { message: (err as Error).message, code: (err as { code?: string }).code }, queueId: message.id }, 'bounce.failed');
      return null;
    }
  };
}
export type BounceMatcher = ReturnType<typeof createBounceMatcher>;
