// Little-endian cursor reader/writer over Uint8Array: the one place for byte
// offset arithmetic (NVMe and PCI structures are little-endian; NVMe Base
// Spec 2.0 §1.5 "Conventions", PCI Local Bus 3.0 §6.1). SQE/CQE/identify
// codecs and register files build on these.
//
// 64-bit values come in two flavours: `u64` as a number (must be below 2^53,
// which every address and LBA in this project is) and `u64n` as a bigint.

/** Thrown for any access outside the buffer or a value out of range. */
export class BytesError extends RangeError {
  override readonly name: string = 'BytesError';
  readonly code = 'bounds' as const;
}

const TWO_32 = 0x1_0000_0000;

function checkRange(buf: Uint8Array, off: number, size: number, what: string): void {
  if (!Number.isInteger(off) || off < 0 || off + size > buf.length) {
    throw new BytesError(`${what}: ${size}-byte access at offset ${off} is outside a ${buf.length}-byte buffer`);
  }
}

function checkUint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new BytesError(`${what}: value ${v} out of range 0..${max}`);
}

/** A cursor position may be anywhere from 0 to the end of the buffer inclusive. */
function checkCursor(buf: Uint8Array, off: number, what: string): void {
  if (!Number.isInteger(off) || off < 0 || off > buf.length) {
    throw new BytesError(`${what} ${off} outside a ${buf.length}-byte buffer`);
  }
}

// ---------------------------------------------------------------------------
// Unchecked primitives: the hot-path form (src/wire/le.ts re-exports them for
// the NVMe codecs). Callers guarantee the access is inside the buffer; an
// out-of-range read yields 0 and an out-of-range write is dropped (typed-array
// semantics), never a throw. Values are masked to the field width.

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
  return u32(b, off) + u32(b, off + 4) * TWO_32;
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
  put32(b, off, (v % TWO_32) >>> 0);
  put32(b, off + 4, Math.floor(v / TWO_32) >>> 0);
}
export function put64n(b: Uint8Array, off: number, v: bigint): void {
  put32(b, off, Number(v & 0xffff_ffffn));
  put32(b, off + 4, Number((v >> 32n) & 0xffff_ffffn));
}

// ---------------------------------------------------------------------------
// Checked absolute-offset helpers (no cursor): for register files and fixed
// layouts fed from outside. Same encoding as the primitives above, plus a
// bounds check and a range check on the value.

export function getU8(buf: Uint8Array, off: number): number {
  checkRange(buf, off, 1, 'getU8');
  return u8(buf, off);
}
export function getU16(buf: Uint8Array, off: number): number {
  checkRange(buf, off, 2, 'getU16');
  return u16(buf, off);
}
export function getU32(buf: Uint8Array, off: number): number {
  checkRange(buf, off, 4, 'getU32');
  return u32(buf, off);
}
/** 64-bit little-endian as a number; throws if the value is 2^53 or more. */
export function getU64(buf: Uint8Array, off: number): number {
  checkRange(buf, off, 8, 'getU64');
  if (u32(buf, off + 4) >= 0x20_0000) throw new BytesError(`getU64: value at offset ${off} is not below 2^53 (use getU64n)`);
  return u64(buf, off);
}
export function getU64n(buf: Uint8Array, off: number): bigint {
  checkRange(buf, off, 8, 'getU64n');
  return u64n(buf, off);
}

export function setU8(buf: Uint8Array, off: number, v: number): void {
  checkRange(buf, off, 1, 'setU8');
  checkUint(v, 0xff, 'setU8');
  put8(buf, off, v);
}
export function setU16(buf: Uint8Array, off: number, v: number): void {
  checkRange(buf, off, 2, 'setU16');
  checkUint(v, 0xffff, 'setU16');
  put16(buf, off, v);
}
export function setU32(buf: Uint8Array, off: number, v: number): void {
  checkRange(buf, off, 4, 'setU32');
  checkUint(v, 0xffff_ffff, 'setU32');
  put32(buf, off, v);
}
/** 64-bit little-endian from a number below 2^53. */
export function setU64(buf: Uint8Array, off: number, v: number): void {
  checkRange(buf, off, 8, 'setU64');
  checkUint(v, Number.MAX_SAFE_INTEGER, 'setU64');
  put64(buf, off, v);
}
export function setU64n(buf: Uint8Array, off: number, v: bigint): void {
  checkRange(buf, off, 8, 'setU64n');
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new BytesError(`setU64n: value ${v} out of range`);
  put64n(buf, off, v);
}

// ---------------------------------------------------------------------------
// Cursors

/** Sequential little-endian reader. Every read is bounds-checked. */
export class ByteReader {
  /** Current offset into `buf`. */
  pos: number;
  constructor(readonly buf: Uint8Array, offset = 0) {
    checkCursor(buf, offset, 'ByteReader: start offset');
    this.pos = offset;
  }
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  u8(): number {
    const v = getU8(this.buf, this.pos);
    this.pos += 1;
    return v;
  }
  u16(): number {
    const v = getU16(this.buf, this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    const v = getU32(this.buf, this.pos);
    this.pos += 4;
    return v;
  }
  /** 64-bit as a number (throws when ≥ 2^53). */
  u64(): number {
    const v = getU64(this.buf, this.pos);
    this.pos += 8;
    return v;
  }
  u64n(): bigint {
    const v = getU64n(this.buf, this.pos);
    this.pos += 8;
    return v;
  }
  /** A view (not a copy) of the next `n` bytes. */
  bytes(n: number): Uint8Array {
    checkRange(this.buf, this.pos, n, 'bytes');
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  skip(n: number): this {
    checkRange(this.buf, this.pos, n, 'skip');
    this.pos += n;
    return this;
  }
  seek(off: number): this {
    checkCursor(this.buf, off, 'seek: offset');
    this.pos = off;
    return this;
  }
}

/** Sequential little-endian writer into a fixed buffer. Every write is bounds- and range-checked. */
export class ByteWriter {
  pos: number;
  readonly buf: Uint8Array;
  /** Write into `buf`, or into a new zeroed buffer of `size` bytes. */
  constructor(bufOrSize: Uint8Array | number, offset = 0) {
    this.buf = typeof bufOrSize === 'number' ? new Uint8Array(bufOrSize) : bufOrSize;
    checkCursor(this.buf, offset, 'ByteWriter: start offset');
    this.pos = offset;
  }
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  u8(v: number): this {
    setU8(this.buf, this.pos, v);
    this.pos += 1;
    return this;
  }
  u16(v: number): this {
    setU16(this.buf, this.pos, v);
    this.pos += 2;
    return this;
  }
  u32(v: number): this {
    setU32(this.buf, this.pos, v);
    this.pos += 4;
    return this;
  }
  u64(v: number): this {
    setU64(this.buf, this.pos, v);
    this.pos += 8;
    return this;
  }
  u64n(v: bigint): this {
    setU64n(this.buf, this.pos, v);
    this.pos += 8;
    return this;
  }
  bytes(src: Uint8Array): this {
    checkRange(this.buf, this.pos, src.length, 'bytes');
    this.buf.set(src, this.pos);
    this.pos += src.length;
    return this;
  }
  /** Write `n` zero bytes. */
  zero(n: number): this {
    checkRange(this.buf, this.pos, n, 'zero');
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return this;
  }
  seek(off: number): this {
    checkCursor(this.buf, off, 'seek: offset');
    this.pos = off;
    return this;
  }
}
