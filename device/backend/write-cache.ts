// Volatile write cache in front of a BlockStore (NVMe 1.4 §5.21.1.6: with
// the cache enabled, acknowledged writes may be lost on power loss until a
// Flush, an FUA write or a normal shutdown pushes them down). Pages are
// 4 KiB; a page is either data or "deallocated" (reads zero, becomes a store
// deallocate on write-back). `dropVolatile()` is what a power-loss fixture
// calls: everything not yet written back vanishes.
import { PageWalk, STORE_PAGE, forEachPage, forEachPresentPage, type BlockStore } from './store.ts';

/** Write back the oldest pages once this many are dirty (bounds memory). */
export const DEFAULT_CACHE_PAGES = 16384; // 64 MiB

export class WriteCache {
  /** pageIndex → data, or null = deallocated. Insertion order = age (Map order). */
  private readonly dirty = new Map<number, Uint8Array | null>();
  private readonly walk = new PageWalk();
  enabled: boolean;

  constructor(readonly store: BlockStore, enabled = true, private readonly maxPages = DEFAULT_CACHE_PAGES) {
    this.enabled = enabled;
  }

  get size(): number {
    return this.store.size;
  }
  /** Number of dirty pages not yet on the store. */
  get dirtyPages(): number {
    return this.dirty.size;
  }

  read(off: number, dst: Uint8Array): void {
    if (this.dirty.size === 0) {
      this.store.read(off, dst);
      return;
    }
    // A reused cursor (no closure per call): this runs once per Read command.
    const w = this.walk.start(off, dst.length);
    while (w.next()) {
      const { inRange: done, n } = w;
      const page = this.dirty.get(w.pageIndex);
      if (page === undefined) this.store.read(off + done, n === dst.length ? dst : dst.subarray(done, done + n));
      else if (page === null) dst.fill(0, done, done + n);
      else dst.set(n === STORE_PAGE ? page : page.subarray(w.inPage, w.inPage + n), done);
    }
  }

  /** Write through the cache; `fua` (or a disabled cache) writes to the store before returning. */
  write(off: number, src: Uint8Array, fua = false): void {
    if (!this.enabled || fua) {
      this.store.write(off, src);
      if (this.dirty.size > 0) this.forget(off, src.length, src);
      return;
    }
    const w = this.walk.start(off, src.length);
    while (w.next()) {
      const { pageIndex: pi, inRange: done, n } = w;
      let page = this.dirty.get(pi);
      if (page === undefined || page === null) {
        const fresh = new Uint8Array(STORE_PAGE);
        if (page === undefined && n < STORE_PAGE) this.store.read(pi * STORE_PAGE, fresh);
        page = fresh;
      } else {
        this.dirty.delete(pi); // re-insert: now the youngest
      }
      page.set(n === src.length ? src : src.subarray(done, done + n), w.inPage);
      this.dirty.set(pi, page);
    }
    this.trim();
  }

  deallocate(off: number, len: number): void {
    if (!this.enabled) {
      this.store.deallocate(off, len);
      if (this.dirty.size > 0) this.forget(off, len, undefined);
      return;
    }
    const end = off + len;
    const first = Math.floor(off / STORE_PAGE);
    const last = Math.floor((end - 1) / STORE_PAGE);
    if (last - first + 1 > this.maxPages) {
      // Too large to track page by page: deallocate on the store, then drop the cached copies of the range.
      this.store.deallocate(off, len);
      this.forget(off, len, undefined);
      return;
    }
    forEachPage(off, len, (pi, po, _done, n) => {
      const page = this.dirty.get(pi);
      if (n === STORE_PAGE) {
        this.dirty.delete(pi);
        this.dirty.set(pi, null);
      } else if (page === null) {
        // already reads zero
      } else {
        const p = page ?? this.loadPage(pi);
        p.fill(0, po, po + n);
        this.dirty.delete(pi);
        this.dirty.set(pi, p);
      }
    });
    this.trim();
  }

  /** Write every dirty page to the store, then make the store durable. */
  async flush(): Promise<void> {
    this.writeBack(this.dirty.size);
    await this.store.flush();
  }

  /** Write back the dirty pages overlapping [off, off+len) (FUA on a cached deallocation). */
  writeBackRange(off: number, len: number): void {
    forEachPresentPage(this.dirty, off, len, (pi, page) => this.writePage(pi, page));
  }

  private writePage(pi: number, page: Uint8Array | null): void {
    if (page === null) this.store.deallocate(pi * STORE_PAGE, STORE_PAGE);
    else this.store.write(pi * STORE_PAGE, page);
    this.dirty.delete(pi);
  }

  /** Power loss: forget everything not yet written back. Returns the number of pages lost. */
  dropVolatile(): number {
    const n = this.dirty.size;
    this.dirty.clear();
    return n;
  }

  private loadPage(pi: number): Uint8Array {
    const p = new Uint8Array(STORE_PAGE);
    this.store.read(pi * STORE_PAGE, p);
    return p;
  }

  /** After a write-through, make cached copies of the range agree with what was written. */
  private forget(off: number, len: number, src: Uint8Array | undefined): void {
    forEachPresentPage(this.dirty, off, len, (pi, page, po, n) => {
      if (n === STORE_PAGE) {
        this.dirty.delete(pi);
        return;
      }
      const p = page ?? new Uint8Array(STORE_PAGE);
      if (src === undefined) p.fill(0, po, po + n);
      else {
        const from = pi * STORE_PAGE + po - off; // where this piece starts in `src`
        p.set(src.subarray(from, from + n), po);
      }
      this.dirty.set(pi, p);
    });
  }

  private trim(): void {
    if (this.dirty.size > this.maxPages) this.writeBack(this.dirty.size - this.maxPages + (this.maxPages >> 4));
  }

  private writeBack(count: number): void {
    let n = 0;
    for (const [pi, page] of this.dirty) {
      if (n++ >= count) break;
      this.writePage(pi, page);
    }
  }
}
