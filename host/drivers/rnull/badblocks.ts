// Bad-block list for rnull, after null_blk's configfs `badblocks` attribute
// (drivers/block/null_blk/main.c nullb_device_badblocks_store and
// null_handle_badblocks) and the kernel badblocks API (block/badblocks.c):
// ranges of 512-byte sectors; "+a-b" marks a..b (inclusive) bad, "-a-b"
// clears them. A request touching a bad sector fails with BLK_STS_IOERR;
// `badblocks_once` clears the hit range after the first hit and
// `badblocks_partial_io` transfers the sectors before the first bad one,
// aligned down to the block size.

import { NullBlkConfigError } from './config.ts';

/** The result of a check that hit a bad range. */
export interface BadHit {
  firstBad: number;
  badSectors: number;
}

export class BadBlocks {
  /** Sorted, non-overlapping, non-adjacent [start, end) ranges. */
  private starts: number[] = [];
  private ends: number[] = [];
  /** Disabled until the first write of the attribute (badblocks.shift == -1). */
  enabled = false;
  /** Hits so far (reporting). */
  hits = 0;

  get count(): number {
    return this.starts.length;
  }

  /** Index of the first range whose end is > sector. */
  private firstEndAfter(sector: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.ends[mid] ?? 0) > sector) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** badblocks_set: mark [start, start+len) bad, merging neighbours. */
  set(start: number, len: number): void {
    if (len <= 0) return;
    let s = start;
    let e = start + len;
    // Merge every range that overlaps or touches [s, e).
    let i = this.firstEndAfter(s - 1);
    let j = i;
    while (j < this.starts.length && (this.starts[j] ?? 0) <= e) {
      s = Math.min(s, this.starts[j] ?? s);
      e = Math.max(e, this.ends[j] ?? e);
      j++;
    }
    this.starts.splice(i, j - i, s);
    this.ends.splice(i, j - i, e);
  }

  /** badblocks_clear: make [start, start+len) good again, splitting ranges. */
  clear(start: number, len: number): void {
    if (len <= 0) return;
    const e = start + len;
    const i = this.firstEndAfter(start);
    const newS: number[] = [];
    const newE: number[] = [];
    let j = i;
    while (j < this.starts.length && (this.starts[j] ?? 0) < e) {
      const rs = this.starts[j] ?? 0;
      const re = this.ends[j] ?? 0;
      if (rs < start) {
        newS.push(rs);
        newE.push(start);
      }
      if (re > e) {
        newS.push(e);
        newE.push(re);
      }
      j++;
    }
    this.starts.splice(i, j - i, ...newS);
    this.ends.splice(i, j - i, ...newE);
  }

  /**
   * badblocks_check: the first bad range overlapping [sector, sector+nr), or
   * undefined. Allocation-free on a miss.
   */
  check(sector: number, nrSectors: number): BadHit | undefined {
    if (this.starts.length === 0) return undefined;
    const i = this.firstEndAfter(sector);
    if (i >= this.starts.length) return undefined;
    const s = this.starts[i] ?? 0;
    if (s >= sector + nrSectors) return undefined;
    return { firstBad: s, badSectors: (this.ends[i] ?? 0) - s };
  }

  /**
   * null_handle_badblocks: returns undefined if the I/O is clean, otherwise
   * how many sectors may still be transferred (0 unless partial_io).
   */
  handle(sector: number, nrSectors: number, blockSectors: number, once: boolean, partialIo: boolean): number | undefined {
    if (!this.enabled) return undefined;
    const hit = this.check(sector, nrSectors);
    if (!hit) return undefined;
    this.hits++;
    if (once) this.clear(hit.firstBad, hit.badSectors);
    let partial = 0;
    if (partialIo) {
      const firstBad = hit.firstBad - (hit.firstBad % blockSectors);
      if (sector < firstBad) partial = firstBad - sector;
    }
    return partial;
  }

  /**
   * Apply one configfs write: "+a-b" or "-a-b" (inclusive sectors; numbers
   * in kstrtoull base 0). Errors are EINVAL like null_blk.
   */
  store(text: string): void {
    const buf = text.trim();
    const op = buf[0];
    if (op !== '+' && op !== '-') throw new NullBlkConfigError('EINVAL', `badblocks: "${text}" must start with + (add) or - (clear)`);
    const dash = buf.indexOf('-', 1);
    if (dash < 0) throw new NullBlkConfigError('EINVAL', `badblocks: "${text}" must be ${op}start-end`);
    const start = parseU64(buf.slice(1, dash), text);
    const end = parseU64(buf.slice(dash + 1), text);
    if (start > end) throw new NullBlkConfigError('EINVAL', `badblocks: start ${start} is after end ${end}`);
    this.enabled = true;
    if (op === '+') this.set(start, end - start + 1);
    else this.clear(start, end - start + 1);
  }

  /** badblocks_show format: one "start len" line per range. */
  show(): string {
    let out = '';
    for (let i = 0; i < this.starts.length; i++) {
      const s = this.starts[i] ?? 0;
      out += `${s} ${(this.ends[i] ?? 0) - s}\n`;
    }
    return out;
  }
}

function parseU64(s: string, whole: string): number {
  const t = s.trim();
  let v: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(t)) v = parseInt(t.slice(2), 16);
  else if (/^0[0-7]+$/.test(t)) v = parseInt(t, 8);
  else if (/^(0|[1-9][0-9]*)$/.test(t)) v = parseInt(t, 10);
  else throw new NullBlkConfigError('EINVAL', `badblocks: "${whole}": "${s}" is not a sector number`);
  if (!Number.isSafeInteger(v)) throw new NullBlkConfigError('EINVAL', `badblocks: "${whole}": sector out of range`);
  return v;
}
