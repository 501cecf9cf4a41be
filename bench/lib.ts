// Bench framework (see shared design BENCH.md): scenarios register here; bench/run.ts
// discovers bench/<area>-*.ts files, runs each scenario N times, and reports
// min/median/max plus a ratio to a reference scenario measured in the same run.

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

/** Percentile (0..100) of an unsorted sample, in place sort. */
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
