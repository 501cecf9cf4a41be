// A namespace's data: a BlockStore, the volatile write cache in front of it,
// and the Write Uncorrectable marks (NVMe 1.4 §6.16: marked blocks fail reads
// with Unrecovered Read Error until they are written again). Block-addressed;
// range checks are the controller's job (it answers LBA Out of Range), but
// every method also guards its own bounds with a RangeError.
import { RamStore, type BlockStore } from './store.ts';
import { FileStore } from './file-store.ts';
import { WriteCache } from './write-cache.ts';

/** Thrown by read() when a block in the range was marked uncorrectable. */
export class UncorrectableError extends Error {
  override readonly name = 'UncorrectableError';
  constructor(readonly lba: number) {
    super(`LBA ${lba} is marked uncorrectable`);
  }
}

export interface NamespaceDataOptions {
  nsid: number;
  /** Capacity in bytes (a multiple of the block size). */
  sizeBytes: number;
  /** 512 or 4096. */
  blockSize: number;
  /** Backing file; absent = sparse RAM. */
  file?: string;
  /** Volatile write cache enabled at start (Feature 06h can change it). */
  writeCache?: boolean;
}

export class NamespaceData {
  readonly nsid: number;
  readonly sizeBytes: number;
  readonly store: BlockStore;
  readonly cache: WriteCache;
  private lbads: number;
  /** LBAs marked by Write Uncorrectable. */
  private readonly uncorrectable = new Set<number>();

  constructor(o: NamespaceDataOptions) {
    this.nsid = o.nsid;
    this.sizeBytes = o.sizeBytes;
    this.lbads = Math.log2(o.blockSize);
    if (!Number.isInteger(this.lbads)) throw new RangeError(`block size ${o.blockSize} is not a power of two`);
    this.store = o.file === undefined ? new RamStore(o.sizeBytes) : new FileStore(o.file, o.sizeBytes);
    this.cache = new WriteCache(this.store, o.writeCache ?? true);
  }

  get blockSize(): number {
    return 1 << this.lbads;
  }
  get blockShift(): number {
    return this.lbads;
  }
  /** Namespace size in blocks (NSZE). */
  get nsze(): number {
    return Math.floor(this.sizeBytes / this.blockSize);
  }
  get uncorrectableCount(): number {
    return this.uncorrectable.size;
  }

  private check(slba: number, nlb: number): void {
    if (!(slba >= 0 && nlb >= 0 && slba + nlb <= this.nsze)) throw new RangeError(`ns ${this.nsid}: LBA range ${slba}+${nlb} beyond ${this.nsze}`);
  }

  /** First marked LBA in [slba, slba+nlb), or -1. */
  firstUncorrectable(slba: number, nlb: number): number {
    if (this.uncorrectable.size === 0) return -1;
    if (nlb < this.uncorrectable.size) {
      for (let l = slba; l < slba + nlb; l++) if (this.uncorrectable.has(l)) return l;
      return -1;
    }
    let first = -1;
    for (const l of this.uncorrectable) if (l >= slba && l < slba + nlb && (first < 0 || l < first)) first = l;
    return first;
  }

  /** Read blocks into dst (length nlb·blockSize). Throws UncorrectableError or the store's I/O error. */
  read(slba: number, nlb: number, dst: Uint8Array): void {
    this.check(slba, nlb);
    const bad = this.firstUncorrectable(slba, nlb);
    if (bad >= 0) throw new UncorrectableError(bad);
    this.cache.read(slba * this.blockSize, dst.subarray(0, nlb * this.blockSize));
  }

  /** Write blocks; FUA writes through to the store. Clears uncorrectable marks. */
  write(slba: number, nlb: number, src: Uint8Array, fua = false): void {
    this.check(slba, nlb);
    this.cache.write(slba * this.blockSize, src.subarray(0, nlb * this.blockSize), fua);
    this.clearMarks(slba, nlb);
  }

  /** Write Zeroes: deallocation reads back as zeroes (DLFEAT=001b), so both paths deallocate. */
  writeZeroes(slba: number, nlb: number, fua = false): void {
    this.check(slba, nlb);
    this.cache.deallocate(slba * this.blockSize, nlb * this.blockSize);
    if (fua) this.cache.writeBackRange(slba * this.blockSize, nlb * this.blockSize);
    this.clearMarks(slba, nlb);
  }

  /** DSM deallocate. */
  deallocate(slba: number, nlb: number): void {
    this.check(slba, nlb);
    this.cache.deallocate(slba * this.blockSize, nlb * this.blockSize);
    this.clearMarks(slba, nlb);
  }

  /** Write Uncorrectable: mark blocks so reads fail until rewritten. */
  markUncorrectable(slba: number, nlb: number): void {
    this.check(slba, nlb);
    for (let l = slba; l < slba + nlb; l++) this.uncorrectable.add(l);
  }

  flush(): Promise<void> {
    return this.cache.flush();
  }

  /** Lose unflushed writes (power-loss fixture). Returns pages lost. */
  dropVolatile(): number {
    return this.cache.dropVolatile();
  }

  /** Format NVM: new block size, all data deallocated, marks cleared. */
  format(blockSize: number): void {
    const lbads = Math.log2(blockSize);
    if (!Number.isInteger(lbads)) throw new RangeError(`block size ${blockSize} is not a power of two`);
    this.cache.dropVolatile();
    this.store.deallocate(0, this.sizeBytes);
    this.uncorrectable.clear();
    this.lbads = lbads;
  }

  close(): void {
    this.store.close();
  }

  private clearMarks(slba: number, nlb: number): void {
    if (this.uncorrectable.size === 0) return;
    if (nlb <= this.uncorrectable.size) for (let l = slba; l < slba + nlb; l++) this.uncorrectable.delete(l);
    else for (const l of [...this.uncorrectable]) if (l >= slba && l < slba + nlb) this.uncorrectable.delete(l);
  }
}
