// The NVMe controller as a PCI device plugin (device/pci/model.ts). This file
// holds the state and wires the concerns together: registers.ts (register
// file), doorbells.ts, queues.ts (engine), admin.ts, io.ts, identify.ts,
// logs.ts, features.ts, aer.ts, cmb.ts, dma.ts. Three error channels, as in
// QEMU: command status (handlers return it), guest misbehaviour (logged in
// the 'guest' category and ignored), configuration errors (at start).
import type { Logger } from '../../src/util/log.ts';
import { silentLogger } from '../../src/util/log.ts';
import type { BarDecl, DeviceContext, DeviceModel, MsixDecl, PciIds, ResetKind, RegisterBarDecl } from '../pci/model.ts';
import { DmaError } from '../pci/model.ts';
import { CAP, CC, CSTS, makeReg64, getField, setField, NVME_VERSION_1_4, REG_FILE_SIZE } from '../../src/spec/registers.ts';
import { MSIX_ENTRY_SIZE } from '../../src/spec/sizes.ts';
import { ERROR_ENTRY } from '../../src/spec/log.ts';
import { put16, put32, put64, u32 } from '../../src/wire/le.ts';
import { NamespaceData } from '../backend/namespace.ts';
import { SmartSidecar, emptySmart, type PersistedSmart } from '../backend/smart-sidecar.ts';
import type { NvmeConfig } from './options.ts';
import { NO_FAULTS, type NvmeFaultHooks } from './faults.ts';
import { Cq, Sq, Req, PENDING, complete as completeReq, flushCq, kick, runPass, sqPending, drainWaiting } from './queues.ts';
import { regRead, regWrite } from './registers.ts';
import { doorbellWrite } from './doorbells.ts';
import { AerEngine } from './aer.ts';
import { Cmb } from './cmb.ts';
import { adminCommand } from './admin.ts';
import { ioCommand } from './io.ts';
import { FeatureState } from './features.ts';

/** PCI identity: Red Hat / QEMU NVMe (1b36:0010), class 01 08 02 (NVM Express). */
export const NVME_PCI_IDS: PciIds = { vendor: 0x1b36, device: 0x0010, subsystemVendor: 0x1af4, subsystemDevice: 0x1100, classCode: 0x010802, revision: 2 };

const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(16, n)));
const align4k = (n: number): number => Math.ceil(n / 4096) * 4096;

/** Number of entries in the Error Information log (ELPE+1). */
export const ERROR_LOG_ENTRIES = 64;

export interface Namespace {
  readonly nsid: number;
  readonly data: NamespaceData;
  /** Feature 05h per namespace: TLER. */
  tler: number;
}

export interface ErrorLogEntry {
  count: number;
  sqid: number;
  cid: number;
  status: number;
  lba: number;
  nsid: number;
}

/** query-device `nvme` section (NvmeController.info). */
export interface NvmeInfo {
  ready: boolean;
  cc: number;
  csts: number;
  shadowDoorbells: boolean;
  namespaces: { nsid: number; sizeBytes: number; blocks: number; lbads: number; backend: string; allocatedBytes: number; dirtyCachePages: number; writeCache: boolean; uncorrectableBlocks: number }[];
  sqs: { qid: number; size: number; head: number; tail: number; pending: number; inflight: number; cqid: number; cmb: boolean; deleting: boolean }[];
  cqs: { qid: number; size: number; head: number; tail: number; phase: number; iv: number; ien: boolean; waiting: number }[];
  aer: { outstanding: number };
  errorLogEntries: number;
  counters: NvmeStats;
}

/** Controller counters (query-device and SMART). */
export interface NvmeStats {
  commands: number;
  completions: number;
  doorbells: number;
  invalidDoorbells: number;
  cqFullStalls: number;
  irqs: number;
  guestErrors: number;
  fatal: number;
  bytesRead: number;
  bytesWritten: number;
  hostReadCommands: number;
  hostWriteCommands: number;
  mediaErrors: number;
}

const GONE_CTX: DeviceContext = {
  dmaRead: (iova, len) => Promise.reject(new DmaError('gone', 'not attached', iova, len)),
  dmaReadCb: (iova, len, cb) => setImmediate(() => cb(new DmaError('gone', 'not attached', iova, len), undefined)),
  dmaWrite: () => false,
  raiseIrq: () => {},
  irqDeliverable: () => false,
  windows: { allows: () => false, list: () => [], count: 0 },
  busMaster: false,
  attached: false,
  maxDmaChunk: 0,
  log: silentLogger,
  flush: () => {},
  stats: {} as DeviceContext['stats'],
  unchecked: {
    dmaRead: (iova, len, cb) => setImmediate(() => cb(new DmaError('gone', 'not attached', iova, len), undefined)),
    dmaWrite: () => {},
    irq: () => {},
    sendFrame: () => {},
  },
};

export class NvmeController implements DeviceModel {
  readonly name = 'nvme';
  readonly ids = NVME_PCI_IDS;
  readonly bars: readonly BarDecl[];
  readonly msix: MsixDecl;
  ctx: DeviceContext = GONE_CTX;
  log: Logger;
  private guestLog: Logger;
  faults: NvmeFaultHooks = NO_FAULTS;

  // Registers (§3.1).
  readonly cap: bigint;
  readonly vs = NVME_VERSION_1_4;
  readonly dstrd = 0;
  intms = 0;
  cc = 0;
  csts = 0;
  aqa = 0;
  asq = 0;
  acq = 0;
  /** Memory page size from CC.MPS at enable. */
  pageSize = 4096;

  // Queues. Index = qid.
  sqs: (Sq | undefined)[] = [];
  cqs: (Cq | undefined)[] = [];
  /** Bumped by every controller reset: callbacks from before are dropped. */
  epoch = 1;
  /** Set Features Number of Queues is refused once an I/O CQ was created (§5.21.1.7). */
  ioQueuesCreated = false;
  passScheduled = false;
  rrNext = 0;
  readonly runPassBound = (): void => runPass(this);
  readonly dirtyCqs = new Set<Cq>();
  private flushScheduled = false;
  private readonly flushBound = (): void => this.flushCompletions();

  readonly namespaces = new Map<number, Namespace>();
  readonly aer: AerEngine;
  readonly cmb: Cmb;
  readonly features: FeatureState;
  readonly errorLog: ErrorLogEntry[] = [];
  /** NSIDs for the Changed Namespace List log (04h). */
  readonly changedNs: number[] = [];
  errorCount = 0;
  /** Shadow doorbell / EventIdx buffers (Doorbell Buffer Config, §5.7). */
  dbbuf: { shadow: number; eventIdx: number } | undefined;
  /** Reused 4-byte buffer for shadow / EventIdx writes. */
  private readonly dbScratch = new Uint8Array(4);
  readonly stats: NvmeStats = {
    commands: 0, completions: 0, doorbells: 0, invalidDoorbells: 0, cqFullStalls: 0, irqs: 0, guestErrors: 0, fatal: 0,
    bytesRead: 0, bytesWritten: 0, hostReadCommands: 0, hostWriteCommands: 0, mediaErrors: 0,
  };
  /** Persisted SMART counters (file-backed) or in-memory ones. */
  smart: PersistedSmart;
  private readonly sidecar: SmartSidecar | undefined;
  readonly startedAt = performance.now();
  /** Timestamp feature: host value and when it was set. */
  timestamp = { hostMs: 0, setAt: 0, origin: 0 };

  constructor(readonly cfg: NvmeConfig, log: Logger = silentLogger) {
    this.log = log;
    this.guestLog = log.child({ cat: 'guest' });
    this.cap = makeReg64(CAP, {
      MQES: cfg.mqes, CQR: 1, AMS: 0, TO: 0x0f, DSTRD: 0, NSSRS: 0, CSS: 0x01, MPSMIN: 0, MPSMAX: 4, CMBS: cfg.cmbSizeMb > 0 ? 1 : 0,
    });
    const doorbellEnd = REG_FILE_SIZE + 2 * (cfg.maxIoQpairs + 1) * (4 << this.dstrd);
    const tableOffset = align4k(doorbellEnd);
    const pbaOffset = align4k(tableOffset + cfg.msixQsize * MSIX_ENTRY_SIZE);
    const bar0Size = nextPow2(pbaOffset + Math.ceil(cfg.msixQsize / 64) * 8);
    this.msix = { vectors: cfg.msixQsize, tableBar: 0, tableOffset, pbaBar: 0, pbaOffset };
    const bar0: RegisterBarDecl = {
      kind: 'registers', index: 0, size: bar0Size, is64: true,
      read32: (off) => (off < REG_FILE_SIZE ? regRead(this, off) : 0),
      write32: (off, v) => (off < REG_FILE_SIZE ? regWrite(this, off, v) : doorbellWrite(this, off, v)),
    };
    this.cmb = new Cmb(cfg.cmbSizeMb * 1024 * 1024, (m, e) => this.guest(m, e));
    this.bars = cfg.cmbSizeMb > 0 ? [bar0, this.cmb.bar()] : [bar0];
    this.cmb.onWrite = () => {
      if (this.sqs.some((s) => s !== undefined && s.inCmb && sqPending(s) > 0)) kick(this);
    };
    this.aer = new AerEngine(this);
    this.features = new FeatureState(cfg);
    for (const n of cfg.namespaces) {
      const data = new NamespaceData({ nsid: n.nsid, sizeBytes: n.sizeBytes, blockSize: n.blockSize, ...(n.file === undefined ? {} : { file: n.file }), writeCache: cfg.vwc });
      this.namespaces.set(n.nsid, { nsid: n.nsid, data, tler: 0 });
    }
    const firstFile = cfg.namespaces.find((n) => n.file !== undefined)?.file;
    this.sidecar = firstFile === undefined ? undefined : new SmartSidecar(`${firstFile}.smart.json`);
    this.smart = this.sidecar?.load() ?? emptySmart();
    // Power-on: one more power cycle; a previous run that never shut down cleanly was unsafe.
    this.smart.powerCycles++;
    if (this.smart.running) this.smart.unsafeShutdowns++;
    this.smart.running = true;
    this.saveSmart();
  }

  // ---- DeviceModel ----------------------------------------------------------
  attach(ctx: DeviceContext): void {
    this.ctx = ctx;
    this.log = ctx.log;
    this.guestLog = ctx.log.child({ cat: 'guest' });
  }

  reset(kind: ResetKind): void {
    this.resetController(`PCI ${kind}`);
    this.cc = 0;
    this.aqa = 0;
    this.asq = 0;
    this.acq = 0;
    this.intms = 0;
    this.cmb.reset();
  }

  async shutdown(): Promise<void> {
    await this.flushAll();
    this.onCleanShutdown();
    for (const ns of this.namespaces.values()) ns.data.close();
  }

  describe(): Record<string, unknown> {
    return {
      cc: this.cc, csts: this.csts, ready: this.ready,
      namespaces: [...this.namespaces.values()].map((n) => ({
        nsid: n.nsid, blockSize: n.data.blockSize, blocks: n.data.nsze, backend: n.data.store.kind,
        dirtyPages: n.data.cache.dirtyPages, writeCache: n.data.cache.enabled,
      })),
      queues: {
        sq: this.sqs.flatMap((s) => (s === undefined ? [] : [{ qid: s.qid, size: s.size, head: s.head, tail: s.tail, cqid: s.cq.qid, inflight: s.inflight, cmb: s.inCmb }])),
        cq: this.cqs.flatMap((q) => (q === undefined ? [] : [{ qid: q.qid, size: q.size, head: q.head, tail: q.tail, iv: q.iv, waiting: q.waiting.length }])),
      },
      stats: { ...this.stats },
      smart: { ...this.smart },
    };
  }

  /**
   * The `nvme` section of the daemon's query-device (registered by the factory
   * in index.ts): registers, namespaces with size / LBA data size / usage,
   * every queue with size, head, tail and commands in flight, and counters.
   * JSON-safe (numbers, strings, booleans, arrays, plain objects).
   */
  info(): NvmeInfo {
    return {
      ready: this.ready,
      cc: this.cc,
      csts: this.csts,
      shadowDoorbells: this.dbbuf !== undefined,
      namespaces: [...this.namespaces.values()].map((n) => ({
        nsid: n.nsid,
        sizeBytes: n.data.nsze * n.data.blockSize,
        blocks: n.data.nsze,
        lbads: n.data.blockShift,
        backend: n.data.store.kind,
        allocatedBytes: n.data.store.allocatedBytes(),
        dirtyCachePages: n.data.cache.dirtyPages,
        writeCache: n.data.cache.enabled,
        uncorrectableBlocks: n.data.uncorrectableCount,
      })),
      sqs: this.sqs.flatMap((s) => (s === undefined ? [] : [{
        qid: s.qid, size: s.size, head: s.head, tail: s.tail, pending: sqPending(s), inflight: s.inflight, cqid: s.cq.qid, cmb: s.inCmb, deleting: s.deleting,
      }])),
      cqs: this.cqs.flatMap((q) => (q === undefined ? [] : [{
        qid: q.qid, size: q.size, head: q.head, tail: q.tail, phase: q.phase, iv: q.iv, ien: q.ien, waiting: q.waiting.length,
      }])),
      aer: { outstanding: this.aer.outstanding.length },
      errorLogEntries: this.errorCount,
      counters: { ...this.stats },
    };
  }

  // ---- state helpers ----------------------------------------------------------
  get enabled(): boolean {
    return getField(this.cc, CC.EN) === 1;
  }
  /** Enabled, ready, not failed and not shut down. */
  get ready(): boolean {
    return (this.csts & 0b11) === 1 && getField(this.csts, CSTS.SHST) === 0;
  }

  /** Guest misbehaviour: logged in its own category, counted, never thrown. */
  guest(msg: string, extra: Record<string, unknown> = {}): void {
    this.stats.guestErrors++;
    this.guestLog.warn(extra, msg);
  }

  /** Controller Fatal Status (§10.5): stop processing until a reset. */
  fatal(why: string): void {
    this.stats.fatal++;
    this.log.error({ why }, 'controller fatal status (CSTS.CFS)');
    this.csts = setField(this.csts, CSTS.CFS, 1);
  }

  /** CC.EN 1→0 or a PCI reset: free queues, drop AERs, clear state (§3.1.5, §7.3.2). */
  resetController(why: string): void {
    this.log.debug({ why }, 'controller reset');
    this.epoch++;
    for (const cq of this.cqs) if (cq?.coalesceTimer !== undefined) clearTimeout(cq.coalesceTimer);
    // Commands held by a fault's delay die with the queues (their timers would only find a new epoch).
    for (const sq of this.sqs) {
      if (sq === undefined || sq.inflight === 0) continue;
      for (const r of sq.busy()) if (r.hold !== undefined) clearTimeout(r.hold);
    }
    this.sqs = [];
    this.cqs = [];
    this.dirtyCqs.clear();
    this.aer.reset();
    this.ioQueuesCreated = false;
    this.dbbuf = undefined;
    this.csts = 0;
    this.features.resetVolatile();
  }

  onEnabled(): void {
    this.timestamp = { hostMs: 0, setAt: performance.now(), origin: 0 };
    if (!this.smart.running) {
      this.smart.running = true;
      this.saveSmart();
    }
  }

  onCleanShutdown(): void {
    this.smart.running = false;
    this.saveSmart();
  }

  saveSmart(): void {
    if (this.sidecar === undefined) return;
    this.smart.powerOnMs += 0;
    const err = this.sidecar.save(this.smart);
    if (err !== undefined) this.log.warn({ err }, 'cannot save SMART sidecar');
  }

  async flushAll(): Promise<void> {
    await Promise.all([...this.namespaces.values()].map((n) => n.data.flush()));
  }

  /** MDTS in bytes: 2^MDTS × the minimum page size (CAP.MPSMIN = 4 KiB). */
  mdtsBytes(): number {
    return 4096 * 2 ** this.cfg.mdts;
  }

  /** Arbitration burst: Feature 01h AB (2^AB, 7 = no limit) capped by the `burst` option. */
  burstLimit(): number {
    const ab = this.features.arbitration & 7;
    return ab === 7 ? this.cfg.burst : Math.min(this.cfg.burst, 1 << ab);
  }

  /** Coalescing parameters for an I/O CQ, or undefined when every CQE interrupts now. */
  coalescingFor(cq: Cq): { thr: number; timeUs: number } | undefined {
    if (cq.qid === 0) return undefined; // §5.21.1.8: not applied to the admin CQ
    return this.features.coalescingFor(cq.iv);
  }

  raiseIrq(vector: number): void {
    const hook = this.faults.interrupt;
    if (hook !== undefined && hook(vector) === 'drop') return;
    this.stats.irqs++;
    this.ctx.raiseIrq(vector);
  }

  scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(this.flushBound);
  }

  private flushCompletions(): void {
    this.flushScheduled = false;
    // No CQ EventIdx here: publishing the head after every flush would make the host ring the
    // CQ head doorbell on nearly every reap; refreshCqHead publishes it when the head matters.
    for (const cq of this.dirtyCqs) flushCq(this, cq);
    this.dirtyCqs.clear();
  }

  // ---- commands -------------------------------------------------------------
  execute(req: Req): void {
    const hook = this.faults.beforeExecute;
    if (hook !== undefined) {
      const r = hook(req.sq.qid, req.sqe);
      if (r === 'drop') return;
      if (typeof r === 'number') return this.complete(req, r);
      if (r !== undefined) {
        // Held: Abort may cancel it (admin.ts abort) and complete it with Command Abort Requested.
        const epoch = this.epoch;
        req.hold = setTimeout(() => {
          req.hold = undefined;
          if (epoch === this.epoch) this.dispatch(req);
        }, r.delayMs);
        return;
      }
    }
    this.dispatch(req);
  }

  private dispatch(req: Req): void {
    const st = req.sq.qid === 0 ? adminCommand(this, req) : ioCommand(this, req);
    if (st !== PENDING) this.complete(req, st);
  }

  complete(req: Req, status: number, dw0 = 0): void {
    completeReq(this, req, status, dw0);
  }

  /** Error Information log entry for a failed command (§5.14.1.1). */
  recordError(req: Req): void {
    this.errorCount++;
    const e: ErrorLogEntry = { count: this.errorCount, sqid: req.sq.qid, cid: req.sqe.cid, status: req.status, lba: req.lba, nsid: req.sqe.nsid };
    this.errorLog.unshift(e);
    if (this.errorLog.length > ERROR_LOG_ENTRIES) this.errorLog.pop();
  }

  encodeErrorLog(): Uint8Array {
    const b = new Uint8Array(ERROR_LOG_ENTRIES * 64);
    this.errorLog.forEach((e, i) => {
      const o = i * 64;
      put64(b, o + ERROR_ENTRY.ERROR_COUNT.off, e.count);
      put16(b, o + ERROR_ENTRY.SQID.off, e.sqid);
      put16(b, o + ERROR_ENTRY.CID.off, e.cid);
      put16(b, o + ERROR_ENTRY.STATUS.off, (e.status & 0x7fff) << 1);
      put16(b, o + ERROR_ENTRY.PARAM_LOCATION.off, 0xffff);
      put64(b, o + ERROR_ENTRY.LBA.off, e.lba);
      put32(b, o + ERROR_ENTRY.NSID.off, e.nsid);
    });
    return b;
  }

  finishSqDelete(sq: Sq, deleteReq: Req): void {
    sq.cq.sqs.delete(sq);
    if (this.sqs[sq.qid] === sq) this.sqs[sq.qid] = undefined;
    this.complete(deleteReq, 0);
  }

  // ---- shadow doorbells (§5.7, §7.13) --------------------------------------
  /** An MMIO doorbell write: QEMU mirrors admin-queue values into the shadow buffer, since hosts do not update it for qid 0. */
  shadowMmio(kind: 'sq' | 'cq', qid: number, value: number): void {
    if (this.dbbuf === undefined || qid !== 0) return;
    this.writeShadow(kind, qid, value);
  }

  /** Byte offset of a queue's slot in the shadow and EventIdx pages: the doorbell layout, §5.7 (same stride). */
  private dbSlot(kind: 'sq' | 'cq', qid: number): number {
    return (2 * qid + (kind === 'cq' ? 1 : 0)) * (4 << this.dstrd);
  }

  /** Write a shadow doorbell value (Doorbell Buffer Config, as QEMU: current tail/head of existing queues). */
  writeShadow(kind: 'sq' | 'cq', qid: number, value: number): void {
    if (this.dbbuf === undefined) return;
    put32(this.dbScratch, 0, value);
    this.ctx.dmaWrite(this.dbbuf.shadow + this.dbSlot(kind, qid), this.dbScratch);
  }

  writeEventIdx(kind: 'sq' | 'cq', qid: number, value: number): void {
    if (this.dbbuf === undefined) return;
    put32(this.dbScratch, 0, value);
    // dmaWrite encodes during the call, so the scratch buffer is reusable at once.
    this.ctx.dmaWrite(this.dbbuf.eventIdx + this.dbSlot(kind, qid), this.dbScratch);
  }

  /**
   * After a fetch from an I/O SQ with shadow doorbells: publish EventIdx =
   * the tail we have seen, then re-read the shadow tail, so a host that
   * skipped the MMIO write (nvme_dbbuf_need_event) is still noticed.
   */
  afterFetch(sq: Sq): void {
    if (this.dbbuf === undefined || sq.qid === 0) return;
    // Ordering (PROTOCOL.md): this posted EventIdx write reaches host memory before the read
    // below is answered, and the host writes its shadow tail before it reads EventIdx (Linux: mb()).
    // So either the host saw EventIdx = tail and rings MMIO for its next tail, or this re-read
    // sees that tail. Same rule as QEMU's nvme_process_sq / nvme_update_sq_eventidx.
    this.rereadShadow('sq', sq, sq.tail, (t) => {
      if (t >= 0 && t !== sq.tail) {
        sq.tail = t;
        kick(this); // the fetch ends idle again and calls afterFetch: the re-read loop
      }
    });
  }

  /**
   * Publish EventIdx = `known` for queue `q`, then re-read its shadow doorbell
   * slot (§5.7). `answer` runs exactly once per re-read: with the shadow value
   * if it is in range and the controller (epoch), the queue and the shadow
   * buffer are still the ones asked about, else with -1. An unreadable or
   * out-of-range slot is a guest error and yields -1.
   */
  private rereadShadow(kind: 'sq' | 'cq', q: Sq | Cq, known: number, answer: (value: number) => void): void {
    const db = this.dbbuf;
    if (db === undefined) return;
    this.writeEventIdx(kind, q.qid, known);
    const epoch = this.epoch;
    this.ctx.dmaReadCb(db.shadow + this.dbSlot(kind, q.qid), 4, (err, data) => {
      const table: readonly (Sq | Cq | undefined)[] = kind === 'sq' ? this.sqs : this.cqs;
      if (epoch !== this.epoch || table[q.qid] !== q || this.dbbuf !== db) return answer(-1);
      const reg = kind === 'sq' ? 'SQ tail' : 'CQ head';
      if (err !== undefined || data === undefined || data.length < 4) {
        this.guest(`§5.7: shadow ${reg} unreadable`, { qid: q.qid, err: err?.message });
        return answer(-1);
      }
      const v = u32(data, 0);
      if (v >= q.size) {
        this.guest(`§5.7: shadow ${reg} ${v} of queue ${q.qid} ≥ size ${q.size}; ignored`);
        return answer(-1);
      }
      answer(v);
    });
  }

  /**
   * Shadow doorbells, CQ side: the host moves its CQ head in the shadow page
   * and rings MMIO only when it passes EventIdx, so the head this controller
   * knows may lag. When the CQ fills up (or is half used), publish EventIdx =
   * the known head and re-read the shadow head; repeat while completions are
   * still waiting and the head keeps moving. When the re-read shows no move,
   * the host's next head update starts at EventIdx and so rings MMIO.
   */
  refreshCqHead(cq: Cq): void {
    if (this.dbbuf === undefined || cq.qid === 0 || cq.headRefresh) return;
    cq.headRefresh = true;
    this.rereadShadow('cq', cq, cq.head, (h) => {
      cq.headRefresh = false;
      if (h < 0 || h === cq.head) return;
      cq.head = h;
      if (cq.waiting.length > 0) {
        drainWaiting(this, cq);
        this.refreshCqHead(cq);
      }
    });
  }
}
