// [raw] Little-endian field access on byte buffers. NVMe structures are
// little-endian; 64-bit values are carried as JS numbers (exact below 2^53,
// which covers every address the wire protocol allows; anything ≥ 2^53 stays
// ≥ 2^53 after rounding, so it still fails the DMA window check).
import type { ByteField } from '../spec/layout.ts';

const TWO32 = 0x1_0000_0000;

export function u8(b: Uint8Array, off: number): number {
  return b[off] ?? 0;
}
export function u16(b: Uint8Array, off: number): number {
  return (b[off] ?? 0) | ((b[off + 1] ?? 0) << 8);
}
export function u32(b: Uint8Array, off: number): number {
  return ((b[off] ?? 0) | ((b[off + 1] ?? 0) << 8) | ((b[off + 2] ?? 0) << 16) | ((b[off + 3] ?? 0) << 24)) >>> 0;
}
/** 64-bit little-endian as a number (exact below 2^53). */
export function u64(b: Uint8Array, off: number): number {
  return u32(b, off) + u32(b, off + 4) * TWO32;
}
/** 64-bit little-endian as a bigint (exact). */
export function u64n(b: Uint8Array, off: number): bigint {
  return BigInt(u32(b, off)) | (BigInt(u32(b, off + 4)) << 32n);
}

export function put8(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
}
export function put16(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
}
export function put32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}
/** Write a non-negative number (< 2^64, exact below 2^53) as 64-bit little-endian. */
export function put64(b: Uint8Array, off: number, v: number): void {
  const lo = v % TWO32;
  put32(b, off, lo >>> 0);
  put32(b, off + 4, Math.floor(v / TWO32) >>> 0);
}
export function put64n(b: Uint8Array, off: number, v: bigint): void {
  put32(b, off, Number(v & 0xffff_ffffn));
  put32(b, off + 4, Number((v >> 32n) & 0xffff_ffffn));
}
/** Write a non-negative integer into a 16-byte (128-bit) little-endian counter. */
export function put128(b: Uint8Array, off: number, v: number | bigint): void {
  const n = typeof v === 'bigint' ? v : BigInt(Math.max(0, Math.floor(v)));
  put64n(b, off, n & 0xffff_ffff_ffff_ffffn);
  put64n(b, off + 8, (n >> 64n) & 0xffff_ffff_ffff_ffffn);
}
/** Read a 128-bit little-endian counter. */
export function u128(b: Uint8Array, off: number): bigint {
  return u64n(b, off) | (u64n(b, off + 8) << 64n);
}

/** Read a field of a ByteField table as a number (sizes 1, 2, 4, 8). */
export function getBf(b: Uint8Array, base: number, fld: ByteField): number {
  switch (fld.size) {
    case 1: return u8(b, base + fld.off);
    case 2: return u16(b, base + fld.off);
    case 4: return u32(b, base + fld.off);
    case 8: return u64(b, base + fld.off);
    default: throw new RangeError(`getBf: field size ${fld.size} is not an integer size`);
  }
}
/** Write a field of a ByteField table (sizes 1, 2, 4, 8, 16). */
export function putBf(b: Uint8Array, base: number, fld: ByteField, v: number): void {
  switch (fld.size) {
    case 1: put8(b, base + fld.off, v); return;
    case 2: put16(b, base + fld.off, v); return;
    case 4: put32(b, base + fld.off, v); return;
    case 8: put64(b, base + fld.off, v); return;
    case 16: put128(b, base + fld.off, v); return;
    default: throw new RangeError(`putBf: field size ${fld.size} is not an integer size`);
  }
}

/** Write ASCII text space padded to the field width (Identify SN/MN/FR). Non-printable characters become '?'. */
export function putAscii(b: Uint8Array, base: number, fld: ByteField, text: string, pad = 0x20): void {
  for (let i = 0; i < fld.size; i++) {
    const c = i < text.length ? text.charCodeAt(i) : pad;
    b[base + fld.off + i] = c >= 0x20 && c < 0x7f ? c : i < text.length ? 0x3f : pad;
  }
}
/** Read an ASCII field with trailing spaces/NULs removed. */
export function getAscii(b: Uint8Array, base: number, fld: ByteField): string {
  let s = '';
  for (let i = 0; i < fld.size; i++) s += String.fromCharCode(b[base + fld.off + i] ?? 0);
  return s.replace(/[\s\0]+$/, '');
}
