import fc from 'fast-check';

/**
 * Byte-level mutations shared by the property tests (fast-check draws and shrinks them) and the long
 * campaigns of `npm run fuzz` (a seeded generator draws them). Positions are taken modulo the
 * current length, so every mutation applies to every input; the mix is libFuzzer's classic one:
 * bit flips, interesting values over length fields, inserts, deletes, truncation, splicing in bytes
 * of another corpus entry.
 */
export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'u16'; at: number; value: number }
  | { op: 'u32'; at: number; value: number }
  | { op: 'insert'; at: number; bytes: number[] }
  | { op: 'delete'; at: number; count: number }
  | { op: 'truncate'; at: number }
  | { op: 'splice'; at: number; from: number; start: number; count: number };

/** Values that sit on the edges of length and count fields. */
export const INTERESTING_16 = [0, 1, 3, 4, 7, 8, 16, 27, 28, 29, 32, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x7fff, 0x8000, 0xfffe, 0xffff];
export const INTERESTING_32 = [0, 1, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

export function applyMutations(seed: Buffer, muts: readonly Mutation[], corpus: readonly Buffer[]): Buffer {
  let b = Buffer.from(seed);
  for (const m of muts) {
    const n = b.length;
    switch (m.op) {
      case 'flip':
        if (n > 0) b[m.at % n] = b[m.at % n]! ^ (1 << (m.bit & 7));
        break;
      case 'set':
        if (n > 0) b[m.at % n] = m.value & 0xff;
        break;
      case 'u16':
        if (n >= 2) b.writeUInt16BE(m.value & 0xffff, m.at % (n - 1));
        break;
      case 'u32':
        if (n >= 4) b.writeUInt32BE(m.value >>> 0, m.at % (n - 3));
        break;
      case 'insert': {
        const at = n > 0 ? m.at % (n + 1) : 0;
        b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
        break;
      }
      case 'delete': {
        if (n === 0) break;
        const at = m.at % n;
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)]);
        break;
      }
      case 'truncate':
        b = b.subarray(0, n > 0 ? m.at % n : 0);
        break;
      case 'splice': {
        const other = corpus.length > 0 ? corpus[m.from % corpus.length]! : b;
        if (other.length === 0) break;
        const start = m.start % other.length;
        const piece = other.subarray(start, start + m.count);
        const at = n > 0 ? m.at % (n + 1) : 0;
        b = Buffer.concat([b.subarray(0, at), piece, b.subarray(at + piece.length)]);
        break;
      }
    }
  }
  return b;
}

const pos = fc.nat({ max: 0xffff });

/** fast-check's arbitrary for one mutation. */
export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: pos, bit: fc.nat({ max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: pos, value: fc.nat({ max: 255 }) }),
  fc.record({ op: fc.constant('u16' as const), at: pos, value: fc.oneof(fc.constantFrom(...INTERESTING_16), fc.nat({ max: 0xffff })) }),
  fc.record({ op: fc.constant('u32' as const), at: pos, value: fc.oneof(fc.constantFrom(...INTERESTING_32), fc.nat({ max: 0xffffffff })) }),
  fc.record({ op: fc.constant('insert' as const), at: pos, bytes: fc.array(fc.nat({ max: 255 }), { minLength: 1, maxLength: 64 }) }),
  fc.record({ op: fc.constant('delete' as const), at: pos, count: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: pos }),
  fc.record({ op: fc.constant('splice' as const), at: pos, from: pos, start: pos, count: fc.integer({ min: 1, max: 256 }) }),
);

/** An input for a target: a corpus entry with 0..8 mutations, or (1 in 10) bytes from nowhere. */
export function inputArb(corpus: readonly Buffer[]): fc.Arbitrary<Buffer> {
  const mutated = fc.tuple(fc.nat({ max: Math.max(0, corpus.length - 1) }), fc.array(mutationArb, { maxLength: 8 }))
    .map(([i, muts]) => applyMutations(corpus[i] ?? Buffer.alloc(0), muts, corpus));
  const raw = fc.uint8Array({ maxLength: 600 }).map((u) => Buffer.from(u));
  return fc.oneof({ weight: 9, arbitrary: mutated }, { weight: 1, arbitrary: raw });
}

/** xorshift128+ seeded from a number: the campaign's generator (fast, reproducible). */
export class Rng {
  private s0: bigint;
  private s1: bigint;
  constructor(seed: number) {
    this.s0 = BigInt(seed) * 0x9e3779b97f4a7c15n + 1n;
    this.s1 = (BigInt(seed) ^ 0xdeadbeefn) * 0xbf58476d1ce4e5b9n + 7n;
    for (let i = 0; i < 8; i++) this.next();
  }
  /** A uniform 32-bit integer. */
  next(): number {
    const M = (1n << 64n) - 1n;
    let x = this.s0;
    const y = this.s1;
    this.s0 = y;
    x = (x ^ (x << 23n)) & M;
    this.s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return Number(((this.s1 + y) & M) >> 32n);
  }
  below(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
}

/** One campaign input from the generator, with the same mix as inputArb. */
export function randomInput(rng: Rng, corpus: readonly Buffer[]): Buffer {
  if (rng.below(10) === 0 || corpus.length === 0) {
    const out = Buffer.alloc(rng.below(600));
    for (let i = 0; i < out.length; i++) out[i] = rng.below(256);
    return out;
  }
  const muts = randomMutations(rng);
  return applyMutations(corpus[rng.below(corpus.length)]!, muts, corpus);
}

/** `base` with 0..8 mutations from the generator; splices take their bytes from `corpus`. */
export function mutateInput(rng: Rng, base: Buffer, corpus: readonly Buffer[]): Buffer {
  return applyMutations(base, randomMutations(rng), corpus);
}

function randomMutations(rng: Rng): Mutation[] {
  const muts: Mutation[] = [];
  const k = rng.below(9);
  for (let i = 0; i < k; i++) muts.push(randomMutation(rng));
  return muts;
}

function randomMutation(rng: Rng): Mutation {
  const at = rng.below(0x10000);
  switch (rng.below(8)) {
    case 0: return { op: 'flip', at, bit: rng.below(8) };
    case 1: return { op: 'set', at, value: rng.below(256) };
    case 2: return { op: 'u16', at, value: rng.below(2) ? INTERESTING_16[rng.below(INTERESTING_16.length)]! : rng.below(0x10000) };
    case 3: return { op: 'u32', at, value: rng.below(2) ? INTERESTING_32[rng.below(INTERESTING_32.length)]! : rng.next() };
    case 4: return { op: 'insert', at, bytes: Array.from({ length: 1 + rng.below(64) }, () => rng.below(256)) };
    case 5: return { op: 'delete', at, count: 1 + rng.below(64) };
    case 6: return { op: 'truncate', at };
    default: return { op: 'splice', at, from: rng.below(0x10000), start: rng.below(0x10000), count: 1 + rng.below(256) };
  }
}
