// The host's IOMMU: the only path by which a device touches host memory.
//
// Windows are page-granular ranges of IOVA space, each backed by host bytes
// and carrying read/write permission from the device's point of view (as
// `dma_map.prot`: 1 read, 2 write). A device access is allowed only when it
// lies wholly inside one window with the needed permission; anything else is
// refused whole, counted, kept in a fault ring and logged like a DMAR fault
// (device, address, direction). A refused write never changes host memory.
// The device is never trusted: this check runs whatever the device claims to
// have checked itself (PROTOCOL.md "DMA windows").
import type { Logger } from '../../src/util/log.ts';
import { PAGE_SIZE, type IommuFault, type PciStats } from './types.ts';
import { pciError } from './errors.ts';
import { pageOf } from './iova.ts';

/** dma_map.prot bits. */
export const PROT_READ = 1;
export const PROT_WRITE = 2;

/**
 * One window. INVARIANT: `base` is page-aligned, `pages >= 1`, and
 * [dataIova, dataIova + backing.length) ⊆ [base, base + pages * PAGE_SIZE).
 */
export interface IommuWindow {
  readonly base: number;
  readonly pages: number;
  readonly prot: number;
  /** The host bytes the device reaches; may be shorter than the window (page slack). */
  readonly backing: Uint8Array;
  /** IOVA of backing[0]. */
  readonly dataIova: number;
  /** What the window is, for logs ('coherent:asq', 'stream:from-device', …). */
  readonly tag: string;
  /**
   * Fine-grained sub-windows enforced by the host alone (a gated DmaPool):
   * the device-side window stays mapped, but an access is allowed only inside
   * one slot whose `prot` byte grants it. Flipping a byte sends nothing.
   */
  readonly gate?: SlotGate | undefined;
}

/**
 * Per-slot permissions of a gated window: slot `i` covers
 * [dataIova + i * slotSize, dataIova + (i + 1) * slotSize) and is reachable
 * with the PROT_* bits in `prot[i]` (0 = not in use: no access at all).
 */
export interface SlotGate {
  readonly slotSize: number;
  readonly prot: Uint8Array;
}

export interface IommuOptions {
  /** Device name in fault records. */
  device: string;
  log: Logger;
  /** Counters to bump (shared with the function's stats). */
  stats: PciStats;
  /** Fault ring size (default 64). */
  faultLogSize?: number;
  /** At most this many fault log lines per second at warn level; the rest are counted only (default 20). */
  faultLogRate?: number;
}

export type DmaReadResult = { ok: true; data: Uint8Array } | { ok: false; fault: IommuFault };

export class Iommu {
  private readonly byPage = new Map<number, IommuWindow>();
  private readonly windows = new Set<IommuWindow>();
  private readonly ring: IommuFault[] = [];
  private readonly ringSize: number;
  private readonly device: string;
  private readonly log: Logger;
  private readonly stats: PciStats;
  private readonly logRate: number;
  private logWindowStart = 0;
  private logWindowCount = 0;
  private suppressed = 0;

  constructor(opts: IommuOptions) {
    this.device = opts.device;
    this.log = opts.log;
    this.stats = opts.stats;
    this.ringSize = Math.max(1, opts.faultLogSize ?? 64);
    this.logRate = opts.faultLogRate ?? 20;
  }

  /**
   * Install a window. `backing` starts at `dataIova`, which must lie in the
   * window with the whole backing. Throws PciError 'invalid' on a malformed
   * window and 'no_space' on an overlap (the allocator never produces one).
   */
  map(base: number, pages: number, prot: number, backing: Uint8Array, dataIova: number, tag: string): IommuWindow {
    const w: IommuWindow = { base, pages, prot, backing, dataIova, tag };
    this.install(w);
    return w;
  }

  /** Install a window object (a handle may be its own window: one object per mapping). Same checks as `map`. */
  install(w: IommuWindow): void {
    const { base, pages, prot, backing, dataIova } = w;
    if (!Number.isSafeInteger(base) || base < 0 || base % PAGE_SIZE !== 0) throw pciError('invalid', `window base 0x${base.toString(16)} is not page-aligned`);
    if (!Number.isSafeInteger(pages) || pages < 1) throw pciError('invalid', `window of ${pages} pages`);
    if (prot !== 1 && prot !== 2 && prot !== 3) throw pciError('invalid', `window prot ${prot}`);
    const end = base + pages * PAGE_SIZE;
    if (dataIova < base || dataIova + backing.length > end) throw pciError('invalid', 'backing does not fit inside its window');
    const first = pageOf(base);
    for (let p = first; p < first + pages; p++) {
      if (this.byPage.has(p)) throw pciError('no_space', `window 0x${base.toString(16)} overlaps an existing one`);
    }
    for (let p = first; p < first + pages; p++) this.byPage.set(p, w);
    this.windows.add(w);
  }

  /** Remove a window (exactly as mapped). Throws PciError 'double_unmap' when it is not installed. */
  unmap(w: IommuWindow): void {
    if (!this.windows.delete(w)) throw pciError('double_unmap', `window 0x${w.base.toString(16)} is not mapped`);
    const first = pageOf(w.base);
    for (let p = first; p < first + w.pages; p++) this.byPage.delete(p);
  }

  /** Drop every window (surprise removal / detach). Returns how many there were. */
  clear(): number {
    const n = this.windows.size;
    this.windows.clear();
    this.byPage.clear();
    return n;
  }

  get windowCount(): number {
    return this.windows.size;
  }

  /** The window containing `iova`, if any. */
  lookup(iova: number): IommuWindow | undefined {
    return this.byPage.get(pageOf(iova));
  }

  /**
   * A device read of host memory (dma_read). On success returns a copy (the
   * bytes as they are now; page slack reads as zeros).
   */
  read(iova: number, len: number): DmaReadResult {
    const win = this.check(iova, len, PROT_READ, 'read');
    if (!('backing' in win)) return { ok: false, fault: win };
    const out = new Uint8Array(len);
    // SAFETY: check() proved [iova, iova+len) inside this one window, readable;
    // clamping to the backing's span (window INVARIANT: it lies inside the
    // window) copies only mapped bytes, and the rest of `out` is page slack.
    const from = Math.max(iova, win.dataIova);
    const to = Math.min(iova + len, win.dataIova + win.backing.length);
    if (to > from) out.set(win.backing.subarray(from - win.dataIova, to - win.dataIova), from - iova);
    this.stats.dmaReads++;
    this.stats.dmaReadBytes += len;
    return { ok: true, data: out };
  }

  /**
   * As `read`, but when the range is wholly backed (no page slack) the
   * result is a view of host memory instead of a copy — for a caller that
   * copies it at once (the channel encodes an answer when it is sent). Saves
   * an allocation and a copy per device read on the I/O path (SQE fetches,
   * write data, PRP lists).
   */
  readShared(iova: number, len: number): DmaReadResult {
    const win = this.check(iova, len, PROT_READ, 'read');
    if (!('backing' in win)) return { ok: false, fault: win };
    if (iova < win.dataIova || iova + len > win.dataIova + win.backing.length) return this.read(iova, len);
    this.stats.dmaReads++;
    this.stats.dmaReadBytes += len;
    // SAFETY: check() proved the range readable inside this window, and it lies inside the backing.
    return { ok: true, data: win.backing.subarray(iova - win.dataIova, iova - win.dataIova + len) };
  }

  /**
   * A device write of host memory (dma_write). Returns the fault when
   * refused; host memory is then untouched. Bytes aimed at page slack are
   * discarded and counted.
   */
  write(iova: number, data: Uint8Array): IommuFault | undefined {
    const len = data.length;
    const win = this.check(iova, len, PROT_WRITE, 'write');
    if (!('backing' in win)) return win;
    // SAFETY: as in read(): inside one writable window, and the clamp keeps
    // the copy inside the backing, so no host byte outside the mapping changes.
    const from = Math.max(iova, win.dataIova);
    const to = Math.min(iova + len, win.dataIova + win.backing.length);
    // The usual case (no page slack involved) copies without making a view.
    if (from === iova && to === iova + len) win.backing.set(data, iova - win.dataIova);
    else if (to > from) win.backing.set(data.subarray(from - iova, to - iova), from - win.dataIova);
    if (to - from < len) this.stats.slackWrites++;
    this.stats.dmaWrites++;
    this.stats.dmaWriteBytes += len;
    return undefined;
  }

  /**
   * Bus Master Enable as the host last wrote it to the function's command register
   * (kept by the PCI core). While false every device DMA is refused.
   */
  busMaster = true;

  /** Recent faults, oldest first. */
  faults(): readonly IommuFault[] {
    return this.ring.slice();
  }

  /** The window holding all of [iova, iova+len) with permission `need`, or the fault (counted and logged). */
  private check(iova: number, len: number, need: number, dir: 'read' | 'write'): IommuWindow | IommuFault {
    let reason: IommuFault['reason'] | undefined;
    let w: IommuWindow | undefined;
    // PCI 3.0 §6.2.2 (Command bit 2): with Bus Master Enable off the function may not
    // master the bus, so the platform drops its memory requests whatever the windows say.
    if (!this.busMaster) {
      reason = 'bus-master';
    } else if (!Number.isSafeInteger(iova) || iova < 0 || !Number.isSafeInteger(len) || len <= 0) {
      reason = 'size';
    } else {
      w = this.byPage.get(pageOf(iova));
      if (w === undefined) reason = 'unmapped';
      else if (iova + len > w.base + w.pages * PAGE_SIZE) reason = 'span';
      else if ((w.prot & need) === 0) reason = 'perm';
      else if (w.gate !== undefined) reason = gateCheck(w.gate, iova - w.dataIova, len, need);
    }
    if (reason === undefined && w !== undefined) return w;
    return this.fault(dir, iova, len, reason ?? 'unmapped');
  }

  private fault(dir: 'read' | 'write', iova: number, len: number, reason: IommuFault['reason']): IommuFault {
    if (dir === 'read') this.stats.blockedReads++;
    else this.stats.blockedWrites++;
    const f: IommuFault = { device: this.device, dir, iova, len, reason, time: performance.now() };
    if (this.ring.length >= this.ringSize) this.ring.shift();
    this.ring.push(f);
    // Rate-limited like the kernel's DMAR fault printing: a flood is counted, not logged line by line.
    const now = f.time;
    if (now - this.logWindowStart >= 1000) {
      if (this.suppressed > 0) this.log.warn({ device: this.device, suppressed: this.suppressed }, 'DMAR: %d further faults suppressed', this.suppressed);
      this.logWindowStart = now;
      this.logWindowCount = 0;
      this.suppressed = 0;
    }
    if (this.logWindowCount < this.logRate) {
      this.logWindowCount++;
      this.log.warn(
        { device: this.device, dir, iova, len, reason },
        'DMAR: [DMA %s] device %s addr 0x%s len %d: %s', dir === 'read' ? 'Read' : 'Write', this.device, iova.toString(16), len, reasonText(reason),
      );
    } else {
      this.suppressed++;
    }
    return f;
  }
}

/**
 * A gated window: the access must lie in one slot that is in use with the
 * needed permission. An idle slot is refused like an unmapped page (its
 * request is not in flight), a slot-crossing access like one past a window's
 * end — the same faults, counters and logs as separate per-request windows.
 */
function gateCheck(g: SlotGate, rel: number, len: number, need: number): IommuFault['reason'] | undefined {
  if (rel < 0) return 'unmapped';
  const slot = Math.floor(rel / g.slotSize);
  const p = slot < g.prot.length ? (g.prot[slot] ?? 0) : 0;
  if (p === 0) return 'unmapped';
  if (rel + len > (slot + 1) * g.slotSize) return 'span';
  if ((p & need) === 0) return 'perm';
  return undefined;
}

function reasonText(r: IommuFault['reason']): string {
  switch (r) {
    case 'unmapped': return 'no window at this address';
    case 'span': return 'access runs past the end of its window';
    case 'perm': return 'window lacks the needed permission';
    case 'size': return 'invalid address or length';
    case 'bus-master': return 'bus mastering is disabled for the function';
  }
}

/** A zeroed stats record. */
export function emptyStats(): PciStats {
  return {
    regionReads: 0, regionWrites: 0,
    dmaReads: 0, dmaReadBytes: 0, dmaWrites: 0, dmaWriteBytes: 0,
    blockedReads: 0, blockedWrites: 0, slackWrites: 0,
    maps: 0, unmaps: 0, mapErrors: 0,
    irqs: 0, irqsMerged: 0, spuriousIrqs: 0, handlerErrors: 0, completionTimeouts: 0,
    protocolErrors: 0,
  };
}
