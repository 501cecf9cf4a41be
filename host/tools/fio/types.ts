// Types shared by the engine and the output formatters.
import type { BlockDevice, DiskStat } from '../../block/types.ts';
import type { JobOptions } from './options.ts';
import type { LatencyHistogram } from './hist.ts';

/** The part of a BlockDevice a job uses (a real BlockDevice satisfies it). */
export type FioTarget = Pick<BlockDevice, 'name' | 'capacityBytes' | 'logicalBlockSize' | 'submit' | 'plug' | 'unplug' | 'close'>;

/** Where jobs find their disks. */
export interface FioHost {
  /** Open a handle on the disk `filename` names; undefined (or throw) if there is none. */
  open(name: string): FioTarget | undefined;
  /** /sys/block/<name>/stat counters, for "Disk stats" and disk_util. Optional. */
  stat?(name: string): DiskStat | undefined;
  /** Logical CPUs that job clones are spread over (default 1). */
  nrCpus?: number;
  /** Logical CPUs of one disk (overrides nrCpus for it): clone k submits from cpu k mod cpus. */
  cpus?(name: string): number;
}

export interface RunOptions {
  host: FioHost;
  /** Called about twice a second with the live progress line (already formatted), for a TTY. */
  onProgress?: (line: string) => void;
  /** How often onProgress is called (default 1000 ms, like fio's status line). */
  progressIntervalMs?: number;
  /** Notes (ignored options, verify errors as they happen) — fio prints them on stderr. */
  onNote?: (line: string) => void;
  /** Clock in ns (monotonic). Default: performance.now() * 1e6. */
  now?: () => number;
  /** Called once every disk is open and the jobs are about to start (fio prints its header then). */
  onStart?: () => void;
  /** Aborts the run (SIGINT): jobs stop issuing and drain. */
  signal?: AbortSignal;
}

/** min/max/mean/stddev over samples (fio's io_stat), in ns. */
export interface LatStats {
  n: number;
  min: number;
  max: number;
  mean: number;
  stddev: number;
}

/** Per-direction results (one of read/write/trim). */
export interface DirStats {
  ioBytes: number;
  totalIos: number;
  shortIos: number;
  dropIos: number;
  /** ms during which this direction ran (fio's ts->runtime[ddir]). */
  runtimeMs: number;
  slat: LatStats;
  clat: LatStats;
  lat: LatStats;
  clatHist: LatencyHistogram;
  latHist: LatencyHistogram;
  /** Bandwidth samples (KiB/s) and IOPS samples, one per 500 ms window. */
  bwSamples: number[];
  iopsSamples: number[];
}

export interface VerifyFailure {
  job: string;
  /** Byte offset of the block on the disk. */
  offset: number;
  length: number;
  /** Offset inside the block of the first bad byte (-1 if unknown). */
  badByte: number;
  message: string;
}

export interface JobReport {
  name: string;
  /** Job clones represented (numjobs, or all jobs of a group with group_reporting). */
  jobs: number;
  groupId: number;
  options: JobOptions;
  /** 0 or an errno number (84 EILSEQ for verify failures, 5 EIO for I/O errors). */
  error: number;
  errorMessage: string;
  /** read, write, trim. */
  dirs: [DirStats, DirStats, DirStats];
  sync: { totalIos: number; lat: LatStats; hist: LatencyHistogram };
  /** Wall-clock ms the job ran (excluding ramp). */
  elapsedMs: number;
  /** IO depth distribution: fraction of submissions seen at depth 1,2,4,8,16,32,>=64. */
  depthDist: number[];
  submitDist: number[];
  completeDist: number[];
  verifyFailures: VerifyFailure[];
  /** Resources the process used while the job ran (fio's getrusage deltas). */
  cpu?: CpuUsage;
  startedAt: Date;
}

/**
 * fio's "cpu" line: getrusage() deltas over the job's run. Jobs share this
 * process, so jobs running at the same time each see the whole process's
 * usage (the host's block layer and driver work included).
 */
export interface CpuUsage {
  /** User and system CPU time, ms. */
  usrMs: number;
  sysMs: number;
  /** Wall time these were measured over, ms (usr_cpu = 100 * usrMs / runMs). */
  runMs: number;
  /** Voluntary + involuntary context switches. */
  ctx: number;
  majf: number;
  minf: number;
}

export interface GroupReport {
  groupId: number;
  /** Per direction: io bytes, aggregate bandwidth (B/s), min/max per-job bandwidth, min/max runtime ms. */
  dirs: { ioBytes: number; aggBw: number; minBw: number; maxBw: number; minRun: number; maxRun: number }[];
}

export interface DiskUtil {
  name: string;
  readIos: number;
  writeIos: number;
  readMerges: number;
  writeMerges: number;
  readSectors: number;
  writeSectors: number;
  readTicks: number;
  writeTicks: number;
  inQueue: number;
  /** Percent of the run the disk had I/O in flight. */
  util: number;
}

export interface RunResult {
  jobs: JobReport[];
  groups: GroupReport[];
  diskUtil: DiskUtil[];
  /** Exit code fio would give: 0, or 1 when any job had an error. */
  exitCode: number;
  notes: string[];
  startedAt: Date;
  /** Wall-clock ms of the whole run (fio's time since genesis), for JSON "elapsed"/"eta". */
  runElapsedMs?: number;
}
