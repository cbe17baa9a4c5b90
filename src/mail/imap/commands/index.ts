// The IMAP commands this server implements (RFC 3501 §6 and the extensions it announces), by name.
import type { CommandSpec } from './types.ts';
import { capability, check, id, logout, noop } from './any-state.ts';
import { starttls } from './starttls.ts';
import { login } from './login.ts';
import { authenticate } from './authenticate.ts';
import { fixed, list, lsub, subscribe, unsubscribe } from './list.ts';
import { status } from './status.ts';
import { examine, select } from './select.ts';
import { fetch, uidFetch } from './fetch.ts';
import { search, uidSearch } from './search.ts';
import { store, uidStore } from './store.ts';
import { copy, uidCopy } from './copy.ts';
import { close, expunge, uidExpunge, unselect } from './expunge.ts';
import { append } from './append.ts';
import { idle } from './idle.ts';

export function imapCommands(): Map<string, CommandSpec> {
  const all: CommandSpec[] = [
    capability, noop, check, logout, id, starttls, login, authenticate,
    list, lsub, subscribe, unsubscribe, ...fixed, status, select, examine,
    fetch, uidFetch, search, uidSearch, store, uidStore, copy, uidCopy,
    expunge, uidExpunge, close, unselect, append, idle,
  ];
  return new Map(all.map((c) => [c.name, c]));
}
