// Public API of the host block layer (blk-mq model). Drivers (host/drivers/*)
// and users (host/tools, host/nbd) code against THIS file; the classes that
// implement it are exported from host/block/index.ts:
//
//   import { TagSet, GenDisk, RequestQueue, openDisk, getDisk, listDisks } from '../block/index.ts';
//   import { BLK_STS, REQ_OP, REQ_FLAG, BlockError, type Operations, type RequestRef } from '../block/types.ts';
//
// Model: Linux blk-mq (block/blk-mq.c) with the ownership rules of the
// Rust-for-Linux `kernel::block::mq` API (rust/kernel/block/mq/request.rs):
// a driver only ever holds a RequestRef; ending, looking up and completing
// requests are checked by the core, and misuse is refused (never corrupts
// another request), counted and logged.
//
// Units: `sector` is always in 512-byte units (SECTOR_SHIFT 9) regardless of
// the logical block size, as in Linux. Byte offsets appear only in the
// user-facing BlockDevice API.
//
// Compatibility: this file is append-only (add, don't rename).

export const SECTOR_SHIFT = 9;
export const SECTOR_SIZE = 512;

// ───────────────────────────── status codes ─────────────────────────────

/**
 * blk_status_t values, numbered as in current Linux include/linux/blk_types.h
 * (after BLK_STS_ZONE_RESOURCE was removed: ZONE_OPEN_RESOURCE is 14).
 */
export const BLK_STS = {
  OK: 0,
  NOTSUPP: 1,
  TIMEOUT: 2,
  NOSPC: 3,
  TRANSPORT: 4,
  TARGET: 5,
  RESV_CONFLICT: 6,
  MEDIUM: 7,
  PROTECTION: 8,
  RESOURCE: 9,
  IOERR: 10,
  DM_REQUEUE: 11,
  AGAIN: 12,
  DEV_RESOURCE: 13,
  ZONE_OPEN_RESOURCE: 14,
  ZONE_ACTIVE_RESOURCE: 15,
  OFFLINE: 16,
  DURATION_LIMIT: 17,
  INVAL: 19,
} as const;
export type BlkStatus = (typeof BLK_STS)[keyof typeof BLK_STS];

/** errno name, errno number (Linux x86-64), and block/blk-core.c blk_errors[] description per status. */
export const BLK_STS_INFO: Readonly<Record<BlkStatus, { readonly name: string; readonly errno: string; readonly errnoNum: number; readonly desc: string }>> = {
  0: { name: 'BLK_STS_OK', errno: 'OK', errnoNum: 0, desc: '' },
  1: { name: 'BLK_STS_NOTSUPP', errno: 'EOPNOTSUPP', errnoNum: 95, desc: 'operation not supported' },
  2: { name: 'BLK_STS_TIMEOUT', errno: 'ETIMEDOUT', errnoNum: 110, desc: 'timeout' },
  3: { name: 'BLK_STS_NOSPC', errno: 'ENOSPC', errnoNum: 28, desc: 'critical space allocation' },
  4: { name: 'BLK_STS_TRANSPORT', errno: 'ENOLINK', errnoNum: 67, desc: 'recoverable transport' },
  5: { name: 'BLK_STS_TARGET', errno: 'EREMOTEIO', errnoNum: 121, desc: 'critical target' },
  6: { name: 'BLK_STS_RESV_CONFLICT', errno: 'EBADE', errnoNum: 52, desc: 'reservation conflict' },
  7: { name: 'BLK_STS_MEDIUM', errno: 'ENODATA', errnoNum: 61, desc: 'critical medium' },
  8: { name: 'BLK_STS_PROTECTION', errno: 'EILSEQ', errnoNum: 84, desc: 'protection' },
  9: { name: 'BLK_STS_RESOURCE', errno: 'ENOMEM', errnoNum: 12, desc: 'kernel resource' },
  10: { name: 'BLK_STS_IOERR', errno: 'EIO', errnoNum: 5, desc: 'I/O' },
  11: { name: 'BLK_STS_DM_REQUEUE', errno: 'EREMCHG', errnoNum: 78, desc: 'dm internal retry' },
  12: { name: 'BLK_STS_AGAIN', errno: 'EAGAIN', errnoNum: 11, desc: 'nonblocking retry' },
  13: { name: 'BLK_STS_DEV_RESOURCE', errno: 'EBUSY', errnoNum: 16, desc: 'device resource' },
  14: { name: 'BLK_STS_ZONE_OPEN_RESOURCE', errno: 'ETOOMANYREFS', errnoNum: 109, desc: 'open zones exceeded' },
  15: { name: 'BLK_STS_ZONE_ACTIVE_RESOURCE', errno: 'EOVERFLOW', errnoNum: 75, desc: 'active zones exceeded' },
  16: { name: 'BLK_STS_OFFLINE', errno: 'ENODEV', errnoNum: 19, desc: 'device offline' },
  17: { name: 'BLK_STS_DURATION_LIMIT', errno: 'ETIME', errnoNum: 62, desc: 'duration limit exceeded' },
  19: { name: 'BLK_STS_INVAL', errno: 'EINVAL', errnoNum: 22, desc: 'invalid' },
};

export function isBlkStatus(v: unknown): v is BlkStatus {
  return typeof v === 'number' && Object.prototype.hasOwnProperty.call(BLK_STS_INFO, v);
}

/** blk_path_error(): false for errors not worth retrying on another path. */
export function blkPathError(s: BlkStatus): boolean {
  return !(s === BLK_STS.NOTSUPP || s === BLK_STS.NOSPC || s === BLK_STS.TARGET ||
    s === BLK_STS.RESV_CONFLICT || s === BLK_STS.MEDIUM || s === BLK_STS.PROTECTION);
}

/**
 * The error every user-facing promise rejects with. `status` is the block
 * status, `errno` its errno name ('EIO', 'ENODATA', ...), `code` a stable
 * string ('BLK_STS_IOERR', or 'BLK_EINVAL_ARG' for argument validation that
 * failed before anything was queued).
 */
export class BlockError extends Error {
  readonly status: BlkStatus;
  readonly errno: string;
  readonly code: string;
  constructor(status: BlkStatus, message?: string, code?: string) {
    const info = BLK_STS_INFO[status];
    super(message ?? `${info.name} (${info.errno}): ${info.desc} error`);
    this.name = 'BlockError';
    this.status = status;
    this.errno = info.errno;
    this.code = code ?? info.name;
  }
}

// ─────────────────────────────── operations ───────────────────────────────

/** enum req_op (include/linux/blk_types.h). */
export const REQ_OP = {
  READ: 0,
  WRITE: 1,
  FLUSH: 2,
  DISCARD: 3,
  SECURE_ERASE: 5,
  ZONE_APPEND: 7,
  WRITE_ZEROES: 9,
  ZONE_OPEN: 10,
  ZONE_CLOSE: 11,
  ZONE_FINISH: 12,
  ZONE_RESET: 13,
  ZONE_RESET_ALL: 15,
  DRV_IN: 34,
  DRV_OUT: 35,
} as const;
export type ReqOp = (typeof REQ_OP)[keyof typeof REQ_OP];

export const REQ_OP_NAME: Readonly<Record<ReqOp, string>> = {
  0: 'READ', 1: 'WRITE', 2: 'FLUSH', 3: 'DISCARD', 5: 'SECURE_ERASE', 7: 'ZONE_APPEND', 9: 'WRITE_ZEROES',
  10: 'ZONE_OPEN', 11: 'ZONE_CLOSE', 12: 'ZONE_FINISH', 13: 'ZONE_RESET', 15: 'ZONE_RESET_ALL',
  34: 'DRV_IN', 35: 'DRV_OUT',
};

/** Data direction: in Linux op_is_write() is `op & 1`. */
export function opIsWrite(op: ReqOp): boolean {
  return (op & 1) === 1;
}

/** Request flags (a subset of enum req_flag_bits; our own bit positions). */
export const REQ_FLAG = {
  /** Forced unit access: data on stable media before completion. */
  FUA: 1 << 0,
  /** Flush the volatile cache before this request. */
  PREFLUSH: 1 << 1,
  /** WRITE_ZEROES: do not deallocate (unmap) the range. */
  NOUNMAP: 1 << 2,
  /** Never merge this bio/request. */
  NOMERGE: 1 << 3,
  /** Poll for completion: routed to a 'poll' hardware queue. */
  POLLED: 1 << 4,
  /** Synchronous request (accounting hint only). */
  SYNC: 1 << 5,
  /** Do not retry on device errors (REQ_FAILFAST_DEV). */
  FAILFAST_DEV: 1 << 6,
  /** Do not retry on driver errors (REQ_FAILFAST_DRIVER; set on passthrough). */
  FAILFAST_DRIVER: 1 << 7,
  /** Fail with BLK_STS_AGAIN instead of waiting for a tag (REQ_NOWAIT). */
  NOWAIT: 1 << 8,
  /** Do not log errors for this request (RQF_QUIET). */
  QUIET: 1 << 9,
} as const;

// ───────────────────────────── driver-facing ─────────────────────────────

/** Result of RequestRef.end()/endOk()/complete()/requeue(). OK = accepted; anything else = refused (and counted). */
export const END = {
  OK: 0,
  /** The handle belongs to an older generation of this tag: the request was already ended (double end) or reused. */
  STALE: 1,
  /** The driver holds extra references (refcount > 1): release them first. */
  NOT_UNIQUE: 2,
  /** The timeout handler already ended this request (BLK_STS_TIMEOUT). */
  TIMED_OUT: 3,
  /** The request is not in a state that allows it (e.g. complete() twice, requeue of a completing request). */
  BAD_STATE: 4,
  /** The status argument is not a valid BlkStatus (the request is ended with IOERR instead). */
  BAD_STATUS: 5,
} as const;
export type EndResult = (typeof END)[keyof typeof END];
export const END_NAME: Readonly<Record<EndResult, string>> = {
  0: 'ok', 1: 'stale', 2: 'not-unique', 3: 'timed-out', 4: 'bad-state', 5: 'bad-status',
};

/**
 * What a driver holds for a request (the Rust API's ARef<Request>).
 *
 * Ownership (refcount): 0 = block layer, 1 = driver (unique), >= 2 = the
 * driver took extra references with acquire(). The core starts the request
 * (arms its deadline, sets refcount 1) before calling Operations.queueRq.
 *
 * A RequestRef is bound to one generation of its tag. After the request ends
 * (by the driver or by the timeout path) every existing handle is stale: all
 * methods refuse, and field reads return the values of the request that now
 * owns the tag, so don't trust them — check `valid` first. Handles come from
 * a ring of 16 per tag (like Linux's 4-bit generation counter), so a handle
 * held across 16 reuses of its tag aliases the newest one.
 */
export interface RequestRef<PDU = unknown> {
  /** Tag within its hardware queue's tag space (reserved tags first). */
  readonly tag: number;
  /** Generation of the tag when this handle was issued (increments at every end). */
  readonly generation: number;
  /** hwq << 16 | tag (blk_mq_unique_tag). */
  readonly uniqueTag: number;
  /** True while this handle's generation is the request's current one and the request is driver-owned. */
  readonly valid: boolean;
  readonly op: ReqOp;
  /** REQ_FLAG bits. */
  readonly flags: number;
  /** Start sector, 512-byte units. */
  readonly sector: number;
  /** Length in bytes (0 for flush / zone management). */
  readonly bytes: number;
  /** Hardware queue index this request was dispatched on. */
  readonly hwqIndex: number;
  /** Driver per-request data from Operations.initRequest (one per tag, reused). */
  readonly pdu: PDU;
  /**
   * Data segments, each at most limits.maxSegmentSize bytes, at most
   * limits.maxSegments of them. READ: the driver fills them. WRITE: the driver
   * reads them. Empty for ops without data. Valid only while the driver owns
   * the request.
   */
  readonly bvecs: readonly Uint8Array[];
  /** Monotonic time (ms, performance.now()) at which the request times out. */
  readonly deadline: number;
  /** For DRV_IN/DRV_OUT passthrough requests: the command object the submitter passed. */
  readonly driverCmd: unknown;
  /** Name of the disk this request belongs to. */
  readonly diskName: string;
  /** Current ownership count (see above); 0 once ended. */
  readonly refcount: number;
  /** True if the timeout handler is running for (or has taken) this request. */
  readonly timedOut: boolean;

  /** Take an extra reference (refcount++). Returns this handle, or undefined if stale. */
  acquire(): RequestRef<PDU> | undefined;
  /** Drop an extra reference (refcount--, never below 1). */
  release(): void;
  /**
   * End the request with `status` (blk_mq_end_request). Succeeds only for the
   * unique owner of the current generation, exactly once; otherwise refused:
   * the return value says why, the misuse is counted and logged, and nothing
   * else changes.
   */
  end(status: BlkStatus): EndResult;
  /** end(BLK_STS.OK). */
  endOk(): EndResult;
  /**
   * blk_mq_complete_request: record `status` and have the core call
   * Operations.complete(rq) from a deferred context (like a softirq); without
   * an ops.complete the core ends the request with `status`. Completing
   * twice is refused.
   */
  complete(status?: BlkStatus): EndResult;
  /**
   * blk_mq_requeue_request: give the request back to the block layer to be
   * dispatched again (refcount -> 0, handle becomes stale). With kick (default
   * true) the requeue list is run at once; otherwise at the next kick.
   */
  requeue(kick?: boolean): EndResult;
  /** ZONE_APPEND: the sector the data was written at (rq->__sector). */
  setResultSector(sector: number): void;
  /** DRV_IN/DRV_OUT: a result returned to the submitter with the status. */
  setDriverResult(result: unknown): void;
}

export type HctxType = 'default' | 'read' | 'poll';

/** A hardware dispatch queue (blk_mq_hw_ctx) as seen by the driver. */
export interface HwQueue<HctxData = unknown> {
  readonly index: number;
  readonly type: HctxType;
  /** What Operations.initHctx returned for this queue. */
  readonly driverData: HctxData;
  /** Name of the disk/queue this hctx belongs to. */
  readonly diskName: string;
  /**
   * blk_mq_tag_to_rq: the request with this tag if the DRIVER owns it
   * (started and not ended); undefined for a free tag, a tag owned by the
   * block layer, an out-of-range tag, or — when `generation` is given — a
   * different generation (compared modulo 16, the 4 bits NVMe command ids
   * carry). A miss is counted as a misuse ("invalid id N completed on queue Q").
   */
  tagToRq(tag: number, generation?: number): RequestRef | undefined;
  /** blk_mq_stop_hw_queue: no dispatch until startQueue(). Does not drain. */
  stopQueue(): void;
  /** blk_mq_start_stopped_hw_queue: clear stopped and re-run (asynchronously). */
  startQueue(): void;
  readonly stopped: boolean;
  /** Re-run this queue soon (blk_mq_run_hw_queue async). */
  run(): void;
  /** blk_mq_kick_requeue_list: dispatch requests the driver requeued without kick. */
  kickRequeueList(delayMs?: number): void;
  /** Requests currently owned by the driver on this hctx. */
  readonly nrActive: number;
}

/** The tag-set view passed to Operations.mapQueues. */
export interface QueueMapsView {
  readonly nrHwQueues: number;
  readonly nrCpus: number;
  /** Set the number of hw queues of a type and their first index (blk_mq_queue_map nr_queues/queue_offset). */
  setMap(type: HctxType, nrQueues: number, queueOffset: number): void;
  /** Explicit per-cpu mapping for a type (mq_map[cpu] = hwq). */
  setCpuMap(type: HctxType, cpu: number, hwq: number): void;
}

/** Result of Operations.timeout (enum blk_eh_timer_return). */
export type TimeoutResult = 'done' | 'reset-timer';

/**
 * The driver's vtable (struct blk_mq_ops / Rust `Operations`). Only queueRq
 * and initRequest are mandatory. All callbacks are synchronous.
 */
export interface Operations<PDU = unknown, HctxData = unknown> {
  /**
   * Issue one request. The core has already started it (deadline armed,
   * refcount 1). Return:
   *   OK            — the driver owns it and will end/complete it later (or did already);
   *   RESOURCE      — busy: the core takes it back and re-runs the queue after a back-off (3 ms doubling, ≤ 100 ms);
   *   DEV_RESOURCE  — busy: the core takes it back and re-runs when a request of this queue ends or startQueue() is called;
   *   anything else — the core ends the request with that status.
   * `isLast` is true on the last request of a dispatch batch (ring the doorbell).
   * Throwing is treated as IOERR and logged.
   */
  queueRq(hctx: HwQueue<HctxData>, rq: RequestRef<PDU>, isLast: boolean): BlkStatus;
  /** A batch ended early (busy or error) after requests were queued with isLast=false: ring the doorbell. */
  commitRqs?(hctx: HwQueue<HctxData>): void;
  /** Called (deferred) after rq.complete(status); must end the request. */
  complete?(rq: RequestRef<PDU>, status: BlkStatus): void;
  /** Per-request driver data, called once per tag per hw queue when the tag set is created — never per I/O. */
  initRequest(tag: number, hwqIndex: number): PDU;
  /** Per-hctx driver data; called for each hctx of each queue using the tag set. Throwing fails disk creation. */
  initHctx?(hwqIndex: number, type: HctxType, diskName: string): HctxData;
  exitHctx?(hctx: HwQueue<HctxData>): void;
  /**
   * The request's deadline passed (it is marked timedOut first). Return
   * 'done' when it has been ended (the core ends it with BLK_STS_TIMEOUT if
   * the handler did not), or 'reset-timer' to re-arm. Without a timeout op the
   * core ends it with BLK_STS_TIMEOUT (diverges from Linux, which re-arms, so
   * that nothing can hang forever here). Late ends through old handles are refused.
   */
  timeout?(rq: RequestRef<PDU>): TimeoutResult;
  /** Poll a 'poll' hctx for completions; return how many were found. */
  poll?(hctx: HwQueue<HctxData>): number;
  /** Set up queue maps (blk_mq_ops.map_queues); default: spread cpus over 'default' queues. */
  mapQueues?(maps: QueueMapsView): void;
}

export interface TagSetOptions<PDU, HctxData> {
  ops: Operations<PDU, HctxData>;
  /** Hardware queues in total (all types). >= 1. */
  nrHwQueues: number;
  /** Tags per hardware queue, reserved tags included (1..10240; larger is clamped as BLK_MQ_MAX_DEPTH). */
  queueDepth: number;
  /** Tags [0, reservedTags) are only for reserved (passthrough) allocations. Default 0. */
  reservedTags?: number;
  /** Queue counts per type when the driver has no mapQueues. Default: all 'default'. */
  queueMaps?: { default: number; read?: number; poll?: number };
  /**
   * BLK_MQ_F_TAG_HCTX_SHARED (null_blk shared_tag_bitmap): one tag space of
   * queueDepth tags for all hardware queues instead of queueDepth per queue.
   * Fair sharing then counts per disk rather than per hctx. Tags stay unique
   * across hctxs, so drivers look a tag up on any hctx. Default false.
   */
  hctxShared?: boolean;
  /** BLK_MQ_F_BLOCKING: dispatch always runs from a deferred context, never in the submitter's stack. */
  blocking?: boolean;
  /** BLK_MQ_F_NO_SCHED_BY_DEFAULT: new disks start with scheduler 'none' (else 'mq-deadline' for single-queue sets). */
  noSchedByDefault?: boolean;
  /** Request timeout in ms (set->timeout). Default 30000. */
  timeoutMs?: number;
  /** Number of logical CPUs (software queues). Default 1 in tests; os.availableParallelism() is a good choice. */
  nrCpus?: number;
  /** Logger (pino); default silent. */
  logger?: import('../../src/util/log.ts').Logger;
}

/** Counters of refused driver misuse (per tag set). */
export interface MisuseCounters {
  staleEnd: number;
  notUniqueEnd: number;
  endAfterTimeout: number;
  badState: number;
  badStatus: number;
  tagLookupMiss: number;
  releaseUnderflow: number;
  driverThrew: number;
  /** Ends through handles of requests the core failed because the disk was removed. */
  endAfterRemove: number;
}

export type ZonedModel = 'none' | 'host-aware' | 'host-managed';

/** struct queue_limits (subset). All sizes in bytes unless the name says sectors. */
export interface QueueLimits {
  /** 512..65536, power of two. Default 512. */
  logicalBlockSize: number;
  /** >= logical, power of two. Default = logical. */
  physicalBlockSize: number;
  /** Largest request in sectors the hardware takes. Default 255 (BLK_SAFE_MAX_SECTORS). */
  maxHwSectors: number;
  /** Soft limit (max_sectors_kb), <= maxHwSectors. Default = maxHwSectors. */
  maxSectors: number;
  /** Max data segments per request. Default 128 (BLK_MAX_SEGMENTS). */
  maxSegments: number;
  /** Max bytes per segment. Default 65536 (BLK_MAX_SEGMENT_SIZE). */
  maxSegmentSize: number;
  /** Data buffers' byteOffset must satisfy (byteOffset & dmaAlignment) === 0. Default 0 (none): drivers copy JS buffers into DMA memory anyway. */
  dmaAlignment: number;
  /** Segments may not straddle (mask+1)-byte boundaries when merged. 0 = none. */
  virtBoundaryMask: number;
  /** 0 = discard unsupported. Bytes. */
  discardGranularity: number;
  /** Max sectors per discard request; 0 = discard unsupported. */
  maxDiscardSectors: number;
  /** Max sectors per write-zeroes request; 0 = unsupported (NOTSUPP). */
  maxWriteZeroesSectors: number;
  /** Volatile write cache present ('write back'): flushes go to the driver. */
  writeCache: boolean;
  /** FUA supported natively (else emulated with a post-flush). */
  fua: boolean;
  rotational: boolean;
  zoned: ZonedModel;
  /** Zone size in sectors (chunk_sectors) when zoned; power of two. */
  zoneSectors: number;
  maxOpenZones: number;
  maxActiveZones: number;
  /** 0 = zone append unsupported. */
  maxZoneAppendSectors: number;
}

export interface GenDiskOptions<PDU = unknown, HctxData = unknown> {
  /** 'nullb0', 'nvme0n1', ... ([A-Za-z0-9_.-], 1..32 chars, unique while registered). */
  name: string;
  tagSet: import('./index.ts').TagSet<PDU, HctxData>;
  capacitySectors: number;
  limits?: Partial<QueueLimits>;
  /** Scheduler at creation; default from the tag set (see noSchedByDefault). */
  scheduler?: SchedulerName;
  /** Zone report for zoned disks (Operations.report_zones). */
  reportZones?: (sector: number, nrZones: number) => Promise<ZoneInfo[]> | ZoneInfo[];
  /**
   * The core polls busy poll hctxs once per event-loop turn (default true).
   * false: REQ_POLLED completions only through BlockDevice.poll() (IOPOLL).
   */
  autoPoll?: boolean;
  /** Initial io_poll_delay: -1 classic (default), 0 adaptive hybrid, > 0 fixed sleep in µs. */
  ioPollDelay?: number;
}

export type SchedulerName = 'none' | 'mq-deadline';

export interface ZoneInfo {
  start: number;
  len: number;
  capacity: number;
  wp: number;
  type: 'conventional' | 'seq-write-required' | 'seq-write-preferred';
  cond: 'not-wp' | 'empty' | 'imp-open' | 'exp-open' | 'closed' | 'read-only' | 'full' | 'offline';
}

/** /sys/block/<dev>/stat (Documentation/block/stat.rst). Ticks in ms. */
export interface DiskStat {
  readIos: number; readMerges: number; readSectors: number; readTicks: number;
  writeIos: number; writeMerges: number; writeSectors: number; writeTicks: number;
  inFlight: number; ioTicks: number; timeInQueue: number;
  discardIos: number; discardMerges: number; discardSectors: number; discardTicks: number;
  flushIos: number; flushTicks: number;
}

/**
 * /sys/block/<dev>/queue/* attribute names. Writable: nr_requests, scheduler,
 * max_sectors_kb, write_cache, nomerges, io_timeout, iostats, rq_affinity,
 * discard_max_bytes, io_poll_delay (-1 classic polling (default), 0 adaptive
 * hybrid, > 0 fixed hybrid sleep in µs). Values are strings as sysfs shows them.
 */
export type QueueAttr =
  | 'nr_requests' | 'scheduler' | 'logical_block_size' | 'physical_block_size' | 'hw_sector_size'
  | 'max_hw_sectors_kb' | 'max_sectors_kb' | 'max_segments' | 'max_segment_size' | 'dma_alignment'
  | 'virt_boundary_mask' | 'discard_granularity' | 'discard_max_bytes' | 'discard_max_hw_bytes'
  | 'write_zeroes_max_bytes' | 'write_cache' | 'fua' | 'rotational' | 'zoned' | 'chunk_sectors'
  | 'nr_zones' | 'max_open_zones' | 'max_active_zones' | 'zone_append_max_bytes' | 'nomerges'
  | 'io_timeout' | 'iostats' | 'rq_affinity' | 'io_poll' | 'io_poll_delay' | 'nr_hw_queues';

// ───────────────────────────── user-facing ─────────────────────────────

/**
 * Options of a driver passthrough request (REQ_OP_DRV_IN / DRV_OUT), the
 * blk_mq_alloc_request + blk_execute_rq path drivers use for their own
 * commands (NVMe admin commands, nvme_submit_sync_cmd, ioctls).
 */
export interface DrvRequestOptions {
  /** Data buffer: for DRV_IN the driver fills it, for DRV_OUT it reads it (rq.bvecs). Not split: at most max_hw_sectors and max_segments. */
  buf?: Uint8Array;
  /** Allocate from the reserved tags (BLK_MQ_REQ_RESERVED); the tag set needs reservedTags > 0. */
  reserved?: boolean;
  /** Queue ahead of other waiting passthrough requests (blk_execute_rq at_head). */
  atHead?: boolean;
  /** This request's timeout in ms (rq->timeout); default the queue's io_timeout. */
  timeoutMs?: number;
  /** Submitting CPU (selects the hctx, like any bio). Default 0. */
  cpu?: number;
  /** Extra REQ_FLAG bits: POLLED (a poll hctx; needs poll queues), QUIET. REQ_FAILFAST_DRIVER is always set. */
  flags?: number;
}

/** Outcome of a passthrough request: its block status and what the driver passed to rq.setDriverResult(). */
export interface DrvResult {
  status: BlkStatus;
  result: unknown;
}

/** Callback of RequestQueue.submitDrv. */
export type DrvCallback = (status: BlkStatus, result: unknown) => void;

/** Callback of the hot-path submit: status and (zone append) written sector / (drv) driver result. */
export type SubmitCallback = (status: BlkStatus, result: number) => void;

/**
 * A handle on a disk for one submitter (like an open file descriptor):
 * holds that submitter's plug and default CPU. Get one with openDisk(name)
 * or disk.open().
 */
export interface BlockDevice {
  readonly name: string;
  readonly capacityBytes: number;
  readonly logicalBlockSize: number;
  readonly limits: Readonly<QueueLimits>;
  /** Logical CPU used when a call doesn't name one (default 0). */
  cpu: number;
  /**
   * Like RWF_HIPRI / an io_uring IOPOLL ring: the promise calls (read, write,
   * readInto) carry REQ_FLAG.POLLED and go to the disk's 'poll' hardware queue.
   * Setting it on a disk without poll queues throws (EOPNOTSUPP). Default false.
   */
  polled: boolean;
  /**
   * bio_poll / blk_mq_poll: call Operations.poll once on the poll hctx mapped
   * to `cpu` (default this.cpu) and run the completions found, so their
   * callbacks / promise settlements are queued when this returns. Never
   * blocks or spins; returns the number of completions found (0 without poll
   * queues). With the disk's autoPoll off this is the only way (besides the
   * timeout handler) REQ_POLLED requests complete.
   */
  poll(cpu?: number): number;

  read(offset: number, length: number): Promise<Uint8Array>;
  readInto(offset: number, buf: Uint8Array): Promise<void>;
  write(offset: number, data: Uint8Array, opts?: { fua?: boolean; preflush?: boolean }): Promise<void>;
  flush(): Promise<void>;
  discard(offset: number, length: number): Promise<void>;
  writeZeroes(offset: number, length: number, opts?: { noUnmap?: boolean }): Promise<void>;
  reportZones(offset?: number, nrZones?: number): Promise<ZoneInfo[]>;
  /** ZONE_OPEN/CLOSE/FINISH/RESET on the zone containing `sector`; ZONE_RESET_ALL ignores it. */
  zoneOp(op: ReqOp, sector: number): Promise<void>;
  /** Returns the sector the data was written at. `sector` is the zone start. */
  zoneAppend(sector: number, data: Uint8Array): Promise<number>;

  /**
   * Hot path: no promise, no per-I/O allocation in the core when `buf` is
   * given. For READ/WRITE/ZONE_APPEND pass the buffer; for DISCARD /
   * WRITE_ZEROES pass the length in bytes; for FLUSH/zone ops pass 0.
   * Validation errors are reported through the callback (synchronously).
   */
  submit(op: ReqOp, offset: number, bufOrLength: Uint8Array | number, flags: number, cpu: number, cb: SubmitCallback): void;

  /** Start batching this submitter's bios (blk_start_plug). Nested plugs are counted. */
  plug(): void;
  /** Flush the batch (blk_finish_plug). */
  unplug(): void;
  close(): void;
}
