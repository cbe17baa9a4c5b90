// Delivery status notifications as messages: RFC 3464 message/delivery-status inside an RFC 6522 multipart/report, with RFC 3461 ENVID/ORCPT/RET.
import { randomBytes } from 'node:crypto';
import { headerEnd, newMessageId, rfc5322Date } from '../message/headers.ts';

/** RFC 3464 §2.3.3 */
export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';

export type DsnRecipientReport = {
  /** Final-Recipient (RFC 3464 §2.3.2): the address we tried, without addr-type. */
  finalRecipient: string;
  /** ORCPT as given (RFC 3461 §4.2, `rfc822;user@example.org`), for Original-Recipient. */
  originalRecipient?: string | null;
  action: DsnAction;
  /** RFC 3463 status code, e.g. 5.1.1 (RFC 3464 §2.3.4). */
  status: string;
  /** The MX host or smart host that answered (RFC 3464 §2.3.5). */
  remoteMta?: string | null;
  /** The remote server's reply, `550 5.1.1 user unknown` (type smtp), or our own reason (type X-Mana, RFC 3464 §2.3.6 private type). */
  diagnostic?: { type: 'smtp' | 'X-Mana'; text: string } | null;
  /** Epoch ms (RFC 3464 §2.3.7). */
  lastAttemptAt?: number | null;
  /** Epoch ms until which a delayed recipient is retried (RFC 3464 §2.3.9). */
  willRetryUntil?: number | null;
};

export type DsnReport = {
  /** Our host name: Reporting-MTA (RFC 3464 §2.2.2) and the domain of Message-ID and MAILER-DAEMON. */
  reportingMta: string;
  /** From of the report, e.g. `Mail Delivery System <MAILER-DAEMON@mail.example.org>`. */
  from: string;
  /** The return path of the original message: the report goes there. */
  to: string;
  /** RFC 3461 §4.4 ENVID of the original transaction (already xtext-decoded). */
  envId?: string | null;
  /** Epoch ms when we accepted the original (RFC 3464 §2.2.5). */
  arrivalDate: number;
  /** The original message as queued. */
  original: Buffer;
  /** RFC 3461 §4.3: the whole message (message/rfc822) or its header (text/rfc822-headers). */
  returnContent: 'full' | 'headers';
  recipients: DsnRecipientReport[];
  now?: Date;
};

const CRLF = '\r\n';

/** One header field value: no CR/LF (a remote reply cannot inject fields), printable ASCII, bounded (RFC 5322 §2.1.1). */
function fieldValue(text: string, max = 900): string {
  const flat = text.replace(/[\r\n]+/g, ' ').replace(/[^\x20-\x7e\t]/g, '?').trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

/** Folds a long field at spaces so lines stay under 78 characters where possible (RFC 5322 §2.2.3). */
function fold(name: string, value: string): string {
  const words = value.split(' ');
  const lines: string[] = [];
  let line = `${name}:`;
  for (const w of words) {
    if (line.length + 1 + w.length > 76 && line.trim() !== `${name}:`) {
      lines.push(line);
      line = ` ${w}`;
    } else {
      line += ` ${w}`;
    }
  }
  lines.push(line);
  return lines.join(CRLF);
}

/** RFC 3461 §4.2: `rfc822;addr` -> type and address; a value without a type counts as rfc822. */
function splitTyped(value: string): { type: string; address: string } {
  const i = value.indexOf(';');
  return i > 0 ? { type: value.slice(0, i).trim(), address: value.slice(i + 1).trim() } : { type: 'rfc822', address: value.trim() };
}

const SEVERITY: Record<DsnAction, number> = { failed: 3, delayed: 2, expanded: 1, relayed: 1, delivered: 0 };

/** The action that decides the subject and wording: failures first, then delays, then successes. */
export function worstAction(recipients: DsnRecipientReport[]): DsnAction {
  return recipients.reduce<DsnAction>((worst, r) => (SEVERITY[r.action] > SEVERITY[worst] ? r.action : worst), 'delivered');
}

function subjectOf(action: DsnAction): string {
  if (action === 'failed') return 'Undelivered Mail Returned to Sender';
  if (action === 'delayed') return 'Delayed Mail (still being retried)';
  return 'Successful Mail Delivery Report';
}

function humanText(report: DsnReport, action: DsnAction): string {
  const lines: string[] = [`This is the mail system at host ${report.reportingMta}.`, ''];
  if (action === 'failed') {
    lines.push('I am sorry to have to inform you that your message could not be delivered to one or more recipients.');
    lines.push('It is attached below.', '');
  } else if (action === 'delayed') {
    lines.push('Your message could not be delivered yet to one or more recipients. The mail system will keep trying;');
    lines.push('you do not need to send it again. This is a warning only.', '');
  } else {
    lines.push('Your message was successfully delivered to the destination(s) listed below. If the message was');
    lines.push('relayed to a system that does not return delivery notifications, you may not hear more.', '');
  }
  for (const r of report.recipients) {
    const why = r.diagnostic ? `: ${fieldValue(r.diagnostic.text, 400)}` : '';
    const where = r.remoteMta ? ` (host ${fieldValue(r.remoteMta, 255)})` : '';
    lines.push(`<${fieldValue(r.finalRecipient, 320)}>: ${r.action}${where}${why}`);
  }
  lines.push('');
  return lines.join(CRLF);
}

/** The message/delivery-status body: per-message fields, then one block per recipient (RFC 3464 §2.1). */
export function deliveryStatus(report: DsnReport): string {
  const blocks: string[] = [];
  const head = [`Reporting-MTA: dns; ${fieldValue(report.reportingMta, 255)}`];
  if (report.envId) head.push(`Original-Envelope-Id: ${fieldValue(report.envId, 100)}`);
  head.push(`Arrival-Date: ${rfc5322Date(new Date(report.arrivalDate))}`);
  blocks.push(head.join(CRLF));
  for (const r of report.recipients) {
    const f: string[] = [];
    if (r.originalRecipient) {
      const o = splitTyped(r.originalRecipient);
      f.push(`Original-Recipient: ${fieldValue(o.type, 20)}; ${fieldValue(o.address, 320)}`);
    }
    f.push(`Final-Recipient: rfc822; ${fieldValue(r.finalRecipient, 320)}`);
    f.push(`Action: ${r.action}`);
    f.push(`Status: ${r.status}`);
    if (r.remoteMta) f.push(`Remote-MTA: dns; ${fieldValue(r.remoteMta, 255)}`);
    if (r.diagnostic) f.push(fold('Diagnostic-Code', `${r.diagnostic.type}; ${fieldValue(r.diagnostic.text)}`));
    if (r.lastAttemptAt) f.push(`Last-Attempt-Date: ${rfc5322Date(new Date(r.lastAttemptAt))}`);
    if (r.willRetryUntil && r.action === 'delayed') f.push(`Will-Retry-Until: ${rfc5322Date(new Date(r.willRetryUntil))}`);
    blocks.push(f.join(CRLF));
  }
  return blocks.join(CRLF + CRLF) + CRLF;
}

/** The header section of the original, ending in CRLF, lone LFs made CRLF. */
function originalHeaders(raw: Buffer): Buffer {
  let head = raw.subarray(0, headerEnd(raw)).toString('latin1').replace(/\r?\n/g, CRLF);
  head = head.replace(/(\r\n)+$/, '') + CRLF;
  return Buffer.from(head, 'latin1');
}

function hasEightBit(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] >= 0x80) return true;
  return false;
}

/**
 * Builds the report: `multipart/report; report-type=delivery-status` with a human-readable part, the
 * message/delivery-status part and the original (RFC 6522 §3, RFC 3464 §2, RFC 3462 text/rfc822-headers).
 * Returns the unsigned message and its Message-ID.
 */
export function buildDsn(report: DsnReport): { raw: Buffer; messageId: string; action: DsnAction } {
  if (!report.recipients.length) throw Object.assign(new Error('a DSN needs at least one recipient'), { code: 'dsn.no_recipients' });
  const action = worstAction(report.recipients);
  const now = report.now ?? new Date();
  const boundary = `=_mana-dsn-${randomBytes(12).toString('hex')}`;
  const messageId = newMessageId(report.reportingMta);
  const attached = report.returnContent === 'full' ? report.original : originalHeaders(report.original);
  const eightBit = hasEightBit(attached);
  const header = [
    `From: ${report.from}`,
    `To: <${fieldValue(report.to, 320)}>`,
    `Subject: ${subjectOf(action)}`,
    `Date: ${rfc5322Date(now)}`,
    `Message-ID: ${messageId}`,
    // RFC 3834 §5: a DSN is an automatic response; nobody should answer it automatically.
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;${CRLF}\tboundary="${boundary}"`,
    'Content-Transfer-Encoding: 7bit',
  ].join(CRLF);
  const parts = [
    `${header}${CRLF}${CRLF}This is a MIME-encapsulated message (RFC 6522).${CRLF}${CRLF}`,
    `--${boundary}${CRLF}Content-Type: text/plain; charset=us-ascii${CRLF}Content-Description: Notification${CRLF}Content-Transfer-Encoding: 7bit${CRLF}${CRLF}`,
    humanText(report, action),
    `${CRLF}--${boundary}${CRLF}Content-Type: message/delivery-status${CRLF}Content-Description: Delivery report${CRLF}Content-Transfer-Encoding: 7bit${CRLF}${CRLF}`,
    deliveryStatus(report),
    `${CRLF}--${boundary}${CRLF}`,
    report.returnContent === 'full'
      ? `Content-Type: message/rfc822${CRLF}Content-Description: Undelivered Message${CRLF}`
      : `Content-Type: text/rfc822-headers${CRLF}Content-Description: Message Headers${CRLF}`,
    `Content-Transfer-Encoding: ${eightBit ? '8bit' : '7bit'}${CRLF}${CRLF}`,
  ];
  // RFC 2046 §5.1.1: the CRLF before a boundary belongs to the boundary; the attachment keeps its own last line end.
  const body = attached.length && attached[attached.length - 1] !== 0x0a ? Buffer.concat([attached, Buffer.from(CRLF)]) : attached;
  const raw = Buffer.concat([Buffer.from(parts.join(''), 'latin1'), body, Buffer.from(`${CRLF}--${boundary}--${CRLF}`, 'latin1')]);
  return { raw, messageId, action };
}
