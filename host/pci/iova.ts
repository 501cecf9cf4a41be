// IOVA allocator: page-granular ranges of the device-visible address space.
//
// Each allocation is followed by one unmapped guard page, so a device that
// runs off the end of a window hits nothing (a DMAR fault) instead of the
// next buffer. Freed ranges sit in quarantine until the device acknowledged
// the dma_unmap (like Linux's deferred IOTLB flush): a dma_write the device
// sent before it saw the unmap must never land in a buffer that reuses the
// IOVA. Released ranges are kept per size class and reused LIFO, so the hot
// path (map → unmap → map of similar sizes) is a push and a pop.
import { PAGE_SHIFT, PAGE_SIZE } from './types.ts';
import { pciError } from './errors.ts';

/** Default IOVA base: above 4 GiB, so 64-bit addressing is exercised like on a real host. */
export const DEFAULT_IOVA_BASE = 0x1_0000_0000;
/** Default IOVA limit: 2^48 (a 4-level IOMMU page table). */
export const DEFAULT_IOVA_LIMIT = 2 ** 48;
/** Sizes up to this many pages are rounded to a power of two for reuse. */
const POW2_CLASS_MAX_PAGES = 256;

export class IovaAllocator {
  private next: number;
  private readonly limit: number;
  /** Released ranges by class (page count incl. guard) → stack of base addresses. */
  private readonly free = new Map<number, number[]>();
  private live = 0;

  constructor(opts: { base?: number; limit?: number } = {}) {
    const base = opts.base ?? DEFAULT_IOVA_BASE;
    const limit = opts.limit ?? DEFAULT_IOVA_LIMIT;
    if (!Number.isSafeInteger(base) || base % PAGE_SIZE !== 0 || base <= 0) throw pciError('invalid', `IOVA base ${base} must be a positive page-aligned integer`);
    if (!Number.isSafeInteger(limit) || limit <= base) throw pciError('invalid', `IOVA limit ${limit} must be above the base`);
    this.next = base;
    this.limit = limit;
  }

  /** Pages a request of `bytes` occupies in IOVA space (the class, guard page included). */
  static classPages(bytes: number): number {
    const pages = Math.max(1, Math.ceil(bytes / PAGE_SIZE));
    const rounded = pages <= POW2_CLASS_MAX_PAGES ? 2 ** Math.ceil(Math.log2(pages)) : pages;
    return rounded + 1; // guard page
  }

  /** Allocate a range for `bytes` bytes; returns its page-aligned base. */
  alloc(bytes: number): number {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw pciError('invalid', `cannot map ${bytes} bytes`);
    const cls = IovaAllocator.classPages(bytes);
    const stack = this.free.get(cls);
    let base: number | undefined = stack === undefined ? undefined : stack.pop();
    if (base === undefined) {
      const end = this.next + cls * PAGE_SIZE;
      if (end > this.limit) throw pciError('no_space', `IOVA space exhausted (${bytes} bytes asked)`);
      base = this.next;
      this.next = end;
    }
    this.live++;
    return base;
  }

  /** Return a range (after the device acknowledged its unmap). `bytes` is what was asked at alloc. */
  release(base: number, bytes: number): void {
    const cls = IovaAllocator.classPages(bytes);
    let stack = this.free.get(cls);
    if (stack === undefined) {
      stack = [];
      this.free.set(cls, stack);
    }
    stack.push(base);
    this.live--;
  }

  /** Ranges allocated and not yet released (quarantined ones included). */
  get allocated(): number {
    return this.live;
  }
}

export function pageOf(iova: number): number {
  return Math.floor(iova / PAGE_SIZE);
}

export { PAGE_SHIFT };
