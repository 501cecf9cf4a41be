// The one place where the NBD server meets the block layer: a BlockDevice
// (host/block/types.ts) seen as an NbdBackend. I/O goes through the block
// layer's no-promise hot path `submit()` with the connection's logical CPU,
// so each NBD connection feeds its own software queue (and, through
// map_queues, its own hardware queue), and requests of one connection are
// never serialised.
import type { BlockDevice, BlkStatus, ReqOp } from '../block/types.ts';
import { BLK_STS, BlockError, REQ_FLAG, REQ_OP, SECTOR_SIZE } from '../block/types.ts';
import { getDisk, listDisks, openDisk } from '../block/index.ts';
import type { NbdBackend } from './backend.ts';

export interface BlockBackendOptions {
  /** Logical CPUs of the disk's tag set (connections are spread over them). Default 1. */
  nrCpus?: number;
  /** Treat the disk as read-only. */
  readOnly?: boolean;
}

/** Shared zero source for WRITE_ZEROES emulation on disks without the op. */
let zeroBuf: Buffer = Buffer.alloc(0);
function zeroes(n: number): Buffer {
  if (zeroBuf.length < n) zeroBuf = Buffer.alloc(n);
  return zeroBuf.subarray(0, n);
}

/** An NbdBackend on top of a block-layer BlockDevice. */
export function blockDeviceBackend(dev: BlockDevice, opts: BlockBackendOptions = {}): NbdBackend {
  const lim = dev.limits;
  const lbs = dev.logicalBlockSize;
  const maxSectors = lim.maxSectors > 0 ? lim.maxSectors : lim.maxHwSectors;
  let maxIoBytes = Math.floor((maxSectors * SECTOR_SIZE) / lbs) * lbs;
  if (maxIoBytes < lbs) maxIoBytes = lbs;
  const dmaMask = lim.dmaAlignment >>> 0;
  const hasWriteZeroes = lim.maxWriteZeroesSectors > 0;
  const nrCpus = Math.max(1, Math.floor(opts.nrCpus ?? 1));

  const submit = (op: ReqOp, offset: number, bufOrLen: Uint8Array | number, flags: number, cpu: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      dev.submit(op, offset, bufOrLen, flags, cpu % nrCpus, (status: BlkStatus) => {
        if (status === BLK_STS.OK) resolve();
        else reject(new BlockError(status, `${dev.name}: ${opName(op)} at ${offset} failed with status ${status}`));
      });
    });

  // The block layer wants data buffers aligned to dmaAlignment+1; socket
  // payloads land at arbitrary offsets, so bounce the rare misaligned one.
  const aligned = (b: Buffer): boolean => (b.byteOffset & dmaMask) === 0;
  const alignedCopy = (b: Buffer): Buffer => {
    const c = Buffer.allocUnsafeSlow(b.length);
    b.copy(c);
    return c;
  };

  return {
    sizeBytes: dev.capacityBytes,
    logicalBlockSize: lbs,
    preferredBlockSize: Math.max(lim.physicalBlockSize, lbs),
    maxIoBytes,
    writeCache: lim.writeCache,
    fua: lim.fua,
    discard: lim.maxDiscardSectors > 0,
    rotational: lim.rotational,
    readOnly: opts.readOnly ?? false,
    nrCpus,

    async read(offset, dst, cpu) {
      if (aligned(dst)) { await submit(REQ_OP.READ, offset, dst, 0, cpu); return; }
      const tmp = Buffer.allocUnsafeSlow(dst.length);
      await submit(REQ_OP.READ, offset, tmp, 0, cpu);
      tmp.copy(dst);
    },
    write(offset, data, fua, cpu) {
      return submit(REQ_OP.WRITE, offset, aligned(data) ? data : alignedCopy(data), fua ? REQ_FLAG.FUA : 0, cpu);
    },
    flush(cpu) {
      return submit(REQ_OP.FLUSH, 0, 0, 0, cpu);
    },
    discardRange(offset, length, cpu) {
      return submit(REQ_OP.DISCARD, offset, length, 0, cpu);
    },
    async writeZeroes(offset, length, noUnmap, fua, cpu) {
      if (hasWriteZeroes) {
        await submit(REQ_OP.WRITE_ZEROES, offset, length, noUnmap ? REQ_FLAG.NOUNMAP : 0, cpu);
        if (fua && lim.writeCache) await submit(REQ_OP.FLUSH, 0, 0, 0, cpu);
        return;
      }
      // No native op: write zero buffers, maxIoBytes at a time, in parallel.
      const parts: Promise<void>[] = [];
      for (let pos = 0; pos < length; pos += maxIoBytes) {
        const n = Math.min(maxIoBytes, length - pos);
        parts.push(submit(REQ_OP.WRITE, offset + pos, zeroes(n), fua ? REQ_FLAG.FUA : 0, cpu));
      }
      const rs = await Promise.allSettled(parts);
      for (const r of rs) if (r.status === 'rejected') throw r.reason;
    },
  };
}

function opName(op: ReqOp): string {
  switch (op) {
    case REQ_OP.READ: return 'READ';
    case REQ_OP.WRITE: return 'WRITE';
    case REQ_OP.FLUSH: return 'FLUSH';
    case REQ_OP.DISCARD: return 'DISCARD';
    case REQ_OP.WRITE_ZEROES: return 'WRITE_ZEROES';
    default: return `op ${op}`;
  }
}

/**
 * Open a registered block-layer disk by name (getDisk/openDisk) as an
 * NbdBackend, spreading connections over its tag set's logical CPUs.
 */
export function openBlockBackend(diskName: string, opts: { readOnly?: boolean } = {}): NbdBackend {
  const gd = getDisk(diskName);
  if (!gd) throw new Error(`no block device '${diskName}' (known: ${listDisks().join(', ') || 'none'})`);
  return blockDeviceBackend(openDisk(diskName), { nrCpus: gd.tagSet.nrCpus, readOnly: opts.readOnly ?? false });
}
