// Seeded generators for jobs: a small PRNG (xoshiro128**), the random map
// (no block twice until all are covered, like fio's axmap), and fio's
// non-uniform distributions (zipf, pareto, normal). Allocation-free per call.

import { Xoshiro128ss as Prng } from '../../../src/util/prng.ts';

/** The job PRNG: xoshiro128** from src/util/prng.ts (fio's own is tausworthe; any good seeded generator does). */
export { Prng };

/**
 * Coverage bitmap over `n` blocks: pick() returns a block not used since the
 * last reset, starting from a random candidate and scanning forward for a
 * free one (fio's axmap_next_free does the same), and resets itself once all
 * blocks are covered.
 */
export class RandomMap {
  private readonly words: Uint32Array;
  private used = 0;

  constructor(readonly n: number) {
    this.words = new Uint32Array(Math.ceil(n / 32));
  }

  get covered(): number {
    return this.used;
  }

  reset(): void {
    this.words.fill(0);
    this.used = 0;
  }

  isSet(i: number): boolean {
    return (this.words[i >>> 5] & (1 << (i & 31))) !== 0;
  }

  set(i: number): void {
    const w = i >>> 5;
    const bit = 1 << (i & 31);
    if ((this.words[w] & bit) === 0) {
      this.words[w] |= bit;
      this.used++;
    }
  }

  /** A free block at or after `candidate` (wrapping). Resets first if everything is covered. */
  pick(candidate: number): number {
    if (this.used >= this.n) this.reset();
    if (!this.isSet(candidate)) return candidate;
    const nw = this.words.length;
    let w = candidate >>> 5;
    // Rest of the candidate's word.
    let word = this.words[w] | ((1 << (candidate & 31)) - 1 | 0);
    for (let k = 0; k <= nw; k++) {
      if (word !== -1 && (word >>> 0) !== 0xffffffff) {
        const free = ~word & (word + 1); // lowest clear bit
        const i = (w << 5) + (31 - Math.clz32(free));
        if (i < this.n) return i;
      }
      w = (w + 1) % nw;
      word = this.words[w];
    }
    // Only reachable if the tail bits past n are the only free ones.
    for (let i = 0; i < this.n; i++) if (!this.isSet(i)) return i;
    return candidate;
  }
}

const ZIPF_MAX_GEN = 10_000_000;

/** A block-index generator following random_distribution. */
export interface Distribution {
  /** Block index in [0, n). */
  next(rng: Prng): number;
}

export class UniformDist implements Distribution {
  constructor(private readonly n: number) {}
  next(rng: Prng): number {
    return rng.below(this.n);
  }
}

/**
 * Zipf(θ) over n items (Gray et al., "Quickly generating billion-record
 * synthetic databases"), with the rank scattered over the region by a
 * multiplicative hash so hot blocks aren't all at the start (fio hashes the
 * rank too). zeta(n) is computed over at most ZIPF_MAX_GEN items, as fio does.
 */
export class ZipfDist implements Distribution {
  private readonly zetan: number;
  private readonly zeta2: number;
  private readonly alpha: number;
  private readonly eta: number;
  private readonly theta: number;
  private readonly items: number;

  constructor(private readonly n: number, theta: number, private readonly scatter: number) {
    this.theta = theta;
    this.items = Math.min(n, ZIPF_MAX_GEN);
    let z = 0;
    for (let i = 1; i <= this.items; i++) z += 1 / i ** theta;
    this.zetan = z;
    this.zeta2 = 1 + 1 / 2 ** theta;
    this.alpha = 1 / (1 - theta);
    this.eta = (1 - (2 / this.items) ** (1 - theta)) / (1 - this.zeta2 / this.zetan);
  }

  /** Rank in [0, items) — 0 is the most popular. */
  rank(rng: Prng): number {
    const u = rng.float();
    const uz = u * this.zetan;
    if (uz < 1) return 0;
    if (uz < this.zeta2) return 1;
    const r = Math.floor(this.items * (this.eta * u - this.eta + 1) ** this.alpha);
    return r >= this.items ? this.items - 1 : r;
  }

  next(rng: Prng): number {
    return scatterRank(this.rank(rng), this.n, this.scatter);
  }
}

/** Pareto(h): fio's pareto_next, n·u^(log h / log(1-h)), scattered like zipf. */
export class ParetoDist implements Distribution {
  private readonly pow: number;
  constructor(private readonly n: number, h: number, private readonly scatter: number) {
    this.pow = Math.log(h) / Math.log(1 - h);
  }

  rank(rng: Prng): number {
    const r = Math.floor((this.n - 1) * rng.float() ** this.pow);
    return r < 0 ? 0 : r;
  }

  next(rng: Prng): number {
    return scatterRank(this.rank(rng), this.n, this.scatter);
  }
}

/** Normal with σ = `dev`% of the region, centred on its middle (Box–Muller), clamped to the region. */
export class NormalDist implements Distribution {
  private readonly sigma: number;
  constructor(private readonly n: number, dev: number) {
    this.sigma = (dev / 100) * n;
  }

  next(rng: Prng): number {
    const u1 = 1 - rng.float();
    const u2 = rng.float();
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    const v = Math.floor(this.n / 2 + z * this.sigma);
    return v < 0 ? 0 : v >= this.n ? this.n - 1 : v;
  }
}

/** Bijective scatter of a rank over [0, n): (rank * odd + offset) mod n keeps distinct ranks distinct when gcd(odd, n) = 1. */
function scatterRank(rank: number, n: number, offset: number): number {
  if (n <= 1) return 0;
  const mul = coprimeMultiplier(n);
  if (n < 0x4000000) return (rank * mul + offset) % n; // product < 2^52: exact in a double
  return Number((BigInt(rank) * BigInt(mul) + BigInt(offset)) % BigInt(n));
}

const coprimeCache = new Map<number, number>();
function coprimeMultiplier(n: number): number {
  const c = coprimeCache.get(n);
  if (c !== undefined) return c;
  let m = 2654435761 % n;
  if (m < 2) m = 1;
  while (gcd(m, n) !== 1) m = (m + 1) % n || 1;
  coprimeCache.set(n, m);
  return m;
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}
