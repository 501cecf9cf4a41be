// A scriptable RAM-backed driver for tests and benchmarks of the block layer
// (and for other areas' tests that need a disk without rnull/rnvme). It uses
// only the public driver API.
import { BLK_STS, REQ_OP } from './types.ts';
import type { BlkStatus, HwQueue, Operations, QueueLimits, RequestRef, TimeoutResult } from './types.ts';
import { TagSet } from './tagset.ts';
import { GenDisk } from './disk.ts';
import type { Logger } from '../../src/util/log.ts';

export type CompletionMode = 'inline' | 'softirq' | 'manual';

export interface MemDriverOptions {
  name: string;
  capacityBytes: number;
  mode?: CompletionMode;
  /** Keep data (default true). Without it reads leave buffers untouched (null_blk). */
  memoryBacked?: boolean;
  nrHwQueues?: number;
  queueDepth?: number;
  nrCpus?: number;
  timeoutMs?: number;
  limits?: Partial<QueueLimits>;
  scheduler?: 'none' | 'mq-deadline';
  logger?: Logger;
  /** Hook: return a non-OK status to make queueRq fail/busy this request. */
  onQueue?: (rq: RequestRef<MemPdu>, hctx: HwQueue) => BlkStatus | undefined;
  timeout?: (rq: RequestRef<MemPdu>) => TimeoutResult;
}

export interface MemPdu { tag: number; hwq: number; uses: number }

export class MemDriver {
  readonly store: Uint8Array | null;
  readonly held: RequestRef<MemPdu>[] = [];
  readonly tagSet: TagSet<MemPdu, number>;
  readonly disk: GenDisk<MemPdu, number>;
  queued = 0;
  commits = 0;
  lastBatch: boolean[] = [];
  maxInFlight = 0;
  inFlight = 0;
  constructor(readonly o: MemDriverOptions) {
    this.store = o.memoryBacked === false ? null : new Uint8Array(o.capacityBytes);
    const mode = o.mode ?? 'inline';
    const ops: Operations<MemPdu, number> = {
      initRequest: (tag, hwq) => ({ tag, hwq, uses: 0 }),
      initHctx: (i) => i,
      queueRq: (hctx, rq, isLast) => {
        this.lastBatch.push(isLast);
        const hook = o.onQueue?.(rq, hctx);
        if (hook !== undefined) return hook; // the hook handled (or failed) this request
        this.queued++;
        rq.pdu.uses++;
        if (++this.inFlight > this.maxInFlight) this.maxInFlight = this.inFlight;
        if (mode === 'inline') { const st = this.transfer(rq); this.inFlight--; rq.end(st); }
        else if (mode === 'softirq') rq.complete(this.transfer(rq));
        else this.held.push(rq);
        return BLK_STS.OK;
      },
      commitRqs: () => { this.commits++; },
      complete: (rq, st) => { this.inFlight--; rq.end(st); },
      ...(o.timeout !== undefined ? { timeout: o.timeout } : {}),
    };
    this.tagSet = new TagSet<MemPdu, number>({ ops, nrHwQueues: o.nrHwQueues ?? 1, queueDepth: o.queueDepth ?? 64, nrCpus: o.nrCpus ?? 1, timeoutMs: o.timeoutMs ?? 30000, logger: o.logger });
    this.disk = new GenDisk<MemPdu, number>({ name: o.name, tagSet: this.tagSet, capacitySectors: o.capacityBytes / 512, limits: o.limits, scheduler: o.scheduler });
  }

  /** Move the data of a request (the driver's job). */
  transfer(rq: RequestRef<MemPdu>): BlkStatus {
    const s = this.store;
    if (s === null) return BLK_STS.OK;
    let off = rq.sector * 512;
    switch (rq.op) {
      case REQ_OP.READ: for (const b of rq.bvecs) { b.set(s.subarray(off, off + b.length)); off += b.length; } return BLK_STS.OK;
      case REQ_OP.WRITE: for (const b of rq.bvecs) { s.set(b, off); off += b.length; } return BLK_STS.OK;
      case REQ_OP.DISCARD: case REQ_OP.WRITE_ZEROES: s.fill(0, off, off + rq.bytes); return BLK_STS.OK;
      case REQ_OP.FLUSH: return BLK_STS.OK;
      default: return BLK_STS.NOTSUPP;
    }
  }

  /** End every held request (manual mode) with its transfer status. */
  completeHeld(n = Infinity): number {
    let k = 0;
    while (this.held.length > 0 && k < n) {
      const rq = this.held.shift() as RequestRef<MemPdu>;
      if (!rq.valid) continue;
      this.inFlight--;
      rq.end(this.transfer(rq));
      k++;
    }
    return k;
  }
}

/** A registered RAM disk with a scripted driver. */
export function createMemDisk(o: MemDriverOptions): MemDriver {
  const d = new MemDriver(o);
  d.disk.add();
  return d;
}
