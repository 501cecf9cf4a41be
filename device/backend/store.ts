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

/** Split [off, off+len) at STORE_PAGE boundaries and visit every piece, in order. */
export function forEachPage(off: number, len: number, visit: PageVisit): void {
  let done = 0;
  while (done < len) {
    const pos = off + done;
    const pi = Math.floor(pos / STORE_PAGE);
    const po = pos - pi * STORE_PAGE;
    const n = Math.min(STORE_PAGE - po, len - done);
    visit(pi, po, done, n);
    done += n;
  }
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
  constructor(readonly size: number) {}

  // read/write walk pages with plain loops (no closure per call: they run once per I/O command).
  read(off: number, dst: Uint8Array): void {
    const len = dst.length;
    let done = 0;
    while (done < len) {
      const pos = off + done;
      const pi = Math.floor(pos / STORE_PAGE);
      const po = pos - pi * STORE_PAGE;
      const n = Math.min(STORE_PAGE - po, len - done);
      const page = this.pages.get(pi);
      if (page === undefined) dst.fill(0, done, done + n);
      else if (po === 0 && n === STORE_PAGE) dst.set(page, done);
      else dst.set(page.subarray(po, po + n), done);
      done += n;
    }
  }

  write(off: number, src: Uint8Array): void {
    const len = src.length;
    let done = 0;
    while (done < len) {
      const pos = off + done;
      const pi = Math.floor(pos / STORE_PAGE);
      const po = pos - pi * STORE_PAGE;
      const n = Math.min(STORE_PAGE - po, len - done);
      let page = this.pages.get(pi);
      if (page === undefined) {
        page = new Uint8Array(STORE_PAGE);
        this.pages.set(pi, page);
      }
      page.set(n === len ? src : src.subarray(done, done + n), po);
      done += n;
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
