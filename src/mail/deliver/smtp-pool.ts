// Outbound SMTP connection reuse: several transactions per connection with RSET between them (RFC 5321 §4.1.1.5, §3.3), capped per destination.
import type { Readable } from 'node:stream';
import { fromFailure } from './reply.ts';
import { openSession, type DeliverOptions, type DeliveryResult, type SessionFailure, type SmtpSession } from './smtp-client.ts';

export type SmtpPoolOptions = {
  /** Connections open at once to one destination (address, port, host name, HELO name, TLS mode, AUTH user). Default 2. */
  maxPerHost?: number;
  /** An idle connection is closed (QUIT) after this long. Default 30 s. */
  idleMs?: number;
  /** A connection is closed after this many messages. Default 100. */
  maxMessagesPerConnection?: number;
};

export type SmtpPool = {
  /** Like deliverToHost, over a reused connection when one is idle. Never throws. */
  deliver: (options: DeliverOptions) => Promise<DeliveryResult>;
  /** Connections opened so far, and those now idle or busy. */
  stats: () => { opened: number; idle: number; busy: number };
  /** QUITs idle connections, refuses new deliveries, closes busy connections when they finish. */
  close: () => Promise<void>;
};

/** `clean`: the last transaction ended with the reply to its data, so the session is ready for MAIL (RFC 5321 §4.1.4). */
type Idle = { session: SmtpSession; timer: NodeJS.Timeout; since: number; clean: boolean };

/** A session parked this recently after a completed transaction is used again without the RSET probe. */
const FRESH_MS = 1000;
type Destination = { idle: Idle[]; busy: number; waiters: Array<() => void> };

function destinationKey(options: DeliverOptions): string {
  // Connections are shared only between deliveries that would have opened the same one (same TLS demands, same login).
  return JSON.stringify([options.address, options.port ?? 25, options.host.toLowerCase(), options.heloName, options.tls, options.implicitTls === true, options.auth?.user ?? '', options.localAddress ?? '']);
}

function failedDelivery(options: DeliverOptions, failure: SessionFailure): DeliveryResult {
  return {
    tls: null,
    recipients: [...new Set(options.envelope.to)].map((rcpt) => fromFailure(rcpt, failure)),
    remote: { host: options.host, address: options.address, port: options.port ?? 25 },
    failure,
    tlsFallback: false,
    reused: false,
  };
}

function ended(session: SmtpSession, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      session.close();
      resolve();
    }, graceMs);
    session.onEnd(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export function createSmtpPool(options: SmtpPoolOptions = {}): SmtpPool {
  const maxPerHost = Math.max(1, options.maxPerHost ?? 2);
  const idleMs = options.idleMs ?? 30_000;
  const maxMessages = Math.max(1, options.maxMessagesPerConnection ?? 100);
  const destinations = new Map<string, Destination>();
  const closing = new Set<Promise<void>>();
  let opened = 0;
  let closed = false;

  const destinationFor = (key: string): Destination => {
    let d = destinations.get(key);
    if (d === undefined) {
      d = { idle: [], busy: 0, waiters: [] };
      destinations.set(key, d);
    }
    return d;
  };

  /** Lets one waiting delivery look again, and forgets a destination nobody uses any more. */
  const wakeOne = (key: string, d: Destination) => {
    const waiter = d.waiters.shift();
    if (waiter !== undefined) waiter();
    else if (d.busy === 0 && d.idle.length === 0 && destinations.get(key) === d) destinations.delete(key);
  };

  const retire = (session: SmtpSession) => {
    session.quit();
    const done = ended(session, 5_000).then(() => {
      closing.delete(done);
    });
    closing.add(done);
  };

  const park = (key: string, d: Destination, session: SmtpSession, clean: boolean) => {
    const entry: Idle = {
      session,
      since: Date.now(),
      clean,
      timer: setTimeout(() => {
        d.idle = d.idle.filter((i) => i !== entry);
        retire(session);
        wakeOne(key, d);
      }, idleMs),
    };
    d.idle.push(entry);
    // The server may close an idle connection at any time (RFC 5321 §4.5.3.2.7); forget it then.
    session.onEnd(() => {
      if (!d.idle.includes(entry)) return;
      clearTimeout(entry.timer);
      d.idle = d.idle.filter((i) => i !== entry);
      wakeOne(key, d);
    });
  };

  /** Waits for a connection to reuse or room for a new one; null when the pool closed or the caller aborted. */
  async function acquire(d: Destination, signal: AbortSignal | undefined): Promise<SmtpSession | 'open' | null> {
    for (;;) {
      if (closed || signal?.aborted) return null;
      const idle = d.idle.pop();
      if (idle !== undefined) {
        clearTimeout(idle.timer);
        d.busy++;
        // RSET probes a connection that sat idle or whose last transaction did not complete; a busy stream of
        // messages goes straight on to the next MAIL, as within one session (saves a round trip per message).
        const fresh = idle.clean && Date.now() - idle.since < FRESH_MS;
        if (idle.session.usable() && (fresh || (await idle.session.reset()))) return idle.session;
        idle.session.close();
        d.busy--;
        continue;
      }
      if (d.busy + d.idle.length < maxPerHost) {
        d.busy++;
        return 'open';
      }
      await new Promise<void>((resolve) => {
        const onAbort = () => {
          d.waiters = d.waiters.filter((w) => w !== wake);
          resolve();
        };
        const wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        d.waiters.push(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  async function deliver(deliverOptions: DeliverOptions): Promise<DeliveryResult> {
    const key = destinationKey(deliverOptions);
    const d = destinationFor(key);
    const acquired = await acquire(d, deliverOptions.signal);
    if (acquired === null) {
      return failedDelivery(deliverOptions, closed ? { stage: 'connect', status: 'deferred', code: 0, enhanced: '4.4.2', text: 'connection pool closed' } : { stage: 'aborted', status: 'deferred', code: 0, enhanced: '4.4.2', text: 'delivery aborted' });
    }
    let session: SmtpSession;
    if (acquired === 'open') {
      const result = await openSession(deliverOptions);
      if (!('send' in result)) {
        d.busy--;
        wakeOne(key, d);
        return failedDelivery(deliverOptions, result);
      }
      opened++;
      session = result;
    } else {
      session = acquired;
    }

    let result: DeliveryResult;
    try {
      result = await session.send(deliverOptions.envelope, deliverOptions.raw as Buffer | Readable, deliverOptions.signal);
    } finally {
      d.busy--;
    }
    const broken = result.failure !== null && (result.failure.stage === 'connection' || result.failure.stage === 'aborted');
    const clean = result.failure === null && result.recipients.some((r) => r.status === 'delivered');
    if (!closed && !broken && session.usable() && session.messages < maxMessages) park(key, d, session, clean);
    else retire(session);
    wakeOne(key, d);
    return result;
  }

  return {
    deliver,
    stats: () => {
      let idle = 0;
      let busy = 0;
      for (const d of destinations.values()) {
        idle += d.idle.length;
        busy += d.busy;
      }
      return { opened, idle, busy };
    },
    async close() {
      closed = true;
      for (const d of destinations.values()) {
        for (const entry of d.idle.splice(0)) {
          clearTimeout(entry.timer);
          retire(entry.session);
        }
        for (const wake of d.waiters.splice(0)) wake();
      }
      await Promise.all([...closing]);
    },
  };
}
