// One exported disk: what the handshake advertises (size, transmission flags,
// block-size constraints) and how NBD byte ranges become backend I/O.
//
// Alignment policy (documented choice, proto.md "Block size constraints"):
// - We advertise minimum = the disk's logical block size, preferred = the
//   disk's preferred I/O size, maximum = 32 MiB (NBD's default payload cap;
//   larger requests are split before they reach the disk).
// - A client that asked for NBD_INFO_BLOCK_SIZE in NBD_OPT_GO has promised to
//   honour those constraints: an unaligned request from it is answered EINVAL.
// - A client that did not (NBD_OPT_EXPORT_NAME, or GO without the info
//   request, e.g. the Linux kernel client with 512-byte blocks on a 4 KiB
//   disk) gets byte-granular I/O: unaligned reads read the enclosing blocks,
//   unaligned writes do read-modify-write of the partial head/tail blocks
//   under a per-export block lock so two non-overlapping sub-block writes
//   never lose each other's bytes. This is what qemu-nbd does for GO clients.
import type { BlockExtent, NbdBackend } from './backend.ts';
import {
  NBD_FLAG_HAS_FLAGS, NBD_FLAG_READ_ONLY, NBD_FLAG_SEND_FLUSH, NBD_FLAG_SEND_FUA, NBD_FLAG_ROTATIONAL,
  NBD_FLAG_SEND_TRIM, NBD_FLAG_SEND_WRITE_ZEROES, NBD_FLAG_SEND_DF, NBD_FLAG_CAN_MULTI_CONN, NBD_DEFAULT_MAX_PAYLOAD, NBD_STATE_ZERO, NBD_EIO,
} from './protocol.ts';

export interface NbdExportOptions {
  /** Export name clients ask for (≤ 4096 UTF-8 bytes). */
  name: string;
  /** The disk. */
  backend: NbdBackend;
  /** Refuse writes (advertises NBD_FLAG_READ_ONLY; writes → EPERM). */
  readOnly?: boolean;
  /** Free text shown by `nbdinfo` (NBD_INFO_DESCRIPTION, NBD_REP_SERVER details). */
  description?: string;
  /**
   * Advertise NBD_FLAG_CAN_MULTI_CONN (default true). Safe because every
   * connection reaches the same block-layer disk, whose FLUSH covers all
   * completed writes whatever queue they came in on, and the RMW lock is per
   * export, not per connection.
   */
  multiConn?: boolean;
  /** Largest READ/WRITE payload accepted (default 32 MiB, NBD's default cap). */
  maxPayload?: number;
}

/** Raised by the export for protocol-level rejections (mapped to an NBD errno by the caller). */
export class NbdRequestError extends Error {
  constructor(readonly nbdErrno: number, message: string) { super(message); this.name = 'NbdRequestError'; }
}

function isPow2(n: number): boolean { return n > 0 && (n & (n - 1)) === 0; }

/** Block range [first, last] locked by an in-flight read-modify-write. */
interface LockedRange { first: number; last: number; release: Promise<void> }

/** Parallel chunks in flight for one large TRIM / WRITE_ZEROES. */
const SPLIT_PARALLELISM = 16;

export class NbdExport {
  readonly name: string;
  readonly backend: NbdBackend;
  readonly readOnly: boolean;
  readonly description: string;
  readonly multiConn: boolean;
  readonly minBlock: number;
  readonly preferredBlock: number;
  readonly maxPayload: number;
  /** Set by removeExport: new requests fail with ESHUTDOWN. */
  removed = false;
  private rmwLocks: LockedRange[] = [];

  constructor(opts: NbdExportOptions) {
    const b = opts.backend;
    const nameBytes = Buffer.byteLength(opts.name, 'utf8');
    if (nameBytes > 4096) throw new RangeError(`export name longer than 4096 bytes`);
    if (opts.name.includes('\0')) throw new RangeError('export name must not contain NUL');
    if (!isPow2(b.logicalBlockSize) || b.logicalBlockSize < 512 || b.logicalBlockSize > 65536) {
      throw new RangeError(`disk logical block size ${b.logicalBlockSize} is not a power of two in 512..65536`);
    }
    if (!Number.isSafeInteger(b.sizeBytes) || b.sizeBytes < 0 || b.sizeBytes % b.logicalBlockSize !== 0) {
      throw new RangeError(`disk size ${b.sizeBytes} is not a multiple of its block size ${b.logicalBlockSize}`);
    }
    if (b.maxIoBytes < b.logicalBlockSize || b.maxIoBytes % b.logicalBlockSize !== 0) {
      throw new RangeError(`disk max I/O ${b.maxIoBytes} is not a positive multiple of ${b.logicalBlockSize}`);
    }
    this.name = opts.name;
    this.backend = b;
    this.readOnly = (opts.readOnly ?? false) || b.readOnly;
    this.description = opts.description ?? '';
    this.multiConn = opts.multiConn ?? true;
    this.minBlock = b.logicalBlockSize;
    // "preferred block size": a power of two, at least max(512, minimum).
    let pref = Math.max(b.preferredBlockSize, b.logicalBlockSize, 4096);
    if (!isPow2(pref)) pref = 2 ** Math.ceil(Math.log2(pref));
    const maxPayload = opts.maxPayload ?? NBD_DEFAULT_MAX_PAYLOAD;
    if (maxPayload < pref || maxPayload % this.minBlock !== 0 || maxPayload > 0x7fff_ffff) {
      throw new RangeError(`maxPayload ${maxPayload} must be a multiple of ${this.minBlock} and ≥ ${pref}`);
    }
    this.preferredBlock = pref;
    this.maxPayload = maxPayload;
  }

  get size(): number { return this.backend.sizeBytes; }

  /** Transmission flags for this export ("Transmission flags"). */
  transmissionFlags(structuredReplies: boolean): number {
    let f = NBD_FLAG_HAS_FLAGS;
    if (this.readOnly) f |= NBD_FLAG_READ_ONLY;
    else {
      f |= NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_WRITE_ZEROES;
      if (this.backend.discard) f |= NBD_FLAG_SEND_TRIM;
    }
    // FLUSH only has work to do with a volatile write cache.
    if (this.backend.writeCache) f |= NBD_FLAG_SEND_FLUSH;
    if (this.backend.rotational) f |= NBD_FLAG_ROTATIONAL;
    // Every read goes out as one OFFSET_DATA chunk, so "don't fragment" is always honoured.
    if (structuredReplies) f |= NBD_FLAG_SEND_DF;
    if (this.multiConn) f |= NBD_FLAG_CAN_MULTI_CONN;
    return f;
  }

  isAligned(offset: number, length: number): boolean {
    return offset % this.minBlock === 0 && length % this.minBlock === 0;
  }

  // ── I/O (offset/length already bounds-checked by the connection) ──────────

  /** Read `dst.length` bytes at `offset` (any alignment). */
  async read(offset: number, dst: Buffer, cpu: number): Promise<void> {
    const bs = this.minBlock;
    if (this.isAligned(offset, dst.length)) { await this.readAligned(offset, dst, cpu); return; }
    const start = offset - (offset % bs);
    const end = roundUp(offset + dst.length, bs);
    const tmp = Buffer.allocUnsafe(end - start);
    await this.readAligned(start, tmp, cpu);
    tmp.copy(dst, 0, offset - start, offset - start + dst.length);
  }

  /** Write `data` at `offset` (any alignment; RMW for partial blocks). */
  async write(offset: number, data: Buffer, fua: boolean, cpu: number): Promise<void> {
    if (this.isAligned(offset, data.length)) { await this.writeAligned(offset, data, fua, cpu); return; }
    await this.rmw(offset, data.length, cpu, (buf, at) => { data.copy(buf, at); }, fua);
  }

  async flush(cpu: number): Promise<void> {
    if (!this.backend.writeCache) return; // nothing volatile: every completed write is stable
    await this.backend.flush(cpu);
  }

  /** TRIM is advisory: only whole blocks inside the range are discarded. */
  async trim(offset: number, length: number, fua: boolean, cpu: number): Promise<void> {
    if (!this.backend.discard) return;
    const bs = this.minBlock;
    const start = roundUp(offset, bs);
    const end = offset + length - ((offset + length) % bs);
    if (end > start) {
      await this.splitRun(start, end - start, (o, l) => this.backend.discardRange(o, l, cpu));
    }
    if (fua) await this.flush(cpu);
  }

  async writeZeroes(offset: number, length: number, noHole: boolean, fua: boolean, cpu: number): Promise<void> {
    const bs = this.minBlock;
    const end = offset + length;
    const alignedStart = roundUp(offset, bs);
    const alignedEnd = end - (end % bs);
    const jobs: Promise<void>[] = [];
    if (alignedEnd <= alignedStart) {
      // Entirely inside one or two partial blocks.
      await this.rmw(offset, length, cpu, (buf, at) => { buf.fill(0, at, at + length); }, fua);
      return;
    }
    if (offset < alignedStart) {
      const n = alignedStart - offset;
      jobs.push(this.rmw(offset, n, cpu, (buf, at) => { buf.fill(0, at, at + n); }, fua));
    }
    if (end > alignedEnd) {
      const n = end - alignedEnd;
      jobs.push(this.rmw(alignedEnd, n, cpu, (buf, at) => { buf.fill(0, at, at + n); }, fua));
    }
    jobs.push(this.splitRun(alignedStart, alignedEnd - alignedStart,
      (o, l) => this.backend.writeZeroes(o, l, noHole, fua && this.backend.fua, cpu)));
    await settleAll(jobs);
    if (fua && !this.backend.fua) await this.flush(cpu);
  }

  /**
   * base:allocation extents for NBD_CMD_BLOCK_STATUS, starting at `offset`,
   * covering at least one byte and at most `length` (proto.md lets the reply
   * stop short; the client asks again for the rest). `reqOne`: a single extent.
   *
   * A backend that knows its allocation answers itself (holes and zeroes).
   * The block layer has no such query (no SEEK_HOLE / GET LBA STATUS path), so
   * otherwise the range — at most BLOCK_STATUS_SCAN_BYTES of it — is read and
   * each preferred-size block that reads as zeroes is reported NBD_STATE_ZERO
   * (never HOLE: we cannot tell unallocated from written zeroes); the rest is
   * data (flags 0). Both are true statements per "base:allocation".
   */
  async blockStatus(offset: number, length: number, reqOne: boolean, cpu: number): Promise<BlockExtent[]> {
    const bs = this.minBlock;
    const start = offset - (offset % bs);
    const want = Math.min(roundUp(offset + length, bs), this.size);
    let raw: BlockExtent[];
    if (this.backend.blockStatus) {
      raw = await this.backend.blockStatus(start, want - start, cpu);
    } else {
      const end = Math.min(want, start + BLOCK_STATUS_SCAN_BYTES);
      const buf = Buffer.allocUnsafeSlow(end - start);
      await this.readAligned(start, buf, cpu);
      const grain = Math.max(bs, this.preferredBlock);
      if (zeroBlock.length < grain) zeroBlock = Buffer.alloc(grain);
      raw = [];
      for (let pos = start; pos < end;) {
        const next = Math.min(end, (Math.floor(pos / grain) + 1) * grain);
        const n = next - pos;
        const flags = buf.subarray(pos - start, next - start).equals(zeroBlock.subarray(0, n)) ? NBD_STATE_ZERO : 0;
        const last = raw[raw.length - 1];
        if (last !== undefined && last.flags === flags) last.length += n;
        else raw.push({ length: n, flags });
        pos = next;
      }
    }
    // Re-base on `offset` and clip to the request.
    const out: BlockExtent[] = [];
    let skip = offset - start;
    let left = length;
    for (const e of raw) {
      let n = e.length;
      if (skip > 0) { const k = Math.min(skip, n); skip -= k; n -= k; }
      n = Math.min(n, left);
      if (n <= 0) { if (left <= 0) break; continue; }
      out.push({ length: n, flags: e.flags });
      left -= n;
      if (reqOne) break;
    }
    if (out.length === 0) throw new NbdRequestError(NBD_EIO, 'block status: the disk described no extent');
    return out;
  }

  // ── helpers ───────────────────────────────────────────────────────────────

  private async readAligned(offset: number, dst: Buffer, cpu: number): Promise<void> {
    const max = this.backend.maxIoBytes;
    if (dst.length <= max) { await this.backend.read(offset, dst, cpu); return; }
    const parts: Promise<void>[] = [];
    for (let pos = 0; pos < dst.length; pos += max) {
      parts.push(this.backend.read(offset + pos, dst.subarray(pos, Math.min(pos + max, dst.length)), cpu));
    }
    await settleAll(parts);
  }

  private async writeAligned(offset: number, data: Buffer, fua: boolean, cpu: number): Promise<void> {
    const max = this.backend.maxIoBytes;
    const nativeFua = fua && this.backend.writeCache && this.backend.fua;
    if (data.length <= max) {
      await this.backend.write(offset, data, nativeFua, cpu);
    } else {
      const parts: Promise<void>[] = [];
      for (let pos = 0; pos < data.length; pos += max) {
        parts.push(this.backend.write(offset + pos, data.subarray(pos, Math.min(pos + max, data.length)), nativeFua, cpu));
      }
      await settleAll(parts);
    }
    // FUA emulation for a cached disk without native FUA: write, then flush.
    if (fua && this.backend.writeCache && !this.backend.fua) await this.backend.flush(cpu);
  }

  /**
   * Read-modify-write of the blocks covering [offset, offset+length):
   * read them, let `modify` patch bytes at `at` (offset − first block start),
   * write them back. Serialised against other RMWs on overlapping blocks.
   */
  private async rmw(offset: number, length: number, cpu: number, modify: (buf: Buffer, at: number) => void, fua: boolean): Promise<void> {
    const bs = this.minBlock;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    const unlock = await this.lockBlocks(first, last);
    try {
      const start = first * bs;
      const buf = Buffer.allocUnsafe((last - first + 1) * bs);
      await this.readAligned(start, buf, cpu);
      modify(buf, offset - start);
      await this.writeAligned(start, buf, fua, cpu);
    } finally {
      unlock();
    }
  }

  private async lockBlocks(first: number, last: number): Promise<() => void> {
    for (;;) {
      const clash = this.rmwLocks.find((r) => r.first <= last && first <= r.last);
      if (!clash) break;
      await clash.release;
    }
    let release: () => void = () => undefined;
    const entry: LockedRange = { first, last, release: new Promise<void>((r) => { release = r; }) };
    this.rmwLocks.push(entry);
    return () => {
      const i = this.rmwLocks.indexOf(entry);
      if (i >= 0) this.rmwLocks.splice(i, 1);
      release();
    };
  }

  /** Run `op` over [offset, offset+length) in maxIo-sized pieces, a few at a time. */
  private async splitRun(offset: number, length: number, op: (o: number, l: number) => Promise<void>): Promise<void> {
    // Discard/zeroes carry no payload, so use a larger unit than data I/O.
    // (maxIoBytes is a multiple of the block size, so the unit is aligned.)
    const unit = Math.min(64 * this.backend.maxIoBytes, 1 << 30);
    const pieces: Array<[number, number]> = [];
    for (let pos = 0; pos < length; pos += unit) pieces.push([offset + pos, Math.min(unit, length - pos)]);
    let next = 0;
    let firstError: unknown;
    const worker = async (): Promise<void> => {
      while (next < pieces.length && firstError === undefined) {
        const p = pieces[next++] as [number, number];
        try { await op(p[0], p[1]); } catch (e) { if (firstError === undefined) firstError = e; }
      }
    };
    const workers: Promise<void>[] = [];
    for (let i = 0; i < Math.min(SPLIT_PARALLELISM, pieces.length); i++) workers.push(worker());
    await Promise.all(workers);
    if (firstError !== undefined) throw firstError;
  }
}

function roundUp(n: number, to: number): number { return Math.ceil(n / to) * to; }

/** Wait for every promise (no I/O is left running behind our reply), then throw the first failure. */
async function settleAll(ps: Promise<void>[]): Promise<void> {
  const rs = await Promise.allSettled(ps);
  for (const r of rs) if (r.status === 'rejected') throw r.reason;
}

/** Most bytes one BLOCK_STATUS reads to tell zeroes from data (the reply may cover less than asked). */
export const BLOCK_STATUS_SCAN_BYTES = 4 * 1024 * 1024;
let zeroBlock: Buffer = Buffer.alloc(0);
