// iostat -x: extended per-device statistics computed from two
// /sys/block/<dev>/stat snapshots taken `intervalMs` apart, with the column
// names and formulas of sysstat's iostat (Documentation/block/stat.rst for
// the counters; sectors are 512 bytes, ticks are milliseconds).
import type { DiskStat } from '../block/types.ts';

/** One device row of `iostat -x`. Rates are per second; *_await in ms; *areq-sz in KiB. */
export interface IostatRow {
  device: string;
  'r/s': number;
  'rkB/s': number;
  'rrqm/s': number;
  '%rrqm': number;
  r_await: number;
  'rareq-sz': number;
  'w/s': number;
  'wkB/s': number;
  'wrqm/s': number;
  '%wrqm': number;
  w_await: number;
  'wareq-sz': number;
  'd/s': number;
  'dkB/s': number;
  'drqm/s': number;
  '%drqm': number;
  d_await: number;
  'dareq-sz': number;
  'f/s': number;
  f_await: number;
  'aqu-sz': number;
  '%util': number;
}

export const IOSTAT_COLUMNS = [
  'r/s', 'rkB/s', 'rrqm/s', '%rrqm', 'r_await', 'rareq-sz',
  'w/s', 'wkB/s', 'wrqm/s', '%wrqm', 'w_await', 'wareq-sz',
  'd/s', 'dkB/s', 'drqm/s', '%drqm', 'd_await', 'dareq-sz',
  'f/s', 'f_await', 'aqu-sz', '%util',
] as const;

export type IostatColumn = (typeof IOSTAT_COLUMNS)[number];

/** Counter difference, tolerating a counter that went backwards (disk re-created): then the new value counts from 0. */
function delta(a: number, b: number): number {
  return b >= a ? b - a : b;
}

/** The six per-direction columns of iostat -x (read, write and discard share the formulas). */
interface DirectionRates {
  /** r/s: completed requests per second. */
  perSec: number;
  /** rkB/s: KiB per second (a sector is 512 bytes). */
  kBPerSec: number;
  /** rrqm/s: requests merged per second. */
  mergedPerSec: number;
  /** %rrqm: share of requests merged before issue. */
  pctMerged: number;
  /** r_await: mean time per completed request, ms. */
  await: number;
  /** rareq-sz: mean request size, KiB. */
  areqSz: number;
}

function directionRates(ios: number, merges: number, sectors: number, ticks: number, secs: number): DirectionRates {
  const kB = sectors / 2;
  return {
    perSec: ios / secs,
    kBPerSec: kB / secs,
    mergedPerSec: merges / secs,
    pctMerged: merges + ios > 0 ? (merges / (merges + ios)) * 100 : 0,
    await: ios > 0 ? ticks / ios : 0,
    areqSz: ios > 0 ? kB / ios : 0,
  };
}

/**
 * Computes one row from `prev` and `cur` taken `intervalMs` apart. With
 * `prev` undefined, the counters since the disk appeared are used with
 * `intervalMs` as the disk's age (iostat's first report "since boot").
 */
export function computeIostat(device: string, prev: DiskStat | undefined, cur: DiskStat, intervalMs: number): IostatRow {
  if (!(intervalMs > 0)) throw new RangeError(`interval must be > 0 ms (got ${intervalMs})`);
  const d = (k: keyof DiskStat): number => (prev === undefined ? cur[k] : delta(prev[k], cur[k]));
  const secs = intervalMs / 1000;
  const r = directionRates(d('readIos'), d('readMerges'), d('readSectors'), d('readTicks'), secs);
  const w = directionRates(d('writeIos'), d('writeMerges'), d('writeSectors'), d('writeTicks'), secs);
  const dc = directionRates(d('discardIos'), d('discardMerges'), d('discardSectors'), d('discardTicks'), secs);
  const fIos = d('flushIos');
  return {
    device,
    'r/s': r.perSec, 'rkB/s': r.kBPerSec, 'rrqm/s': r.mergedPerSec, '%rrqm': r.pctMerged, r_await: r.await, 'rareq-sz': r.areqSz,
    'w/s': w.perSec, 'wkB/s': w.kBPerSec, 'wrqm/s': w.mergedPerSec, '%wrqm': w.pctMerged, w_await: w.await, 'wareq-sz': w.areqSz,
    'd/s': dc.perSec, 'dkB/s': dc.kBPerSec, 'drqm/s': dc.mergedPerSec, '%drqm': dc.pctMerged, d_await: dc.await, 'dareq-sz': dc.areqSz,
    'f/s': fIos / secs,
    f_await: fIos > 0 ? d('flushTicks') / fIos : 0,
    'aqu-sz': d('timeInQueue') / intervalMs,
    '%util': Math.min(100, (d('ioTicks') / intervalMs) * 100),
  };
}

/** Text table like `iostat -x` (one header, one line per device, two decimals). */
export function formatIostat(rows: readonly IostatRow[]): string {
  const devW = Math.max(16, ...rows.map((r) => r.device.length + 1));
  const widths = IOSTAT_COLUMNS.map((c) => Math.max(c.length, 7));
  const head = `${'Device'.padEnd(devW)}${IOSTAT_COLUMNS.map((c, i) => c.padStart((widths[i] ?? 7) + 1)).join('')}`;
  const lines = rows.map((r) => `${r.device.padEnd(devW)}${IOSTAT_COLUMNS.map((c, i) => r[c].toFixed(2).padStart((widths[i] ?? 7) + 1)).join('')}`);
  return `${[head, ...lines].join('\n')}\n`;
}

/** iostat -o JSON style: {"disk": [{"disk_device": …, "r/s": …, …}]}. */
export function iostatJson(rows: readonly IostatRow[]): { disk: Record<string, string | number>[] } {
  return {
    disk: rows.map((r) => {
      const o: Record<string, string | number> = { disk_device: r.device };
      for (const c of IOSTAT_COLUMNS) o[c] = Math.round(r[c] * 100) / 100;
      return o;
    }),
  };
}

export interface WatchOptions {
  /** Devices to sample (names). */
  devices: () => readonly string[];
  /** Current counters of a device, or undefined if it is gone. */
  stat: (name: string) => DiskStat | undefined;
  intervalMs: number;
  /** Reports to produce; 0 = until stopped. */
  count: number;
  onReport: (rows: IostatRow[]) => void;
  now?: () => number;
}

/**
 * `iostat -x <interval> <count>`: reports every interval the rates over the
 * last interval (the first report covers the first interval, not "since
 * boot"). Returns a stop function; resolves `done` after `count` reports.
 */
export function watchIostat(o: WatchOptions): { stop: () => void; done: Promise<void> } {
  const now = o.now ?? ((): number => performance.now());
  let prev = new Map<string, DiskStat>();
  for (const n of o.devices()) {
    const s = o.stat(n);
    if (s) prev.set(n, { ...s });
  }
  let last = now();
  let reports = 0;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => { resolveDone = r; });
  const tick = (): void => {
    const t = now();
    const el = Math.max(1, t - last);
    last = t;
    const rows: IostatRow[] = [];
    const next = new Map<string, DiskStat>();
    for (const n of o.devices()) {
      const s = o.stat(n);
      if (!s) continue;
      const copy = { ...s };
      next.set(n, copy);
      rows.push(computeIostat(n, prev.get(n) ?? copy, copy, el));
    }
    prev = next;
    o.onReport(rows);
    if (o.count > 0 && ++reports >= o.count) stop();
  };
  const timer = setInterval(tick, o.intervalMs);
  const stop = (): void => {
    clearInterval(timer);
    resolveDone();
  };
  return { stop, done };
}
