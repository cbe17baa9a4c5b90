// Two adjustments to smtp-server's connection: replies that carry their own RFC 3463 enhanced code keep it, and the greeting delay is configurable.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;
let applied = false;

/**
 * smtp-server derives the enhanced status code from the reply code alone (550 -> 5.1.1), so
 * "550 5.7.1 Relay not allowed" would come out as "550 5.1.1 5.7.1 ...". A reply text that starts
 * with its own code is sent as it is (RFC 3463 §2: the code follows the reply code).
 * The 100 ms early-talker wait before the greeting becomes the server option `greetingDelay`.
 * AUTH is left out of the EHLO reply before TLS when it would be refused there.
 */
export function patchSmtpServer(): void {
  if (applied) return;
  applied = true;
  const proto = (SMTPConnection as any).prototype;
  const send = proto.send;
  proto.send = function (this: any, code: number, data: unknown, context: unknown) {
    if (typeof data === 'string' && ENHANCED.test(data)) return send.call(this, code, data, false);
    return send.call(this, code, data, context);
  };
  // RFC 4954 §4 / RFC 3207 §4.2: AUTH is not offered where it cannot be used, i.e. before STARTTLS when plaintext AUTH is off.
  const ehlo = proto.handler_EHLO;
  const isSupported = proto._isSupported;
  proto._isSupported = function (this: any, command: unknown) {
    if (this._listingBeforeTls && String(command).trim().toUpperCase() === 'AUTH') return false;
    return isSupported.call(this, command);
  };
  proto.handler_EHLO = function (this: any, command: unknown, callback: () => void) {
    this._listingBeforeTls = !this.secure && !this._server.options.allowInsecureAuth;
    try {
      return ehlo.call(this, command, callback);
    } finally {
      this._listingBeforeTls = false;
    }
  };
  proto.init = function (this: any) {
    this._setListeners(() => {
      const max = this._server.options.maxClients;
      if (max && this._server.connections.size > max) {
        return this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
      }
      const delay = this._server.options.greetingDelay ?? 100;
      if (delay <= 0) return this.connectionReady();
      setTimeout(() => this.connectionReady(), delay).unref();
    });
  };
}
