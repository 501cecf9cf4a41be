// Data pointers for I/O commands: PRP1/PRP2, PRP lists with chaining (NVMe
// 1.4 §4.3), and SGL data block / last segment descriptors (§4.4).
// List pages come from a pool preallocated per hardware queue — one coherent
// buffer carved into `pagesPerTag` pages per tag, set up when the tag set is
// created — so building a command allocates nothing.
import type { DmaBuffer, HostMemory } from '../../pci/index.ts';
import { PRP_ENTRY_SIZE, SGL_DESC_SIZE, MIN_PAGE_SIZE } from '../../../src/spec/index.ts';
import { SGL_TYPE, SGL_SUBTYPE, prpListPagesNeeded, writeSglDesc, type SglDesc } from '../../../src/wire/index.ts';

/** NVMe controller page size the driver uses (CC.MPS = 0). */
export const CTRL_PAGE = MIN_PAGE_SIZE;
const ENTRIES_PER_PAGE = CTRL_PAGE / PRP_ENTRY_SIZE;
export const SGL_PER_PAGE = CTRL_PAGE / SGL_DESC_SIZE;

/** Data segments of one request: IOVA + length, in parallel arrays reused per tag. */
export interface SegmentList {
  iova: number[];
  len: number[];
  count: number;
}

/** What a builder produces for the SQE's DPTR. */
export interface DataPtr {
  prp1: number;
  prp2: number;
  /** Set when an SGL is used (PSDT = 01b). */
  sgl: boolean;
  sgl1: SglDesc;
}

export function newDataPtr(): DataPtr {
  return { prp1: 0, prp2: 0, sgl: false, sgl1: { addr: 0, len: 0, type: 0, subtype: 0 } };
}

/** List pages for every tag of one hardware queue, in one coherent buffer. */
export class PrpPool {
  readonly buf: DmaBuffer;
  constructor(mem: HostMemory, readonly nrTags: number, readonly pagesPerTag: number, name = 'prp-lists') {
    if (nrTags < 1 || pagesPerTag < 1) throw new RangeError(`PrpPool: ${nrTags} tags × ${pagesPerTag} pages`);
    this.buf = mem.allocCoherent(nrTags * pagesPerTag * CTRL_PAGE, { name });
  }
  /** Byte offset in `buf` of list page `k` of `tag`. */
  pageOffset(tag: number, k: number): number {
    if (tag < 0 || tag >= this.nrTags || k < 0 || k >= this.pagesPerTag) throw new RangeError(`PrpPool: page ${k} of tag ${tag}`);
    return (tag * this.pagesPerTag + k) * CTRL_PAGE;
  }
  iova(tag: number, k: number): number { return this.buf.iova + this.pageOffset(tag, k); }
  free(): void { if (!this.buf.freed) this.buf.free(); }
}

/** List pages a tag needs for a transfer of up to `maxBytes` starting anywhere in a page. */
export function listPagesForTransfer(maxBytes: number): number {
  const pages = Math.ceil(maxBytes / CTRL_PAGE) + 1;
  return Math.max(1, prpListPagesNeeded(pages, CTRL_PAGE));
}

/**
 * True when the segments can be described by PRPs: every segment but the
 * first starts on a page boundary and every segment but the last ends on one
 * (§4.3; Linux enforces it with virt_boundary_mask = page size - 1).
 */
export function prpCompatible(s: SegmentList): boolean {
  for (let i = 0; i < s.count; i++) {
    const a = s.iova[i] ?? 0;
    const l = s.len[i] ?? 0;
    if (l <= 0) return false;
    if (i > 0 && a % CTRL_PAGE !== 0) return false;
    if (i < s.count - 1 && (a + l) % CTRL_PAGE !== 0) return false;
  }
  return s.count > 0 && (s.iova[0] ?? 1) % 4 === 0; // PRP1 offset must be dword aligned
}

/** Number of controller pages the segments touch. */
function pagesOf(s: SegmentList): number {
  let n = 0;
  for (let i = 0; i < s.count; i++) {
    const a = s.iova[i] ?? 0;
    const l = s.len[i] ?? 0;
    n += Math.ceil((a % CTRL_PAGE + l) / CTRL_PAGE);
  }
  return n;
}

/**
 * nvme_pci_setup_prps(): fill `out.prp1/prp2`, writing PRP list entries into
 * the tag's list pages when more than two pages are involved; the last entry
 * of a full list page chains to the next one. Returns false when the
 * segments are not PRP-compatible or need more list pages than the tag has.
 */
export function setupPrps(s: SegmentList, pool: PrpPool, tag: number, out: DataPtr): boolean {
  out.sgl = false;
  if (!prpCompatible(s)) return false;
  const total = pagesOf(s);
  out.prp1 = s.iova[0] ?? 0;
  out.prp2 = 0;
  if (total === 1) return true;
  if (total === 2) {
    // The second page: the next page of segment 0, or segment 1's start.
    const a0 = s.iova[0] ?? 0;
    const l0 = s.len[0] ?? 0;
    out.prp2 = Math.ceil((a0 % CTRL_PAGE + l0) / CTRL_PAGE) === 2 ? a0 - (a0 % CTRL_PAGE) + CTRL_PAGE : (s.iova[1] ?? 0);
    return true;
  }
  if (prpListPagesNeeded(total, CTRL_PAGE) > pool.pagesPerTag) return false;
  const buf = pool.buf;
  let k = 0; // list page index
  let e = 0; // entry index in the current list page
  let off = pool.pageOffset(tag, 0);
  let remaining = total - 1; // entries after PRP1
  out.prp2 = pool.iova(tag, 0);
  let first = true;
  for (let i = 0; i < s.count; i++) {
    const a = s.iova[i] ?? 0;
    const l = s.len[i] ?? 0;
    let page = a - (a % CTRL_PAGE);
    const end = a + l;
    for (; page < end; page += CTRL_PAGE) {
      if (first) { first = false; continue; } // covered by PRP1
      if (e === ENTRIES_PER_PAGE - 1 && remaining > 1) {
        // Full list page with more to come: its last entry points to the next list page (§4.3).
        k++;
        buf.writeU64(off + e * PRP_ENTRY_SIZE, pool.iova(tag, k));
        off = pool.pageOffset(tag, k);
        e = 0;
      }
      buf.writeU64(off + e * PRP_ENTRY_SIZE, page);
      e++;
      remaining--;
    }
  }
  return true;
}

/**
 * nvme_pci_setup_sgls(): one segment → a Data Block descriptor in the SQE;
 * several → a Last Segment descriptor pointing at Data Block descriptors in
 * the tag's list page. Returns false when they don't fit in one page.
 */
export function setupSgls(s: SegmentList, pool: PrpPool, tag: number, out: DataPtr): boolean {
  out.sgl = true;
  out.prp1 = out.prp2 = 0;
  const d = out.sgl1;
  if (s.count === 1) {
    d.addr = s.iova[0] ?? 0; d.len = s.len[0] ?? 0; d.type = SGL_TYPE.DATA_BLOCK; d.subtype = SGL_SUBTYPE.ADDRESS;
    return true;
  }
  if (s.count > SGL_PER_PAGE || s.count < 1) return false;
  const base = pool.pageOffset(tag, 0);
  for (let i = 0; i < s.count; i++) {
    d.addr = s.iova[i] ?? 0; d.len = s.len[i] ?? 0; d.type = SGL_TYPE.DATA_BLOCK; d.subtype = SGL_SUBTYPE.ADDRESS;
    writeSglDesc(pool.buf.bytes, base + i * SGL_DESC_SIZE, d);
  }
  d.addr = pool.iova(tag, 0); d.len = s.count * SGL_DESC_SIZE; d.type = SGL_TYPE.LAST_SEGMENT; d.subtype = SGL_SUBTYPE.ADDRESS;
  return true;
}
