// [raw] Submission queue entry codec (NVMe 1.4 §4.2, Figure 105/106).
// 64 bytes: DW0 OPC 7:0, FUSE 9:8, PSDT 15:14, CID 31:16; DW1 NSID; DW2-3;
// DW4-5 MPTR; DW6-9 DPTR (PRP1 @24, PRP2 @32 — or one SGL descriptor @24);
// DW10-15 command specific @40..63.
import { SQE_SIZE } from '../spec/sizes.ts';
import { RW } from '../spec/nvm.ts';
import { u8, u16, u32, u64, put8, put16, put32, put64 } from './le.ts';
import { writeSglDesc, type SglDesc } from './sgl.ts';

export const SQE = {
  OPC: 0,
  FLAGS: 1, // FUSE 1:0, PSDT 7:6
  CID: 2,
  NSID: 4,
  CDW2: 8,
  CDW3: 12,
  MPTR: 16,
  PRP1: 24,
  PRP2: 32,
  SGL1: 24,
  CDW10: 40,
  CDW11: 44,
  CDW12: 48,
  CDW13: 52,
  CDW14: 56,
  CDW15: 60,
} as const;

/** PSDT values (§4.2): 00b PRPs, 01b SGL with MPTR as address, 10b SGL with MPTR as SGL segment. */
export const PSDT = { PRP: 0, SGL_MPTR_CONTIG: 1, SGL_MPTR_SGL: 2 } as const;

/** A decoded SQE. Addresses are numbers (exact below 2^53). */
export interface Sqe {
  opc: number;
  fuse: number;
  psdt: number;
  /** Command identifier, echoed bit-exact in the CQE. */
  cid: number;
  nsid: number;
  cdw2: number;
  cdw3: number;
  mptr: number;
  prp1: number;
  prp2: number;
  /** Raw DW8/DW9 of DPTR: with an SGL, DW8 is SGL1's length and DW9 bits 31:24 its identifier. */
  cdw8: number;
  cdw9: number;
  cdw10: number;
  cdw11: number;
  cdw12: number;
  cdw13: number;
  cdw14: number;
  cdw15: number;
}

export function emptySqe(): Sqe {
  return { opc: 0, fuse: 0, psdt: 0, cid: 0, nsid: 0, cdw2: 0, cdw3: 0, mptr: 0, prp1: 0, prp2: 0, cdw8: 0, cdw9: 0, cdw10: 0, cdw11: 0, cdw12: 0, cdw13: 0, cdw14: 0, cdw15: 0 };
}

/** Decode the SQE at `off` into `out` (reused to avoid allocation). Caller ensures off+64 ≤ length. */
export function readSqe(b: Uint8Array, off: number, out: Sqe = emptySqe()): Sqe {
  out.opc = u8(b, off + SQE.OPC);
  const flags = u8(b, off + SQE.FLAGS);
  out.fuse = flags & 0x3;
  out.psdt = (flags >> 6) & 0x3;
  out.cid = u16(b, off + SQE.CID);
  out.nsid = u32(b, off + SQE.NSID);
  out.cdw2 = u32(b, off + SQE.CDW2);
  out.cdw3 = u32(b, off + SQE.CDW3);
  out.mptr = u64(b, off + SQE.MPTR);
  out.prp1 = u64(b, off + SQE.PRP1);
  out.prp2 = u64(b, off + SQE.PRP2);
  out.cdw8 = u32(b, off + SQE.PRP2);
  out.cdw9 = u32(b, off + SQE.PRP2 + 4);
  out.cdw10 = u32(b, off + SQE.CDW10);
  out.cdw11 = u32(b, off + SQE.CDW11);
  out.cdw12 = u32(b, off + SQE.CDW12);
  out.cdw13 = u32(b, off + SQE.CDW13);
  out.cdw14 = u32(b, off + SQE.CDW14);
  out.cdw15 = u32(b, off + SQE.CDW15);
  return out;
}

export type SqeInit = Partial<Omit<Sqe, 'cdw8' | 'cdw9'>> & { opc: number; cid: number; sgl1?: SglDesc };

/** Encode an SQE at `off` (64 bytes). Missing fields are 0. `sgl1` (if given) overrides PRP1/PRP2. */
export function writeSqe(b: Uint8Array, off: number, s: SqeInit): void {
  b.fill(0, off, off + SQE_SIZE);
  put8(b, off + SQE.OPC, s.opc);
  put8(b, off + SQE.FLAGS, ((s.fuse ?? 0) & 0x3) | (((s.psdt ?? 0) & 0x3) << 6));
  put16(b, off + SQE.CID, s.cid);
  put32(b, off + SQE.NSID, s.nsid ?? 0);
  put32(b, off + SQE.CDW2, s.cdw2 ?? 0);
  put32(b, off + SQE.CDW3, s.cdw3 ?? 0);
  put64(b, off + SQE.MPTR, s.mptr ?? 0);
  put64(b, off + SQE.PRP1, s.prp1 ?? 0);
  put64(b, off + SQE.PRP2, s.prp2 ?? 0);
  if (s.sgl1) writeSglDesc(b, off + SQE.SGL1, s.sgl1);
  put32(b, off + SQE.CDW10, s.cdw10 ?? 0);
  put32(b, off + SQE.CDW11, s.cdw11 ?? 0);
  put32(b, off + SQE.CDW12, s.cdw12 ?? 0);
  put32(b, off + SQE.CDW13, s.cdw13 ?? 0);
  put32(b, off + SQE.CDW14, s.cdw14 ?? 0);
  put32(b, off + SQE.CDW15, s.cdw15 ?? 0);
}

/** A fresh 64-byte SQE buffer. */
export function encodeSqe(s: SqeInit): Uint8Array {
  const b = new Uint8Array(SQE_SIZE);
  writeSqe(b, 0, s);
  return b;
}

/** Starting LBA from CDW10/11 (exact below 2^53). */
export const sqeSlba = (s: Readonly<Sqe>): number => s.cdw10 + s.cdw11 * 0x1_0000_0000;
/** Number of logical blocks of a Read/Write-layout command: CDW12 NLB 15:0, 0's based (NVMe 1.4 §6.9). */
export const sqeNlb = (s: Readonly<Sqe>): number => (s.cdw12 & RW.NLB_MASK) + 1;

/** SGL1 held in DPTR (§4.4): address = PRP1 field, length = DW8, identifier = DW9 bits 31:24. */
export function sqeSgl1(s: Sqe, out: SglDesc = { addr: 0, len: 0, type: 0, subtype: 0 }): SglDesc {
  out.addr = s.prp1;
  out.len = s.cdw8;
  const id = s.cdw9 >>> 24;
  out.type = id >> 4;
  out.subtype = id & 0xf;
  return out;
}
