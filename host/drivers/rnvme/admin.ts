// The admin queue (qid 0): 32 entries (Linux NVME_AQ_DEPTH), 30 command slots
// plus the Asynchronous Event Request, which always carries command id 31
// (NVME_AQ_BLK_MQ_DEPTH) and has no timeout. Command ids carry a 4-bit
// generation like I/O ids (nvme_cid), so a late or forged completion for a
// reused slot is dropped as "invalid id". Admin commands are not on the hot
// path: they may allocate (a promise, a data buffer, a timer).
import type { DmaBuffer, HostMemory } from '../../pci/index.ts';
import type { Logger } from '../../../src/util/log.ts';
import { ADMIN, statusCode } from '../../../src/spec/index.ts';
import { buildPrps, type Cqe, type SqeInit } from '../../../src/wire/index.ts';
import { NvmeQueue, type DoorbellBar } from './queue.ts';
import { CTRL_PAGE } from './prp.ts';
import { RnvmeError, formatAdminError } from './errors.ts';

export const ADMIN_QUEUE_DEPTH = 32;
/** Command id of the AER (Linux NVME_AQ_BLK_MQ_DEPTH). */
export const AER_CID = 31;
/** Regular admin command slots (NVME_AQ_MQ_TAG_DEPTH). */
export const ADMIN_SLOTS = 30;

/** An admin command without its command id (the queue assigns it). */
export type AdminCommand = Omit<SqeInit, 'cid'>;

export interface AdminResult {
  /** Status field (SCT/SC/CRD/More/DNR), 0 = success. */
  status: number;
  dw0: number;
  dw1: number;
}

export interface AdminDataOpts {
  /** 'in' = controller → host (Identify, Get Log Page), 'out' = host → controller. */
  dir: 'in' | 'out';
  len: number;
  /** For 'out': the bytes to send (len bytes). */
  data?: Uint8Array;
}

export interface AdminSubmitOpts {
  timeoutMs?: number;
  /** Do not log an error completion (the caller expects and handles it). */
  quiet?: boolean;
}

interface Slot {
  resolve: (r: AdminResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
  opc: number;
  cid: number;
  quiet: boolean;
}

export interface AdminHooks {
  name: string;
  log: Logger;
  mem: HostMemory;
  timeoutMs: number;
  /** An admin command timed out (Linux: admin timeout ⇒ reset controller). */
  onTimeout(opc: number, cid: number): void;
  /** The AER completed with this status / DW0. */
  onAen(status: number, dw0: number): void;
}

export class AdminQueue {
  readonly q: NvmeQueue;
  private readonly slots: (Slot | undefined)[] = new Array<Slot | undefined>(ADMIN_SLOTS).fill(undefined);
  private readonly gens = new Uint8Array(ADMIN_SLOTS);
  private readonly waiting: (() => void)[] = [];
  aerOutstanding = false;
  private closed: Error | undefined;
  private readonly onCqeBound = (c: Cqe): void => this.onCqe(c);

  constructor(private readonly h: AdminHooks, bar0: DoorbellBar, dstrd: number, vector: number) {
    const sq = h.mem.allocCoherent(ADMIN_QUEUE_DEPTH * 64, { name: 'admin-sq' });
    const cq = h.mem.allocCoherent(ADMIN_QUEUE_DEPTH * 16, { name: 'admin-cq' });
    this.q = new NvmeQueue({ qid: 0, depth: ADMIN_QUEUE_DEPTH, dstrd, bar0, sq, cq, vector });
  }

  /** Reap the admin CQ (interrupt handler / poller). */
  reap(): number { return this.q.reap(this.onCqeBound); }

  /** Accept commands again after cancelAll (controller re-enabled). */
  reopen(): void { this.closed = undefined; }

  private onCqe(c: Cqe): void {
    if (c.cid === AER_CID) {
      this.aerOutstanding = false;
      this.h.onAen(c.status, c.dw0);
      return;
    }
    const slot = c.cid & 0xfff;
    const s = slot < ADMIN_SLOTS ? this.slots[slot] : undefined;
    if (s === undefined || s.cid !== c.cid) {
      this.h.log.warn(`invalid id ${c.cid} completed on queue ${c.sqid}`);
      return;
    }
    this.release(slot, s);
    if (statusCode(c.status) !== 0 && !s.quiet) this.h.log.warn(formatAdminError(this.h.name, s.opc, c.status));
    s.resolve({ status: c.status, dw0: c.dw0, dw1: c.dw1 });
  }

  private release(slot: number, s: Slot): void {
    if (s.timer !== undefined) clearTimeout(s.timer);
    this.slots[slot] = undefined;
    const w = this.waiting.shift();
    if (w !== undefined) w();
  }

  private freeSlot(): number {
    for (let i = 0; i < ADMIN_SLOTS; i++) if (this.slots[i] === undefined) return i;
    return -1;
  }

  /** Submit a command; resolves with its completion (error statuses included), rejects on timeout / cancel. */
  async submit(cmd: AdminCommand, opts: AdminSubmitOpts = {}): Promise<AdminResult> {
    for (;;) {
      if (this.closed !== undefined) throw this.closed;
      const slot = this.freeSlot();
      if (slot >= 0) return this.start(slot, cmd, opts);
      await new Promise<void>((res) => this.waiting.push(res));
    }
  }

  private start(slot: number, cmd: AdminCommand, opts: AdminSubmitOpts): Promise<AdminResult> {
    const gen = (this.gens[slot] = ((this.gens[slot] ?? 0) + 1) & 0xf);
    const cid = slot | (gen << 12);
    return new Promise<AdminResult>((resolve, reject) => {
      const s: Slot = { resolve, reject, timer: undefined, opc: cmd.opc, cid, quiet: opts.quiet === true };
      this.slots[slot] = s;
      const ms = opts.timeoutMs ?? this.h.timeoutMs;
      s.timer = setTimeout(() => {
        if (this.slots[slot] !== s) return;
        this.h.log.warn(`${this.h.name}: I/O tag ${slot} (${cid.toString(16).padStart(4, '0')}) QID 0 timeout, reset controller`);
        this.release(slot, s);
        reject(new RnvmeError('ETIMEDOUT', `${this.h.name}: admin command ${cmd.opc.toString(16)}h timed out after ${ms} ms`));
        this.h.onTimeout(cmd.opc, cid);
      }, ms);
      try {
        this.q.push({ ...cmd, cid });
        this.q.ringSq();
      } catch (e) {
        this.release(slot, s);
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  /** Submit the Asynchronous Event Request (cid 31) if none is outstanding. */
  submitAer(): void {
    if (this.aerOutstanding || this.closed !== undefined) return;
    this.aerOutstanding = true;
    this.q.push({ opc: ADMIN.ASYNC_EVENT_REQUEST, cid: AER_CID });
    this.q.ringSq();
  }

  /** Fail every outstanding and waiting command with `err`; new submissions fail too until reopen(). */
  cancelAll(err: Error): void {
    this.closed = err;
    this.aerOutstanding = false;
    for (let i = 0; i < ADMIN_SLOTS; i++) {
      const s = this.slots[i];
      if (s === undefined) continue;
      if (s.timer !== undefined) clearTimeout(s.timer);
      this.slots[i] = undefined;
      s.reject(err);
    }
    for (const w of this.waiting.splice(0)) w();
  }

  get outstanding(): number { return this.slots.filter((s) => s !== undefined).length; }

  /**
   * Run a command with a data buffer: a coherent buffer (page granular) is
   * allocated for it, described by PRP1/PRP2 or a PRP list, and freed after.
   * Resolves with the result and, for 'in', the bytes; status errors resolve
   * too (check `status`).
   */
  async exec(cmd: AdminCommand, data?: AdminDataOpts, opts: AdminSubmitOpts = {}): Promise<AdminResult & { data?: Uint8Array }> {
    if (data === undefined) return this.submit(cmd, opts);
    if (!Number.isInteger(data.len) || data.len <= 0) throw new RnvmeError('EINVAL', `admin data length ${data.len}`);
    const mem = this.h.mem;
    const buf = mem.allocCoherent(data.len, { name: 'admin-data' });
    let list: DmaBuffer | undefined;
    try {
      if (data.dir === 'out' && data.data !== undefined) buf.writeBytes(0, data.data.subarray(0, data.len));
      const nPages = Math.ceil(data.len / CTRL_PAGE);
      const pages: number[] = [];
      for (let i = 0; i < nPages; i++) pages.push(buf.iova + i * CTRL_PAGE);
      let prp2 = 0;
      if (nPages === 2) prp2 = pages[1] ?? 0;
      if (nPages > 2) {
        // Rare (large log pages): a PRP list in its own coherent buffer.
        const per = CTRL_PAGE / 8;
        const listPages = Math.ceil((nPages - 1) / (per - 1));
        list = mem.allocCoherent(listPages * CTRL_PAGE, { name: 'admin-prp' });
        const lp: number[] = [];
        for (let i = 0; i < listPages; i++) lp.push(list.iova + i * CTRL_PAGE);
        const built = buildPrps(pages, CTRL_PAGE, lp);
        for (const l of built.lists) list.writeBytes(l.addr - list.iova, l.data);
        prp2 = built.prp2;
      }
      const r = await this.submit({ ...cmd, prp1: buf.iova, prp2 }, opts);
      if (data.dir === 'in') return { ...r, data: buf.readBytes(0, data.len) };
      return r;
    } finally {
      // A timed-out command may still be DMAing: the unmap below makes the IOMMU refuse it.
      if (!buf.freed) buf.free();
      if (list !== undefined && !list.freed) list.free();
    }
  }

  /** exec(), rejecting with RnvmeError('EIO', Linux's message) when the status is not success. */
  async execOk(cmd: AdminCommand, data?: AdminDataOpts, opts: AdminSubmitOpts = {}): Promise<AdminResult & { data?: Uint8Array }> {
    const r = await this.exec(cmd, data, { ...opts, quiet: true });
    if (statusCode(r.status) !== 0) {
      const msg = formatAdminError(this.h.name, cmd.opc, r.status);
      if (opts.quiet !== true) this.h.log.warn(msg);
      throw new RnvmeError('EIO', msg, r.status);
    }
    return r;
  }

  free(): void { this.q.free(); }
}
