// [raw] The host's DMA windows as announced by dma_map / dma_unmap
// (PROTOCOL.md "DMA windows"): an overlapping map is refused with `exists`, an
// unmap must name a window exactly (`bounds`). A DMA must lie wholly inside
// one window with the needed permission. Sorted array + binary search: maps
// are rare, checks are per command.
import type { DmaProtValue } from '../../src/protocol/messages.ts';
import type { DmaWindow, DmaWindows } from './model.ts';

export type MapResult = 'ok' | 'exists' | 'bounds';

export class WindowTable implements DmaWindows {
  private wins: DmaWindow[] = [];

  get count(): number {
    return this.wins.length;
  }

  list(): DmaWindow[] {
    return this.wins.slice();
  }

  clear(): void {
    this.wins = [];
  }

  /** Add a window; `exists` if it overlaps one, `bounds` if empty or past 2^53. */
  map(iova: number, len: number, prot: DmaProtValue): MapResult {
    if (len <= 0 || iova + len > Number.MAX_SAFE_INTEGER) return 'bounds';
    const i = this.lowerBound(iova);
    const prev = this.wins[i - 1];
    const next = this.wins[i];
    if (prev !== undefined && prev.iova + prev.len > iova) return 'exists';
    if (next !== undefined && iova + len > next.iova) return 'exists';
    this.wins.splice(i, 0, { iova, len, prot });
    return 'ok';
  }

  /** Remove the window that is exactly [iova, iova+len); `bounds` otherwise. */
  unmap(iova: number, len: number): MapResult {
    const i = this.lowerBound(iova);
    const w = this.wins[i];
    if (w === undefined || w.iova !== iova || w.len !== len) return 'bounds';
    this.wins.splice(i, 1);
    return 'ok';
  }

  allows(iova: number, len: number, access: 'read' | 'write'): boolean {
    if (!(len > 0) || !(iova >= 0)) return false;
    // The window with the largest start <= iova.
    const i = this.lowerBound(iova + 1) - 1;
    const w = this.wins[i];
    if (w === undefined) return false;
    if (iova + len > w.iova + w.len) return false;
    return (w.prot & (access === 'read' ? 1 : 2)) !== 0;
  }

  /** Index of the first window whose iova >= `iova`. */
  private lowerBound(iova: number): number {
    let lo = 0;
    let hi = this.wins.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const w = this.wins[mid];
      if (w !== undefined && w.iova < iova) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
