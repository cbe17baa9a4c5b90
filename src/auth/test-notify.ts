// Test stand-in for notify's send API (POST /api/v1/notifications/send, SPEC §2): records what auth sends, answers like notify, can go down and come back on the same port.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { NotifySendRequest } from './notify-client.ts';

export type RecordedEmail = NotifySendRequest & { receivedAt: number; serviceKey: string | undefined; notificationId: string };

export type NotifyRecorder = {
  url: string;
  /** Every accepted request, first first; a duplicate externalId is answered but not recorded twice. */
  emails: RecordedEmail[];
  /** Number of POSTs seen, duplicates included. */
  posts: number;
  /** Resolves with the first recorded email matching `match`, waiting up to `timeoutMs`. */
  waitFor(match: (e: RecordedEmail) => boolean, timeoutMs?: number): Promise<RecordedEmail>;
  /** Stops listening (connections refused) until start() is called. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
};

/** The link in an email's data or body, e.g. linkOf(e) -> http://127.0.0.1:1234/verify?token=... */
export function linkOf(e: NotifySendRequest): string {
  const d = (e.data ?? {}) as Record<string, string>;
  const url = d.confirmUrl || d.verificationUrl || d.resetUrl || d.inviteUrl || d.url;
  if (!url) throw new Error(`no link in ${e.template} email`);
  return url;
}

export async function startNotifyRecorder(options: { serviceKey: string; port?: number }): Promise<NotifyRecorder> {
  const emails: RecordedEmail[] = [];
  const byExternalId = new Map<string, string>();
  const waiters = new Set<() => void>();
  let posts = 0;
  let port = options.port ?? 0;
  let server: Server | undefined;

  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body) + '\n');
      };
      if (req.method !== 'POST' || req.url !== '/api/v1/notifications/send') return send(404, { error: 'not found' });
      const key = req.headers['x-service-key'];
      if (key !== options.serviceKey) return send(401, { error: 'unauthorized: invalid service key' });
      posts++;
      let body: NotifySendRequest;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return send(400, { success: false, error: { statusCode: 400, message: 'invalid request body' } });
      }
      if (body.externalId && byExternalId.has(body.externalId)) {
        return send(200, { notification: { id: byExternalId.get(body.externalId), status: 'existing' }, deduplicated: true });
      }
      const id = randomUUID();
      if (body.externalId) byExternalId.set(body.externalId, id);
      emails.push({ ...body, receivedAt: Date.now(), serviceKey: typeof key === 'string' ? key : undefined, notificationId: id });
      for (const w of waiters) w();
      send(202, { notification: { id, status: 'pending' } });
    });
  };

  async function start(): Promise<void> {
    if (server) return;
    const s = createServer(handler);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen({ port, host: '127.0.0.1' }, () => resolve());
    });
    port = (s.address() as AddressInfo).port;
    server = s;
  }

  async function stop(): Promise<void> {
    const s = server;
    if (!s) return;
    server = undefined;
    await new Promise<void>((r) => {
      s.close(() => r());
      s.closeAllConnections();
    });
  }

  await start();
  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    emails,
    get posts() {
      return posts;
    },
    waitFor(match, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = emails.find(match);
          if (!found) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(Object.assign(new Error(`no matching email within ${timeoutMs} ms (have ${emails.length}: ${emails.map((e) => `${e.template}->${e.recipient}`).join(', ')})`), { code: 'test.no_email' }));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    stop,
    start,
    close: stop,
  };
}
