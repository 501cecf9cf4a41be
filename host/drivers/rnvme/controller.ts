// The NVMe controller object: state, queues, namespaces (one gendisk each),
// the admin passthrough API for tools, and the glue between probe.ts,
// io.ts, timeout.ts and reset.ts.
import { GenDisk, TagSet } from '../../block/index.ts';
import type { QueueLimits } from '../../block/types.ts';
import type { Bar, DmaPool, PciFunction } from '../../pci/index.ts';
import type { Logger } from '../../../src/util/log.ts';
import {
  ADMIN, AER_INFO_ERROR, AER_INFO_NOTICE, AER_TYPE, ASYNC_EVENT_CONFIG, CHANGED_NS_LOG_SIZE, CNS, FEAT_CDW10, FID, FORMAT,
  GET_LOG, IDENTIFY_SIZE, LID, OAES, ONCS, VWC, DLFEAT, S, statusCode,
} from '../../../src/spec/index.ts';
import { CtrlState, CTRL_STATE } from './ctrl-state.ts';
import type { RnvmeOptions } from './options.ts';
import { AdminQueue, type AdminCommand, type AdminDataOpts, type AdminResult } from './admin.ts';
import { NvmeQueue, type DbbufPlace } from './queue.ts';
import { PrpPool, listPagesForTransfer } from './prp.ts';
import { IoPath, type QueueCtx, type RnvmePdu } from './io.ts';
import { decodeIdCtrl, decodeIdNs, decodeNsList, type IdCtrl, type IdNs } from './identify.ts';
import { RnvmeError } from './errors.ts';
import { bringUp, pciEnable } from './probe.ts';
import { removeController, resetController, shutdownController } from './reset.ts';

export interface NvmeNamespace {
  readonly nsid: number;
  readonly diskName: string;
  disk: GenDisk<RnvmePdu, QueueCtx>;
  id: IdNs;
  /** log2 of the logical block size. */
  lbaShift: number;
  /** Write Zeroes may deallocate (DLFEAT bit 3). */
  wzDealloc: boolean;
}

export interface CmbPlace {
  bar: Bar;
  /** Offset of the CMB in its BAR. */
  barOffset: number;
  /** Controller base address (CBA). */
  cba: number;
  size: number;
  /** Bytes handed out to SQs so far. */
  next: number;
}

/** Counters (the driver's debugfs). */
export interface RnvmeStats {
  invalidIds: number;
  retries: number;
  errors: number;
  timeouts: number;
  timeoutsPolled: number;
  aborts: number;
  resets: number;
  aens: number;
  rescans: number;
  sglCommands: number;
  bounced: number;
  /** Requests whose data went through a gated data slot (no per-I/O dma_map). */
  slotted: number;
}

export interface GetLogPageOpts {
  lid: number;
  /** Bytes to read (multiple of 4). */
  len: number;
  nsid?: number;
  /** Byte offset in the log (multiple of 4). */
  offset?: number;
  lsp?: number;
  /** Retain Asynchronous Event (don't clear the event). Default false. */
  rae?: boolean;
}

export class NvmeController {
  readonly name: string;
  readonly instance: number;
  readonly fn: PciFunction;
  readonly opts: RnvmeOptions;
  readonly log: Logger;
  readonly state: CtrlState;
  readonly bar0: Bar;
  readonly io: IoPath;
  readonly stats: RnvmeStats = {
    invalidIds: 0, retries: 0, errors: 0, timeouts: 0, timeoutsPolled: 0, aborts: 0, resets: 0, aens: 0, rescans: 0, sglCommands: 0, bounced: 0, slotted: 0,
  };
  cap = 0n;
  vs = 0;
  mqes = 0;
  dstrd = 0;
  qDepth = 2;
  readyTimeoutMs = 500;
  ctrlConfig = 0;
  idCtrl: IdCtrl | undefined;
  idCtrlRaw: Uint8Array | undefined;
  crdt: readonly number[] = [0, 0, 0];
  abortLimit = 1;
  abortsInFlight = 0;
  maxTransferBytes = 4096;
  shutdownTimeoutMs = 5000;
  sglSupported = false;
  coalescing: { thr: number; time: number } | undefined;
  admin: AdminQueue | undefined;
  readonly ioQueues: NvmeQueue[] = [];
  nrIrqQueues = 0;
  nrPollQueues = 0;
  prpPools: PrpPool[] = [];
  /** Per-queue gated data slots for small transfers (empty when data_slot_size is 0). */
  dataPools: DmaPool[] = [];
  tagSet: TagSet<RnvmePdu, QueueCtx> | undefined;
  dbbuf: DbbufPlace | undefined;
  cmb: CmbPlace | undefined;
  readonly namespaces = new Map<number, NvmeNamespace>();
  private readonly byDisk = new Map<string, NvmeNamespace>();
  private readonly irqOff: (() => void)[] = [];
  /** The running reset, if any (one at a time). */
  resetting: Promise<void> | undefined;
  /** Resolves once the controller is gone (removal or shutdown finished). */
  removed: Promise<void> | undefined;
  private rescanRunning: Promise<void> | undefined;
  private rescanAgain = false;

  constructor(fn: PciFunction, instance: number, opts: RnvmeOptions, log: Logger) {
    this.fn = fn;
    this.instance = instance;
    this.name = `nvme${instance}`;
    this.opts = opts;
    this.log = log;
    this.state = new CtrlState(this.name, log);
    this.bar0 = fn.bar(0);
    this.io = new IoPath(this);
  }

  get live(): boolean { return this.state.value === CTRL_STATE.LIVE; }
  get terminal(): boolean { return this.state.terminal; }

  requireAdmin(): AdminQueue {
    if (this.admin === undefined) throw new RnvmeError('ENODEV', `${this.name}: no admin queue`);
    return this.admin;
  }
  nsByDisk(name: string): NvmeNamespace | undefined { return this.byDisk.get(name); }

  /** Disks (one per active namespace), by NSID order. */
  get disks(): GenDisk[] {
    return [...this.namespaces.values()].sort((a, b) => a.nsid - b.nsid).map((n) => n.disk as unknown as GenDisk);
  }

  // ───────────────────────────── probe ─────────────────────────────

  /** nvme_probe: bring the controller up, create the tag set and one disk per active namespace. */
  async probe(): Promise<void> {
    this.fn.onGone((info) => { void removeController(this, `device gone (close ${info.code}${info.reason ? `: ${info.reason}` : ''})`); });
    try {
      this.state.change(CTRL_STATE.CONNECTING);
      await pciEnable(this);
      // MSI-X: vector 0 for the admin queue, one per interrupt-driven I/O queue.
      const table = this.fn.msix?.tableSize ?? 0;
      if (table < 1) throw new RnvmeError('ENODEV', `${this.name}: no MSI-X capability`);
      await this.fn.enableMsix(Math.min(table, 1 + this.opts.io_queues));
      this.irqOff.push(this.fn.onIrq(0, () => { this.admin?.reap(); }));
      await bringUp(this, true);
      if (this.ioQueues.length > 0) this.createTagSet();
      if (!this.state.change(CTRL_STATE.LIVE)) throw new RnvmeError('ENODEV', `${this.name}: removed during probe`);
      await this.startCtrl();
    } catch (e) {
      this.log.warn(`${this.name}: Removing after probe failure: ${e instanceof Error ? e.message : String(e)}`);
      await removeController(this, 'probe failure');
      throw e;
    }
  }

  /** (Re-)register the per-queue interrupt handlers (vector = qid). */
  attachQueueIrqs(): void {
    while (this.irqOff.length > 1) this.irqOff.pop()?.();
    for (const q of this.ioQueues) {
      if (q.polled) continue;
      this.irqOff.push(this.fn.onIrq(q.vector, () => { q.reap(this.io.onCqe); }));
    }
  }

  detachIrqs(): void { for (const off of this.irqOff.splice(0)) off(); }

  private createTagSet(): void {
    const depth = this.qDepth - 1; // a full SQ holds depth-1 entries
    const pagesPerTag = listPagesForTransfer(this.maxTransferBytes);
    this.prpPools = this.ioQueues.map((q) => new PrpPool(this.fn.memory, depth, pagesPerTag, `prp-q${q.qid}`));
    // One dma_map per queue for all small-transfer data; the host IOMMU opens a slot per request.
    const slotBytes = Math.min(this.opts.data_slot_size, this.maxTransferBytes);
    const slots = Math.min(depth, this.opts.data_slots);
    this.dataPools = slotBytes > 0 && slots > 0
      ? this.ioQueues.map((q) => this.fn.memory.createPool(slotBytes, slots, { name: `data-q${q.qid}`, gated: true }))
      : [];
    const nrCpus = this.opts.nr_cpus > 0 ? this.opts.nr_cpus : Math.max(1, this.nrIrqQueues);
    this.tagSet = new TagSet<RnvmePdu, QueueCtx>({
      ops: this.io,
      nrHwQueues: this.ioQueues.length,
      queueDepth: depth,
      queueMaps: { default: this.nrIrqQueues, poll: this.nrPollQueues },
      timeoutMs: this.opts.io_timeout,
      nrCpus,
      noSchedByDefault: true,
      logger: this.log,
    });
  }

  /** nvme_start_ctrl: Async Event Config + AER (when OAES asks for it), namespace scan. */
  private async startCtrl(): Promise<void> {
    await this.enableAen();
    await this.rescan();
  }

  /** nvme_enable_aen: only when OAES has NS-attr / FW-activation / ANA bits (else no AER at all, like Linux). */
  async enableAen(): Promise<void> {
    const id = this.idCtrl;
    const admin = this.admin;
    if (id === undefined || admin === undefined) return;
    const supported = id.oaes & (OAES.NS_ATTR | OAES.FW_ACTIVATION | OAES.ANA_CHANGE);
    if (supported === 0) return;
    const cfg = supported & (ASYNC_EVENT_CONFIG.NS_ATTR | ASYNC_EVENT_CONFIG.FW_ACTIVATION | ASYNC_EVENT_CONFIG.ANA);
    const r = await admin.exec({ opc: ADMIN.SET_FEATURES, cdw10: FID.ASYNC_EVENT_CONFIG, cdw11: cfg }, undefined, { quiet: true });
    if (statusCode(r.status) !== 0) this.log.warn(`${this.name}: Failed to configure AEN (cfg ${cfg.toString(16)})`);
    admin.submitAer();
  }

  /** AER completion (nvme_complete_async_event). */
  onAen(status: number, dw0: number): void {
    if (statusCode(status) !== 0) return; // aborted by reset/shutdown, or AER limit: don't resubmit
    this.stats.aens++;
    const type = dw0 & 0x7;
    const info = (dw0 >>> 8) & 0xff;
    const lid = (dw0 >>> 16) & 0xff;
    this.log.info(`${this.name}: async event type ${type} info 0x${info.toString(16)} log 0x${lid.toString(16)}`);
    if (type === AER_TYPE.NOTICE && info === AER_INFO_NOTICE.NS_ATTR_CHANGED) {
      // Read the Changed Namespace List (clears the event), then rescan.
      void this.getLogPage({ lid: LID.CHANGED_NS, len: CHANGED_NS_LOG_SIZE, nsid: 0xffff_ffff })
        .catch((e: unknown) => this.log.warn(`${this.name}: changed-ns log: ${String(e)}`))
        .then(() => this.rescan())
        .catch((e: unknown) => this.log.warn(`${this.name}: rescan: ${String(e)}`))
        .finally(() => { if (this.live) this.admin?.submitAer(); });
      return;
    }
    if (type === AER_TYPE.ERROR && info === AER_INFO_ERROR.PERSISTENT_INTERNAL) {
      this.scheduleReset('persistent internal error event');
      return;
    }
    // Other events: read the log page they name (clearing them), then resubmit.
    const done = (): void => { if (this.live) this.admin?.submitAer(); };
    if (lid !== 0) void this.getLogPage({ lid, len: 512, nsid: 0xffff_ffff }).catch(() => undefined).finally(done);
    else done();
  }

  // ─────────────────────────── namespaces ───────────────────────────

  /** Identify the active namespace list (CNS 02h, paged by the last NSID), add/update/remove disks. */
  rescan(): Promise<void> {
    if (this.rescanRunning !== undefined) { this.rescanAgain = true; return this.rescanRunning; }
    this.rescanRunning = (async () => {
      try {
        do {
          this.rescanAgain = false;
          await this.scanOnce();
        } while (this.rescanAgain);
      } finally {
        this.rescanRunning = undefined;
      }
    })();
    return this.rescanRunning;
  }

  private async scanOnce(): Promise<void> {
    const admin = this.requireAdmin();
    this.stats.rescans++;
    const active: number[] = [];
    let prev = 0;
    for (;;) {
      const r = await admin.execOk({ opc: ADMIN.IDENTIFY, nsid: prev, cdw10: CNS.ACTIVE_NS_LIST }, { dir: 'in', len: IDENTIFY_SIZE });
      const ids = decodeNsList(r.data ?? new Uint8Array(0));
      active.push(...ids.filter((n) => n > prev));
      if (ids.length < 1024) break;
      prev = ids[ids.length - 1] ?? 0;
    }
    for (const nsid of active) {
      const have = this.namespaces.get(nsid);
      // A namespace detached between the list and its Identify answers Invalid Namespace: it is
      // gone, like an inactive one (Linux nvme_validate_ns: -ENODEV ⇒ remove). Other errors end the scan.
      const r = await admin.execOk({ opc: ADMIN.IDENTIFY, nsid, cdw10: CNS.NS }, { dir: 'in', len: IDENTIFY_SIZE }).catch((e: unknown) => {
        if (e instanceof RnvmeError && e.nvmeStatus !== undefined && statusCode(e.nvmeStatus) === S.INVALID_NAMESPACE_OR_FORMAT) return undefined;
        throw e;
      });
      const id = r === undefined ? undefined : decodeIdNs(r.data ?? new Uint8Array(IDENTIFY_SIZE));
      if (id === undefined || id.nsze === 0 || id.blockSize === 0) { if (have !== undefined) await this.removeNs(have); continue; }
      if (have !== undefined && id.blockSize !== 2 ** have.lbaShift) {
        // The LBA format changed (Format NVM with another LBAF): the logical block size, and with
        // it every queue limit, is different. Linux updates the limits under a frozen queue; here
        // the disk is rebuilt with the same name, after failing/draining what it still holds.
        this.log.info(`${have.diskName}: LBA format changed from ${2 ** have.lbaShift} to ${id.blockSize} bytes; rebuilding the disk`);
        await this.removeNs(have);
        this.addNs(nsid, id);
        continue;
      }
      if (have !== undefined) {
        have.id = id;
        const sectors = id.nsze * (id.blockSize / 512);
        if (sectors !== have.disk.capacitySectors && id.blockSize === 2 ** have.lbaShift) {
          this.log.info(`${have.diskName}: detected capacity change from ${have.disk.capacitySectors} to ${sectors}`);
          have.disk.setCapacity(sectors);
        }
        continue;
      }
      this.addNs(nsid, id);
    }
    for (const ns of [...this.namespaces.values()]) if (!active.includes(ns.nsid)) await this.removeNs(ns);
  }

  /** Queue limits of a namespace (nvme_update_disk_info / nvme_set_queue_limits). */
  limitsFor(id: IdNs): Partial<QueueLimits> {
    const ctrl = this.idCtrl;
    const bs = id.blockSize;
    const maxSectors = Math.floor(this.maxTransferBytes / 512);
    const oncs = ctrl?.oncs ?? 0;
    const vwc = ((ctrl?.vwc ?? 0) & VWC.PRESENT) !== 0;
    const nlbMaxSectors = 65536 * (bs / 512); // NLB is 16 bits
    return {
      logicalBlockSize: bs,
      physicalBlockSize: bs,
      maxHwSectors: maxSectors,
      maxSectors,
      maxSegments: 127,
      maxSegmentSize: this.maxTransferBytes,
      virtBoundaryMask: 4095,
      discardGranularity: (oncs & ONCS.DSM) !== 0 ? bs : 0,
      maxDiscardSectors: (oncs & ONCS.DSM) !== 0 ? Math.min(1 << 22, id.nsze * (bs / 512)) : 0,
      maxWriteZeroesSectors: (oncs & ONCS.WRITE_ZEROES) !== 0 ? Math.min(nlbMaxSectors, id.nsze * (bs / 512)) : 0,
      writeCache: vwc,
      fua: vwc,
    };
  }

  private addNs(nsid: number, id: IdNs): void {
    const ts = this.tagSet;
    if (ts === undefined) { this.log.warn(`${this.name}: namespace ${nsid} ignored: no I/O queues`); return; }
    const diskName = `${this.name}n${nsid}`;
    const ns: NvmeNamespace = {
      nsid, diskName, id, lbaShift: Math.log2(id.blockSize), wzDealloc: (id.dlfeat & DLFEAT.WZ_DEALLOC) !== 0,
      disk: undefined as unknown as GenDisk<RnvmePdu, QueueCtx>,
    };
    // Registered before the disk exists: initHctx looks the namespace up by disk name.
    this.byDisk.set(diskName, ns);
    try {
      ns.disk = new GenDisk<RnvmePdu, QueueCtx>({ name: diskName, tagSet: ts, capacitySectors: id.nsze * (id.blockSize / 512), limits: this.limitsFor(id), scheduler: 'none' });
      ns.disk.add();
    } catch (e) {
      this.byDisk.delete(diskName);
      throw e;
    }
    this.namespaces.set(nsid, ns);
    this.log.info(`${diskName}: ${id.nsze} blocks of ${id.blockSize} bytes`);
  }

  private async removeNs(ns: NvmeNamespace): Promise<void> {
    this.namespaces.delete(ns.nsid);
    this.log.info(`${ns.diskName}: namespace removed`);
    await ns.disk.remove(0);
    this.byDisk.delete(ns.diskName);
  }

  /** Remove every disk (removal / shutdown). */
  async removeAllNs(graceMs: number): Promise<void> {
    const all = [...this.namespaces.values()];
    this.namespaces.clear();
    await Promise.all(all.map((ns) => ns.disk.remove(graceMs)));
    for (const ns of all) this.byDisk.delete(ns.diskName);
  }

  // ─────────────────────── timeouts, reset, removal ───────────────────────

  onAdminTimeout(): void {
    if (this.state.value === CTRL_STATE.CONNECTING || this.state.value === CTRL_STATE.NEW) return; // probe/reset fails by itself
    this.scheduleReset('admin command timeout');
  }

  /** nvme_reset_ctrl: start a reset unless one is running or the controller is going away. */
  scheduleReset(why: string): Promise<void> {
    if (this.resetting !== undefined) return this.resetting;
    if (!this.state.change(CTRL_STATE.RESETTING)) return this.removed ?? Promise.resolve();
    this.log.warn(`${this.name}: resetting controller: ${why}`);
    this.stats.resets++;
    this.resetting = resetController(this).finally(() => { this.resetting = undefined; });
    return this.resetting;
  }

  // ─────────────────────── admin passthrough API ───────────────────────

  /** Raw admin command (like NVME_IOCTL_ADMIN_CMD): resolves with the completion, errors included. */
  adminCommand(cmd: AdminCommand, data?: AdminDataOpts, opts?: { timeoutMs?: number }): Promise<AdminResult & { data?: Uint8Array }> {
    if (this.terminal) return Promise.reject(new RnvmeError('ENODEV', `${this.name}: controller is ${this.state.label}`));
    return this.requireAdmin().exec(cmd, data, { ...opts, quiet: true });
  }

  /** Identify Controller: decoded and raw (4096 bytes). */
  async identifyController(): Promise<{ id: IdCtrl; raw: Uint8Array }> {
    const r = await this.requireAdmin().execOk({ opc: ADMIN.IDENTIFY, cdw10: CNS.CTRL }, { dir: 'in', len: IDENTIFY_SIZE });
    const raw = r.data ?? new Uint8Array(IDENTIFY_SIZE);
    return { id: decodeIdCtrl(raw), raw };
  }

  /** Identify Namespace (CNS 00h): decoded and raw. */
  async identifyNamespace(nsid: number): Promise<{ id: IdNs; raw: Uint8Array }> {
    if (!Number.isInteger(nsid) || nsid < 1 || nsid > 0xffff_ffff) throw new RnvmeError('EINVAL', `invalid nsid ${nsid}`);
    const r = await this.requireAdmin().execOk({ opc: ADMIN.IDENTIFY, nsid, cdw10: CNS.NS }, { dir: 'in', len: IDENTIFY_SIZE });
    const raw = r.data ?? new Uint8Array(IDENTIFY_SIZE);
    return { id: decodeIdNs(raw), raw };
  }

  /** Active namespace IDs (Identify CNS 02h). */
  async activeNamespaces(): Promise<number[]> {
    const r = await this.requireAdmin().execOk({ opc: ADMIN.IDENTIFY, nsid: 0, cdw10: CNS.ACTIVE_NS_LIST }, { dir: 'in', len: IDENTIFY_SIZE });
    return decodeNsList(r.data ?? new Uint8Array(0));
  }

  /** Get Log Page (§5.14): any LID; NUMD from `len`. */
  async getLogPage(o: GetLogPageOpts): Promise<Uint8Array> {
    const len = o.len;
    const off = o.offset ?? 0;
    if (!Number.isInteger(len) || len < 4 || len % 4 !== 0 || len > this.maxTransferBytes) throw new RnvmeError('EINVAL', `log length ${len} (multiple of 4, ≤ ${this.maxTransferBytes})`);
    if (!Number.isInteger(off) || off < 0 || off % 4 !== 0) throw new RnvmeError('EINVAL', `log offset ${off}`);
    if (!Number.isInteger(o.lid) || o.lid < 0 || o.lid > 0xff) throw new RnvmeError('EINVAL', `log page id ${o.lid}`);
    const numd = len / 4 - 1;
    const cdw10 = (o.lid | (((o.lsp ?? 0) & GET_LOG.LSP_MASK) << GET_LOG.LSP_SHIFT) | (o.rae === true ? GET_LOG.RAE : 0) | ((numd & 0xffff) << 16)) >>> 0;
    const r = await this.requireAdmin().execOk(
      { opc: ADMIN.GET_LOG_PAGE, nsid: o.nsid ?? 0xffff_ffff, cdw10, cdw11: numd >>> 16, cdw12: off % 0x1_0000_0000, cdw13: Math.floor(off / 0x1_0000_0000) },
      { dir: 'in', len },
    );
    return r.data ?? new Uint8Array(len);
  }

  /** Get Features (§5.21): DW0 result, and the data buffer when `len` is given. */
  async getFeatures(fid: number, o: { nsid?: number; sel?: number; cdw11?: number; len?: number } = {}): Promise<{ result: number; data?: Uint8Array }> {
    if (!Number.isInteger(fid) || fid < 0 || fid > 0xff) throw new RnvmeError('EINVAL', `feature id ${fid}`);
    const cdw10 = (fid | (((o.sel ?? 0) & FEAT_CDW10.SEL_MASK) << FEAT_CDW10.SEL_SHIFT)) >>> 0;
    const r = await this.requireAdmin().execOk({ opc: ADMIN.GET_FEATURES, nsid: o.nsid ?? 0, cdw10, cdw11: o.cdw11 ?? 0 }, o.len !== undefined ? { dir: 'in', len: o.len } : undefined);
    return r.data !== undefined ? { result: r.dw0, data: r.data } : { result: r.dw0 };
  }

  /** Set Features (§5.21): resolves with DW0. */
  async setFeatures(fid: number, cdw11: number, o: { nsid?: number; save?: boolean; data?: Uint8Array; cdw12?: number } = {}): Promise<number> {
    if (!Number.isInteger(fid) || fid < 0 || fid > 0xff) throw new RnvmeError('EINVAL', `feature id ${fid}`);
    const cdw10 = (fid | (o.save === true ? FEAT_CDW10.SV : 0)) >>> 0;
    const data = o.data !== undefined ? { dir: 'out' as const, len: o.data.length, data: o.data } : undefined;
    const r = await this.requireAdmin().execOk({ opc: ADMIN.SET_FEATURES, nsid: o.nsid ?? 0, cdw10, cdw11: cdw11 >>> 0, cdw12: o.cdw12 ?? 0 }, data);
    return r.dw0;
  }

  /** Format NVM (§5.23), then rescan (the block size may have changed). */
  async format(nsid: number, o: { lbaf?: number; ses?: number; timeoutMs?: number } = {}): Promise<void> {
    const cdw10 = ((o.lbaf ?? 0) & FORMAT.LBAF_MASK) | (((o.ses ?? 0) & FORMAT.SES_MASK) << FORMAT.SES_SHIFT);
    await this.requireAdmin().execOk({ opc: ADMIN.FORMAT_NVM, nsid, cdw10 }, undefined, o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {});
    await this.rescan();
  }

  /** Flush a namespace's volatile write cache through its disk (or every namespace). */
  async flush(nsid?: number): Promise<void> {
    const targets = nsid === undefined ? [...this.namespaces.values()] : [this.namespaces.get(nsid)];
    for (const ns of targets) {
      if (ns === undefined) throw new RnvmeError('EINVAL', `${this.name}: no namespace ${nsid}`);
      const dev = ns.disk.open();
      try { await dev.flush(); } finally { dev.close(); }
    }
  }

  /** Controller reset (like `nvme reset`): resolves when it is live again (rejects if it was removed). */
  async reset(): Promise<void> {
    if (this.terminal) throw new RnvmeError('ENODEV', `${this.name}: controller is ${this.state.label}`);
    await this.scheduleReset('requested');
    if (!this.live) throw new RnvmeError('EIO', `${this.name}: reset failed; controller ${this.state.label}`);
  }

  /** Orderly shutdown and detach (nvme_remove): disks removed, queues deleted, CC.SHN, SHST complete. */
  shutdown(): Promise<void> { return shutdownController(this); }

  /** Free host memory of rings, pools and shadow doorbells (after the controller stopped using it). */
  freeMemory(): void {
    const safe = (f: () => void): void => { try { f(); } catch { /* already released by removal */ } };
    for (const q of this.ioQueues) safe(() => q.free());
    for (const p of this.prpPools) safe(() => p.free());
    for (const p of this.dataPools) safe(() => p.destroy(true));
    if (this.dbbuf !== undefined) {
      const d = this.dbbuf;
      safe(() => { if (!d.shadow.freed) d.shadow.free(); });
      safe(() => { if (!d.eventIdx.freed) d.eventIdx.free(); });
      this.dbbuf = undefined;
    }
    const a = this.admin;
    if (a !== undefined) safe(() => a.free());
  }

  /** A snapshot for tools: identity, state, queues, namespaces, counters. */
  info(): {
    name: string; state: string; serial: string; model: string; firmware: string; vs: string; queues: { qid: number; depth: number; vector: number; cmb: boolean; dbbuf: boolean }[];
    namespaces: { nsid: number; disk: string; blocks: number; blockSize: number }[]; stats: RnvmeStats; history: readonly string[];
  } {
    const id = this.idCtrl;
    return {
      name: this.name, state: this.state.label, serial: id?.sn ?? '', model: id?.mn ?? '', firmware: id?.fr ?? '',
      vs: `${this.vs >>> 16}.${(this.vs >>> 8) & 0xff}.${this.vs & 0xff}`,
      queues: this.ioQueues.map((q) => ({ qid: q.qid, depth: q.depth, vector: q.vector, cmb: q.cmb !== undefined, dbbuf: q.shadowed })),
      namespaces: [...this.namespaces.values()].map((n) => ({ nsid: n.nsid, disk: n.diskName, blocks: n.id.nsze, blockSize: n.id.blockSize })),
      stats: { ...this.stats },
      history: this.state.history,
    };
  }
}

