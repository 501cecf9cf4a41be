// The I/O path: blk-mq Operations for NVMe namespaces (Linux pci.c
// nvme_queue_rq / nvme_prep_rq / nvme_handle_cqe / nvme_pci_complete_rq and
// core.c nvme_setup_cmd / nvme_complete_rq). Requests become Read, Write
// (FUA), Flush, Write Zeroes or DSM commands; data is reachable through the
// IOMMU for exactly the request's lifetime — small transfers through a gated
// per-queue data slot (opened at dispatch, closed at completion, no message
// on the wire), larger ones by mapping the caller's buffer zero-copy; PRP
// list pages come from a pool preallocated per tag. One SQ doorbell per
// synchronous run of submissions. Command id = tag | genctr << 12.
import { BLK_STS, REQ_FLAG, REQ_OP, opIsWrite } from '../../block/types.ts';
import type { BlkStatus, HctxType, HwQueue, Operations, QueueMapsView, RequestRef, TimeoutResult } from '../../block/types.ts';
import type { DmaBuffer, DmaDirection, DmaMapping, DmaPool, DmaSlot } from '../../pci/index.ts';
import { isPciError } from '../../pci/index.ts';
import { DSM, DSM_RANGE, NVM, RW, statusCode } from '../../../src/spec/index.ts';
import type { Cqe, SglDesc } from '../../../src/wire/index.ts';
import { PSDT } from '../../../src/wire/index.ts';
import { CTRL_PAGE, SGL_PER_PAGE, newDataPtr, setupPrps, setupSgls, type PrpPool, type SegmentList } from './prp.ts';
import { crdDelayMs, decideDisposition, formatIoError, nvmeErrorStatus } from './errors.ts';
import type { NvmeQueue } from './queue.ts';
import type { NvmeController, NvmeNamespace } from './controller.ts';
import { ioTimeout } from './timeout.ts';

/** Per-tag driver data (struct nvme_iod), created once per tag at tag-set creation. */
export class RnvmePdu {
  readonly seg: SegmentList = { iova: [], len: [], count: 0 };
  readonly maps: DmaMapping[] = [];
  /** Bounce buffer when the segments fit neither PRPs nor SGLs. */
  bounce: DmaBuffer | undefined;
  /** The gated data slot carrying this request's data (small transfers), open only while it is in flight. */
  slot: DmaSlot | undefined;
  /** Cached view of the last slot used, `slotViewLen` bytes long (no view allocated per I/O). */
  private slotView: Uint8Array | undefined;
  private slotViewOf: DmaSlot | undefined;
  /** The first `len` bytes of `slot` as a view, reused while the slot and length repeat. */
  viewOf(slot: DmaSlot, len: number): Uint8Array {
    const v = this.slotView;
    if (v !== undefined && this.slotViewOf === slot && v.length === len) return v;
    this.slotViewOf = slot;
    return (this.slotView = slot.bytes.subarray(0, len));
  }
  readonly dptr = newDataPtr();
  cid = 0;
  opc = 0;
  slba = 0;
  nlb = 0;
  nsid = 0;
  /** nvme_request.retries: kept across requeues of the same request. */
  retries = 0;
  /** A retry (or cancel-requeue) is pending for this tag: don't reset `retries` at the next prep. */
  retryPending = false;
  /** An Abort was sent for this command (iod->aborted). */
  aborted = false;
  hctx: HwQueue<QueueCtx> | undefined;
  constructor(readonly tag: number, readonly hwq: number) {}
}

/** Per-hctx driver data: which namespace (disk) and which NVMe queue. */
export interface QueueCtx {
  ns: NvmeNamespace;
  hwq: number;
}

/** Mutable scratch SQE (one per controller: submission is synchronous). */
interface SqeScratch {
  opc: number; cid: number; nsid: number; psdt: number; fuse: number;
  prp1: number; prp2: number; sgl1: SglDesc | undefined;
  cdw2: number; cdw3: number; mptr: number;
  cdw10: number; cdw11: number; cdw12: number; cdw13: number; cdw14: number; cdw15: number;
}

const TWO32 = 0x1_0000_0000;

/** Copy the start of `src` out into the request's segments, in order (read completion). */
function scatter(bvecs: readonly Uint8Array[], src: Uint8Array): void {
  let off = 0;
  for (let i = 0; i < bvecs.length; i++) {
    const v = bvecs[i] as Uint8Array;
    v.set(src.subarray(off, off + v.length));
    off += v.length;
  }
}

export class IoPath implements Operations<RnvmePdu, QueueCtx> {
  private readonly sqe: SqeScratch = {
    opc: 0, cid: 0, nsid: 0, psdt: 0, fuse: 0, prp1: 0, prp2: 0, sgl1: undefined, cdw2: 0, cdw3: 0, mptr: 0,
    cdw10: 0, cdw11: 0, cdw12: 0, cdw13: 0, cdw14: 0, cdw15: 0,
  };
  /** Bound completion handler (one closure per controller, not per I/O). */
  readonly onCqe = (c: Cqe, q: NvmeQueue): void => this.handleCqe(c, q);

  constructor(private readonly c: NvmeController) {}

  initRequest(tag: number, hwqIndex: number): RnvmePdu { return new RnvmePdu(tag, hwqIndex); }

  initHctx(hwqIndex: number, _type: HctxType, diskName: string): QueueCtx {
    const ns = this.c.nsByDisk(diskName);
    if (ns === undefined) throw new Error(`rnvme: no namespace for disk ${diskName}`);
    if (this.c.ioQueues[hwqIndex] === undefined) throw new Error(`rnvme: no I/O queue for hctx ${hwqIndex}`);
    return { ns, hwq: hwqIndex };
  }

  /** Map CPUs: interrupt-driven queues are 'default', the rest 'poll' (nvme_pci_map_queues). */
  mapQueues(maps: QueueMapsView): void {
    const irq = this.c.nrIrqQueues;
    const poll = this.c.nrPollQueues;
    maps.setMap('default', irq, 0);
    maps.setMap('poll', poll, irq);
  }

  queueRq(hctx: HwQueue<QueueCtx>, rq: RequestRef<RnvmePdu>, isLast: boolean): BlkStatus {
    const c = this.c;
    if (!c.live) {
      // nvme_fail_nonready_command: a dead controller fails, a resetting one asks for a retry.
      if (c.terminal || (rq.flags & REQ_FLAG.FAILFAST_DRIVER) !== 0) return BLK_STS.IOERR;
      return BLK_STS.RESOURCE;
    }
    const q = c.ioQueues[hctx.index];
    if (q === undefined) return BLK_STS.IOERR;
    if (q.sqFull()) return BLK_STS.DEV_RESOURCE;
    const pdu = rq.pdu;
    // nvme_clear_nvme_request: a fresh request starts with 0 retries; a requeued one keeps its count.
    if (!pdu.retryPending) pdu.retries = 0;
    pdu.retryPending = false;
    pdu.aborted = false;
    pdu.hctx = hctx;
    const ns = hctx.driverData.ns;
    const st = this.setupCmd(rq, pdu, ns, hctx.index);
    if (st !== BLK_STS.OK) return st;
    const s = this.sqe;
    s.cid = pdu.cid = (rq.tag & 0xfff) | ((rq.generation & 0xf) << 12);
    try {
      q.push(s);
    } catch {
      this.unmapData(rq, pdu, false);
      return BLK_STS.DEV_RESOURCE;
    }
    // isLast: one doorbell for the batch, shared with every other batch of this synchronous run.
    if (isLast) q.ringSqSoon();
    return BLK_STS.OK;
  }

  /** The dispatch batch ended early: ring the doorbell for what was queued. */
  commitRqs(hctx: HwQueue<QueueCtx>): void { this.c.ioQueues[hctx.index]?.ringSqSoon(); }

  /** Poll queue: reap its CQ. */
  poll(hctx: HwQueue<QueueCtx>): number {
    const q = this.c.ioQueues[hctx.index];
    return q === undefined ? 0 : q.reap(this.onCqe);
  }

  timeout(rq: RequestRef<RnvmePdu>): TimeoutResult { return ioTimeout(this.c, rq); }

  /** nvme_setup_cmd + nvme_map_data into the scratch SQE. */
  private setupCmd(rq: RequestRef<RnvmePdu>, pdu: RnvmePdu, ns: NvmeNamespace, hwq: number): BlkStatus {
    const s = this.sqe;
    s.nsid = pdu.nsid = ns.nsid;
    s.psdt = 0; s.fuse = 0; s.prp1 = 0; s.prp2 = 0; s.sgl1 = undefined; s.cdw2 = 0; s.cdw3 = 0; s.mptr = 0;
    s.cdw10 = 0; s.cdw11 = 0; s.cdw12 = 0; s.cdw13 = 0; s.cdw14 = 0; s.cdw15 = 0;
    const shift = ns.lbaShift - 9;
    const slba = Math.floor(rq.sector / 2 ** shift);
    const nlb = Math.floor(rq.bytes / 2 ** ns.lbaShift);
    pdu.slba = slba;
    pdu.nlb = nlb;
    switch (rq.op) {
      case REQ_OP.READ:
      case REQ_OP.WRITE: {
        if (nlb < 1 || nlb > RW.NLB_MASK + 1) return BLK_STS.IOERR;
        s.opc = pdu.opc = rq.op === REQ_OP.READ ? NVM.READ : NVM.WRITE;
        s.cdw10 = slba % TWO32; s.cdw11 = Math.floor(slba / TWO32);
        s.cdw12 = (nlb - 1) | ((rq.flags & REQ_FLAG.FUA) !== 0 && rq.op === REQ_OP.WRITE ? RW.FUA : 0);
        return this.mapData(rq, pdu, hwq);
      }
      case REQ_OP.FLUSH:
        s.opc = pdu.opc = NVM.FLUSH;
        return BLK_STS.OK;
      case REQ_OP.WRITE_ZEROES:
        if (nlb < 1 || nlb > RW.NLB_MASK + 1) return BLK_STS.IOERR;
        s.opc = pdu.opc = NVM.WRITE_ZEROES;
        s.cdw10 = slba % TWO32; s.cdw11 = Math.floor(slba / TWO32);
        // §6.16: DEAC lets the controller deallocate; REQ_NOUNMAP asks it not to.
        s.cdw12 = (nlb - 1) | ((rq.flags & REQ_FLAG.NOUNMAP) === 0 && ns.wzDealloc ? RW.DEAC : 0);
        return BLK_STS.OK;
      case REQ_OP.DISCARD: {
        // nvme_setup_discard: one range in the tag's preallocated list page (DSM does not use a PRP list).
        if (nlb < 1 || nlb > 0xffff_ffff) return BLK_STS.IOERR;
        const pool = this.c.prpPools[hwq];
        if (pool === undefined) return BLK_STS.IOERR;
        const off = pool.pageOffset(rq.tag, 0);
        pool.buf.fill(0, off, DSM_RANGE.SIZE);
        pool.buf.writeU32(off + DSM_RANGE.CATTR, 0);
        pool.buf.writeU32(off + DSM_RANGE.NLB, nlb);
        pool.buf.writeU64(off + DSM_RANGE.SLBA, slba);
        s.opc = pdu.opc = NVM.DSM;
        s.prp1 = pool.iova(rq.tag, 0);
        s.cdw10 = 0; // NR: one range, 0's based
        s.cdw11 = DSM.AD;
        return BLK_STS.OK;
      }
      default:
        return BLK_STS.NOTSUPP;
    }
  }

  /** nvme_map_data: streaming mappings for the bvecs, then PRPs or SGLs (or a bounce buffer). */
  private mapData(rq: RequestRef<RnvmePdu>, pdu: RnvmePdu, hwq: number): BlkStatus {
    const c = this.c;
    const bv = rq.bvecs;
    const pool = c.prpPools[hwq];
    if (pool === undefined || bv.length === 0) return BLK_STS.IOERR;
    const dir = opIsWrite(rq.op) ? 'to-device' : 'from-device';
    // Small transfers first: one contiguous gated slot, always PRP-describable.
    const dpool = c.dataPools[hwq];
    if (dpool !== undefined && rq.bytes <= dpool.slotSize) {
      const st = this.mapSlot(rq, pdu, pool, dpool, dir);
      if (st !== undefined) return st;
    }
    const seg = pdu.seg;
    // Each bvec is mapped page aligned, so PRPs work iff every bvec but the last is whole pages.
    let prpOk = true;
    for (let i = 0; i < bv.length - 1 && prpOk; i++) prpOk = (bv[i] as Uint8Array).length % CTRL_PAGE === 0;
    const avg = rq.bytes / bv.length;
    // setupSgls puts the descriptors in the tag's one list page.
    const sglOk = c.sglSupported && bv.length <= SGL_PER_PAGE;
    const wantSgl = sglOk && c.opts.sgl_threshold > 0 && avg >= c.opts.sgl_threshold;
    if (!prpOk && !sglOk) return this.mapBounce(rq, pdu, pool, dir);
    seg.count = 0;
    pdu.maps.length = 0;
    try {
      for (let i = 0; i < bv.length; i++) {
        const b = bv[i] as Uint8Array;
        const m = c.fn.memory.mapStreaming(b, dir, { pageAligned: true });
        pdu.maps.push(m);
        seg.iova[i] = m.iova;
        seg.len[i] = b.length;
        seg.count = i + 1;
      }
    } catch (e) {
      this.unmapData(rq, pdu, false);
      if (isPciError(e) && e.code === 'no_space') return BLK_STS.RESOURCE;
      return BLK_STS.IOERR;
    }
    const d = pdu.dptr;
    const ok = wantSgl || !prpOk ? setupSgls(seg, pool, rq.tag, d) : setupPrps(seg, pool, rq.tag, d);
    if (!ok) { this.unmapData(rq, pdu, false); return BLK_STS.IOERR; }
    this.applyDptr(d);
    if (d.sgl) c.stats.sglCommands++;
    return BLK_STS.OK;
  }

  /**
   * Small transfers: the data travels through the tag's gated slot, open in
   * the host IOMMU for this request only (a local flag, no dma_map /
   * dma_unmap on the wire — measured as the biggest per-I/O cost). Writes
   * are copied in here, reads copied out at completion. Returns undefined
   * when no slot is free (the caller maps the buffer instead).
   */
  private mapSlot(rq: RequestRef<RnvmePdu>, pdu: RnvmePdu, pool: PrpPool, dpool: DmaPool, dir: DmaDirection): BlkStatus | undefined {
    const slot = dpool.alloc(dir);
    if (slot === undefined) return undefined;
    pdu.slot = slot;
    pdu.maps.length = 0;
    if (dir === 'to-device') {
      const bv = rq.bvecs;
      let off = 0;
      for (let i = 0; i < bv.length; i++) { const b = bv[i] as Uint8Array; slot.bytes.set(b, off); off += b.length; }
    }
    const seg = pdu.seg;
    seg.iova[0] = slot.iova; seg.len[0] = rq.bytes; seg.count = 1;
    if (!setupPrps(seg, pool, rq.tag, pdu.dptr)) { this.unmapData(rq, pdu, false); return BLK_STS.IOERR; }
    this.applyDptr(pdu.dptr);
    this.c.stats.slotted++;
    return BLK_STS.OK;
  }

  private applyDptr(d: RnvmePdu['dptr']): void {
    const s = this.sqe;
    if (d.sgl) { s.psdt = PSDT.SGL_MPTR_CONTIG; s.sgl1 = d.sgl1; s.prp1 = 0; s.prp2 = 0; }
    else { s.psdt = PSDT.PRP; s.sgl1 = undefined; s.prp1 = d.prp1; s.prp2 = d.prp2; }
  }

  /** Rare path: segments PRPs cannot describe and no SGL support — copy through a coherent bounce buffer. */
  private mapBounce(rq: RequestRef<RnvmePdu>, pdu: RnvmePdu, pool: PrpPool, dir: DmaDirection): BlkStatus {
    let buf: DmaBuffer;
    try { buf = this.c.fn.memory.allocCoherent(rq.bytes, { name: 'rnvme-bounce' }); } catch { return BLK_STS.RESOURCE; }
    pdu.bounce = buf;
    if (dir === 'to-device') {
      let off = 0;
      for (const b of rq.bvecs) { buf.writeBytes(off, b); off += b.length; }
    }
    const seg = pdu.seg;
    seg.iova[0] = buf.iova; seg.len[0] = rq.bytes; seg.count = 1;
    pdu.maps.length = 0;
    if (!setupPrps(seg, pool, rq.tag, pdu.dptr)) { this.unmapData(rq, pdu, false); return BLK_STS.IOERR; }
    this.applyDptr(pdu.dptr);
    this.c.stats.bounced++;
    return BLK_STS.OK;
  }

  /** nvme_unmap_data: end the IOMMU windows (and copy a bounce buffer back for reads). */
  unmapData(rq: RequestRef<RnvmePdu>, pdu: RnvmePdu, success: boolean): void {
    for (let i = 0; i < pdu.maps.length; i++) {
      const m = pdu.maps[i] as DmaMapping;
      try { if (m.mapped) m.unmap(); } catch { /* already torn down by removal */ }
    }
    pdu.maps.length = 0;
    pdu.seg.count = 0;
    const slot = pdu.slot;
    if (slot !== undefined) {
      pdu.slot = undefined;
      if (success && rq.op === REQ_OP.READ) {
        const bv = rq.bvecs;
        if (bv.length === 1) (bv[0] as Uint8Array).set(pdu.viewOf(slot, rq.bytes));
        else scatter(bv, slot.bytes);
      }
      // Closes the slot in the host IOMMU: a late device access is refused and counted.
      try { slot.release(); } catch { /* released by a racing teardown */ }
    }
    const b = pdu.bounce;
    if (b !== undefined) {
      pdu.bounce = undefined;
      if (success && rq.op === REQ_OP.READ && !b.freed) scatter(rq.bvecs, b.bytes);
      try { if (!b.freed) b.free(); } catch { /* gone */ }
    }
  }

  /** nvme_handle_cqe: look the command id up; an unknown or stale id is logged and dropped. */
  private handleCqe(cqe: Cqe, q: NvmeQueue): void {
    const c = this.c;
    const ts = c.tagSet;
    const tag = cqe.cid & 0xfff;
    const gen = cqe.cid >>> 12;
    const rq = ts === undefined ? undefined : (ts.tagToRq(q.qid - 1, tag, gen) as RequestRef<RnvmePdu> | undefined);
    if (rq === undefined || rq.pdu.cid !== cqe.cid) {
      c.stats.invalidIds++;
      c.log.warn(`invalid id ${cqe.cid} completed on queue ${cqe.sqid}`);
      return;
    }
    this.completeRq(rq, cqe.status);
  }

  /** nvme_pci_complete_rq + nvme_complete_rq: unmap, then end, retry or fail. */
  completeRq(rq: RequestRef<RnvmePdu>, status: number): void {
    const c = this.c;
    const pdu = rq.pdu;
    const ok = statusCode(status) === 0;
    this.unmapData(rq, pdu, ok);
    if (ok) { rq.end(BLK_STS.OK); return; }
    const disp = decideDisposition(status, pdu.retries, c.opts.max_retries, rq.flags, c.terminal);
    if (disp === 'retry') {
      // nvme_retry_req: count, requeue without kick, kick after the CRD delay.
      pdu.retries++;
      pdu.retryPending = true;
      c.stats.retries++;
      const delay = crdDelayMs(status, c.crdt);
      const h = pdu.hctx;
      if (delay > 0 && h !== undefined) {
        if (rq.requeue(false) === 0) h.kickRequeueList(delay);
      } else if (c.live) {
        rq.requeue(true);
      } else {
        rq.requeue(false); // resetting: kicked when the controller is live again
      }
      return;
    }
    if ((rq.flags & REQ_FLAG.QUIET) === 0) c.log.error(formatIoError(rq.diskName, pdu.opc, pdu.slba, pdu.nlb, status));
    c.stats.errors++;
    rq.end(nvmeErrorStatus(status));
  }
}
