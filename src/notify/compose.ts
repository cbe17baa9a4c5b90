// Email composition for notify: RFC 5322 header fields (Message-ID §3.6.4, addresses §3.4), MIME multipart/alternative (RFC 2045/2046), RFC 2047 encoded words; built on nodemailer's MailComposer.
import { randomBytes } from 'node:crypto';
import { domainToASCII } from 'node:url';
import MailComposer from 'nodemailer/lib/mail-composer';
import addressparser from 'nodemailer/lib/addressparser';
import { htmlToText } from './templates/html-text.ts';

export type ComposeErrorCode =
  | 'compose.header_injection'
  | 'compose.reserved_header'
  | 'compose.invalid_address'
  | 'compose.no_recipients'
  | 'compose.invalid_domain';

export type ComposeError = Error & { code: ComposeErrorCode };

function composeError(code: ComposeErrorCode, message: string): ComposeError {
  return Object.assign(new Error(message), { code });
}

export type Mailbox = { name: string; address: string };

export type ComposeOptions = {
  /** `Name <addr>` or a bare address; its domain names the Message-ID unless messageIdDomain is set */
  from: string;
  to: readonly string[];
  cc?: readonly string[];
  /** Recipients that go into the envelope only, never into a header */
  bcc?: readonly string[];
  replyTo?: string;
  subject: string;
  html: string;
  /** Plain-text alternative; derived from the HTML when not given */
  text?: string;
  /** Extra header fields; names must be RFC 5322 field names and not ones this module writes */
  headers?: Readonly<Record<string, string>>;
  messageIdDomain?: string;
  /** The Date field; the current time when not given */
  date?: Date;
};

export type ComposedEmail = {
  /** The whole message, CRLF line ends, ready for SMTP DATA */
  raw: Buffer;
  /** `<random@domain>` as written in the Message-ID field */
  messageId: string;
  /** RFC 5321 envelope: MAIL FROM and every RCPT TO (to, cc and bcc) */
  envelope: { from: string; to: string[] };
};

/** Header fields composeEmail writes itself; callers cannot set or override them. */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'from', 'to', 'cc', 'bcc', 'subject', 'date', 'message-id',
  'content-type', 'mime-version', 'content-transfer-encoding',
]);

// RFC 5322 §3.6.8: field-name = 1*ftext; ftext = %d33-57 / %d59-126 (printable US-ASCII but ':').
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;
const CR_OR_LF = /[\r\n]/;

/** True when `name` is a syntactically valid RFC 5322 header field name. */
export function isHeaderFieldName(name: string): boolean {
  return FIELD_NAME.test(name);
}

/** True when `name` is a header field that composeEmail writes itself (case-insensitive). */
export function isReservedHeader(name: string): boolean {
  return RESERVED_HEADERS.has(name.toLowerCase());
}

// RFC 5322 §3.2.3 atext, widened by RFC 6532 §3.2 to any non-ASCII UTF-8 character.
const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-\\u0080-\\uFFFF]";
const DOT_ATOM = new RegExp(`^${ATEXT}+(?:\\.${ATEXT}+)*$`, 'u');
// RFC 5321 §4.1.2 Quoted-string: qtextSMTP (%d32-33 / %d35-91 / %d93-126) or a quoted-pair.
const QUOTED_STRING = /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\uffff]|\\[\x20-\x7e])*"$/u;
// RFC 5321 §4.1.2 sub-domain (RFC 5890 U-labels allowed): letters, digits, inner hyphens.
const LABEL = /^(?:[A-Za-z0-9\u0080-\uFFFF](?:[A-Za-z0-9\u0080-\uFFFF-]*[A-Za-z0-9\u0080-\uFFFF])?)$/u;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function isDomain(domain: string): boolean {
  if (domain.startsWith('[') && domain.endsWith(']')) {
    // RFC 5321 §4.1.3 address-literal.
    const literal = domain.slice(1, -1);
    if (IPV4.test(literal)) return true;
    if (/^ipv6:/i.test(literal)) return /^[0-9a-f:.]+$/i.test(literal.slice(5)) && literal.includes(':', 5);
    return false;
  }
  if (domain.length === 0 || domain.length > 253) return false;
  const ascii = domainToASCII(domain);
  if (ascii === '' || ascii.length > 253) return false;
  return domain.split('.').every((label) => label.length <= 63 && LABEL.test(label));
}

/**
 * True when `address` is a bare RFC 5321 §4.1.2 Mailbox (`local@domain`, no display name),
 * within the §4.5.3.1 limits (local part 64 octets, path 254 octets).
 */
export function isAddrSpec(address: string): boolean {
  if (CR_OR_LF.test(address)) return false;
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return false;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (Buffer.byteLength(local) > 64 || Buffer.byteLength(address) > 254) return false;
  if (!DOT_ATOM.test(local) && !QUOTED_STRING.test(local)) return false;
  return isDomain(domain);
}

/**
 * Parses one RFC 5322 §3.4 mailbox, `Display Name <local@domain>` or a bare address.
 * Throws `compose.invalid_address` for anything else (groups, lists, bad syntax).
 */
export function parseAddress(input: string): Mailbox {
  if (CR_OR_LF.test(input)) {
    throw composeError('compose.header_injection', 'address must not contain CR or LF');
  }
  const parsed = addressparser(input);
  const first = parsed[0];
  if (parsed.length !== 1 || first === undefined || first.group !== undefined || !isAddrSpec(first.address)) {
    throw composeError('compose.invalid_address', `not a single valid mailbox: ${JSON.stringify(input)}`);
  }
  return { name: first.name, address: first.address };
}

/** Like parseAddress, but returns undefined instead of throwing. */
export function tryParseAddress(input: string): Mailbox | undefined {
  try {
    return parseAddress(input);
  } catch {
    return undefined;
  }
}

function refuseLineBreak(field: string, value: string): void {
  // RFC 5322 §2.2: a header field is one line; CR or LF in a value would start a new field.
  if (CR_OR_LF.test(value)) {
    throw composeError('compose.header_injection', `${field} must not contain CR or LF`);
  }
}

function formatMailbox(mailbox: Mailbox): { name: string; address: string } {
  return { name: mailbox.name, address: mailbox.address };
}

function parseField(field: string, value: string): Mailbox {
  refuseLineBreak(field, value);
  try {
    return parseAddress(value);
  } catch (err) {
    throw composeError('compose.invalid_address', `${field}: ${(err as Error).message}`);
  }
}

/** The id-right of a Message-ID: an ASCII domain (RFC 5322 §3.6.4 allows a dot-atom or a literal). */
function messageIdRight(domain: string): string {
  refuseLineBreak('messageIdDomain', domain);
  if (domain.startsWith('[') && isDomain(domain)) return domain;
  const ascii = domainToASCII(domain);
  if (!isDomain(domain) || ascii === '' || !/^[a-z0-9.-]+$/.test(ascii)) {
    throw composeError('compose.invalid_domain', `not a usable Message-ID domain: ${JSON.stringify(domain)}`);
  }
  return ascii;
}

/**
 * Builds a complete message: multipart/alternative (text/plain, then text/html, both UTF-8),
 * Subject RFC 2047-encoded when it is not ASCII, a random Message-ID at the sender's domain,
 * Date and MIME-Version. Bcc goes into the envelope only. Throws `compose.header_injection`
 * when any header-bound value contains CR or LF, whoever calls it.
 */
export async function composeEmail(options: ComposeOptions): Promise<ComposedEmail> {
  const from = parseField('from', options.from);
  const to = options.to.map((value, i) => parseField(`to[${i}]`, value));
  const cc = (options.cc ?? []).map((value, i) => parseField(`cc[${i}]`, value));
  const bcc = (options.bcc ?? []).map((value, i) => parseField(`bcc[${i}]`, value));
  const replyTo = options.replyTo === undefined ? undefined : parseField('replyTo', options.replyTo);
  refuseLineBreak('subject', options.subject);
  if (to.length + cc.length + bcc.length === 0) {
    throw composeError('compose.no_recipients', 'a message needs at least one recipient (to, cc or bcc)');
  }

  const headers: { key: string; value: string }[] = [];
  for (const [key, value] of Object.entries(options.headers ?? {})) {
    refuseLineBreak('header name', key);
    if (!isHeaderFieldName(key)) {
      throw composeError('compose.header_injection', `${JSON.stringify(key)} is not an RFC 5322 header field name`);
    }
    if (isReservedHeader(key)) {
      throw composeError('compose.reserved_header', `${key} is written by the composer and cannot be set as a custom header`);
    }
    refuseLineBreak(`header ${key}`, value);
    headers.push({ key, value });
  }

  const domain = options.messageIdDomain ?? from.address.slice(from.address.lastIndexOf('@') + 1);
  // RFC 5322 §3.6.4: msg-id = "<" id-left "@" id-right ">"; id-left is random, so the id is unique.
  const messageId = `<${randomBytes(16).toString('hex')}@${messageIdRight(domain)}>`;

  const composer = new MailComposer({
    from: formatMailbox(from),
    to: to.map(formatMailbox),
    cc: cc.length > 0 ? cc.map(formatMailbox) : undefined,
    bcc: bcc.length > 0 ? bcc.map(formatMailbox) : undefined,
    replyTo: replyTo === undefined ? undefined : formatMailbox(replyTo),
    subject: options.subject,
    text: options.text ?? htmlToText(options.html),
    html: options.html === '' ? undefined : options.html,
    headers,
    messageId,
    date: options.date ?? new Date(),
    newline: 'win',
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  const node = composer.compile();
  const raw = await node.build();
  const envelope = node.getEnvelope();
  if (envelope.from === false) {
    throw composeError('compose.invalid_address', 'the message has no sender address');
  }
  return { raw, messageId, envelope: { from: envelope.from, to: envelope.to } };
}
