// Namespace backing stores behind one interface. Reads and writes are
// synchronous and byte-addressed (the namespace layer passes whole blocks);
// only flush is asynchronous (it may fsync). RAM is sparse; file is
// persistent. Neither knows about NVMe.

/** Granularity of sparse allocation and of the write cache. */
export const STORE_PAGE = 4096;

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

  read(off: number, dst: Uint8Array): void {
    let done = 0;
    while (done < dst.length) {
      const pos = off + done;
      const pi = Math.floor(pos / STORE_PAGE);
      const po = pos - pi * STORE_PAGE;
      const n = Math.min(STORE_PAGE - po, dst.length - done);
      const page = this.pages.get(pi);
      if (page === undefined) dst.fill(0, done, done + n);
      else dst.set(page.subarray(po, po + n), done);
      done += n;
    }
  }

  write(off: number, src: Uint8Array): void {
    let done = 0;
    while (done < src.length) {
      const pos = off + done;
      const pi = Math.floor(pos / STORE_PAGE);
      const po = pos - pi * STORE_PAGE;
      const n = Math.min(STORE_PAGE - po, src.length - done);
      let page = this.pages.get(pi);
      if (page === undefined) {
        page = new Uint8Array(STORE_PAGE);
        this.pages.set(pi, page);
      }
      page.set(src.subarray(done, done + n), po);
      done += n;
    }
  }

  deallocate(off: number, len: number): void {
    const end = off + len;
    // Iterate over whichever is smaller: the range's pages or the allocated pages.
    const first = Math.floor(off / STORE_PAGE);
    const last = Math.floor((end - 1) / STORE_PAGE);
    const visit = (pi: number, page: Uint8Array): void => {
      const ps = pi * STORE_PAGE;
      const a = Math.max(off, ps) - ps;
      const b = Math.min(end, ps + STORE_PAGE) - ps;
      if (a === 0 && b === STORE_PAGE) this.pages.delete(pi);
      else page.fill(0, a, b);
    };
    if (last - first + 1 <= this.pages.size) {
      for (let pi = first; pi <= last; pi++) {
        const page = this.pages.get(pi);
        if (page !== undefined) visit(pi, page);
      }
    } else {
      for (const [pi, page] of [...this.pages]) if (pi >= first && pi <= last) visit(pi, page);
    }
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
