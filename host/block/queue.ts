// [raw] The request queue (struct request_queue + blk-mq dispatch): bio
// submission, splitting, plug/scheduler merging, tag allocation, batched
// dispatch to Operations.queueRq, busy requeue with back-off, driver
// requeue, completion, timeouts (one timer per queue), quiesce/freeze,
// accounting and teardown. Linux references are block/blk-mq.c unless noted.
//
// SAFETY (single-threaded): every mutation of a Request happens
// synchronously here or in request.ts; "races" are orderings of callbacks,
// resolved by the Request state machine (FREE → IDLE → IN_FLIGHT →
// COMPLETE → FREE) and the generation check, so exactly one ender wins.
import { performance } from 'node:perf_hooks';
import { BLK_STS, BLK_STS_INFO, BlockError, END, END_NAME, REQ_FLAG, REQ_OP, REQ_OP_NAME, SECTOR_SHIFT, isBlkStatus, opIsWrite } from './types.ts';
import type { BlkStatus, DiskStat, DrvCallback, DrvRequestOptions, DrvResult, ReqOp, EndResult, HctxType, HwQueue, MisuseCounters, Operations, QueueAttr, QueueLimits, RequestRef, SchedulerName, TimeoutResult } from './types.ts';
import { Bio, PendingRq, Pools, newList } from './pending.ts';
import type { PendingList } from './pending.ts';
import { DeadlineSched, NoneSched } from './sched.ts';
import type { HctxSched } from './sched.ts';
import { ENDED_ABORT, ENDED_DRIVER, ENDED_REQUEUE, ENDED_TIMEOUT, RQ_COMPLETE, RQ_FREE, RQ_IDLE, RQ_IN_FLIGHT } from './request.ts';
import type { Request, Tags } from './request.ts';
import type { TagSet } from './tagset.ts';
import type { Logger } from '../../src/util/log.ts';

/** BLK_MQ_RESOURCE_DELAY: re-run delay after BLK_STS_RESOURCE (ms), doubled per consecutive busy, capped. */
export const RESOURCE_DELAY_MS = 3;
export const RESOURCE_DELAY_MAX_MS = 100;
/** Requests per queueRq batch (like a plug flush: BLK_MAX_REQUEST_COUNT 32). */
export const DISPATCH_BATCH = 32;
/** Requests dispatched per run before yielding the event loop (need_resched). */
export const DISPATCH_BUDGET = 1024;
/** blk.h BLK_MAX_REQUEST_COUNT / BLK_PLUG_FLUSH_SIZE. */
export const PLUG_MAX_COUNT = 32;
export const PLUG_FLUSH_BYTES = 128 * 1024;
/** Merge candidates scanned (the sw-queue merge scans the last 8). */
export const MERGE_SCAN = 8;

export const DEFAULT_LIMITS: QueueLimits = {
  logicalBlockSize: 512, physicalBlockSize: 512, maxHwSectors: 255, maxSectors: 255, maxSegments: 128,
  maxSegmentSize: 65536, dmaAlignment: 0, virtBoundaryMask: 0, discardGranularity: 0, maxDiscardSectors: 0,
  maxWriteZeroesSectors: 0, writeCache: false, fua: false, rotational: false, zoned: 'none', zoneSectors: 0,
  maxOpenZones: 0, maxActiveZones: 0, maxZoneAppendSectors: 0,
};

const isPow2 = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

/** Validate and complete a limits object (GenDiskBuilder / blk_validate_limits). Throws BlockError(INVAL)-style Error. */
export function validateLimits(p: Partial<QueueLimits> | undefined): QueueLimits {
  const l: QueueLimits = { ...DEFAULT_LIMITS, ...(p ?? {}) };
  if (p?.physicalBlockSize === undefined) l.physicalBlockSize = l.logicalBlockSize;
  if (p?.maxSectors === undefined) l.maxSectors = l.maxHwSectors;
  const lbsSectors = l.logicalBlockSize >>> SECTOR_SHIFT;
  const bad = (m: string): never => { throw new RangeError(`invalid queue limits: ${m}`); };
  if (!isPow2(l.logicalBlockSize) || l.logicalBlockSize < 512 || l.logicalBlockSize > 65536) bad(`logicalBlockSize ${l.logicalBlockSize} (512..65536, power of 2)`);
  if (!isPow2(l.physicalBlockSize) || l.physicalBlockSize < l.logicalBlockSize) bad(`physicalBlockSize ${l.physicalBlockSize}`);
  if (!Number.isInteger(l.maxHwSectors) || l.maxHwSectors < lbsSectors) bad(`maxHwSectors ${l.maxHwSectors}`);
  if (!Number.isInteger(l.maxSectors) || l.maxSectors < lbsSectors || l.maxSectors > l.maxHwSectors) bad(`maxSectors ${l.maxSectors}`);
  // Keep max sectors a multiple of the logical block (blk_validate_limits rounds down).
  l.maxHwSectors -= l.maxHwSectors % lbsSectors;
  l.maxSectors -= l.maxSectors % lbsSectors;
  if (!Number.isInteger(l.maxSegments) || l.maxSegments < 1) bad(`maxSegments ${l.maxSegments}`);
  if (!Number.isInteger(l.maxSegmentSize) || l.maxSegmentSize < 512) bad(`maxSegmentSize ${l.maxSegmentSize} (>= 512)`);
  if (l.maxSegmentSize % l.logicalBlockSize !== 0 && l.maxSegmentSize < l.maxSectors * 512) bad(`maxSegmentSize ${l.maxSegmentSize} must be a multiple of the logical block size`);
  if (!Number.isInteger(l.dmaAlignment) || l.dmaAlignment < 0 || !isPow2(l.dmaAlignment + 1)) bad(`dmaAlignment ${l.dmaAlignment} (2^n-1)`);
  if (!Number.isInteger(l.virtBoundaryMask) || l.virtBoundaryMask < 0 || !isPow2(l.virtBoundaryMask + 1)) bad(`virtBoundaryMask ${l.virtBoundaryMask} (2^n-1)`);
  if (!Number.isInteger(l.maxDiscardSectors) || l.maxDiscardSectors < 0) bad(`maxDiscardSectors ${l.maxDiscardSectors}`);
  if (l.discardGranularity !== 0 && (!isPow2(l.discardGranularity) || l.discardGranularity < l.logicalBlockSize)) bad(`discardGranularity ${l.discardGranularity}`);
  if (l.maxDiscardSectors > 0 && l.discardGranularity === 0) l.discardGranularity = l.logicalBlockSize;
  if (!Number.isInteger(l.maxWriteZeroesSectors) || l.maxWriteZeroesSectors < 0) bad(`maxWriteZeroesSectors ${l.maxWriteZeroesSectors}`);
  if (l.fua && !l.writeCache) l.fua = false; // FUA is meaningless without a volatile cache (blk_validate_features)
  if (l.zoned !== 'none') {
    if (!isPow2(l.zoneSectors) || l.zoneSectors < lbsSectors) bad(`zoneSectors ${l.zoneSectors} (power of 2)`);
    if (l.maxZoneAppendSectors > l.zoneSectors) l.maxZoneAppendSectors = l.zoneSectors;
  }
  return l;
}

type StatGroup = 0 | 1 | 2 | 3; // read, write, discard, flush (op_stat_group)

/** A tag user for fair sharing: `active` while counted in Tags.activeQueues. */
export interface ShareUser { active: boolean; nrActive: number }

/** One hardware queue of one request queue (struct blk_mq_hw_ctx). */
export class Hctx implements HwQueue {
  driverData: unknown = undefined;
  readonly dispatch: Request[] = [];
  /** Passthrough requests (bypass the scheduler, blk_execute_rq). */
  readonly passthru: PendingList = newList();
  sched: HctxSched;
  stopped = false;
  running = false;
  runScheduled = false;
  waitingTag = false;
  needRestart = false;
  nrActive = 0;
  /** Fair-share user this hctx counts against: its own, or the disk's with hctxShared. */
  share: ShareUser;
  busyStreak = 0;
  delayTimer: NodeJS.Timeout | null = null;
  pollScheduled = false;
  /** Hybrid polling: the coalesced sleep before the next poll (one per hctx, not per request). */
  pollTimer: NodeJS.Timeout | null = null;
  /** Hybrid polling: mean dispatch → completion time (ms, EWMA) of this poll hctx; 0 = no sample yet. */
  pollMeanMs = 0;
  /** Hybrid polling: end of the current spin (ms, performance.now); 0 = not spinning. */
  pollSpinEnd = 0;
  dead = false;
  readonly batch: Request[] = [];
  readonly runNow: () => void;
  readonly pollNow: () => void;
  readonly pollWake: () => void;
  constructor(readonly queue: RequestQueue, readonly index: number, readonly type: HctxType, readonly tags: Tags, sched: HctxSched, share: ShareUser) {
    this.sched = sched;
    this.share = share;
    this.runNow = () => { this.runScheduled = false; this.queue.runHctx(this); };
    this.pollNow = () => { this.pollScheduled = false; this.queue.pollHctx(this); };
    this.pollWake = () => { this.pollTimer = null; this.queue.pollHctx(this); };
  }
  get diskName(): string { return this.queue.name; }
  tagToRq(tag: number, generation?: number): RequestRef | undefined {
    return this.queue.tagSet.tagToRqOn(this.index, tag, generation, this.queue);
  }
  stopQueue(): void { this.stopped = true; }
  startQueue(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.queue.scheduleRun(this);
  }
  run(): void { this.queue.scheduleRun(this); }
  kickRequeueList(delayMs = 0): void { this.queue.kickRequeueList(delayMs); }
}

function emptyStat(): DiskStat {
  return { readIos: 0, readMerges: 0, readSectors: 0, readTicks: 0, writeIos: 0, writeMerges: 0, writeSectors: 0, writeTicks: 0,
    inFlight: 0, ioTicks: 0, timeInQueue: 0, discardIos: 0, discardMerges: 0, discardSectors: 0, discardTicks: 0, flushIos: 0, flushTicks: 0 };
}

const ACCT_KEYS = ['readIos', 'readMerges', 'readSectors', 'readTicks', 'writeIos', 'writeMerges', 'writeSectors', 'writeTicks',
  'inFlight', 'ioTicks', 'timeInQueue', 'discardIos', 'discardMerges', 'discardSectors', 'discardTicks', 'flushIos', 'flushTicks'] as const;
/** Index of each DiskStat field in RequestQueue.acct. */
const ACCT = Object.fromEntries(ACCT_KEYS.map((k, i) => [k, i])) as Record<(typeof ACCT_KEYS)[number], number>;
/** acct slot holding the io_ticks time stamp (update_io_ticks). */
const IO_STAMP = ACCT_KEYS.length;
const ACCT_N = IO_STAMP + 1;

/** Plug state of one submitter (struct blk_plug). */
export class Plug {
  depth = 0;
  readonly list: PendingRq[] = [];
  bytes = 0;
}

export interface RequestQueueOptions {
  name: string;
  tagSet: TagSet<unknown, unknown>;
  capacitySectors: number;
  limits?: Partial<QueueLimits>;
  scheduler?: SchedulerName;
}

export class RequestQueue {
  readonly name: string;
  readonly tagSet: TagSet<unknown, unknown>;
  limits: QueueLimits;
  capacitySectors: number;
  hctxs: Hctx[] = [];
  /** cpu → hctx index per type (0 default, 1 read, 2 poll); -1 = fall back to default. */
  cpuMap: Int32Array[] = [];
  schedName: SchedulerName;
  readonly pools = new Pools();
  readonly log: Logger;
  quiesceDepth = 0;
  freezeDepth = 0;
  /** Entered top-level bios not yet completed (q_usage_counter). */
  usage = 0;
  dying = false;
  dead = false;
  private readonly freezeWaiters: Array<() => void> = [];
  private readonly frozenBios: Array<{ bio: Bio; plug: Plug | null }> = [];
  /**
   * /sys/block/<dev>/stat counters, indexed by ACCT (a Float64Array so the
   * per-I/O updates of double-valued ticks never allocate).
   */
  private readonly acct = new Float64Array(ACCT_N);
  /** Snapshot of the raw counters (ticks unrounded, in_flight 0); see getStat(). */
  get counters(): DiskStat {
    const a = this.acct;
    const s = emptyStat();
    for (const k of ACCT_KEYS) s[k] = a[ACCT[k]] as number;
    return s;
  }
  iostats = true;
  /**
   * Background polling of busy poll hctxs (see poll()). false: completions of
   * REQ_POLLED requests arrive only through BlockDevice.poll()/poll() (or the
   * driver's timeout handler), like io_uring IOPOLL.
   */
  autoPoll = true;
  /**
   * /sys/block/<dev>/queue/io_poll_delay (µs): -1 classic polling (poll every
   * event-loop turn while busy), 0 adaptive hybrid (sleep half the mean
   * completion time first), > 0 a fixed hybrid sleep. Default -1, as Linux
   * (BLK_MQ_POLL_CLASSIC): measured here, hybrid lowers CPU per second at
   * low queue depth but not CPU per I/O, and costs IOPS (1 ms timers).
   */
  ioPollDelay = -1;
  nomerges = 0;
  rqAffinity = 1;
  nrRequests: number;
  timeoutMs: number;
  /** Requests bound to a tag (allocated) and not yet ended. */
  inflight = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private readonly onTimer = (): void => { this.timer = null; this.timerAt = Infinity; this.scanTimeouts(); };
  private readonly requeueList: Request[] = [];
  private requeueTimer: NodeJS.Timeout | null = null;
  private requeueScheduled = false;
  private readonly runRequeue = (): void => { this.requeueScheduled = false; this.requeueTimer = null; this.flushRequeueList(); };
  private readonly cplRqs: Request[] = [];
  private readonly cplGens: number[] = [];
  private nCpl = 0;
  private cplScheduled = false;
  private readonly runCompletions = (): void => { this.cplScheduled = false; this.flushCompletions(); };
  readonly plugs = new Set<Plug>();
  private readonly mergeScratch: PendingRq[] = [];
  private readonly touched: Hctx[] = [];
  private readonly drainWaiters: Array<() => void> = [];
  /** The disk-wide fair-share user (hctxShared tag sets). */
  private readonly diskShare: ShareUser = { active: false, nrActive: 0 };
  /**
   * clk[0]: the clock (ms) cached for the current dispatch batch while
   * clockCached, else refreshed by tick(). Doubles are kept in typed arrays
   * and never passed to or returned from calls on the hot path: V8 boxes such
   * values in a fresh HeapNumber when the call is not inlined.
   */
  readonly clk = new Float64Array(1);
  private clockCached = false;

  constructor(opts: RequestQueueOptions) {
    if (typeof opts.name !== 'string' || !/^[A-Za-z0-9_.-]{1,32}$/.test(opts.name)) throw new RangeError(`invalid disk name ${JSON.stringify(opts.name)}`);
    if (!Number.isSafeInteger(opts.capacitySectors) || opts.capacitySectors < 0) throw new RangeError(`invalid capacitySectors ${opts.capacitySectors}`);
    this.name = opts.name;
    this.tagSet = opts.tagSet;
    this.limits = validateLimits(opts.limits);
    if (opts.capacitySectors % (this.limits.logicalBlockSize >>> SECTOR_SHIFT) !== 0) throw new RangeError(`capacitySectors ${opts.capacitySectors} is not a multiple of the logical block size`);
    this.capacitySectors = opts.capacitySectors;
    this.log = this.tagSet.log.child({ disk: opts.name });
    this.timeoutMs = this.tagSet.timeoutMs;
    this.nrRequests = this.tagSet.queueDepth;
    const single = this.tagSet.nrHwQueues === 1;
    this.schedName = opts.scheduler ?? (this.tagSet.noSchedByDefault || !single ? 'none' : 'mq-deadline');
    if (this.schedName !== 'none' && this.schedName !== 'mq-deadline') throw new RangeError(`unknown scheduler ${String(this.schedName)}`);
    this.tagSet.attachQueue(this);
    try {
      this.buildHctxs();
    } catch (e) {
      this.tagSet.detachQueue(this);
      throw e;
    }
  }

  /** Make clk[0] current: the dispatch batch's cached clock inside a run, else a fresh read. */
  tick(): void { if (!this.clockCached) this.clk[0] = performance.now(); }
  /** Monotonic ms (see tick; not for the hot path). */
  now(): number { this.tick(); return this.clk[0] as number; }

  // ─────────────────────────── hctx construction ───────────────────────────

  private makeSched(h: { index: number }): HctxSched {
    // One mq-deadline per hctx, not per disk as in Linux: see the note in sched.ts.
    if (this.schedName === 'mq-deadline') return new DeadlineSched();
    const nrCpus = this.tagSet.nrCpus;
    const lists: PendingList[] = [];
    const cpuToList = new Int32Array(nrCpus).fill(-1);
    for (let cpu = 0; cpu < nrCpus; cpu++) {
      for (const m of this.cpuMap) {
        if (m[cpu] === h.index) { cpuToList[cpu] = lists.length; lists.push(newList()); break; }
      }
    }
    if (lists.length === 0) lists.push(newList());
    return new NoneSched(lists, cpuToList);
  }

  /** (Re)build hctxs from the tag set's current maps; queue must be empty (frozen). */
  buildHctxs(): void {
    for (const h of this.hctxs) this.exitHctx(h);
    this.cpuMap = this.tagSet.cpuMaps.map((m) => m.slice());
    const hs: Hctx[] = [];
    for (let i = 0; i < this.tagSet.nrHwQueues; i++) {
      const share = this.tagSet.hctxShared ? this.diskShare : { active: false, nrActive: 0 };
      const h = new Hctx(this, i, this.tagSet.typeOfHwq(i), this.tagSet.tagsOf(i), new NoneSched([newList()], new Int32Array(0)), share);
      h.sched = this.makeSched(h);
      hs.push(h);
    }
    const ops = this.tagSet.ops;
    if (ops.initHctx !== undefined) {
      for (let i = 0; i < hs.length; i++) {
        const h = hs[i] as Hctx;
        try {
          h.driverData = ops.initHctx(i, h.type, this.name);
        } catch (e) {
          for (let j = 0; j < i; j++) this.exitHctx(hs[j] as Hctx);
          throw e;
        }
      }
    }
    this.hctxs = hs;
  }

  private exitHctx(h: Hctx): void {
    h.dead = true;
    if (h.share.active) { h.share.active = false; h.tags.activeQueues--; this.wakeTagWaiters(h.tags); }
    if (h.delayTimer !== null) { clearTimeout(h.delayTimer); h.delayTimer = null; }
    if (h.pollTimer !== null) { clearTimeout(h.pollTimer); h.pollTimer = null; }
    const i = h.tags.waiters.indexOf(h);
    if (i >= 0) h.tags.waiters.splice(i, 1);
    const ops = this.tagSet.ops;
    if (ops.exitHctx !== undefined) {
      try { ops.exitHctx(h); } catch (e) { this.log.warn({ err: e }, 'exitHctx threw'); }
    }
  }

  hctxFor(bio: Bio): Hctx {
    let type = 0;
    if ((bio.flags & REQ_FLAG.POLLED) !== 0) type = 2;
    else if (bio.op === REQ_OP.READ) type = 1;
    const cpu = bio.cpu;
    let idx = this.cpuMap[type]?.[cpu] ?? -1;
    if (idx < 0) idx = this.cpuMap[0]?.[cpu] ?? 0;
    return (this.hctxs[idx] ?? this.hctxs[0]) as Hctx;
  }

  // ─────────────────────────────── submission ───────────────────────────────

  /** Entry for a validated top-level bio (submit_bio). */
  submitBio(bio: Bio, plug: Plug | null): void {
    if (this.dying) { this.endBio(bio, BLK_STS.OFFLINE); return; }
    if (this.freezeDepth > 0) {
      // bio_queue_enter: wait for unfreeze (REQ_NOWAIT → AGAIN).
      if ((bio.flags & REQ_FLAG.NOWAIT) !== 0) { this.endBio(bio, BLK_STS.AGAIN); return; }
      this.frozenBios.push({ bio, plug: null });
      return;
    }
    bio.entered = true;
    this.usage++;
    const l = this.limits;
    // Flush machinery (blk-flush.c): without a volatile cache, flushes are no-ops and FUA/PREFLUSH are dropped.
    if (!l.writeCache) {
      if (bio.op === REQ_OP.FLUSH) { this.endBio(bio, BLK_STS.OK); return; }
      bio.flags &= ~(REQ_FLAG.FUA | REQ_FLAG.PREFLUSH);
    } else if ((bio.flags & REQ_FLAG.PREFLUSH) !== 0 && bio.op !== REQ_OP.FLUSH) {
      this.preflushThen(bio, plug);
      return;
    } else if ((bio.flags & REQ_FLAG.FUA) !== 0 && !l.fua) {
      this.postflushAfter(bio, plug);
      return;
    }
    this.splitAndQueue(bio, plug);
  }

  private preflushThen(bio: Bio, plug: Plug | null): void {
    const fl = this.internalBio(bio, REQ_OP.FLUSH, 0, 0, null);
    fl.cb = (st) => {
      if (st !== BLK_STS.OK) { this.endBio(bio, st); return; }
      bio.flags &= ~REQ_FLAG.PREFLUSH;
      if ((bio.flags & REQ_FLAG.FUA) !== 0 && !this.limits.fua) this.postflushAfter(bio, null);
      else this.splitAndQueue(bio, null);
    };
    this.queueOne(fl, plug);
  }

  private postflushAfter(bio: Bio, plug: Plug | null): void {
    const data = this.internalBio(bio, bio.op, bio.sector, bio.nrSectors, bio.buf);
    data.flags = bio.flags & ~(REQ_FLAG.FUA | REQ_FLAG.PREFLUSH);
    data.cb = (st, res) => {
      if (st !== BLK_STS.OK) { this.endBio(bio, st); return; }
      bio.result = res; // ZONE_APPEND: the written sector survives the post-flush
      const fl = this.internalBio(bio, REQ_OP.FLUSH, 0, 0, null);
      fl.cb = (st2) => this.endBio(bio, st2);
      this.queueOne(fl, null);
    };
    this.splitAndQueue(data, plug);
  }

  private internalBio(like: Bio, op: Bio['op'], sector: number, nrSectors: number, buf: Uint8Array | null): Bio {
    const b = this.pools.getBio();
    b.op = op; b.flags = like.flags & (REQ_FLAG.SYNC | REQ_FLAG.POLLED | REQ_FLAG.QUIET); b.sector = sector; b.nrSectors = nrSectors; b.buf = buf;
    b.cpu = like.cpu; b.nrSegs = buf === null ? 0 : Math.ceil(buf.length / this.limits.maxSegmentSize);
    return b;
  }

  /** Max sectors of one request for this bio (blk_queue_get_max_sectors + chunk boundary). */
  private maxSectorsFor(op: Bio['op'], sector: number): number {
    const l = this.limits;
    let max: number;
    if (op === REQ_OP.DISCARD) max = l.maxDiscardSectors;
    else if (op === REQ_OP.WRITE_ZEROES) max = l.maxWriteZeroesSectors;
    else {
      max = l.maxSectors;
      const segBytes = l.maxSegments * l.maxSegmentSize;
      const lbs = l.logicalBlockSize;
      const segSectors = Math.floor(segBytes / lbs) * (lbs >>> SECTOR_SHIFT);
      if (segSectors < max) max = segSectors;
    }
    if (l.zoned !== 'none' && l.zoneSectors > 0 && op !== REQ_OP.DISCARD) {
      // Reads and writes never cross a zone (chunk_sectors) boundary.
      const toBoundary = l.zoneSectors - (sector & (l.zoneSectors - 1));
      if (toBoundary < max) max = toBoundary;
    }
    return max;
  }

  /** bio_split_to_limits: cut the bio into pieces that each fit one request. */
  private splitAndQueue(bio: Bio, plug: Plug | null): void {
    const op = bio.op;
    if (op !== REQ_OP.READ && op !== REQ_OP.WRITE && op !== REQ_OP.DISCARD && op !== REQ_OP.WRITE_ZEROES) { this.queueOne(bio, plug); return; }
    let max = this.maxSectorsFor(op, bio.sector);
    if (bio.nrSectors <= max) { this.queueOne(bio, plug); return; }
    // Split: children reference parts of the parent's buffer; the parent completes when all have.
    const gran = op === REQ_OP.DISCARD ? (this.limits.discardGranularity >>> SECTOR_SHIFT) || 1 : 1;
    let sector = bio.sector;
    const end = bio.sector + bio.nrSectors;
    const parts: Bio[] = [];
    while (sector < end) {
      max = this.maxSectorsFor(op, sector);
      let n = Math.min(max, end - sector);
      if (gran > 1 && sector + n < end) {
        // Split discards on granularity boundaries (bio_split_discard).
        const aligned = Math.floor((sector + n) / gran) * gran - sector;
        if (aligned > 0) n = aligned;
      }
      const child = this.internalBio(bio, op, sector, n, null);
      child.flags = bio.flags;
      if (bio.buf !== null) {
        const off = (sector - bio.sector) << SECTOR_SHIFT;
        child.buf = bio.buf.subarray(off, off + (n << SECTOR_SHIFT));
        child.nrSegs = Math.ceil(child.buf.length / this.limits.maxSegmentSize);
      }
      child.parent = bio;
      parts.push(child);
      sector += n;
    }
    bio.remaining = parts.length;
    for (const c of parts) this.queueOne(c, plug);
  }

  /** One request-sized bio: plug merge / plug add, or scheduler merge / insert and run. */
  queueOne(bio: Bio, plug: Plug | null): void {
    if (this.dying) { this.endBio(bio, BLK_STS.OFFLINE); return; }
    const h = this.hctxFor(bio);
    if (bio.reserved || bio.op === REQ_OP.DRV_IN || bio.op === REQ_OP.DRV_OUT) {
      const p = this.newPending(bio, h);
      if (bio.atHead) { const l = h.passthru; p.owner = l; p.prev = null; p.next = l.head; if (l.head !== null) l.head.prev = p; else l.tail = p; l.head = p; l.count++; }
      else { const l = h.passthru; p.owner = l; p.next = null; p.prev = l.tail; if (l.tail !== null) l.tail.next = p; else l.head = p; l.tail = p; l.count++; }
      this.runOrDefer(h);
      return;
    }
    if (plug !== null && plug.depth > 0) {
      if (this.nomerges < 2) {
        const list = plug.list;
        const lim = this.nomerges === 1 ? 1 : MERGE_SCAN;
        for (let i = list.length - 1, k = 0; i >= 0 && k < lim; i--, k++) {
          const p = list[i] as PendingRq;
          if (p.hwq === h.index && this.tryMerge(p, bio, null)) return;
        }
      }
      const p = this.newPending(bio, h);
      plug.list.push(p);
      plug.bytes += bio.nrSectors << SECTOR_SHIFT;
      if (plug.list.length >= PLUG_MAX_COUNT * (this.hctxs.length > 1 ? 2 : 1) || (bio.nrSectors << SECTOR_SHIFT) >= PLUG_FLUSH_BYTES) this.flushPlug(plug);
      return;
    }
    if (this.nomerges < 2 && (bio.flags & (REQ_FLAG.NOMERGE | REQ_FLAG.FUA | REQ_FLAG.PREFLUSH)) === 0) {
      const cands = this.mergeScratch;
      const n = h.sched.mergeCandidates(bio.cpu, cands, this.nomerges === 1 ? 1 : MERGE_SCAN);
      for (let i = 0; i < n; i++) {
        // (mergeScratch is never truncated: shrinking an array frees its backing store.)
        if (this.tryMerge(cands[i] as PendingRq, bio, h.sched)) { this.runOrDefer(h); return; }
      }
    }
    h.sched.insert(this.newPending(bio, h), false);
    this.runOrDefer(h);
  }

  private newPending(bio: Bio, h: Hctx): PendingRq {
    const p = this.pools.getPending();
    p.op = bio.op; p.flags = bio.flags; p.sector = bio.sector; p.nrSectors = bio.nrSectors; p.nrSegs = bio.nrSegs;
    p.head = p.tail = bio; bio.next = null; p.cpu = bio.cpu; p.hwq = h.index; this.tick(); p.insertTime = this.clk[0] as number; p.timeoutMs = bio.timeoutMs;
    return p;
  }

  /** blk_attempt_bio_merge: back or front merge of `bio` into pending request `p`. */
  private tryMerge(p: PendingRq, bio: Bio, sched: HctxSched | null): boolean {
    const NOMERGE = REQ_FLAG.NOMERGE | REQ_FLAG.FUA | REQ_FLAG.PREFLUSH;
    if (p.op !== bio.op || ((p.flags | bio.flags) & NOMERGE) !== 0) return false;
    if ((p.flags & ~REQ_FLAG.SYNC) !== (bio.flags & ~REQ_FLAG.SYNC)) return false;
    if (p.op !== REQ_OP.READ && p.op !== REQ_OP.WRITE && p.op !== REQ_OP.DISCARD) return false;
    const l = this.limits;
    const total = p.nrSectors + bio.nrSectors;
    const back = p.sector + p.nrSectors === bio.sector;
    const front = !back && bio.sector + bio.nrSectors === p.sector;
    if (!back && !front) return false;
    const start = back ? p.sector : bio.sector;
    if (total > this.maxSectorsFor(p.op, start)) return false;
    if (p.op !== REQ_OP.DISCARD && p.nrSegs + bio.nrSegs > l.maxSegments) return false;
    if (l.zoned !== 'none' && l.zoneSectors > 0 && Math.floor(start / l.zoneSectors) !== Math.floor((start + total - 1) / l.zoneSectors)) return false;
    const a = back ? p.tail : bio;
    const b = back ? bio : p.head;
    if (l.virtBoundaryMask !== 0 && a !== null && b !== null && a.buf !== null && b.buf !== null) {
      // bvec_gap_to_prev: the seam must sit on a virt boundary on both sides.
      if (((a.buf.byteOffset + a.buf.length) & l.virtBoundaryMask) !== 0 || (b.buf.byteOffset & l.virtBoundaryMask) !== 0) return false;
    }
    if (back) {
      if (p.tail !== null) p.tail.next = bio;
      bio.next = null;
      p.tail = bio;
    } else {
      bio.next = p.head;
      p.head = bio;
      p.sector = bio.sector;
      if (sched !== null) sched.merged(p);
    }
    p.nrSectors = total;
    p.nrSegs += bio.nrSegs;
    if (this.iostats) {
      const g = statGroup(p.op);
      const a = this.acct;
      if (g === 0) a[ACCT.readMerges]++; else if (g === 1) a[ACCT.writeMerges]++; else if (g === 2) a[ACCT.discardMerges]++;
    }
    return true;
  }

  /** blk_finish_plug / blk_mq_flush_plug_list: insert everything, then run each touched hctx once. */
  flushPlug(plug: Plug): void {
    const list = plug.list;
    if (list.length === 0) return;
    const touched = this.touched;
    for (let i = 0; i < list.length; i++) {
      const p = list[i] as PendingRq;
      const h = this.hctxs[p.hwq] ?? this.hctxs[0];
      if (h === undefined || this.dying) { this.failPending(p, BLK_STS.OFFLINE); continue; }
      h.sched.insert(p, false);
      if (!touched.includes(h)) touched.push(h);
    }
    list.length = 0;
    plug.bytes = 0;
    for (let i = 0; i < touched.length; i++) this.runOrDefer(touched[i] as Hctx);
    touched.length = 0;
  }

  private runOrDefer(h: Hctx): void {
    if (this.tagSet.blocking) this.scheduleRun(h);
    else this.runHctx(h);
  }

  // ─────────────────────────────── dispatch ───────────────────────────────

  scheduleRun(h: Hctx): void {
    if (h.runScheduled || h.dead) return;
    h.runScheduled = true;
    queueMicrotask(h.runNow);
  }

  private hasWork(h: Hctx): boolean {
    return h.dispatch.length > 0 || h.passthru.head !== null || h.sched.count > 0;
  }

  /**
   * Allocate a driver tag for `h` honouring nr_requests and, when several
   * disks share the tag set (BLK_MQ_F_TAG_QUEUE_SHARED), the fair share of
   * blk-mq-tag.c hctx_may_queue: a user trying to allocate becomes active
   * (blk_mq_tag_busy) and may hold at most max(ceil(depth / active users), 4)
   * tags, so a busy disk leaves room for the others. A user is an hctx, or
   * the whole disk with hctxShared (one bitmap for all hctxs).
   */
  private allocTag(h: Hctx, reserved: boolean): number {
    const tags = h.tags;
    if (!reserved) {
      if (h.nrActive >= this.nrRequests) return -1;
      if (this.tagSet.queueShared) {
        const u = h.share;
        if (!u.active) { u.active = true; tags.activeQueues++; }
        const users = tags.activeQueues;
        const depth = tags.depth - tags.reserved;
        if (users > 1 && depth > 1 && u.nrActive >= Math.max(Math.ceil(depth / users), 4)) return -1;
      }
    }
    return tags.alloc(reserved);
  }

  /** blk_mq_tag_idle: a user with nothing in flight or queued stops counting for the fair share. */
  private shareIdle(h: Hctx): void {
    const u = h.share;
    if (!u.active || u.nrActive > 0) return;
    if (this.tagSet.hctxShared) { for (const x of this.hctxs) if (this.hasWork(x)) return; } else if (this.hasWork(h)) return;
    u.active = false;
    h.tags.activeQueues--;
    this.wakeTagWaiters(h.tags); // the others' share just grew
  }

  private waitForTag(h: Hctx): void {
    if (h.waitingTag) return;
    h.waitingTag = true;
    h.tags.waiters.push(h);
  }

  /** blk_mq_run_hw_queue + blk_mq_dispatch_rq_list. */
  runHctx(h: Hctx): void {
    if (h.running || h.dead || this.dead) return;
    if (this.quiesceDepth > 0 || h.stopped) return;
    h.running = true;
    const ownClock = !this.clockCached;
    let budget = DISPATCH_BUDGET;
    let sinceTick = ownClock ? 0 : DISPATCH_BATCH;
    const batch = h.batch;
    try {
      while (budget > 0 && this.quiesceDepth === 0 && !h.stopped && !h.dead) {
        let n = 0;
        // One clock read per DISPATCH_BATCH requests of a run, not per request
        // (Linux caches the time in the plug for the same reason): start
        // stamps and deadlines may lag by the dispatch time of one batch.
        if (sinceTick <= 0) {
          this.clockCached = false;
          this.tick();
          this.clockCached = true;
          sinceTick = DISPATCH_BATCH;
        }
        while (n < DISPATCH_BATCH) {
          const d = h.dispatch.shift();
          if (d !== undefined) { batch[n++] = d; continue; }
          let p: PendingRq | null = null;
          let tag: number;
          if (h.passthru.head !== null) {
            p = h.passthru.head;
            tag = this.allocTag(h, p.head?.reserved === true);
            if (tag < 0) { this.waitForTag(h); break; }
            const l = h.passthru;
            if (p.prev !== null) p.prev.next = p.next; else l.head = p.next;
            if (p.next !== null) p.next.prev = p.prev; else l.tail = p.prev;
            p.prev = p.next = null; p.owner = null; l.count--;
          } else {
            if (h.sched.count === 0) break;
            tag = this.allocTag(h, false);
            if (tag < 0) { this.waitForTag(h); break; }
            p = h.sched.pop(this.clk);
            if (p === null) { h.tags.free(tag); break; }
          }
          batch[n++] = this.bindRequest(h, tag, p);
        }
        if (n === 0) break;
        budget -= n;
        sinceTick -= n;
        const ok = this.dispatchBatch(h, batch, n);
        for (let i = 0; i < n; i++) batch[i] = undefined as unknown as Request;
        if (!ok) break;
      }
    } finally {
      h.running = false;
      if (ownClock) this.clockCached = false;
    }
    if (h.share.active && h.share.nrActive === 0) this.shareIdle(h);
    if (budget <= 0 && this.hasWork(h)) {
      // Yield the event loop, then continue (like need_resched in the dispatch loop).
      if (!h.runScheduled) { h.runScheduled = true; setImmediate(h.runNow); }
    }
  }

  private bindRequest(h: Hctx, tag: number, p: PendingRq): Request {
    const rq = h.tags.rqs[tag] as Request;
    rq.state = RQ_IDLE;
    rq.queue = this;
    rq.hctx = h;
    rq.op = p.op; rq.flags = p.flags; rq.sector = p.sector; rq.nrSegs = p.nrSegs;
    // Passthrough carries bytes, not sectors (its buffer need not be sector-sized).
    rq.bytes = p.op === REQ_OP.DRV_IN || p.op === REQ_OP.DRV_OUT ? (p.head?.buf?.length ?? 0) : p.nrSectors << SECTOR_SHIFT;
    rq.bioHead = p.head; rq.bioTail = p.tail;
    rq.refcount = 0; rq.timedOut = false; rq.status = 0; rq.resultSector = p.sector; rq.driverResult = undefined; rq.timeoutMs = p.timeoutMs;
    rq.reserved = p.head?.reserved === true;
    rq.driverCmd = p.head?.drvCmd;
    const maxSeg = this.limits.maxSegmentSize;
    let nseg = 0;
    for (let b = p.head; b !== null; b = b.next) {
      const len = b.buf === null ? 0 : b.buf.length;
      nseg += len <= maxSeg ? (len > 0 ? 1 : 0) : Math.ceil(len / maxSeg);
    }
    const bv = rq.bvecArray(nseg);
    let k = 0;
    for (let b = p.head; b !== null; b = b.next) {
      const buf = b.buf;
      if (buf === null || buf.length === 0) continue;
      if (buf.length <= maxSeg) bv[k++] = buf;
      else for (let off = 0; off < buf.length; off += maxSeg) bv[k++] = buf.subarray(off, Math.min(off + maxSeg, buf.length));
    }
    rq.bvecs = bv;
    h.tags.lastQueue = this;
    h.nrActive++;
    h.share.nrActive++;
    this.acctStart(rq);
    this.pools.putPending(p);
    return rq;
  }

  /** Dispatch a batch; false when the driver was busy (rest put back). */
  private dispatchBatch(h: Hctx, batch: Request[], n: number): boolean {
    const ops = this.tagSet.ops;
    let queued = 0;
    let lastSt: BlkStatus = BLK_STS.OK;
    for (let i = 0; i < n; i++) {
      const rq = batch[i] as Request;
      if (this.dying) { this.endRequest(rq, BLK_STS.OFFLINE, ENDED_ABORT); continue; }
      // blk_mq_start_request: the core starts the request, so a driver cannot forget.
      rq.state = RQ_IN_FLIGHT;
      rq.refcount = 1;
      rq.timedOut = false;
      this.tick();
      const deadline = (this.clk[0] as number) + (rq.timeoutMs > 0 ? rq.timeoutMs : this.timeoutMs);
      rq.deadline = deadline;
      // Compare here: only call out (boxing the double) when the timer must move.
      if (this.timer === null || this.timerAt > deadline) this.armTimer(deadline);
      const hd = rq.currentHandle();
      const gen = rq.gen;
      let st: BlkStatus;
      try {
        st = ops.queueRq(h, hd, i === n - 1);
      } catch (e) {
        this.tagSet.misuseCounters.driverThrew++;
        this.log.error({ err: e, tag: rq.tag }, 'queueRq threw; ending request with BLK_STS_IOERR');
        st = BLK_STS.IOERR;
      }
      if (st === BLK_STS.OK) { queued++; h.busyStreak = 0; lastSt = st; continue; }
      const stillOurs = rq.gen === gen && rq.state === RQ_IN_FLIGHT;
      if (st === BLK_STS.RESOURCE || st === BLK_STS.DEV_RESOURCE) {
        if (!stillOurs) {
          this.misuse(END.BAD_STATE, `queueRq returned ${BLK_STS_INFO[st].name} for a request it already ended`, rq, gen, 0);
          continue;
        }
        // Busy: take the request back (its handle goes stale), keep the tag, put it and the rest at the head.
        this.unstart(rq, ENDED_REQUEUE);
        const rest: Request[] = [rq];
        for (let j = i + 1; j < n; j++) rest.push(batch[j] as Request);
        h.dispatch.unshift(...rest);
        if (queued > 0 && ops.commitRqs !== undefined) this.safeCall(() => ops.commitRqs?.(h), 'commitRqs');
        if (st === BLK_STS.RESOURCE || h.nrActive - h.dispatch.length <= 0) {
          // No completion is guaranteed to restart us: re-run after a back-off.
          const delay = Math.min(RESOURCE_DELAY_MS << Math.min(h.busyStreak, 6), RESOURCE_DELAY_MAX_MS);
          h.busyStreak++;
          this.delayRun(h, delay);
        } else {
          h.needRestart = true; // SCHED_RESTART: a completion on this hctx re-runs it
        }
        return false;
      }
      lastSt = st;
      if (!isBlkStatus(st)) {
        this.misuse(END.BAD_STATUS, `queueRq returned ${String(st)}`, rq, gen, 0);
        st = BLK_STS.IOERR;
      }
      if (stillOurs) this.endRequest(rq, st, ENDED_DRIVER);
      else if (rq.gen === gen) { /* completing: let it finish */ } else this.misuse(END.BAD_STATE, `queueRq returned ${BLK_STS_INFO[st]?.name ?? st} for a request it already ended`, rq, gen, 0);
    }
    if (lastSt !== BLK_STS.OK && queued > 0 && ops.commitRqs !== undefined) this.safeCall(() => ops.commitRqs?.(h), 'commitRqs');
    return true;
  }

  private safeCall(fn: () => void, what: string): void {
    try { fn(); } catch (e) { this.tagSet.misuseCounters.driverThrew++; this.log.error({ err: e }, `${what} threw`); }
  }

  private delayRun(h: Hctx, ms: number): void {
    if (h.delayTimer !== null || h.dead) return;
    h.delayTimer = setTimeout(() => { h.delayTimer = null; this.runHctx(h); }, ms);
  }

  /** Return a started request to IDLE (busy or requeue); old handles go stale. */
  private unstart(rq: Request, reason: number): void {
    const old = rq.handle;
    old.endedBy = reason;
    rq.gen++;
    rq.state = RQ_IDLE;
    rq.refcount = 0;
    rq.timedOut = false;
  }

  // ───────────────────────────── completion ─────────────────────────────

  /** blk_mq_complete_request: defer ops.complete like a softirq. */
  completeRequest(rq: Request, status: BlkStatus): void {
    rq.state = RQ_COMPLETE;
    rq.status = status;
    // Indexed writes with a count (see Pools): the lists keep their capacity.
    this.cplRqs[this.nCpl] = rq;
    this.cplGens[this.nCpl++] = rq.gen;
    if (!this.cplScheduled) { this.cplScheduled = true; queueMicrotask(this.runCompletions); }
  }

  private flushCompletions(): void {
    const ops = this.tagSet.ops;
    for (let i = 0; i < this.nCpl; i++) {
      const rq = this.cplRqs[i] as Request;
      if (rq.gen !== this.cplGens[i] || rq.state !== RQ_COMPLETE) continue; // ended meanwhile
      if (ops.complete === undefined) { this.endRequest(rq, rq.status, ENDED_DRIVER); continue; }
      const hd = rq.handle;
      try {
        ops.complete(hd, rq.status);
      } catch (e) {
        this.tagSet.misuseCounters.driverThrew++;
        this.log.error({ err: e, tag: rq.tag }, 'complete threw; ending request');
        if (rq.gen === this.cplGens[i]) this.endRequest(rq, BLK_STS.IOERR, ENDED_DRIVER);
      }
    }
    this.nCpl = 0;
  }

  /** blk_mq_end_request: account, free the tag, complete the bios. */
  endRequest(rq: Request, status: BlkStatus, reason: number): void {
    const h = rq.hctx as Hctx;
    rq.handle.endedBy = reason;
    rq.gen++;
    rq.state = RQ_FREE;
    rq.refcount = 0;
    rq.timedOut = false;
    if (status !== BLK_STS.OK && (rq.flags & REQ_FLAG.QUIET) === 0 && reason !== ENDED_ABORT) {
      this.log.warn(`${BLK_STS_INFO[status].desc} error, dev ${this.name}, sector ${rq.sector} op 0x${rq.op.toString(16)}:(${REQ_OP_NAME[rq.op]}) flags 0x${rq.flags.toString(16)} phys_seg ${rq.nrSegs}`);
    }
    if (h.type === 'poll' && !rq.timedOut) this.samplePollTime(h, rq);
    this.acctDone(rq);
    let bio = rq.bioHead;
    const result = rq.resultSector;
    const drvResult = rq.driverResult;
    rq.bioHead = rq.bioTail = null;
    rq.clearBvecs();
    rq.driverCmd = undefined;
    rq.driverResult = undefined;
    h.nrActive--;
    h.share.nrActive--;
    h.tags.free(rq.tag);
    this.afterTagFree(h);
    if (h.share.active && h.share.nrActive === 0) this.shareIdle(h);
    let off = 0;
    while (bio !== null) {
      const next = bio.next;
      bio.next = null;
      bio.result = result + off;
      if (drvResult !== undefined) bio.drvResult = drvResult;
      off += bio.nrSectors;
      this.endBio(bio, status);
      bio = next;
    }
  }

  /** Wake the hctxs waiting for a tag, in order, from a microtask (sbitmap wake-up). */
  private wakeTagWaiters(tags: Tags): void {
    if (tags.waiters.length > 0 && !tags.wakeScheduled) {
      tags.wakeScheduled = true;
      queueMicrotask(() => {
        tags.wakeScheduled = false;
        const ws = tags.waiters.splice(0, tags.waiters.length);
        for (const w of ws) { w.waitingTag = false; w.queue.runHctx(w); }
      });
    }
  }

  private afterTagFree(h: Hctx): void {
    this.wakeTagWaiters(h.tags);
    if (h.needRestart) { h.needRestart = false; this.scheduleRun(h); }
    if (this.inflight === 0 && this.drainWaiters.length > 0) for (const f of this.drainWaiters.splice(0)) f();
  }

  /** bio_endio: children roll up into their parent; top-level bios drop their queue usage reference. */
  endBio(bio: Bio, status: BlkStatus): void {
    const parent = bio.parent;
    if (parent !== null) {
      if (status !== BLK_STS.OK && parent.status === BLK_STS.OK) parent.status = status;
      if (parent.op === REQ_OP.ZONE_APPEND && bio.sector === parent.sector) parent.result = bio.result;
      if (bio.drvResult !== undefined) parent.drvResult = bio.drvResult;
      this.pools.putBio(bio);
      if (--parent.remaining === 0) this.endBio(parent, parent.status);
      return;
    }
    const cb = bio.cb;
    const entered = bio.entered;
    const result = bio.result;
    const drv = bio.drvResult;
    bio.cb = null;
    if (bio.pooled) this.pools.putBio(bio);
    else { bio.entered = false; bio.drvResult = drv; }
    if (entered) {
      this.usage--;
      if (this.usage === 0 && this.freezeWaiters.length > 0) for (const f of this.freezeWaiters.splice(0)) f();
    }
    if (cb !== null) {
      try { cb(status, result); } catch (e) { this.log.error({ err: e }, 'bio completion callback threw'); }
    }
  }

  private failPending(p: PendingRq, status: BlkStatus): void {
    let bio = p.head;
    this.pools.putPending(p);
    while (bio !== null) { const next = bio.next; bio.next = null; this.endBio(bio, status); bio = next; }
  }

  // ─────────────────────────────── requeue ───────────────────────────────

  requeueRequest(rq: Request, kick: boolean): void {
    this.unstart(rq, ENDED_REQUEUE);
    this.requeueList.push(rq);
    if (kick) this.kickRequeueList(0);
  }

  kickRequeueList(delayMs: number): void {
    if (delayMs > 0) {
      if (this.requeueTimer === null && !this.requeueScheduled) this.requeueTimer = setTimeout(this.runRequeue, delayMs);
      return;
    }
    if (this.requeueScheduled) return;
    this.requeueScheduled = true;
    if (this.requeueTimer !== null) { clearTimeout(this.requeueTimer); this.requeueTimer = null; }
    queueMicrotask(this.runRequeue);
  }

  private flushRequeueList(): void {
    const list = this.requeueList.splice(0);
    // Requeued requests go to the head of their hctx's dispatch list (blk_mq_requeue_work).
    for (let i = list.length - 1; i >= 0; i--) {
      const rq = list[i] as Request;
      if (this.dying) { this.endRequest(rq, BLK_STS.OFFLINE, ENDED_ABORT); continue; }
      (rq.hctx as Hctx).dispatch.unshift(rq);
    }
    for (const h of this.hctxs) if (h.dispatch.length > 0) this.runHctx(h);
  }

  // ─────────────────────────────── timeouts ───────────────────────────────

  private armTimer(deadline: number): void {
    if (this.timer !== null && this.timerAt <= deadline) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = deadline;
    this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(deadline - performance.now()) + 1));
    if (this.inflight === 0) this.timer.unref();
  }

  /** blk_mq_timeout_work: one pass over this queue's started requests. */
  scanTimeouts(): void {
    if (this.dead) return;
    const now = performance.now();
    let next = Infinity;
    const ops = this.tagSet.ops;
    for (const h of this.hctxs) {
      const rqs = h.tags.rqs;
      for (let t = 0; t < rqs.length; t++) {
        const rq = rqs[t] as Request;
        if (rq.queue !== this || (rq.state !== RQ_IN_FLIGHT && rq.state !== RQ_COMPLETE) || rq.timedOut) continue;
        if (rq.deadline > now) { if (rq.deadline < next) next = rq.deadline; continue; }
        if (rq.state === RQ_COMPLETE) {
          // complete() was called but ops.complete never ended it: end with the recorded status.
          this.endRequest(rq, rq.status, ENDED_TIMEOUT);
          continue;
        }
        const gen = rq.gen;
        rq.timedOut = true; // RQF_TIMED_OUT
        let r: TimeoutResult = 'done';
        if (ops.timeout !== undefined) {
          try {
            r = ops.timeout(rq.handle);
          } catch (e) {
            this.tagSet.misuseCounters.driverThrew++;
            this.log.error({ err: e, tag: rq.tag }, 'timeout handler threw');
          }
        } else {
          this.log.warn(`rq tag ${rq.tag} on ${this.name} timed out (no timeout op): ending with BLK_STS_TIMEOUT`);
        }
        if (rq.gen !== gen) continue; // the handler ended it
        if (r === 'reset-timer' && rq.state === RQ_IN_FLIGHT) {
          rq.timedOut = false;
          rq.deadline = now + this.timeoutMs;
          if (rq.deadline < next) next = rq.deadline;
        } else if (rq.state === RQ_IN_FLIGHT) {
          this.endRequest(rq, BLK_STS.TIMEOUT, ENDED_TIMEOUT);
        }
        // RQ_COMPLETE: a completion is pending and will end it.
      }
    }
    if (next !== Infinity) this.armTimer(next);
  }

  // ────────────────────────── quiesce / freeze ──────────────────────────

  /** blk_mq_quiesce_queue: no queueRq calls until unquiesce (dispatch already in progress finishes its request). */
  quiesce(): void { this.quiesceDepth++; }
  unquiesce(): void {
    if (this.quiesceDepth === 0) { this.log.warn('unbalanced unquiesce'); return; }
    if (--this.quiesceDepth === 0) for (const h of this.hctxs) this.scheduleRun(h);
  }
  get quiesced(): boolean { return this.quiesceDepth > 0; }

  /** blk_freeze_queue_start: new bios wait; resolves when every entered bio has completed. */
  freeze(): Promise<void> {
    this.freezeDepth++;
    for (const p of this.plugs) this.flushPlug(p);
    return this.waitUsageZero();
  }
  private waitUsageZero(): Promise<void> {
    if (this.usage === 0) return Promise.resolve();
    return new Promise((res) => this.freezeWaiters.push(res));
  }
  unfreeze(): void {
    if (this.freezeDepth === 0) { this.log.warn('unbalanced unfreeze'); return; }
    if (--this.freezeDepth > 0) return;
    const waiting = this.frozenBios.splice(0);
    for (const w of waiting) this.submitBio(w.bio, w.plug);
  }
  get frozen(): boolean { return this.freezeDepth > 0; }

  // ─────────────────────────────── teardown ───────────────────────────────

  /**
   * Mark dying and fail everything not yet owned by the driver with
   * BLK_STS_OFFLINE; requests the driver owns get `graceMs` to end, then are
   * failed by the core (their handles go stale; later ends are refused and
   * counted as endAfterRemove). Never hangs.
   */
  async destroy(graceMs = 100): Promise<void> {
    if (this.dead) return;
    this.dying = true;
    for (const p of this.plugs) this.flushPlug(p);
    for (const w of this.frozenBios.splice(0)) this.endBio(w.bio, BLK_STS.OFFLINE);
    const out: PendingRq[] = [];
    for (const h of this.hctxs) {
      h.sched.drain(out);
      while (h.passthru.head !== null) {
        const p = h.passthru.head; const l = h.passthru;
        l.head = p.next; if (l.head !== null) l.head.prev = null; else l.tail = null; l.count--; p.next = p.prev = null; p.owner = null;
        out.push(p);
      }
      for (const rq of h.dispatch.splice(0)) this.endRequest(rq, BLK_STS.OFFLINE, ENDED_ABORT);
      const wi = h.tags.waiters.indexOf(h);
      if (wi >= 0) { h.tags.waiters.splice(wi, 1); h.waitingTag = false; }
    }
    for (const p of out) this.failPending(p, BLK_STS.OFFLINE);
    for (const rq of this.requeueList.splice(0)) this.endRequest(rq, BLK_STS.OFFLINE, ENDED_ABORT);
    if (this.inflight > 0) {
      await new Promise<void>((res) => {
        const t = setTimeout(res, graceMs);
        this.drainWaiters.push(() => { clearTimeout(t); res(); });
      });
    }
    this.flushCompletions();
    for (const h of this.hctxs) {
      for (const rq of h.tags.rqs) {
        if (rq.queue === this && rq.state !== RQ_FREE) this.endRequest(rq, BLK_STS.OFFLINE, ENDED_ABORT);
      }
    }
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    if (this.requeueTimer !== null) { clearTimeout(this.requeueTimer); this.requeueTimer = null; }
    for (const h of this.hctxs) this.exitHctx(h);
    this.dead = true;
    this.tagSet.detachQueue(this);
  }

  // ──────────────────────────── passthrough ────────────────────────────

  /**
   * Issue a driver passthrough request (REQ_OP_DRV_IN / DRV_OUT):
   * blk_mq_alloc_request (optionally from the reserved tags) + blk_execute_rq
   * (bypasses plugging, merging and the scheduler; at_head). The driver sees
   * `cmd` as rq.driverCmd and answers with rq.setDriverResult() and an end
   * status. `cb` runs exactly once; invalid arguments are reported through it
   * synchronously with BLK_STS_INVAL (or NOTSUPP) before anything is queued.
   * Works on any RequestQueue, including one without a gendisk (an admin
   * queue: `new RequestQueue({ name: 'nvme0-admin', tagSet, capacitySectors: 0 })`).
   */
  submitDrv(op: ReqOp, cmd: unknown, opts: DrvRequestOptions, cb: DrvCallback): void {
    const err = this.checkDrv(op, opts);
    if (err !== null) {
      this.log.warn(`passthrough request refused: ${err}`);
      try { cb(err.includes('not supported') ? BLK_STS.NOTSUPP : BLK_STS.INVAL, undefined); } catch (e) { this.log.error({ err: e }, 'passthrough callback threw'); }
      return;
    }
    // Not pooled: the result must survive endBio (passthrough is not the hot path).
    const bio = new Bio();
    bio.pooled = false;
    bio.op = op;
    bio.flags = ((opts.flags ?? 0) & (REQ_FLAG.POLLED | REQ_FLAG.QUIET)) | REQ_FLAG.FAILFAST_DRIVER;
    bio.sector = 0; bio.nrSectors = 0;
    bio.buf = opts.buf ?? null;
    bio.nrSegs = bio.buf === null ? 0 : Math.ceil(bio.buf.length / this.limits.maxSegmentSize);
    bio.cpu = opts.cpu ?? 0;
    bio.drvCmd = cmd;
    bio.reserved = opts.reserved === true;
    bio.atHead = opts.atHead === true;
    bio.timeoutMs = opts.timeoutMs ?? 0;
    bio.cb = (st) => cb(st, bio.drvResult);
    this.submitBio(bio, null);
  }

  /** blk_execute_rq: submitDrv as a promise. Resolves with any block status; rejects (BlockError, BLK_EINVAL_ARG) only for invalid arguments. */
  executeDrv(op: ReqOp, cmd: unknown, opts: DrvRequestOptions = {}): Promise<DrvResult> {
    const err = this.checkDrv(op, opts);
    if (err !== null) {
      const st = err.includes('not supported') ? BLK_STS.NOTSUPP : BLK_STS.INVAL;
      return Promise.reject(new BlockError(st, `${this.name}: ${err}`, st === BLK_STS.INVAL ? 'BLK_EINVAL_ARG' : undefined));
    }
    return new Promise((resolve) => this.submitDrv(op, cmd, opts, (status, result) => resolve({ status, result })));
  }

  private checkDrv(op: ReqOp, o: DrvRequestOptions): string | null {
    if (op !== REQ_OP.DRV_IN && op !== REQ_OP.DRV_OUT) return `op ${String(op)} is not DRV_IN/DRV_OUT`;
    if (o === null || typeof o !== 'object') return 'options must be an object';
    const l = this.limits;
    if (o.buf !== undefined) {
      if (!(o.buf instanceof Uint8Array)) return 'buf must be a Uint8Array';
      // blk_rq_map_kern: a passthrough buffer is never split.
      if (o.buf.length > l.maxHwSectors * 512) return `buffer of ${o.buf.length} bytes exceeds max_hw_sectors ${l.maxHwSectors}`;
      if (Math.ceil(o.buf.length / l.maxSegmentSize) > l.maxSegments) return `buffer needs more than max_segments ${l.maxSegments} segments`;
      if (l.dmaAlignment !== 0 && (o.buf.byteOffset & l.dmaAlignment) !== 0) return `buffer not aligned to ${l.dmaAlignment + 1} bytes`;
    }
    if (o.reserved === true && this.tagSet.reservedTags === 0) return 'reserved tag requested but the tag set has no reserved tags';
    if (o.timeoutMs !== undefined && (!Number.isInteger(o.timeoutMs) || o.timeoutMs < 1 || o.timeoutMs > 2 ** 31 - 1)) return `timeoutMs ${o.timeoutMs} (1..2^31-1)`;
    const cpu = o.cpu ?? 0;
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.tagSet.nrCpus) return `cpu ${cpu} out of range (0..${this.tagSet.nrCpus - 1})`;
    const flags = o.flags ?? 0;
    if (!Number.isInteger(flags)) return `flags ${flags} is not an integer`;
    if ((flags & REQ_FLAG.POLLED) !== 0 && !this.tagSet.hasPollQueues) return 'polled I/O not supported (no poll queues)';
    return null;
  }

  // ─────────────────────────────── polling ───────────────────────────────
  //
  // Poll hctxs ('poll' map, REQ_FLAG.POLLED bios) get completions only when
  // somebody calls Operations.poll — there is no interrupt. Two pollers, both
  // cooperative (one ops.poll call per hctx per turn, never a busy loop that
  // holds the event loop: blk_hctx_poll's need_resched exit, always taken):
  //  - the submitter: BlockDevice.poll() / RequestQueue.poll() (bio_poll,
  //    io_uring IOPOLL) reaps synchronously and returns what it found;
  //  - with autoPoll (default) the core also polls each busy poll hctx until
  //    it has no request in flight, so promise users need not poll themselves.
  //    How often is io_poll_delay's choice (Linux blk_mq_poll_hybrid):
  //      -1  classic: once per event-loop turn (setImmediate) — the lowest
  //          latency, but the loop never sleeps: a whole core while busy;
  //       0  hybrid, adaptive: after a dispatch, sleep about half the hctx's
  //          mean completion time (one timer per hctx, not per request),
  //          then poll; a poll that finds nothing means the requests are due,
  //          so poll every turn until one completes (at most about as long
  //          as the sleep, then sleep again), then sleep again. No sample
  //          yet ⇒ classic (as Linux without stats);
  //      >0  hybrid with a fixed sleep of that many µs.
  //    Node timers have 1 ms resolution, so a hybrid sleep is ≥ 1 ms: on a
  //    device faster than that, hybrid trades latency for CPU (use -1 for
  //    the lowest latency).

  /** EWMA weight of a new completion-time sample (1/8, like a TCP srtt). */
  private static readonly POLL_EWMA = 0.125;

  /** Dispatch → completion time of a request ended on a poll hctx, into the hctx's mean. */
  private samplePollTime(h: Hctx, rq: Request): void {
    const timeout = rq.timeoutMs > 0 ? rq.timeoutMs : this.timeoutMs;
    this.tick();
    // rq.deadline = dispatch time + timeout (set in dispatchBatch; not re-armed unless timedOut).
    const dt = (this.clk[0] as number) - (rq.deadline - timeout);
    if (!(dt >= 0 && dt < timeout)) return;
    h.pollMeanMs = h.pollMeanMs === 0 ? dt || 0.001 : h.pollMeanMs + (dt - h.pollMeanMs) * RequestQueue.POLL_EWMA;
  }

  /** The hybrid sleep before polling `h`, in ms; 0 = poll next turn (classic). */
  private pollSleepMs(h: Hctx): number {
    const d = this.ioPollDelay;
    if (d < 0) return 0;
    if (d > 0) return Math.max(1, d / 1000);
    return h.pollMeanMs > 0 ? Math.max(1, h.pollMeanMs / 2) : 0;
  }

  /**
   * Poll the 'poll' hctx mapped to `cpu` (every poll hctx when cpu < 0) once,
   * then run deferred completions, so the callbacks of the requests found
   * have run when this returns. Returns the number of completions the
   * driver reported. 0 without poll queues or an ops.poll.
   */
  poll(cpu = -1): number {
    if (this.dead || this.tagSet.ops.poll === undefined) return 0;
    let found = 0;
    if (cpu >= 0) {
      const idx = this.cpuMap[2]?.[cpu] ?? -1;
      const h = idx >= 0 ? this.hctxs[idx] : undefined;
      if (h !== undefined && h.type === 'poll') found = this.pollOnce(h);
    } else {
      for (const h of this.hctxs) if (h.type === 'poll') found += this.pollOnce(h);
    }
    if (this.nCpl > 0) this.flushCompletions();
    return found;
  }

  private pollOnce(h: Hctx): number {
    const ops = this.tagSet.ops;
    if (ops.poll === undefined || h.dead) return 0;
    this.pollCalls++;
    let n = 0;
    try {
      n = ops.poll(h);
    } catch (e) {
      this.tagSet.misuseCounters.driverThrew++;
      this.log.error({ err: e }, 'poll threw');
    }
    return Number.isInteger(n) && n > 0 ? n : 0;
  }

  /** Number of Operations.poll calls so far (tests, stats). */
  pollCalls = 0;

  /** A request started on poll hctx `h`: make sure a poll is coming (the sleep, or the next turn). */
  schedulePoll(h: Hctx): void {
    if (h.pollScheduled || h.pollTimer !== null || h.dead || !this.autoPoll) return;
    const ms = this.pollSleepMs(h);
    if (ms > 0) h.pollTimer = setTimeout(h.pollWake, ms);
    else this.pollNextTurn(h);
  }
  private pollNextTurn(h: Hctx): void {
    if (h.pollScheduled) return;
    h.pollScheduled = true;
    setImmediate(h.pollNow);
  }
  pollHctx(h: Hctx): void {
    if (h.dead || !this.autoPoll) return;
    const found = this.pollOnce(h);
    // Completions may dispatch more (schedulePoll from acctStart arms the sleep).
    if (this.nCpl > 0) this.flushCompletions();
    if (found > 0) h.pollSpinEnd = 0;
    if (h.nrActive === 0 || h.pollScheduled || h.pollTimer !== null) return;
    // Found some: what is left was dispatched later, sleep again.
    if (found > 0) { this.schedulePoll(h); return; }
    // Found none: the requests are due, poll each turn — for at most about
    // as long as the sleep was, then sleep again. On a shared machine an
    // unbounded spin starves the device of the CPU it needs to complete.
    const ms = this.pollSleepMs(h);
    if (ms === 0) { this.pollNextTurn(h); return; }
    const now = performance.now();
    if (h.pollSpinEnd === 0) h.pollSpinEnd = now + ms;
    if (now < h.pollSpinEnd) { this.pollNextTurn(h); return; }
    h.pollSpinEnd = 0;
    h.pollTimer = setTimeout(h.pollWake, ms);
  }

  // ────────────────────────────── accounting ──────────────────────────────

  /** update_io_ticks at clk[0]. */
  private updateIoTicks(): void {
    const a = this.acct;
    const now = this.clk[0] as number;
    if (this.inflight > 0) a[ACCT.ioTicks] += now - (a[IO_STAMP] as number);
    a[IO_STAMP] = now;
  }
  private acctStart(rq: Request): void {
    if (this.inflight === 0 && this.timer !== null) this.timer.ref();
    if (this.iostats) {
      this.tick();
      this.updateIoTicks();
      rq.startMs = this.clk[0] as number;
    }
    this.inflight++;
    if (rq.hctx?.type === 'poll') this.schedulePoll(rq.hctx);
  }
  private acctDone(rq: Request): void {
    if (this.iostats && rq.startMs > 0) {
      this.tick();
      this.updateIoTicks();
      const dur = (this.clk[0] as number) - rq.startMs;
      const sectors = rq.bytes >>> SECTOR_SHIFT;
      const a = this.acct;
      a[ACCT.timeInQueue] += dur;
      switch (statGroup(rq.op)) {
        case 0: a[ACCT.readIos]++; a[ACCT.readSectors] += sectors; a[ACCT.readTicks] += dur; break;
        case 1: a[ACCT.writeIos]++; a[ACCT.writeSectors] += sectors; a[ACCT.writeTicks] += dur; break;
        case 2: a[ACCT.discardIos]++; a[ACCT.discardSectors] += sectors; a[ACCT.discardTicks] += dur; break;
        case 3: a[ACCT.flushIos]++; a[ACCT.flushTicks] += dur; break;
        default: break;
      }
    }
    rq.startMs = 0;
    this.inflight--;
    if (this.inflight === 0 && this.timer !== null) this.timer.unref();
  }

  /** /sys/block/<dev>/stat with ticks rounded to ms. */
  getStat(): DiskStat {
    this.tick();
    this.updateIoTicks();
    const s = this.counters;
    s.inFlight = this.inflight;
    for (const k of ['readTicks', 'writeTicks', 'discardTicks', 'flushTicks', 'ioTicks', 'timeInQueue'] as const) s[k] = Math.floor(s[k]);
    return s;
  }

  // ─────────────────────────────── misuse ───────────────────────────────

  misuse(kind: EndResult, what: string, rq: Request, gen: number, endedBy: number): void {
    const c: MisuseCounters = this.tagSet.misuseCounters;
    if (kind === 1) { if (endedBy === ENDED_ABORT) c.endAfterRemove++; else c.staleEnd++; }
    else if (kind === 2) c.notUniqueEnd++;
    else if (kind === 3) c.endAfterTimeout++;
    else if (kind === 4) c.badState++;
    else if (kind === 5) c.badStatus++;
    const total = c.staleEnd + c.notUniqueEnd + c.endAfterTimeout + c.badState + c.badStatus + c.endAfterRemove;
    if (total <= 20 || total % 1000 === 0) {
      this.log.warn(`refused driver ${what} on ${this.name}: ${END_NAME[kind]} (tag ${rq.tag} gen ${gen}, current gen ${rq.gen}; ${total} refusals so far)`);
    }
  }

  // ─────────────────────────── attributes ───────────────────────────

  async setScheduler(name: SchedulerName): Promise<void> {
    if (name !== 'none' && name !== 'mq-deadline') throw new RangeError(`unknown scheduler ${String(name)} (none, mq-deadline)`);
    if (name === this.schedName) return;
    // elevator_switch: freeze (drain) + quiesce, swap, resume.
    await this.freeze();
    this.quiesce();
    try {
      this.schedName = name;
      for (const h of this.hctxs) {
        const old: PendingRq[] = [];
        h.sched.drain(old);
        h.sched = this.makeSched(h);
        for (const p of old) h.sched.insert(p, false);
      }
    } finally {
      this.unquiesce();
      this.unfreeze();
    }
  }

  getAttr(attr: QueueAttr): string {
    const l = this.limits;
    switch (attr) {
      case 'nr_requests': return String(this.nrRequests);
      case 'scheduler': return (['none', 'mq-deadline'] as const).map((s) => (s === this.schedName ? `[${s}]` : s)).join(' ');
      case 'logical_block_size': case 'hw_sector_size': return String(l.logicalBlockSize);
      case 'physical_block_size': return String(l.physicalBlockSize);
      case 'max_hw_sectors_kb': return String(l.maxHwSectors >>> 1);
      case 'max_sectors_kb': return String(l.maxSectors >>> 1);
      case 'max_segments': return String(l.maxSegments);
      case 'max_segment_size': return String(l.maxSegmentSize);
      case 'dma_alignment': return String(l.dmaAlignment);
      case 'virt_boundary_mask': return String(l.virtBoundaryMask);
      case 'discard_granularity': return String(l.maxDiscardSectors > 0 ? l.discardGranularity : 0);
      case 'discard_max_bytes': case 'discard_max_hw_bytes': return String(l.maxDiscardSectors * 512);
      case 'write_zeroes_max_bytes': return String(l.maxWriteZeroesSectors * 512);
      case 'write_cache': return l.writeCache ? 'write back' : 'write through';
      case 'fua': return l.fua ? '1' : '0';
      case 'rotational': return l.rotational ? '1' : '0';
      case 'zoned': return l.zoned;
      case 'chunk_sectors': return String(l.zoned !== 'none' ? l.zoneSectors : 0);
      case 'nr_zones': return String(l.zoned !== 'none' && l.zoneSectors > 0 ? Math.ceil(this.capacitySectors / l.zoneSectors) : 0);
      case 'max_open_zones': return String(l.maxOpenZones);
      case 'max_active_zones': return String(l.maxActiveZones);
      case 'zone_append_max_bytes': return String(l.maxZoneAppendSectors * 512);
      case 'nomerges': return String(this.nomerges);
      case 'io_timeout': return String(this.timeoutMs);
      case 'iostats': return this.iostats ? '1' : '0';
      case 'rq_affinity': return String(this.rqAffinity);
      case 'io_poll': return this.tagSet.hasPollQueues ? '1' : '0';
      case 'io_poll_delay': return String(this.ioPollDelay);
      case 'nr_hw_queues': return String(this.hctxs.length);
      default: throw new RangeError(`unknown queue attribute ${String(attr)}`);
    }
  }

  /** Write a sysfs-style attribute; read-only ones throw. Values are validated like sysfs store handlers. */
  async setAttr(attr: QueueAttr, value: string): Promise<void> {
    const int = (min: number, max: number): number => {
      const v = Number(value.trim());
      if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${attr}: invalid value ${JSON.stringify(value)} (${min}..${max})`);
      return v;
    };
    switch (attr) {
      case 'scheduler': await this.setScheduler(value.trim() as SchedulerName); return;
      case 'nr_requests': this.nrRequests = int(4, this.tagSet.queueDepth); this.kickAll(); return;
      case 'max_sectors_kb': {
        const kb = int(this.limits.logicalBlockSize >>> 10 || 1, this.limits.maxHwSectors >>> 1);
        const s = kb * 2;
        this.limits.maxSectors = s - (s % (this.limits.logicalBlockSize >>> SECTOR_SHIFT));
        return;
      }
      case 'write_cache': {
        const v = value.trim();
        if (v !== 'write back' && v !== 'write through') throw new RangeError(`write_cache: "write back" or "write through"`);
        this.limits.writeCache = v === 'write back';
        if (!this.limits.writeCache) this.limits.fua = false;
        return;
      }
      case 'nomerges': this.nomerges = int(0, 2); return;
      case 'io_timeout': this.timeoutMs = int(1, 2 ** 31 - 1); return;
      case 'iostats': this.iostats = int(0, 1) === 1; return;
      case 'rq_affinity': this.rqAffinity = int(0, 2); return;
      case 'io_poll_delay': {
        // -1 classic, 0 adaptive hybrid, > 0 fixed sleep in µs (Linux queue_poll_delay_store).
        this.ioPollDelay = int(-1, 10_000_000);
        // A pending sleep follows the new setting at its next wake-up.
        return;
      }
      case 'discard_max_bytes': {
        if (this.limits.maxDiscardSectors === 0) throw new RangeError('discard_max_bytes: discard not supported');
        const b = int(this.limits.logicalBlockSize, Number.MAX_SAFE_INTEGER);
        this.limits.maxDiscardSectors = Math.floor(b / 512);
        return;
      }
      default: throw new RangeError(`${attr} is read-only or unknown`);
    }
  }

  private kickAll(): void { for (const h of this.hctxs) this.scheduleRun(h); }

  /** Number of requests in each stage, for leak checks. */
  debugState(): { inflight: number; usage: number; queued: number; dispatch: number; requeue: number } {
    let queued = 0, dispatch = 0;
    for (const h of this.hctxs) { queued += h.sched.count + h.passthru.count; dispatch += h.dispatch.length; }
    return { inflight: this.inflight, usage: this.usage, queued, dispatch, requeue: this.requeueList.length };
  }

  // Referenced by Operations typing only.
  static readonly _ops?: Operations;
}

export function statGroup(op: number): StatGroup | -1 {
  if (op === REQ_OP.READ) return 0;
  if (op === REQ_OP.DISCARD) return 2;
  if (op === REQ_OP.FLUSH) return 3;
  if (op === REQ_OP.WRITE || op === REQ_OP.ZONE_APPEND || op === REQ_OP.WRITE_ZEROES) return 1;
  return -1;
}
export { opIsWrite };
