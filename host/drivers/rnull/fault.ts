// Fault injection with the kernel's `fault_attr` semantics (lib/fault-inject.c,
// Documentation/fault-injection/fault-injection.rst), as used by null_blk's
// `timeout=`, `requeue=` and `init_hctx=` parameters and its configfs
// `timeout_inject/`, `requeue_inject/`, `init_hctx_fault_inject/` groups.
//
// The one difference from the kernel: the random source is a seeded PRNG per
// attribute, so a run with the same seed fails the same requests.

import { Mulberry32 as SeededRandom } from '../../../src/util/prng.ts';

/** A parse error for an `interval,probability,space,times` string. */
export class FaultParseError extends Error {
  readonly code = 'EINVAL';
  constructor(message: string) {
    super(message);
    this.name = 'FaultParseError';
  }
}

/**
 * The per-attribute random source: mulberry32 from src/util/prng.ts
 * (deterministic across runs and platforms; no allocation per call).
 */
export { SeededRandom };

/** The four tunables of a fault_attr, as written in the parameter string. */
export interface FaultSpec {
  /** Fail only every `interval`-th eligible call (1 = every call). */
  interval: number;
  /** Failure probability in percent (0 disables the attribute). */
  probability: number;
  /** Budget of "size" to skip before failing starts (null_blk uses size 1 per call). */
  space: number;
  /** How many failures remain; -1 = unlimited, 0 = none. */
  times: number;
}

/** DECLARE_FAULT_ATTR defaults: interval 1, probability 0, space 0, times 1. */
export const FAULT_ATTR_DEFAULTS: Readonly<FaultSpec> = Object.freeze({ interval: 1, probability: 0, space: 0, times: 1 });

const U_RE = /^\s*(\d+)/;
const D_RE = /^\s*([+-]?\d+)/;

/**
 * Parse `"<interval>,<probability>,<space>,<times>"` like setup_fault_attr()'s
 * `sscanf("%lu,%lu,%d,%d")`: all four fields are required; trailing text after
 * the fourth field is ignored (as sscanf does). An empty string means "not set"
 * and returns undefined.
 */
export function parseFaultSpec(str: string): FaultSpec | undefined {
  if (str.trim() === '') return undefined;
  const fail = (): never => {
    throw new FaultParseError(`FAULT_INJECTION: failed to parse arguments "${str}" (expected interval,probability,space,times)`);
  };
  let rest = str;
  const take = (re: RegExp, last: boolean): number => {
    const m = re.exec(rest);
    if (!m || m[1] === undefined) return fail();
    rest = rest.slice(m[0].length);
    if (!last) {
      if (!rest.startsWith(',')) return fail();
      rest = rest.slice(1);
    }
    return Number(m[1]);
  };
  const interval = take(U_RE, false);
  const probability = take(U_RE, false);
  const space = take(D_RE, false);
  const times = take(D_RE, true);
  return { interval, probability, space, times };
}

/** Format a spec back to the parameter syntax. */
export function formatFaultSpec(s: FaultSpec): string {
  return `${s.interval},${s.probability},${s.space},${s.times}`;
}

/**
 * One fault attribute (`struct fault_attr`): `shouldFail()` follows
 * should_fail_ex() step by step. Counters are live: `times` and `space`
 * decrease as the attribute is consulted, as in the kernel.
 */
export class FaultAttr {
  interval: number;
  probability: number;
  space: number;
  times: number;
  /** Calls counted for `interval` (only advanced when interval > 1). */
  count = 0;
  /** Failures injected so far (for reporting; not in the kernel struct). */
  injected = 0;
  private readonly rng: SeededRandom;

  constructor(spec: FaultSpec = FAULT_ATTR_DEFAULTS, seed = 1) {
    this.interval = spec.interval;
    this.probability = spec.probability;
    this.space = spec.space;
    this.times = spec.times;
    this.rng = new SeededRandom(seed);
  }

  /** Replace the tunables (configfs writes), keeping the PRNG stream. */
  set(spec: FaultSpec): void {
    this.interval = spec.interval;
    this.probability = spec.probability;
    this.space = spec.space;
    this.times = spec.times;
    this.count = 0;
  }

  spec(): FaultSpec {
    return { interval: this.interval, probability: this.probability, space: this.space, times: this.times };
  }

  /** Whether the attribute can ever fire (cheap pre-check for hot paths). */
  get enabled(): boolean {
    return this.probability !== 0 && this.times !== 0;
  }

  /** should_fail(attr, size): true when this call must fail. */
  shouldFail(size = 1): boolean {
    // "No need to check any other properties if the probability is 0".
    if (this.probability === 0) return false;
    if (this.times === 0) return false;
    // space: skip calls while the budget exceeds the size.
    if (this.space > size) {
      this.space -= size;
      return false;
    }
    if (this.interval > 1) {
      this.count++;
      if (this.count % this.interval !== 0) return false;
    }
    if (this.probability <= this.rng.below(100)) return false;
    // times -1 = unlimited; otherwise decrement, never below zero.
    if (this.times !== -1 && this.times > 0) this.times--;
    this.injected++;
    return true;
  }
}
