// Test support: verify DKIM signatures (RFC 6376, RFC 8463 Ed25519) with dkimpy, an independent implementation, under /usr/bin/python3.
import { spawn } from 'node:child_process';
import type { KeyObject } from 'node:crypto';

// Debian's interpreter: the python3 on PATH (pyenv) has no dkim module.
const PYTHON = '/usr/bin/python3';

export type DkimpyResult = {
  /** Position of the DKIM-Signature header field, 0 = topmost. */
  index: number;
  domain: string;
  selector: string;
  ok: boolean;
  /** Why it failed: dkimpy's exception or its last logged error (no key, bad key record...). */
  error: string | undefined;
  /** TXT names dkimpy asked for, as it asked (with the trailing dot). */
  queries: string[];
};

const SCRIPT = String.raw`
import base64, json, logging, re, sys
import dkim

req = json.load(sys.stdin)
message = base64.b64decode(req["message"])
records = {}
for name, value in req["records"].items():
    records[name.lower().rstrip(".")] = value.encode()

queries = []

def dnsfunc(name, timeout=5):
    # dkimpy asks with bytes ending in a dot: b"sel._domainkey.example.com."
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    queries.append(name)
    return records.get(name.lower().rstrip("."))

class Collect(logging.Handler):
    def __init__(self):
        logging.Handler.__init__(self, logging.WARNING)
        self.lines = []
    def emit(self, record):
        self.lines.append(record.getMessage())


def tag(value, key):
    m = re.search(rb"(?:^|;)\s*" + key + rb"\s*=\s*([^;]*)", value)
    return re.sub(rb"\s+", b"", m.group(1)).decode("ascii", "replace") if m else ""

out = []
headers = [v for n, v in dkim.DKIM(message).headers if n.lower() == b"dkim-signature"]
for i in range(len(headers)):
    collect = Collect()
    log = logging.getLogger("dkimpy-bridge-%d" % i)
    log.addHandler(collect)
    log.propagate = False
    del queries[:]
    d = dkim.DKIM(message, logger=log)
    entry = {"index": i, "domain": tag(headers[i], b"d"), "selector": tag(headers[i], b"s"), "ok": False, "error": None}
    try:
        entry["ok"] = bool(d.verify(idx=i, dnsfunc=dnsfunc))
    except Exception as e:
        entry["error"] = "%s: %s" % (type(e).__name__, e)
    if not entry["ok"] and entry["error"] is None and collect.lines:
        entry["error"] = collect.lines[-1]
    entry["queries"] = list(queries)
    out.append(entry)
json.dump(out, sys.stdout)
`;

/**
 * Verifies every DKIM-Signature in `raw` with dkimpy. `txtRecords` answers its key lookups:
 * `{ 'sel._domainkey.example.com': 'v=DKIM1; k=ed25519; p=...' }` (trailing dot optional).
 * A name not in the map has no TXT record.
 */
export function dkimpyVerify(
  raw: Buffer | string,
  txtRecords: Record<string, string>,
  options: { timeoutMs?: number } = {},
): Promise<DkimpyResult[]> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const input = JSON.stringify({ message: Buffer.from(raw).toString('base64'), records: txtRecords });
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`cannot run ${PYTHON}: ${err.message}`), { code: 'test.dkimpy_missing', cause: err }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        const why = signal === 'SIGKILL' ? `timed out after ${timeoutMs} ms` : stderr.trim().split('\n').slice(-3).join(' | ');
        reject(Object.assign(new Error(`dkimpy failed: ${why}`), { code: 'test.dkimpy_failed' }));
        return;
      }
      const parsed = JSON.parse(stdout) as (Omit<DkimpyResult, 'error'> & { error: string | null })[];
      resolve(parsed.map((r) => ({ ...r, error: r.error ?? undefined })));
    });
    child.stdin.on('error', () => {
      // A failed start surfaces through 'error' / 'close'.
    });
    child.stdin.end(input);
  });
}

/** The DKIM key record (RFC 6376 §3.6.1; Ed25519 keys as the raw 32 bytes, RFC 8463 §4.2) for a public key. */
export function dkimTxtRecord(publicKey: KeyObject): string {
  const type = publicKey.asymmetricKeyType;
  if (type === 'ed25519') {
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    return `v=DKIM1; k=ed25519; p=${spki.subarray(spki.length - 32).toString('base64')}`;
  }
  if (type === 'rsa') {
    return `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
  }
  throw Object.assign(new Error(`DKIM has no key type for ${type}`), { code: 'test.dkim_key_type' });
}
