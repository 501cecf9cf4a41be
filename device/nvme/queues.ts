// [raw] Queue state, ring bookkeeping in tiny named helpers, and the engine:
// SQE fetch (one DMA per batch up to the tail), round-robin arbitration with a
// burst limit, completion posting with the phase tag, full-CQ stalls,
// MSI-X per CQ after the CQE write, and interrupt coalescing (Feature 08h).
// NVMe 1.4 §4.1 (queues), §4.6 (CQEs), §4.11 (arbitration), §5.21.1.8.
import type { NvmeController } from './controller.ts';
import { emptySqe, readSqe, type Sqe } from '../../src/wire/sqe.ts';
import { writeCqe } from '../../src/wire/cqe.ts';
import { SQE_SIZE, CQE_SIZE } from '../../src/spec/sizes.ts';
import { S, isSuccess } from '../../src/spec/status.ts';
import type { Segment } from '../../src/wire/prp.ts';
import type { CqeFields } from './faults.ts';
import { ABORT_NOT_ABORTED } from '../../src/spec/admin.ts';

/** Concurrent Aborts the controller keeps: Identify ACL + 1 (§5.1; more → Abort Command Limit Exceeded). */
export const ABORT_LIMIT = 4;

/** Handlers return this when they will call complete() later. */
export const PENDING = -1;

/** One command slot (preallocated per SQ entry, reused). */
export class Req {
  readonly sqe: Sqe = emptySqe();
  status = 0;
  dw0 = 0;
  /** Controller epoch when fetched: completions from a previous enable are dropped. */
  epoch = 0;
  /** Data segments of the current command (reused array of reused objects). */
  readonly segs: Segment[] = [];
  nsegs = 0;
  /** Set by Abort / SQ deletion while the command is still running. */
  aborted = 0;
  /** For the error log: LBA the command addressed, if any. */
  lba = 0;
  /** Held before execution (a fault's delay): Abort can cancel it and complete it at once. */
  hold: ReturnType<typeof setTimeout> | undefined;
  constructor(readonly sq: Sq) {}
  /** Append a data segment, merging with the previous one when contiguous. */
  addSeg(addr: number, len: number): void {
    if (this.nsegs > 0) {
      const last = this.segs[this.nsegs - 1];
      if (last !== undefined && last.addr + last.len === addr) {
        last.len += len;
        return;
      }
    }
    const s = this.segs[this.nsegs];
    if (s === undefined) this.segs.push({ addr, len });
    else {
      s.addr = addr;
      s.len = len;
    }
    this.nsegs++;
  }
}

export class Sq {
  head = 0;
  tail = 0;
  fetching = false;
  deleting = false;
  /** Commands fetched and not yet posted. */
  inflight = 0;
  /** Delete I/O SQ command waiting for in-flight commands to drain. */
  deleteReq: Req | undefined;
  /**
   * Abort commands for CIDs not fetched yet when the Abort arrived (§5.1): each
   * watches the next `left` SQEs fetched from this SQ (those up to the tail then).
   */
  readonly aborts: { cid: number; req: Req; left: number }[] = [];
  private readonly pool: Req[] = [];
  private readonly free: Req[] = [];
  constructor(
    readonly qid: number,
    readonly base: number,
    readonly size: number,
    readonly cq: Cq,
    /** Base lies in the controller memory buffer: SQEs are read from device memory, no DMA. */
    readonly inCmb: boolean,
    readonly prio: number,
  ) {}
  /** Take a command slot (allocated lazily, then reused). */
  take(): Req | undefined {
    let r = this.free.pop();
    if (r === undefined) {
      if (this.pool.length >= this.size) return undefined;
      r = new Req(this);
      this.pool.push(r);
    }
    this.inflight++;
    return r;
  }
  release(r: Req): void {
    this.inflight--;
    this.free.push(r);
  }
  /** Slots free for new commands. */
  get freeSlots(): number {
    return this.size - this.inflight;
  }
  /** Requests currently held (for Abort lookups). */
  busy(): Req[] {
    const f = new Set(this.free);
    return this.pool.filter((r) => !f.has(r));
  }
}

export class Cq {
  head = 0;
  tail = 0;
  phase = 1;
  /** SQs using this CQ (Delete I/O CQ refuses while non-empty). */
  readonly sqs = new Set<Sq>();
  /** Completed commands waiting for room (the CQ was full). */
  readonly waiting: Req[] = [];
  /** CQEs staged in this turn: ring image, start slot and count. */
  readonly image: Uint8Array;
  stageStart = 0;
  stageCount = 0;
  /** Interrupt coalescing: CQEs posted since the last interrupt, and the aggregation timer. */
  unsignalled = 0;
  coalesceTimer: ReturnType<typeof setTimeout> | undefined;
  /** Shadow doorbells: a read of the host's shadow CQ head is in flight (NvmeController.refreshCqHead). */
  headRefresh = false;
  constructor(
    readonly qid: number,
    readonly base: number,
    readonly size: number,
    readonly ien: boolean,
    readonly iv: number,
  ) {
    this.image = new Uint8Array(size * CQE_SIZE);
  }
}

// ---- ring helpers ---------------------------------------------------------
export const sqEmpty = (sq: Sq): boolean => sq.head === sq.tail;
/** Entries between head and tail. */
export const sqPending = (sq: Sq): number => (sq.tail - sq.head + sq.size) % sq.size;
export const cqFull = (cq: Cq): boolean => (cq.tail + 1) % cq.size === cq.head;
/** CQ entries posted and not yet released by the head the controller knows. */
export const cqUsed = (cq: Cq): number => (cq.tail - cq.head + cq.size) % cq.size;
/** Advance the CQ tail; the phase tag inverts each time the tail wraps to 0 (§4.6). */
export function incCqTail(cq: Cq): void {
  cq.tail++;
  if (cq.tail === cq.size) {
    cq.tail = 0;
    cq.phase ^= 1;
  }
}

// ---- the engine -----------------------------------------------------------

/** Schedule an arbitration pass (at most one pending). Never runs synchronously inside an MMIO write. */
export function kick(c: NvmeController): void {
  if (c.passScheduled || !c.ready) return;
  c.passScheduled = true;
  setImmediate(c.runPassBound);
}

/** Round robin over the SQs with work: each gets at most `burst` SQEs per round (§4.11.1). */
export function runPass(c: NvmeController): void {
  c.passScheduled = false;
  if (!c.ready) return;
  const burst = c.burstLimit();
  let more = false;
  let last = -1;
  const n = c.sqs.length;
  for (let k = 0; k < n; k++) {
    const qid = (c.rrNext + k) % n;
    const sq = c.sqs[qid];
    if (sq === undefined || sq.deleting || sq.fetching) continue;
    const pending = sqPending(sq);
    if (pending === 0) continue;
    const count = Math.min(pending, burst, sq.freeSlots, sq.size - sq.head);
    if (count <= 0) continue;
    fetch(c, sq, count);
    last = qid;
    if (pending > count) more = true;
  }
  // The next round starts after the last SQ served (a plain +1 rotation would let
  // an SQ go twice in a row when queue ids have gaps or some SQs are idle).
  if (last >= 0) c.rrNext = (last + 1) % n;
  if (more) kick(c);
}

function fetch(c: NvmeController, sq: Sq, count: number): void {
  const hook = c.faults.sqeFetch;
  if (hook !== undefined && hook(sq.qid, sq.head, count) === 'fail') {
    c.fatal(`SQE fetch from SQ ${sq.qid} failed (fault injected)`);
    return;
  }
  const addr = sq.base + sq.head * SQE_SIZE;
  const len = count * SQE_SIZE;
  if (sq.inCmb) {
    // CMB submission queue: the host wrote SQEs into device memory with posted writes.
    const data = c.cmb.slice(addr, len);
    if (data === undefined) {
      c.fatal(`SQ ${sq.qid} lies outside the CMB`);
      return;
    }
    consume(c, sq, data, count);
    // Shadow doorbells apply to CMB SQs too: publish EventIdx and re-read the shadow tail.
    if (sqPending(sq) === 0) c.afterFetch(sq);
    return;
  }
  sq.fetching = true;
  const epoch = c.epoch;
  c.ctx.dmaReadCb(addr, len, (err, data) => {
    sq.fetching = false;
    if (epoch !== c.epoch || c.sqs[sq.qid] !== sq) return; // reset or deleted meanwhile
    if (err !== undefined || data === undefined) {
      // NVMe 1.4 §10.5: a controller that cannot fetch commands sets CSTS.CFS.
      c.fatal(`SQE fetch from SQ ${sq.qid} at 0x${addr.toString(16)} failed: ${err?.message ?? 'no data'}`);
      return;
    }
    consume(c, sq, data, count);
    // Idle on this SQ: EventIdx = the tail consumed, then re-read the shadow tail (QEMU
    // nvme_process_sq). While entries remain, the next fetch comes anyway.
    if (sqPending(sq) === 0) c.afterFetch(sq);
    kick(c);
  });
}

function consume(c: NvmeController, sq: Sq, data: Uint8Array, count: number): void {
  for (let i = 0; i < count; i++) {
    if (sq.deleting) return;
    const req = sq.take();
    if (req === undefined) return; // cannot happen: count ≤ freeSlots
    readSqe(data, i * SQE_SIZE, req.sqe);
    sq.head = (sq.head + 1) % sq.size;
    req.epoch = c.epoch;
    req.status = 0;
    req.dw0 = 0;
    req.nsegs = 0;
    req.aborted = 0;
    req.lba = 0;
    req.hold = undefined;
    c.stats.commands++;
    if (sq.aborts.length > 0 && abortOnFetch(c, sq, req)) continue;
    c.execute(req);
  }
}

/**
 * Abort (§5.1) of a command that was still in the SQ: a fetched SQE whose CID
 * an Abort is waiting for completes with Command Abort Requested, unexecuted.
 * Aborts that have seen every SQE up to their tail complete "not aborted".
 */
function abortOnFetch(c: NvmeController, sq: Sq, req: Req): boolean {
  let hit = false;
  for (let i = sq.aborts.length - 1; i >= 0; i--) {
    const a = sq.aborts[i];
    if (a === undefined) continue;
    if (!hit && a.cid === req.sqe.cid) {
      hit = true;
      sq.aborts.splice(i, 1);
      complete(c, a.req, 0, 0); // CDW0 bit 0 = 0: aborted
      continue;
    }
    if (--a.left === 0) {
      sq.aborts.splice(i, 1);
      complete(c, a.req, 0, ABORT_NOT_ABORTED);
    }
  }
  if (hit) complete(c, req, S.ABORT_REQUESTED);
  return hit;
}

/**
 * Finish a command: post its CQE (or park it while the CQ is full). Safe to
 * call from any callback; completions of a previous controller epoch are dropped.
 */
export function complete(c: NvmeController, req: Req, status: number, dw0 = 0): void {
  if (req.epoch !== c.epoch) return;
  const sq = req.sq;
  if (req.aborted !== 0) status = req.aborted;
  req.status = status;
  req.dw0 = dw0;
  if (!isSuccess(status)) c.recordError(req);
  const cq = sq.cq;
  if (cq.waiting.length > 0 || cqFull(cq)) {
    cq.waiting.push(req);
    c.stats.cqFullStalls++;
    // With shadow doorbells the host may have moved its head without an MMIO write.
    if (c.dbbuf !== undefined) c.refreshCqHead(cq);
    return;
  }
  post(c, cq, req);
}

function post(c: NvmeController, cq: Cq, req: Req): void {
  const sq = req.sq;
  let status = req.status;
  const hook = c.faults.cqePost;
  if (hook !== undefined) {
    const r = hook(cq.qid, req.sqe.cid, status);
    if (r === 'drop') {
      finishSlot(c, sq, req);
      return;
    }
    if (r === 'fail') {
      c.fatal(`CQE post to CQ ${cq.qid} failed (fault injected)`);
      return;
    }
    if (typeof r === 'number') status = r;
  }
  const fields = c.faults.cqeFields;
  if (fields === undefined) {
    stage(c, cq, req.dw0, sq.head, sq.qid, req.sqe.cid, status, cq.phase);
  } else {
    // Fault injection: the hook may rewrite the CQE and ask for one more (duplicate / phantom).
    const f = FAULT_CQE;
    f.dw0 = req.dw0; f.sqhd = sq.head; f.sqid = sq.qid; f.cid = req.sqe.cid; f.status = status; f.phase = cq.phase;
    const extra = fields(cq.qid, f, false);
    stage(c, cq, f.dw0, f.sqhd, f.sqid, f.cid, f.status, f.phase);
    if (extra && !cqFull(cq)) {
      f.dw0 = req.dw0; f.sqhd = sq.head; f.sqid = sq.qid; f.cid = req.sqe.cid; f.status = status; f.phase = cq.phase;
      fields(cq.qid, f, true);
      stage(c, cq, f.dw0, f.sqhd, f.sqid, f.cid, f.status, f.phase);
    }
  }
  c.stats.completions++;
  // Shadow doorbells: learn the host's CQ head before the CQ looks full, not after (no stall).
  if (c.dbbuf !== undefined && cq.qid !== 0 && 2 * cqUsed(cq) >= cq.size) c.refreshCqHead(cq);
  finishSlot(c, sq, req);
  c.scheduleFlush();
}

/** Reused by the cqeFields fault hook (no allocation per CQE). */
const FAULT_CQE: CqeFields = { dw0: 0, sqhd: 0, sqid: 0, cid: 0, status: 0, phase: 0 };

/** Write one CQE into the CQ's staging image at the tail and advance it. */
function stage(c: NvmeController, cq: Cq, dw0: number, sqhd: number, sqid: number, cid: number, status: number, phase: number): void {
  const slot = cq.tail;
  writeCqe(cq.image, slot * CQE_SIZE, dw0, 0, sqhd, sqid, cid, status, phase);
  if (cq.stageCount === 0) cq.stageStart = slot;
  cq.stageCount++;
  incCqTail(cq);
  if (cq.tail === 0 || cq.stageCount === 1) c.dirtyCqs.add(cq);
  if (cq.tail === 0) flushCq(c, cq); // keep each staged run contiguous in the ring
}

function finishSlot(c: NvmeController, sq: Sq, req: Req): void {
  sq.release(req);
  if (sq.deleting && sq.inflight === 0 && sq.deleteReq !== undefined) {
    const d = sq.deleteReq;
    sq.deleteReq = undefined;
    c.finishSqDelete(sq, d);
  } else if (!sq.deleting && sqPending(sq) > 0) {
    kick(c);
  }
}

/** Write the CQEs staged on `cq` with one DMA, then signal its vector. */
export function flushCq(c: NvmeController, cq: Cq): void {
  if (cq.stageCount === 0) return;
  const start = cq.stageStart;
  const n = cq.stageCount;
  cq.stageCount = 0;
  const bytes = cq.image.slice(start * CQE_SIZE, (start + n) * CQE_SIZE);
  if (!c.ctx.dmaWrite(cq.base + start * CQE_SIZE, bytes)) {
    // NVMe 1.4 §10.5: a completion the controller cannot post is fatal.
    c.fatal(`CQE write to CQ ${cq.qid} at 0x${(cq.base + start * CQE_SIZE).toString(16)} refused`);
    return;
  }
  signal(c, cq, n);
}

/** Interrupt after the CQE write, honouring coalescing on I/O CQs (§5.21.1.8/9). */
function signal(c: NvmeController, cq: Cq, posted: number): void {
  if (!cq.ien) return;
  const co = c.coalescingFor(cq);
  if (co === undefined) {
    c.raiseIrq(cq.iv);
    return;
  }
  cq.unsignalled += posted;
  if (cq.unsignalled >= co.thr + 1) {
    if (cq.coalesceTimer !== undefined) clearTimeout(cq.coalesceTimer);
    cq.coalesceTimer = undefined;
    cq.unsignalled = 0;
    c.raiseIrq(cq.iv);
    return;
  }
  if (cq.coalesceTimer === undefined) {
    const epoch = c.epoch;
    // Node's timers count from the event loop's cached clock, so under load one can fire a few
    // ms early; the deadline is checked on the monotonic clock and the timer re-armed if early.
    const deadline = performance.now() + co.timeUs / 1000;
    const fire = (): void => {
      cq.coalesceTimer = undefined;
      if (epoch !== c.epoch || c.cqs[cq.qid] !== cq || cq.unsignalled === 0) return;
      const left = deadline - performance.now();
      if (left > 0) {
        cq.coalesceTimer = setTimeout(fire, Math.ceil(left));
        return;
      }
      cq.unsignalled = 0;
      c.raiseIrq(cq.iv);
      c.ctx.flush();
    };
    cq.coalesceTimer = setTimeout(fire, Math.max(1, Math.ceil(co.timeUs / 1000)));
  }
}

/** The host moved a CQ head: post what was waiting for room. */
export function drainWaiting(c: NvmeController, cq: Cq): void {
  while (cq.waiting.length > 0 && !cqFull(cq)) {
    const r = cq.waiting.shift();
    if (r === undefined) break;
    if (r.epoch !== c.epoch) continue;
    post(c, cq, r);
  }
}

export const STATUS_SQ_DELETED = S.ABORTED_SQ_DELETION;
