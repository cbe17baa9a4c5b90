// DKIM signing (RFC 6376, RFC 8463) on worker threads: the same signer as sign.ts, with the RSA and Ed25519 work taken off the event loop that serves SMTP.
//
// The worker gets the message and the keys, signs with createDkimSigner() and sends back only the
// DKIM-Signature header fields; the caller prepends them, so the result is byte-identical to signing
// in-process (sign-pool.test.ts checks that). If no worker can run, signing happens in-process.
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createDkimSigner, type DkimSigner, type DkimSigningKey } from './sign.ts';

const ROLE = 'mana-dkim-signer';

type Request = { id: number; raw: Uint8Array; keys: DkimSigningKey[] };
type Reply = { id: number; headers: string } | { id: number; error: { code: string; message: string } };

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) {
  const signer = createDkimSigner();
  parentPort!.on('message', (req: Request) => {
    const raw = Buffer.from(req.raw.buffer, req.raw.byteOffset, req.raw.byteLength);
    signer.sign({ raw, keys: req.keys }).then(
      (signed) => parentPort!.postMessage({ id: req.id, headers: signed.subarray(0, signed.length - raw.length).toString('latin1') } satisfies Reply),
      (err: Error & { code?: string }) => parentPort!.postMessage({ id: req.id, error: { code: err.code ?? 'dkim.sign_failed', message: err.message } } satisfies Reply),
    );
  });
}

export type DkimSignerPool = DkimSigner & {
  /** Stops the workers; signing continues in-process afterwards. */
  close(): Promise<void>;
};

export type DkimSignerPoolOptions = {
  /** Worker threads; default: one per spare core (cores - 1), at least 1, at most 4. 0 signs in-process. */
  threads?: number;
};

type Pending = { resolve: (headers: string) => void; reject: (err: Error) => void };
type Slot = { worker: Worker; pending: Map<number, Pending> };

export function createDkimSignerPool(options: DkimSignerPoolOptions = {}): DkimSignerPool {
  const inline = createDkimSigner();
  const threads = options.threads ?? Math.max(1, Math.min(4, availableParallelism() - 1));
  const slots: Slot[] = [];
  let nextId = 1;
  let turn = 0;

  const fail = (slot: Slot, err: Error) => {
    const i = slots.indexOf(slot);
    if (i >= 0) slots.splice(i, 1);
    for (const p of slot.pending.values()) p.reject(Object.assign(new Error(`DKIM signing thread failed: ${err.message}`, { cause: err }), { code: 'dkim.worker_failed' }));
    slot.pending.clear();
  };

  for (let i = 0; i < threads; i++) {
    let worker: Worker;
    try {
      worker = new Worker(new URL(import.meta.url), { workerData: { role: ROLE } });
    } catch {
      break;
    }
    const slot: Slot = { worker, pending: new Map() };
    worker.on('message', (reply: Reply) => {
      const p = slot.pending.get(reply.id);
      if (!p) return;
      slot.pending.delete(reply.id);
      if ('error' in reply) p.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
      else p.resolve(reply.headers);
      if (!slot.pending.size) worker.unref();
    });
    worker.on('error', (err) => fail(slot, err as Error));
    worker.on('exit', (code) => fail(slot, new Error(`exited with code ${code}`)));
    worker.unref();
    slots.push(slot);
  }

  return {
    async sign({ raw, keys }) {
      if (keys.length === 0) return raw;
      if (!slots.length) return inline.sign({ raw, keys });
      // The least busy thread, ties in turn.
      let slot = slots[turn++ % slots.length];
      for (const s of slots) if (s.pending.size < slot.pending.size) slot = s;
      const id = nextId++;
      const headers = await new Promise<string>((resolve, reject) => {
        slot.pending.set(id, { resolve, reject });
        slot.worker.ref();
        slot.worker.postMessage({ id, raw, keys } satisfies Request);
      });
      return Buffer.concat([Buffer.from(headers, 'latin1'), raw]);
    },
    async close() {
      const all = slots.splice(0);
      await Promise.all(all.map((s) => s.worker.terminate()));
    },
  };
}
