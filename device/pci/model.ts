// The device-plugin API (after libvfio-user's "a device is a few callbacks and
// a fixed life cycle"). A device model — edu, the NVMe controller, a malicious
// fixture — implements `DeviceModel`; the PCI library (device/pci/function.ts)
// owns everything PCI: config space, BAR decoding, bounds and access-size
// checks, the MSI-X table and PBA, DMA windows and the wire. A model never sees
// an access that is out of its BAR, of the wrong size for a register BAR, or
// that arrives while Memory Space Enable is off.
//
// Life cycle:
//   factory (device/registry.ts) → new model → attach(ctx) once, at daemon start
//   host connects + hello        → reset('power-on')   (config space reset, no windows)
//   PCIe FLR / `reset` message   → reset('flr')        (windows survive)
//   host link drops / removal    → reset('disconnect') (stop all activity; DMA now fails 'gone')
//   daemon shutdown              → shutdown()          (flush backing stores)
import type { Logger } from '../../src/util/log.ts';
import type { DmaProtValue } from '../../src/protocol/messages.ts';

/** BAR numbers 0..5. A 64-bit BAR at index n also uses slot n+1. */
export type BarIndex = 0 | 1 | 2 | 3 | 4 | 5;

/** PCI identification (config space 0x00–0x2f). */
export interface PciIds {
  /** Vendor ID (u16), e.g. 0x1b36 (Red Hat, QEMU's devices). */
  readonly vendor: number;
  /** Device ID (u16). */
  readonly device: number;
  /** Subsystem vendor ID (u16). */
  readonly subsystemVendor: number;
  /** Subsystem ID (u16). */
  readonly subsystemDevice: number;
  /** 24-bit class code: base class << 16 | subclass << 8 | programming interface (NVMe: 0x010802). */
  readonly classCode: number;
  /** Revision ID (u8). */
  readonly revision: number;
}

interface BarDeclBase {
  /** BAR slot 0..5. */
  readonly index: BarIndex;
  /** Size in bytes: a power of two, at least 16 (PCI 3.0 §6.2.5.1), at most 2^31 for a 32-bit BAR. */
  readonly size: number;
  /** 64-bit memory BAR (type 10b): takes slots `index` and `index + 1`. Default false. */
  readonly is64?: boolean;
  /** Prefetchable bit in the BAR. Default false. */
  readonly prefetchable?: boolean;
}

/**
 * A register BAR: only naturally aligned 4- and 8-byte accesses reach the
 * model (PROTOCOL.md "Region rules"; the library answers other reads with
 * `err size` and drops+counts other writes). Values are little-endian
 * register values, passed as numbers so the hot path (a posted 4-byte
 * doorbell write) allocates nothing.
 */
export interface RegisterBarDecl extends BarDeclBase {
  readonly kind: 'registers';
  /** Read the 32-bit register at `off` (4-byte aligned). Return a u32 (0..2^32-1). */
  read32(off: number): number;
  /** Write the 32-bit register at `off` (4-byte aligned); `value` is a u32. */
  write32(off: number, value: number): void;
  /**
   * Read a 64-bit register at `off` (8-byte aligned). When absent the library
   * reads `read32(off)` then `read32(off + 4)` (low dword first).
   */
  read64?(off: number): bigint;
  /**
   * Write a 64-bit register at `off` (8-byte aligned) given as two u32 halves.
   * When absent the library calls `write32(off, lo)` then `write32(off + 4, hi)`,
   * which is how Linux's lo_hi_writeq reaches NVMe's ASQ/ACQ anyway.
   */
  write64?(off: number, lo: number, hi: number): void;
}

/**
 * A memory BAR (e.g. an NVMe controller memory buffer): any size and alignment
 * of access inside the BAR reaches the model.
 */
export interface MemoryBarDecl extends BarDeclBase {
  readonly kind: 'memory';
  /**
   * Read `len` bytes at `off`. The result may be a view into device memory:
   * the library copies it before replying.
   */
  read(off: number, len: number): Uint8Array;
  /**
   * Write `data` at `off`. `data` is only valid during the call (it may be a
   * view into the received frame): copy what you keep.
   */
  write(off: number, data: Uint8Array): void;
}

export type BarDecl = RegisterBarDecl | MemoryBarDecl;

/**
 * Where the MSI-X table and PBA live (PCI 3.0 §6.8.2). Both must be inside a
 * declared BAR, 8-byte aligned, and must not overlap each other. The library
 * serves these ranges itself (the model never sees accesses to them); keep
 * them clear of the model's own registers.
 */
export interface MsixDecl {
  /** Number of vectors, 1..2048. Table = 16 bytes per vector, PBA = 8 bytes per 64 vectors. */
  readonly vectors: number;
  readonly tableBar: BarIndex;
  readonly tableOffset: number;
  readonly pbaBar: BarIndex;
  readonly pbaOffset: number;
}

/** Why a reset happens. */
export type ResetKind =
  /** PCIe function-level reset (Device Control "Initiate FLR", or the wire's `reset`). DMA windows survive. */
  | 'flr'
  /** A new host connection: the function starts from power-on state, no windows. */
  | 'power-on'
  /** The host link dropped or the device was removed: stop all activity; DMA fails with 'gone' until the next power-on. */
  | 'disconnect';

/** Why a DMA did not happen. */
export type DmaErrorCode =
  /** Bus Master Enable is off in the command register (PCI 3.0 §6.2.2): the function may not master. */
  | 'bus_master_off'
  /** Not wholly inside one host window with the needed permission (checked locally, or the host's IOMMU said `iommu`). */
  | 'iommu'
  /** No host is attached (never connected, disconnected, or the device was removed). */
  | 'gone'
  /** The host answered with another error code (`size`, `internal`, …); `hostCode` says which. */
  | 'host'
  /** The function was reset (FLR, power-on, disconnect) while the DMA was in flight: its result is discarded. */
  | 'reset';

/** A DMA that failed. `dmaRead` rejects with this; callbacks receive it. */
export class DmaError extends Error {
  override readonly name = 'DmaError';
  constructor(
    readonly code: DmaErrorCode,
    message: string,
    readonly iova: number,
    readonly len: number,
    /** For code 'host': the wire error code the host answered with. */
    readonly hostCode?: string,
  ) {
    super(message);
  }
}

/** One DMA window announced by the host with `dma_map`. `prot`: 1 read, 2 write, 3 both (device's view). */
export interface DmaWindow {
  readonly iova: number;
  readonly len: number;
  readonly prot: DmaProtValue;
}

/** The host's current windows, as the device sees them. */
export interface DmaWindows {
  /** True when [iova, iova+len) lies wholly inside one window that allows `access`. */
  allows(iova: number, len: number, access: 'read' | 'write'): boolean;
  /** Current windows sorted by iova (a snapshot). */
  list(): DmaWindow[];
  /** Number of windows. */
  readonly count: number;
}

/** Counters kept by the library for one PCI function (reported by the control channel's `query-device`). */
export interface FunctionStats {
  regionReads: number;
  regionWrites: number;
  /** Reads answered with `err` (bounds/size/unknown region). */
  readErrors: number;
  /** Posted writes dropped: out of bounds, bad size for a register BAR, unknown region. */
  writesDroppedInvalid: number;
  /** BAR writes dropped because Memory Space Enable was off. */
  writesDroppedDecode: number;
  /** BAR reads answered with all-ones because Memory Space Enable was off. */
  readsUndecoded: number;
  dmaReads: number;
  dmaReadBytes: number;
  dmaWrites: number;
  dmaWriteBytes: number;
  /** DMA refused locally because Bus Master Enable was off. */
  dmaRefusedBusMaster: number;
  /** DMA refused locally because it was outside the host's windows. */
  dmaRefusedWindow: number;
  /** dma_read answered with `err` by the host. */
  dmaReadErrors: number;
  /** Operations sent through DeviceContext.unchecked (hostile-device fixtures). */
  uncheckedOps: number;
  /** DMA attempted with no host attached. */
  dmaRefusedGone: number;
  irqsSent: number;
  /** raiseIrq on a masked vector (or with the function mask set): pending bit set. */
  irqsMasked: number;
  /** Pending vectors delivered later on unmask. */
  irqsDeliveredOnUnmask: number;
  /** raiseIrq with MSI-X disabled or no host: dropped. */
  irqsDropped: number;
  /** raiseIrq with a vector beyond the table (a model bug): dropped. */
  irqsBadVector: number;
  dmaMaps: number;
  dmaUnmaps: number;
  flrs: number;
  powerOns: number;
}

/** Services the library gives a model (handed over once in `attach`). */
export interface DeviceContext {
  /**
   * Read host memory. Refused locally (reject with DmaError, no message sent)
   * when Bus Master Enable is off, the range is outside the host's windows or
   * lacks read permission, or no host is attached. Larger reads are split
   * into `dma_read`s that fit the negotiated maxFrame and joined. A DMA still
   * in flight when the function is reset fails with code 'reset'.
   */
  dmaRead(iova: number, len: number): Promise<Uint8Array>;
  /**
   * The same without a promise, for hot paths: `cb(undefined, data)` or
   * `cb(err)`, always asynchronously, exactly once.
   */
  dmaReadCb(iova: number, len: number, cb: (err: DmaError | undefined, data: Uint8Array | undefined) => void): void;
  /**
   * Write host memory (posted). Returns false — and sends nothing — when
   * refused locally (bus mastering off, outside the windows or no write
   * permission, no host); the refusal is counted and logged. Split to fit
   * maxFrame. The message is encoded during the call, so `data` may be
   * reused as soon as it returns.
   */
  dmaWrite(iova: number, data: Uint8Array): boolean;
  /**
   * Signal MSI-X vector `vector` (PCI 3.0 §6.8.3.4): delivered as `irq` when
   * MSI-X is enabled and neither the function mask nor the vector's mask bit
   * is set; otherwise the vector's PBA bit is set and it is delivered when
   * unmasked. Dropped (counted) when MSI-X is disabled, Bus Master Enable is
   * off (an MSI-X message is a memory write: PCIe 4.0 §7.5.1.1.3), or no host
   * is attached. A vector beyond the table is a model bug: dropped, counted.
   */
  raiseIrq(vector: number): void;
  /** True while a vector would be delivered now (MSI-X enabled, function and vector unmasked). */
  irqDeliverable(vector: number): boolean;
  /** The host's DMA windows, for a model that checks before it DMAs (an NVMe controller ends such a command with Data Transfer Error). */
  readonly windows: DmaWindows;
  /** Command register Bus Master Enable, live. */
  readonly busMaster: boolean;
  /** True while a host is attached and has said hello. */
  readonly attached: boolean;
  /** Largest payload one dma_read answer or dma_write may carry (maxFrame minus envelope). */
  readonly maxDmaChunk: number;
  /** Logger for this device (child of the daemon's). */
  readonly log: Logger;
  /** Send frames corked in this event-loop turn now (e.g. before a slow synchronous step). */
  flush(): void;
  /** The library's counters for this function (read-only view). */
  readonly stats: Readonly<FunctionStats>;
  /**
   * UNSAFE — for fault fixtures that play a hostile device, never for a model of
   * a correct one. Skips every local check (Bus Master Enable, the host's DMA
   * windows, MSI-X enable/masks, the table size) and sends as-is, so the HOST's
   * defences (IOMMU, spurious-irq accounting, codec) are what gets tested.
   */
  readonly unchecked: UncheckedDeviceOps;
}

/** See DeviceContext.unchecked. */
export interface UncheckedDeviceOps {
  /** dma_read with no local check; `cb` gets the host's answer (an `iommu` refusal included). */
  dmaRead(iova: number, len: number, cb: (err: Error | undefined, data: Uint8Array | undefined) => void): void;
  /** dma_write with no local check (the host must drop it if outside its windows). */
  dmaWrite(iova: number, data: Uint8Array): void;
  /** An `irq` for any vector, enabled or not, in the table or not. */
  irq(vector: number): void;
  /** One raw WebSocket frame (text when a string): malformed input for the host's codec. */
  sendFrame(frame: Uint8Array | string): void;
}

/** A device model: a PCI function's personality. */
export interface DeviceModel {
  /** Short type name, e.g. 'edu', 'nvme' (for logs and query-device). */
  readonly name: string;
  readonly ids: PciIds;
  /** BARs in any order; at most one per slot. */
  readonly bars: readonly BarDecl[];
  readonly msix: MsixDecl;
  /** Called once before any other callback; keep `ctx`. */
  attach(ctx: DeviceContext): void;
  /** Return to the state `kind` implies. The library has already reset config space and MSI-X. */
  reset(kind: ResetKind): void;
  /** Command register Bus Master Enable changed (already in effect). */
  onBusMasterChange?(enabled: boolean): void;
  /** Daemon shutdown: flush backing stores. Awaited (bounded) before exit. */
  shutdown?(): Promise<void> | void;
  /** Model-specific state for the control channel's `query-device` (namespaces, queues, counters). JSON-safe. */
  describe?(): Record<string, unknown>;
}
