// Block-layer failures → NBD errnos (proto.md "Error values").
//
// The block layer rejects with a BlockError carrying a blk_status_t name or
// number and/or a Linux errno. Statuses follow Linux's blk_errors[] table
// (block/blk-core.c), then are narrowed to the handful of errno values NBD
// allows: EPERM, EIO, ENOMEM, EINVAL, ENOSPC, EOVERFLOW, ENOTSUP, ESHUTDOWN.
import { BLK_STS_INFO, isBlkStatus } from '../block/types.ts';
import {
  NBD_EINVAL, NBD_EIO, NBD_ENOMEM, NBD_ENOSPC, NBD_ENOTSUP, NBD_EOVERFLOW, NBD_EPERM, NBD_ESHUTDOWN,
} from './protocol.ts';

/** blk_status_t names (Linux include/linux/blk_types.h, without BLK_STS_) → NBD errno. */
const STATUS_NAME_TO_NBD: Readonly<Record<string, number>> = {
  OK: 0,
  NOTSUPP: NBD_ENOTSUP,           // -EOPNOTSUPP
  TIMEOUT: NBD_EIO,               // -ETIMEDOUT has no NBD value
  NOSPC: NBD_ENOSPC,
  TRANSPORT: NBD_EIO,
  TARGET: NBD_EIO,                // -EREMOTEIO (e.g. NVMe LBA out of range)
  RESV_CONFLICT: NBD_EPERM,       // -EBADE: access denied by a reservation
  NEXUS: NBD_EPERM,
  MEDIUM: NBD_EIO,                // -ENODATA
  PROTECTION: NBD_EIO,            // -EILSEQ
  RESOURCE: NBD_ENOMEM,           // -ENOMEM (only if it escapes the block layer's requeue)
  IOERR: NBD_EIO,
  AGAIN: NBD_EIO,
  DEV_RESOURCE: NBD_EIO,
  ZONE_OPEN_RESOURCE: NBD_EIO,
  ZONE_ACTIVE_RESOURCE: NBD_EOVERFLOW, // -EOVERFLOW in blk_errors[]
  OFFLINE: NBD_ESHUTDOWN,         // -ENODEV: the disk is going away
  DURATION_LIMIT: NBD_EIO,
  INVAL: NBD_EINVAL,
};


/** Linux errno numbers and names → NBD errno. EDQUOT/EFBIG map to ENOSPC as proto.md asks. */
const ERRNO_TO_NBD: Readonly<Record<string, number>> = {
  EPERM: NBD_EPERM, EACCES: NBD_EPERM, EROFS: NBD_EPERM, EBADE: NBD_EPERM,
  EIO: NBD_EIO, ENODATA: NBD_EIO, EILSEQ: NBD_EIO, EREMOTEIO: NBD_EIO, ETIMEDOUT: NBD_EIO, ENOLINK: NBD_EIO,
  ENOMEM: NBD_ENOMEM,
  EINVAL: NBD_EINVAL,
  ENOSPC: NBD_ENOSPC, EDQUOT: NBD_ENOSPC, EFBIG: NBD_ENOSPC,
  EOVERFLOW: NBD_EOVERFLOW,
  EOPNOTSUPP: NBD_ENOTSUP, ENOTSUP: NBD_ENOTSUP,
  ESHUTDOWN: NBD_ESHUTDOWN, ENODEV: NBD_ESHUTDOWN, ENXIO: NBD_ESHUTDOWN,
};
const LINUX_ERRNO_NUMBERS: Readonly<Record<number, string>> = {
  1: 'EPERM', 5: 'EIO', 6: 'ENXIO', 12: 'ENOMEM', 13: 'EACCES', 19: 'ENODEV', 22: 'EINVAL', 27: 'EFBIG',
  28: 'ENOSPC', 30: 'EROFS', 52: 'EBADE', 61: 'ENODATA', 62: 'ETIME', 67: 'ENOLINK', 75: 'EOVERFLOW',
  84: 'EILSEQ', 95: 'EOPNOTSUPP', 108: 'ESHUTDOWN', 110: 'ETIMEDOUT', 121: 'EREMOTEIO', 122: 'EDQUOT',
};

function fromStatus(status: unknown): number | undefined {
  let name: string | undefined;
  // Numbers follow the block layer's BLK_STS table (host/block/types.ts).
  if (isBlkStatus(status)) name = BLK_STS_INFO[status].name.replace(/^BLK_STS_/, '');
  else if (typeof status === 'string') name = status.toUpperCase().replace(/^BLK_STS_/, '');
  if (name === undefined) return undefined;
  return STATUS_NAME_TO_NBD[name];
}

function fromErrno(errno: unknown): number | undefined {
  let name: string | undefined;
  if (typeof errno === 'number' && Number.isInteger(errno)) name = LINUX_ERRNO_NUMBERS[Math.abs(errno)];
  else if (typeof errno === 'string') name = errno.toUpperCase();
  if (name === undefined) return undefined;
  return ERRNO_TO_NBD[name];
}

/**
 * The NBD errno for a rejected backend operation. Looks at `status`
 * (blk_status_t name or number), then `errno` (Linux number, possibly
 * negative, or name), then Node's `code` (e.g. 'ENOSPC'); anything else is EIO.
 * Never returns 0.
 */
export function nbdErrnoFromError(err: unknown): number {
  if (typeof err === 'object' && err !== null) {
    const e = err as { status?: unknown; errno?: unknown; code?: unknown };
    const s = fromStatus(e.status);
    if (s !== undefined && s !== 0) return s;
    const n = fromErrno(e.errno);
    if (n !== undefined) return n;
    const c = fromErrno(e.code);
    if (c !== undefined) return c;
  }
  return NBD_EIO;
}

/** A short human-readable message for a structured error chunk. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message.slice(0, 200);
  return String(err).slice(0, 200);
}
