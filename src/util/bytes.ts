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

// ---------------------------------------------------------------------------
// Absolute-offset helpers (no cursor): for register files and fixed layouts.

export function getU8(buf: Uint8Array, off: number): number {
  checkRange(buf, off, 1, 'getU8');
  return buf[off] ?? 0;
}
export function getU16(buf: Uint8Array, off: number): number {
  checkRange(buf, off, 2, 'getU16');
  return (buf[off] ?? 0) | ((buf[off + 1] ?? 0) << 8);
}
export function getU32(buf: Uint8Array, off: number): number {
  checkRange(buf, off, 4, 'getU32');
  return ((buf[off] ?? 0) | ((buf[off + 1] ?? 0) << 8) | ((buf[off + 2] ?? 0) << 16)) + (buf[off + 3] ?? 0) * 0x100_0000;
}
/** 64-bit little-endian as a number; throws if the value is 2^53 or more. */
export function getU64(buf: Uint8Array, off: number): number {
  checkRange(buf, off, 8, 'getU64');
  const lo = getU32(buf, off);
  const hi = getU32(buf, off + 4);
  if (hi >= 0x20_0000) throw new BytesError(`getU64: value at offset ${off} is not below 2^53 (use getU64n)`);
  return hi * TWO_32 + lo;
}
export function getU64n(buf: Uint8Array, off: number): bigint {
  checkRange(buf, off, 8, 'getU64n');
  return (BigInt(getU32(buf, off + 4)) << 32n) | BigInt(getU32(buf, off));
}

export function setU8(buf: Uint8Array, off: number, v: number): void {
  checkRange(buf, off, 1, 'setU8');
  checkUint(v, 0xff, 'setU8');
  buf[off] = v;
}
export function setU16(buf: Uint8Array, off: number, v: number): void {
  checkRange(buf, off, 2, 'setU16');
  checkUint(v, 0xffff, 'setU16');
  buf[off] = v & 0xff;
  buf[off + 1] = v >>> 8;
}
export function setU32(buf: Uint8Array, off: number, v: number): void {
  checkRange(buf, off, 4, 'setU32');
  checkUint(v, 0xffff_ffff, 'setU32');
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
  buf[off + 2] = (v >>> 16) & 0xff;
  buf[off + 3] = (v >>> 24) & 0xff;
}
/** 64-bit little-endian from a number below 2^53. */
export function setU64(buf: Uint8Array, off: number, v: number): void {
  checkRange(buf, off, 8, 'setU64');
  checkUint(v, Number.MAX_SAFE_INTEGER, 'setU64');
  setU32(buf, off, v % TWO_32);
  setU32(buf, off + 4, Math.floor(v / TWO_32));
}
export function setU64n(buf: Uint8Array, off: number, v: bigint): void {
  checkRange(buf, off, 8, 'setU64n');
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new BytesError(`setU64n: value ${v} out of range`);
  setU32(buf, off, Number(v & 0xffff_ffffn));
  setU32(buf, off + 4, Number(v >> 32n));
}

// ---------------------------------------------------------------------------
// Cursors

/** Sequential little-endian reader. Every read is bounds-checked. */
export class ByteReader {
  /** Current offset into `buf`. */
  pos: number;
  constructor(readonly buf: Uint8Array, offset = 0) {
    if (!Number.isInteger(offset) || offset < 0 || offset > buf.length) {
      throw new BytesError(`ByteReader: start offset ${offset} outside a ${buf.length}-byte buffer`);
    }
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
    if (!Number.isInteger(off) || off < 0 || off > this.buf.length) {
      throw new BytesError(`seek: offset ${off} outside a ${this.buf.length}-byte buffer`);
    }
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
    if (!Number.isInteger(offset) || offset < 0 || offset > this.buf.length) {
      throw new BytesError(`ByteWriter: start offset ${offset} outside a ${this.buf.length}-byte buffer`);
    }
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
    if (!Number.isInteger(off) || off < 0 || off > this.buf.length) {
      throw new BytesError(`seek: offset ${off} outside a ${this.buf.length}-byte buffer`);
    }
    this.pos = off;
    return this;
  }
}
