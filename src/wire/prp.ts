// [raw] Physical Region Page helpers (NVMe 1.4 §4.3), shared by the device
// (which walks PRPs) and the host driver (which builds them). Pure functions:
// the DMA that fetches PRP list pages is the caller's.
//
// Rules (§4.3): PRP1 may carry a page offset (dword aligned). Every other
// entry — PRP2 when it is a data pointer, and every PRP list entry — must
// have offset 0. When the transfer needs more than two pages, PRP2 points to
// a PRP list (qword aligned, may start inside a page); when a list page is
// full and more entries remain, its last entry points to the next list page.
import { PRP_ENTRY_SIZE } from '../spec/sizes.ts';
import { put64 } from './le.ts';

export interface Segment {
  addr: number;
  len: number;
}

/** Offset of `addr` inside its page. */
export const pageOffset = (addr: number, pageSize: number): number => addr % pageSize;
export const isPageAligned = (addr: number, pageSize: number): boolean => addr % pageSize === 0;
/** PRP1 offsets must be dword aligned (§4.3: "bits 1:0 shall be cleared to 00b"). */
export const isDwordAligned = (addr: number): boolean => addr % 4 === 0;
/** PRP list pointers must be qword aligned (§4.3). */
export const isQwordAligned = (addr: number): boolean => addr % 8 === 0;

/** Bytes covered by PRP1 for a transfer of `len` bytes. */
export const prpFirstLength = (prp1: number, len: number, pageSize: number): number =>
  Math.min(len, pageSize - pageOffset(prp1, pageSize));

/** Number of PRP entries after PRP1 (0 = PRP1 alone; 1 = PRP2 is a data pointer; >1 = PRP2 is a list). */
export function prpEntriesAfterFirst(prp1: number, len: number, pageSize: number): number {
  const rest = len - prpFirstLength(prp1, len, pageSize);
  return rest <= 0 ? 0 : Math.ceil(rest / pageSize);
}

/** How many entries one PRP list page starting at `listAddr` holds. */
export const prpEntriesInListPage = (listAddr: number, pageSize: number): number =>
  (pageSize - pageOffset(listAddr, pageSize)) / PRP_ENTRY_SIZE;

export interface PrpBuild {
  prp1: number;
  prp2: number;
  /** PRP list pages to write into host memory: address and bytes. Empty when no list is needed. */
  lists: { addr: number; data: Uint8Array }[];
}

/**
 * Host side: PRP1/PRP2 (+ list pages) for a buffer made of `pages`, where
 * pages[0] may have an offset and every later page is page aligned and full
 * (except possibly the last). `listPages` supplies page-aligned addresses for
 * list pages, used in order; throws a RangeError when too few are given.
 */
export function buildPrps(pages: readonly number[], pageSize: number, listPages: readonly number[] = []): PrpBuild {
  if (pages.length === 0) throw new RangeError('buildPrps: no pages');
  const prp1 = pages[0] ?? 0;
  if (pages.length === 1) return { prp1, prp2: 0, lists: [] };
  if (pages.length === 2) return { prp1, prp2: pages[1] ?? 0, lists: [] };
  const per = pageSize / PRP_ENTRY_SIZE;
  const lists: { addr: number; data: Uint8Array }[] = [];
  let i = 1;
  let li = 0;
  while (i < pages.length) {
    const addr = listPages[li];
    if (addr === undefined) throw new RangeError(`buildPrps: need more than ${listPages.length} list pages`);
    li++;
    const data = new Uint8Array(pageSize);
    const remaining = pages.length - i;
    const fits = remaining <= per;
    const n = fits ? remaining : per - 1;
    for (let k = 0; k < n; k++) put64(data, k * PRP_ENTRY_SIZE, pages[i + k] ?? 0);
    i += n;
    if (!fits) {
      const next = listPages[li];
      if (next === undefined) throw new RangeError(`buildPrps: need more than ${listPages.length} list pages`);
      put64(data, (per - 1) * PRP_ENTRY_SIZE, next);
    }
    lists.push({ addr, data: fits ? data.subarray(0, n * PRP_ENTRY_SIZE) : data });
  }
  return { prp1, prp2: listPages[0] ?? 0, lists };
}

/** Number of list pages buildPrps needs for `nPages` data pages. */
export function prpListPagesNeeded(nPages: number, pageSize: number): number {
  if (nPages <= 2) return 0;
  const per = pageSize / PRP_ENTRY_SIZE;
  let entries = nPages - 1;
  let pagesNeeded = 0;
  while (entries > 0) {
    pagesNeeded++;
    if (entries <= per) break;
    entries -= per - 1;
  }
  return pagesNeeded;
}
