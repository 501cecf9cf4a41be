// NVM command set (NVMe 1.4 §6). Common checks first (namespace, fuse),
// then one function per opcode; each returns a status or PENDING.
import type { NvmeController, Namespace } from './controller.ts';
import type { Req } from './queues.ts';
import { PENDING, complete } from './queues.ts';
import { S, dnr } from '../../src/spec/status.ts';
import { NVM, RW, DSM, DSM_RANGE, NSID_BROADCAST } from '../../src/spec/nvm.ts';
import { sqeSlba, sqeNlb } from '../../src/wire/sqe.ts';
import { u32, u64 } from '../../src/wire/le.ts';
import { UncorrectableError } from '../backend/namespace.ts';
import { MAX_NAMESPACES } from './options.ts';
import { mapData, toHost, fromHost, fromHostShared, takeTransferBuffer, releaseTransferBuffer } from './dma.ts';

export const IO_SUPPORTED: ReadonlySet<number> = new Set([
  NVM.FLUSH, NVM.WRITE, NVM.READ, NVM.WRITE_UNCORRECTABLE, NVM.COMPARE, NVM.WRITE_ZEROES, NVM.DSM, NVM.VERIFY,
]);

export function ioCommand(c: NvmeController, req: Req): number {
  const s = req.sqe;
  if (!IO_SUPPORTED.has(s.opc)) return dnr(S.INVALID_OPCODE);
  if (s.fuse !== 0) return S.INVALID_FIELD;
  if (s.opc === NVM.FLUSH) return flush(c, req);
  const nsid = s.nsid;
  if (nsid === 0 || nsid > MAX_NAMESPACES) return dnr(S.INVALID_NAMESPACE_OR_FORMAT);
  const ns = c.namespaces.get(nsid);
  if (ns === undefined) return dnr(S.INVALID_FIELD); // valid NSID, not attached (QEMU)
  switch (s.opc) {
    case NVM.READ: return read(c, req, ns);
    case NVM.WRITE: return write(c, req, ns);
    case NVM.COMPARE: return compare(c, req, ns);
    case NVM.WRITE_ZEROES: return writeZeroes(c, req, ns);
    case NVM.DSM: return dsm(c, req, ns);
    case NVM.VERIFY: return verify(c, req, ns);
    case NVM.WRITE_UNCORRECTABLE: return writeUncorrectable(c, req, ns);
    default: return dnr(S.INVALID_OPCODE);
  }
}

const nlbOf = (req: Req): number => sqeNlb(req.sqe);
const RANGE_OK = -2;
/** SLBA/NLB decode + LBA range check (§6.x: LBA Out of Range with DNR). Returns a status or RANGE_OK. */
function range(req: Req, ns: Namespace): number {
  const slba = sqeSlba(req.sqe);
  const nlb = nlbOf(req);
  req.lba = slba;
  if (slba + nlb > ns.data.nsze || !Number.isSafeInteger(slba + nlb)) return dnr(S.LBA_OUT_OF_RANGE);
  return RANGE_OK;
}

/** Checks of a data-transferring command (Read, Write, Compare): MDTS (§5.15.2.1, Invalid Field), then the LBA range. */
function transferChecks(c: NvmeController, req: Req, ns: Namespace, len: number): number {
  if (len > c.mdtsBytes()) return dnr(S.INVALID_FIELD);
  return range(req, ns);
}

function mediaError(c: NvmeController, e: unknown, read: boolean): number {
  c.stats.mediaErrors++;
  if (!(e instanceof UncorrectableError)) c.log.error({ err: e }, 'backend I/O error');
  return read ? S.UNRECOVERED_READ_ERROR : S.WRITE_FAULT;
}

/** Complete once a store/cache flush settles: Success, or Write Fault when it failed. */
function completeWhenFlushed(c: NvmeController, req: Req, p: Promise<void>): void {
  p.then(() => complete(c, req, S.SUCCESS), (e: unknown) => complete(c, req, mediaError(c, e, false)));
}

function read(c: NvmeController, req: Req, ns: Namespace): number {
  const nlb = nlbOf(req);
  const len = nlb * ns.data.blockSize;
  const r = transferChecks(c, req, ns, len);
  if (r !== RANGE_OK) return r;
  const slba = req.lba;
  mapData(c, req, len, true, (st) => {
    if (st !== S.SUCCESS) return complete(c, req, st);
    const pooled = takeTransferBuffer(len);
    const buf = pooled.length === len ? pooled : pooled.subarray(0, len);
    try {
      ns.data.read(slba, nlb, buf);
    } catch (e) {
      releaseTransferBuffer(pooled);
      return complete(c, req, mediaError(c, e, true));
    }
    c.stats.bytesRead += len;
    c.stats.hostReadCommands++;
    // toHost's dmaWrite encodes the bytes during the call: the buffer is free again when it returns.
    const st2 = toHost(c, req, buf);
    releaseTransferBuffer(pooled);
    complete(c, req, st2);
  });
  return PENDING;
}

function write(c: NvmeController, req: Req, ns: Namespace): number {
  const nlb = nlbOf(req);
  const len = nlb * ns.data.blockSize;
  const r = transferChecks(c, req, ns, len);
  if (r !== RANGE_OK) return r;
  const slba = req.lba;
  const fua = (req.sqe.cdw12 & RW.FUA) !== 0;
  mapData(c, req, len, true, (st) => {
    if (st !== S.SUCCESS) return complete(c, req, st);
    fromHostShared(c, req, len, (st2, data) => {
      // data is valid during this callback only; the cache/store copies it.
      if (st2 !== S.SUCCESS) return complete(c, req, st2);
      if (req.aborted !== 0) return complete(c, req, req.aborted);
      try {
        ns.data.write(slba, nlb, data, fua);
      } catch (e) {
        return complete(c, req, mediaError(c, e, false));
      }
      c.stats.bytesWritten += len;
      c.stats.hostWriteCommands++;
      if (!fua) return complete(c, req, S.SUCCESS);
      // FUA: durable before completion (§6.15): also sync the store.
      completeWhenFlushed(c, req, ns.data.store.flush());
    });
  });
  return PENDING;
}

function compare(c: NvmeController, req: Req, ns: Namespace): number {
  const nlb = nlbOf(req);
  const len = nlb * ns.data.blockSize;
  const r = transferChecks(c, req, ns, len);
  if (r !== RANGE_OK) return r;
  const slba = req.lba;
  mapData(c, req, len, true, (st) => {
    if (st !== S.SUCCESS) return complete(c, req, st);
    fromHostShared(c, req, len, (st2, host) => {
      if (st2 !== S.SUCCESS) return complete(c, req, st2);
      const mediaBuf = takeTransferBuffer(len);
      const media = mediaBuf.subarray(0, len);
      let same = false;
      try {
        ns.data.read(slba, nlb, media);
        same = Buffer.compare(host, media) === 0;
      } catch (e) {
        return complete(c, req, mediaError(c, e, true));
      } finally {
        releaseTransferBuffer(mediaBuf);
      }
      c.stats.hostReadCommands++;
      // §6.5: a mismatch is Compare Failure.
      complete(c, req, same ? S.SUCCESS : dnr(S.COMPARE_FAILURE));
    });
  });
  return PENDING;
}

function verify(c: NvmeController, req: Req, ns: Namespace): number {
  const r = range(req, ns);
  if (r !== RANGE_OK) return r;
  const bad = ns.data.firstUncorrectable(req.lba, nlbOf(req));
  if (bad >= 0) {
    req.lba = bad;
    c.stats.mediaErrors++;
    return S.UNRECOVERED_READ_ERROR;
  }
  return S.SUCCESS;
}

function writeZeroes(c: NvmeController, req: Req, ns: Namespace): number {
  const r = range(req, ns);
  if (r !== RANGE_OK) return r;
  const fua = (req.sqe.cdw12 & RW.FUA) !== 0;
  try {
    ns.data.writeZeroes(req.lba, nlbOf(req), fua);
  } catch (e) {
    return mediaError(c, e, false);
  }
  if (!fua) return S.SUCCESS;
  completeWhenFlushed(c, req, ns.data.store.flush());
  return PENDING;
}

function writeUncorrectable(c: NvmeController, req: Req, ns: Namespace): number {
  const r = range(req, ns);
  if (r !== RANGE_OK) return r;
  ns.data.markUncorrectable(req.lba, nlbOf(req));
  return S.SUCCESS;
}

/** Dataset Management (§6.7): ranges come in the data buffer; AD deallocates. Bad ranges are skipped (QEMU). */
function dsm(c: NvmeController, req: Req, ns: Namespace): number {
  const nr = (req.sqe.cdw10 & DSM.NR_MASK) + 1;
  const ad = (req.sqe.cdw11 & DSM.AD) !== 0;
  const len = nr * DSM_RANGE.SIZE;
  mapData(c, req, len, true, (st) => {
    if (st !== S.SUCCESS) return complete(c, req, st);
    const buf = new Uint8Array(len);
    fromHost(c, req, buf, (st2) => {
      if (st2 !== S.SUCCESS) return complete(c, req, st2);
      if (ad) {
        for (let i = 0; i < nr; i++) {
          const o = i * DSM_RANGE.SIZE;
          const n = u32(buf, o + DSM_RANGE.NLB);
          const slba = u64(buf, o + DSM_RANGE.SLBA);
          if (n === 0 || slba + n > ns.data.nsze) continue;
          try {
            ns.data.deallocate(slba, n);
          } catch (e) {
            return complete(c, req, mediaError(c, e, false));
          }
        }
      }
      complete(c, req, S.SUCCESS);
    });
  });
  return PENDING;
}

/** Flush (§6.8): one namespace, or every namespace with NSID FFFFFFFFh (VWC.FB = 11b). */
function flush(c: NvmeController, req: Req): number {
  const nsid = req.sqe.nsid;
  let p: Promise<void>;
  if (nsid === NSID_BROADCAST) p = c.flushAll();
  else {
    if (nsid === 0 || nsid > MAX_NAMESPACES) return dnr(S.INVALID_NAMESPACE_OR_FORMAT);
    const ns = c.namespaces.get(nsid);
    if (ns === undefined) return dnr(S.INVALID_FIELD);
    p = ns.data.flush();
  }
  completeWhenFlushed(c, req, p);
  return PENDING;
}
