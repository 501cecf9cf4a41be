// fio's two main output formats: the normal text summary (stat.c
// show_thread_status / show_run_stats shape) and --output-format=json with
// fio's field names, so existing post-processing scripts keep working.
import { LatencyHistogram, platIdxToVal, PLAT_NR } from './hist.ts';
import { bwPair, num2str, sizePair } from './format.ts';
import type { DirStats, JobReport, LatStats, RunResult } from './types.ts';
import type { JobOptions } from './options.ts';

export const FIO_VERSION = 'fio-3.36-nvmelab';
const DIR_NAMES = ['read', 'write', 'trim'] as const;
const DIR_UPPER = ['READ', 'WRITE', 'TRIM'];

// ───────────────────────────── text ─────────────────────────────

/** C ctime() shape, as fio prints dates: "Sun Nov 22 23:20:45 2026". */
export function ctime(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const mons = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getDay()] ?? ''} ${mons[d.getMonth()] ?? ''} ${String(d.getDate()).padStart(2)} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}

/** Scales ns latency stats for display: nsec, then usec/msec once all four figures exceed 20000 of the unit (fio's nsec_to_usec). */
function latUnit(s: LatStats): { div: number; unit: string } {
  const big = (d: number): boolean => s.min / d > 20000 && s.max / d > 20000 && s.mean / d > 20000 && s.stddev / d > 20000;
  if (big(1000)) return { div: 1e6, unit: 'msec' };
  if (big(1)) return { div: 1e3, unit: 'usec' };
  return { div: 1, unit: 'nsec' };
}

function latLine(label: string, s: LatStats): string {
  const { div, unit } = latUnit(s);
  const f = (x: number): string => String(Math.round(x / div));
  return `${label} (${unit}): min=${f(s.min)}, max=${f(s.max)}, avg=${(s.mean / div).toFixed(2)}, stdev=${(s.stddev / div).toFixed(2)}`;
}

function percentileBlock(label: string, hist: LatencyHistogram, list: readonly number[]): string {
  const vals = hist.percentiles(list);
  const minv = Math.min(...vals);
  const { div, unit } = minv > 2_000_000 ? { div: 1e6, unit: 'msec' } : minv > 2000 ? { div: 1e3, unit: 'usec' } : { div: 1, unit: 'nsec' };
  const scaled = vals.map((v) => Math.round(v / div));
  const width = Math.max(5, ...scaled.map((v) => String(v).length));
  const out: string[] = [`    ${label} percentiles (${unit}):`];
  let line = '     |';
  for (let i = 0; i < list.length; i++) {
    const last = i === list.length - 1;
    line += ` ${(list[i] ?? 0).toFixed(2).padStart(5)}th=[${String(scaled[i] ?? 0).padStart(width)}]${last ? '' : ','}`;
    if ((i + 1) % 4 === 0 || last) {
      out.push(line);
      line = '     |';
    }
  }
  return out.join('\n');
}

function sampleStats(xs: number[]): { min: number; max: number; avg: number; stdev: number; n: number } {
  const n = xs.length;
  if (n === 0) return { min: 0, max: 0, avg: 0, stdev: 0, n: 0 };
  const avg = xs.reduce((a, b) => a + b, 0) / n;
  const v = n > 1 ? xs.reduce((a, b) => a + (b - avg) ** 2, 0) / (n - 1) : 0;
  return { min: Math.min(...xs), max: Math.max(...xs), avg, stdev: Math.sqrt(v), n };
}

/** fio's latency distribution buckets (io_u_lat_n/u/m), upper bounds in ns. */
const LAT_N = [2, 4, 10, 20, 50, 100, 250, 500, 750, 1000];
const LAT_M = [2, 4, 10, 20, 50, 100, 250, 500, 750, 1000, 2000];

/** Percent of samples per fio latency bucket: ns[10], us[10], ms[12] (last = ">=2000"). */
export function latencyBuckets(h: LatencyHistogram): { ns: number[]; us: number[]; ms: number[] } {
  const ns = new Array<number>(10).fill(0);
  const us = new Array<number>(10).fill(0);
  const ms = new Array<number>(12).fill(0);
  if (h.count === 0) return { ns, us, ms };
  for (let i = 0; i < PLAT_NR; i++) {
    const c = h.buckets[i] ?? 0;
    if (c === 0) continue;
    const v = platIdxToVal(i);
    const pick = (arr: number[], bounds: number[], scale: number): boolean => {
      for (let k = 0; k < bounds.length; k++) {
        if (v <= (bounds[k] ?? 0) * scale) { arr[k] = (arr[k] ?? 0) + c; return true; }
      }
      return false;
    };
    if (v < 1000 ? pick(ns, LAT_N, 1) : v < 1e6 ? pick(us, LAT_N, 1e3) : pick(ms, LAT_M, 1e6)) continue;
    ms[11] = (ms[11] ?? 0) + c;
  }
  const pct = (a: number[]): number[] => a.map((x) => (x / h.count) * 100);
  return { ns: pct(ns), us: pct(us), ms: pct(ms) };
}

function latDistLines(h: LatencyHistogram): string[] {
  const b = latencyBuckets(h);
  const lines: string[] = [];
  const fmt = (label: string, arr: number[], bounds: string[]): void => {
    const parts: string[] = [];
    arr.forEach((p, i) => { if (p > 0) parts.push(`${bounds[i] ?? ''}=${p < 0.01 ? '0.01' : p.toFixed(2)}%`); });
    if (parts.length > 0) lines.push(`  lat (${label})   : ${parts.join(', ')}`);
  };
  fmt('nsec', b.ns, LAT_N.map(String));
  fmt('usec', b.us, LAT_N.map(String));
  fmt('msec', b.ms, [...LAT_M.map(String), '>=2000']);
  return lines;
}

function bsDesc(o: JobOptions, d: number): string {
  let lo = o.bs[d] ?? 0;
  let hi = lo;
  if (o.bssplit) { const s = o.bssplit[d].map((e) => e.bs); lo = Math.min(...s); hi = Math.max(...s); }
  else if (o.bsrange) { lo = o.bsrange[d][0]; hi = o.bsrange[d][1]; }
  return `${num2str(lo, 4, 1024, true, 'B')}-${num2str(hi, 4, 1024, true, 'B')}`;
}

function dirBlock(name: string, d: DirStats, o: JobOptions, groupBytes: number): string[] {
  const out: string[] = [];
  const bw = d.runtimeMs > 0 ? (d.ioBytes * 1000) / d.runtimeMs : 0;
  const iops = d.runtimeMs > 0 ? (d.totalIos * 1000) / d.runtimeMs : 0;
  out.push(`  ${name}: IOPS=${num2str(iops)}, BW=${bwPair(bw)}(${num2str(d.ioBytes, 4, 1024, true, 'B')}/${d.runtimeMs}msec)`);
  out.push(`    ${latLine('slat', d.slat)}`);
  out.push(`    ${latLine('clat', d.clat)}`);
  out.push(`     ${latLine('lat', d.lat)}`);
  out.push(percentileBlock('clat', d.clatHist, o.percentileList));
  const b = sampleStats(d.bwSamples);
  if (b.n > 0) {
    const per = groupBytes > 0 ? (d.ioBytes / groupBytes) * 100 : 100;
    out.push(`   bw (  KiB/s): min=${String(Math.round(b.min)).padStart(5)}, max=${String(Math.round(b.max)).padStart(5)}, per=${per.toFixed(2)}%, avg=${b.avg.toFixed(2)}, stdev=${b.stdev.toFixed(2)}, samples=${b.n}`);
    const i = sampleStats(d.iopsSamples);
    out.push(`   iops        : min=${String(Math.round(i.min)).padStart(5)}, max=${String(Math.round(i.max)).padStart(5)}, avg=${i.avg.toFixed(2)}, stdev=${i.stdev.toFixed(2)}, samples=${i.n}`);
  }
  return out;
}

function distLine(labels: string[], vals: number[]): string {
  return labels.map((l, i) => `${l}=${(vals[i] ?? 0).toFixed(1)}%`).join(', ');
}

/** Total-latency histogram over all directions of a job. */
function mergedLatHist(r: JobReport): LatencyHistogram {
  const h = new LatencyHistogram();
  for (const d of r.dirs) h.merge(d.latHist);
  return h;
}

function jobBlock(r: JobReport, groupBytes: number[]): string {
  const o = r.options;
  const out: string[] = [];
  const when = ctime(r.startedAt);
  out.push(`${r.name}: (groupid=${r.groupId}, jobs=${r.jobs}): err=${String(r.error).padStart(2)}: pid=${process.pid}: ${when}`);
  if (o.description) out.push(`  Description  : [${o.description}]`);
  for (let d = 0; d < 3; d++) {
    const ds = r.dirs[d];
    if (ds && ds.totalIos > 0) out.push(...dirBlock(DIR_NAMES[d] ?? '', ds, o, groupBytes[d] ?? 0));
  }
  // Overall latency distribution over all directions.
  const merged = mergedLatHist(r);
  if (merged.count > 0) out.push(...latDistLines(merged));
  if (r.sync.totalIos > 0) {
    out.push('  fsync/fdatasync/sync_file_range:');
    out.push(`    ${latLine('sync', r.sync.lat)}`);
    out.push(percentileBlock('sync', r.sync.hist, o.percentileList).replace(/^ {4}/, '    '));
  }
  const cpu = cpuFigures(r);
  out.push(`  cpu          : usr=${cpu.usr.toFixed(2)}%, sys=${cpu.sys.toFixed(2)}%, ctx=${cpu.ctx}, majf=${cpu.majf}, minf=${cpu.minf}`);
  out.push(`  IO depths    : ${distLine(['1', '2', '4', '8', '16', '32', '>=64'], r.depthDist)}`);
  out.push(`     submit    : ${distLine(['0', '4', '8', '16', '32', '64', '>=64'], r.submitDist)}`);
  out.push(`     complete  : ${distLine(['0', '4', '8', '16', '32', '64', '>=64'], r.completeDist)}`);
  const t = r.dirs.map((d) => d.totalIos);
  out.push(`     issued rwts: total=${t.join(',')},${r.sync.totalIos} short=${r.dirs.map((d) => d.shortIos).join(',')},0 dropped=${r.dirs.map((d) => d.dropIos).join(',')},0`);
  out.push(`     latency   : target=0, window=0, percentile=100.00%, depth=${o.iodepth}`);
  if (r.error !== 0 && r.errorMessage) out.push(`  error        : ${r.errorMessage}`);
  return out.join('\n');
}

/** The header fio prints before running: one line per job (clones as "..."). */
export function formatHeader(jobs: readonly JobOptions[]): string {
  const out: string[] = [];
  let g = -1;
  let procs = 0;
  for (const o of jobs) {
    if (g < 0 || o.stonewall) g++;
    procs += o.numjobs;
    out.push(`${o.name}: (g=${g}): rw=${o.rw}, bs=(R) ${bsDesc(o, 0)}, (W) ${bsDesc(o, 1)}, (T) ${bsDesc(o, 2)}, ioengine=nvmelab, iodepth=${o.iodepth}`);
    if (o.numjobs > 1) out.push('...');
  }
  out.push(FIO_VERSION);
  out.push(`Starting ${procs} process${procs === 1 ? '' : 'es'}`);
  return `${out.join('\n')}\n`;
}

/** The normal text summary (what fio prints after the run). */
export function formatNormal(res: RunResult): string {
  const out: string[] = [];
  for (const r of res.jobs) {
    const grp = res.groups.find((g) => g.groupId === r.groupId);
    out.push(jobBlock(r, grp ? grp.dirs.map((d) => d.ioBytes) : [0, 0, 0]));
  }
  for (const g of res.groups) {
    out.push('', `Run status group ${g.groupId} (all jobs):`); // fio starts each group with a blank line
    g.dirs.forEach((d, i) => {
      if (d.ioBytes === 0) return;
      const range = `${bwPair(d.minBw).split(' ')[0] ?? ''}-${bwPair(d.maxBw).split(' ')[0] ?? ''} (${num2str(d.minBw, 4, 1000, false, 'B/s')}-${num2str(d.maxBw, 4, 1000, false, 'B/s')})`;
      out.push(`${(DIR_UPPER[i] ?? '').padStart(7)}: bw=${bwPair(d.aggBw)}, ${range}, io=${sizePair(d.ioBytes)}, run=${d.minRun}-${d.maxRun}msec`);
    });
  }
  if (res.diskUtil.length > 0) {
    out.push('');
    out.push('Disk stats (read/write):');
    for (const u of res.diskUtil) {
      out.push(`  ${u.name}: ios=${u.readIos}/${u.writeIos}, sectors=${u.readSectors}/${u.writeSectors}, merge=${u.readMerges}/${u.writeMerges}, ticks=${Math.round(u.readTicks)}/${Math.round(u.writeTicks)}, in_queue=${Math.round(u.inQueue)}, util=${u.util.toFixed(2)}%`);
    }
  }
  return `${out.join('\n')}\n`;
}

// ───────────────────────────── JSON ─────────────────────────────

export interface FioJsonLat {
  min: number;
  max: number;
  mean: number;
  stddev: number;
  N: number;
  percentile?: Record<string, number>;
}

export interface FioJsonDir {
  io_bytes: number;
  io_kbytes: number;
  bw_bytes: number;
  bw: number;
  iops: number;
  runtime: number;
  total_ios: number;
  short_ios: number;
  drop_ios: number;
  slat_ns: FioJsonLat;
  clat_ns: FioJsonLat;
  lat_ns: FioJsonLat;
  bw_min: number;
  bw_max: number;
  bw_agg: number;
  bw_mean: number;
  bw_dev: number;
  bw_samples: number;
  iops_min: number;
  iops_max: number;
  iops_mean: number;
  iops_stddev: number;
  iops_samples: number;
}

export interface FioJsonJob {
  jobname: string;
  groupid: number;
  error: number;
  eta: number;
  elapsed: number;
  'job options': Record<string, string>;
  read: FioJsonDir;
  write: FioJsonDir;
  trim: FioJsonDir;
  sync: { total_ios: number; lat_ns: FioJsonLat };
  job_runtime: number;
  usr_cpu: number;
  sys_cpu: number;
  ctx: number;
  majf: number;
  minf: number;
  iodepth_level: Record<string, number>;
  iodepth_submit: Record<string, number>;
  iodepth_complete: Record<string, number>;
  latency_ns: Record<string, number>;
  latency_us: Record<string, number>;
  latency_ms: Record<string, number>;
  latency_depth: number;
  latency_target: number;
  latency_percentile: number;
  latency_window: number;
  /** nvmelab extension: verify failures with the offsets that failed. */
  verify_errors?: { offset: number; length: number; bad_byte: number; message: string }[];
}

export interface FioJsonDiskUtil {
  name: string;
  read_ios: number;
  write_ios: number;
  read_sectors: number;
  write_sectors: number;
  read_merges: number;
  write_merges: number;
  read_ticks: number;
  write_ticks: number;
  in_queue: number;
  util: number;
}

export interface FioJson {
  'fio version': string;
  timestamp: number;
  timestamp_ms: number;
  time: string;
  /** Present only when some global option was given, as in fio. */
  'global options'?: Record<string, string>;
  jobs: FioJsonJob[];
  disk_util: FioJsonDiskUtil[];
}

function jsonLat(s: LatStats, hist: LatencyHistogram | undefined, list: readonly number[]): FioJsonLat {
  const o: FioJsonLat = { min: Math.round(s.min), max: Math.round(s.max), mean: s.mean, stddev: s.stddev, N: s.n };
  if (hist !== undefined && s.n > 0) {
    const vals = hist.percentiles(list);
    const p: Record<string, number> = {};
    list.forEach((q, i) => { p[q.toFixed(6)] = Math.round(vals[i] ?? 0); });
    o.percentile = p;
  }
  return o;
}

function jsonDir(d: DirStats, list: readonly number[], groupBytes: number): FioJsonDir {
  const bwBytes = d.runtimeMs > 0 ? Math.floor((1000 * d.ioBytes) / d.runtimeMs) : 0;
  const b = sampleStats(d.bwSamples);
  const i = sampleStats(d.iopsSamples);
  return {
    io_bytes: d.ioBytes,
    io_kbytes: Math.floor(d.ioBytes / 1024),
    bw_bytes: bwBytes,
    bw: Math.floor(bwBytes / 1024),
    iops: d.runtimeMs > 0 ? (1000 * d.totalIos) / d.runtimeMs : 0,
    runtime: d.runtimeMs,
    total_ios: d.totalIos,
    short_ios: d.shortIos,
    drop_ios: d.dropIos,
    slat_ns: jsonLat(d.slat, undefined, list),
    clat_ns: jsonLat(d.clat, d.clatHist, list),
    lat_ns: jsonLat(d.lat, undefined, list),
    bw_min: Math.round(b.min),
    bw_max: Math.round(b.max),
    bw_agg: groupBytes > 0 ? (d.ioBytes / groupBytes) * 100 : 0,
    bw_mean: b.avg,
    bw_dev: b.stdev,
    bw_samples: b.n,
    iops_min: Math.round(i.min),
    iops_max: Math.round(i.max),
    iops_mean: i.avg,
    iops_stddev: i.stdev,
    iops_samples: i.n,
  };
}

function keyed(labels: string[], vals: number[]): Record<string, number> {
  const o: Record<string, number> = {};
  labels.forEach((l, i) => { o[l] = vals[i] ?? 0; });
  return o;
}

/** The options a job was given, as fio's "job options" strings. */
function jobOptionsJson(o: JobOptions): Record<string, string> {
  if (o.jobOptions !== undefined) return { ...o.jobOptions };
  // Options built in code (not parsed): a summary of the resolved values.
  const r: Record<string, string> = { name: o.name, filename: o.filename, rw: o.rwSuffix ? `${o.rw}:${o.rwSuffix}` : o.rw };
  r.bs = o.bs[0] === o.bs[1] && o.bs[1] === o.bs[2] ? String(o.bs[0]) : o.bs.join(',');
  r.iodepth = String(o.iodepth);
  if (o.numjobs > 1) r.numjobs = String(o.numjobs);
  if (o.rw === 'rw' || o.rw === 'randrw') r.rwmixread = String(o.rwmixread);
  if (o.size) r.size = 'bytes' in o.size ? String(o.size.bytes) : `${o.size.percent}%`;
  if (o.ioSize !== undefined) r.io_size = String(o.ioSize);
  if (o.runtime > 0) r.runtime = String(o.runtime / 1000);
  if (o.timeBased) r.time_based = '1';
  if (o.verify !== 'none') r.verify = o.verify;
  if (o.randomDistribution.kind !== 'random') r.random_distribution = `${o.randomDistribution.kind}:${o.randomDistribution.param}`;
  return r;
}

/** INT_MAX: fio's "no estimate yet" eta. */
const ETA_UNKNOWN = 2147483647;

/**
 * Every job's JSON "elapsed"/"eta" is the run-wide status fio computes when it
 * prints (get_jobs_eta → calc_thread_status): elapsed is the run's wall time
 * rounded up to seconds; eta is INT_MAX while that is under 3 s (fio estimates
 * nothing before then), else the jobs' remaining time — 0, as all have finished.
 */
export function jsonEta(res: RunResult): { eta: number; elapsed: number } {
  const ms = res.runElapsedMs ?? Math.max(0, ...res.jobs.map((r) => r.elapsedMs));
  const elapsed = Math.ceil(ms / 1000);
  return { eta: elapsed >= 3 ? 0 : ETA_UNKNOWN, elapsed };
}

/** --output-format=json: fio's schema (top level, jobs[], disk_util[]). */
export function formatJson(res: RunResult): FioJson {
  const t = res.startedAt;
  // Every job sees the globals above it; fio prints one object, so merge them in job order.
  const globals: Record<string, string> = {};
  for (const r of res.jobs) Object.assign(globals, r.options.globalOptions);
  const json = jsonEta(res);
  return {
    'fio version': FIO_VERSION,
    timestamp: Math.floor(t.getTime() / 1000),
    timestamp_ms: t.getTime(),
    time: ctime(t),
    ...(Object.keys(globals).length > 0 ? { 'global options': globals } : {}),
    jobs: res.jobs.map((r) => {
      const grp = res.groups.find((g) => g.groupId === r.groupId);
      const gb = grp ? grp.dirs.map((d) => d.ioBytes) : [0, 0, 0];
      const list = r.options.percentileList;
      const lb = latencyBuckets(mergedLatHist(r));
      const job: FioJsonJob = {
        jobname: r.name,
        groupid: r.groupId,
        error: r.error,
        eta: json.eta,
        elapsed: json.elapsed,
        'job options': jobOptionsJson(r.options),
        read: jsonDir(r.dirs[0], list, gb[0] ?? 0),
        write: jsonDir(r.dirs[1], list, gb[1] ?? 0),
        trim: jsonDir(r.dirs[2], list, gb[2] ?? 0),
        sync: { total_ios: r.sync.totalIos, lat_ns: jsonLat(r.sync.lat, r.sync.hist, list) },
        job_runtime: Math.round(r.elapsedMs),
        ...((): { usr_cpu: number; sys_cpu: number; ctx: number; majf: number; minf: number } => {
          const c = cpuFigures(r);
          return { usr_cpu: c.usr, sys_cpu: c.sys, ctx: c.ctx, majf: c.majf, minf: c.minf };
        })(),
        iodepth_level: keyed(['1', '2', '4', '8', '16', '32', '>=64'], r.depthDist),
        iodepth_submit: keyed(['0', '4', '8', '16', '32', '64', '>=64'], r.submitDist),
        iodepth_complete: keyed(['0', '4', '8', '16', '32', '64', '>=64'], r.completeDist),
        latency_ns: keyed(LAT_N.map(String), lb.ns),
        latency_us: keyed(LAT_N.map(String), lb.us),
        latency_ms: keyed([...LAT_M.map(String), '>=2000'], lb.ms),
        latency_depth: r.options.iodepth,
        latency_target: 0,
        latency_percentile: 100,
        latency_window: 0,
      };
      if (r.verifyFailures.length > 0) {
        job.verify_errors = r.verifyFailures.map((f) => ({ offset: f.offset, length: f.length, bad_byte: f.badByte, message: f.message }));
      }
      return job;
    }),
    disk_util: res.diskUtil.map((u) => ({
      name: u.name, read_ios: u.readIos, write_ios: u.writeIos, read_sectors: u.readSectors, write_sectors: u.writeSectors,
      read_merges: u.readMerges, write_merges: u.writeMerges, read_ticks: Math.round(u.readTicks), write_ticks: Math.round(u.writeTicks),
      in_queue: Math.round(u.inQueue), util: u.util,
    })),
  };
}

/** fio's cpu figures: usr/sys as a percentage of the job's run time (show_thread_status), counters as they are. */
export function cpuFigures(r: JobReport): { usr: number; sys: number; ctx: number; majf: number; minf: number } {
  const c = r.cpu;
  if (c === undefined) return { usr: 0, sys: 0, ctx: 0, majf: 0, minf: 0 };
  const pct = (ms: number): number => (c.runMs > 0 ? Math.round(((ms * 100) / c.runMs) * 1e6) / 1e6 : 0);
  return { usr: pct(c.usrMs), sys: pct(c.sysMs), ctx: c.ctx, majf: c.majf, minf: c.minf };
}
