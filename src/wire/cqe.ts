// [raw] Completion queue entry codec (NVMe 1.4 §4.6, Figure 121).
// 16 bytes: DW0 command specific; DW1 reserved/command specific;
// DW2 SQHD 15:0, SQID 31:16; DW3 CID 15:0, P bit 16, Status 31:17.
import { CQE_SIZE } from '../spec/sizes.ts';
import { u16, u32, put16, put32 } from './le.ts';

export const CQE = { DW0: 0, DW1: 4, SQHD: 8, SQID: 10, CID: 12, STATUS: 14 } as const;

export interface Cqe {
  dw0: number;
  dw1: number;
  sqhd: number;
  sqid: number;
  cid: number;
  /** Status field without the phase (see src/spec/status.ts). */
  status: number;
  phase: number;
}

export function emptyCqe(): Cqe {
  return { dw0: 0, dw1: 0, sqhd: 0, sqid: 0, cid: 0, status: 0, phase: 0 };
}

/** Encode a CQE at `off`. */
export function writeCqe(
  b: Uint8Array, off: number,
  dw0: number, dw1: number, sqhd: number, sqid: number, cid: number, status: number, phase: number,
): void {
  put32(b, off + CQE.DW0, dw0);
  put32(b, off + CQE.DW1, dw1);
  put16(b, off + CQE.SQHD, sqhd);
  put16(b, off + CQE.SQID, sqid);
  put16(b, off + CQE.CID, cid);
  put16(b, off + CQE.STATUS, ((status & 0x7fff) << 1) | (phase & 1));
}

/** Decode the CQE at `off` into `out` (reused). */
export function readCqe(b: Uint8Array, off: number, out: Cqe = emptyCqe()): Cqe {
  out.dw0 = u32(b, off + CQE.DW0);
  out.dw1 = u32(b, off + CQE.DW1);
  out.sqhd = u16(b, off + CQE.SQHD);
  out.sqid = u16(b, off + CQE.SQID);
  out.cid = u16(b, off + CQE.CID);
  const sf = u16(b, off + CQE.STATUS);
  out.phase = sf & 1;
  out.status = sf >>> 1;
  return out;
}

/** Phase tag of the CQE at `off` without decoding the rest (the host's "is it new?" check). */
export const cqePhase = (b: Uint8Array, off: number): number => (b[off + CQE.STATUS] ?? 0) & 1;

export function encodeCqe(c: Cqe): Uint8Array {
  const b = new Uint8Array(CQE_SIZE);
  writeCqe(b, 0, c.dw0, c.dw1, c.sqhd, c.sqid, c.cid, c.status, c.phase);
  return b;
}
