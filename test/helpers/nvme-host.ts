// A small NVMe test host over a raw protocol Channel (no host/pci): serves
// dma_read/dma_write from a flat test memory, records interrupts, and brings
// the controller up in Linux's exact order (NVME-BEHAVIOUR.md §4(b)).
// Works in-process (memory transport + PciFunction) for fast unit tests and
// over ws against a real daemon for integration tests.
import { Channel } from '../../src/protocol/channel.ts';
import { createMemoryTransportPair, connectWebSocket, type Transport } from '../../src/protocol/transport.ts';
import { silentLogger } from '../../src/util/log.ts';
import { PciFunction } from '../../device/pci/function.ts';
import { NvmeController } from '../../device/nvme/controller.ts';
import { nvmeConfig, type NvmeConfig } from '../../device/nvme/options.ts';
import { REG, sqTailDoorbell, cqHeadDoorbell, CSTS, getField } from '../../src/spec/registers.ts';
import { ADMIN, CNS } from '../../src/spec/admin.ts';
import { FID } from '../../src/spec/features.ts';
import { writeSqe, readCqe, type SqeInit, type Cqe } from '../../src/wire/index.ts';
import { u32, put32 } from '../../src/wire/le.ts';
import { CFG, COMMAND, MSIX } from '../../src/spec/pci.ts';
import { CAP_OFFSET } from '../../device/pci/regs.ts';

export const MEM_BASE = 0x1000_0000;

/** Flat host memory at MEM_BASE with a bump allocator (page aligned by default). */
export class TestMemory {
  readonly bytes: Uint8Array;
  private next = 0;
  constructor(readonly size = 32 << 20, readonly base = MEM_BASE) {
    this.bytes = new Uint8Array(size);
  }
  alloc(len: number, align = 4096): number {
    this.next = Math.ceil(this.next / align) * align;
    const a = this.base + this.next;
    this.next += len;
    if (this.next > this.size) throw new RangeError('test memory exhausted');
    return a;
  }
  view(addr: number, len: number): Uint8Array {
    return this.bytes.subarray(addr - this.base, addr - this.base + len);
  }
  write(addr: number, data: Uint8Array): void {
    this.bytes.set(data, addr - this.base);
  }
  contains(addr: number, len: number): boolean {
    return addr >= this.base && addr + len <= this.base + this.size;
  }
}

export interface HostQueue {
  qid: number;
  size: number;
  sq: number;
  cq: number;
  sqTail: number;
  cqHead: number;
  phase: number;
  /** SQ lives in the CMB at this BAR2 offset (SQEs written with region_write). */
  cmbOff?: number;
  waiters: Map<number, (c: Cqe) => void>;
  /** Generation counter per tag (Linux's 4-bit genctr in CID bits 15:12). */
  gen: number[];
  nextTag: number;
  /** SQ tail last told to the controller (MMIO or shadow), for nvme_dbbuf_need_event's `old`. */
  sqRung?: number;
}

export interface HostOptions {
  /** Refuse DMA to/from these ranges (an IOMMU refusing). */
  blocked?: { addr: number; len: number }[];
}

export class NvmeTestHost {
  readonly mem: TestMemory;
  readonly irqs: number[] = [];
  readonly trace: string[] = [];
  readonly queues = new Map<number, HostQueue>();
  private irqWaiters: (() => void)[] = [];
  blocked: { addr: number; len: number }[] = [];
  /** Log of dma_write messages received (addr, len), for batching assertions. */
  dmaWrites = 0;
  /** dma_read requests served. */
  dmaReads = 0;
  /** I/O queues the test reaps by hand (not on interrupt). The admin queue is always reaped. */
  readonly manual = new Set<number>();
  /** Shadow doorbell / EventIdx pages once enableDbbuf() ran: I/O doorbells then follow Linux's nvme_dbbuf_update_and_check_event. */
  dbbuf: { shadow: number; eventIdx: number } | undefined;
  /** MMIO doorbell writes skipped because EventIdx said the controller needs no event. */
  mmioSkipped = 0;
  /** I/O queue MMIO doorbell writes made while shadow doorbells were on. */
  mmioRung = 0;

  constructor(readonly ch: Channel, mem = new TestMemory()) {
    this.mem = mem;
    ch.onRequest((msg, reply) => {
      if (msg.t !== 'dma_read') return reply.err('unknown_type', 'host serves dma_read only');
      this.dmaReads++;
      if (!this.mem.contains(msg.iova, msg.len) || this.isBlocked(msg.iova, msg.len)) return reply.err('iommu', 'blocked');
      reply.data(this.mem.view(msg.iova, msg.len).slice());
    });
    ch.onPosted((msg) => {
      if (msg.t === 'dma_write') {
        this.dmaWrites++;
        if (this.mem.contains(msg.iova, msg.data.length) && !this.isBlocked(msg.iova, msg.data.length)) this.mem.write(msg.iova, msg.data);
      } else if (msg.t === 'irq') {
        this.irqs.push(msg.vec);
        for (const q of this.queues.values()) if (!this.manual.has(q.qid)) this.reap(q);
        const w = this.irqWaiters;
        this.irqWaiters = [];
        for (const f of w) f();
      }
    });
  }

  private isBlocked(addr: number, len: number): boolean {
    return this.blocked.some((b) => addr < b.addr + b.len && b.addr < addr + len);
  }

  /** In-process: a controller behind a PciFunction over a memory transport. */
  static async inProcess(cfg: Partial<NvmeConfig> = {}): Promise<{ host: NvmeTestHost; ctrl: NvmeController; fn: PciFunction }> {
    const ctrl = new NvmeController(nvmeConfig(cfg), silentLogger);
    const fn = new PciFunction(ctrl, silentLogger);
    const pair = createMemoryTransportPair({ maxFrame: 4 << 20 });
    const dev = new Channel(pair.b, { side: 'device', info: () => fn.info(), maxFrame: 4 << 20 });
    fn.bind(dev);
    const host = new NvmeTestHost(new Channel(pair.a, { side: 'host', maxFrame: 4 << 20 }));
    await host.attach();
    return { host, ctrl, fn };
  }

  /** Over ws against a real daemon. */
  static async connect(url: string, token?: string): Promise<NvmeTestHost> {
    const t: Transport = await connectWebSocket(url, token === undefined ? {} : { token });
    const host = new NvmeTestHost(new Channel(t, { side: 'host', maxFrame: 4 << 20 }));
    await host.attach();
    return host;
  }

  /** hello, enable memory + bus mastering, MSI-X on with every vector unmasked, one DMA window over test memory. */
  async attach(): Promise<void> {
    const info = await this.ch.hello({ maxFrame: 4 << 20 });
    await this.cfgWrite(CFG.COMMAND, 2, COMMAND.MEMORY_SPACE | COMMAND.BUS_MASTER);
    // The device library places MSI-X at a fixed offset (device/pci/regs.ts CAP_OFFSET).
    const cap = CAP_OFFSET.MSIX;
    const ctl = await this.cfgRead(cap + MSIX.CONTROL, 2);
    const n = (ctl & MSIX.CONTROL_TABLE_SIZE_MASK) + 1;
    const tbl = await this.cfgRead(cap + MSIX.TABLE, 4);
    const bar = 'bar' + (tbl & MSIX.BIR_MASK);
    const base = tbl & ~MSIX.BIR_MASK;
    for (let v = 0; v < n; v++) {
      const entry = base + v * MSIX.ENTRY_SIZE;
      await this.post(bar, entry + MSIX.ENTRY_ADDR_LO, 4, 0xfee0_0000);
      await this.post(bar, entry + MSIX.ENTRY_DATA, 4, v);
      await this.post(bar, entry + MSIX.ENTRY_VECTOR_CTRL, 4, 0);
    }
    await this.cfgWrite(cap + MSIX.CONTROL, 2, (ctl & ~MSIX.CONTROL_FUNCTION_MASK) | MSIX.CONTROL_ENABLE);
    await this.ch.request({ t: 'dma_map', iova: this.mem.base, len: this.mem.size, prot: 3 });
    this.trace.push(`attached ${info.info.vendor.toString(16)}:${info.info.device.toString(16)}`);
  }

  async cfgRead(off: number, len: number): Promise<number> {
    const r = await this.ch.request({ t: 'region_read', region: 'config', off, len });
    return len === 4 ? u32(r.data, 0) : len === 2 ? (r.data[0] ?? 0) | ((r.data[1] ?? 0) << 8) : (r.data[0] ?? 0);
  }
  async cfgWrite(off: number, len: number, v: number): Promise<void> {
    const d = new Uint8Array(len);
    for (let i = 0; i < len; i++) d[i] = (v >>> (8 * i)) & 0xff;
    await this.ch.request({ t: 'region_write', region: 'config', off, data: d });
  }
  private async post(region: string, off: number, len: number, v: number): Promise<void> {
    const d = new Uint8Array(len);
    for (let i = 0; i < len; i++) d[i] = (v >>> (8 * i)) & 0xff;
    await this.ch.request({ t: 'region_write', region: region as 'bar0', off, data: d });
  }

  async read32(off: number): Promise<number> {
    const r = await this.ch.request({ t: 'region_read', region: 'bar0', off, len: 4 });
    return u32(r.data, 0);
  }
  /** Posted 32-bit register write. */
  write32(off: number, v: number): void {
    const d = new Uint8Array(4);
    new DataView(d.buffer).setUint32(0, v >>> 0, true);
    this.ch.post({ t: 'region_write', region: 'bar0', off, data: d });
  }
  async cap(): Promise<bigint> {
    const lo = await this.read32(REG.CAP);
    const hi = await this.read32(REG.CAP + 4);
    return BigInt(lo) | (BigInt(hi) << 32n);
  }
  /** Poll CSTS until pred holds (each poll is a real round trip; bounded). */
  async waitCsts(pred: (csts: number) => boolean, tries = 2000): Promise<number> {
    for (let i = 0; i < tries; i++) {
      const v = await this.read32(REG.CSTS);
      if (pred(v)) return v;
      await new Promise((r) => setImmediate(r));
    }
    throw new Error('CSTS condition not reached');
  }

  newQueue(qid: number, size: number, cmbOff?: number): HostQueue {
    const q: HostQueue = {
      qid, size, sq: cmbOff === undefined ? this.mem.alloc(size * 64) : 0, cq: this.mem.alloc(size * 16),
      sqTail: 0, cqHead: 0, phase: 1, waiters: new Map(), gen: new Array<number>(4096).fill(0), nextTag: 0,
      ...(cmbOff === undefined ? {} : { cmbOff }),
    };
    this.queues.set(qid, q);
    return q;
  }

  /** Linux-style command id: 4-bit generation in 15:12, tag in 11:0. */
  nextCid(q: HostQueue): number {
    const tag = q.nextTag;
    q.nextTag = (q.nextTag + 1) % Math.min(4096, q.qid === 0 ? 31 : q.size);
    q.gen[tag] = ((q.gen[tag] ?? 0) + 1) & 0xf;
    return ((q.gen[tag] ?? 0) << 12) | tag;
  }

  /** Put an SQE at the tail (no doorbell). Returns its CQE promise. */
  queueSqe(q: HostQueue, s: Omit<SqeInit, 'cid'> & { cid?: number }): Promise<Cqe> {
    const cid = s.cid ?? this.nextCid(q);
    const b = new Uint8Array(64);
    writeSqe(b, 0, { ...s, cid });
    if (q.cmbOff !== undefined) this.ch.post({ t: 'region_write', region: 'bar2', off: q.cmbOff + q.sqTail * 64, data: b });
    else this.mem.write(q.sq + q.sqTail * 64, b);
    q.sqTail = (q.sqTail + 1) % q.size;
    return new Promise((res) => q.waiters.set(cid, res));
  }
  ringSq(q: HostQueue): void {
    const old = q.sqRung ?? 0;
    q.sqRung = q.sqTail;
    if (this.needMmio(q.qid, 0, q.sqTail, old)) this.write32(sqTailDoorbell(q.qid), q.sqTail);
  }

  /**
   * Linux's shadow doorbell rule for I/O queues (pci.c nvme_dbbuf_update_and_check_event):
   * write the shadow value, then (a full barrier; here one thread) read EventIdx and ring the MMIO
   * doorbell only if nvme_dbbuf_need_event: (u16)(new - event_idx - 1) < (u16)(new - old).
   */
  private needMmio(qid: number, isCq: 0 | 1, value: number, old: number): boolean {
    const d = this.dbbuf;
    if (d === undefined || qid === 0) return true;
    const slot = (2 * qid + isCq) * 4;
    put32(this.mem.view(d.shadow + slot, 4), 0, value);
    const ev = u32(this.mem.view(d.eventIdx + slot, 4), 0);
    if (((value - ev - 1) & 0xffff) < ((value - old) & 0xffff)) {
      this.mmioRung++;
      return true;
    }
    this.mmioSkipped++;
    return false;
  }

  /**
   * Doorbell Buffer Config (admin 7Ch) with fresh shadow/EventIdx pages; from
   * then on I/O queue doorbells go through the shadow buffer (qid 0 never does, as Linux).
   */
  async enableDbbuf(): Promise<{ shadow: number; eventIdx: number }> {
    const shadow = this.buf(4096);
    const eventIdx = this.buf(4096);
    await this.expectOk(this.admin({ opc: ADMIN.DOORBELL_BUFFER_CONFIG, prp1: shadow, prp2: eventIdx }), 'doorbell buffer config');
    this.dbbuf = { shadow, eventIdx };
    return this.dbbuf;
  }

  /** CQEs ready at the CQ head (phase matches), without consuming them. */
  readyCqes(q: HostQueue): number {
    let n = 0;
    let head = q.cqHead;
    let phase = q.phase;
    while (n < q.size && ((this.mem.view(q.cq + head * 16 + 14, 1)[0] ?? 0) & 1) === phase) {
      n++;
      if (++head === q.size) {
        head = 0;
        phase ^= 1;
      }
    }
    return n;
  }
  /** Submit one command and ring. */
  submit(q: HostQueue, s: Omit<SqeInit, 'cid'> & { cid?: number }): Promise<Cqe> {
    const p = this.queueSqe(q, s);
    this.ringSq(q);
    return p;
  }
  admin(s: Omit<SqeInit, 'cid'> & { cid?: number }): Promise<Cqe> {
    const q = this.queues.get(0);
    if (q === undefined) throw new Error('admin queue not set up');
    return this.submit(q, s);
  }
  io(qid: number, s: Omit<SqeInit, 'cid'> & { cid?: number }): Promise<Cqe> {
    const q = this.queues.get(qid);
    if (q === undefined) throw new Error(`no queue ${qid}`);
    return this.submit(q, s);
  }

  /** Read new CQEs (phase check first, at most `max`), resolve waiters, ring the CQ head doorbell once per batch. */
  reap(q: HostQueue, ring = true, max = Infinity): Cqe[] {
    const out: Cqe[] = [];
    const old = q.cqHead;
    while (out.length < max) {
      const off = q.cq + q.cqHead * 16;
      const v = this.mem.view(off, 16);
      if (((v[14] ?? 0) & 1) !== q.phase) break;
      const c = readCqe(v, 0);
      out.push(c);
      q.cqHead++;
      if (q.cqHead === q.size) {
        q.cqHead = 0;
        q.phase ^= 1;
      }
      const w = q.waiters.get(c.cid);
      if (w !== undefined) {
        q.waiters.delete(c.cid);
        w(c);
      } else this.trace.push(`invalid id ${c.cid} completed on queue ${q.qid}`);
    }
    if (out.length > 0 && ring && this.needMmio(q.qid, 1, q.cqHead, old)) this.write32(cqHeadDoorbell(q.qid), q.cqHead);
    return out;
  }

  waitIrq(): Promise<void> {
    return new Promise((r) => this.irqWaiters.push(r));
  }

  /** Data buffer helpers. */
  buf(len: number): number {
    return this.mem.alloc(len);
  }

  /**
   * Linux's bring-up order (nvme_pci_enable → nvme_pci_configure_admin_queue →
   * nvme_enable_ctrl → nvme_init_ctrl_finish → nvme_setup_io_queues → AEN → scan).
   */
  async bringUp(opts: { ioQueues?: number; qdepth?: number; aer?: boolean } = {}): Promise<{ idCtrl: Uint8Array; nsids: number[]; idNs: Map<number, Uint8Array>; aer?: Promise<Cqe> }> {
    const t = this.trace;
    const csts0 = await this.read32(REG.CSTS);
    t.push(`read CSTS=0x${csts0.toString(16)}`);
    if (csts0 === 0xffff_ffff) throw new Error('device gone');
    const cap = await this.cap();
    t.push(`read CAP=0x${cap.toString(16)}`);
    const mqes = Number(cap & 0xffffn);
    this.write32(REG.CC, 0);
    t.push('write CC=0');
    await this.waitCsts((v) => getField(v, CSTS.RDY) === 0);
    t.push('CSTS.RDY=0');
    const aq = this.newQueue(0, 32);
    this.write32(REG.AQA, 0x001f001f);
    this.write32(REG.ASQ, aq.sq % 0x1_0000_0000);
    this.write32(REG.ASQ + 4, Math.floor(aq.sq / 0x1_0000_0000));
    this.write32(REG.ACQ, aq.cq % 0x1_0000_0000);
    this.write32(REG.ACQ + 4, Math.floor(aq.cq / 0x1_0000_0000));
    t.push('write AQA=0x1f001f ASQ ACQ');
    this.write32(REG.CC, 0x00460000);
    this.write32(REG.CC, 0x00460001);
    t.push('write CC=0x460000 then 0x460001');
    const csts = await this.waitCsts((v) => (v & 3) !== 0);
    if ((csts & 3) !== 1) throw new Error(`enable failed: CSTS=0x${csts.toString(16)}`);
    t.push('CSTS.RDY=1');
    const idc = this.buf(4096);
    await this.expectOk(this.admin({ opc: ADMIN.IDENTIFY, prp1: idc, cdw10: CNS.CTRL }), 'identify ctrl');
    const idCtrl = this.mem.view(idc, 4096).slice();
    t.push('identify controller');
    const want = opts.ioQueues ?? 2;
    const nq = await this.expectOk(this.admin({ opc: ADMIN.SET_FEATURES, cdw10: FID.NUMBER_OF_QUEUES, cdw11: ((want - 1) | ((want - 1) << 16)) >>> 0 }), 'set num queues');
    const got = Math.min((nq.dw0 & 0xffff) + 1, (nq.dw0 >>> 16) + 1, want);
    t.push(`set features number of queues → ${got}`);
    const depth = Math.min(opts.qdepth ?? 64, mqes + 1);
    for (let qid = 1; qid <= got; qid++) {
      const q = this.newQueue(qid, depth);
      await this.expectOk(this.admin({ opc: ADMIN.CREATE_IO_CQ, prp1: q.cq, cdw10: (qid | ((depth - 1) << 16)) >>> 0, cdw11: (1 | 2 | (qid << 16)) >>> 0 }), `create cq ${qid}`);
      await this.expectOk(this.admin({ opc: ADMIN.CREATE_IO_SQ, prp1: q.sq, cdw10: (qid | ((depth - 1) << 16)) >>> 0, cdw11: (1 | (qid << 16)) >>> 0 }), `create sq ${qid}`);
      t.push(`create cq+sq ${qid}`);
    }
    const list = this.buf(4096);
    await this.expectOk(this.admin({ opc: ADMIN.IDENTIFY, prp1: list, cdw10: CNS.ACTIVE_NS_LIST, nsid: 0 }), 'ns list');
    const nsids: number[] = [];
    for (let i = 0; i < 1024; i++) {
      const id = u32(this.mem.view(list, 4096), 4 * i);
      if (id === 0) break;
      nsids.push(id);
    }
    t.push(`active ns list ${nsids.join(',')}`);
    const idNs = new Map<number, Uint8Array>();
    for (const nsid of nsids) {
      const b = this.buf(4096);
      await this.expectOk(this.admin({ opc: ADMIN.IDENTIFY, prp1: b, cdw10: CNS.NS, nsid }), `identify ns ${nsid}`);
      idNs.set(nsid, this.mem.view(b, 4096).slice());
    }
    t.push('identify namespaces');
    await this.expectOk(this.admin({ opc: ADMIN.SET_FEATURES, cdw10: FID.ASYNC_EVENT_CONFIG, cdw11: 0x100 }), 'aec');
    t.push('set features async event config');
    let aer: Promise<Cqe> | undefined;
    if (opts.aer !== false) {
      aer = this.admin({ opc: ADMIN.ASYNC_EVENT_REQUEST, cid: 31 });
      t.push('aer cid 31');
    }
    return aer === undefined ? { idCtrl, nsids, idNs } : { idCtrl, nsids, idNs, aer };
  }

  async expectOk(p: Promise<Cqe>, what: string): Promise<Cqe> {
    const c = await p;
    if (c.status !== 0) throw new Error(`${what}: status 0x${c.status.toString(16)}`);
    return c;
  }

  close(): void {
    this.ch.close(1000, 'done');
  }
}
