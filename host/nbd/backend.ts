// What the NBD server needs from a disk. The server is written against this
// small interface, not against the block layer directly, so it can be unit
// tested with an in-memory fake and so the mapping from a block-layer
// `BlockDevice` lives in exactly one place (disk.ts).

/**
 * A disk as the NBD server sees it. Offsets and lengths are in bytes and are
 * always multiples of `logicalBlockSize` when they reach the backend (the
 * server does read-modify-write or rejects unaligned requests first), within
 * `sizeBytes`, and no larger than `maxIoBytes`.
 *
 * Every method resolves on success and rejects on failure; the rejection is
 * mapped to an NBD errno with `nbdErrnoFromError` (errors.ts), which
 * understands the block layer's `BlockError { status, errno }`.
 */
export interface NbdBackend {
  /** Capacity in bytes. */
  readonly sizeBytes: number;
  /** Smallest unit of I/O (the disk's logical block size, a power of two ≥ 512). */
  readonly logicalBlockSize: number;
  /** The disk's preferred I/O size (physical block / optimal I/O); ≥ logicalBlockSize. */
  readonly preferredBlockSize: number;
  /** Largest single request the disk takes (max_hw_sectors × 512); a multiple of logicalBlockSize. */
  readonly maxIoBytes: number;
  /** The disk has a volatile write cache: FLUSH has work to do. */
  readonly writeCache: boolean;
  /** The disk honours forced-unit-access writes natively (else FUA = write + flush). */
  readonly fua: boolean;
  /** The disk supports discard (TRIM). */
  readonly discard: boolean;
  /** Rotational medium (a hint for clients). */
  readonly rotational: boolean;
  /** The disk itself is read-only (independent of the export's read-only flag). */
  readonly readOnly: boolean;

  /** Read `dst.length` bytes at `offset` into `dst`. `cpu` is the logical submission CPU. */
  read(offset: number, dst: Buffer, cpu: number): Promise<void>;
  /** Write `data` at `offset`; with `fua` the data is durable when the promise resolves. */
  write(offset: number, data: Buffer, fua: boolean, cpu: number): Promise<void>;
  /** Make every completed write durable. */
  flush(cpu: number): Promise<void>;
  /** Discard a range (only called when `discard` is true). */
  discardRange(offset: number, length: number, cpu: number): Promise<void>;
  /**
   * Make a range read back as zeroes. `noUnmap`: the blocks must stay allocated
   * (NBD_CMD_FLAG_NO_HOLE). `fua`: durable on resolve.
   */
  writeZeroes(offset: number, length: number, noUnmap: boolean, fua: boolean, cpu: number): Promise<void>;
  /**
   * Optional: what the disk knows about allocation in `[offset, offset+length)`
   * (block-aligned), as extents in order, each with NBD_STATE_HOLE / _ZERO
   * flags (protocol.ts), together covering at least the first block and at most
   * the range. Disks without it (the block layer has no way to ask) are
   * scanned by the export instead: blocks that read as zeroes are reported
   * NBD_STATE_ZERO, never HOLE.
   */
  blockStatus?(offset: number, length: number, cpu: number): Promise<BlockExtent[]>;
  /** Number of logical CPUs (software queues) the disk's block layer offers; ≥ 1. */
  readonly nrCpus: number;
}

/** One base:allocation extent: `length` bytes with NBD_STATE_* `flags`. */
export interface BlockExtent {
  length: number;
  flags: number;
}
