// The host side of one PCI function across the wire: attach (connect, hello,
// config-space walk, BAR sizing, enable), register access, MSI-X, interrupt
// dispatch, the IOMMU's answers to device DMA, FLR, surprise removal and
// orderly detach. [raw]
import { silentLogger, type Logger } from '../../src/util/log.ts';
import { put32, put64n } from '../../src/util/bytes.ts';
import { Channel } from '../../src/protocol/channel.ts';
import { connectWebSocket, type Transport } from '../../src/protocol/transport.ts';
import { CloseCode, type DeviceInfo, type PostedMessage, type RegionName, type RequestMessage } from '../../src/protocol/messages.ts';
import { ChannelClosedError, isProtocolError } from '../../src/protocol/errors.ts';
import type { ChannelCounters, Reply } from '../../src/protocol/channel.ts';
import {
  type AttachOptions, type Bar, type BarInfo, type ConfigSpace, type GoneInfo, type IrqHandler, type MsixInfo,
  type PciCapability, type PciFunction, type PciIds, type PciStats, type PcieInfo, type PmInfo, type Read32Cb, type Read64Cb,
} from './types.ts';
import { pciError, PciError } from './errors.ts';
import { CAP_ID, CFG, COMMAND, MSIX } from '../../src/spec/pci.ts';
import {
  CONFIG_HEADER_BYTES, MSI_ADDRESS, barFlags, barSize, decodeMsix, decodePcie, decodePm,
  parseIds, walkCapabilities,
} from './config.ts';
import { emptyStats } from './iommu.ts';
import { HostMemoryImpl, type MapLink } from './memory.ts';

const ALL_ONES_32 = 0xffff_ffff;
const ALL_ONES_64 = 0xffff_ffff_ffff_ffffn;
const BAR_REGIONS: readonly RegionName[] = ['bar0', 'bar1', 'bar2', 'bar3', 'bar4', 'bar5'];
/** Where the host places BARs (only decode cares; the wire addresses regions by name). */
const BAR32_WINDOW = 0xc000_0000;
const BAR64_WINDOW = 0x80_0000_0000;

/** How long detach() waits for the peer to complete the WebSocket close. */
const DETACH_CLOSE_WAIT_MS = 2000;

let functionCounter = 0;

/** Connect to a device daemon and attach its PCI function. */
export async function attachFunction(url: string, opts: AttachOptions = {}): Promise<PciFunction> {
  const transport = await connectWebSocket(url, {
    ...(opts.token !== undefined ? { token: opts.token } : {}),
    ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
    ...(opts.maxFrame !== undefined ? { maxFrame: opts.maxFrame } : {}),
    handshakeTimeoutMs: opts.connectTimeoutMs ?? 10_000,
  });
  return attachTransport(transport, opts);
}

/** Attach over an already-open transport (unit tests use the in-memory pair). */
export async function attachTransport(transport: Transport, opts: AttachOptions = {}): Promise<PciFunction> {
  const name = opts.name ?? `pci${functionCounter++}`;
  const log = (opts.log ?? silentLogger).child({ pci: name });
  // Watch the transport's close so detach() can wait for the close handshake
  // (the daemon takes a new host only once it has seen this one leave).
  let closedResolve: () => void = () => {};
  const closed = new Promise<void>((r) => (closedResolve = r));
  const owned = transport.sendOwned;
  const watched: Transport = {
    send: (f) => transport.send(f),
    // Forwarded when the transport has it, so the channel can reuse its frame buffers.
    ...(owned !== undefined ? { sendOwned: owned.bind(transport) } : {}),
    close: (code, reason) => transport.close(code, reason),
    onFrame: (cb) => transport.onFrame(cb),
    onClose: (cb) => transport.onClose((code, reason) => {
      closedResolve();
      cb(code, reason);
    }),
    get open() {
      return transport.open;
    },
  };
  const ch = new Channel(watched, { side: 'host', logger: log, ...(opts.maxFrame !== undefined ? { maxFrame: opts.maxFrame } : {}) });
  const fn = new PciFunctionImpl(ch, name, log, opts, closed);
  try {
    await fn.init(opts.connectTimeoutMs ?? 10_000, opts.enable ?? true);
  } catch (e) {
    ch.close(CloseCode.normal, 'attach failed');
    if (e instanceof ChannelClosedError) {
      const what = e.linkCloseCode === CloseCode.busy ? 'busy: another host is attached'
        : e.linkCloseCode === CloseCode.removed ? 'device removed' : `closed during attach`;
      throw pciError('gone', `${name}: ${what} (${e.linkCloseCode})`, { cause: e });
    }
    throw e;
  }
  return fn;
}

/** Register/config read completion used internally: data or an error. */
type RawReadCb = (err: Error | undefined, data: Uint8Array | undefined) => void;

interface PendingRead {
  deadline: number;
  len: number;
  region: RegionName;
  off: number;
  cb: RawReadCb;
  done: boolean;
}

class PciFunctionImpl implements PciFunction {
  readonly name: string;
  info: DeviceInfo = { vendor: 0xffff, device: 0xffff, subsystemVendor: 0xffff, subsystemDevice: 0xffff, classCode: 0, regions: [], irqs: { msix: 0 } };
  ids: PciIds = { vendor: 0xffff, device: 0xffff, subsystemVendor: 0xffff, subsystemDevice: 0xffff, revision: 0xff, classCode: 0, headerType: 0 };
  capabilities: readonly PciCapability[] = [];
  msix: MsixInfo | undefined;
  pcie: PcieInfo | undefined;
  pm: PmInfo | undefined;
  bars: (BarInfo | undefined)[] = [undefined, undefined, undefined, undefined, undefined, undefined];
  readonly config: ConfigSpace;
  readonly memory: HostMemoryImpl;

  private readonly ch: Channel;
  private readonly log: Logger;
  private readonly st: PciStats = emptyStats();
  private readonly barObjs: (BarImpl | undefined)[] = [];
  private isGone = false;
  private detaching = false;
  private goneInfo: GoneInfo | undefined;
  private readonly goneCbs = new Set<(info: GoneInfo) => void>();

  // Command register and MSI-X shadow (what the host programmed; restored after FLR).
  private command = 0;
  private msixEnabled = false;
  private msixVectors = 0;
  private functionMasked = false;
  private vectorMasked: Uint8Array = new Uint8Array(0);
  private readonly handlers: (IrqHandler | undefined)[] = [];
  private irqScheduled: Uint8Array = new Uint8Array(0);
  private irqQueue: number[] = [];
  private irqSpare: number[] = [];
  private irqImmediate: NodeJS.Immediate | undefined;
  private spuriousLogged = 0;
  private readonly completionTimeoutMs: number;
  private readQueue: PendingRead[] = [];
  private readHead = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly runIrqs = (): void => this.deliverIrqs();

  constructor(ch: Channel, name: string, log: Logger, opts: AttachOptions, private readonly linkClosed: Promise<void>) {
    this.ch = ch;
    this.name = name;
    this.completionTimeoutMs = opts.completionTimeoutMs ?? 10_000;
    this.log = log;
    const link: MapLink = {
      get gone(): boolean {
        return fnGone();
      },
      sendMap: (iova, len, prot, done) => this.ch.requestCb({ t: 'dma_map', iova, len, prot }, (err) => done(err)),
      sendUnmap: (iova, len, done) => this.ch.requestCb({ t: 'dma_unmap', iova, len }, (err) => done(err)),
    };
    const fnGone = (): boolean => this.isGone;
    this.memory = new HostMemoryImpl({ device: name, log, stats: this.st, link, faultLogSize: opts.faultLogSize });
    this.config = makeConfigSpace(this);
    ch.onRequest((m, reply) => this.onDeviceRequest(m, reply));
    ch.onPosted((m) => this.onDevicePosted(m));
    ch.onClose((code, reason) => this.onClose(code, reason));
  }

  // --- attach ---------------------------------------------------------------

  async init(timeoutMs: number, enable: boolean): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(pciError('gone', `${this.name}: no answer to hello within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const hello = await Promise.race([this.ch.hello(), timeout]);
      this.info = hello.info;
    } finally {
      clearTimeout(timer);
    }
    // Walk config space: 64 dword reads, pipelined in one frame.
    const cfg = new Uint8Array(CONFIG_HEADER_BYTES);
    await Promise.all(
      Array.from({ length: CONFIG_HEADER_BYTES / 4 }, (_, i) =>
        this.readRaw('config', i * 4, 4).then((d) => cfg.set(d, i * 4))),
    );
    this.ids = parseIds(cfg);
    if (this.ids.vendor === 0xffff) throw pciError('gone', `${this.name}: config space reads all-ones (no function)`);
    if ((this.ids.headerType & 0x7f) !== 0) throw pciError('config', `${this.name}: header type ${this.ids.headerType} is not a type 0 endpoint`);
    if (this.ids.classCode !== this.info.classCode || this.ids.vendor !== this.info.vendor || this.ids.device !== this.info.device) {
      this.log.warn({ config: this.ids, info: this.info }, 'config space IDs differ from hello info; trusting config space');
    }
    this.capabilities = walkCapabilities(cfg);
    for (const c of this.capabilities) {
      if (c.id === CAP_ID.MSIX && this.msix === undefined) this.msix = decodeMsix(cfg, c.offset);
      else if (c.id === CAP_ID.PCIE && this.pcie === undefined) this.pcie = decodePcie(cfg, c.offset);
      else if (c.id === CAP_ID.PM && this.pm === undefined) this.pm = decodePm(cfg, c.offset);
    }
    this.command = cfg[CFG.COMMAND] ?? 0;
    await this.sizeBars();
    if (this.msix !== undefined) {
      const m = this.msix;
      if (this.bars[m.tableBar] === undefined || this.bars[m.pbaBar] === undefined) {
        throw pciError('config', `${this.name}: MSI-X table/PBA in an unimplemented BAR`);
      }
      this.vectorMasked = new Uint8Array(m.tableSize).fill(1);
      this.irqScheduled = new Uint8Array(m.tableSize);
    }
    if (enable) await this.setCommand({ memory: true, busMaster: true });
    this.log.info({ ids: this.ids, caps: this.capabilities.map((c) => c.name), bars: this.bars.filter(Boolean) }, 'attached');
  }

  /**
   * BAR sizing (PCI 3.0 §6.2.5.1): with decode off, write all-ones, read
   * back, restore; then assign an address. All BARs in one pipelined burst:
   * posted writes take effect before later reads are answered.
   */
  private async sizeBars(): Promise<void> {
    const cmd = this.command;
    this.cfgWrite(CFG.COMMAND, 2, cmd & ~(COMMAND.MEMORY_SPACE | COMMAND.IO_SPACE));
    const orig = await Promise.all(BAR_REGIONS.map((_, i) => this.cfgRead32(CFG.BAR0 + 4 * i)));
    const probes: Promise<number>[] = [];
    for (let i = 0; i < 6; i++) {
      this.cfgWrite(CFG.BAR0 + 4 * i, 4, ALL_ONES_32);
      probes.push(this.cfgRead32(CFG.BAR0 + 4 * i));
      this.cfgWrite(CFG.BAR0 + 4 * i, 4, orig[i] ?? 0);
    }
    const back = await Promise.all(probes);
    let next32 = BAR32_WINDOW;
    let next64 = BAR64_WINDOW;
    for (let i = 0; i < 6; i++) {
      const low = back[i] ?? 0;
      const flags = barFlags(orig[i] ?? 0);
      if (flags.io) {
        if (low !== 0) this.log.warn({ bar: i }, 'I/O BAR ignored: the wire has no I/O space');
        continue;
      }
      const is64 = flags.is64 && i < 5;
      const size = barSize(low, is64 ? back[i + 1] : undefined);
      if (size === 0) continue;
      const region = BAR_REGIONS[i] ?? 'bar0';
      const infoRegion = this.info.regions.find((r) => r.name === region);
      if (infoRegion === undefined || infoRegion.size !== size) {
        this.log.warn({ bar: i, size, info: infoRegion }, 'BAR size differs from hello info');
      }
      let address: number;
      if (is64) {
        next64 = Math.ceil(next64 / size) * size;
        address = next64;
        next64 += size;
        this.cfgWrite(CFG.BAR0 + 4 * i, 4, ((address % 2 ** 32) | (orig[i] ?? 0) & 0xf) >>> 0);
        this.cfgWrite(CFG.BAR0 + 4 * (i + 1), 4, Math.floor(address / 2 ** 32));
      } else {
        next32 = Math.ceil(next32 / size) * size;
        address = next32;
        next32 += size;
        this.cfgWrite(CFG.BAR0 + 4 * i, 4, (address | ((orig[i] ?? 0) & 0xf)) >>> 0);
      }
      this.bars[i] = { index: i, region, size, memory: true, is64, prefetchable: flags.prefetchable, address };
      if (is64) i++;
    }
    this.cfgWrite(CFG.COMMAND, 2, cmd);
  }

  // --- registers ------------------------------------------------------------

  bar(n: number): Bar {
    const info = Number.isInteger(n) ? this.bars[n] : undefined;
    if (info === undefined) throw pciError('no_such', `${this.name}: BAR ${n} is not implemented`);
    let b = this.barObjs[n];
    if (b === undefined) {
      b = new BarImpl(this, info);
      this.barObjs[n] = b;
    }
    return b;
  }

  /** @internal Read `len` bytes of a region; all-ones once gone. */
  readRawCb(region: RegionName, off: number, len: number, cb: RawReadCb): void {
    if (this.isGone) {
      queueMicrotask(() => cb(undefined, new Uint8Array(len).fill(0xff)));
      return;
    }
    this.st.regionReads++;
    const rec: PendingRead = { deadline: performance.now() + this.completionTimeoutMs, len, region, off, cb, done: false };
    this.trackRead(rec);
    this.ch.requestCb({ t: 'region_read', region, off, len }, (err, ok) => {
      if (rec.done) return; // already completed by the completion timeout
      rec.done = true;
      this.dropAnswered();
      if (this.readQueue.length === 0 && this.sweepTimer !== undefined) {
        // Not unref'd while reads are pending (a pending read must keep the process alive); gone once all are answered.
        clearInterval(this.sweepTimer);
        this.sweepTimer = undefined;
      }
      if (ok !== undefined) cb(undefined, ok.data);
      else if (err instanceof ChannelClosedError || this.isGone) cb(undefined, new Uint8Array(len).fill(0xff));
      else cb(toPciError(err, `${region} read of ${len} at 0x${off.toString(16)}`), undefined);
    });
  }

  /**
   * PCIe Completion Timeout (PCIe 4.0 §2.8): a read the device never answers
   * completes with all-ones after `completionTimeoutMs`, so no driver hangs
   * on a wedged device. One sweep timer for all reads, not one per read;
   * reads are answered in order, so expired ones sit at the queue head.
   */
  private trackRead(rec: PendingRead): void {
    this.readQueue.push(rec);
    if (this.sweepTimer === undefined) {
      this.sweepTimer = setInterval(this.sweep, Math.max(10, Math.min(1000, this.completionTimeoutMs / 4)));
    }
  }

  /** Pop answered reads off the queue head (amortised O(1) per read). */
  private dropAnswered(): void {
    const q = this.readQueue;
    while (this.readHead < q.length && q[this.readHead]?.done === true) this.readHead++;
    if (this.readHead === q.length) {
      q.length = 0;
      this.readHead = 0;
    }
  }

  private readonly sweep = (): void => {
    const now = performance.now();
    let i = this.readHead;
    const q = this.readQueue;
    while (i < q.length) {
      const r = q[i];
      if (r === undefined) break;
      if (!r.done) {
        if (r.deadline > now) break;
        r.done = true;
        this.st.completionTimeouts++;
        this.log.error({ region: r.region, off: r.off, len: r.len }, 'completion timeout: register read unanswered; returning all-ones');
        r.cb(undefined, new Uint8Array(r.len).fill(0xff));
      }
      i++;
    }
    // Keep skipping answered reads behind an unexpired one lazily; compact the array now and then.
    this.readHead = i;
    if (this.readHead === q.length) {
      this.readQueue = [];
      this.readHead = 0;
    } else if (this.readHead > 1024) {
      this.readQueue = q.slice(this.readHead);
      this.readHead = 0;
    }
    if (this.readQueue.length === 0 && this.sweepTimer !== undefined) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
    }
  };

  readRaw(region: RegionName, off: number, len: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.readRawCb(region, off, len, (err, data) => {
        if (data !== undefined) resolve(data);
        else reject(err ?? pciError('device', 'read failed'));
      });
    });
  }

  /** @internal Posted write; dropped once gone. */
  writeRaw(region: RegionName, off: number, data: Uint8Array): void {
    if (this.isGone) return;
    this.st.regionWrites++;
    this.ch.post({ t: 'region_write', region, off, data });
  }

  /** @internal Largest data payload of one message. */
  get maxPayload(): number {
    return this.ch.maxPayload;
  }

  cfgRead32(off: number): Promise<number> {
    return this.readRaw('config', off, 4).then(le32);
  }

  cfgWrite(off: number, width: 1 | 2 | 4, v: number): void {
    const d = new Uint8Array(width);
    for (let i = 0; i < width; i++) d[i] = (v >>> (8 * i)) & 0xff;
    this.writeRaw('config', off, d);
  }

  async setCommand(opts: { memory?: boolean; busMaster?: boolean }): Promise<void> {
    this.checkAlive();
    let cmd = this.command;
    if (opts.memory !== undefined) cmd = opts.memory ? cmd | COMMAND.MEMORY_SPACE : cmd & ~COMMAND.MEMORY_SPACE;
    if (opts.busMaster !== undefined) cmd = opts.busMaster ? cmd | COMMAND.BUS_MASTER : cmd & ~COMMAND.BUS_MASTER;
    // Turning bus mastering off takes effect for the host's IOMMU at once (before the write
    // reaches the device); turning it on, once the device has seen it.
    if ((cmd & COMMAND.BUS_MASTER) === 0) this.memory.iommu.busMaster = false;
    this.cfgWrite(CFG.COMMAND, 2, cmd);
    const back = (await this.cfgRead32(CFG.COMMAND)) & 0xffff;
    this.memory.iommu.busMaster = (back & COMMAND.BUS_MASTER) !== 0 || this.isGone;
    if (this.isGone) return;
    this.command = back;
    const want = cmd & (COMMAND.MEMORY_SPACE | COMMAND.BUS_MASTER);
    if ((back & (COMMAND.MEMORY_SPACE | COMMAND.BUS_MASTER)) !== want) {
      throw pciError('config', `${this.name}: command register reads 0x${back.toString(16)} after writing 0x${cmd.toString(16)}`);
    }
  }

  // --- MSI-X ----------------------------------------------------------------

  private msixOrThrow(): MsixInfo {
    if (this.msix === undefined) throw pciError('no_such', `${this.name}: no MSI-X capability`);
    return this.msix;
  }

  private checkVector(vec: number): MsixInfo {
    const m = this.msixOrThrow();
    if (!Number.isInteger(vec) || vec < 0 || vec >= m.tableSize) {
      throw pciError('no_such', `${this.name}: MSI-X vector ${vec} outside the table (size ${m.tableSize})`);
    }
    return m;
  }

  private writeMsixCtrl(): void {
    const m = this.msixOrThrow();
    // Message Control: only Enable (15) and Function Mask (14) are writable (PCI 3.0 §6.8.2.3).
    const v = (this.msixEnabled ? MSIX.CONTROL_ENABLE : 0) | (this.functionMasked ? MSIX.CONTROL_FUNCTION_MASK : 0);
    this.cfgWrite(m.capOffset + MSIX.CONTROL, 2, v);
  }

  private tableWrite32(vec: number, field: number, v: number): void {
    const m = this.msixOrThrow();
    const d = new Uint8Array(4);
    put32(d, 0, v);
    this.writeRaw(BAR_REGIONS[m.tableBar] ?? 'bar0', m.tableOffset + vec * MSIX.ENTRY_SIZE + field, d);
  }

  async enableMsix(nvec?: number): Promise<number> {
    this.checkAlive();
    const m = this.msixOrThrow();
    const n = nvec ?? m.tableSize;
    if (!Number.isInteger(n) || n < 1 || n > m.tableSize) {
      throw pciError('invalid', `${this.name}: cannot enable ${n} MSI-X vectors (table has ${m.tableSize})`);
    }
    if ((this.command & COMMAND.MEMORY_SPACE) === 0) throw pciError('invalid', `${this.name}: enable memory space before MSI-X (the table is in a BAR)`);
    // As Linux's msix_capability_init: enable with the function masked,
    // program the entries, then lift the function mask.
    this.msixEnabled = true;
    this.functionMasked = true;
    this.writeMsixCtrl();
    for (let v = 0; v < m.tableSize; v++) {
      if (v < n) {
        this.tableWrite32(v, MSIX.ENTRY_ADDR_LO, MSI_ADDRESS);
        this.tableWrite32(v, MSIX.ENTRY_ADDR_HI, 0);
        this.tableWrite32(v, MSIX.ENTRY_DATA, v);
        this.tableWrite32(v, MSIX.ENTRY_VECTOR_CTRL, 0);
        this.vectorMasked[v] = 0;
      } else if (this.vectorMasked[v] === 0) {
        this.tableWrite32(v, MSIX.ENTRY_VECTOR_CTRL, MSIX.VECTOR_CTRL_MASK);
        this.vectorMasked[v] = 1;
      }
    }
    this.msixVectors = n;
    this.functionMasked = false;
    this.writeMsixCtrl();
    // Read back the control word: the writes above have taken effect once it answers.
    const ctrl = ((await this.cfgRead32(m.capOffset)) >>> 16) & 0xffff;
    if (!this.isGone && (ctrl & MSIX.CONTROL_ENABLE) === 0) throw pciError('config', `${this.name}: MSI-X Enable did not stick (control 0x${ctrl.toString(16)})`);
    return n;
  }

  async disableMsix(): Promise<void> {
    this.checkAlive();
    this.msixOrThrow();
    this.msixEnabled = false;
    this.msixVectors = 0;
    this.writeMsixCtrl();
    await this.cfgRead32(CFG.VENDOR_ID);
  }

  maskVector(vec: number, masked: boolean): void {
    this.checkVector(vec);
    this.vectorMasked[vec] = masked ? 1 : 0;
    this.tableWrite32(vec, MSIX.ENTRY_VECTOR_CTRL, masked ? MSIX.VECTOR_CTRL_MASK : 0);
  }

  setFunctionMask(masked: boolean): void {
    this.msixOrThrow();
    this.functionMasked = masked;
    this.writeMsixCtrl();
  }

  async isPending(vec: number): Promise<boolean> {
    const m = this.checkVector(vec);
    const off = m.pbaOffset + Math.floor(vec / 32) * 4;
    const d = await this.readRaw(BAR_REGIONS[m.pbaBar] ?? 'bar0', off, 4);
    return ((le32(d) >>> (vec % 32)) & 1) === 1;
  }

  onIrq(vec: number, handler: IrqHandler): () => void {
    this.checkVector(vec);
    if (typeof handler !== 'function') throw pciError('invalid', 'onIrq needs a function');
    this.handlers[vec] = handler;
    return () => {
      if (this.handlers[vec] === handler) this.handlers[vec] = undefined;
    };
  }

  /**
   * An incoming MSI-X message. Dropped as spurious unless MSI-X is enabled,
   * the vector is one the host enabled, and a handler is registered
   * (PROTOCOL.md "Interrupts"). A vector already scheduled is merged: a
   * flood costs one flag test per message and one handler call per turn.
   */
  private onIrqMsg(vec: number): void {
    const handler = vec < this.msixVectors && this.msixEnabled ? this.handlers[vec] : undefined;
    if (handler === undefined) {
      this.st.spuriousIrqs++;
      if (this.spuriousLogged < 10) {
        this.spuriousLogged++;
        this.log.warn({ vec, enabled: this.msixEnabled, vectors: this.msixVectors }, 'spurious MSI-X interrupt dropped');
      }
      return;
    }
    if (this.irqScheduled[vec] === 1) {
      this.st.irqsMerged++;
      return;
    }
    this.irqScheduled[vec] = 1;
    this.irqQueue.push(vec);
    if (this.irqImmediate === undefined) this.irqImmediate = setImmediate(this.runIrqs);
  }

  private deliverIrqs(): void {
    this.irqImmediate = undefined;
    const q = this.irqQueue;
    this.irqQueue = this.irqSpare;
    for (let i = 0; i < q.length; i++) {
      const vec = q[i] ?? 0;
      this.irqScheduled[vec] = 0;
      if (this.isGone) continue;
      const h = this.handlers[vec];
      if (h === undefined) continue;
      this.st.irqs++;
      try {
        h(vec);
      } catch (e) {
        this.st.handlerErrors++;
        this.log.error({ err: e, vec }, 'interrupt handler threw');
      }
    }
    q.length = 0;
    this.irqSpare = q;
  }

  // --- device → host --------------------------------------------------------

  private onDeviceRequest(m: RequestMessage, reply: Reply): void {
    if (m.t !== 'dma_read') {
      reply.err('unknown_type', `the host does not serve ${m.t}`);
      return;
    }
    // The answer is encoded when sent, so a view of host memory is enough (no copy here).
    const r = this.memory.iommu.readShared(m.iova, m.len);
    if (r.ok) reply.data(r.data);
    else reply.err('iommu', `DMA read of ${m.len} bytes at 0x${m.iova.toString(16)} blocked: ${r.fault.reason}`);
  }

  private onDevicePosted(m: PostedMessage): void {
    switch (m.t) {
      case 'dma_write':
        // A blocked write is dropped (counted and logged by the IOMMU).
        this.memory.iommu.write(m.iova, m.data);
        return;
      case 'irq':
        this.onIrqMsg(m.vec);
        return;
      default:
        this.st.protocolErrors++;
        this.log.warn({ t: m.t }, 'unexpected posted message from the device');
    }
  }

  // --- reset, removal, detach -------------------------------------------------

  async reset(): Promise<void> {
    this.checkAlive();
    // Save (as pci_save_state): command register, BAR addresses, MSI-X.
    const cmd = this.command;
    const barVals = await Promise.all(BAR_REGIONS.map((_, i) => this.cfgRead32(CFG.BAR0 + 4 * i)));
    try {
      await this.ch.request({ t: 'reset' });
    } catch (e) {
      if (e instanceof ChannelClosedError || this.isGone) throw pciError('gone', `${this.name}: gone during reset`, { cause: e });
      throw toPciError(e, 'reset');
    }
    // Restore (pci_restore_state): BARs, command, then MSI-X with the function masked.
    for (let i = 0; i < 6; i++) this.cfgWrite(CFG.BAR0 + 4 * i, 4, barVals[i] ?? 0);
    this.cfgWrite(CFG.COMMAND, 2, cmd);
    this.command = cmd;
    if (this.msix !== undefined) {
      // FLR left every vector masked and MSI-X disabled; re-program what the driver had.
      const masks = this.vectorMasked.slice();
      this.vectorMasked.fill(1);
      const wasEnabled = this.msixEnabled;
      const fmask = this.functionMasked;
      const n = this.msixVectors;
      this.msixEnabled = false;
      this.msixVectors = 0;
      this.functionMasked = false;
      if (wasEnabled && n > 0 && (cmd & COMMAND.MEMORY_SPACE) !== 0) {
        await this.enableMsix(n);
        for (let v = 0; v < n; v++) if (masks[v] === 1) this.maskVector(v, true);
        if (fmask) this.setFunctionMask(true);
      }
    }
    await this.setCommand({ memory: (cmd & COMMAND.MEMORY_SPACE) !== 0, busMaster: (cmd & COMMAND.BUS_MASTER) !== 0 });
  }

  get gone(): boolean {
    return this.isGone;
  }

  onGone(cb: (info: GoneInfo) => void): () => void {
    const info = this.goneInfo;
    if (info !== undefined) {
      queueMicrotask(() => cb(info));
      return () => {};
    }
    this.goneCbs.add(cb);
    return () => {
      this.goneCbs.delete(cb);
    };
  }

  stats(): PciStats {
    return { ...this.st, protocolErrors: this.st.protocolErrors + this.ch.counters.malformed };
  }

  linkCounters(): Readonly<ChannelCounters> {
    return this.ch.counters;
  }

  async detach(reason = 'detach'): Promise<void> {
    if (this.isGone) return;
    this.detaching = true;
    this.ch.bye(reason);
    this.markGone({ code: CloseCode.normal, reason, surprise: false });
    // Wait (bounded) for the close handshake so an immediate re-attach is not refused as busy.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.linkClosed, new Promise<void>((r) => (timer = setTimeout(r, DETACH_CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
  }

  private onClose(code: number, reason: string): void {
    if (this.isGone) return;
    const surprise = !this.detaching;
    if (surprise) {
      this.log.warn({ code, reason }, code === CloseCode.removed ? 'surprise removal: device removed' : 'surprise removal: link lost');
    }
    this.markGone({ code, reason, surprise });
  }

  private markGone(info: GoneInfo): void {
    if (this.isGone) return;
    this.isGone = true;
    this.goneInfo = info;
    const n = this.memory.tearDown();
    if (n > 0) this.log.info({ windows: n }, 'DMA mappings torn down');
    if (this.irqImmediate !== undefined) {
      clearImmediate(this.irqImmediate);
      this.irqImmediate = undefined;
    }
    this.irqQueue.length = 0;
    this.irqScheduled.fill(0);
    if (this.sweepTimer !== undefined) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
    }
    for (const cb of [...this.goneCbs]) {
      try {
        cb(info);
      } catch (e) {
        this.log.error({ err: e }, 'onGone callback threw');
      }
    }
    this.goneCbs.clear();
  }

  private checkAlive(): void {
    if (this.isGone) throw pciError('gone', `${this.name}: the device is gone`);
  }
}

// ---------------------------------------------------------------------------

// A reply shorter than asked reads as all-ones in the missing bytes (what a
// PCI read of a vanished function returns), hence 0xff rather than the
// zero-filling primitives of src/util/bytes.ts.
function le32(d: Uint8Array): number {
  return ((d[0] ?? 0xff) | ((d[1] ?? 0xff) << 8) | ((d[2] ?? 0xff) << 16) | ((d[3] ?? 0xff) << 24)) >>> 0;
}

function le64(d: Uint8Array): bigint {
  return BigInt(le32(d)) | (BigInt(le32(d.subarray(4))) << 32n);
}

function toPciError(err: unknown, what: string): PciError {
  if (err instanceof PciError) return err;
  if (isProtocolError(err)) return pciError('device', `${what}: device answered ${err.code}: ${err.message}`, { protocolCode: err.code, cause: err });
  return pciError('device', `${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

function checkOff(what: string, size: number, off: number, len: number, align: number): void {
  if (!Number.isInteger(off) || off < 0 || off + len > size) {
    throw pciError('bounds', `${what}: access of ${len} bytes at 0x${Number(off).toString(16)} outside 0..0x${size.toString(16)}`);
  }
  if (align > 1 && off % align !== 0) throw pciError('size', `${what}: ${len}-byte access at 0x${off.toString(16)} is not naturally aligned`);
}

function makeConfigSpace(fn: PciFunctionImpl): ConfigSpace {
  const read = (off: number, w: 1 | 2 | 4): Promise<number> => {
    checkOff('config', 4096, off, w, w);
    return fn.readRaw('config', off, w).then((d) => (w === 4 ? le32(d) : w === 2 ? (d[0] ?? 0xff) | ((d[1] ?? 0xff) << 8) : d[0] ?? 0xff));
  };
  const write = (off: number, w: 1 | 2 | 4, v: number): void => {
    checkOff('config', 4096, off, w, w);
    fn.cfgWrite(off, w, v);
  };
  return {
    read8: (off) => read(off, 1),
    read16: (off) => read(off, 2),
    read32: (off) => read(off, 4),
    write8: (off, v) => write(off, 1, v),
    write16: (off, v) => write(off, 2, v),
    write32: (off, v) => write(off, 4, v),
  };
}

class BarImpl implements Bar {
  readonly index: number;
  readonly region: RegionName;
  readonly size: number;
  private readonly what: string;
  constructor(private readonly fn: PciFunctionImpl, info: BarInfo) {
    this.index = info.index;
    this.region = info.region;
    this.size = info.size;
    this.what = `${fn.name} ${info.region}`;
  }

  read32(off: number): Promise<number> {
    checkOff(this.what, this.size, off, 4, 4); // synchronous, as documented
    return new Promise((resolve, reject) => this.read32Cb(off, (v, err) => (err === undefined ? resolve(v) : reject(err))));
  }
  read64(off: number): Promise<bigint> {
    checkOff(this.what, this.size, off, 8, 8);
    return new Promise((resolve, reject) => this.read64Cb(off, (v, err) => (err === undefined ? resolve(v) : reject(err))));
  }
  read32Cb(off: number, cb: Read32Cb): void {
    checkOff(this.what, this.size, off, 4, 4);
    this.fn.readRawCb(this.region, off, 4, (err, d) => cb(d === undefined ? ALL_ONES_32 : le32(d), err));
  }
  read64Cb(off: number, cb: Read64Cb): void {
    checkOff(this.what, this.size, off, 8, 8);
    this.fn.readRawCb(this.region, off, 8, (err, d) => cb(d === undefined ? ALL_ONES_64 : le64(d), err));
  }
  readBytes(off: number, len: number): Promise<Uint8Array> {
    if (!Number.isInteger(len) || len <= 0) throw pciError('invalid', `${this.what}: read of ${len} bytes`);
    checkOff(this.what, this.size, off, len, 1);
    return this.readChunks(off, len);
  }
  private async readChunks(off: number, len: number): Promise<Uint8Array> {
    const chunk = this.fn.maxPayload;
    if (len <= chunk) return this.fn.readRaw(this.region, off, len);
    const out = new Uint8Array(len);
    const parts: Promise<void>[] = [];
    for (let p = 0; p < len; p += chunk) {
      const n = Math.min(chunk, len - p);
      parts.push(this.fn.readRaw(this.region, off + p, n).then((d) => out.set(d, p)));
    }
    await Promise.all(parts);
    return out;
  }
  write32(off: number, value: number): void {
    checkOff(this.what, this.size, off, 4, 4);
    const d = new Uint8Array(4);
    put32(d, 0, value);
    this.fn.writeRaw(this.region, off, d);
  }
  write64(off: number, value: bigint | number): void {
    checkOff(this.what, this.size, off, 8, 8);
    let v: bigint;
    if (typeof value === 'bigint') v = BigInt.asUintN(64, value);
    else if (Number.isSafeInteger(value) && value >= 0) v = BigInt(value);
    else throw pciError('invalid', `${this.what}: ${value} is not an unsigned integer below 2^53`);
    const d = new Uint8Array(8);
    put64n(d, 0, v);
    this.fn.writeRaw(this.region, off, d);
  }
  writeBytes(off: number, data: Uint8Array): void {
    if (!(data instanceof Uint8Array) || data.length === 0) throw pciError('invalid', `${this.what}: writeBytes needs a non-empty Uint8Array`);
    checkOff(this.what, this.size, off, data.length, 1);
    const chunk = this.fn.maxPayload;
    // The channel encodes at once, so passing subarrays is a copy-free split.
    for (let p = 0; p < data.length; p += chunk) {
      this.fn.writeRaw(this.region, off + p, data.subarray(p, Math.min(data.length, p + chunk)));
    }
  }
}
