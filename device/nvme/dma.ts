// [raw] Data pointer mapping (PRP §4.3, SGL §4.4) and data transfer for one
// command. Mapping fills req.segs; the transfer helpers move bytes between a
// buffer and those segments. All callback-based (no promise per command).
import type { NvmeController } from './controller.ts';
import type { Req } from './queues.ts';
import { S, dnr } from '../../src/spec/status.ts';
import { PSDT, sqeSgl1 } from '../../src/wire/sqe.ts';
import { prpFirstLength, prpEntriesAfterFirst, prpEntriesInListPage, isDwordAligned } from '../../src/wire/prp.ts';
import { readSglDesc, SGL_TYPE, SGL_SUBTYPE, type SglDesc } from '../../src/wire/sgl.ts';
import { u64 } from '../../src/wire/le.ts';
import { PRP_ENTRY_SIZE, SGL_DESC_SIZE } from '../../src/spec/sizes.ts';

export type StatusCb = (status: number) => void;

/** Most SGL descriptors walked for one command (guards against loops in host memory). */
const MAX_SGL_DESCRIPTORS = 4096;

/** Map the data pointer of req for `len` bytes; `allowSgl` for I/O commands only. */
export function mapData(c: NvmeController, req: Req, len: number, allowSgl: boolean, cb: StatusCb): void {
  req.nsegs = 0;
  if (len === 0) return cb(S.SUCCESS);
  const psdt = req.sqe.psdt;
  if (psdt === PSDT.PRP) return mapPrp(c, req, len, cb);
  // §4.2: "SGLs shall not be used for Admin commands" over PCIe; PSDT=11b is reserved.
  if (!allowSgl || psdt === 3) return cb(dnr(S.INVALID_FIELD));
  mapSgl(c, req, len, cb);
}

function mapPrp(c: NvmeController, req: Req, len: number, cb: StatusCb): void {
  const ps = c.pageSize;
  const prp1 = req.sqe.prp1;
  // §4.3: the PRP1 offset must be dword aligned.
  if (!isDwordAligned(prp1)) return cb(dnr(S.PRP_OFFSET_INVALID));
  const first = prpFirstLength(prp1, len, ps);
  req.addSeg(prp1, first);
  const n = prpEntriesAfterFirst(prp1, len, ps);
  if (n === 0) return cb(S.SUCCESS);
  const prp2 = req.sqe.prp2;
  if (n === 1) {
    // PRP2 is a data pointer: its offset must be 0 (§4.3).
    if (prp2 % ps !== 0) return cb(dnr(S.PRP_OFFSET_INVALID));
    req.addSeg(prp2, len - first);
    return cb(S.SUCCESS);
  }
  // PRP2 is a PRP list pointer: qword aligned, may start inside a page.
  if (prp2 % PRP_ENTRY_SIZE !== 0) return cb(dnr(S.PRP_OFFSET_INVALID));
  walkPrpList(c, req, prp2, n, len - first, cb);
}

function walkPrpList(c: NvmeController, req: Req, list: number, remainingEntries: number, remainingBytes: number, cb: StatusCb): void {
  const ps = c.pageSize;
  const inPage = prpEntriesInListPage(list, ps);
  const chain = remainingEntries > inPage;
  const dataEntries = chain ? inPage - 1 : remainingEntries;
  const readEntries = chain ? inPage : remainingEntries;
  const epoch = c.epoch;
  c.ctx.dmaReadCb(list, readEntries * PRP_ENTRY_SIZE, (err, data) => {
    if (epoch !== c.epoch) return;
    if (err !== undefined || data === undefined) return cb(S.DATA_TRANSFER_ERROR);
    let bytes = remainingBytes;
    for (let i = 0; i < dataEntries; i++) {
      const e = u64(data, i * PRP_ENTRY_SIZE);
      if (e % ps !== 0) return cb(dnr(S.PRP_OFFSET_INVALID));
      const n = Math.min(ps, bytes);
      req.addSeg(e, n);
      bytes -= n;
    }
    if (!chain) return cb(S.SUCCESS);
    const next = u64(data, (inPage - 1) * PRP_ENTRY_SIZE);
    if (next % ps !== 0) return cb(dnr(S.PRP_OFFSET_INVALID));
    walkPrpList(c, req, next, remainingEntries - dataEntries, bytes, cb);
  });
}

/** SGL walk (§4.4): SGL1 is a Data Block, a Segment or a Last Segment descriptor. */
function mapSgl(c: NvmeController, req: Req, len: number, cb: StatusCb): void {
  const d = sqeSgl1(req.sqe);
  const st = { mapped: 0, descriptors: 0 };
  const finish = (): void => {
    // §4.4: the SGL must describe exactly the transfer (SGLS bit 18, excess length, is not supported).
    cb(st.mapped === len ? S.SUCCESS : dnr(S.DATA_SGL_LENGTH_INVALID));
  };
  if (d.type === SGL_TYPE.DATA_BLOCK) {
    const s = dataBlock(req, d, st, len);
    if (s !== S.SUCCESS) return cb(s);
    return finish();
  }
  if (d.type === SGL_TYPE.SEGMENT || d.type === SGL_TYPE.LAST_SEGMENT) return walkSegment(c, req, d, st, len, cb, finish);
  cb(dnr(S.SGL_DESCRIPTOR_TYPE_INVALID));
}

function dataBlock(req: Req, d: SglDesc, st: { mapped: number }, len: number): number {
  if (d.subtype !== SGL_SUBTYPE.ADDRESS) return dnr(S.SGL_DESCRIPTOR_TYPE_INVALID);
  if (d.len === 0) return S.SUCCESS;
  if (st.mapped + d.len > len) return dnr(S.DATA_SGL_LENGTH_INVALID);
  req.addSeg(d.addr, d.len);
  st.mapped += d.len;
  return S.SUCCESS;
}

function walkSegment(
  c: NvmeController, req: Req, seg: SglDesc, st: { mapped: number; descriptors: number }, len: number,
  cb: StatusCb, finish: () => void,
): void {
  // §4.4: a segment's length is a non-zero multiple of 16 bytes.
  if (seg.subtype !== SGL_SUBTYPE.ADDRESS) return cb(dnr(S.SGL_DESCRIPTOR_TYPE_INVALID));
  if (seg.len === 0 || seg.len % SGL_DESC_SIZE !== 0) return cb(dnr(S.INVALID_SGL_SEGMENT_DESCRIPTOR));
  const count = seg.len / SGL_DESC_SIZE;
  st.descriptors += count;
  if (st.descriptors > MAX_SGL_DESCRIPTORS) return cb(dnr(S.INVALID_NUMBER_OF_SGL_DESCRIPTORS));
  const last = seg.type === SGL_TYPE.LAST_SEGMENT;
  const epoch = c.epoch;
  c.ctx.dmaReadCb(seg.addr, seg.len, (err, data) => {
    if (epoch !== c.epoch) return;
    if (err !== undefined || data === undefined) return cb(S.DATA_TRANSFER_ERROR);
    const d: SglDesc = { addr: 0, len: 0, type: 0, subtype: 0 };
    for (let i = 0; i < count; i++) {
      readSglDesc(data, i * SGL_DESC_SIZE, d);
      const isLast = i === count - 1;
      if (d.type === SGL_TYPE.DATA_BLOCK) {
        const s = dataBlock(req, d, st, len);
        if (s !== S.SUCCESS) return cb(s);
        continue;
      }
      if (d.type === SGL_TYPE.SEGMENT || d.type === SGL_TYPE.LAST_SEGMENT) {
        // A Last Segment's descriptors are all data blocks; a segment pointer may only be the final descriptor.
        if (last) return cb(dnr(S.INVALID_SGL_SEGMENT_DESCRIPTOR));
        if (!isLast) return cb(dnr(S.INVALID_NUMBER_OF_SGL_DESCRIPTORS));
        return walkSegment(c, req, { ...d }, st, len, cb, finish);
      }
      return cb(dnr(S.SGL_DESCRIPTOR_TYPE_INVALID));
    }
    // A Segment (not Last) must end with a pointer to the next segment.
    if (!last) return cb(dnr(S.INVALID_SGL_SEGMENT_DESCRIPTOR));
    finish();
  });
}

/** Write `buf` to the host along req.segs (posted DMA). Returns a status (Data Transfer Error when refused). */
export function toHost(c: NvmeController, req: Req, buf: Uint8Array): number {
  let off = 0;
  const hook = c.faults.dataDma;
  for (let i = 0; i < req.nsegs; i++) {
    const s = req.segs[i];
    if (s === undefined) break;
    const n = Math.min(s.len, buf.length - off);
    if (n <= 0) break;
    const part = buf.subarray(off, off + n);
    if (hook !== undefined && hook(req.sq.qid, 'to-host', s.addr, part, req.sqe) === 'fail') return S.DATA_TRANSFER_ERROR;
    if (!c.ctx.dmaWrite(s.addr, part)) return S.DATA_TRANSFER_ERROR;
    off += n;
  }
  return S.SUCCESS;
}

/** Read req.segs from the host into `buf` (one dma_read per merged segment, in parallel). */
export function fromHost(c: NvmeController, req: Req, buf: Uint8Array, cb: StatusCb): void {
  let pending = 0;
  let failed = false;
  let off = 0;
  const epoch = c.epoch;
  const hook = c.faults.dataDma;
  const n = req.nsegs;
  if (n === 0) return cb(S.SUCCESS);
  for (let i = 0; i < n; i++) {
    const s = req.segs[i];
    if (s === undefined) break;
    const at = off;
    const len = Math.min(s.len, buf.length - off);
    off += len;
    if (len <= 0) continue;
    pending++;
    const addr = s.addr;
    c.ctx.dmaReadCb(addr, len, (err, data) => {
      if (epoch !== c.epoch) return;
      if (failed) return;
      if (err !== undefined || data === undefined) {
        failed = true;
        return cb(S.DATA_TRANSFER_ERROR);
      }
      buf.set(data.subarray(0, len), at);
      if (hook !== undefined && hook(req.sq.qid, 'from-host', addr, buf.subarray(at, at + len), req.sqe) === 'fail') {
        failed = true;
        return cb(S.DATA_TRANSFER_ERROR);
      }
      if (--pending === 0) cb(S.SUCCESS);
    });
  }
  if (pending === 0) cb(S.SUCCESS);
}

// ---------------------------------------------------------------------------
// Transfer buffers. A fresh zero-filled buffer per Read/Write (up to MDTS)
// was a quarter of the daemon's time in GC at 4 KiB and ~40 % at 128 KiB
// (docs/perf.md "Device data path"). Buffers are recycled per power-of-two
// size class instead. Safe because: Read fills one, hands it to toHost(),
// whose ctx.dmaWrite encodes the bytes during the call (DeviceContext
// contract), and releases it at once; fromHostShared releases only after
// the caller's callback returned, and fromHost reports exactly once (later
// dma_read callbacks return before touching the buffer). A command dropped
// by a reset (epoch change) never releases its buffer: the pool just
// allocates another and GC takes the old one.

const MIN_CLASS_SHIFT = 12; // 4 KiB
/** Bytes of idle buffers kept per size class (at least 2 buffers). */
const POOL_BYTES_PER_CLASS = 8 * 1024 * 1024;
const pools: Uint8Array[][] = [];
const EMPTY = new Uint8Array(0);

function classOf(len: number): number {
  return len <= 1 << MIN_CLASS_SHIFT ? 0 : 32 - Math.clz32(len - 1) - MIN_CLASS_SHIFT;
}

/** A buffer of at least `len` bytes (contents undefined: callers overwrite all `len`). */
export function takeTransferBuffer(len: number): Uint8Array {
  const k = classOf(len);
  const b = pools[k]?.pop();
  return b ?? new Uint8Array(1 << (k + MIN_CLASS_SHIFT));
}

/** Return a buffer from takeTransferBuffer once nothing refers to it any more. */
export function releaseTransferBuffer(buf: Uint8Array): void {
  const k = classOf(buf.length);
  if (buf.length !== 1 << (k + MIN_CLASS_SHIFT)) return; // not one of ours
  let pool = pools[k];
  if (pool === undefined) {
    pool = [];
    pools[k] = pool;
  }
  if (pool.length < Math.max(2, POOL_BYTES_PER_CLASS >>> (k + MIN_CLASS_SHIFT))) pool.push(buf);
}

/**
 * Read the command's data from the host and hand it to `cb`, valid during the
 * callback only (the caller copies what it keeps, e.g. into the store). One
 * segment covering everything (the common case) is passed as the view of the
 * received dma_read payload, without a copy; otherwise the segments are
 * gathered into a pooled buffer, recycled after `cb` returns. `cb` runs at
 * most once (not after a reset); `data` is empty unless status is SUCCESS.
 */
export function fromHostShared(c: NvmeController, req: Req, len: number, cb: (status: number, data: Uint8Array) => void): void {
  const s0 = req.segs[0];
  if (req.nsegs === 1 && s0 !== undefined && s0.len >= len && len > 0) {
    const epoch = c.epoch;
    const addr = s0.addr;
    const hook = c.faults.dataDma;
    c.ctx.dmaReadCb(addr, len, (err, data) => {
      if (epoch !== c.epoch) return;
      if (err !== undefined || data === undefined || data.length < len) return cb(S.DATA_TRANSFER_ERROR, EMPTY);
      const view = data.length === len ? data : data.subarray(0, len);
      if (hook !== undefined && hook(req.sq.qid, 'from-host', addr, view, req.sqe) === 'fail') return cb(S.DATA_TRANSFER_ERROR, EMPTY);
      cb(S.SUCCESS, view);
    });
    return;
  }
  const pooled = takeTransferBuffer(len);
  const buf = pooled.length === len ? pooled : pooled.subarray(0, len);
  fromHost(c, req, buf, (st) => {
    try {
      cb(st, st === S.SUCCESS ? buf : EMPTY);
    } finally {
      releaseTransferBuffer(pooled);
    }
  });
}
