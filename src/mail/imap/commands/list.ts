// LIST and LSUB, RFC 3501 §6.3.8-9 (and SUBSCRIBE/UNSUBSCRIBE §6.3.6-7): INBOX, and Captured for administrators; every mailbox counts as subscribed.
import { findMailbox, mailboxesOf } from '../mailstore.ts';
import { quote } from '../format.ts';
import { no, ok, type CommandSpec } from './types.ts';

/** RFC 3501 §6.3.8: `*` matches anything, `%` anything but the hierarchy delimiter; INBOX matches case-insensitively. */
export function matchesPattern(name: string, reference: string, pattern: string): boolean {
  const full = reference + pattern;
  const source = full.split('').map((c) => (c === '*' ? '.*' : c === '%' ? '[^/]*' : c.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${source}$`, name === 'INBOX' ? 'i' : '').test(name);
}

function lister(name: 'LIST' | 'LSUB'): CommandSpec {
  return {
    name,
    states: ['authenticated', 'selected'],
    schema: ['astring', 'astring'],
    async handler(s, [reference, pattern]) {
      // RFC 3501 §6.3.8: an empty pattern asks for the hierarchy delimiter and the root.
      if (pattern === '') {
        if (name === 'LIST') await s.send(`LIST (\\Noselect) "/" ${quote(reference as string)}`);
        return ok(`${name} completed`);
      }
      for (const m of mailboxesOf(s.user!)) {
        if (matchesPattern(m.name, reference as string, pattern as string)) await s.send(`${name} (\\HasNoChildren) "/" ${quote(m.name)}`);
      }
      return ok(`${name} completed`);
    },
  };
}

export const list = lister('LIST');
export const lsub = lister('LSUB');

function subscriber(name: 'SUBSCRIBE' | 'UNSUBSCRIBE'): CommandSpec {
  return {
    name,
    states: ['authenticated', 'selected'],
    schema: ['astring'],
    async handler(s, [mailbox]) {
      if (!findMailbox(s.user!, mailbox as string)) return no('No such mailbox', 'NONEXISTENT');
      return ok(`${name} completed`);
    },
  };
}

export const subscribe = subscriber('SUBSCRIBE');
export const unsubscribe = subscriber('UNSUBSCRIBE');

/** The folder set is fixed: CREATE, DELETE and RENAME are refused (RFC 5530 CANNOT). */
export const fixed: CommandSpec[] = (['CREATE', 'DELETE', 'RENAME'] as const).map((name) => ({
  name,
  states: ['authenticated', 'selected'],
  schema: ['rest'],
  handler: async () => no('The mailboxes of this server are fixed', 'CANNOT'),
}));
