// BAR0 register file: one read function and one write switch acting on
// old-vs-new values (CC.EN 0→1 starts, 1→0 resets, SHN shuts down).
// NVMe 1.4 §3.1 (registers), §7.6.1 (initialization), §7.6.2 (shutdown).
import type { NvmeController } from './controller.ts';
import {
  REG, CC, CSTS, AQA, CAP, getField, setField, pageSizeFromMps,
  CSTS_SHST_OCCURRING, CSTS_SHST_COMPLETE, CSTS_SHST_NORMAL, NSSR_MAGIC,
} from '../../src/spec/registers.ts';
import { Cq, Sq } from './queues.ts';

const TWO32 = 0x1_0000_0000;
const lo32 = (v: number): number => (v % TWO32) >>> 0;
const hi32 = (v: number): number => Math.floor(v / TWO32) >>> 0;

/** CC bits the host may write (EN, CSS, MPS, AMS, SHN, IOSQES, IOCQES); the rest are reserved. */
const CC_WRITABLE = 0x00ff_fff1;

/** Read a 32-bit register. Reads outside the register file (and every doorbell) return 0 (§3.1). */
export function regRead(c: NvmeController, off: number): number {
  let v: number;
  switch (off) {
    case REG.CAP: v = Number(c.cap & 0xffff_ffffn); break;
    case REG.CAP + 4: v = Number(c.cap >> 32n); break;
    case REG.VS: v = c.vs; break;
    case REG.INTMS:
    case REG.INTMC: v = c.intms; break;
    case REG.CC: v = c.cc; break;
    case REG.CSTS: v = c.csts; break;
    case REG.NSSR: v = 0; break;
    case REG.AQA: v = c.aqa; break;
    case REG.ASQ: v = lo32(c.asq); break;
    case REG.ASQ + 4: v = hi32(c.asq); break;
    case REG.ACQ: v = lo32(c.acq); break;
    case REG.ACQ + 4: v = hi32(c.acq); break;
    case REG.CMBLOC: v = c.cmb.cmbloc(); break;
    case REG.CMBSZ: v = c.cmb.cmbsz(); break;
    case REG.CMBMSC: v = c.cmb.enabled ? lo32(c.cmb.cmbmsc) : 0; break;
    case REG.CMBMSC + 4: v = c.cmb.enabled ? hi32(c.cmb.cmbmsc) : 0; break;
    case REG.CMBSTS: v = c.cmb.cmbsts; break;
    default: v = 0;
  }
  const hook = c.faults.registerAccess;
  if (hook !== undefined) {
    const r = hook('read', off, v);
    if (typeof r === 'number') v = r >>> 0;
  }
  return v >>> 0;
}

/** Write a 32-bit register (offset < 0x1000). */
export function regWrite(c: NvmeController, off: number, value: number): void {
  const hook = c.faults.registerAccess;
  if (hook !== undefined) {
    const r = hook('write', off, value);
    if (r === 'drop') return;
    if (typeof r === 'number') value = r >>> 0;
  }
  switch (off) {
    case REG.INTMS:
      // §3.1.3: INTMS/INTMC are for pin-based and single MSI only; with MSI-X the host should not use them.
      c.guest('§3.1.3: INTMS written while MSI-X is in use (undefined, applied)', { value });
      c.intms = (c.intms | value) >>> 0;
      return;
    case REG.INTMC:
      c.guest('§3.1.4: INTMC written while MSI-X is in use (undefined, applied)', { value });
      c.intms = (c.intms & ~value) >>> 0;
      return;
    case REG.CC:
      ccWrite(c, value);
      return;
    case REG.CSTS:
      // §3.1.6: CSTS is read-only except NSSRO (RW1C), and NSSR is not supported (CAP.NSSRS=0).
      c.guest('§3.1.6: write to read-only CSTS ignored', { value });
      return;
    case REG.NSSR:
      c.guest(value === NSSR_MAGIC ? '§3.1.7: NVM Subsystem Reset not supported (CAP.NSSRS=0)' : '§3.1.7: NSSR write without the "NVMe" value ignored', { value });
      return;
    case REG.AQA:
      if (c.enabled) return c.guest('§3.1.8: AQA written while CC.EN=1 ignored', { value });
      c.aqa = value & 0x0fff_0fff;
      return;
    case REG.ASQ:
    case REG.ASQ + 4:
    case REG.ACQ:
    case REG.ACQ + 4: {
      if (c.enabled) return c.guest('§3.1.9: ASQ/ACQ written while CC.EN=1 ignored', { off, value });
      const isAsq = off < REG.ACQ;
      const cur = isAsq ? c.asq : c.acq;
      const high = (off & 4) !== 0;
      // Stored as written; enable checks the CC.MPS alignment (bits 11:0 are reserved, §3.1.9/§3.1.10).
      const v = high ? lo32(cur) + value * TWO32 : hi32(cur) * TWO32 + (value >>> 0);
      if (isAsq) c.asq = v;
      else c.acq = v;
      return;
    }
    case REG.CMBMSC:
    case REG.CMBMSC + 4:
      c.cmb.writeCmbmsc((off & 4) !== 0, value);
      return;
    case REG.CAP:
    case REG.CAP + 4:
    case REG.VS:
    case REG.CMBLOC:
    case REG.CMBSZ:
    case REG.CMBSTS:
      c.guest('§3.1: write to a read-only register ignored', { off, value });
      return;
    default:
      c.guest('§3.1: write to an undefined register offset ignored', { off, value });
  }
}

/** CC write: store the written value, then act on the edges of EN and SHN (§3.1.5). */
function ccWrite(c: NvmeController, value: number): void {
  const old = c.cc;
  const next = (value & CC_WRITABLE) >>> 0;
  const oldEn = getField(old, CC.EN);
  const newEn = getField(next, CC.EN);
  const oldShn = getField(old, CC.SHN);
  const newShn = getField(next, CC.SHN);
  if (oldEn === 1 && newEn === 1) {
    // §3.1.5: fields other than EN and SHN may only change while EN=0.
    const keep = CC.EN.mask | (CC.SHN.mask << CC.SHN.shift);
    if (((old ^ next) & ~keep) !== 0) c.guest('§3.1.5: CC fields changed while CC.EN=1 (kept the old values)', { old, value });
    c.cc = ((old & ~keep) | (next & keep)) >>> 0;
  } else {
    c.cc = next;
  }
  if (oldEn === 0 && newEn === 1) start(c);
  else if (oldEn === 1 && newEn === 0) c.resetController('CC.EN 1→0');
  if (oldShn === 0 && newShn !== 0) shutdown(c);
  else if (oldShn !== 0 && newShn === 0) c.csts = setField(c.csts, CSTS.SHST, CSTS_SHST_NORMAL);
}

/**
 * CC.EN 0→1 (§7.6.1): a flat list of named guard checks, each logging its
 * reason; any failure sets CSTS.CFS instead of RDY.
 */
export function start(c: NvmeController): void {
  const fail = (why: string, extra: Record<string, unknown> = {}): void => {
    c.guest(`§3.1.5 enable refused: ${why}`, extra);
    c.csts = setField(0, CSTS.CFS, 1);
  };
  const hook = c.faults.enableOrShutdown;
  if (hook !== undefined && hook('enable') === 'fail') return fail('fault injected');
  if (c.sqs[0] !== undefined || c.cqs[0] !== undefined) return fail('admin queues already exist');
  const mps = getField(c.cc, CC.MPS);
  if (mps < getField(c.cap, CAP.MPSMIN) || mps > getField(c.cap, CAP.MPSMAX)) return fail('CC.MPS outside CAP.MPSMIN..MPSMAX', { mps });
  const css = getField(c.cc, CC.CSS);
  if ((getField(c.cap, CAP.CSS) & (1 << css)) === 0) return fail('CC.CSS not in CAP.CSS', { css });
  const ams = getField(c.cc, CC.AMS);
  if (ams !== 0 && (getField(c.cap, CAP.AMS) & (1 << (ams - 1))) === 0) return fail('CC.AMS not supported', { ams });
  const asqs = getField(c.aqa, AQA.ASQS);
  const acqs = getField(c.aqa, AQA.ACQS);
  if (asqs === 0 || acqs === 0) return fail('AQA.ASQS/ACQS must be at least 1 (two entries)', { aqa: c.aqa });
  const ps = pageSizeFromMps(mps);
  if (c.asq % ps !== 0 || c.acq % ps !== 0) return fail('ASQ/ACQ not aligned to the CC.MPS page', { asq: c.asq, acq: c.acq });
  if (c.asq === 0 || c.acq === 0) c.guest('§3.1.9: ASQ or ACQ is 0 (accepted)', { asq: c.asq, acq: c.acq });
  c.pageSize = ps;
  const cq = new Cq(0, c.acq, acqs + 1, true, 0);
  const sq = new Sq(0, c.asq, asqs + 1, cq, false, 0);
  cq.sqs.add(sq);
  c.cqs[0] = cq;
  c.sqs[0] = sq;
  c.csts = setField(0, CSTS.RDY, 1);
  c.onEnabled();
}

/** CC.SHN 0→non-zero (§7.6.2): stop, flush every namespace, then SHST = complete. */
function shutdown(c: NvmeController): void {
  c.csts = setField(c.csts, CSTS.SHST, CSTS_SHST_OCCURRING);
  const hook = c.faults.enableOrShutdown;
  if (hook !== undefined && hook('shutdown') === 'fail') return;
  const epoch = c.epoch;
  c.flushAll().then(
    () => {
      c.onCleanShutdown();
      if (c.epoch === epoch && getField(c.cc, CC.SHN) !== 0) c.csts = setField(c.csts, CSTS.SHST, CSTS_SHST_COMPLETE);
    },
    (e: unknown) => {
      c.log.error({ err: e }, 'shutdown flush failed');
      if (c.epoch === epoch) c.csts = setField(c.csts, CSTS.SHST, CSTS_SHST_COMPLETE);
    },
  );
}

