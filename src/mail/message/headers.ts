// Header section handling for RFC 5322 messages: find fields, add a missing Message-ID (§3.6.4) and Date (§3.6.1), prepend trace fields (RFC 5321 §4.4).
import { randomBytes } from 'node:crypto';

/** Byte offset where the body starts (after the empty line), or raw.length when there is no body. */
export function headerEnd(raw: Buffer): number {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return crlf + 4;
  if (lf >= 0) return lf + 2;
  return raw.length;
}

/** Unfolded value of the first field with this name, or undefined. */
export function headerValue(raw: Buffer, name: string): string | undefined {
  const head = raw.subarray(0, headerEnd(raw)).toString('latin1');
  const re = new RegExp(`^${name.replace(/[-]/g, '\\-')}[ \\t]*:(.*(?:\\r?\\n[ \\t].*)*)`, 'im');
  const m = re.exec(head);
  return m ? m[1].replace(/\r?\n/g, '').trim() : undefined;
}

/** The domain of the first address in From (RFC 5322 §3.6.2), lower-cased. */
export function fromDomain(raw: Buffer): string | undefined {
  const from = headerValue(raw, 'from');
  if (!from) return undefined;
  const m = /<[^<>@]*@([^<>@\s]+)>/.exec(from) ?? /@([A-Za-z0-9.-]+)/.exec(from);
  return m?.[1].toLowerCase();
}

export function rfc5322Date(d: Date): string {
  // toUTCString gives "Tue, 24 Nov 2026 11:00:00 GMT"; RFC 5322 §3.3 prefers a numeric zone.
  return d.toUTCString().replace(/GMT$/, '+0000');
}

export function newMessageId(domain: string): string {
  return `<${randomBytes(12).toString('hex')}@${domain}>`;
}

/**
 * Adds Message-ID and Date when missing (RFC 6409 §8.2, §8.3: a submission server may add them).
 * Returns the message and its Message-ID.
 */
export function ensureIdAndDate(raw: Buffer, options: { domain: string; now?: Date }): { raw: Buffer; messageId: string; added: string[] } {
  const added: string[] = [];
  let prefix = '';
  let messageId = headerValue(raw, 'message-id');
  if (!messageId) {
    messageId = newMessageId(options.domain);
    prefix += `Message-ID: ${messageId}\r\n`;
    added.push('Message-ID');
  }
  if (!headerValue(raw, 'date')) {
    prefix += `Date: ${rfc5322Date(options.now ?? new Date())}\r\n`;
    added.push('Date');
  }
  return { raw: prefix ? Buffer.concat([Buffer.from(prefix), raw]) : raw, messageId, added };
}

/** A Received trace field (RFC 5321 §4.4), folded. */
export function receivedHeader(options: { helo?: string; remoteIp: string; by: string; protocol: string; id: string; rcpt?: string; now?: Date }): string {
  const from = `from ${options.helo || 'unknown'} (${options.remoteIp.includes(':') ? `[IPv6:${options.remoteIp}]` : `[${options.remoteIp}]`})`;
  const forPart = options.rcpt ? `\r\n\tfor <${options.rcpt}>` : '';
  return `Received: ${from}\r\n\tby ${options.by} with ${options.protocol} id ${options.id}${forPart};\r\n\t${rfc5322Date(options.now ?? new Date())}\r\n`;
}
