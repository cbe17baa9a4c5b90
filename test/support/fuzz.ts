// Seeded, deterministic fuzzing for the parser tests (*.fuzz.test.ts): a small PRNG (mulberry32), mutations of seed inputs, and a loop that names the seed of a failure.
// Replay one failing case with FUZZ_SEED=<seed> FUZZ_ITERATIONS=1; run longer with FUZZ_ITERATIONS=100000.

/** mulberry32: a 32-bit state PRNG, enough for fuzzing (not for anything secret). Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Rng = {
  /** An integer in [0, n). */
  int(n: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  bytes(n: number): Buffer;
};

export function rng(seed: number): Rng {
  const next = mulberry32(seed);
  const int = (n: number) => Math.floor(next() * n);
  return {
    int,
    chance: (p) => next() < p,
    pick: (items) => items[int(items.length)],
    bytes: (n) => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = int(256);
      return b;
    },
  };
}

/** Tokens that parsers of mail, MIME, IMAP and XML give a meaning to. */
export const INTERESTING = ['\r\n', '\r\n\r\n', '\r', '\n', '--', '=?utf-8?b?', '?=', ';', '"', '\\', '(', ')', '<', '>', '{', '}', '*', '%', '\x00', ':', '=', ' ', '\t', '[', ']', '@', '\xff'];

/** Length of the long runs mutations insert: long enough to show a quadratic scan, short enough for a linear one to stay fast. */
export const LONG_RUN = 100_000;

export type MutateOptions = {
  /** Tokens inserted besides INTERESTING. */
  tokens?: readonly string[];
  /** Largest number of mutations applied (at least one is). Default 4. */
  maxOps?: number;
  /** Probability that one of the mutations is a LONG_RUN-long run of one character. Default 0.05. */
  longRun?: number;
};

/**
 * A copy of `input` with 1..maxOps of: truncation at a random point, byte flips, insertion of random bytes, of an
 * interesting token, a deletion, a duplicated span, and (rarely) a LONG_RUN-long run of one interesting character.
 */
export function mutate(r: Rng, input: Buffer, options: MutateOptions = {}): Buffer {
  const tokens = options.tokens ? [...INTERESTING, ...options.tokens] : INTERESTING;
  let b = Buffer.from(input);
  const at = () => r.int(b.length + 1);
  const insert = (i: number, what: Buffer) => { b = Buffer.concat([b.subarray(0, i), what, b.subarray(i)]); };
  const ops = 1 + r.int(options.maxOps ?? 4);
  let longDone = false;
  for (let n = 0; n < ops; n++) {
    if (!longDone && r.chance(options.longRun ?? 0.05)) {
      longDone = true;
      const one = r.chance(0.5) ? r.pick(INTERESTING)[0] : String.fromCharCode(r.int(256));
      insert(at(), Buffer.alloc(LONG_RUN, one, 'latin1'));
      continue;
    }
    switch (r.int(7)) {
      case 0: b = b.subarray(0, at()); break;
      case 1: for (let k = 1 + r.int(8); k > 0 && b.length; k--) b[r.int(b.length)] ^= 1 << r.int(8); break;
      case 2: insert(at(), r.bytes(1 + r.int(16))); break;
      case 3: case 4: insert(at(), Buffer.from(r.pick(tokens), 'latin1')); break;
      case 5: { const i = at(); b = Buffer.concat([b.subarray(0, i), b.subarray(Math.min(b.length, i + 1 + r.int(64)))]); break; }
      default: { const i = r.int(b.length + 1); const span = b.subarray(i, i + 1 + r.int(128)); insert(at(), Buffer.from(span)); }
    }
  }
  return b;
}

/** Random bytes, or random picks from an alphabet of interesting tokens and letters, up to maxLength bytes. */
export function randomInput(r: Rng, maxLength: number, tokens: readonly string[] = []): Buffer {
  const n = r.int(maxLength + 1);
  if (r.chance(0.5)) return r.bytes(n);
  const alphabet = [...INTERESTING, ...tokens, 'a', 'Z', '0', '9', '.', '-', '/', '+'];
  const parts: string[] = [];
  for (let len = 0; len < n; ) {
    const t = r.pick(alphabet);
    parts.push(t);
    len += t.length;
  }
  return Buffer.from(parts.join(''), 'latin1');
}

/** How many cases to run: FUZZ_ITERATIONS when set (longer local runs), else `fallback`. */
export function iterations(fallback: number): number {
  const n = Number(process.env.FUZZ_ITERATIONS);
  return Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

/**
 * Runs `body` once per seed: FUZZ_SEED (or `firstSeed`), then the seeds after it. A failure is rethrown with its
 * seed in the message, so `FUZZ_SEED=<seed> FUZZ_ITERATIONS=1` replays it.
 */
export async function forEachSeed(options: { firstSeed: number; iterations: number }, body: (r: Rng, seed: number) => void | Promise<void>): Promise<void> {
  const env = Number(process.env.FUZZ_SEED);
  const first = Number.isSafeInteger(env) ? env >>> 0 : options.firstSeed >>> 0;
  const count = iterations(options.iterations);
  for (let i = 0; i < count; i++) {
    const seed = (first + i) >>> 0;
    try {
      await body(rng(seed), seed);
    } catch (err) {
      const e = err as Error;
      throw new Error(`fuzz seed ${seed} (replay: FUZZ_SEED=${seed} FUZZ_ITERATIONS=1): ${e?.stack ?? String(err)}`, { cause: err });
    }
  }
}
