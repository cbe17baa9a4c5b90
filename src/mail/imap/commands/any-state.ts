// Commands valid in any state, RFC 3501 §6.1: CAPABILITY, NOOP, LOGOUT; and ID (RFC 2971), which clients send to name themselves.
import { ok, type CommandSpec } from './types.ts';

const ALL = ['not-authenticated', 'authenticated', 'selected'] as const;

export const capability: CommandSpec = {
  name: 'CAPABILITY',
  states: [...ALL],
  schema: [],
  async handler(s) {
    await s.send(`CAPABILITY ${s.capabilities().join(' ')}`);
    return ok('CAPABILITY completed');
  },
};

/** NOOP (§6.1.2) and CHECK (§6.4.1): nothing to do but report changes, which the session does after every command. */
export const noop: CommandSpec = { name: 'NOOP', states: [...ALL], schema: [], handler: async () => ok('NOOP completed') };
export const check: CommandSpec = { name: 'CHECK', states: ['selected'], schema: [], handler: async () => ok('CHECK completed') };

export const logout: CommandSpec = {
  name: 'LOGOUT',
  states: [...ALL],
  schema: [],
  async handler(s) {
    await s.send('BYE mana IMAP4rev1 server logging out');
    s.selected = undefined;
    s.state = 'logout';
    return ok('LOGOUT completed');
  },
};

/** RFC 2971: the client's parameters are ignored (and never logged); we name ourselves. */
export const id: CommandSpec = {
  name: 'ID',
  states: [...ALL],
  schema: ['any'],
  async handler(s) {
    await s.send('ID ("name" "mana")');
    return ok('ID completed');
  },
};
