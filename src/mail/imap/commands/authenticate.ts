// AUTHENTICATE, RFC 3501 §6.2.2, with the PLAIN mechanism (RFC 4616) and an initial response (SASL-IR, RFC 4959); only over TLS.
import { authenticate as checkPassword } from '../../accounts.ts';
import { bad, no, ok, type CommandSpec } from './types.ts';

/** RFC 4616 §2: [authzid] NUL authcid NUL passwd; undefined when malformed. */
export function decodePlain(b64: string): { authzid: string; user: string; password: string } | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined;
  const parts = Buffer.from(b64, 'base64').toString('utf8').split('\0');
  if (parts.length !== 3) return undefined;
  return { authzid: parts[0], user: parts[1], password: parts[2] };
}

export const authenticate: CommandSpec = {
  name: 'AUTHENTICATE',
  states: ['not-authenticated'],
  schema: ['atom', 'atom?'],
  async handler(s, [mechanism, initial]) {
    if ((mechanism as string).toUpperCase() !== 'PLAIN') return no(`Unsupported mechanism ${(mechanism as string).slice(0, 20)}`);
    if (!s.secure) return no('Authentication is disabled before STARTTLS', 'PRIVACYREQUIRED');
    let response = initial as string | undefined;
    // RFC 4959 §3: "=" is an empty initial response.
    if (response === '=') response = '';
    if (response === undefined) {
      await s.send('+ ');
      const line = await s.readLine();
      if (line === undefined) return no('Connection closed');
      // RFC 3501 §6.2.2: "*" cancels the exchange.
      if (line.trim() === '*') return bad('Authentication cancelled');
      response = line.trim();
    }
    const creds = decodePlain(response);
    if (!creds) return bad('Malformed PLAIN response');
    // We act for nobody else: an authorization identity must be the account itself.
    const principal = !creds.authzid || creds.authzid === creds.user ? await checkPassword(s.store.accounts, creds.user, creds.password) : undefined;
    if (!principal) {
      s.authFailed('PLAIN');
      return no('Invalid credentials', 'AUTHENTICATIONFAILED');
    }
    s.loggedIn(principal, 'PLAIN');
    return ok('Authenticated', `CAPABILITY ${s.capabilities().join(' ')}`);
  },
};
