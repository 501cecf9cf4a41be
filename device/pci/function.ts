// [raw] One PCI function served over the wire: wraps a DeviceModel with
// config space, BAR decoding, MSI-X, DMA windows and the DMA services, and
// handles the host's requests on a device-side Channel. Every access is
// checked here (region exists, bounds, access size, Memory Space Enable)
// before the model sees it (libvfio-user: "bounds checked by the library").
import type { Logger } from '../../src/util/log.ts';
import { ChannelClosedError, type ProtocolError } from '../../src/protocol/errors.ts';
import type { Channel, Reply } from '../../src/protocol/channel.ts';
import type {
  DeviceInfo, PostedMessage, RegionInfo, RegionName, RegionReadMsg, RegionWriteMsg, RequestMessage,
} from '../../src/protocol/messages.ts';
import { u8, u16, u32 } from '../../src/util/bytes.ts';
import { ConfigSpace } from './config.ts';
import { MsixTable } from './msix.ts';
import { WindowTable } from './windows.ts';
import { CONFIG_SPACE_SIZE, COMMAND, MSIX } from './regs.ts';
import {
  DmaError, type BarDecl, type DeviceContext, type DeviceModel, type DmaWindows, type FunctionStats, type ResetKind,
  type UncheckedDeviceOps,
} from './model.ts';

const REGION_INDEX: Readonly<Record<RegionName, number>> = { config: -1, bar0: 0, bar1: 1, bar2: 2, bar3: 3, bar4: 4, bar5: 5 };
const MAX_WARN_LOGS = 20;

type AccessError = { code: 'bounds' | 'size'; msg: string };

function newStats(): FunctionStats {
  return {
    regionReads: 0, regionWrites: 0, readErrors: 0, writesDroppedInvalid: 0, writesDroppedDecode: 0, readsUndecoded: 0,
    dmaReads: 0, dmaReadBytes: 0, dmaWrites: 0, dmaWriteBytes: 0, dmaRefusedBusMaster: 0, dmaRefusedWindow: 0,
    dmaReadErrors: 0, uncheckedOps: 0, dmaRefusedGone: 0, irqsSent: 0, irqsMasked: 0, irqsDeliveredOnUnmask: 0, irqsDropped: 0,
    irqsBadVector: 0, dmaMaps: 0, dmaUnmaps: 0, flrs: 0, powerOns: 0,
  };
}

/** Check a model's declaration; throws a one-line Error for a programming mistake. */
export function validateModel(model: DeviceModel): void {
  const where = `device model '${model.name}'`;
  const { ids, bars, msix } = model;
  for (const k of ['vendor', 'device', 'subsystemVendor', 'subsystemDevice'] as const) {
    if (!Number.isInteger(ids[k]) || ids[k] < 0 || ids[k] > 0xffff) throw new Error(`${where}: ids.${k} must be a u16`);
  }
  if (!Number.isInteger(ids.classCode) || ids.classCode < 0 || ids.classCode > 0xffffff) throw new Error(`${where}: ids.classCode must be 24-bit`);
  if (!Number.isInteger(ids.revision) || ids.revision < 0 || ids.revision > 0xff) throw new Error(`${where}: ids.revision must be a u8`);
  const used = new Set<number>();
  for (const b of bars) {
    if (!Number.isInteger(b.index) || b.index < 0 || b.index > 5) throw new Error(`${where}: BAR index ${b.index} not in 0..5`);
    const slots = b.is64 === true ? [b.index, b.index + 1] : [b.index];
    if (b.is64 === true && b.index === 5) throw new Error(`${where}: a 64-bit BAR cannot start at slot 5`);
    for (const s of slots) {
      if (used.has(s)) throw new Error(`${where}: BAR slot ${s} declared twice`);
      used.add(s);
    }
    const max = b.is64 === true ? 2 ** 40 : 2 ** 31;
    if (!Number.isSafeInteger(b.size) || b.size < 16 || b.size > max || !Number.isInteger(Math.log2(b.size))) {
      throw new Error(`${where}: BAR${b.index} size ${b.size} must be a power of two in [16, ${max}]`);
    }
  }
  if (!Number.isInteger(msix.vectors) || msix.vectors < 1 || msix.vectors > MSIX.MAX_VECTORS) {
    throw new Error(`${where}: msix.vectors must be in 1..${MSIX.MAX_VECTORS}`);
  }
  const tableEnd = msix.tableOffset + msix.vectors * MSIX.ENTRY_SIZE;
  const pbaEnd = msix.pbaOffset + Math.ceil(msix.vectors / 64) * 8;
  for (const [what, bir, off, end] of [['table', msix.tableBar, msix.tableOffset, tableEnd], ['PBA', msix.pbaBar, msix.pbaOffset, pbaEnd]] as const) {
    const bar = bars.find((b) => b.index === bir);
    if (bar === undefined) throw new Error(`${where}: MSI-X ${what} in undeclared BAR${bir}`);
    if (off % 8 !== 0) throw new Error(`${where}: MSI-X ${what} offset 0x${off.toString(16)} is not QWORD aligned`);
    if (end > bar.size) throw new Error(`${where}: MSI-X ${what} does not fit BAR${bir}`);
  }
  if (msix.tableBar === msix.pbaBar && msix.tableOffset < pbaEnd && msix.pbaOffset < tableEnd) {
    throw new Error(`${where}: MSI-X table and PBA overlap`);
  }
}

/** A DMA read in flight, split into chunks; settles once. */
interface ReadJob {
  cb: (err: DmaError | undefined, data: Uint8Array | undefined) => void;
  gen: number;
  iova: number;
  len: number;
  out: Uint8Array | undefined;
  left: number;
  done: boolean;
}

export class PciFunction {
  readonly stats: FunctionStats = newStats();
  readonly config: ConfigSpace;
  readonly msix: MsixTable;
  readonly windows = new WindowTable();
  readonly ctx: DeviceContext;

  private readonly bars: (BarDecl | undefined)[] = [undefined, undefined, undefined, undefined, undefined, undefined];
  private channel: Channel | undefined;
  private helloDone = false;
  /** Bumped on every reset so DMA answers from before it are discarded. */
  private gen = 0;
  private warnings = 0;

  constructor(
    readonly model: DeviceModel,
    private readonly log: Logger,
  ) {
    validateModel(model);
    for (const b of model.bars) this.bars[b.index] = b;
    this.config = new ConfigSpace(model, {
      commandChanged: (old, now) => this.commandChanged(old, now),
      msixControlChanged: () => this.msix.deliverPending(),
      powerStateChanged: (old, now) => this.log.debug({ from: `D${old}`, to: `D${now}` }, 'power state change'),
      flrRequested: () => this.reset('flr'),
    });
    this.msix = new MsixTable(model.msix.vectors, {
      enabled: () => this.config.msixEnabled,
      functionMasked: () => this.config.msixFunctionMasked,
      send: (v) => this.sendIrq(v),
      deliveredOnUnmask: () => {
        this.stats.irqsDeliveredOnUnmask++;
      },
    });
    this.ctx = this.makeContext();
    model.attach(this.ctx);
  }

  // -------------------------------------------------------------------------
  // Connection life cycle

  /** The `info` answered to hello. */
  info(): DeviceInfo {
    const regions: RegionInfo[] = [{ name: 'config', size: CONFIG_SPACE_SIZE, flags: ['read', 'write'] }];
    for (const b of this.model.bars) regions.push({ name: `bar${b.index}` as RegionName, size: b.size, flags: ['read', 'write'] });
    const { vendor, device, subsystemVendor, subsystemDevice, classCode } = this.model.ids;
    return { vendor, device, subsystemVendor, subsystemDevice, classCode, regions, irqs: { msix: this.model.msix.vectors } };
  }

  /** True while a host channel is bound. */
  get connected(): boolean {
    return this.channel !== undefined;
  }

  /**
   * Serve a new host connection. The function returns to power-on state when
   * the host's hello is accepted; the channel must have been created with
   * `info: () => fn.info()`.
   */
  bind(ch: Channel): void {
    if (this.channel !== undefined) throw new Error('PciFunction already has a host');
    this.channel = ch;
    this.helloDone = false;
    ch.onHello(() => {
      if (this.channel !== ch) return;
      this.helloDone = true;
      this.reset('power-on');
    });
    ch.onRequest((m, reply) => this.onRequest(m, reply));
    ch.onPosted((m) => this.onPosted(m));
    ch.onClose((code) => {
      if (this.channel !== ch) return;
      this.channel = undefined;
      this.helloDone = false;
      this.windows.clear();
      this.log.info({ code }, 'host detached');
      this.reset('disconnect');
    });
  }

  /** Close the host connection (if any) with `code`; the close handler does the rest. */
  disconnect(code: number, reason: string): void {
    this.channel?.close(code, reason);
  }

  /**
   * Reset the function. 'flr': config space and MSI-X back to power-on values
   * (as PCIe FLR does; the host restores what it needs), windows kept.
   * 'power-on': the same plus no windows. 'disconnect': model quiesces.
   */
  reset(kind: ResetKind): void {
    this.gen++;
    if (kind !== 'disconnect') {
      this.config.reset();
      this.msix.reset();
    }
    if (kind === 'power-on') {
      this.windows.clear();
      this.stats.powerOns++;
    }
    if (kind === 'flr') this.stats.flrs++;
    this.log.debug({ kind }, 'function reset');
    this.model.reset(kind);
  }

  /** Daemon shutdown: let the model flush. */
  async shutdown(): Promise<void> {
    await this.model.shutdown?.();
  }

  /** JSON-safe state for the control channel's query-device. */
  describe(): Record<string, unknown> {
    const bars = this.model.bars.map((b) => ({
      index: b.index, kind: b.kind, size: b.size, is64: b.is64 === true, address: this.config.barAddress(b.index),
    }));
    return {
      type: this.model.name,
      ids: { ...this.model.ids },
      host: { connected: this.channel !== undefined, ready: this.helloDone },
      command: this.config.command,
      memorySpace: this.config.memoryEnabled,
      busMaster: this.config.busMaster,
      powerState: `D${this.config.powerState}`,
      bars,
      msix: {
        vectors: this.model.msix.vectors,
        enabled: this.config.msixEnabled,
        functionMasked: this.config.msixFunctionMasked,
        pending: this.msix.describe().filter((v) => v.pending).map((v) => v.vector),
      },
      windows: this.windows.list(),
      stats: { ...this.stats },
      channel: this.channel === undefined ? null : { ...this.channel.counters },
      model: this.model.describe?.() ?? {},
    };
  }

  // -------------------------------------------------------------------------
  // Incoming requests

  private onRequest(m: RequestMessage, reply: Reply): void {
    switch (m.t) {
      case 'region_read':
        this.regionRead(m, reply);
        return;
      case 'region_write': {
        const e = this.regionWrite(m);
        if (e === undefined) reply.ok();
        else reply.err(e.code, e.msg);
        return;
      }
      case 'dma_map': {
        const r = this.windows.map(m.iova, m.len, m.prot);
        if (r === 'ok') {
          this.stats.dmaMaps++;
          reply.ok();
        } else {
          reply.err(r, r === 'exists'
            ? `window [0x${m.iova.toString(16)}, +0x${m.len.toString(16)}) overlaps an existing window`
            : `window [0x${m.iova.toString(16)}, +0x${m.len.toString(16)}) is empty or beyond 2^53`);
        }
        return;
      }
      case 'dma_unmap': {
        const r = this.windows.unmap(m.iova, m.len);
        if (r === 'ok') {
          this.stats.dmaUnmaps++;
          reply.ok();
        } else {
          reply.err('bounds', `no window is exactly [0x${m.iova.toString(16)}, +0x${m.len.toString(16)})`);
        }
        return;
      }
      case 'reset':
        this.reset('flr');
        reply.ok();
        return;
      default:
        reply.err('unknown_type', `the device does not handle ${m.t}`);
    }
  }

  private onPosted(m: PostedMessage): void {
    if (m.t !== 'region_write') return; // the codec only delivers host-sent posted types here
    const e = this.regionWrite(m);
    if (e !== undefined) this.warn({ region: m.region, off: m.off, len: m.data.length, code: e.code }, `posted write dropped: ${e.msg}`);
  }

  /** Region, bounds and size checks common to reads and writes. */
  private check(region: RegionName, off: number, len: number): AccessError | undefined {
    const idx = REGION_INDEX[region];
    if (idx < 0) {
      if (len < 1 || off + len > CONFIG_SPACE_SIZE) return { code: 'bounds', msg: `config access [0x${off.toString(16)}, +${len}) outside 4096 bytes` };
      if ((len !== 1 && len !== 2 && len !== 4) || off % len !== 0) return { code: 'size', msg: `config access of ${len} bytes at 0x${off.toString(16)}: 1, 2 or 4 bytes naturally aligned` };
      return undefined;
    }
    const bar = this.bars[idx];
    if (bar === undefined) return { code: 'bounds', msg: `${region} is not implemented` };
    if (len < 1 || off + len > bar.size) return { code: 'bounds', msg: `${region} access [0x${off.toString(16)}, +${len}) outside its ${bar.size} bytes` };
    const mx = this.model.msix;
    if (this.inMsix(idx, off, len) || bar.kind === 'registers') {
      if ((len !== 4 && len !== 8) || off % len !== 0) {
        return { code: 'size', msg: `${region} access of ${len} bytes at 0x${off.toString(16)}: registers take naturally aligned 4 or 8 bytes` };
      }
      // An access must not straddle the MSI-X structures and model registers.
      if (this.inMsix(idx, off, len) && !this.wholly(idx, off, len, mx.tableBar, mx.tableOffset, this.msix.tableSize)
        && !this.wholly(idx, off, len, mx.pbaBar, mx.pbaOffset, this.msix.pbaSize)) {
        return { code: 'size', msg: `${region} access at 0x${off.toString(16)} straddles the MSI-X structures` };
      }
    }
    return undefined;
  }

  private inMsix(idx: number, off: number, len: number): boolean {
    const mx = this.model.msix;
    return (idx === mx.tableBar && off < mx.tableOffset + this.msix.tableSize && off + len > mx.tableOffset)
      || (idx === mx.pbaBar && off < mx.pbaOffset + this.msix.pbaSize && off + len > mx.pbaOffset);
  }

  private wholly(idx: number, off: number, len: number, bar: number, start: number, size: number): boolean {
    return idx === bar && off >= start && off + len <= start + size;
  }

  /** BARs respond only with Memory Space Enable set and in D0 (PCI 3.0 §6.2.2; PM 1.2 §5.4.1: D3hot answers config only). */
  private get decoding(): boolean {
    return this.config.memoryEnabled && this.config.powerState === 0;
  }

  private regionRead(m: RegionReadMsg, reply: Reply): void {
    this.stats.regionReads++;
    const e = this.check(m.region, m.off, m.len);
    if (e !== undefined) {
      this.stats.readErrors++;
      reply.err(e.code, e.msg);
      return;
    }
    const idx = REGION_INDEX[m.region];
    if (idx < 0) {
      reply.data(leBytes(this.config.read(m.off, m.len), 0, m.len));
      return;
    }
    if (!this.decoding) {
      // Master abort on PCI / Unsupported Request on PCIe: the CPU sees all-ones.
      this.stats.readsUndecoded++;
      reply.data(new Uint8Array(m.len).fill(0xff));
      return;
    }
    const mx = this.model.msix;
    if (this.wholly(idx, m.off, m.len, mx.tableBar, mx.tableOffset, this.msix.tableSize)) {
      const o = m.off - mx.tableOffset;
      reply.data(m.len === 4 ? leBytes(this.msix.readTable(o), 0, 4) : leBytes(this.msix.readTable(o), this.msix.readTable(o + 4), 8));
      return;
    }
    if (this.wholly(idx, m.off, m.len, mx.pbaBar, mx.pbaOffset, this.msix.pbaSize)) {
      const o = m.off - mx.pbaOffset;
      reply.data(m.len === 4 ? leBytes(this.msix.readPba(o), 0, 4) : leBytes(this.msix.readPba(o), this.msix.readPba(o + 4), 8));
      return;
    }
    const bar = this.bars[idx];
    if (bar === undefined) return; // excluded by check()
    if (bar.kind === 'memory') {
      reply.data(bar.read(m.off, m.len).slice(0, m.len));
      return;
    }
    if (m.len === 4) {
      reply.data(leBytes(bar.read32(m.off) >>> 0, 0, 4));
      return;
    }
    if (bar.read64 !== undefined) {
      const v = BigInt.asUintN(64, bar.read64(m.off));
      reply.data(leBytes(Number(v & 0xffffffffn), Number(v >> 32n), 8));
      return;
    }
    const lo = bar.read32(m.off) >>> 0;
    const hi = bar.read32(m.off + 4) >>> 0;
    reply.data(leBytes(lo, hi, 8));
  }

  /** Apply a region write (posted or answered). Returns the error for an invalid one (counted). */
  private regionWrite(m: RegionWriteMsg): AccessError | undefined {
    this.stats.regionWrites++;
    const d = m.data;
    const len = d.length;
    const e = this.check(m.region, m.off, len);
    if (e !== undefined) {
      this.stats.writesDroppedInvalid++;
      return e;
    }
    const idx = REGION_INDEX[m.region];
    if (idx < 0) {
      this.config.write(m.off, len, len === 1 ? u8(d, 0) : len === 2 ? u16(d, 0) : u32(d, 0));
      return undefined;
    }
    if (!this.decoding) {
      this.stats.writesDroppedDecode++;
      this.warn({ region: m.region, off: m.off }, 'BAR write with Memory Space Enable off (or not in D0): dropped');
      return undefined; // dropped silently on the wire, as on PCI
    }
    const mx = this.model.msix;
    if (this.wholly(idx, m.off, len, mx.tableBar, mx.tableOffset, this.msix.tableSize)) {
      const o = m.off - mx.tableOffset;
      this.msix.writeTable(o, u32(d, 0));
      if (len === 8) this.msix.writeTable(o + 4, u32(d, 4));
      return undefined;
    }
    if (this.wholly(idx, m.off, len, mx.pbaBar, mx.pbaOffset, this.msix.pbaSize)) return undefined; // PBA is read-only
    const bar = this.bars[idx];
    if (bar === undefined) return undefined;
    if (bar.kind === 'memory') {
      bar.write(m.off, d);
      return undefined;
    }
    // Hot path (doorbells): no allocation between the decoded frame and the model.
    if (len === 4) {
      bar.write32(m.off, u32(d, 0));
    } else if (bar.write64 !== undefined) {
      bar.write64(m.off, u32(d, 0), u32(d, 4));
    } else {
      bar.write32(m.off, u32(d, 0));
      bar.write32(m.off + 4, u32(d, 4));
    }
    return undefined;
  }

  private commandChanged(old: number, now: number): void {
    if (((old ^ now) & COMMAND.MEMORY_SPACE) !== 0) this.log.debug({ mse: (now & COMMAND.MEMORY_SPACE) !== 0 }, 'memory space enable');
    if (((old ^ now) & COMMAND.BUS_MASTER) !== 0) {
      const on = (now & COMMAND.BUS_MASTER) !== 0;
      this.log.debug({ bme: on }, 'bus master enable');
      this.model.onBusMasterChange?.(on);
    }
  }

  // -------------------------------------------------------------------------
  // Outgoing: DMA and interrupts

  private makeContext(): DeviceContext {
    const fn = this;
    const windows: DmaWindows = this.windows;
    return {
      dmaRead: (iova, len) =>
        new Promise<Uint8Array>((resolve, reject) => {
          fn.dmaRead(iova, len, (err, data) => {
            if (data !== undefined) resolve(data);
            else reject(err ?? new DmaError('gone', 'DMA failed', iova, len));
          });
        }),
      dmaReadCb: (iova, len, cb) => fn.dmaRead(iova, len, cb),
      dmaWrite: (iova, data) => fn.dmaWrite(iova, data),
      raiseIrq: (v) => fn.raiseIrq(v),
      irqDeliverable: (v) => fn.config.busMaster && fn.msix.deliverable(v),
      windows,
      get busMaster() {
        return fn.config.busMaster;
      },
      get attached() {
        return fn.channel !== undefined && fn.helloDone;
      },
      get maxDmaChunk() {
        return fn.channel?.maxPayload ?? 4096;
      },
      log: this.log,
      flush: () => fn.channel?.flush(),
      stats: this.stats,
      unchecked: this.makeUnchecked(),
    };
  }

  /** DeviceContext.unchecked: hostile-device operations with no local checks (fixtures only). */
  private makeUnchecked(): UncheckedDeviceOps {
    const fn = this;
    const live = (): Channel | undefined => (fn.channel !== undefined && fn.helloDone && fn.channel.open ? fn.channel : undefined);
    return {
      dmaRead(iova, len, cb) {
        const ch = live();
        if (ch === undefined) { process.nextTick(cb, new DmaError('gone', 'no host attached', iova, len), undefined); return; }
        fn.stats.uncheckedOps++;
        try {
          ch.requestCb({ t: 'dma_read', iova, len }, (err, ok) => cb(err, ok?.data));
        } catch (e) {
          process.nextTick(cb, e instanceof Error ? e : new Error(String(e)), undefined);
        }
      },
      dmaWrite(iova, data) {
        const ch = live();
        if (ch === undefined) return;
        fn.stats.uncheckedOps++;
        try { ch.post({ t: 'dma_write', iova, data }); } catch (e) { fn.warn({ iova, err: String(e) }, 'unchecked dma_write not sent'); }
      },
      irq(vector) {
        const ch = live();
        if (ch === undefined) return;
        fn.stats.uncheckedOps++;
        try { ch.post({ t: 'irq', vec: vector }); } catch (e) { fn.warn({ vector, err: String(e) }, 'unchecked irq not sent'); }
      },
      sendFrame(frame) {
        const ch = live();
        if (ch === undefined) return;
        fn.stats.uncheckedOps++;
        ch.sendRaw(frame);
      },
    };
  }

  /** Local refusal reason for a DMA, or undefined when it may go. Counts the refusal. */
  private refuse(iova: number, len: number, access: 'read' | 'write'): DmaError | undefined {
    if (this.channel === undefined || !this.helloDone || !this.channel.open) {
      this.stats.dmaRefusedGone++;
      return new DmaError('gone', 'no host attached', iova, len);
    }
    if (!this.config.busMaster) {
      this.stats.dmaRefusedBusMaster++;
      this.warn({ iova, len, access }, 'DMA refused: Bus Master Enable is off');
      return new DmaError('bus_master_off', `DMA ${access} refused: Bus Master Enable is off`, iova, len);
    }
    if (!Number.isSafeInteger(iova) || !Number.isSafeInteger(len) || len < 0 || !this.windows.allows(iova, Math.max(len, 1), access)) {
      this.stats.dmaRefusedWindow++;
      this.warn({ iova, len, access }, 'DMA refused: outside the host\'s windows');
      return new DmaError('iommu', `DMA ${access} of ${len} bytes at 0x${iova.toString(16)} is outside the host's ${access} windows`, iova, len);
    }
    return undefined;
  }

  private dmaRead(iova: number, len: number, cb: (err: DmaError | undefined, data: Uint8Array | undefined) => void): void {
    const refused = this.refuse(iova, len, 'read');
    if (refused !== undefined) {
      process.nextTick(cb, refused, undefined);
      return;
    }
    if (len === 0) {
      process.nextTick(cb, undefined, new Uint8Array(0));
      return;
    }
    const ch = this.channel;
    if (ch === undefined) return; // excluded by refuse()
    const chunk = ch.maxPayload;
    const n = Math.ceil(len / chunk);
    const job: ReadJob = { cb, gen: this.gen, iova, len, out: n > 1 ? new Uint8Array(len) : undefined, left: n, done: false };
    this.stats.dmaReads++;
    this.stats.dmaReadBytes += len;
    let sync = true;
    for (let i = 0; i < n && !job.done; i++) {
      const off = i * chunk;
      const part = Math.min(chunk, len - off);
      ch.requestCb({ t: 'dma_read', iova: iova + off, len: part }, (err, ok) => {
        if (sync) process.nextTick(() => this.readDone(job, off, err, ok?.data));
        else this.readDone(job, off, err, ok?.data);
      });
    }
    sync = false;
  }

  private readDone(job: ReadJob, off: number, err: ProtocolError | undefined, data: Uint8Array | undefined): void {
    if (job.done) return;
    if (job.gen !== this.gen) {
      job.done = true;
      job.cb(new DmaError('reset', 'function reset while the DMA read was in flight', job.iova, job.len), undefined);
      return;
    }
    if (err !== undefined || data === undefined) {
      job.done = true;
      this.stats.dmaReadErrors++;
      let e: DmaError;
      if (err instanceof ChannelClosedError) e = new DmaError('gone', `host went away during DMA read (${err.linkCloseCode})`, job.iova, job.len);
      else if (err?.code === 'iommu') e = new DmaError('iommu', `host IOMMU refused DMA read: ${err.message}`, job.iova, job.len);
      else e = new DmaError('host', `host refused DMA read: ${err?.message ?? 'no data'}`, job.iova, job.len, err?.code);
      this.warn({ iova: job.iova, len: job.len, code: e.code }, e.message);
      job.cb(e, undefined);
      return;
    }
    if (job.out === undefined) {
      job.done = true;
      job.cb(undefined, data);
      return;
    }
    job.out.set(data, off);
    if (--job.left === 0) {
      job.done = true;
      job.cb(undefined, job.out);
    }
  }

  private dmaWrite(iova: number, data: Uint8Array): boolean {
    const len = data.length;
    if (this.refuse(iova, len, 'write') !== undefined) return false;
    if (len === 0) return true;
    const ch = this.channel;
    if (ch === undefined) return false;
    const chunk = ch.maxPayload;
    this.stats.dmaWrites++;
    this.stats.dmaWriteBytes += len;
    if (len <= chunk) return ch.post({ t: 'dma_write', iova, data });
    for (let off = 0; off < len; off += chunk) {
      if (!ch.post({ t: 'dma_write', iova: iova + off, data: data.subarray(off, Math.min(len, off + chunk)) })) return false;
    }
    return true;
  }

  private raiseIrq(v: number): void {
    if (this.channel === undefined || !this.helloDone) {
      this.stats.irqsDropped++;
      return;
    }
    if (!this.config.busMaster) {
      // PCIe 4.0 §7.5.1.1.3: with Bus Master Enable clear, MSI/MSI-X messages (memory writes) are disabled.
      this.stats.irqsDropped++;
      this.warn({ vec: v }, 'interrupt dropped: Bus Master Enable is off');
      return;
    }
    switch (this.msix.raise(v)) {
      case 'sent':
        return;
      case 'pending':
        this.stats.irqsMasked++;
        return;
      case 'disabled':
        this.stats.irqsDropped++;
        this.warn({ vec: v }, 'interrupt dropped: MSI-X is not enabled');
        return;
      case 'bad_vector':
        this.stats.irqsBadVector++;
        this.warn({ vec: v }, `interrupt on vector ${v} beyond the ${this.msix.vectors}-entry MSI-X table: dropped`);
        return;
    }
  }

  private sendIrq(v: number): void {
    const ch = this.channel;
    if (ch === undefined || !this.config.busMaster) {
      this.stats.irqsDropped++;
      return;
    }
    if (ch.post({ t: 'irq', vec: v })) this.stats.irqsSent++;
    else this.stats.irqsDropped++;
  }

  /** Guest-misbehaviour log: the first few at warn, then debug (counters keep the totals). */
  private warn(obj: Record<string, unknown>, msg: string): void {
    if (++this.warnings <= MAX_WARN_LOGS) this.log.warn(obj, msg);
    else this.log.debug(obj, msg);
  }
}

function leBytes(lo: number, hi: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len && i < 4; i++) out[i] = (lo >>> (8 * i)) & 0xff;
  for (let i = 4; i < len; i++) out[i] = (hi >>> (8 * (i - 4))) & 0xff;
  return out;
}
