// Seeded pseudo-random generators: the one place the project keeps them, so a
// seed means the same sequence in every module, on every run and platform.
// Nothing here is for security (use node:crypto for that).
//
// - Mulberry32: one 32-bit state word, tiny and fast; the default choice
//   (fault triggers, malicious fixtures, test corpora).
// - Xoshiro128ss: four state words, longer period and better equidistribution;
//   for workloads that draw many values (fio-style jobs, verify payloads).
// - fmix32: seed mixing, so nearby seeds give unrelated streams.
//
// All are allocation-free per call.

const TWO_32 = 0x1_0000_0000;

/** MurmurHash3's 32-bit finaliser: a bijective avalanche mix of one word. */
export function fmix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** The golden-ratio increment of splitmix (2^32 / φ). */
export const GOLDEN_32 = 0x9e3779b9;

/**
 * mulberry32 (Tommy Ettinger): 32-bit state, period 2^32. `nextU32()` is the
 * raw word; `next()` a float in [0, 1); `below(n)` an integer in [0, n).
 */
export class Mulberry32 {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Re-seed (restarts the sequence as if newly constructed). */
  reseed(seed: number): void {
    this.state = seed >>> 0;
  }
  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextU32() / TWO_32;
  }
  /** Uniform integer in [0, n) (the kernel's get_random_u32_below). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** A mulberry32 stream as a plain function returning floats in [0, 1) (tests, one-off corpora). */
export function mulberry32(seed: number): () => number {
  const g = new Mulberry32(seed);
  return () => g.next();
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** xoshiro128** (Blackman & Vigna, 2018): 128-bit state seeded by splitmix32. */
export class Xoshiro128ss {
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;

  constructor(seed: number) {
    this.seed(seed);
  }

  /** Re-seed (restarts the sequence as if newly constructed). */
  seed(seed: number): void {
    // splitmix32: step by the golden ratio, mix each step into a state word.
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + GOLDEN_32) >>> 0;
      return fmix32(s);
    };
    this.a = next(); this.b = next(); this.c = next(); this.d = next();
    // The all-zero state is the one fixed point of the generator.
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** Uniform uint32. */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Fills `out` with uniform words (the same sequence as repeated u32() calls), state kept in locals for speed. */
  fillWords(out: Uint32Array): void {
    let a = this.a | 0;
    let b = this.b | 0;
    let c = this.c | 0;
    let d = this.d | 0;
    for (let k = 0; k < out.length; k++) {
      const m = Math.imul(b, 5);
      out[k] = Math.imul((m << 7) | (m >>> 25), 9);
      const t = b << 9;
      c ^= a;
      d ^= b;
      b ^= c;
      a ^= d;
      c ^= t;
      d = (d << 11) | (d >>> 21);
    }
    this.a = a >>> 0; this.b = b >>> 0; this.c = c >>> 0; this.d = d >>> 0;
  }

  /** Uniform in [0, 1) with 53 bits. */
  float(): number {
    return ((this.u32() >>> 5) * 67108864 + (this.u32() >>> 6)) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.float() * n);
  }
}
