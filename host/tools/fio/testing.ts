// A small in-process disk for tests of the job runner: memory-backed (sparse
// 4 KiB pages), completes inline, on a microtask or on a later event-loop
// turn, keeps /sys/block/<dev>/stat-style counters, and can corrupt reads
// (the "bit-rot" fault: flip one bit at a chosen disk offset).
import { BLK_STS, REQ_OP, type BlkStatus, type DiskStat, type ReqOp, type SubmitCallback } from '../../block/types.ts';
import type { FioHost, FioTarget } from './types.ts';

const PAGE = 4096;

/** 'manual': completions wait until release() (then the disk behaves as 'microtask'). */
export type CompletionMode = 'inline' | 'microtask' | 'immediate' | 'manual';

export interface FakeDiskOptions {
  name?: string;
  capacityBytes?: number;
  logicalBlockSize?: number;
  completion?: CompletionMode;
  /** Clock in ms for tick counters (default performance.now). */
  nowMs?: () => number;
}

export function emptyDiskStat(): DiskStat {
  return {
    readIos: 0, readMerges: 0, readSectors: 0, readTicks: 0, writeIos: 0, writeMerges: 0, writeSectors: 0, writeTicks: 0,
    inFlight: 0, ioTicks: 0, timeInQueue: 0, discardIos: 0, discardMerges: 0, discardSectors: 0, discardTicks: 0,
    flushIos: 0, flushTicks: 0,
  };
}

export class FakeDisk {
  readonly name: string;
  readonly capacityBytes: number;
  readonly logicalBlockSize: number;
  completion: CompletionMode;
  private readonly held: (() => void)[] = [];
  private readonly pages = new Map<number, Uint8Array>();
  private readonly st = emptyDiskStat();
  private readonly nowMs: () => number;
  private busySince = -1;
  /** Disk offsets whose bit 0 is flipped on every read that covers them. */
  readonly bitRot = new Set<number>();
  /** Fail the n-th I/O (1-based) with this status, once. */
  failAt: { n: number; status: BlkStatus } | undefined;
  private ios = 0;
  plugs = 0;
  /** Sees every submit ('S'), completion callback ('C'), plug ('P') and unplug ('U'), in order. */
  trace: ((e: 'S' | 'C' | 'P' | 'U') => void) | undefined;

  constructor(o: FakeDiskOptions = {}) {
    this.name = o.name ?? 'fake0';
    this.capacityBytes = o.capacityBytes ?? 64 * 1024 * 1024;
    this.logicalBlockSize = o.logicalBlockSize ?? 512;
    this.completion = o.completion ?? 'microtask';
    this.nowMs = o.nowMs ?? ((): number => performance.now());
  }

  stat(): DiskStat {
    return { ...this.st };
  }

  /** A FioTarget handle on this disk. */
  open(): FioTarget {
    return {
      name: this.name,
      capacityBytes: this.capacityBytes,
      logicalBlockSize: this.logicalBlockSize,
      submit: (op, offset, buf, flags, cpu, cb) => this.submit(op, offset, buf, flags, cpu, cb),
      plug: () => {
        this.plugs++;
        this.trace?.('P');
      },
      unplug: () => this.trace?.('U'),
      close: () => undefined,
    };
  }

  readBytes(offset: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    this.copyOut(offset, out);
    return out;
  }

  private copyOut(offset: number, buf: Uint8Array): void {
    for (let i = 0; i < buf.length;) {
      const pos = offset + i;
      const pg = Math.floor(pos / PAGE);
      const po = pos % PAGE;
      const n = Math.min(PAGE - po, buf.length - i);
      const p = this.pages.get(pg);
      if (p) buf.set(p.subarray(po, po + n), i);
      else buf.fill(0, i, i + n);
      i += n;
    }
    for (const o of this.bitRot) if (o >= offset && o < offset + buf.length) buf[o - offset] ^= 1;
  }

  private copyIn(offset: number, buf: Uint8Array): void {
    for (let i = 0; i < buf.length;) {
      const pos = offset + i;
      const pg = Math.floor(pos / PAGE);
      const po = pos % PAGE;
      const n = Math.min(PAGE - po, buf.length - i);
      let p = this.pages.get(pg);
      if (!p) {
        p = new Uint8Array(PAGE);
        this.pages.set(pg, p);
      }
      p.set(buf.subarray(i, i + n), po);
      i += n;
    }
  }

  submit(op: ReqOp, offset: number, bufOrLen: Uint8Array | number, _flags: number, _cpu: number, cb: SubmitCallback): void {
    const len = typeof bufOrLen === 'number' ? bufOrLen : bufOrLen.length;
    this.trace?.('S');
    if (op !== REQ_OP.FLUSH && (offset % this.logicalBlockSize !== 0 || len % this.logicalBlockSize !== 0 || offset + len > this.capacityBytes)) {
      cb(BLK_STS.IOERR, 0);
      return;
    }
    const start = this.nowMs();
    if (this.st.inFlight === 0) this.busySince = start;
    this.st.inFlight++;
    this.ios++;
    const fail = this.failAt !== undefined && this.failAt.n === this.ios ? this.failAt.status : BLK_STS.OK;
    const done = (): void => {
      if (fail === BLK_STS.OK) {
        if (op === REQ_OP.READ && typeof bufOrLen !== 'number') this.copyOut(offset, bufOrLen);
        else if (op === REQ_OP.WRITE && typeof bufOrLen !== 'number') this.copyIn(offset, bufOrLen);
        else if (op === REQ_OP.DISCARD) this.copyIn(offset, new Uint8Array(len));
      }
      const now = this.nowMs();
      const ticks = now - start;
      const sectors = len / 512;
      const s = this.st;
      if (op === REQ_OP.READ) { s.readIos++; s.readSectors += sectors; s.readTicks += ticks; }
      else if (op === REQ_OP.WRITE) { s.writeIos++; s.writeSectors += sectors; s.writeTicks += ticks; }
      else if (op === REQ_OP.DISCARD) { s.discardIos++; s.discardSectors += sectors; s.discardTicks += ticks; }
      else if (op === REQ_OP.FLUSH) { s.flushIos++; s.flushTicks += ticks; }
      s.timeInQueue += ticks;
      s.inFlight--;
      if (s.inFlight === 0 && this.busySince >= 0) {
        s.ioTicks += now - this.busySince;
        this.busySince = -1;
      }
      this.trace?.('C');
      cb(fail, 0);
    };
    if (this.completion === 'inline') done();
    else if (this.completion === 'microtask') queueMicrotask(done);
    else if (this.completion === 'manual') this.held.push(done);
    else setImmediate(done);
  }

  /** Number of I/Os held by 'manual' completion. */
  get heldCount(): number {
    return this.held.length;
  }

  /** Completes the `n` oldest held I/Os now, one after the other in this call (an interrupt reaping several CQEs); stays 'manual'. */
  completeHeld(n: number): number {
    const batch = this.held.splice(0, n);
    for (const d of batch) d();
    return batch.length;
  }

  /** Completes every held I/O and switches to 'microtask' completion. */
  release(): void {
    this.completion = 'microtask';
    for (const d of this.held.splice(0)) queueMicrotask(d);
  }
}

/** A FioHost over a set of fake disks. */
export function fakeHost(...disks: FakeDisk[]): FioHost {
  const by = new Map(disks.map((d) => [d.name, d]));
  return {
    open: (n) => by.get(n)?.open(),
    stat: (n) => by.get(n)?.stat(),
    nrCpus: 2,
  };
}
