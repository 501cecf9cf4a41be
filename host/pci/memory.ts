// Host memory of one function: coherent DMA buffers and zero-copy streaming
// mappings, each an IOMMU window announced to the device with dma_map.
//
// Why maps are synchronous (no await on the I/O path): messages take effect
// in the order sent (PROTOCOL.md "Ordering"), so a dma_map sent before a
// doorbell write is installed on the device before the doorbell is seen.
// Waiting for the ok would add a full round trip (~130 µs here) per I/O;
// sending it corked into the same frame as the doorbell costs one message.
// The host IOMMU is authoritative anyway: the device-side table only lets a
// correct device fail a command early.
//
// Measured (edu daemon over ws loopback, 2 processes, 64 maps per turn):
// an acknowledged map+unmap pair costs ~15 µs of wall time per buffer (four
// messages through two processes); copying 4 KiB into a pre-mapped slot costs
// ~0.1 µs. So the hot path should use `createPool` (bounce slots, swiotlb
// style: no message per I/O) for transfers up to a few pages, and zero-copy
// `mapStreaming` for large or long-lived buffers where the copy would cost
// more than the round trip. Both are offered; the driver picks per request.
//
// Unmap removes the host window at once (later device accesses are blocked
// and logged), but the IOVA is quarantined until the device acknowledged the
// dma_unmap, so a stale write can never land in a buffer that reuses it.
import type { Logger } from '../../src/util/log.ts';
import {
  PAGE_SIZE, type DmaBuffer, type DmaDirection, type DmaMapping, type DmaPool, type DmaSlot, type HostMemory, type IommuFault,
  type MapOptions, type PciStats, type PoolOptions,
} from './types.ts';
import { pciError } from './errors.ts';
import { Iommu, PROT_READ, PROT_WRITE, type IommuWindow, type SlotGate } from './iommu.ts';
import { IovaAllocator } from './iova.ts';

/** What host memory needs from the link: send dma_map / dma_unmap, be told the answer. */
export interface MapLink {
  /** True once the function is gone: nothing is sent any more. */
  readonly gone: boolean;
  sendMap(iova: number, len: number, prot: 1 | 2 | 3, done: (err: Error | undefined) => void): void;
  sendUnmap(iova: number, len: number, done: (err: Error | undefined) => void): void;
}

/** Largest single allocation or mapping (1 GiB): a guard against nonsense sizes. */
export const MAX_MAPPING_BYTES = 1 << 30;

interface Tracked {
  /** Called on removal: forget the window without talking to the device. */
  tearDown(): void;
}

export interface HostMemoryOptions {
  device: string;
  log: Logger;
  stats: PciStats;
  link: MapLink;
  iommu?: Iommu;
  iova?: IovaAllocator;
  faultLogSize?: number;
}

export class HostMemoryImpl implements HostMemory {
  readonly pageSize = PAGE_SIZE;
  readonly iommu: Iommu;
  private readonly iova: IovaAllocator;
  private readonly link: MapLink;
  private readonly log: Logger;
  private readonly stats: PciStats;
  private readonly live = new Set<Tracked>();
  private pendingAcks = 0;
  private waiters: (() => void)[] = [];
  private torn = false;

  constructor(opts: HostMemoryOptions) {
    this.link = opts.link;
    this.log = opts.log;
    this.stats = opts.stats;
    this.iova = opts.iova ?? new IovaAllocator();
    this.iommu = opts.iommu ?? new Iommu({ device: opts.device, log: opts.log, stats: opts.stats, faultLogSize: opts.faultLogSize });
  }

  allocCoherent(bytes: number, opts: { name?: string } = {}, gate?: SlotGate): DmaBuffer {
    checkSize(bytes);
    this.checkAlive();
    const pages = Math.ceil(bytes / PAGE_SIZE);
    const base = this.iova.alloc(bytes);
    const backing = new Uint8Array(pages * PAGE_SIZE);
    const buf = new CoherentBuffer(this, base, bytes, backing, opts.name ?? 'coherent', gate);
    this.iommu.install(buf);
    this.live.add(buf);
    this.announce(base, pages * PAGE_SIZE, 3);
    return buf;
  }

  mapStreaming(data: Uint8Array, dir: DmaDirection, opts: MapOptions = {}): DmaMapping {
    if (!(data instanceof Uint8Array)) throw pciError('invalid', 'mapStreaming needs a Uint8Array');
    checkSize(data.length);
    const prot = protOf(dir);
    this.checkAlive();
    const inPage = opts.pageAligned === true ? 0 : data.byteOffset % PAGE_SIZE;
    const span = inPage + data.length;
    const pages = Math.ceil(span / PAGE_SIZE);
    const base = this.iova.alloc(span);
    const m = new StreamMapping(this, base, pages, prot, data, base + inPage, dir, span);
    this.iommu.install(m);
    this.live.add(m);
    this.announce(base, pages * PAGE_SIZE, prot);
    return m;
  }

  createPool(slotSize: number, count: number, opts: PoolOptions = {}): DmaPool {
    if (!Number.isSafeInteger(count) || count < 1 || count > 1 << 20) throw pciError('invalid', `pool of ${count} slots`);
    checkSize(slotSize);
    const size = Math.ceil(slotSize / PAGE_SIZE) * PAGE_SIZE;
    checkSize(size * count);
    // A gated pool's window is installed with every slot closed, so the device reaches nothing until alloc().
    const gate: SlotGate | undefined = opts.gated === true ? { slotSize: size, prot: new Uint8Array(count) } : undefined;
    return new BouncePool(this.allocCoherent(size * count, { name: opts.name ?? 'pool' }, gate), size, count, gate);
  }

  openMappings(): number {
    return this.live.size;
  }

  settled(): Promise<void> {
    if (this.pendingAcks === 0 || this.link.gone) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  faults(): readonly IommuFault[] {
    return this.iommu.faults();
  }

  /**
   * Removal: every window goes at once, without telling the (absent) device;
   * handles become dead (their unmap/free turn into no-ops). Returns how many
   * windows were torn down.
   */
  tearDown(): number {
    this.torn = true;
    const n = this.live.size;
    for (const t of this.live) t.tearDown();
    this.live.clear();
    this.iommu.clear();
    this.wakeWaiters();
    return n;
  }

  // --- used by the handles -------------------------------------------------

  /** @internal Remove a window and tell the device; the IOVA returns after the ack. */
  release(h: Tracked & IommuWindow, allocBytes: number): void {
    this.iommu.unmap(h);
    this.live.delete(h);
    this.stats.unmaps++;
    const len = h.pages * PAGE_SIZE;
    if (this.link.gone || this.torn) {
      this.iova.release(h.base, allocBytes);
      return;
    }
    this.pendingAcks++;
    this.link.sendUnmap(h.base, len, (err) => {
      if (err !== undefined && !this.link.gone) {
        // The device refused: it may still think the window exists, so never reuse the IOVA.
        this.stats.mapErrors++;
        this.log.error({ iova: h.base, len, err: err.message }, 'dma_unmap refused by the device; IOVA retired');
      } else {
        this.iova.release(h.base, allocBytes);
      }
      this.ackDone();
    });
  }

  private announce(iova: number, len: number, prot: 1 | 2 | 3): void {
    this.stats.maps++;
    this.pendingAcks++;
    this.link.sendMap(iova, len, prot, (err) => {
      if (err !== undefined && !this.link.gone) {
        this.stats.mapErrors++;
        this.log.error({ iova, len, prot, err: err.message }, 'dma_map refused by the device');
      }
      this.ackDone();
    });
  }

  private ackDone(): void {
    this.pendingAcks--;
    if (this.pendingAcks === 0) this.wakeWaiters();
  }

  private wakeWaiters(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private checkAlive(): void {
    if (this.torn || this.link.gone) throw pciError('gone', 'the device is gone: no DMA mappings');
  }
}

function checkSize(bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes > MAX_MAPPING_BYTES) {
    throw pciError('invalid', `DMA size ${bytes} must be an integer in 1..${MAX_MAPPING_BYTES}`);
  }
}

function protOf(dir: DmaDirection): 1 | 2 | 3 {
  switch (dir) {
    case 'to-device': return PROT_READ;       // the device reads host memory
    case 'from-device': return PROT_WRITE;    // the device writes host memory
    case 'bidirectional': return 3;
    default: throw pciError('invalid', `unknown DMA direction ${String(dir)}`);
  }
}

/** A streaming mapping. It is its own IOMMU window (one object per map on the hot path). */
class StreamMapping implements DmaMapping, IommuWindow, Tracked {
  readonly tag: string;
  private state: 'mapped' | 'unmapped' | 'torn' = 'mapped';
  constructor(
    private readonly owner: HostMemoryImpl,
    readonly base: number,
    readonly pages: number,
    readonly prot: number,
    readonly backing: Uint8Array,
    readonly dataIova: number,
    readonly dir: DmaDirection,
    private readonly allocBytes: number,
  ) {
    this.tag = `stream:${dir}`;
  }
  get iova(): number {
    return this.dataIova;
  }
  get len(): number {
    return this.backing.length;
  }
  get mapped(): boolean {
    return this.state === 'mapped';
  }
  unmap(): void {
    if (this.state === 'torn') return;
    if (this.state === 'unmapped') throw pciError('double_unmap', `streaming mapping at 0x${this.dataIova.toString(16)} is already unmapped`);
    this.state = 'unmapped';
    this.owner.release(this, this.allocBytes);
  }
  tearDown(): void {
    if (this.state === 'mapped') this.state = 'torn';
  }
}

/**
 * A coherent buffer: page-aligned host memory mapped read+write.
 * INVARIANT: backing.length = pages * PAGE_SIZE >= size; the accessors only
 * reach [0, size).
 */
class CoherentBuffer implements DmaBuffer, IommuWindow, Tracked {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly pages: number;
  readonly prot = 3;
  readonly tag: string;
  private state: 'mapped' | 'freed' | 'torn' = 'mapped';
  constructor(
    private readonly owner: HostMemoryImpl,
    readonly base: number,
    readonly size: number,
    readonly backing: Uint8Array,
    name: string,
    /** Host-side per-slot permissions (gated pools only). */
    readonly gate?: SlotGate,
  ) {
    this.pages = backing.length / PAGE_SIZE;
    this.bytes = backing.subarray(0, size);
    this.view = new DataView(backing.buffer, backing.byteOffset, size);
    this.tag = `coherent:${name}`;
  }
  get iova(): number {
    return this.base;
  }
  get dataIova(): number {
    return this.base;
  }
  get freed(): boolean {
    return this.state !== 'mapped';
  }
  free(): void {
    if (this.state === 'torn') {
      this.state = 'freed';
      return;
    }
    if (this.state === 'freed') throw pciError('double_unmap', `coherent buffer ${this.tag} at 0x${this.base.toString(16)} is already freed`);
    this.state = 'freed';
    this.owner.release(this, this.size);
  }
  tearDown(): void {
    if (this.state === 'mapped') this.state = 'torn';
  }

  private at(off: number, width: number): number {
    if (this.state === 'freed') throw pciError('double_unmap', `access to freed buffer ${this.tag}`);
    if (!Number.isInteger(off) || off < 0 || off + width > this.size) {
      throw pciError('bounds', `${this.tag}: access of ${width} bytes at ${off} outside 0..${this.size}`);
    }
    return off;
  }
  readU8(off: number): number { return this.view.getUint8(this.at(off, 1)); }
  readU16(off: number): number { return this.view.getUint16(this.at(off, 2), true); }
  readU32(off: number): number { return this.view.getUint32(this.at(off, 4), true); }
  readU64(off: number): bigint { return this.view.getBigUint64(this.at(off, 8), true); }
  writeU8(off: number, v: number): void { this.view.setUint8(this.at(off, 1), v); }
  writeU16(off: number, v: number): void { this.view.setUint16(this.at(off, 2), v, true); }
  writeU32(off: number, v: number): void { this.view.setUint32(this.at(off, 4), v >>> 0, true); }
  writeU64(off: number, v: bigint | number): void {
    const o = this.at(off, 8);
    if (typeof v === 'bigint') {
      this.view.setBigUint64(o, BigInt.asUintN(64, v), true);
      return;
    }
    // Numbers (PRP entries, IOVAs) as two dwords: no BigInt allocated on the I/O path.
    const n = checkU64Number(v);
    this.view.setUint32(o, n >>> 0, true);
    this.view.setUint32(o + 4, Math.floor(n / 0x1_0000_0000), true);
  }
  readBytes(off: number, len: number): Uint8Array {
    return this.bytes.slice(this.at(off, len), off + len);
  }
  writeBytes(off: number, data: Uint8Array): void {
    this.bytes.set(data, this.at(off, data.length));
  }
  fill(value: number, off = 0, len = this.size - off): void {
    this.at(off, len);
    this.bytes.fill(value, off, off + len);
  }
}

class PoolSlot implements DmaSlot {
  inUse = false;
  constructor(
    private readonly pool: BouncePool,
    readonly index: number,
    readonly iova: number,
    readonly bytes: Uint8Array,
  ) {}
  release(): void {
    if (!this.inUse) throw pciError('double_unmap', `pool slot ${this.index} released twice`);
    this.inUse = false;
    this.pool.put(this.index);
  }
}

/**
 * INVARIANT: the ring `freeList[head .. head + count)` (mod slots) holds
 * exactly the indices of slots not in use. FIFO, so a released slot is handed
 * out again as late as possible (a stale device access after its request
 * ended finds it closed, or at worst a much later request).
 * Gated: `gate.prot[i]` is non-zero exactly while slot i is in use.
 */
class BouncePool implements DmaPool {
  private readonly all: PoolSlot[] = [];
  private readonly freeList: Int32Array;
  private head = 0;
  private count: number;
  constructor(
    private readonly buf: DmaBuffer,
    readonly slotSize: number,
    readonly slots: number,
    private readonly gate: SlotGate | undefined,
  ) {
    this.freeList = new Int32Array(slots);
    for (let i = 0; i < slots; i++) {
      this.all.push(new PoolSlot(this, i, buf.iova + i * slotSize, buf.bytes.subarray(i * slotSize, (i + 1) * slotSize)));
      this.freeList[i] = i; // hand out slot 0 first
    }
    this.count = slots;
  }
  get gated(): boolean {
    return this.gate !== undefined;
  }
  get available(): number {
    return this.count;
  }
  alloc(dir: DmaDirection = 'bidirectional'): DmaSlot | undefined {
    if (this.count === 0 || this.buf.freed) return undefined;
    const idx = this.freeList[this.head] ?? 0;
    const s = this.all[idx];
    if (s === undefined) return undefined;
    if (this.gate !== undefined) this.gate.prot[idx] = protOf(dir); // open the slot: a local byte, no message
    if (++this.head === this.slots) this.head = 0;
    this.count--;
    s.inUse = true;
    return s;
  }
  /** @internal */
  put(index: number): void {
    if (this.gate !== undefined) this.gate.prot[index] = 0; // closed before anything can reuse it
    let tail = this.head + this.count;
    if (tail >= this.slots) tail -= this.slots;
    this.freeList[tail] = index;
    this.count++;
  }
  destroy(force = false): void {
    if (!force && this.count !== this.slots) throw pciError('invalid', `pool destroyed with ${this.slots - this.count} slots in use`);
    if (this.gate !== undefined) this.gate.prot.fill(0);
    if (!this.buf.freed) this.buf.free();
  }
}

function checkU64Number(v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw pciError('invalid', `${v} is not an unsigned integer below 2^53`);
  return v;
}
