// LOGIN, RFC 3501 §6.2.3: account name and password, only over TLS (LOGINDISABLED before STARTTLS); failures count toward auto-ban.
import { authenticate } from '../../accounts.ts';
import { no, ok, type CommandSpec } from './types.ts';

export const login: CommandSpec = {
  name: 'LOGIN',
  states: ['not-authenticated'],
  schema: ['astring', 'astring'],
  async handler(s, [user, password]) {
    // RFC 3501 §6.2.3 + RFC 5530 PRIVACYREQUIRED: no clear-text passwords on an unencrypted connection.
    if (!s.secure) return no('LOGIN is disabled before STARTTLS', 'PRIVACYREQUIRED');
    const principal = await authenticate(s.store.accounts, user as string, password as string);
    if (!principal) {
      s.authFailed('LOGIN');
      return no('Invalid credentials', 'AUTHENTICATIONFAILED');
    }
    s.loggedIn(principal, 'LOGIN');
    return ok('LOGIN completed', `CAPABILITY ${s.capabilities().join(' ')}`);
  },
};
