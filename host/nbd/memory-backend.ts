// An in-memory NbdBackend: a reference disk for unit tests of the NBD layer
// alone (no block layer), with knobs for every limit the server reads and a
// hook to fail chosen operations. Completes on a later macrotask so that
// requests really overlap, like a disk.
import type { BlockExtent, NbdBackend } from './backend.ts';
import { NBD_STATE_HOLE, NBD_STATE_ZERO } from './protocol.ts';

export interface MemoryBackendOptions {
  sizeBytes: number;
  logicalBlockSize?: number;
  preferredBlockSize?: number;
  maxIoBytes?: number;
  writeCache?: boolean;
  fua?: boolean;
  discard?: boolean;
  rotational?: boolean;
  readOnly?: boolean;
  nrCpus?: number;
}

export type MemoryOp = 'read' | 'write' | 'flush' | 'discard' | 'writeZeroes' | 'blockStatus';

/** What the fake saw, for assertions. */
export interface MemoryOpRecord { op: MemoryOp; offset: number; length: number; fua: boolean; noUnmap: boolean; cpu: number }

export class MemoryBackend implements NbdBackend {
  readonly sizeBytes: number;
  readonly logicalBlockSize: number;
  readonly preferredBlockSize: number;
  readonly maxIoBytes: number;
  readonly writeCache: boolean;
  readonly fua: boolean;
  readonly discard: boolean;
  readonly rotational: boolean;
  readonly readOnly: boolean;
  readonly nrCpus: number;
  readonly data: Buffer;
  /** Per logical block: 1 once written (or zeroed with NO_HOLE), 0 = a hole (never written, discarded, zeroed). */
  readonly allocated: Uint8Array;
  /** Last `recordLimit` operations (oldest first). */
  readonly log: MemoryOpRecord[] = [];
  recordLimit = 10_000;
  /** Return an error to fail the operation with it (e.g. a BlockError-like `{ status: 3 }`). */
  failHook: ((r: MemoryOpRecord) => unknown) | undefined;
  /** Operations in flight right now and the peak seen. */
  inflight = 0;
  peakInflight = 0;
  /** While set, operations wait for it before completing (to hold requests in flight). */
  hold: Promise<void> | undefined;
  /** Called when an operation arrives (before it completes). */
  onOp: ((r: MemoryOpRecord) => void) | undefined;
  /** Bytes written since the last flush (a volatile cache model). */
  dirtyWrites = 0;

  constructor(o: MemoryBackendOptions) {
    this.logicalBlockSize = o.logicalBlockSize ?? 512;
    this.sizeBytes = o.sizeBytes;
    this.preferredBlockSize = o.preferredBlockSize ?? Math.max(4096, this.logicalBlockSize);
    this.maxIoBytes = o.maxIoBytes ?? 128 * 1024;
    this.writeCache = o.writeCache ?? false;
    this.fua = o.fua ?? false;
    this.discard = o.discard ?? true;
    this.rotational = o.rotational ?? false;
    this.readOnly = o.readOnly ?? false;
    this.nrCpus = o.nrCpus ?? 2;
    this.data = Buffer.alloc(o.sizeBytes);
    this.allocated = new Uint8Array(Math.ceil(o.sizeBytes / this.logicalBlockSize));
  }

  private mark(offset: number, length: number, v: 0 | 1): void {
    this.allocated.fill(v, offset / this.logicalBlockSize, (offset + length) / this.logicalBlockSize);
  }

  /** Extents of allocated data (flags 0) and holes (HOLE|ZERO), like a sparse file's SEEK_HOLE map. */
  blockStatus(offset: number, length: number, cpu: number): Promise<BlockExtent[]> {
    const out: BlockExtent[] = [];
    return this.op({ op: 'blockStatus', offset, length, fua: false, noUnmap: false, cpu }, () => {
      const bs = this.logicalBlockSize;
      for (let b = offset / bs, end = (offset + length) / bs; b < end;) {
        const v = this.allocated[b];
        let e = b + 1;
        while (e < end && this.allocated[e] === v) e++;
        out.push({ length: (e - b) * bs, flags: v === 1 ? 0 : NBD_STATE_HOLE | NBD_STATE_ZERO });
        b = e;
      }
    }).then(() => out);
  }

  private async op(r: MemoryOpRecord, body: () => void): Promise<void> {
    if (r.op !== 'flush') {
      const bs = this.logicalBlockSize;
      if (r.offset % bs !== 0 || r.length % bs !== 0 || r.offset + r.length > this.sizeBytes || r.length === 0) {
        throw Object.assign(new Error(`bad ${r.op} [${r.offset}, +${r.length})`), { status: 19 /* BLK_STS_INVAL */ });
      }
      if ((r.op === 'read' || r.op === 'write') && r.length > this.maxIoBytes) {
        throw Object.assign(new Error(`${r.op} of ${r.length} above maxIoBytes`), { status: 19 });
      }
    }
    this.log.push(r);
    if (this.log.length > this.recordLimit) this.log.shift();
    this.inflight++;
    if (this.inflight > this.peakInflight) this.peakInflight = this.inflight;
    this.onOp?.(r);
    try {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.hold) await this.hold;
      const err = this.failHook?.(r);
      if (err !== undefined) throw err;
      body();
    } finally {
      this.inflight--;
    }
  }

  read(offset: number, dst: Buffer, cpu: number): Promise<void> {
    return this.op({ op: 'read', offset, length: dst.length, fua: false, noUnmap: false, cpu }, () => {
      this.data.copy(dst, 0, offset, offset + dst.length);
    });
  }
  write(offset: number, data: Buffer, fua: boolean, cpu: number): Promise<void> {
    return this.op({ op: 'write', offset, length: data.length, fua, noUnmap: false, cpu }, () => {
      data.copy(this.data, offset);
      this.mark(offset, data.length, 1);
      if (!fua) this.dirtyWrites += data.length;
    });
  }
  flush(cpu: number): Promise<void> {
    return this.op({ op: 'flush', offset: 0, length: 0, fua: false, noUnmap: false, cpu }, () => { this.dirtyWrites = 0; });
  }
  discardRange(offset: number, length: number, cpu: number): Promise<void> {
    return this.op({ op: 'discard', offset, length, fua: false, noUnmap: false, cpu }, () => {
      this.data.fill(0, offset, offset + length);
      this.mark(offset, length, 0);
    });
  }
  writeZeroes(offset: number, length: number, noUnmap: boolean, fua: boolean, cpu: number): Promise<void> {
    return this.op({ op: 'writeZeroes', offset, length, fua, noUnmap, cpu }, () => {
      this.data.fill(0, offset, offset + length);
      this.mark(offset, length, noUnmap ? 1 : 0);
    });
  }
}
