// What every service receives when it starts, and what it hands back: the seam between main.ts and mail, notify, auth.
import type { Config } from '../config/schema.ts';
import type { Store } from '../store/store.ts';
import type { Logger } from '../lib/log.ts';
import type { RuntimeSecrets } from './secrets.ts';

export type ServiceContext = {
  config: Readonly<Config>;
  store: Store;
  log: Logger;
  secrets: RuntimeSecrets;
  /** Prints `listening  <name>  <url>` on stdout, once per listener. */
  announce(name: string, url: string): void;
};

export type RunningService = {
  name: 'mail' | 'notify' | 'auth';
  /** Listener name -> URL, e.g. { 'notify-http': 'http://127.0.0.1:3013' }. */
  urls: Record<string, string>;
  close(): Promise<void>;
};

/** The URL a listener announces: the wildcard address becomes localhost, so the line can be pasted. */
export function listenerUrl(scheme: string, host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `${scheme}://${shown}:${port}`;
}
