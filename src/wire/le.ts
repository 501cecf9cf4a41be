// [raw] Little-endian field access on byte buffers. NVMe structures are
// little-endian; 64-bit values are carried as JS numbers (exact below 2^53,
// which covers every address the wire protocol allows; anything ≥ 2^53 stays
// ≥ 2^53 after rounding, so it still fails the DMA window check).
import type { ByteField } from '../spec/layout.ts';
import { put8, put16, put32, put64, put64n, u8, u16, u32, u64, u64n } from '../util/bytes.ts';

// The unchecked primitives live once, in src/util/bytes.ts; re-exported here
// so the NVMe codecs keep one import site for everything little-endian.
export { put8, put16, put32, put64, put64n, u8, u16, u32, u64, u64n };

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
