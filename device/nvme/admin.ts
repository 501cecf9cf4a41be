// Admin command set (NVMe 1.4 §5). A support table is checked before the
// opcode switch; every handler returns a status (or PENDING and completes
// later) and never throws.
import type { NvmeController } from './controller.ts';
import type { Req } from './queues.ts';
import { PENDING, complete, Cq, Sq, kick, sqPending, ABORT_LIMIT } from './queues.ts';
import { S, dnr } from '../../src/spec/status.ts';
import { ADMIN, CNS, CREATE_CQ, CREATE_SQ, AER_TYPE, FORMAT, ABORT_NOT_ABORTED } from '../../src/spec/admin.ts';
import { CC, getField } from '../../src/spec/registers.ts';
import { LID } from '../../src/spec/log.ts';
import { CSI } from '../../src/spec/identify.ts';
import { NSID_BROADCAST } from '../../src/spec/nvm.ts';
import { SQES_LOG2, CQES_LOG2, IDENTIFY_SIZE } from '../../src/spec/sizes.ts';
import { MAX_NAMESPACES } from './options.ts';
import { getFeatures, setFeatures, transferOut } from './features.ts';
import { mapData, fromHost } from './dma.ts';
import { FID, FEAT_CDW10, SEL, FEAT_CAP } from '../../src/spec/features.ts';
import { identifyController, identifyNamespace, activeNsList, nsDescriptors, LBA_FORMATS } from './identify.ts';
import { smartLog, fwSlotLog, changedNsLog, cmdEffectsLog, LOG_SIZES } from './logs.ts';

/** Admin opcodes this controller implements (also the Commands Supported and Effects log). */
export const ADMIN_SUPPORTED: ReadonlySet<number> = new Set([
  ADMIN.DELETE_IO_SQ, ADMIN.CREATE_IO_SQ, ADMIN.GET_LOG_PAGE, ADMIN.DELETE_IO_CQ, ADMIN.CREATE_IO_CQ, ADMIN.IDENTIFY,
  ADMIN.ABORT, ADMIN.SET_FEATURES, ADMIN.GET_FEATURES, ADMIN.ASYNC_EVENT_REQUEST, ADMIN.DOORBELL_BUFFER_CONFIG, ADMIN.FORMAT_NVM,
]);

export function adminCommand(c: NvmeController, req: Req): number {
  const s = req.sqe;
  if (!ADMIN_SUPPORTED.has(s.opc) || (s.opc === ADMIN.DOORBELL_BUFFER_CONFIG && !c.cfg.dbcs)) return dnr(S.INVALID_OPCODE);
  // §4.2: "SGLs shall not be used for Admin commands" (NVMe over PCIe).
  if (s.psdt !== 0) return dnr(S.INVALID_FIELD);
  if (s.fuse !== 0) return S.INVALID_FIELD;
  switch (s.opc) {
    case ADMIN.DELETE_IO_SQ: return deleteSq(c, req);
    case ADMIN.CREATE_IO_SQ: return createSq(c, req);
    case ADMIN.GET_LOG_PAGE: return getLogPage(c, req);
    case ADMIN.DELETE_IO_CQ: return deleteCq(c, req);
    case ADMIN.CREATE_IO_CQ: return createCq(c, req);
    case ADMIN.IDENTIFY: return identify(c, req);
    case ADMIN.ABORT: return abort(c, req);
    case ADMIN.SET_FEATURES:
      return (s.cdw10 & FEAT_CDW10.FID_MASK) === FID.HOST_BEHAVIOR ? setHostBehavior(c, req) : setFeatures(c, req);
    case ADMIN.GET_FEATURES:
      return (s.cdw10 & FEAT_CDW10.FID_MASK) === FID.HOST_BEHAVIOR ? getHostBehavior(c, req) : getFeatures(c, req);
    case ADMIN.ASYNC_EVENT_REQUEST: return c.aer.submit(req) ?? PENDING;
    case ADMIN.DOORBELL_BUFFER_CONFIG: return doorbellBufferConfig(c, req);
    case ADMIN.FORMAT_NVM: return formatNvm(c, req);
    default: return dnr(S.INVALID_OPCODE);
  }
}

// ─────────────── Host Behavior Support (Feature 16h, NVMe 2.0 §5.27.1.18) ───────────────

/** The 512-byte Host Behavior Support data structure; byte 0 = ACRE (Advanced Command Retry Enable). */
export const HOST_BEHAVIOR_SIZE = 512;
const HBS_ACRE = 0;

/**
 * Feature 16h's current value per controller, tagged with the controller
 * epoch: like every non-saveable feature it returns to its default (all
 * zero) on a Controller Level Reset (§3.7.2).
 */
const hostBehavior = new WeakMap<NvmeController, { epoch: number; data: Uint8Array }>();

/** Current Host Behavior Support data (zeros unless the host set it since the last reset). */
export function hostBehaviorData(c: NvmeController): Uint8Array {
  const hb = hostBehavior.get(c);
  return hb !== undefined && hb.epoch === c.epoch ? hb.data : new Uint8Array(HOST_BEHAVIOR_SIZE);
}

/** ACRE set: the host accepts a non-zero CRD in completion statuses (CRDT1..3 delays). */
export function acreEnabled(c: NvmeController): boolean {
  return (hostBehaviorData(c)[HBS_ACRE] ?? 0) === 1;
}

/** Not namespace specific, not saveable: the common Get/Set checks of features.ts for this FID. */
function hostBehaviorCheck(req: Req, isSet: boolean): number | undefined {
  const nsid = req.sqe.nsid;
  if (isSet && (req.sqe.cdw10 & FEAT_CDW10.SV) !== 0) return dnr(S.FEATURE_NOT_SAVEABLE);
  if (nsid !== 0 && nsid !== NSID_BROADCAST) {
    if (nsid > MAX_NAMESPACES) return dnr(S.INVALID_NAMESPACE_OR_FORMAT);
    if (isSet) return dnr(S.FEATURE_NOT_NS_SPECIFIC);
  }
  return undefined;
}

function setHostBehavior(c: NvmeController, req: Req): number {
  const bad = hostBehaviorCheck(req, true);
  if (bad !== undefined) return bad;
  const data = new Uint8Array(HOST_BEHAVIOR_SIZE);
  const epoch = c.epoch;
  mapData(c, req, HOST_BEHAVIOR_SIZE, false, (st) => {
    if (st !== S.SUCCESS) return complete(c, req, st);
    fromHost(c, req, data, (st2) => {
      if (st2 !== S.SUCCESS) return complete(c, req, st2);
      // ACRE is one bit in a byte: other values are reserved. LBAFEE (byte 2)
      // needs Extended LBA Formats, which this controller does not offer.
      if ((data[HBS_ACRE] ?? 0) > 1 || (data[2] ?? 0) !== 0) return complete(c, req, dnr(S.INVALID_FIELD));
      if (epoch === c.epoch) hostBehavior.set(c, { epoch, data });
      complete(c, req, S.SUCCESS);
    });
  });
  return PENDING;
}

function getHostBehavior(c: NvmeController, req: Req): number {
  const bad = hostBehaviorCheck(req, false);
  if (bad !== undefined) return bad;
  const sel = (req.sqe.cdw10 >> FEAT_CDW10.SEL_SHIFT) & FEAT_CDW10.SEL_MASK;
  if (sel === SEL.SUPPORTED_CAPS) {
    complete(c, req, S.SUCCESS, FEAT_CAP.CHANGEABLE);
    return PENDING;
  }
  if (sel > SEL.SUPPORTED_CAPS) return dnr(S.INVALID_FIELD);
  const data = sel === SEL.CURRENT ? hostBehaviorData(c) : new Uint8Array(HOST_BEHAVIOR_SIZE);
  return transferOut(c, req, data, 0);
}

/** Create I/O Completion Queue (§5.3). Checks in QEMU's order. */
function createCq(c: NvmeController, req: Req): number {
  const s = req.sqe;
  const qid = s.cdw10 & 0xffff;
  const qsize = (s.cdw10 >>> 16) + 1;
  const pc = (s.cdw11 & CREATE_CQ.PC) !== 0;
  const ien = (s.cdw11 & CREATE_CQ.IEN) !== 0;
  const iv = s.cdw11 >>> CREATE_CQ.IV_SHIFT;
  if (getField(c.cc, CC.IOCQES) !== CQES_LOG2) return dnr(S.INVALID_QUEUE_SIZE);
  if (qid === 0 || qid > c.cfg.maxIoQpairs || c.cqs[qid] !== undefined) return dnr(S.INVALID_QUEUE_IDENTIFIER);
  if (qsize < 2 || qsize > c.cfg.mqes + 1) return dnr(S.INVALID_QUEUE_SIZE);
  if (s.prp1 % c.pageSize !== 0 || s.prp1 === 0) return dnr(S.PRP_OFFSET_INVALID);
  if (c.cmb.contains(s.prp1)) return dnr(S.INVALID_USE_OF_CMB); // CMBSZ.CQS = 0
  if (iv >= c.cfg.msixQsize) return dnr(S.INVALID_INTERRUPT_VECTOR);
  if (!pc) return dnr(S.INVALID_FIELD); // CAP.CQR = 1: queues must be physically contiguous
  c.cqs[qid] = new Cq(qid, s.prp1, qsize, ien, iv);
  c.ioQueuesCreated = true;
  return S.SUCCESS;
}

/** Create I/O Submission Queue (§5.4). */
function createSq(c: NvmeController, req: Req): number {
  const s = req.sqe;
  const qid = s.cdw10 & 0xffff;
  const qsize = (s.cdw10 >>> 16) + 1;
  const pc = (s.cdw11 & CREATE_SQ.PC) !== 0;
  const prio = (s.cdw11 >> CREATE_SQ.QPRIO_SHIFT) & CREATE_SQ.QPRIO_MASK;
  const cqid = s.cdw11 >>> CREATE_SQ.CQID_SHIFT;
  if (getField(c.cc, CC.IOSQES) !== SQES_LOG2) return dnr(S.INVALID_QUEUE_SIZE);
  const cq = c.cqs[cqid];
  if (cqid === 0 || cq === undefined) return dnr(S.COMPLETION_QUEUE_INVALID);
  if (qid === 0 || qid > c.cfg.maxIoQpairs || c.sqs[qid] !== undefined) return dnr(S.INVALID_QUEUE_IDENTIFIER);
  if (qsize < 2 || qsize > c.cfg.mqes + 1) return dnr(S.INVALID_QUEUE_SIZE);
  if (s.prp1 % c.pageSize !== 0 || s.prp1 === 0) return dnr(S.PRP_OFFSET_INVALID);
  if (!pc) return dnr(S.INVALID_FIELD);
  const inCmb = c.cmb.contains(s.prp1, qsize * 64);
  if (!inCmb && c.cmb.contains(s.prp1)) return dnr(S.INVALID_USE_OF_CMB); // straddles the end of the CMB
  const sq = new Sq(qid, s.prp1, qsize, cq, inCmb, prio);
  cq.sqs.add(sq);
  c.sqs[qid] = sq;
  return S.SUCCESS;
}

/** Delete I/O Submission Queue (§5.6): in-flight commands complete with Aborted – SQ Deletion first. */
function deleteSq(c: NvmeController, req: Req): number {
  const qid = req.sqe.cdw10 & 0xffff;
  const sq = c.sqs[qid];
  if (qid === 0 || sq === undefined || sq.deleting) return dnr(S.INVALID_QUEUE_IDENTIFIER);
  sq.deleting = true;
  const busy = sq.busy();
  for (const r of busy) r.aborted = S.ABORTED_SQ_DELETION;
  // Aborts waiting for unfetched SQEs: those SQEs are discarded with the queue, never aborted.
  for (const a of sq.aborts.splice(0)) complete(c, a.req, S.SUCCESS, ABORT_NOT_ABORTED);
  if (sq.inflight === 0) {
    sq.cq.sqs.delete(sq);
    c.sqs[qid] = undefined;
    return S.SUCCESS;
  }
  sq.deleteReq = req;
  // §5.6: the controller completes or aborts every command of the SQ before
  // the deletion completes. Commands a fault "lost" would otherwise hold it
  // forever: they are aborted now (Command Aborted due to SQ Deletion); the
  // last one to finish completes this Delete (queues.ts finishSlot).
  for (const r of busy) if (lostCommands.delete(r.sqe)) complete(c, r, S.ABORTED_SQ_DELETION);
  return PENDING;
}

/**
 * Commands fetched and then lost inside the controller (the fault engine's
 * drop-completion 'before'): never executed, they would never finish. Keyed
 * by the slot's SQE object; a controller reset discards the slots.
 */
const lostCommands = new WeakSet<object>();

/** Record that the command in this slot was lost (it will never complete by itself). */
export function markCommandLost(sqe: object): void {
  lostCommands.add(sqe);
}

/** Delete I/O Completion Queue (§5.5). */
function deleteCq(c: NvmeController, req: Req): number {
  const qid = req.sqe.cdw10 & 0xffff;
  const cq = c.cqs[qid];
  if (qid === 0 || cq === undefined) return dnr(S.INVALID_QUEUE_IDENTIFIER);
  // §5.5: the host deletes every SQ that uses a CQ before the CQ (no DNR: it may succeed later).
  if (cq.sqs.size > 0) return S.INVALID_QUEUE_DELETION;
  if (cq.coalesceTimer !== undefined) clearTimeout(cq.coalesceTimer);
  c.cqs[qid] = undefined;
  c.dirtyCqs.delete(cq);
  return S.SUCCESS;
}

/** Identify (§5.15). */
function identify(c: NvmeController, req: Req): number {
  const s = req.sqe;
  const cns = s.cdw10 & 0xff;
  const csi = s.cdw11 >>> 24;
  const nsid = s.nsid;
  const nsidInvalid = nsid === 0 || nsid === NSID_BROADCAST || nsid > MAX_NAMESPACES;
  switch (cns) {
    case CNS.CTRL:
      return transferOut(c, req, identifyController(c), 0);
    case CNS.NS:
    case CNS.CS_NS: {
      if (nsidInvalid) return dnr(S.INVALID_NAMESPACE_OR_FORMAT);
      if (cns === CNS.CS_NS && csi !== CSI.NVM) return dnr(S.INVALID_FIELD);
      const ns = c.namespaces.get(nsid);
      // A valid but inactive NSID returns a zero-filled structure (§5.15.2.1).
      if (ns === undefined || cns === CNS.CS_NS) return transferOut(c, req, new Uint8Array(IDENTIFY_SIZE), 0);
      return transferOut(c, req, identifyNamespace(c, ns), 0);
    }
    case CNS.ACTIVE_NS_LIST:
    case CNS.CS_ACTIVE_NS_LIST:
      if (nsid >= 0xffff_fffe) return dnr(S.INVALID_NAMESPACE_OR_FORMAT);
      if (cns === CNS.CS_ACTIVE_NS_LIST && csi !== CSI.NVM) return transferOut(c, req, new Uint8Array(IDENTIFY_SIZE), 0);
      return transferOut(c, req, activeNsList(c, nsid), 0);
    case CNS.NS_DESC_LIST: {
      if (nsidInvalid) return dnr(S.INVALID_NAMESPACE_OR_FORMAT);
      const ns = c.namespaces.get(nsid);
      if (ns === undefined) return dnr(S.INVALID_FIELD);
      return transferOut(c, req, nsDescriptors(c, ns), 0);
    }
    case CNS.CS_CTRL:
      // I/O command set specific controller data: NVM → all limits 0 (no limit beyond MDTS).
      if (csi !== CSI.NVM) return dnr(S.INVALID_FIELD);
      return transferOut(c, req, new Uint8Array(IDENTIFY_SIZE), 0);
    case CNS.IO_CS_VECTOR: {
      const b = new Uint8Array(IDENTIFY_SIZE);
      b[0] = 1; // vector 0: NVM command set
      return transferOut(c, req, b, 0);
    }
    default:
      return dnr(S.INVALID_FIELD);
  }
}

/** Get Log Page (§5.14). */
function getLogPage(c: NvmeController, req: Req): number {
  const s = req.sqe;
  const lid = s.cdw10 & 0xff;
  const rae = (s.cdw10 & 0x8000) !== 0;
  const numd = ((s.cdw11 & 0xffff) * 0x10000 + (s.cdw10 >>> 16)) + 1;
  const len = numd * 4;
  const off = s.cdw12 + s.cdw13 * 0x1_0000_0000;
  if (off % 4 !== 0) return dnr(S.INVALID_FIELD);
  if (len > c.mdtsBytes()) return dnr(S.INVALID_FIELD);
  const size = LOG_SIZES[lid];
  if (size === undefined) return dnr(S.INVALID_LOG_PAGE);
  if (off >= size) return dnr(S.INVALID_FIELD);
  let log: Uint8Array;
  let clears: number | undefined;
  switch (lid) {
    case LID.ERROR_INFO: log = c.encodeErrorLog(); clears = AER_TYPE.ERROR; break;
    case LID.SMART:
      if (s.nsid !== 0 && s.nsid !== NSID_BROADCAST && !c.namespaces.has(s.nsid)) return dnr(S.INVALID_NAMESPACE_OR_FORMAT);
      log = smartLog(c);
      clears = AER_TYPE.SMART;
      break;
    case LID.FW_SLOT: log = fwSlotLog(); break;
    case LID.CHANGED_NS: log = changedNsLog(c); clears = AER_TYPE.NOTICE; break;
    case LID.CMD_EFFECTS: log = cmdEffectsLog(); break;
    default: return dnr(S.INVALID_LOG_PAGE);
  }
  const out = new Uint8Array(len);
  out.set(log.subarray(off, Math.min(log.length, off + len)));
  if (!rae && clears !== undefined) c.aer.clear(clears);
  return transferOut(c, req, out, 0);
}

/** Abort (§5.1): best effort. An outstanding AER can be aborted; other commands report "not aborted". */
function abort(c: NvmeController, req: Req): number {
  const sqid = req.sqe.cdw10 & 0xffff;
  const cid = req.sqe.cdw10 >>> 16;
  const sq = c.sqs[sqid];
  if (sq === undefined) return dnr(S.INVALID_FIELD);
  if (sqid === 0 && c.aer.abort(cid)) {
    complete(c, req, S.SUCCESS, 0);
    return PENDING;
  }
  for (const r of sq.busy()) {
    if (r.sqe.cid !== cid || r === req) continue;
    // A command held before execution (a fault's delay) is really aborted: it never runs.
    if (r.hold !== undefined) {
      clearTimeout(r.hold);
      r.hold = undefined;
      c.complete(r, S.ABORT_REQUESTED);
      complete(c, req, S.SUCCESS, 0);
      return PENDING;
    }
    // Executing (data may already have moved): best effort, as QEMU — not aborted.
    complete(c, req, S.SUCCESS, ABORT_NOT_ABORTED);
    return PENDING;
  }
  // Not fetched yet? Watch the SQEs up to the current tail; decided when they are fetched.
  const pending = sqPending(sq);
  if (pending > 0 && !sq.deleting) {
    // ACL = ABORT_LIMIT-1 (Identify): more waiting Aborts than that → Abort Command Limit Exceeded.
    let waiting = 0;
    for (const s of c.sqs) waiting += s?.aborts.length ?? 0;
    if (waiting >= ABORT_LIMIT) return S.ABORT_COMMAND_LIMIT_EXCEEDED;
    sq.aborts.push({ cid, req, left: pending });
    kick(c);
    return PENDING;
  }
  complete(c, req, S.SUCCESS, ABORT_NOT_ABORTED);
  return PENDING;
}

/** Doorbell Buffer Config (§5.7): shadow doorbells (PRP1) and EventIdx (PRP2), page aligned. */
function doorbellBufferConfig(c: NvmeController, req: Req): number {
  const { prp1, prp2 } = req.sqe;
  if (prp1 === 0 || prp2 === 0 || prp1 % c.pageSize !== 0 || prp2 % c.pageSize !== 0) return dnr(S.INVALID_FIELD);
  c.dbbuf = { shadow: prp1, eventIdx: prp2 };
  // Existing queues: write the current tail/head into the shadow page (as QEMU) and EventIdx,
  // so host and controller agree and a later shadow re-read never moves a tail backwards.
  for (const sq of c.sqs) {
    if (sq === undefined || sq.qid === 0) continue;
    c.writeShadow('sq', sq.qid, sq.tail);
    c.writeEventIdx('sq', sq.qid, sq.tail);
  }
  for (const cq of c.cqs) {
    if (cq === undefined || cq.qid === 0) continue;
    c.writeShadow('cq', cq.qid, cq.head);
    c.writeEventIdx('cq', cq.qid, cq.head);
  }
  kick(c);
  return S.SUCCESS;
}

/** Format NVM (§5.23): LBAF 0 = 512 B, 1 = 4 KiB; no metadata, no PI. */
function formatNvm(c: NvmeController, req: Req): number {
  const s = req.sqe;
  const nsid = s.nsid;
  const lbafIdx = s.cdw10 & FORMAT.LBAF_MASK;
  const pi = (s.cdw10 >> FORMAT.PI_SHIFT) & FORMAT.PI_MASK;
  const ses = (s.cdw10 >> FORMAT.SES_SHIFT) & FORMAT.SES_MASK;
  let targets;
  if (nsid === NSID_BROADCAST) targets = [...c.namespaces.values()];
  else {
    if (nsid === 0 || nsid > MAX_NAMESPACES) return dnr(S.INVALID_NAMESPACE_OR_FORMAT);
    const ns = c.namespaces.get(nsid);
    if (ns === undefined) return dnr(S.INVALID_FIELD);
    targets = [ns];
  }
  if (pi > 3 || ses > 2) return dnr(S.INVALID_FIELD);
  const lbads = LBA_FORMATS[lbafIdx];
  // No metadata in any format, so protection information cannot be enabled.
  if (lbads === undefined || pi !== 0) return dnr(S.INVALID_FORMAT);
  for (const ns of targets) ns.data.format(1 << lbads);
  return S.SUCCESS;
}
