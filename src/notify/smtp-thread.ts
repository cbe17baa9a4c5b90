// Email composition (RFC 5322, MIME per RFC 2045/2046) and SMTP submission (RFC 5321, RFC 4954) for notify on a worker thread: the same composeEmail and pooled sender, taken off the event loop that accepts requests.
//
// The thread owns the nodemailer transports and composes messages; the caller keeps the queue,
// the failover decisions and the logs. Results and failures come back as plain values: a
// compose.* error keeps its code, an SMTP failure comes back as an SmtpSendError with the same
// kind, code, provider and response code, so everything above behaves as with the in-process
// sender. If the thread dies, what it had in hand fails as a transient error (retried later) and
// the next call starts a new thread; if it cannot start at all, the work is done in-process.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { Logger } from '../lib/log.ts';
import { composeEmail, type ComposedEmail, type ComposeOptions } from './compose.ts';
import { createSmtpSender, isConfigured, NOT_CONFIGURED, SmtpSendError, type OutgoingMessage, type SmtpAccepted, type SmtpSender, type SmtpProvider, type SmtpTimeouts } from './smtp-provider.ts';

const ROLE = 'mana-notify-smtp';

export type SenderOptions = { name: string; provider: Partial<SmtpProvider>; timeouts?: SmtpTimeouts; maxConnections?: number; clientName?: string };

type Request =
  | { op: 'compose'; id: number; options: ComposeOptions }
  | { op: 'open'; sender: number; options: SenderOptions }
  | { op: 'send'; id: number; sender: number; envelope: OutgoingMessage['envelope']; raw: Uint8Array }
  | { op: 'probe'; id: number; sender: number }
  | { op: 'close'; sender: number };

type WireError = { message: string; code?: string; kind?: SmtpSendError['kind']; provider?: string; responseCode?: number };
type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireError };

/** A copy in an ArrayBuffer of its own, so it can be transferred without detaching Node's shared buffer pool. */
function ownBytes(buf: Uint8Array): Uint8Array {
  const copy = new Uint8Array(buf.byteLength);
  copy.set(buf);
  return copy;
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) {
  const senders = new Map<number, SmtpSender>();
  const port = parentPort!;
  const fail = (id: number, err: unknown) => {
    const e = err as Partial<SmtpSendError> & { message?: string };
    const error: WireError = { message: e?.message ?? String(err) };
    if (typeof e?.code === 'string') error.code = e.code;
    if (err instanceof SmtpSendError) {
      error.kind = err.kind;
      error.provider = err.provider;
      if (err.responseCode !== undefined) error.responseCode = err.responseCode;
    }
    port.postMessage({ id, ok: false, error } satisfies Reply);
  };
  port.on('message', (req: Request) => {
    switch (req.op) {
      case 'compose':
        composeEmail(req.options).then((c) => {
          const raw = ownBytes(c.raw);
          port.postMessage({ id: req.id, ok: true, value: { raw, messageId: c.messageId, envelope: c.envelope } } satisfies Reply, [raw.buffer as ArrayBuffer]);
        }, (err) => fail(req.id, err));
        return;
      case 'open':
        senders.get(req.sender)?.close();
        senders.set(req.sender, createSmtpSender(req.options));
        return;
      case 'send': {
        const sender = senders.get(req.sender);
        if (!sender) return fail(req.id, new Error('smtp sender not open'));
        const raw = Buffer.from(req.raw.buffer, req.raw.byteOffset, req.raw.byteLength);
        sender.send({ envelope: req.envelope, raw }).then((accepted) => port.postMessage({ id: req.id, ok: true, value: accepted } satisfies Reply), (err) => fail(req.id, err));
        return;
      }
      case 'probe': {
        const sender = senders.get(req.sender);
        if (!sender) return port.postMessage({ id: req.id, ok: true, value: false } satisfies Reply);
        sender.probe().then((ok) => port.postMessage({ id: req.id, ok: true, value: ok } satisfies Reply), (err) => fail(req.id, err));
        return;
      }
      case 'close':
        senders.get(req.sender)?.close();
        senders.delete(req.sender);
        return;
    }
  });
  // Loaded and listening: from now on a failure of the thread is a crash, not a failure to start.
  port.postMessage({ ready: true });
}

export type SmtpThread = {
  /** composeEmail on the thread. */
  compose(options: ComposeOptions): Promise<ComposedEmail>;
  /** A sender like createSmtpSender's whose transport lives on the thread. */
  sender(options: SenderOptions): SmtpSender;
  /** Closes the senders and stops the thread; calls afterwards fail. */
  close(): Promise<void>;
};

type Pending = { resolve: (value: unknown) => void; reject: (err: unknown) => void; provider?: string; inProcess: () => Promise<unknown> };

/**
 * Starts the thread on first use. A thread that cannot start at all (e.g. the process was run
 * with flags a worker cannot take) is not retried: everything then runs in-process, as without
 * the thread, including what was already handed to it.
 */
export function startSmtpThread(options: { log?: Logger; /** Flags for the thread (default: the process's, less entry-script-only ones). */ execArgv?: string[] } = {}): SmtpThread {
  let worker: Worker | undefined;
  let online = false;
  let inProcess = false;
  let closed = false;
  let nextId = 1;
  let nextSender = 1;
  const pending = new Map<number, Pending>();
  const opened = new Map<number, SenderOptions>();
  const local = new Map<number, SmtpSender>();

  function stopped(err: Error): void {
    worker = undefined;
    const waiting = [...pending.values()];
    pending.clear();
    if (!online && !closed) {
      inProcess = true;
      options.log?.warn({ err }, 'smtp thread could not start, composing and sending in-process');
      for (const p of waiting) p.inProcess().then(p.resolve, p.reject);
      return;
    }
    for (const p of waiting) {
      p.reject(p.provider !== undefined
        ? new SmtpSendError({ message: `smtp thread stopped: ${err.message}`, kind: 'transient', code: 'smtp.transient', provider: p.provider, cause: err })
        : Object.assign(new Error(`smtp thread stopped: ${err.message}`, { cause: err }), { code: 'smtp_thread.stopped' }));
    }
  }

  function thread(): Worker {
    if (worker) return worker;
    // The worker takes the process's flags, less those only an entry script can have.
    const execArgv = options.execArgv ?? process.execArgv.filter((a) => !a.startsWith('--input-type') && a !== '--eval' && a !== '-e');
    const w = new Worker(new URL(import.meta.url), { workerData: { role: ROLE }, execArgv });
    w.on('message', (reply: Reply | { ready: true }) => {
      if ('ready' in reply) {
        online = true;
        return;
      }
      const p = pending.get(reply.id);
      if (!p) return;
      pending.delete(reply.id);
      if (pending.size === 0) w.unref();
      if (reply.ok) return p.resolve(reply.value);
      const e = reply.error;
      if (e.kind !== undefined) {
        p.reject(new SmtpSendError({ message: e.message, kind: e.kind, code: e.code ?? `smtp.${e.kind}`, provider: e.provider ?? p.provider ?? '', ...(e.responseCode !== undefined ? { responseCode: e.responseCode } : {}) }));
      } else {
        p.reject(Object.assign(new Error(e.message), e.code !== undefined ? { code: e.code } : {}));
      }
    });
    w.on('error', (err) => {
      if (worker === w) stopped(err as Error);
    });
    w.on('exit', (code) => {
      if (worker === w) stopped(new Error(`exited with code ${code}`));
    });
    w.unref();
    worker = w;
    for (const [sender, o] of opened) w.postMessage({ op: 'open', sender, options: o } satisfies Request);
    return w;
  }

  function call<T>(o: { make: (id: number) => Request; transfer?: ArrayBuffer[]; provider?: string; inProcess: () => Promise<T> }): Promise<T> {
    if (closed) return Promise.reject(Object.assign(new Error('smtp thread closed'), { code: 'smtp_thread.closed' }));
    if (inProcess) return o.inProcess();
    return new Promise<T>((resolve, reject) => {
      let w: Worker;
      try {
        w = thread();
      } catch (err) {
        inProcess = true;
        options.log?.warn({ err }, 'smtp thread could not start, composing and sending in-process');
        o.inProcess().then(resolve, reject);
        return;
      }
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject, inProcess: o.inProcess, ...(o.provider !== undefined ? { provider: o.provider } : {}) });
      w.ref();
      w.postMessage(o.make(id), o.transfer ?? []);
    });
  }

  /** The in-process twin of a thread sender, made when first needed. */
  function localSender(sender: number, o: SenderOptions): SmtpSender {
    let s = local.get(sender);
    if (!s) {
      s = createSmtpSender(o);
      local.set(sender, s);
    }
    return s;
  }

  return {
    async compose(o) {
      const c = await call<{ raw: Uint8Array; messageId: string; envelope: ComposedEmail['envelope'] }>({
        make: (id) => ({ op: 'compose', id, options: o }),
        inProcess: () => composeEmail(o),
      });
      return { raw: Buffer.from(c.raw.buffer, c.raw.byteOffset, c.raw.byteLength), messageId: c.messageId, envelope: c.envelope };
    },

    sender(o) {
      // The same fields as the in-process sender (createSmtpSender), whose transport lives on the thread.
      const { provider } = o;
      const configured = isConfigured(provider);
      const port = provider.port || 587;
      const sender = nextSender++;
      opened.set(sender, o);
      worker?.postMessage({ op: 'open', sender, options: o } satisfies Request);
      return {
        name: o.name,
        configured,
        host: provider.host ?? '',
        port,
        secure: provider.secure ?? port === 465,
        from: provider.from,
        async send(message: OutgoingMessage): Promise<SmtpAccepted> {
          if (!configured) throw new SmtpSendError({ message: NOT_CONFIGURED, kind: 'config', code: 'smtp.not_configured', provider: o.name });
          const raw = ownBytes(message.raw);
          return call<SmtpAccepted>({
            make: (id) => ({ op: 'send', id, sender, envelope: message.envelope, raw }),
            transfer: [raw.buffer as ArrayBuffer],
            provider: o.name,
            inProcess: () => localSender(sender, o).send(message),
          });
        },
        async probe(): Promise<boolean> {
          if (!configured) return false;
          return call<boolean>({ make: (id) => ({ op: 'probe', id, sender }), provider: o.name, inProcess: () => localSender(sender, o).probe() }).catch(() => false);
        },
        close(): void {
          opened.delete(sender);
          worker?.postMessage({ op: 'close', sender } satisfies Request);
          local.get(sender)?.close();
          local.delete(sender);
        },
      };
    },

    async close() {
      closed = true;
      for (const s of local.values()) s.close();
      local.clear();
      const w = worker;
      worker = undefined;
      if (!w) return;
      for (const sender of opened.keys()) w.postMessage({ op: 'close', sender } satisfies Request);
      opened.clear();
      stopped(new Error('closed'));
      await w.terminate();
    },
  };
}
