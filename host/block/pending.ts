// Bios and pending requests (bio chains that have no tag yet), both pooled
// so the hot path allocates nothing. [raw]: only the block core uses these.
import type { BlkStatus, ReqOp, SubmitCallback } from './types.ts';

export class Bio {
  op: ReqOp = 0;
  flags = 0;
  /** 512-byte sectors. */
  sector = 0;
  nrSectors = 0;
  buf: Uint8Array | null = null;
  /** Next bio in a request's chain. */
  next: Bio | null = null;
  /** Split parent: completes when all children have. */
  parent: Bio | null = null;
  remaining = 0;
  status: BlkStatus = 0;
  result = 0;
  cb: SubmitCallback | null = null;
  /** Passthrough command for DRV_IN/DRV_OUT. */
  drvCmd: unknown = undefined;
  drvResult: unknown = undefined;
  cpu = 0;
  /** Top-level bio holding a queue usage reference (freeze accounting). */
  entered = false;
  /** Allocated from the reserved tag pool (passthrough). */
  reserved = false;
  /** Data segments this bio contributes (ceil(len / maxSegmentSize)). */
  nrSegs = 0;
  /** For passthrough at head. */
  atHead = false;
  /** Per-request timeout override in ms (passthrough); 0 = the queue's io_timeout. */
  timeoutMs = 0;
  pooled = true;
}

export class PendingRq {
  op: ReqOp = 0;
  flags = 0;
  sector = 0;
  nrSectors = 0;
  nrSegs = 0;
  head: Bio | null = null;
  tail: Bio | null = null;
  cpu = 0;
  hwq = 0;
  /** [0] insert time, [1] FIFO expiry (ms): a typed array so storing doubles never allocates. */
  private readonly t = new Float64Array(2);
  get insertTime(): number { return this.t[0] as number; }
  set insertTime(v: number) { this.t[0] = v; }
  get fifoTime(): number { return this.t[1] as number; }
  set fifoTime(v: number) { this.t[1] = v; }
  /** Per-request timeout override in ms; 0 = the queue's io_timeout. */
  timeoutMs = 0;
  prev: PendingRq | null = null;
  next: PendingRq | null = null;
  owner: PendingList | null = null;
}

export interface PendingList {
  head: PendingRq | null;
  tail: PendingRq | null;
  count: number;
}

export function newList(): PendingList {
  return { head: null, tail: null, count: 0 };
}

export function listPush(l: PendingList, p: PendingRq): void {
  p.owner = l; p.next = null; p.prev = l.tail;
  if (l.tail !== null) l.tail.next = p; else l.head = p;
  l.tail = p; l.count++;
}

export function listPushHead(l: PendingList, p: PendingRq): void {
  p.owner = l; p.prev = null; p.next = l.head;
  if (l.head !== null) l.head.prev = p; else l.tail = p;
  l.head = p; l.count++;
}

export function listRemove(l: PendingList, p: PendingRq): void {
  if (p.owner !== l) return;
  if (p.prev !== null) p.prev.next = p.next; else l.head = p.next;
  if (p.next !== null) p.next.prev = p.prev; else l.tail = p.prev;
  p.prev = p.next = null; p.owner = null; l.count--;
}

/**
 * Free-list pools. Stacks with an explicit count: popping a JS array down to
 * empty frees its backing store, so the next push would allocate again.
 */
export class Pools {
  private readonly bios: Bio[] = [];
  private nBios = 0;
  private readonly pend: PendingRq[] = [];
  private nPend = 0;
  getBio(): Bio {
    if (this.nBios > 0) return this.bios[--this.nBios] as Bio;
    return new Bio();
  }
  putBio(b: Bio): void {
    b.buf = null; b.next = null; b.parent = null; b.cb = null; b.drvCmd = undefined; b.drvResult = undefined;
    b.status = 0; b.result = 0; b.entered = false; b.reserved = false; b.atHead = false; b.remaining = 0; b.timeoutMs = 0;
    if (b.pooled && this.nBios < POOL_MAX) this.bios[this.nBios++] = b;
  }
  getPending(): PendingRq {
    if (this.nPend > 0) return this.pend[--this.nPend] as PendingRq;
    return new PendingRq();
  }
  putPending(p: PendingRq): void {
    p.head = p.tail = null; p.prev = p.next = null; p.owner = null;
    if (this.nPend < POOL_MAX) this.pend[this.nPend++] = p;
  }
}
const POOL_MAX = 4096;
