// Bench framework (see shared design BENCH.md): scenarios register here; bench/run.ts
// discovers bench/<area>-*.ts files, runs each scenario N times, and reports
// min/median/max plus a ratio to a reference scenario measured in the same run.
import { performance } from 'node:perf_hooks';
import type { ReqOp, SubmitCallback } from '../host/block/types.ts';

/** One measurement of a scenario. Fill what applies. */
export interface Measurement {
  iops?: number;
  mbps?: number;
  lat_us?: { p50: number; p99: number; p999: number };
  cpu_pct?: { host?: number; device?: number };
  /** Extra named figures (e.g. alloc_bytes_per_io, gc_per_mio). Summarised like iops. */
  extra?: Record<string, number>;
}

export interface RunOptions {
  /** Short runs for a smoke check. */
  quick: boolean;
  /** Suggested duration of one run in ms. */
  durationMs: number;
}

export interface Scenario {
  /** Stable id, e.g. 'blk/inline/randread/4k/qd32' (add, don't rename). */
  id: string;
  /** Scenario id whose median this one's median is divided by (same run). */
  reference?: string;
  /** Which figure the ratio uses: 'iops' (default) or 'lat_p50'. */
  ratioOf?: 'iops' | 'lat_p50';
  run(opts: RunOptions): Promise<Measurement>;
}

const registry: Scenario[] = [];

/** Register scenarios from a bench/<area>-*.ts module (alternatively export `scenarios`). */
export function registerScenario(...s: Scenario[]): void {
  for (const x of s) {
    if (registry.some((r) => r.id === x.id)) throw new Error(`duplicate bench scenario ${x.id}`);
    registry.push(x);
  }
}
export function registeredScenarios(): readonly Scenario[] { return registry; }

export interface Summary { min: number; median: number; max: number }
export function summarize(xs: number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length === 0 ? 0 : s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  return { min: s[0] ?? 0, median, max: s[s.length - 1] ?? 0 };
}

/** Percentile (0..100, nearest rank) of a sample already sorted ascending (the caller sorts). */
export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

/** Count GC events while `fn` runs (perf_hooks 'gc' entries). */
export async function withGcCount<T>(fn: () => Promise<T>): Promise<{ value: T; gcs: number }> {
  const { PerformanceObserver } = await import('node:perf_hooks');
  let gcs = 0;
  const obs = new PerformanceObserver((list) => { gcs += list.getEntries().length; });
  obs.observe({ entryTypes: ['gc'] });
  try {
    const value = await fn();
    await new Promise((r) => setImmediate(r));
    return { value, gcs };
  } finally {
    obs.disconnect();
  }
}

/** What closedLoop drives: the block layer's hot-path submit (BlockDevice.submit). */
export interface SubmitTarget {
  submit(op: ReqOp, offset: number, buf: Uint8Array, flags: number, cpu: number, cb: SubmitCallback): void;
}

export interface ClosedLoopJob {
  dev: SubmitTarget;
  op: ReqOp;
  /** Queue depth: this many I/Os are always in flight, one buffer each. */
  qd: number;
  /** Block size in bytes (offsets are random multiples of it). */
  bs: number;
  /** Device size in blocks. */
  blocks: number;
  /** Submitting CPUs: slot i submits on cpu i % nrCpus (default 1). */
  nrCpus?: number;
  /** Warm-up I/Os before the measured run (default 20000, also in --quick: JIT warm-up dominates short runs). */
  warm?: number;
}

/**
 * Closed-loop random I/O through submit() (no promise per I/O): QD slots, each
 * resubmitting from its completion callback. Returns IOPS, MB/s, GCs per
 * million I/Os and heap growth per I/O of the measured run (after a warm-up
 * sized to reach `opts.durationMs`). Any failed I/O fails the scenario.
 */
export async function closedLoop(job: ClosedLoopJob, opts: RunOptions): Promise<Measurement> {
  const { dev, op, qd, bs, blocks } = job;
  const nrCpus = Math.max(1, job.nrCpus ?? 1);
  const bufs = Array.from({ length: qd }, (_, i) => new Uint8Array(bs).fill(i & 0xff));
  let x = 12345;
  let done = 0;
  let target = 0;
  let failed = 0;
  let firstStatus = 0;
  let finish: () => void = () => {};
  const cbs: SubmitCallback[] = bufs.map((buf, slot) => {
    const cpu = slot % nrCpus;
    const cb: SubmitCallback = (status) => {
      if (status !== 0 && failed++ === 0) firstStatus = status;
      done++;
      if (done + qd <= target) {
        x = (Math.imul(x, 1103515245) + 12345) & 0x3fffffff; // 30 bits: stays a Smi (no HeapNumber per I/O in the loop itself)
        dev.submit(op, (x % blocks) * bs, buf, 0, cpu, cb);
      } else if (done === target) finish();
    };
    return cb;
  });
  const runFor = async (n: number): Promise<number> => {
    done = 0;
    target = n;
    const t0 = performance.now();
    await new Promise<void>((res) => {
      finish = res;
      for (let s = 0; s < qd; s++) dev.submit(op, s * bs, bufs[s] as Uint8Array, 0, s % nrCpus, cbs[s] as SubmitCallback);
    });
    return performance.now() - t0;
  };
  const warm = Math.max(job.warm ?? 20000, qd);
  const wt = await runFor(warm);
  const n = Math.max(qd * 10, Math.floor((warm / Math.max(wt, 1)) * opts.durationMs));
  const heap0 = process.memoryUsage().heapUsed;
  const { value: ms, gcs } = await withGcCount(() => runFor(n));
  const heap1 = process.memoryUsage().heapUsed;
  if (failed > 0) throw new Error(`${failed} I/Os failed (first status ${firstStatus})`);
  const iops = (n / ms) * 1000;
  return { iops, mbps: (iops * bs) / 1e6, extra: { gc_per_mio: (gcs / n) * 1e6, heap_growth_b_per_io: Math.max(0, heap1 - heap0) / n } };
}
