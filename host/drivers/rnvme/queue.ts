// One NVMe queue pair (SQ + CQ) as the host drives it (Linux pci.c
// nvme_queue): SQEs written at the tail of a coherent ring (or into the CMB),
// one SQ doorbell per batch; completions found by phase tag first, the CQ
// head doorbell written once per batch; shadow doorbells with EventIdx.
// Ring bookkeeping lives in tiny named helpers. All memory access goes through
// the typed DmaBuffer / Bar accessors and the src/wire SQE/CQE codecs.
import type { Bar, DmaBuffer } from '../../pci/index.ts';
import { CQE_SIZE, SQE_SIZE, cqHeadDoorbell, sqTailDoorbell, DOORBELL_BASE } from '../../../src/spec/index.ts';
import { cqePhase, emptyCqe, readCqe, writeSqe, type Cqe, type SqeInit } from '../../../src/wire/index.ts';

/** What a queue needs of BAR0 (and of the CMB BAR): posted writes only. */
export type DoorbellBar = Pick<Bar, 'write32' | 'writeBytes'>;

/** Where the SQ lives when it is in the controller memory buffer. */
export interface CmbSqPlace {
  bar: DoorbellBar;
  /** Offset of the SQ inside the CMB BAR. */
  barOffset: number;
  /** The controller's address for it (CBA + barOffset), given in Create I/O SQ. */
  busAddr: number;
}

/** Shadow doorbell buffers (Doorbell Buffer Config, NVMe 1.4 §5.7). */
export interface DbbufPlace {
  shadow: DmaBuffer;
  eventIdx: DmaBuffer;
}

export interface NvmeQueueInit {
  qid: number;
  depth: number;
  dstrd: number;
  bar0: DoorbellBar;
  cq: DmaBuffer;
  /** The SQ ring in host memory; absent when the SQ is in the CMB. */
  sq?: DmaBuffer;
  cmb?: CmbSqPlace;
  /** MSI-X vector, or -1 for a polled queue. */
  vector: number;
}

/**
 * nvme_dbbuf_need_event(): after moving a doorbell from `old` to `next`, the
 * MMIO write is needed only if the controller's EventIdx lies in [old, next).
 * All arithmetic modulo 2^16, as in Linux.
 */
export function dbbufNeedEvent(eventIdx: number, next: number, old: number): boolean {
  return ((next - eventIdx - 1) & 0xffff) < ((next - old) & 0xffff);
}

export class NvmeQueue {
  readonly qid: number;
  readonly depth: number;
  readonly vector: number;
  readonly cq: DmaBuffer;
  readonly sq: DmaBuffer | undefined;
  readonly cmb: CmbSqPlace | undefined;
  private readonly bar0: DoorbellBar;
  private readonly sqDb: number;
  private readonly cqDb: number;
  /** Next free SQ slot. */
  sqTail = 0;
  /** Tail value the controller was last told about. */
  private sqTailRung = 0;
  /** SQ head as last reported in a CQE (SQHD). */
  sqHead = 0;
  cqHead = 0;
  cqPhase = 1;
  /** dbbuf slots (byte offsets in the shadow/EventIdx pages), when enabled for this queue. */
  private dbbuf: DbbufPlace | undefined;
  private readonly dbSqSlot: number;
  private readonly dbCqSlot: number;
  /** Reused CQE decode target (no allocation per completion). */
  private readonly cqe: Cqe = emptyCqe();
  /**
   * CMB SQs: a host-side image of the ring. SQEs are staged here and the new
   * ones leave as one posted write (two at the wrap) right before the
   * doorbell — what a write-combining CMB mapping (Linux ioremap_wc) does
   * with the per-SQE memcpy_toio stores. Empty for host-memory SQs.
   */
  private readonly stage: Uint8Array;
  private cqeBatchGuard = false;
  /** Counters. */
  sqDoorbells = 0;
  cqDoorbells = 0;
  completions = 0;
  submitted = 0;

  constructor(init: NvmeQueueInit) {
    if (!Number.isInteger(init.depth) || init.depth < 2 || init.depth > 65536) throw new RangeError(`queue ${init.qid}: depth ${init.depth}`);
    if ((init.sq === undefined) === (init.cmb === undefined)) throw new RangeError(`queue ${init.qid}: exactly one of sq / cmb`);
    if (init.cq.size < init.depth * CQE_SIZE) throw new RangeError(`queue ${init.qid}: CQ buffer too small`);
    if (init.sq !== undefined && init.sq.size < init.depth * SQE_SIZE) throw new RangeError(`queue ${init.qid}: SQ buffer too small`);
    this.qid = init.qid;
    this.depth = init.depth;
    this.vector = init.vector;
    this.cq = init.cq;
    this.sq = init.sq;
    this.cmb = init.cmb;
    this.bar0 = init.bar0;
    this.sqDb = sqTailDoorbell(init.qid, init.dstrd);
    this.cqDb = cqHeadDoorbell(init.qid, init.dstrd);
    // The shadow buffer mirrors the doorbell layout (NVMe 1.4 §5.7: same stride).
    this.dbSqSlot = this.sqDb - DOORBELL_BASE;
    this.dbCqSlot = this.cqDb - DOORBELL_BASE;
    this.stage = new Uint8Array(init.cmb !== undefined ? init.depth * SQE_SIZE : 0);
  }

  /** Address for Create I/O SQ PRP1 (host IOVA, or CMB bus address). */
  get sqAddr(): number { return this.cmb !== undefined ? this.cmb.busAddr : (this.sq as DmaBuffer).iova; }
  get cqAddr(): number { return this.cq.iova; }
  get polled(): boolean { return this.vector < 0; }
  /** Shadow doorbells in use for this queue. */
  get shadowed(): boolean { return this.dbbuf !== undefined; }

  /** Enable shadow doorbells for this queue (qid ≥ 1 only, as Linux). */
  setDbbuf(d: DbbufPlace | undefined): void {
    // qid 0 never uses shadow doorbells (Linux). CMB SQs use them too: the controller publishes
    // EventIdx for them (NVME2's fix, docs/requests.md); the SQEs themselves are always written.
    this.dbbuf = this.qid === 0 ? undefined : d;
    if (this.dbbuf !== undefined) {
      this.dbbuf.shadow.writeU32(this.dbSqSlot, this.sqTailRung);
      this.dbbuf.shadow.writeU32(this.dbCqSlot, this.cqHead);
    }
  }

  /** Entries in flight on the SQ as far as the host knows. */
  private sqUsed(): number { return (this.sqTail - this.sqHead + this.depth) % this.depth; }
  /** A full SQ holds depth-1 entries (NVMe 1.4 §4.1.2). */
  sqFull(): boolean { return this.sqUsed() >= this.depth - 1; }
  private incSqTail(): void { if (++this.sqTail === this.depth) this.sqTail = 0; }
  private incCqHead(): void {
    if (++this.cqHead === this.depth) { this.cqHead = 0; this.cqPhase ^= 1; }
  }

  /**
   * Write one SQE at the tail (nvme_sq_copy_cmd). The caller rings the
   * doorbell with ringSq() once per batch. Throws RangeError when full.
   */
  push(s: SqeInit): void {
    if (this.sqFull()) throw new RangeError(`queue ${this.qid}: submission queue full`);
    if (this.sq !== undefined) {
      writeSqe(this.sq.bytes, this.sqTail * SQE_SIZE, s);
    } else {
      writeSqe(this.stage, this.sqTail * SQE_SIZE, s);
    }
    this.incSqTail();
    this.submitted++;
  }

  private ringScheduled = false;
  private readonly ringDeferred = (): void => { this.ringScheduled = false; this.ringSq(); };

  /**
   * Ring the SQ doorbell once at the end of the current synchronous run
   * (a microtask): every request queued meanwhile — a burst of submits, or
   * the resubmissions made by one interrupt's completions — shares one
   * doorbell and so one SQE fetch. Like a plug: nothing leaves the host
   * before the channel's end-of-turn flush anyway, so it costs no latency.
   */
  ringSqSoon(): void {
    if (this.ringScheduled) return;
    this.ringScheduled = true;
    queueMicrotask(this.ringDeferred);
  }

  /** nvme_write_sq_db(): tell the controller about new SQEs (no-op when nothing is new). */
  ringSq(): void {
    if (this.sqTail === this.sqTailRung) return;
    const old = this.sqTailRung;
    this.sqTailRung = this.sqTail;
    if (this.cmb !== undefined) this.flushCmb(old, this.sqTail);
    if (this.updateDbbuf(this.dbSqSlot, this.sqTail, old)) {
      this.bar0.write32(this.sqDb, this.sqTail);
      this.sqDoorbells++;
    }
  }

  /** Copy SQEs [from, to) of the staged ring into the CMB (posted writes, ordered before the doorbell). */
  private flushCmb(from: number, to: number): void {
    const c = this.cmb as CmbSqPlace;
    const st = this.stage;
    if (to > from) {
      c.bar.writeBytes(c.barOffset + from * SQE_SIZE, st.subarray(from * SQE_SIZE, to * SQE_SIZE));
    } else {
      c.bar.writeBytes(c.barOffset + from * SQE_SIZE, st.subarray(from * SQE_SIZE));
      if (to > 0) c.bar.writeBytes(c.barOffset, st.subarray(0, to * SQE_SIZE));
    }
  }

  /** Shadow doorbell update; true when the MMIO doorbell is still needed. */
  private updateDbbuf(slot: number, value: number, old: number): boolean {
    const d = this.dbbuf;
    if (d === undefined) return true;
    d.shadow.writeU32(slot, value);
    // Linux: mb() between the shadow write and the EventIdx read; here both are host memory in one thread.
    return dbbufNeedEvent(d.eventIdx.readU32(slot), value, old);
  }

  /** nvme_cqe_pending(): the CQE at the head carries the current phase. */
  cqePending(): boolean { return cqePhase(this.cq.bytes, this.cqHead * CQE_SIZE) === this.cqPhase; }

  /**
   * nvme_poll_cq(): handle every new CQE (phase first), then write the CQ
   * head doorbell once. `onCqe` gets a reused Cqe object: copy what you keep.
   * Returns the number of CQEs handled. Re-entrant calls (a handler that
   * polls again) return 0.
   */
  reap(onCqe: (cqe: Cqe, q: NvmeQueue) => void): number {
    if (this.cqeBatchGuard) return 0;
    this.cqeBatchGuard = true;
    let n = 0;
    const old = this.cqHead;
    try {
      while (this.cqePending()) {
        const c = readCqe(this.cq.bytes, this.cqHead * CQE_SIZE, this.cqe);
        this.incCqHead();
        n++;
        // SQHD tells how far the controller consumed the SQ (§4.6); only for this queue's SQ.
        if (c.sqid === this.qid && c.sqhd < this.depth) this.sqHead = c.sqhd;
        onCqe(c, this);
      }
    } finally {
      this.cqeBatchGuard = false;
      if (n > 0) {
        this.completions += n;
        if (this.updateDbbuf(this.dbCqSlot, this.cqHead, old)) {
          this.bar0.write32(this.cqDb, this.cqHead);
          this.cqDoorbells++;
        }
      }
    }
    return n;
  }

  /** Back to the just-created state (after a controller reset): empty rings, phase 1. */
  resetRings(): void {
    this.sqTail = this.sqTailRung = this.sqHead = 0;
    this.cqHead = 0;
    this.cqPhase = 1;
    this.cq.fill(0);
    this.dbbuf = undefined;
  }

  /** Release the host memory of the rings (the CMB space is the controller's). */
  free(): void {
    if (!this.cq.freed) this.cq.free();
    if (this.sq !== undefined && !this.sq.freed) this.sq.free();
  }
}
