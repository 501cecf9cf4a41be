// Namespace backing stores behind one interface. Reads and writes are
// synchronous and byte-addressed (the namespace layer passes whole blocks);
// only flush is asynchronous (it may fsync). RAM is sparse; file is
// persistent. Neither knows about NVMe.

import { forEachInRange } from '../../src/util/sparse.ts';

/** Granularity of sparse allocation and of the write cache. */
export const STORE_PAGE = 4096;

/**
 * What `forEachPage` reports for each page a byte range touches: the page
 * index, where the piece starts inside the page, where it starts inside the
 * range, and its length.
 */
export type PageVisit = (pageIndex: number, inPage: number, inRange: number, n: number) => void;

/**
 * A reusable cursor over the pieces of [off, off+len) split at STORE_PAGE
 * boundaries, for the per-command read/write loops that must not allocate a
 * closure per call. After `next()` returns true, `pageIndex`, `inPage`,
 * `inRange` and `n` describe the current piece (the same four values
 * `PageVisit` gets). One cursor per owner: it is not re-entrant.
 */
export class PageWalk {
  pageIndex = 0;
  inPage = 0;
  inRange = 0;
  n = 0;
  private off = 0;
  private len = 0;

  /** Begin walking [off, off+len); the first `next()` yields the first piece. */
  start(off: number, len: number): this {
    this.off = off;
    this.len = len;
    this.inRange = 0;
    this.n = 0;
    return this;
  }

  /** Advance to the next piece; false once the range is used up. */
  next(): boolean {
    this.inRange += this.n;
    if (this.inRange >= this.len) return false;
    const pos = this.off + this.inRange;
    this.pageIndex = Math.floor(pos / STORE_PAGE);
    this.inPage = pos - this.pageIndex * STORE_PAGE;
    this.n = Math.min(STORE_PAGE - this.inPage, this.len - this.inRange);
    return true;
  }
}

/** Split [off, off+len) at STORE_PAGE boundaries and visit every piece, in order. */
export function forEachPage(off: number, len: number, visit: PageVisit): void {
  const w = new PageWalk().start(off, len);
  while (w.next()) visit(w.pageIndex, w.inPage, w.inRange, w.n);
}

/**
 * Like `forEachPage`, but only for the pages present in `pages`, so a huge
 * range over a sparse map costs what the map holds. `visit` may delete the
 * page it is given.
 */
export function forEachPresentPage<V>(pages: Map<number, V>, off: number, len: number, visit: (pageIndex: number, page: V, inPage: number, n: number) => void): void {
  if (len <= 0) return;
  const end = off + len;
  forEachInRange(pages, Math.floor(off / STORE_PAGE), Math.floor((end - 1) / STORE_PAGE), (pi, page) => {
    const ps = pi * STORE_PAGE;
    const a = Math.max(off, ps) - ps;
    const b = Math.min(end, ps + STORE_PAGE) - ps;
    visit(pi, page, a, b - a);
  });
}

export interface BlockStore {
  /** 'ram' or 'file' (for query-device). */
  readonly kind: 'ram' | 'file';
  /** Capacity in bytes. */
  readonly size: number;
  /** Copy [off, off+dst.length) into dst. Unwritten/deallocated bytes read as zero. Throws on an I/O error. */
  read(off: number, dst: Uint8Array): void;
  /** Write src at off. Throws on an I/O error. */
  write(off: number, src: Uint8Array): void;
  /** Make [off, off+len) read as zero and release what can be released. */
  deallocate(off: number, len: number): void;
  /** Make everything written so far durable. */
  flush(): Promise<void>;
  /** Bytes actually allocated (RAM pages, or the file's length). */
  allocatedBytes(): number;
  /** Release resources (after a final flush by the caller). */
  close(): void;
}

/** Sparse RAM store: 4 KiB pages in a Map, so untouched capacity costs nothing (a 1 TiB namespace is fine). */
export class RamStore implements BlockStore {
  readonly kind = 'ram' as const;
  private readonly pages = new Map<number, Uint8Array>();
  private readonly walk = new PageWalk();
  constructor(readonly size: number) {}

  // read/write walk pages with a reused cursor (no closure per call: they run once per I/O command).
  read(off: number, dst: Uint8Array): void {
    const w = this.walk.start(off, dst.length);
    while (w.next()) {
      const { inRange: done, n } = w;
      const page = this.pages.get(w.pageIndex);
      if (page === undefined) dst.fill(0, done, done + n);
      else if (n === STORE_PAGE) dst.set(page, done);
      else dst.set(page.subarray(w.inPage, w.inPage + n), done);
    }
  }

  write(off: number, src: Uint8Array): void {
    const w = this.walk.start(off, src.length);
    while (w.next()) {
      const { inRange: done, n } = w;
      let page = this.pages.get(w.pageIndex);
      if (page === undefined) {
        page = new Uint8Array(STORE_PAGE);
        this.pages.set(w.pageIndex, page);
      }
      page.set(n === src.length ? src : src.subarray(done, done + n), w.inPage);
    }
  }

  deallocate(off: number, len: number): void {
    forEachPresentPage(this.pages, off, len, (pi, page, po, n) => {
      if (n === STORE_PAGE) this.pages.delete(pi);
      else page.fill(0, po, po + n);
    });
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }
  allocatedBytes(): number {
    return this.pages.size * STORE_PAGE;
  }
  close(): void {
    this.pages.clear();
  }
}
