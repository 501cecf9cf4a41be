// [raw] Requests, their handles and the per-hctx tag maps. This module owns
// request lifetime: every state change of a Request happens here or in
// queue.ts, and drivers only see RequestHandle (the RequestRef interface).
//
// INVARIANT: a Request's `gen` increments exactly once per end (driver end,
// timeout end, requeue or abort); a handle is valid only while its `gen`
// equals the request's and the request is IN_FLIGHT or COMPLETE.
import { BLK_STS, END, isBlkStatus, SECTOR_SHIFT } from './types.ts';
import type { BlkStatus, EndResult, RequestRef, ReqOp } from './types.ts';
import type { Bio } from './pending.ts';
import type { Hctx, RequestQueue } from './queue.ts';

export const RQ_FREE = 0;
export const RQ_IDLE = 1;
export const RQ_IN_FLIGHT = 2;
export const RQ_COMPLETE = 3;

/** Handles per tag: like Linux's 4-bit request generation counter. */
export const HANDLE_RING = 16;
export const GEN_MASK = HANDLE_RING - 1;

/** Segment arrays up to this length are cached per request and length. */
export const BVEC_CACHE = 16;
const EMPTY_BUF = new Uint8Array(0);
// INVARIANT: never written to (length 0).
const NO_BVECS = Object.freeze([]) as unknown as Uint8Array[];

export const ENDED_NONE = 0;
export const ENDED_DRIVER = 1;
export const ENDED_TIMEOUT = 2;
export const ENDED_REQUEUE = 3;
export const ENDED_ABORT = 4;

export class Request {
  gen = 0;
  state = RQ_FREE;
  refcount = 0;
  timedOut = false;
  queue: RequestQueue | null = null;
  hctx: Hctx | null = null;
  op: ReqOp = 0;
  flags = 0;
  sector = 0;
  bytes = 0;
  nrSegs = 0;
  bioHead: Bio | null = null;
  bioTail: Bio | null = null;
  /**
   * The current request's data segments. Arrays of up to BVEC_CACHE entries
   * are kept per length and reused (never resized: shrinking a JS array frees
   * its backing store, so reuse through length = 0 allocated on every I/O).
   */
  bvecs: Uint8Array[] = NO_BVECS;
  private readonly bvecByLen: Array<Uint8Array[] | undefined> = [];
  /** Per-request timeout override in ms (passthrough); 0 = the queue's io_timeout. */
  timeoutMs = 0;
  // Timestamps live in the tags' Float64Array: a double stored into a plain
  // object field can box a fresh HeapNumber per store (one GC'd object per I/O).
  get deadline(): number { return this.tags.times[this.tag * 2] as number; }
  set deadline(v: number) { this.tags.times[this.tag * 2] = v; }
  get startMs(): number { return this.tags.times[this.tag * 2 + 1] as number; }
  set startMs(v: number) { this.tags.times[this.tag * 2 + 1] = v; }
  status: BlkStatus = 0;
  resultSector = 0;
  driverResult: unknown = undefined;
  driverCmd: unknown = undefined;
  reserved = false;
  // INVARIANT: exactly HANDLE_RING handles, created once; the handle of
  // generation g lives in slot g & GEN_MASK, so a handle from 16 generations
  // ago is the same object, re-stamped, and its old `gen` no longer matches.
  readonly handles: RequestHandle[] = [];
  constructor(readonly tags: Tags, readonly tag: number, readonly pdu: unknown) {
    for (let i = 0; i < HANDLE_RING; i++) this.handles.push(new RequestHandle(this, i));
  }
  /** An array of exactly n segments for this request (reused for n <= BVEC_CACHE). */
  bvecArray(n: number): Uint8Array[] {
    if (n === 0) return NO_BVECS;
    if (n > BVEC_CACHE) return new Array<Uint8Array>(n);
    let a = this.bvecByLen[n];
    if (a === undefined) { a = new Array<Uint8Array>(n).fill(EMPTY_BUF); this.bvecByLen[n] = a; }
    return a;
  }
  /** Drop the references to the submitter's buffers (the arrays stay for reuse). */
  clearBvecs(): void {
    const a = this.bvecs;
    for (let i = 0; i < a.length; i++) a[i] = EMPTY_BUF;
    this.bvecs = NO_BVECS;
  }
  /** The handle slot of the current generation, as it is (not re-stamped). */
  get handle(): RequestHandle {
    // SAFETY: gen & GEN_MASK < HANDLE_RING = handles.length (INVARIANT above).
    return this.handles[this.gen & GEN_MASK] as RequestHandle;
  }
  /** The handle of the current generation, re-stamped for a new start (no allocation). */
  currentHandle(): RequestHandle {
    const h = this.handle;
    h.gen = this.gen;
    h.endedBy = ENDED_NONE;
    return h;
  }
}

/** What drivers hold. See RequestRef in types.ts for the contract. */
export class RequestHandle implements RequestRef {
  gen: number;
  endedBy = ENDED_NONE;
  constructor(private readonly rq: Request, slot: number) { this.gen = slot - HANDLE_RING; }
  get tag(): number { return this.rq.tag; }
  get generation(): number { return this.gen; }
  get uniqueTag(): number { return (this.hwqIndex << 16) | this.rq.tag; }
  get valid(): boolean { return this.gen === this.rq.gen && (this.rq.state === RQ_IN_FLIGHT || this.rq.state === RQ_COMPLETE); }
  get op(): ReqOp { return this.rq.op; }
  get flags(): number { return this.rq.flags; }
  get sector(): number { return this.rq.sector; }
  get bytes(): number { return this.rq.bytes; }
  get sectors(): number { return this.rq.bytes >>> SECTOR_SHIFT; }
  get hwqIndex(): number { return this.rq.hctx?.index ?? this.rq.tags.index; }
  get pdu(): unknown { return this.rq.pdu; }
  get bvecs(): readonly Uint8Array[] { return this.rq.bvecs; }
  get deadline(): number { return this.rq.deadline; }
  get driverCmd(): unknown { return this.rq.driverCmd; }
  get diskName(): string { return this.rq.queue?.name ?? ''; }
  get refcount(): number { return this.valid ? this.rq.refcount : 0; }
  get timedOut(): boolean { return this.rq.timedOut; }

  /** Why this (stale) handle can't act, counted and logged by the queue. */
  private refuse(kind: EndResult, what: string): EndResult {
    const q = this.rq.queue ?? this.rq.tags.lastQueue;
    if (q !== null) q.misuse(kind, what, this.rq, this.gen, this.endedBy);
    return kind;
  }
  private staleKind(): EndResult {
    return this.endedBy === ENDED_TIMEOUT ? END.TIMED_OUT : END.STALE;
  }

  acquire(): RequestHandle | undefined {
    if (!this.valid) { this.refuse(this.staleKind(), 'acquire'); return undefined; }
    this.rq.refcount++;
    return this;
  }
  release(): void {
    if (!this.valid) { this.refuse(this.staleKind(), 'release'); return; }
    if (this.rq.refcount <= 1) { this.refuse(END.BAD_STATE, 'release below 1'); return; }
    this.rq.refcount--;
  }
  end(status: BlkStatus): EndResult {
    const rq = this.rq;
    if (this.gen !== rq.gen || rq.state === RQ_FREE || rq.state === RQ_IDLE) return this.refuse(this.staleKind(), 'end');
    if (rq.refcount !== 1) return this.refuse(END.NOT_UNIQUE, 'end');
    let res: EndResult = END.OK;
    if (!isBlkStatus(status)) { res = this.refuse(END.BAD_STATUS, `end(${String(status)})`); status = BLK_STS.IOERR; }
    (rq.queue as RequestQueue).endRequest(rq, status, ENDED_DRIVER);
    return res;
  }
  endOk(): EndResult { return this.end(BLK_STS.OK); }
  complete(status: BlkStatus = BLK_STS.OK): EndResult {
    const rq = this.rq;
    if (this.gen !== rq.gen || rq.state === RQ_FREE || rq.state === RQ_IDLE) return this.refuse(this.staleKind(), 'complete');
    if (rq.state !== RQ_IN_FLIGHT) return this.refuse(END.BAD_STATE, 'complete twice');
    let res: EndResult = END.OK;
    if (!isBlkStatus(status)) { res = this.refuse(END.BAD_STATUS, `complete(${String(status)})`); status = BLK_STS.IOERR; }
    (rq.queue as RequestQueue).completeRequest(rq, status);
    return res;
  }
  requeue(kick = true): EndResult {
    const rq = this.rq;
    if (this.gen !== rq.gen || rq.state === RQ_FREE || rq.state === RQ_IDLE) return this.refuse(this.staleKind(), 'requeue');
    if (rq.state !== RQ_IN_FLIGHT) return this.refuse(END.BAD_STATE, 'requeue of a completing request');
    if (rq.refcount !== 1) return this.refuse(END.NOT_UNIQUE, 'requeue');
    (rq.queue as RequestQueue).requeueRequest(rq, kick);
    return END.OK;
  }
  setResultSector(sector: number): void {
    if (!this.valid) { this.refuse(this.staleKind(), 'setResultSector'); return; }
    this.rq.resultSector = sector;
  }
  setDriverResult(result: unknown): void {
    if (!this.valid) { this.refuse(this.staleKind(), 'setDriverResult'); return; }
    this.rq.driverResult = result;
  }
}

/**
 * Tags of one hardware queue index of a tag set (struct blk_mq_tags): a busy
 * bitmap, reserved tags first (blk-mq-tag.c: reserved [0, nr_reserved)),
 * the preallocated requests, and the FIFO of hctxs waiting for a free tag.
 */
export class Tags {
  // INVARIANT: `words` covers depth rounded up to 32 bits and the bits at and
  // above `depth` are permanently set, so scan() can never return a tag
  // >= depth; `rqs[t]` exists for every t < depth (preallocated once).
  readonly words: Uint32Array;
  readonly rqs: Request[] = [];
  /** Per tag: [2t] deadline, [2t+1] accounting start (ms). */
  readonly times: Float64Array;
  nrBusy = 0;
  private hint: number;
  /** hctxs (of any queue sharing these tags) waiting for a free tag, in order. */
  readonly waiters: Hctx[] = [];
  wakeScheduled = false;
  /** Active tag users (hctxs, or disks with hctxShared) of a shared set: fair sharing, hctx_may_queue. */
  activeQueues = 0;
  lastQueue: RequestQueue | null = null;
  constructor(readonly index: number, readonly depth: number, readonly reserved: number, initPdu: (tag: number, hwq: number) => unknown) {
    this.words = new Uint32Array((depth + 31) >>> 5);
    this.times = new Float64Array(depth * 2);
    // Bits beyond depth are permanently busy.
    for (let t = depth; t < this.words.length * 32; t++) this.setBit(t);
    for (let t = 0; t < depth; t++) this.rqs.push(new Request(this, t, initPdu(t, index)));
    this.hint = reserved;
  }
  private setBit(t: number): void { this.words[t >>> 5] = ((this.words[t >>> 5] as number) | (1 << (t & 31))) >>> 0; }
  private clearBit(t: number): void { this.words[t >>> 5] = ((this.words[t >>> 5] as number) & ~(1 << (t & 31))) >>> 0; }
  isBusy(t: number): boolean { return (((this.words[t >>> 5] as number) >>> (t & 31)) & 1) === 1; }

  /** Allocate a tag; -1 when none is free in the requested pool. */
  alloc(reserved: boolean): number {
    const lo = reserved ? 0 : this.reserved;
    const hi = reserved ? this.reserved : this.depth;
    if (hi <= lo) return -1;
    const start = reserved ? lo : (this.hint >= lo && this.hint < hi ? this.hint : lo);
    let t = this.scan(start, hi);
    if (t < 0 && start > lo) t = this.scan(lo, start);
    if (t < 0) return -1;
    this.setBit(t);
    this.nrBusy++;
    if (!reserved) this.hint = t + 1 < hi ? t + 1 : lo;
    return t;
  }
  /** Lowest free tag in [from, to), or -1. */
  private scan(from: number, to: number): number {
    let t = from;
    while (t < to) {
      const w = t >>> 5;
      // Free bits of this word at or above t, shifted down to bit 0. The shift
      // brings in zeros from the top, which the inversion turns into fake
      // "free" bits past the word's end: a lowest free bit there means none.
      const free = ~((this.words[w] as number) >>> (t & 31)) >>> 0;
      if (free === 0 || (t & 31) + (31 - Math.clz32(free & -free)) >= 32) { t = (w + 1) << 5; continue; }
      const bit = t + (31 - Math.clz32(free & -free));
      return bit < to ? bit : -1;
    }
    return -1;
  }
  free(t: number): void {
    if (!this.isBusy(t)) return;
    this.clearBit(t);
    this.nrBusy--;
  }
  get nrFree(): number { return this.depth - this.nrBusy; }
}
