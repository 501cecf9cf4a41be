// The job engine: runs resolved jobs against block devices through the
// no-promise submit path (BlockDevice.submit + callback), one JobRunner per
// job clone, keeping `iodepth` I/Os in flight with fio's batch semantics:
//  - iodepth_batch_submit: I/Os are prepared and then submitted together
//    inside one plug (blk_start_plug/blk_finish_plug), like io_submit(n);
//  - completions are *reaped* as fio's io_getevents does: a completion
//    callback only queues the slot, and a reap (one microtask later, so a
//    burst of completions from one interrupt is reaped together) processes
//    them. While the queue is full (every slot submitted and not reaped) a
//    reap needs at least min(iodepth_batch_complete_min, outstanding)
//    completions; it takes at most iodepth_batch_complete_max before the
//    queue is refilled (fio's wait_for_completions / td_io_getevents). When
//    the job cannot submit anyway (work done, fsync barrier, rate wait), any
//    completion is reaped at once.
// Stonewall groups run one after the other; jobs of a group run together.
// Nothing allocates per I/O except verify checksums (md5/sha256) and the
// written-block log that verify needs.
import { randomInt } from 'node:crypto';
import { BLK_STS, BLK_STS_INFO, REQ_OP, type BlkStatus, type DiskStat, type ReqOp } from '../../block/types.ts';
import { FioRunError } from './errors.ts';
import { LatencyHistogram, RunningStat } from './hist.ts';
import type { JobOptions, PerDir } from './options.ts';
import { NormalDist, ParetoDist, Prng, RandomMap, UniformDist, ZipfDist, type Distribution } from './rand.ts';
import { etaStr, num2str } from './format.ts';
import type { CpuUsage, DirStats, DiskUtil, FioHost, FioTarget, GroupReport, JobReport, RunOptions, RunResult, VerifyFailure } from './types.ts';
import { checkBlock, checkReadBlock, fillBlock, minVerifyBlock, type VerifyContext, type WrittenBlock } from './verify.ts';

const DDIR_READ = 0;
const DDIR_WRITE = 1;
const DDIR_TRIM = 2;
const DDIR_SYNC = 3;
const DDIR_OP: readonly ReqOp[] = [REQ_OP.READ, REQ_OP.WRITE, REQ_OP.DISCARD, REQ_OP.FLUSH];
const DDIR_CHAR = ['r', 'w', 't'];

/** fio's default base seed (FIO_RANDSEED). */
const FIO_RANDSEED = 0xb1899bed;
/** Bandwidth/IOPS sample window (fio's default avg_msec / bw log interval). */
const SAMPLE_MS = 500;
/** Synchronous completions processed before yielding to the event loop. */
const YIELD_EVERY = 512;

/** Buckets of fio's "IO depths" line: 1, 2, 4, 8, 16, 32, >=64. */
function depthBucket(d: number): number {
  if (d <= 1) return 0;
  if (d <= 2) return 1;
  if (d <= 4) return 2;
  if (d <= 8) return 3;
  if (d <= 16) return 4;
  if (d <= 32) return 5;
  return 6;
}
/** Buckets of "submit"/"complete": 0, 4, 8, 16, 32, 64, >=64. */
function batchBucket(n: number): number {
  if (n === 0) return 0;
  if (n <= 4) return 1;
  if (n <= 8) return 2;
  if (n <= 16) return 3;
  if (n <= 32) return 4;
  if (n <= 64) return 5;
  return 6;
}

class DirAcc {
  ioBytes = 0;
  totalIos = 0;
  shortIos = 0;
  dropIos = 0;
  readonly slat = new RunningStat();
  readonly clat = new RunningStat();
  readonly lat = new RunningStat();
  readonly clatHist = new LatencyHistogram();
  readonly latHist = new LatencyHistogram();
  readonly bwSamples: number[] = [];
  readonly iopsSamples: number[] = [];
  windowBytes = 0;
  windowIos = 0;

  reset(): void {
    this.ioBytes = 0; this.totalIos = 0; this.shortIos = 0; this.dropIos = 0;
    this.slat.reset(); this.clat.reset(); this.lat.reset();
    this.clatHist.reset(); this.latHist.reset();
    this.bwSamples.length = 0; this.iopsSamples.length = 0;
    this.windowBytes = 0; this.windowIos = 0;
  }
}

/** One I/O slot: a preallocated buffer and a completion callback made once. */
interface Slot {
  readonly index: number;
  readonly buf: Uint8Array;
  ddir: number;
  offset: number;
  len: number;
  tPrep: number;
  tIssue: number;
  /** Completion status, kept from the callback until the slot is reaped. */
  status: BlkStatus;
  /** What a write put there (verify), or what a verify read expects. */
  block: WrittenBlock | undefined;
  isVerifyRead: boolean;
  readonly cb: (status: BlkStatus, result: number) => void;
}

type Phase = 'idle' | 'delay' | 'run' | 'drain' | 'endsync' | 'verify' | 'done';

export class JobRunner {
  readonly dirs: [DirAcc, DirAcc, DirAcc] = [new DirAcc(), new DirAcc(), new DirAcc()];
  readonly sync = { n: 0, lat: new RunningStat(), hist: new LatencyHistogram() };
  readonly depthCounts = new Array<number>(7).fill(0);
  readonly submitCounts = new Array<number>(7).fill(0);
  readonly completeCounts = new Array<number>(7).fill(0);
  readonly verifyFailures: VerifyFailure[] = [];
  error = 0;
  errorMessage = '';
  phase: Phase = 'idle';
  /** A job that only reads, with verify= set, checks every read (fio: verify when !td_rw). */
  private readonly verifyEveryRead: boolean;
  /** ns at which statistics started (after ramp). */
  statsStart = 0;
  statsEnd = 0;
  private lastSample = 0;
  readonly startedAt = new Date();

  // Region and limits.
  private regionStart = 0;
  private regionSize = 0;
  private ioLimit = 0;
  private minBs: PerDir<number> = [0, 0, 0];
  private maxBs = 0;
  private align: PerDir<number> = [0, 0, 0];

  // Generators.
  private readonly rngOffset: Prng;
  private readonly rngDir: Prng;
  private readonly rngBs: Prng;
  private readonly rngVerify: Prng;
  private readonly dist: PerDir<Distribution | undefined> = [undefined, undefined, undefined];
  private readonly maps: PerDir<RandomMap | undefined> = [undefined, undefined, undefined];
  private readonly nBlocks: PerDir<number> = [0, 0, 0];
  private readonly seqPos: PerDir<number> = [0, 0, 0];
  private readonly seqRun: PerDir<number> = [0, 0, 0];

  // Progress of the current loop.
  private bytesIssued = 0;
  private iosIssued = 0;
  private readonly dirBytesIssued: PerDir<number> = [0, 0, 0];
  private readonly dirIosIssued: PerDir<number> = [0, 0, 0];
  private writesSinceSync = 0;
  private loopsLeft = 0;
  private pendingDdir = -1;
  private phaseStart = 0;
  private runDeadline = Infinity;
  private rampEnd = 0;
  private inRamp = false;
  private stopIssuing = false;
  private workDone = false;

  // Queue state.
  private readonly slots: Slot[] = [];
  private readonly free: number[] = [];
  private readonly batch: Slot[] = [];
  private inflight = 0;
  /** Completed, not yet reaped slots: a ring of iodepth entries. */
  private doneRing: (Slot | undefined)[] = [];
  private doneHead = 0;
  private doneCount = 0;
  private reapScheduled = false;
  private readonly reapTask = (): void => {
    this.reapScheduled = false;
    this.pump();
  };
  private barrier = false;
  private syncInflight = false;
  private syncStart = 0;
  private readonly syncCb: (status: BlkStatus) => void;
  private pumping = false;
  private pumpAgain = false;
  private sinceYield = 0;
  private yieldPending = false;
  private readonly resume = (): void => {
    this.yieldPending = false;
    this.sinceYield = 0;
    this.pump();
  };
  private timer: NodeJS.Timeout | undefined;
  private rateTimer: NodeJS.Timeout | undefined;
  private sampler: NodeJS.Timeout | undefined;

  // Verify.
  private readonly vctx: VerifyContext;
  private readonly written = new Map<number, WrittenBlock>();
  private readonly backlog: WrittenBlock[] = [];
  private backlogDrain = false;
  private verifyIter: Iterator<WrittenBlock> | undefined;
  private numberio = 0;

  private resolveDone: (() => void) | undefined;
  /** Process resource usage when the job started running, and the delta at its end. */
  private ruStart: NodeJS.ResourceUsage | undefined;
  private ruStartNs = 0;
  cpuUsage: CpuUsage | undefined;

  constructor(
    readonly opts: JobOptions,
    readonly target: FioTarget,
    readonly cloneIndex: number,
    readonly globalIndex: number,
    readonly groupId: number,
    readonly cpu: number,
    private readonly now: () => number,
    private readonly note: (s: string) => void,
  ) {
    const base = opts.randseed ?? (opts.randrepeat ? FIO_RANDSEED : randomInt(0, 0xffffffff));
    const seed = (k: number): number => (Math.imul(base ^ 0x5bd1e995, k * 2 + 1) + Math.imul(globalIndex + 1, 0x9e3779b1)) >>> 0;
    this.rngOffset = new Prng(seed(1));
    this.rngDir = new Prng(seed(2));
    this.rngBs = new Prng(seed(3));
    this.rngVerify = new Prng(seed(4));
    this.vctx = { kind: opts.verify, pattern: opts.verifyPattern, job: globalIndex };
    this.verifyEveryRead = opts.verify !== 'none' && dirUsed(opts, DDIR_READ) && !dirUsed(opts, DDIR_WRITE);
    this.syncCb = (status) => this.onSyncDone(status);
    this.setup();
  }

  private setup(): void {
    const o = this.opts;
    const t = this.target;
    const cap = t.capacityBytes;
    const lbs = t.logicalBlockSize;
    const alignDown = (n: number): number => Math.floor(n / lbs) * lbs;
    const off = ('percent' in o.offset ? alignDown((cap * o.offset.percent) / 100) : o.offset.bytes) + this.cloneIndex * o.offsetIncrement;
    if (off % lbs !== 0) throw new FioRunError(`job '${o.name}': offset=${off} is not a multiple of ${t.name}'s logical block size ${lbs}`);
    if (off >= cap) throw new FioRunError(`job '${o.name}': offset=${off} is beyond the end of ${t.name} (${cap} bytes)`);
    let size = o.size === undefined ? cap - off : 'percent' in o.size ? alignDown((cap * o.size.percent) / 100) : o.size.bytes;
    if (off + size > cap) {
      this.note(`${o.name}: size=${size} at offset=${off} goes past the end of ${t.name}; using ${cap - off}`);
      size = cap - off;
    }
    this.regionStart = off;
    this.regionSize = size;
    this.ioLimit = o.ioSize ?? size;

    for (let d = 0; d < 3; d++) {
      const sizes = o.bssplit ? o.bssplit[d].map((e) => e.bs) : o.bsrange ? [o.bsrange[d][0], o.bsrange[d][1]] : [o.bs[d]];
      for (const s of sizes) {
        if (s % lbs !== 0) throw new FioRunError(`job '${o.name}': block size ${s} is not a multiple of ${t.name}'s logical block size ${lbs}`);
        if (s > size) throw new FioRunError(`job '${o.name}': block size ${s} is larger than the region (${size} bytes)`);
        if (d !== DDIR_TRIM && o.verify !== 'none' && s < minVerifyBlock(o.verify)) {
          throw new FioRunError(`job '${o.name}': block size ${s} is too small for verify=${o.verify} (min ${minVerifyBlock(o.verify)})`);
        }
      }
      this.minBs[d] = Math.min(...sizes);
      if (d !== DDIR_TRIM || isTrim(o)) this.maxBs = Math.max(this.maxBs, ...sizes);
      const a = o.blockalign?.[d] || this.minBs[d];
      if (a % lbs !== 0) throw new FioRunError(`job '${o.name}': blockalign=${a} is not a multiple of ${t.name}'s logical block size ${lbs}`);
      this.align[d] = a;
      this.nBlocks[d] = Math.max(1, Math.floor((size - this.minBs[d]) / a) + 1);
    }
    if (isRandom(o)) {
      for (let d = 0; d < 3; d++) {
        const n = this.nBlocks[d];
        const scatter = this.rngOffset.u32() % n;
        switch (o.randomDistribution.kind) {
          case 'random': this.dist[d] = new UniformDist(n); break;
          case 'zipf': this.dist[d] = new ZipfDist(n, o.randomDistribution.param, scatter); break;
          case 'pareto': this.dist[d] = new ParetoDist(n, o.randomDistribution.param, scatter); break;
          case 'normal': this.dist[d] = new NormalDist(n, o.randomDistribution.param); break;
        }
        // fio: a non-uniform distribution disables the random map.
        if (!o.norandommap && o.randomDistribution.kind === 'random' && dirUsed(o, d)) this.maps[d] = new RandomMap(n);
      }
    }
    // Slots: one buffer per in-flight I/O, sized for the largest block.
    const bufLen = Math.max(this.maxBs, lbs);
    const fill = new Prng(0x1234 + this.globalIndex);
    for (let i = 0; i < o.iodepth; i++) {
      const buf = new Uint8Array(bufLen);
      // fio fills write buffers with random data by default (non-compressible).
      for (let k = 0; k < bufLen; k += 4) {
        const v = fill.u32();
        buf[k] = v; buf[k + 1] = v >>> 8; buf[k + 2] = v >>> 16; buf[k + 3] = v >>> 24;
      }
      const slot: Slot = {
        index: i, buf, ddir: 0, offset: 0, len: 0, tPrep: 0, tIssue: 0, status: BLK_STS.OK, block: undefined, isVerifyRead: false,
        cb: (status) => this.onComplete(slot, status),
      };
      this.slots.push(slot);
      this.free.push(i);
    }
    this.doneRing = new Array<Slot | undefined>(o.iodepth).fill(undefined);
  }

  /** Starts the job; resolves when it has finished (never rejects). */
  run(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      this.resolveDone = resolve;
      signal?.addEventListener('abort', () => this.stop('aborted'), { once: true });
      this.loopsLeft = this.opts.loops;
      if (this.opts.startdelay > 0) {
        this.phase = 'delay';
        this.timer = setTimeout(() => this.startRun(), this.opts.startdelay);
      } else {
        this.startRun();
      }
    });
  }

  /** Bytes done so far in this job's current phase vs the total, for progress (0..1). */
  progress(): number {
    if (this.phase === 'done') return 1;
    const o = this.opts;
    if (o.timeBased || (o.runtime > 0 && this.runDeadline !== Infinity)) {
      const total = o.runtime + o.rampTime;
      const el = (this.now() - this.phaseStart) / 1e6;
      const tp = total > 0 ? Math.min(1, el / total) : 0;
      if (o.timeBased) return tp;
      return Math.max(tp, this.bytesFraction());
    }
    return this.bytesFraction();
  }

  private bytesFraction(): number {
    const total = this.ioLimit * this.opts.loops;
    const done = this.ioLimit * (this.opts.loops - this.loopsLeft) + this.bytesIssued;
    return total > 0 ? Math.min(1, done / total) : 0;
  }

  /** This job starts a stonewall group (fio sums such pending jobs' etas). */
  isStonewalled(): boolean {
    return this.opts.stonewall;
  }

  /**
   * Seconds this job still needs, as fio's thread_eta (eta.c) estimates them:
   * running → from the bytes done vs the bytes it will move (twice the size for
   * a write job that verifies afterwards; the write share of it for a mixed
   * one), or from the runtime when time_based, capped at what the runtime
   * leaves; not started yet → pessimistically the runtime (+ ramp), or the size
   * at the rate limit; finished → 0.
   */
  etaSec(): number {
    if (this.phase === 'done') return 0;
    const o = this.opts;
    const timeout = o.runtime / 1000;
    let total = this.ioLimit * o.loops;
    if (o.verify !== 'none' && o.doVerify && dirUsed(o, DDIR_WRITE)) {
      total += dirUsed(o, DDIR_READ) ? Math.floor((total * (100 - o.rwmixread)) / 100) : total;
    }
    if (this.phase === 'idle' || this.phase === 'delay') {
      if (timeout > 0) return Math.ceil(timeout + o.rampTime / 1000);
      const rate = o.rate[0] + o.rate[1] + o.rate[2];
      return rate > 0 ? Math.ceil(total / rate) : 0;
    }
    // fio rounds the elapsed time up to whole seconds.
    const elapsed = Math.ceil((this.now() - this.phaseStart) / 1e9);
    const done = this.dirs[0].ioBytes + this.dirs[1].ioBytes + this.dirs[2].ioBytes;
    let perc = total > 0 ? Math.min(1, done / total) : 0;
    if (o.timeBased) perc = timeout > 0 ? Math.min(perc, elapsed / timeout) : 0;
    let eta = perc === 0 ? timeout : elapsed / perc - elapsed;
    if (timeout > 0 && eta > timeout - elapsed) eta = timeout - elapsed;
    return Math.max(0, Math.floor(eta));
  }

  /** Short progress tag, e.g. "r", "w", "m" (mixed), "V" (verifying), "f" (finished). */
  stateChar(): string {
    if (this.phase === 'done') return '_';
    if (this.phase === 'verify' || this.backlogDrain) return 'V';
    if (this.phase === 'delay' || this.phase === 'idle') return 'P';
    const rw = this.opts.rw;
    if (rw === 'rw' || rw === 'randrw') return rw === 'rw' ? 'M' : 'm';
    const seq = !isRandom(this.opts);
    const c = rw.includes('read') ? 'r' : rw.includes('write') ? 'w' : 'd';
    return seq ? c.toUpperCase() : c;
  }

  stop(reason: string): void {
    if (this.phase === 'done') return;
    if (reason === 'aborted' && this.error === 0) this.errorMessage = 'aborted';
    this.stopIssuing = true;
    this.barrier = false;
    if (this.phase === 'delay') {
      if (this.timer) clearTimeout(this.timer);
      this.finish();
      return;
    }
    this.maybeAdvance();
  }

  private startRun(): void {
    const t = this.now();
    this.ruStart = process.resourceUsage();
    this.ruStartNs = t;
    this.phase = 'run';
    this.phaseStart = t;
    this.inRamp = this.opts.rampTime > 0;
    this.rampEnd = t + this.opts.rampTime * 1e6;
    this.statsStart = this.inRamp ? this.rampEnd : t;
    this.runDeadline = this.opts.runtime > 0 ? this.statsStart + this.opts.runtime * 1e6 : Infinity;
    if (this.runDeadline !== Infinity) {
      this.timer = setTimeout(() => this.onDeadline(), Math.max(1, (this.runDeadline - t) / 1e6));
    }
    this.sampler = setInterval(() => this.sample(), SAMPLE_MS);
    this.beginLoop();
    this.pump();
  }

  private onDeadline(): void {
    this.timer = undefined;
    if (this.phase === 'run') {
      this.stopIssuing = true;
      this.maybeAdvance();
    }
  }

  private beginLoop(): void {
    this.bytesIssued = 0;
    this.iosIssued = 0;
    this.dirBytesIssued.fill(0);
    this.dirIosIssued.fill(0);
    this.workDone = false;
    for (let d = 0; d < 3; d++) {
      this.seqPos[d] = this.regionStart;
      this.seqRun[d] = 0;
      this.maps[d]?.reset();
    }
  }

  /** Closes a bandwidth/IOPS window. The last, partial window counts only if it is the only one or at least half a window. */
  private sample(final = false): void {
    if (this.inRamp) return;
    const t = this.now();
    const secs = (t - Math.max(this.lastSample, this.statsStart)) / 1e9;
    if (secs <= 0) return;
    const partialTooShort = final && secs < SAMPLE_MS / 2000;
    this.lastSample = t;
    for (const d of this.dirs) {
      if (d.windowIos === 0 && d.totalIos === 0) continue;
      if (partialTooShort && d.bwSamples.length > 0) continue;
      d.bwSamples.push(d.windowBytes / 1024 / secs);
      d.iopsSamples.push(d.windowIos / secs);
      d.windowBytes = 0;
      d.windowIos = 0;
    }
  }

  private endRamp(t: number): void {
    this.inRamp = false;
    for (const d of this.dirs) d.reset();
    this.sync.n = 0; this.sync.lat.reset(); this.sync.hist.reset();
    this.depthCounts.fill(0); this.submitCounts.fill(0); this.completeCounts.fill(0);
    this.statsStart = t;
    this.lastSample = t;
  }

  // ── the submission loop ──

  /** Fills the queue; re-entrant calls (inline completions) just ask for another round. */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    if (this.yieldPending) return;
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        this.reap();
        if (this.phase !== 'run' && this.phase !== 'verify') continue;
        while (this.free.length > 0 && !this.stopIssuing && !this.barrier) {
          if (++this.sinceYield > YIELD_EVERY) {
            // Inline or microtask completions never return to the event loop
            // by themselves: yield so timers and other jobs get their turn.
            this.commit();
            this.pumpAgain = false;
            if (!this.yieldPending) {
              this.yieldPending = true;
              setImmediate(this.resume);
            }
            return;
          }
          if (!this.prepareNext()) break;
          if (this.batch.length >= this.opts.iodepthBatchSubmit) this.commit();
        }
        this.commit();
      } while (this.pumpAgain || this.reapCount() > 0);
    } finally {
      this.pumping = false;
    }
    this.maybeAdvance();
  }

  /** Submits the prepared batch inside one plug. */
  private commit(): void {
    const n = this.batch.length;
    if (n === 0) return;
    this.submitCounts[batchBucket(n)]++;
    const t = this.target;
    if (n > 1) t.plug();
    for (let i = 0; i < n; i++) {
      const s = this.batch[i];
      if (s === undefined) continue;
      this.inflight++;
      this.depthCounts[depthBucket(this.inflight + this.doneCount)]++;
      s.tIssue = this.now();
      if (s.ddir === DDIR_TRIM) t.submit(REQ_OP.DISCARD, s.offset, s.len, 0, this.cpu, s.cb);
      else t.submit(DDIR_OP[s.ddir] ?? REQ_OP.READ, s.offset, s.buf.subarray(0, s.len), 0, this.cpu, s.cb);
    }
    this.batch.length = 0;
    if (n > 1) t.unplug();
  }

  /** Picks the next I/O into a free slot and queues it in the batch; false if there is none now. */
  private prepareNext(): boolean {
    const o = this.opts;
    const now = this.now();
    if (this.phase === 'run') {
      if (this.inRamp && now >= this.rampEnd) this.endRamp(now);
      if (now >= this.runDeadline) {
        this.stopIssuing = true;
        return false;
      }
    }
    // Verify reads first: the final verify phase, or a verify_backlog drain.
    if (this.phase === 'verify' || this.backlogDrain) {
      const b = this.nextVerifyBlock();
      if (b !== undefined) return this.queueIo(DDIR_READ, b.offset, b.len, b, true, now);
      if (this.phase === 'verify') {
        this.workDone = true;
        return false;
      }
    }
    if (this.workDone) return false;
    if (!o.timeBased && (this.bytesIssued >= this.ioLimit || (o.numberIos > 0 && this.iosIssued >= o.numberIos))) {
      this.workDone = true;
      return false;
    }
    const d = this.pendingDdir >= 0 ? this.pendingDdir : this.pickDdir();
    // Rate limits (rate= / rate_iops=): wait until this direction is due.
    const rate = o.rate[d] ?? 0;
    const riops = o.rateIops[d] ?? 0;
    if (rate > 0 || riops > 0) {
      const dueNs = Math.max(rate > 0 ? (this.dirBytesIssued[d] / rate) * 1e9 : 0, riops > 0 ? (this.dirIosIssued[d] / riops) * 1e9 : 0);
      const at = this.phaseStart + dueNs;
      if (at > now) {
        this.pendingDdir = d;
        this.armRateTimer((at - now) / 1e6);
        return false;
      }
    }
    this.pendingDdir = -1;
    let len = this.pickBs(d);
    let off: number;
    if (isRandom(o) && this.seqRun[d] <= 0) {
      const r = this.pickRandom(d, len);
      off = r.off;
      len = r.len;
      this.seqRun[d] = o.rwSuffix > 0 ? o.rwSuffix - 1 : 0;
      this.seqPos[d] = off + len;
    } else {
      if (isRandom(o)) this.seqRun[d]--;
      off = this.seqPos[d];
      const end = this.regionStart + this.regionSize;
      if (off + len > end) {
        // End of the region: a time_based job or io_size > size wraps; otherwise sequential work is done.
        if (!o.timeBased && this.ioLimit <= this.regionSize) {
          this.workDone = true;
          return false;
        }
        off = this.regionStart;
      }
      this.seqPos[d] = off + len + (isRandom(o) ? 0 : o.rwSuffix);
    }
    let block: WrittenBlock | undefined;
    if (d === DDIR_WRITE && o.verify !== 'none') {
      block = { offset: off, len, seed: this.rngVerify.u32(), numberio: this.numberio++ };
    }
    this.bytesIssued += len;
    this.iosIssued++;
    this.dirBytesIssued[d] += len;
    this.dirIosIssued[d]++;
    if (d === DDIR_WRITE && o.fsync > 0 && ++this.writesSinceSync >= o.fsync) {
      this.writesSinceSync = 0;
      this.barrier = true; // flush once what is in flight has completed
    }
    return this.queueIo(d, off, len, block, false, now);
  }

  private armRateTimer(ms: number): void {
    if (this.rateTimer !== undefined) return;
    this.rateTimer = setTimeout(() => {
      this.rateTimer = undefined;
      this.pump();
    }, Math.max(1, Math.ceil(ms)));
  }

  private queueIo(d: number, off: number, len: number, block: WrittenBlock | undefined, verifyRead: boolean, now: number): boolean {
    const idx = this.free.pop();
    if (idx === undefined) return false;
    const s = this.slots[idx];
    if (s === undefined) return false;
    s.ddir = d;
    s.offset = off;
    s.len = len;
    s.block = block;
    s.isVerifyRead = verifyRead;
    s.tPrep = now;
    if (block !== undefined && !verifyRead) fillBlock(this.vctx, s.buf, len, block);
    this.batch.push(s);
    return true;
  }

  private pickDdir(): number {
    switch (this.opts.rw) {
      case 'read': case 'randread': return DDIR_READ;
      case 'write': case 'randwrite': return DDIR_WRITE;
      case 'trim': case 'randtrim': return DDIR_TRIM;
      default: return this.rngDir.below(100) < this.opts.rwmixread ? DDIR_READ : DDIR_WRITE;
    }
  }

  private pickBs(d: number): number {
    const o = this.opts;
    if (o.bssplit) {
      const list = o.bssplit[d];
      let r = this.rngBs.float() * 100;
      for (const e of list) {
        if (r < e.perc) return e.bs;
        r -= e.perc;
      }
      return list[list.length - 1]?.bs ?? o.bs[d];
    }
    if (o.bsrange) {
      const [lo, hi] = o.bsrange[d];
      const steps = Math.floor(hi / lo);
      return lo * (1 + this.rngBs.below(steps));
    }
    return o.bs[d];
  }

  private pickRandom(d: number, len: number): { off: number; len: number } {
    const a = this.align[d];
    const n = this.nBlocks[d];
    const dist = this.dist[d];
    let blk = dist ? dist.next(this.rngOffset) : 0;
    const map = this.maps[d];
    if (map) {
      blk = map.pick(blk);
      // Take only free blocks: shorten the I/O where it would run into used ones.
      const want = Math.max(1, Math.ceil(len / a));
      let got = 1;
      map.set(blk);
      while (got < want && blk + got < n && !map.isSet(blk + got)) {
        map.set(blk + got);
        got++;
      }
      if (got < want) len = Math.max(this.minBs[d], Math.min(len, got * a));
    }
    let off = this.regionStart + blk * a;
    const end = this.regionStart + this.regionSize;
    if (off + len > end) {
      if (map) {
        // Keep to the blocks just claimed: shorten at the end of the region.
        const lbs = this.target.logicalBlockSize;
        len = Math.max(this.minBs[d], Math.floor((end - off) / lbs) * lbs);
        if (off + len > end) off = end - len;
      } else {
        // Keep the chosen size (it is one of bs/bsrange/bssplit): move the I/O back to fit.
        off = this.regionStart + Math.max(0, Math.floor((end - len - this.regionStart) / a) * a);
      }
    }
    return { off, len };
  }

  private nextVerifyBlock(): WrittenBlock | undefined {
    if (this.backlogDrain) {
      const b = this.backlog.shift();
      if (b !== undefined) return b;
      this.backlogDrain = false;
      return undefined;
    }
    if (this.verifyIter === undefined) this.verifyIter = this.written.values();
    const r = this.verifyIter.next();
    return r.done === true ? undefined : r.value;
  }

  // ── completions ──

  private onComplete(s: Slot, status: BlkStatus): void {
    this.inflight--;
    s.status = status;
    this.doneRing[(this.doneHead + this.doneCount) % this.doneRing.length] = s;
    this.doneCount++;
    if (this.pumping) this.pumpAgain = true;
    else if (!this.reapScheduled) {
      this.reapScheduled = true;
      queueMicrotask(this.reapTask);
    }
  }

  /**
   * How many completions a reap takes now (0: wait). fio's
   * wait_for_completions: with the queue full it must get at least
   * min(iodepth_batch_complete_min, outstanding), at least 1; otherwise it
   * takes what is there. Never more than iodepth_batch_complete_max.
   */
  private reapCount(): number {
    const n = this.doneCount;
    if (n === 0) return 0;
    if (this.free.length === 0) {
      const need = Math.max(1, Math.min(this.opts.iodepthBatchCompleteMin, this.inflight + n));
      if (n < need) return 0;
    }
    return Math.min(n, Math.max(1, this.opts.iodepthBatchCompleteMax));
  }

  /** Processes reaped completions: accounting (clat taken at reap time, as fio does), verify, slot back to the free list. */
  private reap(): void {
    const k = this.reapCount();
    if (k === 0) return;
    const t = this.now();
    const ring = this.doneRing;
    for (let i = 0; i < k; i++) {
      const s = ring[this.doneHead];
      ring[this.doneHead] = undefined;
      this.doneHead = (this.doneHead + 1) % ring.length;
      this.doneCount--;
      if (s === undefined) continue;
      const d = s.ddir;
      if (s.status !== BLK_STS.OK) {
        this.ioError(s, s.status);
      } else {
        if (!this.inRamp) this.account(d, s, t);
        if (s.isVerifyRead && s.block !== undefined) this.verifyRead(s);
        else if (d === DDIR_WRITE && s.block !== undefined) this.logWrite(s.block);
        else if (d === DDIR_READ && this.verifyEveryRead) this.verifyPlainRead(s);
      }
      s.block = undefined;
      this.free.push(s.index);
    }
    this.completeCounts[batchBucket(k)]++;
  }

  private account(d: number, s: Slot, t: number): void {
    const acc = this.dirs[d];
    if (acc === undefined) return;
    const slat = s.tIssue - s.tPrep;
    const clat = t - s.tIssue;
    const lat = t - s.tPrep;
    acc.ioBytes += s.len;
    acc.totalIos++;
    acc.windowBytes += s.len;
    acc.windowIos++;
    acc.slat.add(slat);
    acc.clat.add(clat);
    acc.lat.add(lat);
    acc.clatHist.add(clat);
    acc.latHist.add(lat);
  }

  private logWrite(b: WrittenBlock): void {
    // Re-inserting moves an overwritten offset to the end (verify order = last write order).
    this.written.delete(b.offset);
    this.written.set(b.offset, b);
    if (this.opts.verifyBacklog > 0) {
      this.backlog.push(b);
      if (this.backlog.length >= this.opts.verifyBacklog) this.backlogDrain = true;
    }
  }

  private verifyRead(s: Slot): void {
    const b = s.block;
    if (b === undefined) return;
    // An entry overwritten since it was queued for verify is checked against the newest write.
    const cur = this.written.get(b.offset) ?? b;
    const p = checkBlock(this.vctx, this.target.name, s.buf, cur);
    if (p === undefined) return;
    const f: VerifyFailure = { job: this.opts.name, offset: cur.offset, length: cur.len, badByte: p.badByte, message: p.message };
    this.verifyFailures.push(f);
    this.note(p.message);
    if (this.error === 0) {
      this.error = 84; // EILSEQ, as fio reports verify failures
      this.errorMessage = `verify failed at offset ${cur.offset}`;
    }
    if (this.opts.verifyFatal) {
      this.note(`fio: pid=${process.pid}, err=84/file:io_u.c, func=io_u_sync_complete, error=Invalid or incomplete multibyte or wide character`);
      this.stopIssuing = true;
      this.workDone = true;
    }
  }

  /**
   * A read-only job's read with verify= set: fio checks it against the block's
   * own header (backend.c, !td_rw), and a failure is an ordinary I/O error —
   * EILSEQ, the job stops (no continue_on_error here), exit status 1.
   */
  private verifyPlainRead(s: Slot): void {
    const p = checkReadBlock(this.vctx, this.target.name, s.buf, s.offset, s.len);
    if (p === undefined) return;
    this.verifyFailures.push({ job: this.opts.name, offset: s.offset, length: s.len, badByte: p.badByte, message: p.message });
    this.note(p.message);
    if (this.error === 0) {
      this.error = 84;
      this.errorMessage = `verify failed at offset ${s.offset}`;
      this.note(`fio: pid=${process.pid}, err=84/file:io_u.c, func=io_u_sync_complete, error=Invalid or incomplete multibyte or wide character`);
    }
    this.stopIssuing = true;
    this.workDone = true;
  }

  private ioError(s: Slot, status: BlkStatus): void {
    const info = BLK_STS_INFO[status] ?? BLK_STS_INFO[BLK_STS.IOERR];
    const op = ['read', 'write', 'trim'][s.ddir] ?? 'io';
    if (this.error === 0) {
      this.error = info.errnoNum;
      this.errorMessage = `io_u error on file ${this.target.name}: ${info.desc} error (${info.errno}): ${op} offset=${s.offset}, buflen=${s.len}`;
      this.note(`fio: ${this.errorMessage}`);
    }
    this.stopIssuing = true;
  }

  private onSyncDone(status: BlkStatus): void {
    const t = this.now();
    this.syncInflight = false;
    if (status !== BLK_STS.OK) {
      const info = BLK_STS_INFO[status] ?? BLK_STS_INFO[BLK_STS.IOERR];
      if (this.error === 0) {
        this.error = info.errnoNum;
        this.errorMessage = `flush on ${this.target.name} failed: ${info.errno}`;
        this.note(`fio: ${this.errorMessage}`);
      }
      this.stopIssuing = true;
    } else if (!this.inRamp) {
      this.sync.n++;
      this.sync.lat.add(t - this.syncStart);
      this.sync.hist.add(t - this.syncStart);
    }
    if (this.phase === 'endsync') {
      this.afterEndSync();
      return;
    }
    this.barrier = false;
    this.pump();
  }

  private issueSync(): void {
    this.syncInflight = true;
    this.syncStart = this.now();
    this.target.submit(REQ_OP.FLUSH, 0, 0, 0, this.cpu, this.syncCb);
  }

  /** Moves the job along once its queue has drained: barrier flush, next loop, end flush, verify, done. */
  private maybeAdvance(): void {
    if (this.pumping || this.yieldPending || this.inflight > 0 || this.doneCount > 0 || this.syncInflight || this.batch.length > 0) return;
    if (this.phase === 'run') {
      if (this.barrier && !this.stopIssuing) {
        this.issueSync();
        return;
      }
      if (!this.stopIssuing && !this.workDone) return; // waiting for a rate timer
      if (this.backlog.length > 0 && !this.stopIssuing) {
        this.backlogDrain = true;
        this.workDone = false;
        this.pump();
        return;
      }
      if (!this.stopIssuing && --this.loopsLeft > 0) {
        this.beginLoop();
        this.pump();
        return;
      }
      this.phase = 'drain';
    }
    if (this.phase === 'drain') {
      if (this.opts.endFsync && this.error === 0) {
        this.phase = 'endsync';
        this.issueSync();
        return;
      }
      this.afterEndSync();
      return;
    }
    if (this.phase === 'verify') {
      if (!this.workDone && !this.stopIssuing) return;
      this.finish();
    }
  }

  private afterEndSync(): void {
    const o = this.opts;
    const aborted = this.errorMessage === 'aborted';
    if (o.verify !== 'none' && o.doVerify && o.verifyBacklog === 0 && this.written.size > 0 && !(o.verifyFatal && this.error !== 0) && !aborted &&
      (this.error === 0 || this.error === 84)) {
      this.phase = 'verify';
      this.stopIssuing = false;
      this.workDone = false;
      this.barrier = false;
      this.backlogDrain = false;
      this.backlog.length = 0;
      this.verifyIter = undefined;
      this.pump();
      return;
    }
    this.finish();
  }

  private finish(): void {
    if (this.phase === 'done') return;
    this.statsEnd = this.now();
    this.phase = 'done';
    const r0 = this.ruStart;
    if (r0 !== undefined) {
      const r1 = process.resourceUsage();
      this.cpuUsage = {
        usrMs: (r1.userCPUTime - r0.userCPUTime) / 1000,
        sysMs: (r1.systemCPUTime - r0.systemCPUTime) / 1000,
        runMs: Math.max(0, (this.statsEnd - this.ruStartNs) / 1e6),
        ctx: r1.voluntaryContextSwitches - r0.voluntaryContextSwitches + (r1.involuntaryContextSwitches - r0.involuntaryContextSwitches),
        majf: r1.majorPageFault - r0.majorPageFault,
        minf: r1.minorPageFault - r0.minorPageFault,
      };
    }
    if (this.timer) clearTimeout(this.timer);
    if (this.rateTimer) clearTimeout(this.rateTimer);
    if (this.sampler) clearInterval(this.sampler);
    this.sample(true);
    const r = this.resolveDone;
    this.resolveDone = undefined;
    r?.();
  }

  /** Elapsed ms of the measured part (after ramp, up to the end of the verify phase). */
  elapsedMs(): number {
    const end = this.phase === 'done' ? this.statsEnd : this.now();
    return Math.max(0, (end - this.statsStart) / 1e6);
  }

  /** Live figures for the progress line: bytes and ios completed per direction so far. */
  liveCounts(): { bytes: PerDir<number>; ios: PerDir<number> } {
    return { bytes: [this.dirs[0].ioBytes, this.dirs[1].ioBytes, this.dirs[2].ioBytes], ios: [this.dirs[0].totalIos, this.dirs[1].totalIos, this.dirs[2].totalIos] };
  }
}

function isRandom(o: JobOptions): boolean {
  return o.rw === 'randread' || o.rw === 'randwrite' || o.rw === 'randrw' || o.rw === 'randtrim';
}
function isTrim(o: JobOptions): boolean {
  return o.rw === 'trim' || o.rw === 'randtrim';
}
function dirUsed(o: JobOptions, d: number): boolean {
  if (d === DDIR_TRIM) return isTrim(o);
  if (d === DDIR_READ) return o.rw !== 'write' && o.rw !== 'randwrite' && !isTrim(o);
  return o.rw !== 'read' && o.rw !== 'randread' && !isTrim(o);
}

// ─────────────────────────── orchestration ───────────────────────────

interface Clone {
  runner: JobRunner;
  opts: JobOptions;
}

/** Runs all jobs: stonewall groups in order, the jobs of a group in parallel. */
export async function runJobs(jobs: readonly JobOptions[], ro: RunOptions): Promise<RunResult> {
  const now = ro.now ?? ((): number => performance.now() * 1e6);
  const notes: string[] = [];
  const note = (s: string): void => {
    notes.push(s);
    ro.onNote?.(s);
  };
  const startedAt = new Date();
  const ignored = new Set<string>();
  for (const j of jobs) for (const i of j.ignored) ignored.add(i);
  if (ignored.size > 0) note(`note: ${[...ignored].join(', ')} accepted and ignored (nvmelab always uses the block layer's async submit path; there is no page cache)`);

  // Expand numjobs and assign groups; open every disk before anything runs.
  const nrCpus = Math.max(1, ro.host.nrCpus ?? 1);
  const groups: Clone[][] = [];
  const targets: FioTarget[] = [];
  const diskNames = new Set<string>();
  let g = -1;
  let global = 0;
  try {
    for (let ji = 0; ji < jobs.length; ji++) {
      const o = jobs[ji];
      if (o === undefined) continue;
      if (o.filename === '') throw new FioRunError(`job '${o.name}': no filename= (the disk to run against)`);
      if (g < 0 || o.stonewall) {
        g++;
        groups.push([]);
      }
      for (let c = 0; c < o.numjobs; c++) {
        let t: FioTarget | undefined;
        try {
          t = ro.host.open(o.filename);
        } catch (e) {
          throw new FioRunError(`job '${o.name}': filename=${o.filename}: ${(e as Error).message}`);
        }
        if (t === undefined) throw new FioRunError(`job '${o.name}': filename=${o.filename}: no such disk`);
        targets.push(t);
        diskNames.add(t.name);
        const cpus = Math.max(1, ro.host.cpus?.(t.name) ?? nrCpus);
        const runner = new JobRunner(o, t, c, global, g, global % cpus, now, note);
        groups[g]?.push({ runner, opts: o });
        global++;
      }
    }
  } catch (e) {
    for (const t of targets) t.close();
    throw e;
  }

  const statBefore = new Map<string, DiskStat>();
  for (const n of diskNames) {
    const s = ro.host.stat?.(n);
    if (s) statBefore.set(n, { ...s });
  }
  ro.onStart?.();
  const tStart = now();
  const all = groups.flat();
  const nextLine = progressReporter(all, now);
  const progress = ro.onProgress ? setInterval(() => ro.onProgress?.(nextLine()), ro.progressIntervalMs ?? 1000) : undefined;
  try {
    for (const grp of groups) {
      if (ro.signal?.aborted) break;
      await Promise.all(grp.map((c) => c.runner.run(ro.signal)));
    }
  } finally {
    if (progress) clearInterval(progress);
    for (const t of targets) t.close();
  }
  const tEnd = now();

  const diskUtil: DiskUtil[] = [];
  for (const n of diskNames) {
    const a = statBefore.get(n);
    const b = ro.host.stat?.(n);
    if (!a || !b) continue;
    const elapsedMs = Math.max(1, (tEnd - tStart) / 1e6);
    diskUtil.push({
      name: n,
      readIos: b.readIos - a.readIos, writeIos: b.writeIos - a.writeIos,
      readMerges: b.readMerges - a.readMerges, writeMerges: b.writeMerges - a.writeMerges,
      readSectors: b.readSectors - a.readSectors, writeSectors: b.writeSectors - a.writeSectors,
      readTicks: b.readTicks - a.readTicks, writeTicks: b.writeTicks - a.writeTicks,
      inQueue: b.timeInQueue - a.timeInQueue,
      util: Math.min(100, ((b.ioTicks - a.ioTicks) / elapsedMs) * 100),
    });
  }

  const reports: JobReport[] = [];
  const groupReports: GroupReport[] = [];
  for (let gi = 0; gi < groups.length; gi++) {
    const grp = groups[gi] ?? [];
    // fio: consecutive jobs of a group that have group_reporting share one report.
    let bucket: JobReport[] = [];
    const flushBucket = (): void => {
      if (bucket.length > 0) reports.push(mergeReports(bucket));
      bucket = [];
    };
    for (const c of grp) {
      if (c.opts.groupReporting) bucket.push(toReport(c.runner));
      else {
        flushBucket();
        reports.push(toReport(c.runner));
      }
    }
    flushBucket();
    groupReports.push(groupReport(gi, grp.map((c) => toReport(c.runner))));
  }
  const exitCode = reports.some((r) => r.error !== 0) ? 1 : 0;
  return { jobs: reports, groups: groupReports, diskUtil, exitCode, notes, startedAt, runElapsedMs: Math.max(0, (tEnd - tStart) / 1e6) };
}

function dirStats(acc: DirAcc, runtimeMs: number): DirStats {
  return {
    ioBytes: acc.ioBytes, totalIos: acc.totalIos, shortIos: acc.shortIos, dropIos: acc.dropIos,
    runtimeMs: acc.totalIos > 0 ? Math.max(1, Math.round(runtimeMs)) : 0,
    slat: acc.slat.snapshot(), clat: acc.clat.snapshot(), lat: acc.lat.snapshot(),
    clatHist: acc.clatHist, latHist: acc.latHist,
    bwSamples: [...acc.bwSamples], iopsSamples: [...acc.iopsSamples],
  };
}

function toReport(r: JobRunner): JobReport {
  const el = r.elapsedMs();
  const norm = (c: number[]): number[] => {
    const tot = c.reduce((a, b) => a + b, 0);
    return c.map((x) => (tot > 0 ? (x / tot) * 100 : 0));
  };
  return {
    name: r.opts.name, jobs: 1, groupId: r.groupId, options: r.opts, error: r.error, errorMessage: r.errorMessage,
    dirs: [dirStats(r.dirs[0], el), dirStats(r.dirs[1], el), dirStats(r.dirs[2], el)],
    sync: { totalIos: r.sync.n, lat: r.sync.lat.snapshot(), hist: r.sync.hist },
    elapsedMs: el,
    depthDist: norm(r.depthCounts), submitDist: norm(r.submitCounts), completeDist: norm(r.completeCounts),
    verifyFailures: [...r.verifyFailures], startedAt: r.startedAt,
    ...(r.cpuUsage !== undefined ? { cpu: { ...r.cpuUsage } } : {}),
  };
}

/** group_reporting: fio sums the rusage times, run times and counters of the jobs (sum_thread_stats). */
function mergeCpu(rs: readonly JobReport[]): CpuUsage | undefined {
  const cs = rs.map((r) => r.cpu).filter((c): c is CpuUsage => c !== undefined);
  if (cs.length === 0) return undefined;
  const sum = (k: keyof CpuUsage): number => cs.reduce((a, c) => a + c[k], 0);
  return { usrMs: sum('usrMs'), sysMs: sum('sysMs'), runMs: sum('runMs'), ctx: sum('ctx'), majf: sum('majf'), minf: sum('minf') };
}

function mergeLat(a: { n: number; min: number; max: number; mean: number; stddev: number }[]): { n: number; min: number; max: number; mean: number; stddev: number } {
  const acc = new RunningStat();
  for (const s of a) {
    if (s.n === 0) continue;
    const o = new RunningStat();
    o.n = s.n; o.min = s.min; o.max = s.max; o.mean = s.mean; o.m2 = s.stddev * s.stddev * Math.max(0, s.n - 1);
    acc.merge(o);
  }
  return acc.snapshot();
}

/** group_reporting: one report for all jobs of a group (fio sums io, merges latency stats, takes the longest runtime). */
export function mergeReports(rs: JobReport[]): JobReport {
  const first = rs[0];
  if (first === undefined) throw new FioRunError('no jobs to merge');
  const dir = (d: number): DirStats => {
    const ds = rs.map((r) => r.dirs[d]).filter((x): x is DirStats => x !== undefined);
    const clatHist = new LatencyHistogram();
    const latHist = new LatencyHistogram();
    for (const x of ds) { clatHist.merge(x.clatHist); latHist.merge(x.latHist); }
    const n = Math.max(...ds.map((x) => x.bwSamples.length), 0);
    const bw: number[] = [];
    const iops: number[] = [];
    for (let i = 0; i < n; i++) {
      bw.push(ds.reduce((a, x) => a + (x.bwSamples[i] ?? 0), 0));
      iops.push(ds.reduce((a, x) => a + (x.iopsSamples[i] ?? 0), 0));
    }
    return {
      ioBytes: ds.reduce((a, x) => a + x.ioBytes, 0), totalIos: ds.reduce((a, x) => a + x.totalIos, 0),
      shortIos: ds.reduce((a, x) => a + x.shortIos, 0), dropIos: ds.reduce((a, x) => a + x.dropIos, 0),
      runtimeMs: Math.max(...ds.map((x) => x.runtimeMs)),
      slat: mergeLat(ds.map((x) => x.slat)), clat: mergeLat(ds.map((x) => x.clat)), lat: mergeLat(ds.map((x) => x.lat)),
      clatHist, latHist, bwSamples: bw, iopsSamples: iops,
    };
  };
  const syncHist = new LatencyHistogram();
  for (const r of rs) syncHist.merge(r.sync.hist);
  const avg = (k: 'depthDist' | 'submitDist' | 'completeDist'): number[] =>
    first[k].map((_, i) => rs.reduce((a, r) => a + (r[k][i] ?? 0), 0) / rs.length);
  const err = rs.find((r) => r.error !== 0);
  return {
    name: first.name, jobs: rs.reduce((a, r) => a + r.jobs, 0), groupId: first.groupId, options: first.options,
    error: err?.error ?? 0, errorMessage: err?.errorMessage ?? '',
    dirs: [dir(0), dir(1), dir(2)],
    sync: { totalIos: rs.reduce((a, r) => a + r.sync.totalIos, 0), lat: mergeLat(rs.map((r) => r.sync.lat)), hist: syncHist },
    elapsedMs: Math.max(...rs.map((r) => r.elapsedMs)),
    depthDist: avg('depthDist'), submitDist: avg('submitDist'), completeDist: avg('completeDist'),
    verifyFailures: rs.flatMap((r) => r.verifyFailures), startedAt: first.startedAt,
    ...((): { cpu?: CpuUsage } => {
      const cpu = mergeCpu(rs);
      return cpu !== undefined ? { cpu } : {};
    })(),
  };
}

/** "Run status group" figures, per direction over every job of the group (fio's group_run_stats). */
function groupReport(groupId: number, rs: JobReport[]): GroupReport {
  const dirs = [0, 1, 2].map((d) => {
    const ds = rs.map((r) => r.dirs[d]).filter((x): x is DirStats => x !== undefined && x.totalIos > 0);
    if (ds.length === 0) return { ioBytes: 0, aggBw: 0, minBw: 0, maxBw: 0, minRun: 0, maxRun: 0 };
    const bws = ds.map((x) => (x.runtimeMs > 0 ? (x.ioBytes * 1000) / x.runtimeMs : 0));
    const io = ds.reduce((a, x) => a + x.ioBytes, 0);
    const maxRun = Math.max(...ds.map((x) => x.runtimeMs));
    return {
      ioBytes: io, aggBw: maxRun > 0 ? (io * 1000) / maxRun : 0,
      minBw: Math.min(...bws), maxBw: Math.max(...bws),
      minRun: Math.min(...ds.map((x) => x.runtimeMs)), maxRun,
    };
  });
  return { groupId, dirs };
}

/**
 * The run's eta as fio's calc_thread_status combines the jobs': the longest of
 * the jobs running (or not held back by a stonewall), plus, for each stonewall
 * group not started yet, its own estimate.
 */
export function runEtaSec(all: readonly { runner: JobRunner; opts?: JobOptions }[]): number {
  let eta = 0;
  let stone = 0;
  for (const c of all) {
    const e = c.runner.etaSec();
    if (c.runner.phase === 'idle' && c.runner.isStonewalled()) stone += e;
    else eta = Math.max(eta, e);
  }
  return eta + stone;
}

/**
 * fio's status line, "Jobs: 1 (f=1): [r(1)][45.0%][r=203MiB/s][r=52.1k IOPS][eta 00m:11s]":
 * job states run-length encoded, overall progress, the rates over the last
 * interval, and the estimated time left. Returns a function producing the next line.
 */
export function progressReporter(all: readonly { runner: JobRunner }[], now: () => number): () => string {
  const lastBytes = [0, 0, 0];
  const lastIos = [0, 0, 0];
  let lastT = now();
  const t0 = lastT;
  return () => {
    const t = now();
    const dt = Math.max(1e-9, (t - lastT) / 1e9);
    lastT = t;
    const running = all.filter((c) => c.runner.phase !== 'done' && c.runner.phase !== 'idle' && c.runner.phase !== 'delay');
    const states: string[] = [];
    let last = '';
    let count = 0;
    for (const c of all) {
      const ch = c.runner.stateChar();
      if (ch === last) count++;
      else {
        if (count > 0) states.push(`${last}(${count})`);
        last = ch;
        count = 1;
      }
    }
    if (count > 0) states.push(`${last}(${count})`);
    const frac = all.length > 0 ? all.reduce((a, c) => a + c.runner.progress(), 0) / all.length : 1;
    const bw: string[] = [];
    const iops: string[] = [];
    for (let d = 0; d < 3; d++) {
      let bytes = 0;
      let ios = 0;
      for (const c of all) {
        const l = c.runner.liveCounts();
        bytes += l.bytes[d] ?? 0;
        ios += l.ios[d] ?? 0;
      }
      const db = Math.max(0, bytes - (lastBytes[d] ?? 0));
      const di = Math.max(0, ios - (lastIos[d] ?? 0));
      lastBytes[d] = bytes;
      lastIos[d] = ios;
      if (ios === 0) continue;
      const ch = DDIR_CHAR[d] ?? '?';
      bw.push(`${ch}=${num2str(db / dt, 4, 1024, true, 'B/s')}`);
      iops.push(`${ch}=${num2str(di / dt)}`);
    }
    const elapsed = Math.ceil((t - t0) / 1e9);
    const eta = runEtaSec(all);
    // fio's percentage is elapsed / (elapsed + eta) once it has an estimate.
    const perc = elapsed > 0 && eta > 0 ? elapsed / (elapsed + eta) : frac;
    return `Jobs: ${running.length} (f=${running.length}): [${states.join(',')}][${(perc * 100).toFixed(1)}%][${bw.join(',') || '-'}][${iops.join(',') || '-'} IOPS][eta ${etaStr(eta)}]`;
  };
}

export { DDIR_READ, DDIR_WRITE, DDIR_TRIM, DDIR_SYNC };
