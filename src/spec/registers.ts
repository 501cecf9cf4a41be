// NVMe controller registers (BAR0) as data: offsets, field tables and one
// generic get/set. NVMe Base Specification 1.4c §3.1 "Register Definition".
// Field names keep the spec's acronyms so they can be searched in the spec.

/** Register offsets in BAR0 (NVMe 1.4 §3.1, Figure 78). */
export const REG = {
  CAP: 0x00, // Controller Capabilities, 64-bit, RO
  VS: 0x08, // Version, RO
  INTMS: 0x0c, // Interrupt Mask Set (RW1S); reserved when MSI-X is in use
  INTMC: 0x10, // Interrupt Mask Clear (RW1C)
  CC: 0x14, // Controller Configuration
  CSTS: 0x1c, // Controller Status (RO, except NSSRO which is RW1C)
  NSSR: 0x20, // NVM Subsystem Reset (optional)
  AQA: 0x24, // Admin Queue Attributes
  ASQ: 0x28, // Admin Submission Queue Base Address, 64-bit
  ACQ: 0x30, // Admin Completion Queue Base Address, 64-bit
  CMBLOC: 0x38, // Controller Memory Buffer Location (RO)
  CMBSZ: 0x3c, // Controller Memory Buffer Size (RO)
  BPINFO: 0x40, // Boot Partition Information
  BPRSEL: 0x44, // Boot Partition Read Select
  BPMBL: 0x48, // Boot Partition Memory Buffer Location, 64-bit
  CMBMSC: 0x50, // Controller Memory Buffer Memory Space Control, 64-bit
  CMBSTS: 0x58, // Controller Memory Buffer Status
  PMRCAP: 0xe00, // Persistent Memory Capabilities
  PMRCTL: 0xe04,
  PMRSTS: 0xe08,
  PMREBS: 0xe0c,
  PMRSWTP: 0xe10,
  PMRMSCL: 0xe14,
  PMRMSCU: 0xe18,
} as const;
export type RegName = keyof typeof REG;

/** Size of the register file proper; doorbells start here (NVMe 1.4 §3.1). */
export const REG_FILE_SIZE = 0x1000;
/** First doorbell: SQ 0 tail doorbell (SQ0TDBL). */
export const DOORBELL_BASE = 0x1000;

/** Registers that are 64 bits wide (accessible as one 8-byte access or two 4-byte halves). */
export const REG64: ReadonlySet<number> = new Set([REG.CAP, REG.ASQ, REG.ACQ, REG.BPMBL, REG.CMBMSC]);

/** A bit field inside a register: value = (reg >> shift) & mask. `shift` may be ≥ 32 for 64-bit registers. */
export interface Field {
  readonly shift: number;
  readonly mask: number;
}
const f = (shift: number, bits: number): Field => ({ shift, mask: bits >= 32 ? 0xffff_ffff : (2 ** bits) - 1 });

/** CAP — Controller Capabilities (NVMe 1.4 §3.1.1, Figure 79). */
export const CAP = {
  MQES: f(0, 16), // Maximum Queue Entries Supported, 0's based
  CQR: f(16, 1), // Contiguous Queues Required
  AMS: f(17, 2), // Arbitration Mechanism Supported (bit0 WRR+urgent, bit1 vendor)
  TO: f(24, 8), // Timeout, 500 ms units
  DSTRD: f(32, 4), // Doorbell Stride: 2^(2+DSTRD) bytes
  NSSRS: f(36, 1), // NVM Subsystem Reset Supported
  CSS: f(37, 8), // Command Sets Supported (bit0 NVM, bit6 I/O command sets, bit7 admin only)
  BPS: f(45, 1), // Boot Partition Support
  MPSMIN: f(48, 4), // Memory Page Size Minimum: 2^(12+MPSMIN)
  MPSMAX: f(52, 4), // Memory Page Size Maximum
  PMRS: f(56, 1), // Persistent Memory Region Supported
  CMBS: f(57, 1), // Controller Memory Buffer Supported
} as const;

/** VS — Version (NVMe 1.4 §3.1.2). */
export const VS = { TER: f(0, 8), MNR: f(8, 8), MJR: f(16, 16) } as const;
/** Encode a version number as in VS and Identify Controller VER. */
export const nvmeVersion = (major: number, minor: number, tertiary = 0): number =>
  ((major << 16) | (minor << 8) | tertiary) >>> 0;
export const NVME_VERSION_1_4 = 0x0001_0400;

/** CC — Controller Configuration (NVMe 1.4 §3.1.5, Figure 83). */
export const CC = {
  EN: f(0, 1), // Enable
  CSS: f(4, 3), // I/O Command Set Selected: 000b NVM, 110b all supported I/O sets, 111b admin only
  MPS: f(7, 4), // Memory Page Size: 2^(12+MPS)
  AMS: f(11, 3), // Arbitration Mechanism Selected: 000b round robin
  SHN: f(14, 2), // Shutdown Notification: 01b normal, 10b abrupt
  IOSQES: f(16, 4), // I/O Submission Queue Entry Size, 2^n
  IOCQES: f(20, 4), // I/O Completion Queue Entry Size, 2^n
} as const;
export const CC_CSS_NVM = 0;
export const CC_CSS_ALL = 6;
export const CC_CSS_ADMIN_ONLY = 7;
export const CC_SHN_NONE = 0;
export const CC_SHN_NORMAL = 1;
export const CC_SHN_ABRUPT = 2;

/** CSTS — Controller Status (NVMe 1.4 §3.1.6, Figure 84). */
export const CSTS = {
  RDY: f(0, 1), // Ready
  CFS: f(1, 1), // Controller Fatal Status
  SHST: f(2, 2), // Shutdown Status: 00b normal, 01b occurring, 10b complete
  NSSRO: f(4, 1), // NVM Subsystem Reset Occurred (RW1C)
  PP: f(5, 1), // Processing Paused
} as const;
export const CSTS_SHST_NORMAL = 0;
export const CSTS_SHST_OCCURRING = 1;
export const CSTS_SHST_COMPLETE = 2;
/** What a host reads from a register of a device that is gone (PCIe master abort). */
export const CSTS_DEVICE_GONE = 0xffff_ffff;

/** NSSR value that starts an NVM Subsystem Reset: "NVMe" (§3.1.7). */
export const NSSR_MAGIC = 0x4e56_4d65;

/** AQA — Admin Queue Attributes (NVMe 1.4 §3.1.8). Both sizes are 0's based, max 4095. */
export const AQA = { ASQS: f(0, 12), ACQS: f(16, 12) } as const;

/** CMBLOC — Controller Memory Buffer Location (NVMe 1.4 §3.1.11). */
export const CMBLOC = {
  BIR: f(0, 3), // Base Indicator Register (which BAR)
  CQMMS: f(3, 1),
  CQPDS: f(4, 1),
  CDPMLS: f(5, 1),
  CDPCILS: f(6, 1),
  CDMMMS: f(7, 1),
  CQDA: f(8, 1),
  OFST: f(12, 20), // Offset in SZU units
} as const;

/** CMBSZ — Controller Memory Buffer Size (NVMe 1.4 §3.1.12). */
export const CMBSZ = {
  SQS: f(0, 1), // Submission Queue Support
  CQS: f(1, 1), // Completion Queue Support
  LISTS: f(2, 1), // PRP/SGL List Support
  RDS: f(3, 1), // Read Data Support
  WDS: f(4, 1), // Write Data Support
  SZU: f(8, 4), // Size Units: 0=4KiB, 1=64KiB, 2=1MiB, 3=16MiB, ...
  SZ: f(12, 20), // Size in SZU units
} as const;
/** Bytes in one CMBSZ.SZU unit. */
export const cmbSizeUnitBytes = (szu: number): number => 4096 * 16 ** szu;

/** CMBMSC — CMB Memory Space Control, 64-bit (NVMe 1.4 §3.1.15). CBA is bits 63:12 (the address itself, 4 KiB aligned). */
export const CMBMSC = {
  CRE: f(0, 1), // Capabilities Registers Enabled
  CMSE: f(1, 1), // Controller Memory Space Enable
} as const;
export const CMBMSC_CBA_MASK = 0xffff_ffff_ffff_f000n;
/** CMBSTS — CMB Status (§3.1.16). */
export const CMBSTS = { CBAI: f(0, 1) } as const;

/** 64-bit fields written as a plain address (ASQ/ACQ bits 63:12). */
export const ADDR_PAGE_MASK = 0xfffn;

// ---------------------------------------------------------------------------
// Generic field access. Works on 32-bit registers held as numbers and on
// 64-bit registers held as bigints.

/** Read a field. */
export function getField(reg: number, fld: Field): number;
export function getField(reg: bigint, fld: Field): number;
export function getField(reg: number | bigint, fld: Field): number {
  if (typeof reg === 'bigint') return Number((reg >> BigInt(fld.shift)) & BigInt(fld.mask));
  if (fld.shift >= 32) return 0;
  return ((reg >>> fld.shift) & fld.mask) >>> 0;
}

/** Return `reg` with `fld` set to `value` (value is masked to the field width). */
export function setField(reg: number, fld: Field, value: number): number;
export function setField(reg: bigint, fld: Field, value: number): bigint;
export function setField(reg: number | bigint, fld: Field, value: number): number | bigint {
  if (typeof reg === 'bigint') {
    const m = BigInt(fld.mask) << BigInt(fld.shift);
    return (reg & ~m) | ((BigInt(value >>> 0) & BigInt(fld.mask)) << BigInt(fld.shift));
  }
  if (fld.shift >= 32) return reg;
  const m = (fld.mask * 2 ** fld.shift) >>> 0;
  const v = ((value & fld.mask) * 2 ** fld.shift) >>> 0;
  return ((reg & ~m) | v) >>> 0;
}

/** Build a register value from a partial map of field values. */
export function makeReg<F extends Record<string, Field>>(fields: F, values: Partial<Record<keyof F, number>>): number {
  let r = 0;
  for (const k of Object.keys(values) as (keyof F)[]) {
    const v = values[k];
    if (v !== undefined) r = setField(r, fields[k], v);
  }
  return r;
}
/** 64-bit variant of makeReg (CAP, CMBMSC). */
export function makeReg64<F extends Record<string, Field>>(fields: F, values: Partial<Record<keyof F, number>>): bigint {
  let r = 0n;
  for (const k of Object.keys(values) as (keyof F)[]) {
    const v = values[k];
    if (v !== undefined) r = setField(r, fields[k], v);
  }
  return r;
}

/** Decode every field of a register into a plain object (for logs and tests). */
export function decodeReg<F extends Record<string, Field>>(fields: F, reg: number | bigint): Record<keyof F, number> {
  const out = {} as Record<keyof F, number>;
  for (const k of Object.keys(fields) as (keyof F)[]) {
    out[k] = typeof reg === 'bigint' ? getField(reg, fields[k]) : getField(reg, fields[k]);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Doorbells (NVMe 1.4 §3.1.18/§3.1.19): SQyTDBL at 0x1000 + (2y)·(4 << DSTRD),
// CQyHDBL at 0x1000 + (2y+1)·(4 << DSTRD).

/** Doorbell stride in bytes for a CAP.DSTRD value. */
export const doorbellStride = (dstrd: number): number => 4 << dstrd;
/** BAR0 offset of SQ `qid`'s tail doorbell. */
export const sqTailDoorbell = (qid: number, dstrd = 0): number => DOORBELL_BASE + 2 * qid * doorbellStride(dstrd);
/** BAR0 offset of CQ `qid`'s head doorbell. */
export const cqHeadDoorbell = (qid: number, dstrd = 0): number => DOORBELL_BASE + (2 * qid + 1) * doorbellStride(dstrd);

export interface DoorbellRef {
  /** 'sq' = submission queue tail doorbell, 'cq' = completion queue head doorbell. */
  kind: 'sq' | 'cq';
  qid: number;
}
/**
 * Decode a BAR0 offset ≥ 0x1000 as a doorbell. Returns undefined when the
 * offset is not on a doorbell boundary for this stride.
 */
export function decodeDoorbell(off: number, dstrd = 0): DoorbellRef | undefined {
  if (off < DOORBELL_BASE) return undefined;
  const stride = doorbellStride(dstrd);
  const rel = off - DOORBELL_BASE;
  if (rel % stride !== 0) return undefined;
  const idx = rel / stride;
  return { kind: idx % 2 === 0 ? 'sq' : 'cq', qid: Math.floor(idx / 2) };
}

/** Memory page size in bytes for CC.MPS / CAP.MPSMIN / CAP.MPSMAX values. */
export const pageSizeFromMps = (mps: number): number => 1 << (12 + mps);
