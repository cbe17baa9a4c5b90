// SMTP replies turned into delivery outcomes: RFC 5321 §4.2 reply codes, RFC 3463 enhanced status codes, per-recipient results of one transaction.

export type RecipientStatus = 'delivered' | 'deferred' | 'failed';

export type RecipientResult = {
  rcpt: string;
  status: RecipientStatus;
  /** The server's reply code, or 0 when the outcome was decided here without a reply (connection lost, TLS refused). */
  code: number;
  /** RFC 3463 enhanced status code, from the reply or assigned here. */
  enhanced?: string;
  text: string;
};

/** Where a session-level failure happened; every recipient not yet answered shares it. */
export type FailureStage = 'connect' | 'greeting' | 'tls' | 'ehlo' | 'auth' | 'mail' | 'data' | 'message' | 'connection' | 'aborted';

export type SessionFailure = { stage: FailureStage; status: 'deferred' | 'failed'; code: number; enhanced?: string; text: string };

export type DeliveryOutcome = { recipients: RecipientResult[]; failure: SessionFailure | null };

/** The fields nodemailer puts on its errors. */
export type NodemailerError = Error & {
  code?: string;
  originalCode?: string;
  response?: string;
  responseCode?: number;
  command?: string;
  recipient?: string;
  rejectedErrors?: NodemailerError[];
  timeoutType?: string;
};

export type SendInfo = { accepted: string[]; rejected: string[]; rejectedErrors?: NodemailerError[]; response: string };

/** RFC 5321 §4.2: "250-first\n250 2.0.0 last" -> code, RFC 3463 enhanced code, text without either. */
export function parseReply(reply: string): { code: number; enhanced?: string; text: string } {
  const lines = reply.split(/\r?\n/).filter((l) => l.length > 0);
  const code = Number(/^(\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  const enhanced = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})(?:\s|$)/.exec(lines[0] ?? '')?.[1];
  const text = lines.map((l) => l.replace(/^\d{3}[ -]?/, '').replace(/^[245]\.\d{1,3}\.\d{1,3}\s*/, '')).join(' ').trim();
  return enhanced === undefined ? { code, text } : { code, enhanced, text };
}

export function statusOf(code: number): RecipientStatus {
  if (code >= 200 && code < 300) return 'delivered';
  return code >= 500 && code < 600 ? 'failed' : 'deferred';
}

export function replyFailure(stage: FailureStage, reply: string): SessionFailure {
  const parsed = parseReply(reply);
  return { stage, status: statusOf(parsed.code) === 'failed' ? 'failed' : 'deferred', ...parsed };
}

export function localFailure(stage: FailureStage, enhanced: string, text: string): SessionFailure {
  return { stage, status: enhanced.startsWith('5') ? 'failed' : 'deferred', code: 0, enhanced, text };
}

export function fromFailure(rcpt: string, failure: SessionFailure): RecipientResult {
  const { status, code, enhanced, text } = failure;
  return enhanced === undefined ? { rcpt, status, code, text } : { rcpt, status, code, enhanced, text };
}

function fromReply(rcpt: string, reply: string): RecipientResult {
  const parsed = parseReply(reply);
  return { rcpt, status: statusOf(parsed.code), ...parsed };
}

/** RFC 5321 §4.1.2 Mailbox on a command line: no CR, LF or angle brackets; '' only as the null sender. */
export function validAddress(address: string, sender: boolean): boolean {
  if (address === '') return sender;
  return !/[\r\n<>]/.test(address) && address.includes('@');
}

/** A refusal the server stated in a reply to MAIL, RCPT, DATA or the final dot leaves the session usable (or closed by nodemailer). */
export function cleanRefusal(err: NodemailerError): boolean {
  if (err.code === 'EENVELOPE' && err.response !== undefined) return true;
  if (err.code === 'EMESSAGE') return true; // final reply, or SIZE exceeded before MAIL
  return false;
}

/** Per-recipient results: RCPT refusals keep their own reply; the others get the final reply or the failure. */
export function outcome(options: {
  /** 'host[address]:port', for texts. */
  where: string;
  to: string[];
  err: NodemailerError | null;
  info: SendInfo | undefined;
  /** Refusals nodemailer recorded for the message in flight, when the error does not carry them. */
  tracked: NodemailerError[];
}): DeliveryOutcome {
  const { where, to, err, info, tracked } = options;
  const refusedBy = (errors: NodemailerError[]) => new Map(errors.flatMap((e) => (e.recipient === undefined ? [] : [[e.recipient, e.response ?? ''] as const])));
  const combine = (refused: Map<string, string>, rest: (rcpt: string) => RecipientResult) =>
    to.map((rcpt) => {
      const reply = refused.get(rcpt);
      return reply === undefined ? rest(rcpt) : fromReply(rcpt, reply);
    });

  if (err === null && info !== undefined) {
    return { recipients: combine(refusedBy(info.rejectedErrors ?? []), (rcpt) => fromReply(rcpt, info.response)), failure: null };
  }
  const e: NodemailerError = err ?? Object.assign(new Error('no result'), { code: 'ECONNECTION' });
  const all = (failure: SessionFailure) => ({ recipients: to.map((rcpt) => fromFailure(rcpt, failure)), failure });

  if (e.code === 'EABORT') return all(localFailure('aborted', '4.4.2', 'delivery aborted'));
  if (e.code === 'EENVELOPE' && e.command === 'MAIL FROM' && e.response !== undefined) {
    // RFC 5321 §4.1.1.2: MAIL refused -> the whole transaction; 5xx fails every recipient.
    return all(replyFailure('mail', e.response));
  }
  if (e.code === 'EENVELOPE' && e.command === 'RCPT TO' && e.rejectedErrors !== undefined) {
    // Every recipient refused: each keeps its own reply (RFC 5321 §4.1.1.3).
    const refused = refusedBy(e.rejectedErrors);
    return { recipients: combine(refused, (rcpt) => fromFailure(rcpt, replyFailure('connection', e.response ?? '451 4.4.2 no reply'))), failure: null };
  }
  if (e.code === 'EMESSAGE' && e.response === undefined && /larger than allowed/.test(e.message)) {
    // RFC 1870: the server's advertised SIZE is smaller than the message.
    return all(localFailure('mail', '5.3.4', `message too big for ${where}: ${e.message}`));
  }

  let failure: SessionFailure;
  if (e.response !== undefined && /^\d{3}/.test(e.response) && (e.command === 'DATA' || e.code === 'EMESSAGE')) {
    // DATA refused (RFC 5321 §4.1.1.4), or the reply after the final dot: it applies to the accepted recipients.
    failure = replyFailure(e.code === 'EMESSAGE' ? 'message' : 'data', e.response);
  } else if (e.response !== undefined && /^\d{3}/.test(e.response)) {
    failure = { ...replyFailure('connection', e.response), status: 'deferred' };
  } else {
    // Connection lost or timed out mid-transaction: the outcome is unknown, so the message is retried (RFC 5321 §6.1).
    failure =
      e.code === 'ESTREAM'
        ? localFailure('connection', '4.3.0', `reading the message failed: ${e.message}`)
        : localFailure('connection', '4.4.2', `lost connection with ${where} during the transaction: ${e.message}`);
  }
  const refused = refusedBy(tracked);
  return { recipients: combine(refused, (rcpt) => fromFailure(rcpt, failure)), failure };
}

