// What an IMAP command module declares (RFC 3501 §6): the states it is valid in, its argument schema and its handler; and the session it acts on.
import type { Logger } from '../../../lib/log.ts';
import type { Principal } from '../../accounts.ts';
import type { SmtpSecurity } from '../../smtp/listeners.ts';
import type { ImapStore, MailboxRef, MessageMeta } from '../mailstore.ts';
import type { MailboxWatch } from '../watch.ts';
import type { FetchAtt, ImapCommand, ImapToken, SequenceSet } from '../parser.ts';

/** RFC 3501 §3: connection states. */
export type ImapState = 'not-authenticated' | 'authenticated' | 'selected' | 'logout';

/**
 * Argument kinds a schema names, checked before the handler runs (a mismatch is `BAD`):
 * astring (text), atom, number, sequence (sequence-set), fetch-atts, list (parenthesized), any (one token), rest (all that is left).
 * A trailing `?` makes an argument optional.
 */
export type ArgKind = 'astring' | 'atom' | 'number' | 'sequence' | 'fetch-atts' | 'list' | 'any' | 'rest';
export type ArgSchema = Array<ArgKind | `${ArgKind}?`>;

/** The value each kind becomes. */
export type ArgValue = string | number | SequenceSet | FetchAtt[] | ImapToken[] | ImapToken | undefined;

/** The tagged completion (RFC 3501 §7.1): OK, NO or BAD with an optional response code such as `TRYCREATE`. */
export type Completion = {
  status: 'OK' | 'NO' | 'BAD';
  code?: string;
  text: string;
  /** Runs once the tagged response is written (STARTTLS upgrades the connection here). */
  after?: () => Promise<void>;
};

export type SelectedMailbox = {
  ref: MailboxRef;
  readOnly: boolean;
  uidValidity: number;
  /** The session's view, in UID order: message sequence number n is messages[n - 1] (RFC 3501 §2.3.1.2). */
  messages: MessageMeta[];
};

export interface ImapSession {
  readonly cid: string;
  readonly remoteAddress: string;
  readonly listener: 'imap' | 'imaps';
  readonly secure: boolean;
  state: ImapState;
  user?: Principal;
  selected?: SelectedMailbox;
  readonly store: ImapStore;
  readonly watch: MailboxWatch;
  readonly log: Logger;
  readonly security?: SmtpSecurity;
  /**
   * True once the connection is closing (BYE sent: shutdown, autologout, a literal too large) or gone. Writes are then
   * dropped, so a handler in a loop (FETCH of many messages, IDLE) stops when it turns true.
   */
  readonly closed: boolean;
  /** How often IDLE polls the store for changes made by other nodes, ms. */
  readonly pollMs: number;
  capabilities(): string[];
  /** Writes one untagged response (`* ` is added when a string does not start with `*` or `+`); CRLF is added. */
  send(...parts: Array<string | Buffer>): Promise<void>;
  /** A line from the client outside command syntax (AUTHENTICATE data, IDLE's DONE); undefined when the connection ended. */
  readLine(): Promise<string | undefined>;
  /** Like readLine, but also resolves with `'changed'` when the selected mailbox may have changed (IDLE). */
  readLineOrChange(): Promise<string | undefined | { changed: true }>;
  /** Upgrades the connection to TLS (RFC 3501 §6.2.1), dropping anything read before. */
  startTls(): Promise<void>;
  /**
   * Brings the view of the selected mailbox up to date and reports what changed: EXPUNGE (when allowed, RFC 3501 §7.4.1),
   * FETCH FLAGS, EXISTS (RFC 3501 §7.3.1).
   */
  sync(options: { expunges: boolean }): Promise<void>;
  /** Counts a failed login for auto-ban and logs it, without the credentials. */
  authFailed(mechanism: string): void;
  loggedIn(user: Principal, mechanism: string): void;
}

export type CommandSpec = {
  /** Upper case, `UID FETCH` for the UID form. */
  name: string;
  states: ImapState[];
  schema: ArgSchema;
  /** Whether EXPUNGE responses may follow this command (RFC 3501 §7.4.1: not after FETCH, STORE, SEARCH). */
  expungesAfter?: boolean;
  handler(session: ImapSession, args: ArgValue[], command: ImapCommand): Promise<Completion>;
};

/**
 * Lets other connections run between the messages of a long FETCH, SEARCH or STORE; false when this session's connection is
 * gone and the command should stop.
 */
export async function nextMessage(s: ImapSession): Promise<boolean> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  return !s.closed;
}

export const ok = (text: string, code?: string): Completion => ({ status: 'OK', text, code });
export const no = (text: string, code?: string): Completion => ({ status: 'NO', text, code });
export const bad = (text: string, code?: string): Completion => ({ status: 'BAD', text, code });
