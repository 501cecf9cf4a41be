// I/O schedulers, one instance per hardware queue: 'none' (per-CPU software
// queues drained round-robin, like blk-mq without an elevator) and
// 'mq-deadline' (block/mq-deadline.c: per-direction sector-sorted lists plus
// FIFOs with expiry, fifo_batch, writes_starved).
//
// Divergence (kept on purpose): Linux keeps ONE mq-deadline instance per
// request queue (elevator_queue->elevator_data), shared by all hctxs; its
// dispatch_request may hand an hctx a request that belongs to another one,
// and blk_mq_do_dispatch_sched then re-sorts the batch per rq->mq_hctx. Here
// every hctx has its own instance, because a request's hctx (and tag space)
// is chosen at insert time and runHctx allocates the tag before popping.
// Identical for single-hctx disks (the case mq-deadline is the default for:
// multi-queue sets default to 'none'). With several hctxs the differences
// are: read/write FIFO expiry, writes_starved and fifo_batch apply per hctx,
// and sorting only orders requests of the same hctx. Making it per disk
// needs a peek-then-allocate dispatch that can move a popped request to its
// own hctx — not worth it while no driver here uses mq-deadline on >1 hctx.
import { REQ_OP, opIsWrite } from './types.ts';
import type { PendingRq, PendingList } from './pending.ts';
import { listPush, listRemove, listPushHead } from './pending.ts';

export interface HctxSched {
  readonly name: 'none' | 'mq-deadline';
  readonly count: number;
  insert(p: PendingRq, atHead: boolean): void;
  /** Next request to dispatch (removed), or null. clock[0] is the current time in ms (a typed array: see RequestQueue.clk). */
  pop(clock: Float64Array): PendingRq | null;
  /** Candidates for a merge with a bio submitted on `cpu` (most recent first). */
  mergeCandidates(cpu: number, out: PendingRq[], max: number): number;
  /** Re-position after a front merge changed p.sector. */
  merged(p: PendingRq): void;
  /** Remove everything (disk removal / failure path). */
  drain(out: PendingRq[]): void;
}

/** 'none': a FIFO per CPU (the software queues) mapped to this hctx, drained round-robin. */
export class NoneSched implements HctxSched {
  readonly name = 'none' as const;
  private rr = 0;
  count = 0;
  constructor(private readonly ctxLists: PendingList[], private readonly cpuToList: Int32Array) {}
  insert(p: PendingRq, atHead: boolean): void {
    const li = this.cpuToList[p.cpu] ?? -1;
    const list = this.ctxLists[li >= 0 ? li : 0];
    if (list === undefined) throw new Error('NoneSched: no software queue');
    if (atHead) listPushHead(list, p); else listPush(list, p);
    this.count++;
  }
  pop(): PendingRq | null {
    if (this.count === 0) return null;
    const n = this.ctxLists.length;
    for (let i = 0; i < n; i++) {
      const list = this.ctxLists[(this.rr + i) % n];
      if (list !== undefined && list.head !== null) {
        const p = list.head;
        listRemove(list, p);
        this.rr = (this.rr + i + 1) % n;
        this.count--;
        return p;
      }
    }
    return null;
  }
  mergeCandidates(cpu: number, out: PendingRq[], max: number): number {
    const li = this.cpuToList[cpu] ?? -1;
    const list = this.ctxLists[li >= 0 ? li : 0];
    let n = 0;
    for (let p = list?.tail ?? null; p !== null && n < max; p = p.prev) out[n++] = p;
    return n;
  }
  merged(): void { /* FIFO order does not depend on sector */ }
  drain(out: PendingRq[]): void {
    for (const list of this.ctxLists) {
      while (list.head !== null) { const p = list.head; listRemove(list, p); out.push(p); }
    }
    this.count = 0;
  }
}

/** mq-deadline tunables (defaults from block/mq-deadline.c). */
export interface DeadlineTunables {
  readExpireMs: number;
  writeExpireMs: number;
  writesStarved: number;
  fifoBatch: number;
}
export const DEADLINE_DEFAULTS: DeadlineTunables = { readExpireMs: 500, writeExpireMs: 5000, writesStarved: 2, fifoBatch: 16 };

const DD_READ = 0;
const DD_WRITE = 1;

export class DeadlineSched implements HctxSched {
  readonly name = 'mq-deadline' as const;
  count = 0;
  private readonly sorted: PendingRq[][] = [[], []];
  private readonly fifo: PendingList[] = [{ head: null, tail: null, count: 0 }, { head: null, tail: null, count: 0 }];
  /** Sector at which the current batch continues per direction (-1: none). */
  private readonly nextSector = [-1, -1];
  private batching = 0;
  private lastDir = DD_READ;
  private starved = 0;
  constructor(readonly tun: DeadlineTunables = { ...DEADLINE_DEFAULTS }) {}

  private static dir(p: PendingRq): number {
    return opIsWrite(p.op) || p.op === REQ_OP.FLUSH ? DD_WRITE : DD_READ;
  }
  private static lowerBound(arr: PendingRq[], sector: number): number {
    let lo = 0, hi = arr.length;
    while (lo < hi) { const mid = (lo + hi) >>> 1; const m = arr[mid]; if (m !== undefined && m.sector < sector) lo = mid + 1; else hi = mid; }
    return lo;
  }
  insert(p: PendingRq, atHead: boolean): void {
    const d = DeadlineSched.dir(p);
    const arr = this.sorted[d] as PendingRq[];
    arr.splice(DeadlineSched.lowerBound(arr, p.sector + (atHead ? 0 : 0.5)), 0, p);
    p.fifoTime = p.insertTime + (d === DD_READ ? this.tun.readExpireMs : this.tun.writeExpireMs);
    const f = this.fifo[d] as PendingList;
    if (atHead) listPushHead(f, p); else listPush(f, p);
    this.count++;
  }
  private take(p: PendingRq): void {
    const d = DeadlineSched.dir(p);
    const arr = this.sorted[d] as PendingRq[];
    const i = arr.indexOf(p);
    if (i >= 0) arr.splice(i, 1);
    listRemove(this.fifo[d] as PendingList, p);
    this.count--;
    this.nextSector[d] = p.sector + p.nrSectors;
  }
  private nextInBatch(d: number): PendingRq | null {
    const ns = this.nextSector[d] ?? -1;
    if (ns < 0) return null;
    const arr = this.sorted[d] as PendingRq[];
    return arr[DeadlineSched.lowerBound(arr, ns)] ?? null;
  }
  pop(clock: Float64Array): PendingRq | null {
    if (this.count === 0) return null;
    const now = clock[0] as number;
    // Continue the current sorted batch unless it is used up.
    if (this.batching < this.tun.fifoBatch) {
      const n = this.nextInBatch(this.lastDir);
      if (n !== null) { this.batching++; this.take(n); return n; }
    }
    const reads = (this.fifo[DD_READ] as PendingList).head !== null;
    const writes = (this.fifo[DD_WRITE] as PendingList).head !== null;
    let d: number;
    if (reads && !(writes && this.starved++ >= this.tun.writesStarved)) d = DD_READ;
    else if (writes) { this.starved = 0; d = DD_WRITE; } else return null;
    const fifoHead = (this.fifo[d] as PendingList).head;
    const next = this.nextInBatch(d);
    // Expired FIFO head, or no batch to continue: restart at the oldest request.
    const p = (fifoHead !== null && fifoHead.fifoTime <= now) || next === null ? fifoHead : next;
    if (p === null) return null;
    this.lastDir = d;
    this.batching = 1;
    this.take(p);
    return p;
  }
  mergeCandidates(_cpu: number, out: PendingRq[], max: number): number {
    // Most recent of each FIFO (cheap one-hit cache), then neighbours are found by the caller's checks.
    let n = 0;
    for (let d = 0; d < 2; d++) {
      for (let p = (this.fifo[d] as PendingList).tail; p !== null && n < max; p = p.prev) {
        out[n++] = p;
        if (n >= (d + 1) * (max >> 1)) break;
      }
    }
    return n;
  }
  merged(p: PendingRq): void {
    const d = DeadlineSched.dir(p);
    const arr = this.sorted[d] as PendingRq[];
    const i = arr.indexOf(p);
    if (i >= 0) arr.splice(i, 1);
    arr.splice(DeadlineSched.lowerBound(arr, p.sector), 0, p);
  }
  drain(out: PendingRq[]): void {
    for (let d = 0; d < 2; d++) {
      const f = this.fifo[d] as PendingList;
      while (f.head !== null) { const p = f.head; listRemove(f, p); out.push(p); }
      (this.sorted[d] as PendingRq[]).length = 0;
    }
    this.count = 0;
  }
}
