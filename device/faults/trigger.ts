// Triggers (which matches fire) and the seeded random source. Everything
// random in the engine draws from a per-rule generator seeded from the plan's
// seed and the rule's index, so a run with the same plan and the same command
// stream repeats exactly, and adding a rule does not perturb the others.
import { parseKernelSpec, type Delay, type Trigger } from './plan.ts';

/** Small, fast, seedable PRNG (mulberry32): uniform in [0, 1). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Seed for rule `index` of a plan with `seed` (splitmix-style mixing). */
export function ruleSeed(seed: number, index: number): number {
  let z = (seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** Draw a delay in ms. */
export function drawDelay(d: Delay, rng: Rng): number {
  if ('ms' in d) return d.ms;
  let v: number;
  switch (d.dist) {
    case 'uniform':
      v = d.min + rng.next() * (d.max - d.min);
      break;
    case 'exponential':
      v = -d.mean * Math.log(1 - rng.next());
      break;
    case 'normal': {
      // Box-Muller; negative draws clamp to 0.
      const u = 1 - rng.next();
      const w = rng.next();
      v = d.mean + d.sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * w);
      break;
    }
  }
  if (d.dist !== 'uniform' && d.max !== undefined) v = Math.min(v, d.max);
  return Math.max(0, v);
}

/**
 * The firing state of one rule's trigger. `consider()` is called once per
 * match and says whether this match fires; counts only move forward.
 */
export class TriggerState {
  /** Matches seen. */
  matches = 0;
  /** Times fired. */
  fired = 0;
  private readonly limit: number;
  // kernel-style state (lib/fault-inject.c should_fail)
  private kSpace = 0;
  private kTimes = -1;
  private readonly k: { interval: number; probability: number } | undefined;

  constructor(
    readonly trigger: Trigger,
    readonly rng: Rng,
    /** performance.now() when the plan was installed (window triggers). */
    readonly t0: number,
  ) {
    let limit = Number.POSITIVE_INFINITY;
    if (trigger.kind === 'once') limit = 1;
    else if (trigger.kind !== 'kernel' && trigger.times !== undefined) limit = trigger.times;
    this.limit = limit;
    if (trigger.kind === 'kernel') {
      const f =
        trigger.spec !== undefined
          ? parseKernelSpec(trigger.spec)
          : { interval: trigger.interval ?? 1, probability: trigger.probability ?? 100, space: trigger.space ?? 0, times: trigger.times ?? -1 };
      if (typeof f === 'string') throw new Error(f); // validated before; a programming error
      this.k = { interval: f.interval, probability: f.probability };
      this.kSpace = f.space;
      this.kTimes = f.times;
    }
  }

  /** True once the trigger can never fire again. */
  get exhausted(): boolean {
    if (this.fired >= this.limit) return true;
    return this.trigger.kind === 'kernel' && this.kTimes === 0;
  }

  /** One match happened (now = performance.now()); does it fire? */
  consider(now: number): boolean {
    this.matches++;
    if (this.exhausted) return false;
    const t = this.trigger;
    let fire: boolean;
    switch (t.kind) {
      case 'always':
      case 'once':
        fire = true;
        break;
      case 'every':
        fire = this.matches % t.n === 0;
        break;
      case 'after':
        fire = this.matches > t.n;
        break;
      case 'probability':
        fire = this.rng.next() < t.p;
        break;
      case 'window': {
        const el = now - this.t0;
        fire = el >= t.startMs && (t.endMs === undefined || el < t.endMs);
        break;
      }
      case 'kernel':
        fire = this.kernel();
        break;
    }
    if (fire) this.fired++;
    return fire;
  }

  /**
   * lib/fault-inject.c order: probability 0 → no; times 0 → no; space > 0 →
   * consume one unit of space, no; interval > 1 → only every interval-th;
   * then fail with probability%; a failure decrements times unless -1.
   */
  private kernel(): boolean {
    const k = this.k;
    if (k === undefined || k.probability === 0 || this.kTimes === 0) return false;
    if (this.kSpace > 0) {
      this.kSpace--;
      return false;
    }
    if (k.interval > 1 && this.matches % k.interval !== 0) return false;
    if (k.probability < 100 && k.probability <= this.rng.int(100)) return false;
    if (this.kTimes !== -1) this.kTimes--;
    return true;
  }
}
