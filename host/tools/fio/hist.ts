// Latency histogram with bounded memory, bucketed the way fio does it
// (stat.h FIO_IO_U_PLAT_*): values below 2^(BITS+1) get a bucket each; above
// that, every power-of-two group is split into 2^BITS equal buckets, so the
// relative error is at most 1/2^BITS (~1.6 %). 29 groups of 64 cover
// 0 ns .. ~17 s (anything larger lands in the last bucket). Percentiles are
// read from the buckets (the bucket's midpoint), like fio's
// calc_clat_percentiles.

export const PLAT_BITS = 6;
export const PLAT_VAL = 1 << PLAT_BITS;
export const PLAT_GROUP_NR = 29;
export const PLAT_NR = PLAT_GROUP_NR * PLAT_VAL;

/** Bucket index of a value (ns). */
export function platValToIdx(val: number): number {
  const v = val < 0 ? 0 : Math.floor(val);
  // Most significant bit position; Math.clz32 only sees 32 bits, so split.
  const msb = v >= 0x100000000 ? 32 + (31 - Math.clz32(Math.floor(v / 0x100000000))) : 31 - Math.clz32(v);
  if (v === 0 || msb <= PLAT_BITS) return v;
  const errorBits = msb - PLAT_BITS;
  const base = (errorBits + 1) << PLAT_BITS;
  const offset = (PLAT_VAL - 1) & Math.floor(v / 2 ** errorBits);
  const idx = base + offset;
  return idx < PLAT_NR ? idx : PLAT_NR - 1;
}

/** Representative value (ns) of a bucket: exact below 2*PLAT_VAL, else the bucket's midpoint. */
export function platIdxToVal(idx: number): number {
  if (idx < (PLAT_VAL << 1)) return idx;
  const errorBits = (idx >> PLAT_BITS) - 1;
  const base = 2 ** (errorBits + PLAT_BITS);
  const k = idx % PLAT_VAL;
  return base + (k + 0.5) * 2 ** errorBits;
}

export class LatencyHistogram {
  readonly buckets = new Float64Array(PLAT_NR);
  count = 0;

  add(ns: number): void {
    this.buckets[platValToIdx(ns)] += 1;
    this.count++;
  }

  merge(o: LatencyHistogram): void {
    for (let i = 0; i < PLAT_NR; i++) this.buckets[i] += o.buckets[i];
    this.count += o.count;
  }

  reset(): void {
    this.buckets.fill(0);
    this.count = 0;
  }

  /**
   * Values at the given percentiles (each in (0,100]): the first bucket whose
   * cumulative count reaches p% of all samples.
   */
  percentiles(list: readonly number[]): number[] {
    const out = new Array<number>(list.length).fill(0);
    if (this.count === 0) return out;
    let j = 0;
    let sum = 0;
    for (let i = 0; i < PLAT_NR && j < list.length; i++) {
      sum += this.buckets[i] ?? 0;
      while (j < list.length && sum >= ((list[j] ?? 100) / 100) * this.count) {
        out[j] = platIdxToVal(i);
        j++;
      }
    }
    for (; j < list.length; j++) out[j] = platIdxToVal(PLAT_NR - 1);
    return out;
  }

  /** Samples at or below `ns` (bucket resolution). */
  countBelow(ns: number): number {
    const lim = platValToIdx(ns);
    let s = 0;
    for (let i = 0; i <= lim; i++) s += this.buckets[i] ?? 0;
    return s;
  }
}

/** Running min/max/mean/variance (Welford), as fio's io_stat keeps them. */
export class RunningStat {
  n = 0;
  min = Infinity;
  max = 0;
  mean = 0;
  m2 = 0;

  add(v: number): void {
    this.n++;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    const d = v - this.mean;
    this.mean += d / this.n;
    this.m2 += d * (v - this.mean);
  }

  merge(o: RunningStat): void {
    if (o.n === 0) return;
    if (this.n === 0) {
      this.n = o.n; this.min = o.min; this.max = o.max; this.mean = o.mean; this.m2 = o.m2;
      return;
    }
    const n = this.n + o.n;
    const d = o.mean - this.mean;
    this.mean += (d * o.n) / n;
    this.m2 += o.m2 + (d * d * this.n * o.n) / n;
    this.n = n;
    if (o.min < this.min) this.min = o.min;
    if (o.max > this.max) this.max = o.max;
  }

  reset(): void {
    this.n = 0; this.min = Infinity; this.max = 0; this.mean = 0; this.m2 = 0;
  }

  /** Sample standard deviation (n-1), as fio reports it. */
  stddev(): number {
    return this.n > 1 ? Math.sqrt(this.m2 / (this.n - 1)) : 0;
  }

  snapshot(): { n: number; min: number; max: number; mean: number; stddev: number } {
    return { n: this.n, min: this.n === 0 ? 0 : this.min, max: this.max, mean: this.mean, stddev: this.stddev() };
  }
}
