// STARTTLS, RFC 3501 §6.2.1 (and RFC 2595): TLS on the plain port before any credentials are sent.
import { bad, ok, type CommandSpec } from './types.ts';

export const starttls: CommandSpec = {
  name: 'STARTTLS',
  states: ['not-authenticated'],
  schema: [],
  async handler(s) {
    if (s.secure) return bad('TLS is already active');
    return { ...ok('Begin TLS negotiation now'), after: () => s.startTls() };
  },
};
