// Controller bring-up in Linux's order (NVME-BEHAVIOUR.md §4(b); pci.c
// nvme_pci_enable / nvme_pci_configure_admin_queue / nvme_setup_io_queues,
// core.c nvme_disable_ctrl / nvme_enable_ctrl / nvme_init_ctrl_finish).
// Used for the first probe and again by every reset.
import {
  ADMIN, AQA, CAP, CC, CC_CSS_ALL, CC_CSS_NVM, CMBLOC, CMBMSC, CMBSZ, CNS, CREATE_CQ, CREATE_SQ, CSTS, CSTS_DEVICE_GONE,
  FID, INT_COALESCING, NUM_QUEUES, OACS, REG, SQES_LOG2, CQES_LOG2, SQE_SIZE, CQE_SIZE, IDENTIFY_SIZE,
  cmbSizeUnitBytes, getField, makeReg, setField, statusCode, doorbellStride,
} from '../../../src/spec/index.ts';
import { RnvmeError } from './errors.ts';
import { AdminQueue } from './admin.ts';
import { NvmeQueue } from './queue.ts';
import { CTRL_PAGE } from './prp.ts';
import { decodeIdCtrl } from './identify.ts';
import type { NvmeController } from './controller.ts';

const TWO32 = 0x1_0000_0000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** NVME_MAX_BYTES: Linux caps a request at 8 MiB whatever MDTS says. */
export const NVME_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Poll CSTS every ~1 ms until `done(csts)` or `timeoutMs` passes (Linux
 * nvme_wait_ready). All-ones means the device is gone: ENODEV at once.
 */
export async function waitCsts(c: NvmeController, done: (csts: number) => boolean, timeoutMs: number, what: string): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const csts = await c.bar0.read32(REG.CSTS);
    if (csts === CSTS_DEVICE_GONE) throw new RnvmeError('ENODEV', `${c.name}: device gone (CSTS all-ones) while waiting for ${what}`);
    if (done(csts)) return csts;
    if (performance.now() >= deadline) {
      throw new RnvmeError('ETIMEDOUT', `${c.name}: Device not ready; aborting ${what}, CSTS=0x${csts.toString(16)}`);
    }
    await sleep(1);
  }
}

/** CAP.TO is in 500 ms units; Linux waits (TO + 1) / 2 seconds. */
const readyTimeoutMs = (cap: bigint): number => (getField(cap, CAP.TO) + 1) * 500;

/** Steps 2–3: memory + bus mastering, CSTS, CAP (two 32-bit reads), CMB, VS. */
export async function pciEnable(c: NvmeController): Promise<void> {
  await c.fn.setCommand({ memory: true, busMaster: true });
  const csts = await c.bar0.read32(REG.CSTS);
  if (csts === CSTS_DEVICE_GONE) throw new RnvmeError('ENODEV', `${c.name}: CSTS reads all-ones: no device`);
  // lo_hi_readq: CAP as two 32-bit reads, low half first.
  const lo = await c.bar0.read32(REG.CAP);
  const hi = await c.bar0.read32(REG.CAP + 4);
  c.cap = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  c.mqes = getField(c.cap, CAP.MQES);
  c.qDepth = Math.min(c.mqes + 1, c.opts.io_queue_depth);
  c.dstrd = getField(c.cap, CAP.DSTRD);
  c.readyTimeoutMs = readyTimeoutMs(c.cap);
  if (getField(c.cap, CAP.CMBS) === 1 && c.opts.use_cmb_sqes) await mapCmb(c);
  c.vs = await c.bar0.read32(REG.VS);
}

/** nvme_map_cmb: CMBMSC.CRE, read CMBSZ/CMBLOC, then CMBMSC = CRE|CMSE|CBA (high half first). */
export async function mapCmb(c: NvmeController): Promise<void> {
  c.bar0.write32(REG.CMBMSC, makeReg(CMBMSC, { CRE: 1 }));
  const sz = await c.bar0.read32(REG.CMBSZ);
  const loc = await c.bar0.read32(REG.CMBLOC);
  if (sz === 0 || sz === CSTS_DEVICE_GONE) return;
  const size = getField(sz, CMBSZ.SZ) * cmbSizeUnitBytes(getField(sz, CMBSZ.SZU));
  const bir = getField(loc, CMBLOC.BIR);
  const offset = getField(loc, CMBLOC.OFST) * cmbSizeUnitBytes(getField(sz, CMBSZ.SZU));
  const info = c.fn.bars[bir];
  if (info === undefined || size === 0 || offset + size > info.size) {
    c.log.warn(`${c.name}: CMB (BIR ${bir}, ${size} bytes at ${offset}) does not fit its BAR; not used`);
    return;
  }
  if (getField(sz, CMBSZ.SQS) !== 1) return; // only SQs are placed in the CMB
  // The controller names CMB memory by the BAR's bus address (pci_bus_address).
  const cba = info.address + offset;
  if (cba % CTRL_PAGE !== 0 || cba === 0) {
    c.log.warn(`${c.name}: CMB bus address 0x${cba.toString(16)} unusable; not used`);
    return;
  }
  c.cmb = { bar: c.fn.bar(bir), barOffset: offset, cba, size, next: 0 };
  programCmbmsc(c);
}

function programCmbmsc(c: NvmeController): void {
  const cmb = c.cmb;
  if (cmb === undefined) return;
  const lo = (makeReg(CMBMSC, { CRE: 1, CMSE: 1 }) | (cmb.cba % TWO32)) >>> 0;
  c.bar0.write32(REG.CMBMSC + 4, Math.floor(cmb.cba / TWO32));
  c.bar0.write32(REG.CMBMSC, lo);
}

/** nvme_disable_ctrl(shutdown=false): clear EN (and SHN), wait for RDY=0 within CAP.TO. */
export async function disableCtrl(c: NvmeController): Promise<void> {
  c.ctrlConfig = setField(setField(c.ctrlConfig, CC.SHN, 0), CC.EN, 0);
  c.bar0.write32(REG.CC, c.ctrlConfig);
  await waitCsts(c, (s) => getField(s, CSTS.RDY) === 0, c.readyTimeoutMs, 'disable');
}

/** nvme_enable_ctrl: CC without EN, re-read CAP, then EN; wait RDY=1 within CAP.TO. */
export async function enableCtrl(c: NvmeController): Promise<void> {
  if (getField(c.cap, CAP.MPSMIN) > 0) throw new RnvmeError('ENODEV', `${c.name}: minimum device page size ${2 ** (12 + getField(c.cap, CAP.MPSMIN))} too large for host (4096)`);
  // CSS: "all I/O command sets" when CAP.CSS bit 6 is set, else NVM (§3.1.5).
  const css = (getField(c.cap, CAP.CSS) & (1 << 6)) !== 0 ? CC_CSS_ALL : CC_CSS_NVM;
  c.ctrlConfig = makeReg(CC, { CSS: css, MPS: 0, AMS: 0, SHN: 0, IOSQES: SQES_LOG2, IOCQES: CQES_LOG2 });
  c.bar0.write32(REG.CC, c.ctrlConfig);
  // "CAP value may change after initial CC write" (Linux).
  const lo = await c.bar0.read32(REG.CAP);
  const hi = await c.bar0.read32(REG.CAP + 4);
  c.cap = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  c.readyTimeoutMs = readyTimeoutMs(c.cap);
  c.ctrlConfig = setField(c.ctrlConfig, CC.EN, 1);
  c.bar0.write32(REG.CC, c.ctrlConfig);
  await waitCsts(c, (s) => getField(s, CSTS.RDY) === 1, c.readyTimeoutMs, 'initialisation');
}

/** Steps 4–7: disable, admin queue registers (AQA, ASQ, ACQ low then high), enable. */
export async function configureAdminQueue(c: NvmeController): Promise<void> {
  await disableCtrl(c);
  if (c.cmb !== undefined) programCmbmsc(c); // a controller reset clears CMBMSC (§3.1.15)
  let admin = c.admin;
  if (admin === undefined) {
    admin = new AdminQueue({
      name: c.name, log: c.log, mem: c.fn.memory, timeoutMs: c.opts.admin_timeout,
      onTimeout: () => c.onAdminTimeout(),
      onAen: (status, dw0) => c.onAen(status, dw0),
    }, c.bar0, c.dstrd, 0);
    c.admin = admin;
  } else {
    admin.q.resetRings();
    if (admin.q.sq !== undefined) admin.q.sq.fill(0);
  }
  admin.reopen();
  c.bar0.write32(REG.AQA, makeReg(AQA, { ASQS: admin.q.depth - 1, ACQS: admin.q.depth - 1 }));
  const asq = admin.q.sqAddr;
  const acq = admin.q.cqAddr;
  c.bar0.write32(REG.ASQ, asq % TWO32);
  c.bar0.write32(REG.ASQ + 4, Math.floor(asq / TWO32));
  c.bar0.write32(REG.ACQ, acq % TWO32);
  c.bar0.write32(REG.ACQ + 4, Math.floor(acq / TWO32));
  await enableCtrl(c);
}

/** Host Behavior Support data structure size (Feature 16h). */
const HOST_BEHAVIOR_SIZE = 512;

/** Step 8: Identify Controller and what the driver keeps from it. */
export async function identifyCtrl(c: NvmeController): Promise<void> {
  const admin = c.requireAdmin();
  const r = await admin.execOk({ opc: ADMIN.IDENTIFY, nsid: 0, cdw10: CNS.CTRL }, { dir: 'in', len: IDENTIFY_SIZE });
  const raw = r.data ?? new Uint8Array(IDENTIFY_SIZE);
  const id = decodeIdCtrl(raw);
  c.idCtrl = id;
  c.idCtrlRaw = raw;
  c.crdt = id.crdt;
  c.abortLimit = id.acl + 1;
  const mps = 2 ** (12 + getField(c.cap, CAP.MPSMIN));
  c.maxTransferBytes = id.mdts === 0 ? NVME_MAX_BYTES : Math.min(NVME_MAX_BYTES, 2 ** id.mdts * mps);
  // shutdown_timeout = clamp(RTD3E rounded up to seconds, module param, 60 s).
  const rtd3eMs = Math.ceil(id.rtd3e / 1_000_000) * 1000;
  c.shutdownTimeoutMs = Math.min(60_000, Math.max(c.opts.shutdown_timeout, rtd3eMs));
  // SGLS bits 1:0 = 01b/10b: SGLs supported for the NVM command set (§5.15.2.2).
  c.sglSupported = (id.sgls & 0x3) !== 0;
}

/**
 * nvme_configure_acre: when the controller reports a retry delay (CRDT1 ≠ 0),
 * set Host Behavior Support (Feature 16h) ACRE = 1 so that it may put CRD in
 * error statuses (NVMe 2.0 §5.27.1.18). An error status is only logged, as
 * Linux ignores it (retries then simply have no delay).
 */
export async function configureAcre(c: NvmeController): Promise<void> {
  if ((c.crdt[0] ?? 0) === 0) return;
  const data = new Uint8Array(HOST_BEHAVIOR_SIZE);
  data[0] = 1; // ACRE
  const r = await c.requireAdmin().exec({ opc: ADMIN.SET_FEATURES, cdw10: FID.HOST_BEHAVIOR }, { dir: 'out', len: HOST_BEHAVIOR_SIZE, data }, { quiet: true });
  if (statusCode(r.status) !== 0) c.log.warn(`${c.name}: failed to enable advanced command retry (status 0x${r.status.toString(16)})`);
}

/** Step 10a: Set Features Number of Queues; an error means an admin-only controller. */
async function setQueueCount(c: NvmeController, want: number): Promise<number> {
  const admin = c.requireAdmin();
  const n = want - 1;
  const r = await admin.exec({ opc: ADMIN.SET_FEATURES, cdw10: FID.NUMBER_OF_QUEUES, cdw11: (n | (n << NUM_QUEUES.NCQ_SHIFT)) >>> 0 }, undefined, { quiet: true });
  if (statusCode(r.status) !== 0) {
    c.log.warn(`${c.name}: Could not set queue count (${r.status.toString(16)}); admin-only controller`);
    return 0;
  }
  const nsqa = r.dw0 & NUM_QUEUES.NSQ_MASK;
  const ncqa = r.dw0 >>> NUM_QUEUES.NCQ_SHIFT;
  return Math.min(nsqa, ncqa) + 1;
}

/** Create I/O CQ then SQ for one queue (steps 10c). Returns false if the controller refused. */
async function createQueuePair(c: NvmeController, q: NvmeQueue): Promise<boolean> {
  const admin = c.requireAdmin();
  const qsize = ((q.depth - 1) << 16) >>> 0;
  const cqFlags = q.polled ? CREATE_CQ.PC : CREATE_CQ.PC | CREATE_CQ.IEN | (q.vector << CREATE_CQ.IV_SHIFT);
  const cq = await admin.exec({ opc: ADMIN.CREATE_IO_CQ, prp1: q.cqAddr, cdw10: (q.qid | qsize) >>> 0, cdw11: cqFlags >>> 0 });
  if (statusCode(cq.status) !== 0) return false;
  const sq = await admin.exec({ opc: ADMIN.CREATE_IO_SQ, prp1: q.sqAddr, cdw10: (q.qid | qsize) >>> 0, cdw11: (CREATE_SQ.PC | (q.qid << CREATE_SQ.CQID_SHIFT)) >>> 0 });
  if (statusCode(sq.status) !== 0) {
    await admin.exec({ opc: ADMIN.DELETE_IO_CQ, cdw10: q.qid });
    return false;
  }
  return true;
}

/** Allocate an I/O queue pair's memory (SQ in the CMB when there is room). */
function allocQueue(c: NvmeController, qid: number, vector: number): NvmeQueue {
  const mem = c.fn.memory;
  const cq = mem.allocCoherent(c.qDepth * CQE_SIZE, { name: `cq${qid}` });
  const cmb = c.cmb;
  const sqBytes = Math.ceil((c.qDepth * SQE_SIZE) / CTRL_PAGE) * CTRL_PAGE;
  if (cmb !== undefined && cmb.next + sqBytes <= cmb.size) {
    const off = cmb.next;
    cmb.next += sqBytes;
    return new NvmeQueue({ qid, depth: c.qDepth, dstrd: c.dstrd, bar0: c.bar0, cq, vector, cmb: { bar: cmb.bar, barOffset: cmb.barOffset + off, busAddr: cmb.cba + off } });
  }
  const sq = mem.allocCoherent(c.qDepth * SQE_SIZE, { name: `sq${qid}` });
  return new NvmeQueue({ qid, depth: c.qDepth, dstrd: c.dstrd, bar0: c.bar0, sq, cq, vector });
}

/**
 * Step 10: queue count, MSI-X vectors, Create CQ/SQ per queue (IV = qid;
 * polled queues without interrupts). First probe: decides the queue layout;
 * after a reset: re-creates the same queues (fewer is an error).
 */
export async function setupIoQueues(c: NvmeController, first: boolean): Promise<void> {
  const wantIrq = c.opts.io_queues;
  const wantPoll = c.opts.poll_queues;
  const want = wantIrq + wantPoll;
  if (want === 0) return;
  const got = await setQueueCount(c, want);
  if (first) {
    let irq = Math.min(wantIrq, got);
    let poll = Math.min(wantPoll, got - irq);
    // One vector for the admin queue plus one per interrupt-driven queue.
    const table = c.fn.msix?.tableSize ?? 0;
    if (irq > 0 && table < 2) { c.log.warn(`${c.name}: ${table} MSI-X vectors: no interrupt-driven I/O queues`); irq = 0; poll = 0; }
    else irq = Math.min(irq, table - 1);
    c.nrIrqQueues = irq;
    c.nrPollQueues = poll;
    for (let qid = 1; qid <= irq + poll; qid++) c.ioQueues.push(allocQueue(c, qid, qid <= irq ? qid : -1));
  } else {
    if (got < c.ioQueues.length) throw new RnvmeError('EIO', `${c.name}: controller offers ${got} queues after reset, ${c.ioQueues.length} needed`);
    for (const q of c.ioQueues) q.resetRings();
  }
  c.attachQueueIrqs();
  for (let i = 0; i < c.ioQueues.length; i++) {
    const q = c.ioQueues[i] as NvmeQueue;
    if (await createQueuePair(c, q)) continue;
    if (!first) throw new RnvmeError('EIO', `${c.name}: could not re-create I/O queue ${q.qid} after reset`);
    // Linux continues with the queues it could create.
    c.log.warn(`${c.name}: Create I/O queue ${q.qid} failed; continuing with ${i} queues`);
    for (const rest of c.ioQueues.splice(i)) rest.free();
    c.nrIrqQueues = Math.min(c.nrIrqQueues, i);
    c.nrPollQueues = i - c.nrIrqQueues;
    break;
  }
}

/** Step 9/11: shadow doorbells (Doorbell Buffer Config) when OACS bit 8; failure is tolerated. */
export async function setupDbbuf(c: NvmeController): Promise<void> {
  const id = c.idCtrl;
  if (id === undefined || (id.oacs & OACS.DBBUF) === 0 || !c.opts.use_dbbuf || c.ioQueues.length === 0) return;
  const bytes = (c.ioQueues.length + 1) * 2 * doorbellStride(c.dstrd);
  if (c.dbbuf === undefined) {
    const mem = c.fn.memory;
    c.dbbuf = { shadow: mem.allocCoherent(bytes, { name: 'dbbuf-shadow' }), eventIdx: mem.allocCoherent(bytes, { name: 'dbbuf-eventidx' }) };
  }
  c.dbbuf.shadow.fill(0);
  c.dbbuf.eventIdx.fill(0);
  const admin = c.requireAdmin();
  const r = await admin.exec({ opc: ADMIN.DOORBELL_BUFFER_CONFIG, prp1: c.dbbuf.shadow.iova, prp2: c.dbbuf.eventIdx.iova }, undefined, { quiet: true });
  if (statusCode(r.status) !== 0) {
    c.log.warn(`${c.name}: unable to set dbbuf (status 0x${r.status.toString(16)})`);
    c.dbbuf.shadow.free();
    c.dbbuf.eventIdx.free();
    c.dbbuf = undefined;
    return;
  }
  for (const q of c.ioQueues) q.setDbbuf(c.dbbuf);
}

/** Interrupt coalescing (Set Features 08h) from the options; failure is logged and ignored. */
export async function setupCoalescing(c: NvmeController): Promise<void> {
  const thr = c.opts.coalescing_thr;
  const time = c.opts.coalescing_time;
  if (thr === 0 && time === 0) return;
  const cdw11 = ((Math.max(thr, 1) - 1) & INT_COALESCING.THR_MASK) | ((time & INT_COALESCING.TIME_MASK) << INT_COALESCING.TIME_SHIFT);
  const r = await c.requireAdmin().exec({ opc: ADMIN.SET_FEATURES, cdw10: FID.INTERRUPT_COALESCING, cdw11 }, undefined, { quiet: true });
  if (statusCode(r.status) !== 0) c.log.warn(`${c.name}: interrupt coalescing not set (status 0x${r.status.toString(16)})`);
  else c.coalescing = { thr: Math.max(thr, 1), time };
}

/** The whole bring-up after pciEnable (steps 4–11). */
export async function bringUp(c: NvmeController, first: boolean): Promise<void> {
  await configureAdminQueue(c);
  await identifyCtrl(c);
  await configureAcre(c);
  await setupIoQueues(c, first);
  await setupDbbuf(c);
  await setupCoalescing(c);
}
