// Public types of the host PCI core: what a driver sees of a PCI function
// attached over the wire (registers, MSI-X, host memory behind an IOMMU).
//
// Drivers (host/drivers/*) are written only against these types: they never
// build protocol messages, never do offset arithmetic on host memory except
// through DmaBuffer's bounds-checked accessors, and can only let the device
// touch memory they mapped.
import type { Logger } from '../../src/util/log.ts';
import type { DeviceInfo, RegionName } from '../../src/protocol/messages.ts';
import type { ChannelCounters } from '../../src/protocol/channel.ts';

export type { DeviceInfo, RegionName, Logger };

/** Host page size: the IOMMU's granule and the unit of every IOVA window. */
export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;

// ---------------------------------------------------------------------------
// Attach

export interface AttachOptions {
  /** Bearer token for the daemon (PROTOCOL.md "Transport"). */
  token?: string;
  /** CA certificate(s) (PEM) to verify a `wss://` daemon. */
  ca?: string | Buffer | (string | Buffer)[];
  /** Logger (default: silent). Children are made per function. */
  log?: Logger;
  /** Name used in logs and fault records, e.g. `nvme0` (default `pci<N>`). */
  name?: string;
  /** Largest frame offered in hello (default DEFAULT_MAX_FRAME). */
  maxFrame?: number;
  /** Handshake timeout in ms (default 10 s). */
  connectTimeoutMs?: number;
  /**
   * Set Memory Space Enable + Bus Master Enable during attach (default true).
   * Pass false to do it yourself with `setCommand` (tests of "DMA refused
   * with bus mastering off" do).
   */
  enable?: boolean;
  /** Fault-log ring size: how many recent IOMMU faults `faults()` keeps (default 64). */
  faultLogSize?: number;
  /**
   * PCIe completion timeout: a register/config read the device has not
   * answered after this many ms completes with all-ones (default 10 000).
   */
  completionTimeoutMs?: number;
}

// ---------------------------------------------------------------------------
// Config space

export interface PciIds {
  vendor: number;
  device: number;
  subsystemVendor: number;
  subsystemDevice: number;
  revision: number;
  /** 24-bit class code (base << 16 | sub << 8 | prog-if), e.g. 0x010802 NVMe. */
  classCode: number;
  headerType: number;
}

/** One entry of the capability list (PCI Local Bus 3.0 §6.7). */
export interface PciCapability {
  /** Capability ID (0x01 PM, 0x05 MSI, 0x10 PCI Express, 0x11 MSI-X, …). */
  id: number;
  /** Offset in config space. */
  offset: number;
  /** Short name ('pm', 'msi', 'pcie', 'msix', or 'cap-0xNN'). */
  name: string;
}

/** The MSI-X capability, decoded (PCI Local Bus 3.0 §6.8.2). */
export interface MsixInfo {
  capOffset: number;
  /** Table Size field + 1. */
  tableSize: number;
  tableBar: number;
  tableOffset: number;
  pbaBar: number;
  pbaOffset: number;
}

/** The PCI Express capability, decoded (PCIe Base 4.0 §7.5.3). */
export interface PcieInfo {
  capOffset: number;
  /** Device/Port Type (0 = PCI Express Endpoint). */
  portType: number;
  /** Device Capabilities: Function Level Reset Capability (bit 28). */
  flr: boolean;
  /** Device Capabilities: Max_Payload_Size Supported, in bytes. */
  maxPayloadSupported: number;
}

export interface PmInfo {
  capOffset: number;
  /** PMC version field. */
  version: number;
}

/** A sized BAR (PCI Local Bus 3.0 §6.2.5.1). */
export interface BarInfo {
  index: number;
  region: RegionName;
  /** Size in bytes, found by writing all-ones and reading back. */
  size: number;
  /** Memory (true) or I/O space (false; the wire has no I/O BARs, so always memory). */
  memory: boolean;
  /** 64-bit BAR (consumes the next BAR slot). */
  is64: boolean;
  prefetchable: boolean;
  /** Address the host assigned (it only matters for decode; the wire is region-addressed). */
  address: number;
}

/** Byte-level access to config space. Reads of a gone function resolve to all-ones. */
export interface ConfigSpace {
  read8(off: number): Promise<number>;
  read16(off: number): Promise<number>;
  read32(off: number): Promise<number>;
  /** Posted write (ordered before any later read). */
  write8(off: number, v: number): void;
  write16(off: number, v: number): void;
  write32(off: number, v: number): void;
}

// ---------------------------------------------------------------------------
// Registers

/** Completion callback of a callback-style read: `err` only for a refused access. */
export type Read32Cb = (value: number, err: Error | undefined) => void;
export type Read64Cb = (value: bigint, err: Error | undefined) => void;

/**
 * A memory BAR. Register BARs take naturally aligned 4/8-byte accesses;
 * `readBytes`/`writeBytes` take any size (for memory-like BARs such as a CMB).
 * Writes are posted and corked by the channel: writes issued in one
 * event-loop turn leave as one frame, and take effect (on the device) before
 * any read issued after them is answered.
 *
 * After removal every read resolves to all-ones and writes are dropped.
 * Offsets outside the BAR throw PciError 'bounds' synchronously.
 */
export interface Bar {
  readonly index: number;
  readonly region: RegionName;
  readonly size: number;
  read32(off: number): Promise<number>;
  /** One 8-byte read. (NVMe's CAP is read by Linux as two 32-bit reads; either works here.) */
  read64(off: number): Promise<bigint>;
  /** Callback variant for hot paths: no promise allocated. */
  read32Cb(off: number, cb: Read32Cb): void;
  read64Cb(off: number, cb: Read64Cb): void;
  readBytes(off: number, len: number): Promise<Uint8Array>;
  write32(off: number, value: number): void;
  write64(off: number, value: bigint | number): void;
  /** Posted write of any length (split to fit the frame size). The bytes are copied. */
  writeBytes(off: number, data: Uint8Array): void;
}

// ---------------------------------------------------------------------------
// Host memory and IOMMU

/** Direction of a streaming mapping, from the host's point of view (Linux dma_data_direction). */
export type DmaDirection = 'to-device' | 'from-device' | 'bidirectional';

/**
 * A coherent DMA buffer (rings, identify pages, PRP lists): page-aligned,
 * page-granular, mapped read+write for the device for its whole life.
 * INVARIANT: every accessor is bounds-checked against `size`; after `free()`
 * every accessor throws PciError 'double_unmap' and the device can no longer
 * reach the memory.
 */
export interface DmaBuffer {
  readonly iova: number;
  /** Usable size (what was asked for). The window is `size` rounded up to pages. */
  readonly size: number;
  /** The memory itself. Do not keep views past `free()`. */
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly freed: boolean;
  readU8(off: number): number;
  readU16(off: number): number;
  readU32(off: number): number;
  readU64(off: number): bigint;
  writeU8(off: number, v: number): void;
  writeU16(off: number, v: number): void;
  writeU32(off: number, v: number): void;
  writeU64(off: number, v: bigint | number): void;
  /** Copy out `len` bytes (a fresh array). */
  readBytes(off: number, len: number): Uint8Array;
  writeBytes(off: number, data: Uint8Array): void;
  fill(value: number, off?: number, len?: number): void;
  /** Unmap and release. A second call throws PciError 'double_unmap'. */
  free(): void;
}

/**
 * A streaming mapping of a caller's buffer (zero copy): the device reads
 * and/or writes `data` directly, in place.
 *
 * IOVA layout: the window covers whole pages, like a real IOMMU; `iova`
 * keeps the buffer's offset within its first page (`data.byteOffset % 4096`,
 * standing in for the physical page offset; or 0 with `pageAligned`).
 * What the device may touch: the IOMMU grants the whole pages, but the host
 * backs only [iova, iova + len) with the caller's bytes. Device reads of the
 * page slack around the buffer return zeros and writes there are discarded
 * (counted as `slackWrites`), so a device can never see or change the bytes
 * that share a page with the buffer — stricter than hardware, on purpose.
 */
export interface DmaMapping {
  readonly iova: number;
  readonly len: number;
  readonly dir: DmaDirection;
  /** False once unmapped (or torn down by removal). */
  readonly mapped: boolean;
  /**
   * Remove the window: from now on the host blocks device accesses to it.
   * The IOVA is reused only after the device acknowledged the unmap. A
   * second call throws PciError 'double_unmap'; after removal it is a no-op.
   */
  unmap(): void;
}

export interface PoolOptions {
  /** Window name for logs. */
  name?: string;
  /**
   * Per-slot windows enforced by the host IOMMU: the pool is mapped on the
   * device once (one dma_map), but the host refuses — and counts and logs as
   * a DMAR fault, exactly like an access outside any window — every device
   * access to a slot that is not allocated, that crosses a slot's end, or
   * that the direction given to `alloc` does not allow. Opening and closing
   * a slot is a local flag: no message. This is how the I/O path gets
   * "mapped for exactly the request's lifetime" without a dma_map/dma_unmap
   * exchange per request.
   */
  gated?: boolean;
}

export interface MapOptions {
  /** Start the IOVA at a page boundary instead of keeping the buffer's in-page offset. */
  pageAligned?: boolean;
}

/**
 * A pool of pre-mapped, equally sized bounce slots carved from one coherent
 * buffer (like swiotlb): `alloc()`/`release()` are O(1), allocate nothing and
 * send nothing, so the I/O hot path pays a memcpy instead of a dma_map +
 * dma_unmap round trip (measured: ~0.1 µs per 4 KiB copy vs ~15 µs per
 * acknowledged map+unmap pair across two processes).
 * Trade-off (ungated pool): the device may touch every slot of the pool, in
 * use or not — never anything outside it. A `gated` pool (PoolOptions)
 * removes it: each slot is its own host-enforced window while allocated.
 */
export interface DmaPool {
  /** Bytes per slot (a multiple of the page size). */
  readonly slotSize: number;
  readonly slots: number;
  /** Slots not handed out. */
  readonly available: number;
  /** Created with `gated`: the device reaches a slot only while it is allocated. */
  readonly gated?: boolean;
  /**
   * A free slot, or undefined when all are in use. Slots come back FIFO.
   * In a gated pool `dir` (default 'bidirectional') is what the device may do
   * with the slot until it is released ('from-device': write only, …).
   */
  alloc(dir?: DmaDirection): DmaSlot | undefined;
  /** Unmap the whole pool. Throws PciError 'invalid' while slots are still in use (unless `force`). */
  destroy(force?: boolean): void;
}

/** One slot of a DmaPool. The same object is handed out again after release. */
export interface DmaSlot {
  /** Page-aligned IOVA of the slot. */
  readonly iova: number;
  /** The slot's memory (slotSize bytes). */
  readonly bytes: Uint8Array;
  readonly index: number;
  /** Give the slot back. A second release throws PciError 'double_unmap'. */
  release(): void;
}

/** One blocked device access, as a DMAR fault record. */
export interface IommuFault {
  /** Function name, e.g. 'nvme0'. */
  device: string;
  dir: 'read' | 'write';
  iova: number;
  len: number;
  /**
   * Why: 'unmapped' (no window), 'span' (crosses a window's end), 'perm' (no read/write
   * permission), 'size', 'bus-master' (the host has Bus Master Enable off for the function).
   */
  reason: 'unmapped' | 'span' | 'perm' | 'size' | 'bus-master';
  /** process.hrtime-based monotonic ms. */
  time: number;
}

/**
 * Host memory of one function. `allocCoherent` and `mapStreaming` are
 * synchronous: the `dma_map` is sent at once and, because messages take
 * effect in the order sent (PROTOCOL.md "Ordering"), it reaches the device
 * before any doorbell written afterwards — so the IOVA may be handed to the
 * device immediately, with no round trip on the I/O path. A refused map is
 * logged and counted (`mapErrors`); `settled()` waits for every ack so far.
 */
export interface HostMemory {
  readonly pageSize: number;
  allocCoherent(bytes: number, opts?: { name?: string }): DmaBuffer;
  mapStreaming(data: Uint8Array, dir: DmaDirection, opts?: MapOptions): DmaMapping;
  /** A pool of `count` pre-mapped bounce slots of `slotSize` bytes (rounded up to pages). See DmaPool. */
  createPool(slotSize: number, count: number, opts?: PoolOptions): DmaPool;
  /** Live windows (coherent buffers + streaming mappings). Leak checks assert this returns to its baseline. */
  openMappings(): number;
  /** Resolves when every dma_map/dma_unmap sent so far was acknowledged (or the function is gone). */
  settled(): Promise<void>;
  /** Recent IOMMU faults (newest last). */
  faults(): readonly IommuFault[];
}

// ---------------------------------------------------------------------------
// Interrupts

/** An interrupt handler. Runs once per burst of irqs on its vector (merged); a throw is caught and logged. */
export type IrqHandler = (vec: number) => void;

// ---------------------------------------------------------------------------
// Counters

export interface PciStats {
  regionReads: number;
  regionWrites: number;
  /** Device dma_read requests answered with data. */
  dmaReads: number;
  dmaReadBytes: number;
  /** Device dma_write messages applied. */
  dmaWrites: number;
  dmaWriteBytes: number;
  /** dma_read refused by the IOMMU (answered err 'iommu'). */
  blockedReads: number;
  /** dma_write dropped by the IOMMU (host memory untouched). */
  blockedWrites: number;
  /** Writes that hit the page slack around a streaming buffer (discarded). */
  slackWrites: number;
  maps: number;
  unmaps: number;
  /** dma_map/dma_unmap the device refused. */
  mapErrors: number;
  /** Interrupts delivered to a handler (after merging). */
  irqs: number;
  /** Interrupts received while their vector's handler was already scheduled. */
  irqsMerged: number;
  /** Interrupts for a vector not enabled, beyond the table, or without a handler. */
  spuriousIrqs: number;
  /** Handlers that threw. */
  handlerErrors: number;
  /** Register reads completed with all-ones because the device never answered. */
  completionTimeouts: number;
  /** Protocol errors the channel reported (malformed messages from the device, …). */
  protocolErrors: number;
}

/** Why a function went away. */
export interface GoneInfo {
  /** WebSocket close code (4410 removed, 1006 connection lost, 4400 protocol error, …). */
  code: number;
  reason: string;
  /** True for a close the host did not ask for (surprise removal); false after `detach()`. */
  surprise: boolean;
}

// ---------------------------------------------------------------------------
// The function

export interface PciFunction {
  /** Name used in logs and fault records. */
  readonly name: string;
  /** `info` from hello. */
  readonly info: DeviceInfo;
  readonly ids: PciIds;
  readonly capabilities: readonly PciCapability[];
  readonly msix: MsixInfo | undefined;
  readonly pcie: PcieInfo | undefined;
  readonly pm: PmInfo | undefined;
  /** Sized BARs by index (undefined: not implemented, or upper half of a 64-bit BAR). */
  readonly bars: readonly (BarInfo | undefined)[];
  readonly config: ConfigSpace;
  readonly memory: HostMemory;

  /** A memory BAR's register accessor. Throws PciError 'no_such' for an absent BAR. */
  bar(n: number): Bar;

  /** Command register: Memory Space Enable / Bus Master Enable (PCI 3.0 §6.2.2). Resolves after a read-back. */
  setCommand(opts: { memory?: boolean; busMaster?: boolean }): Promise<void>;

  /**
   * Program MSI-X table entries 0..nvec-1 (address, data = vector, unmasked),
   * then set MSI-X Enable. `nvec` defaults to the table size; more than the
   * table is an error. Resolves with the number of vectors enabled.
   */
  enableMsix(nvec?: number): Promise<number>;
  disableMsix(): Promise<void>;
  /** Per-vector mask (table entry Vector Control bit 0). Posted. */
  maskVector(vec: number, masked: boolean): void;
  /** MSI-X Function Mask (Message Control bit 14). Posted. */
  setFunctionMask(masked: boolean): void;
  /** Read the vector's Pending Bit from the PBA. */
  isPending(vec: number): Promise<boolean>;
  /** Register the handler for a vector (replacing any). Returns an unregister function. */
  onIrq(vec: number, handler: IrqHandler): () => void;

  /**
   * Function-level reset (the `reset` message, PCIe 4.0 §6.6.2), with
   * Linux's save/restore around it: command register and MSI-X state are
   * restored afterwards. IOMMU windows survive (they are the host's).
   */
  reset(): Promise<void>;

  /** True once the device is gone (surprise removal or detach). */
  readonly gone: boolean;
  /** Called once when the device goes away; called at once (async) if it already has. Returns an unsubscribe function. */
  onGone(cb: (info: GoneInfo) => void): () => void;

  stats(): PciStats;
  /**
   * The link's own counters (frames and messages each way, …), live: for
   * benchmarks counting messages per I/O. Optional for stand-in functions.
   */
  linkCounters?(): Readonly<ChannelCounters>;

  /** Orderly detach: tear down mappings, send `bye`, close 1000. Idempotent. */
  detach(reason?: string): Promise<void>;
}
