// rnull's backing store: null_blk's two page trees (drivers/block/null_blk/
// main.c, `dev->data` and `dev->cache`), each a sparse map of 4 KiB pages with
// a per-sector bitmap. Sectors never written read as zeros, so a multi-TiB
// device costs nothing until written. With `cache_size` > 0 a write-back cache
// sits in front: writes land in the cache tree, which is flushed to the data
// tree when full (null_make_cache_space), on REQ_OP_FLUSH (everything), and
// bypassed by FUA writes (which also drop the cached copy).
//
// Allocation only happens when a page is first written; freed pages go to a
// small pool and are reused, so steady-state I/O allocates nothing.

import { forEachInRange } from '../../../src/util/sparse.ts';

export const SECTOR_SHIFT = 9;
export const SECTOR_SIZE = 1 << SECTOR_SHIFT;
export const PAGE_SHIFT = 12;
export const STORE_PAGE_SIZE = 1 << PAGE_SHIFT;
/** Sectors per page (8). */
export const PAGE_SECTORS = STORE_PAGE_SIZE >> SECTOR_SHIFT;
const PAGE_SECTORS_SHIFT = PAGE_SHIFT - SECTOR_SHIFT;
const SECTOR_MASK = PAGE_SECTORS - 1;
/** Pages flushed per round by null_make_cache_space (FREE_BATCH). */
export const FREE_BATCH = 16;
const MIB = 1024 * 1024;
const POOL_MAX = 4096;

/** Result of a store operation; the driver maps it to a block status. */
export const MemStatus = {
  OK: 0,
  /** A page could not be inserted (null_blk: BLK_STS_NOSPC). */
  NOSPC: 1,
  /** Cache write-back could not allocate (null_blk: -ENOMEM → BLK_STS_RESOURCE). */
  NOMEM: 2,
} as const;
export type MemStatus = (typeof MemStatus)[keyof typeof MemStatus];

/** One 4 KiB page: its data and which of its 8 sectors hold data. */
interface NullbPage {
  idx: number;
  bitmap: number;
  readonly data: Uint8Array;
}

export interface StoreOptions {
  /** Logical block size in bytes (copy granularity, as null_blk). */
  blocksize: number;
  /** Write-back cache size in MiB; 0 = no cache. */
  cacheSizeMiB?: number;
  /**
   * Most pages the store may hold (data + cache); inserting beyond it fails
   * like a failed page allocation in null_blk (→ NOSPC). Default unlimited.
   */
  maxPages?: number;
}

export interface StoreStats {
  dataPages: number;
  cachePages: number;
  /** Bytes held by the cache tree (null_blk's curr_cache). */
  cacheBytes: number;
  /** Pages written back from cache to data so far. */
  flushedPages: number;
}

export class NullbStore {
  readonly blocksize: number;
  readonly cacheBytesMax: number;
  private readonly maxPages: number;
  private readonly data = new Map<number, NullbPage>();
  private readonly cache = new Map<number, NullbPage>();
  private readonly pool: NullbPage[] = [];
  private currCache = 0;
  private flushedPages = 0;

  constructor(opts: StoreOptions) {
    if (!(opts.blocksize >= SECTOR_SIZE && opts.blocksize <= STORE_PAGE_SIZE && (opts.blocksize & (opts.blocksize - 1)) === 0))
      throw new RangeError(`NullbStore: blocksize ${opts.blocksize} must be a power of two in 512..4096`);
    this.blocksize = opts.blocksize;
    this.cacheBytesMax = (opts.cacheSizeMiB ?? 0) * MIB;
    this.maxPages = opts.maxPages ?? Number.POSITIVE_INFINITY;
  }

  /** Whether the write-back cache is in use (NULLB_DEV_FL_CACHE). */
  get cacheActive(): boolean {
    return this.cacheBytesMax > 0;
  }

  stats(): StoreStats {
    return { dataPages: this.data.size, cachePages: this.cache.size, cacheBytes: this.currCache, flushedPages: this.flushedPages };
  }

  // -- page helpers ----------------------------------------------------------

  private allocPage(idx: number): NullbPage | undefined {
    if (this.data.size + this.cache.size >= this.maxPages) return undefined;
    const p = this.pool.pop();
    if (p) {
      p.idx = idx;
      p.bitmap = 0;
      return p;
    }
    return { idx, bitmap: 0, data: new Uint8Array(STORE_PAGE_SIZE) };
  }

  private freePage(p: NullbPage): void {
    if (this.pool.length < POOL_MAX) this.pool.push(p);
  }

  /** __null_lookup_page: a page for writing, or one holding `sector`'s data. */
  private lookupIn(isCache: boolean, sector: number, forWrite: boolean): NullbPage | undefined {
    const p = (isCache ? this.cache : this.data).get(Math.floor(sector / PAGE_SECTORS));
    if (p && (forWrite || (p.bitmap & (1 << (sector & SECTOR_MASK))) !== 0)) return p;
    return undefined;
  }

  /** null_lookup_page: cache first unless ignored. */
  private lookup(sector: number, forWrite: boolean, ignoreCache: boolean): NullbPage | undefined {
    if (!ignoreCache) {
      const p = this.lookupIn(true, sector, forWrite);
      if (p) return p;
    }
    return this.lookupIn(false, sector, forWrite);
  }

  /** null_insert_page: find or create the page in the cache (or data) tree. */
  private insert(sector: number, ignoreCache: boolean): NullbPage | undefined {
    const found = this.lookup(sector, true, ignoreCache);
    // A write into the cache must land in the cache page, even when only the
    // data tree has the page so far.
    if (found && (ignoreCache || this.cache.get(found.idx) === found)) return found;
    const idx = Math.floor(sector / PAGE_SECTORS);
    const p = this.allocPage(idx);
    if (!p) return undefined;
    if (ignoreCache) this.data.set(idx, p);
    else {
      this.cache.set(idx, p);
      this.currCache += STORE_PAGE_SIZE;
    }
    return p;
  }

  /** null_free_sector: clear one block's bits; drop the page when empty. */
  private freeSectors(isCache: boolean, sector: number, nrSectors: number): void {
    const tree = isCache ? this.cache : this.data;
    const idx = Math.floor(sector / PAGE_SECTORS);
    const p = tree.get(idx);
    if (!p) return;
    const first = sector & SECTOR_MASK;
    const mask = ((1 << nrSectors) - 1) << first;
    p.bitmap &= ~mask;
    if (p.bitmap === 0) {
      tree.delete(idx);
      this.freePage(p);
      if (isCache) this.currCache -= STORE_PAGE_SIZE;
    }
  }

  // -- cache write-back ---------------------------------------------------------

  /** null_flush_cache_page: copy a cache page's valid blocks to the data tree. */
  private flushCachePage(c: NullbPage): MemStatus {
    const t = this.insert(c.idx << PAGE_SECTORS_SHIFT, true);
    if (!t) return MemStatus.NOMEM;
    const step = this.blocksize >> SECTOR_SHIFT;
    for (let i = 0; i < PAGE_SECTORS; i += step) {
      if ((c.bitmap & (1 << i)) !== 0) {
        const off = i << SECTOR_SHIFT;
        t.data.set(c.data.subarray(off, off + this.blocksize), off);
        t.bitmap |= ((1 << step) - 1) << i;
      }
    }
    this.cache.delete(c.idx);
    this.freePage(c);
    this.currCache -= STORE_PAGE_SIZE;
    this.flushedPages++;
    return MemStatus.OK;
  }

  /**
   * null_make_cache_space: while the cache cannot take `n` more bytes, write
   * back FREE_BATCH pages at a time. null_blk walks its radix tree from a
   * rotating position; here the oldest cache pages go first.
   */
  private makeCacheSpace(n: number): MemStatus {
    let flushed = 0;
    for (;;) {
      if (this.cacheBytesMax > this.currCache + n || this.currCache === 0) return MemStatus.OK;
      let round = 0;
      for (const c of this.cache.values()) {
        const st = this.flushCachePage(c);
        if (st !== MemStatus.OK) return st;
        if (++round === FREE_BATCH) break;
      }
      flushed += round * STORE_PAGE_SIZE;
      if (n <= flushed) return MemStatus.OK;
    }
  }

  // -- I/O ------------------------------------------------------------------------

  /**
   * copy_to_nullb: write `len` bytes at `sector` from `src[off..]`. Without
   * FUA and with a cache, data lands in the cache; FUA goes to the data tree
   * and drops the cached copy.
   */
  write(sector: number, src: Uint8Array, off: number, len: number, fua: boolean): MemStatus {
    const viaCache = this.cacheBytesMax > 0 && !fua;
    let pos = sector * SECTOR_SIZE;
    let count = 0;
    while (count < len) {
      const inPage = pos & (STORE_PAGE_SIZE - 1);
      const temp = Math.min(this.blocksize, len - count, STORE_PAGE_SIZE - inPage);
      const s = Math.floor(pos / SECTOR_SIZE);
      if (viaCache) this.makeCacheSpace(STORE_PAGE_SIZE);
      const p = this.insert(s, !viaCache);
      if (!p) return MemStatus.NOSPC;
      p.data.set(src.subarray(off + count, off + count + temp), inPage);
      const nsec = Math.max(1, temp >> SECTOR_SHIFT);
      p.bitmap |= ((1 << nsec) - 1) << (s & SECTOR_MASK);
      if (fua && this.cacheBytesMax > 0) this.freeSectors(true, s, nsec);
      count += temp;
      pos += temp;
    }
    return MemStatus.OK;
  }

  /** copy_from_nullb: read `len` bytes at `sector` into `dst[off..]`; holes read as zeros. */
  read(sector: number, dst: Uint8Array, off: number, len: number): void {
    const ignoreCache = this.cacheBytesMax === 0;
    let pos = sector * SECTOR_SIZE;
    let count = 0;
    while (count < len) {
      const inPage = pos & (STORE_PAGE_SIZE - 1);
      const temp = Math.min(this.blocksize, len - count, STORE_PAGE_SIZE - inPage);
      const p = this.lookup(Math.floor(pos / SECTOR_SIZE), false, ignoreCache);
      if (p) dst.set(p.data.subarray(inPage, inPage + temp), off + count);
      else dst.fill(0, off + count, off + count + temp);
      count += temp;
      pos += temp;
    }
  }

  /** null_handle_discard: free the sectors in both trees (also write-zeroes and zone reset). */
  discard(sector: number, nrSectors: number): void {
    const step = this.blocksize >> SECTOR_SHIFT;
    let s = sector;
    let left = nrSectors;
    // A huge range over a sparse store: visit only the pages that exist.
    if (nrSectors / PAGE_SECTORS > 4 * (this.data.size + this.cache.size) + 64) {
      this.discardSparse(sector, nrSectors);
      return;
    }
    while (left > 0) {
      const n = Math.min(left, step, PAGE_SECTORS - (s & SECTOR_MASK));
      this.freeSectors(false, s, n);
      if (this.cacheBytesMax > 0) this.freeSectors(true, s, n);
      s += n;
      left -= n;
    }
  }

  private discardSparse(sector: number, nrSectors: number): void {
    const end = sector + nrSectors;
    const firstIdx = Math.floor(sector / PAGE_SECTORS);
    const lastIdx = Math.floor((end - 1) / PAGE_SECTORS);
    for (const isCache of [false, true]) {
      forEachInRange(isCache ? this.cache : this.data, firstIdx, lastIdx, (idx) => {
        const lo = Math.max(sector, idx * PAGE_SECTORS);
        const hi = Math.min(end, (idx + 1) * PAGE_SECTORS);
        this.freeSectors(isCache, lo, hi - lo);
      });
    }
  }

  /** null_handle_flush: write the whole cache back. */
  flush(): MemStatus {
    if (this.cacheBytesMax === 0) return MemStatus.OK;
    while (this.currCache !== 0) {
      const st = this.makeCacheSpace(this.cacheBytesMax);
      if (st !== MemStatus.OK) return st;
    }
    return MemStatus.OK;
  }

  /** Drop everything (device storage freed on remove). */
  clear(): void {
    this.data.clear();
    this.cache.clear();
    this.currCache = 0;
  }
}
