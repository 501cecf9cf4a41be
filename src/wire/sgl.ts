// [raw] Scatter Gather List descriptors (NVMe 1.4 §4.4, Figure 115-119).
// 16 bytes: address u64 @0, length u32 @8, bytes 12-14 reserved (or key),
// byte 15 = descriptor type 7:4 | sub type 3:0.
import { SGL_DESC_SIZE } from '../spec/sizes.ts';
import { u8, u32, u64, put8, put32, put64 } from './le.ts';

export const SGL_TYPE = {
  DATA_BLOCK: 0x0,
  BIT_BUCKET: 0x1,
  SEGMENT: 0x2,
  LAST_SEGMENT: 0x3,
  KEYED_DATA_BLOCK: 0x4,
  TRANSPORT_DATA_BLOCK: 0x5,
  VENDOR: 0xf,
} as const;
export const SGL_SUBTYPE = { ADDRESS: 0x0, OFFSET: 0x1, TRANSPORT: 0xa } as const;

export interface SglDesc {
  addr: number;
  len: number;
  type: number;
  subtype: number;
}

export function readSglDesc(b: Uint8Array, off: number, out: SglDesc = { addr: 0, len: 0, type: 0, subtype: 0 }): SglDesc {
  out.addr = u64(b, off);
  out.len = u32(b, off + 8);
  const id = u8(b, off + 15);
  out.type = id >> 4;
  out.subtype = id & 0xf;
  return out;
}

export function writeSglDesc(b: Uint8Array, off: number, d: SglDesc): void {
  b.fill(0, off, off + SGL_DESC_SIZE);
  put64(b, off, d.addr);
  put32(b, off + 8, d.len);
  put8(b, off + 15, ((d.type & 0xf) << 4) | (d.subtype & 0xf));
}

