// [raw] Byte handling for NBD: an incoming byte queue that parsers pull fixed
// sizes from, and encoders for every message the server and the client send.
// Big-endian throughout (proto.md "Conventions": network byte order).
import {
  NBD_MAGIC, NBD_OPTS_MAGIC, NBD_REP_MAGIC, NBD_REQUEST_MAGIC, NBD_SIMPLE_REPLY_MAGIC,
  NBD_STRUCTURED_REPLY_MAGIC, GREETING_SIZE, OPTION_HEADER_SIZE, OPTION_REPLY_HEADER_SIZE,
  REQUEST_HEADER_SIZE, SIMPLE_REPLY_HEADER_SIZE, STRUCTURED_REPLY_HEADER_SIZE,
  NBD_REPLY_TYPE_OFFSET_DATA, NBD_REPLY_TYPE_ERROR, NBD_REPLY_FLAG_DONE,
} from './protocol.ts';

/**
 * A FIFO of received chunks. `take(n)` returns exactly n bytes (a view when
 * they lie in one chunk, else a copy) once `length >= n`.
 * INVARIANT: `length` is the sum of the unread bytes of all chunks.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0; // read position inside chunks[0]
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Remove and return n bytes. Precondition: n <= length. */
  take(n: number): Buffer {
    if (n > this.length) throw new RangeError(`ByteQueue.take(${n}) with only ${this.length} bytes`);
    this.length -= n;
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0] as Buffer;
    const avail = first.length - this.head;
    if (n <= avail) {
      const out = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) { this.chunks.shift(); this.head = 0; }
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    this.copyOut(out, n);
    return out;
  }

  /** The first n bytes without consuming them (a view or a copy). Precondition: n <= length. */
  peek(n: number): Buffer {
    if (n > this.length) throw new RangeError(`ByteQueue.peek(${n}) with only ${this.length} bytes`);
    const first = this.chunks[0];
    if (first === undefined) return Buffer.alloc(0);
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    const out = Buffer.allocUnsafe(n);
    let pos = 0;
    let head = this.head;
    for (const c of this.chunks) {
      const want = Math.min(c.length - head, n - pos);
      c.copy(out, pos, head, head + want);
      pos += want;
      head = 0;
      if (pos === n) break;
    }
    return out;
  }

  /** Remove n bytes into `dst` starting at dst[0]. Precondition: n <= length. */
  takeInto(dst: Buffer, n: number): void {
    if (n > this.length) throw new RangeError(`ByteQueue.takeInto(${n}) with only ${this.length} bytes`);
    this.length -= n;
    this.copyOut(dst, n);
  }

  /** Drop n bytes. Precondition: n <= length. */
  skip(n: number): void {
    if (n > this.length) throw new RangeError(`ByteQueue.skip(${n}) with only ${this.length} bytes`);
    this.length -= n;
    let left = n;
    while (left > 0) {
      const c = this.chunks[0] as Buffer;
      const avail = c.length - this.head;
      if (left < avail) { this.head += left; return; }
      left -= avail;
      this.chunks.shift();
      this.head = 0;
    }
  }

  clear(): void { this.chunks = []; this.head = 0; this.length = 0; }

  private copyOut(dst: Buffer, n: number): void {
    let pos = 0;
    while (pos < n) {
      const c = this.chunks[0] as Buffer;
      const avail = c.length - this.head;
      const want = Math.min(avail, n - pos);
      c.copy(dst, pos, this.head, this.head + want);
      pos += want;
      if (want === avail) { this.chunks.shift(); this.head = 0; } else this.head += want;
    }
  }
}

/** 64-bit fields as JS numbers: exact up to 2^53, which covers every disk we serve. */
export function readU64(buf: Buffer, off: number): number {
  const hi = buf.readUInt32BE(off);
  const lo = buf.readUInt32BE(off + 4);
  return hi * 0x1_0000_0000 + lo;
}
/** False when the 64-bit field does not fit a safe integer (the caller rejects it). */
export function u64IsSafe(buf: Buffer, off: number): boolean {
  return buf.readUInt32BE(off) <= 0x1f_ffff;
}
export function writeU64(buf: Buffer, value: number, off: number): void {
  buf.writeUInt32BE(Math.floor(value / 0x1_0000_0000) >>> 0, off);
  buf.writeUInt32BE(value >>> 0, off + 4);
}

// ── Handshake ───────────────────────────────────────────────────────────────

export function encodeGreeting(handshakeFlags: number): Buffer {
  const b = Buffer.allocUnsafe(GREETING_SIZE);
  b.writeBigUInt64BE(NBD_MAGIC, 0);
  b.writeBigUInt64BE(NBD_OPTS_MAGIC, 8);
  b.writeUInt16BE(handshakeFlags, 16);
  return b;
}

export interface OptionHeader { magicOk: boolean; option: number; length: number }
export function decodeOptionHeader(b: Buffer): OptionHeader {
  return { magicOk: b.readBigUInt64BE(0) === NBD_OPTS_MAGIC, option: b.readUInt32BE(8), length: b.readUInt32BE(12) };
}
export function encodeOptionRequest(option: number, data: Buffer): Buffer {
  const b = Buffer.allocUnsafe(OPTION_HEADER_SIZE + data.length);
  b.writeBigUInt64BE(NBD_OPTS_MAGIC, 0);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(data.length, 12);
  data.copy(b, OPTION_HEADER_SIZE);
  return b;
}

export function encodeOptionReply(option: number, type: number, data: Buffer | undefined): Buffer {
  const len = data ? data.length : 0;
  const b = Buffer.allocUnsafe(OPTION_REPLY_HEADER_SIZE + len);
  b.writeBigUInt64BE(NBD_REP_MAGIC, 0);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(type >>> 0, 12);
  b.writeUInt32BE(len, 16);
  if (data) data.copy(b, OPTION_REPLY_HEADER_SIZE);
  return b;
}

export interface OptionReplyHeader { magicOk: boolean; option: number; type: number; length: number }
export function decodeOptionReplyHeader(b: Buffer): OptionReplyHeader {
  return { magicOk: b.readBigUInt64BE(0) === NBD_REP_MAGIC, option: b.readUInt32BE(8), type: b.readUInt32BE(12), length: b.readUInt32BE(16) };
}

// ── Transmission ────────────────────────────────────────────────────────────

/** A decoded request header. `offset` is exact when `offsetSafe`. */
export interface RequestHeader {
  magic: number; flags: number; type: number; cookie: bigint; offset: number; offsetSafe: boolean; length: number;
}
export function decodeRequestHeader(b: Buffer): RequestHeader {
  return {
    magic: b.readUInt32BE(0), flags: b.readUInt16BE(4), type: b.readUInt16BE(6), cookie: b.readBigUInt64BE(8),
    offset: readU64(b, 16), offsetSafe: u64IsSafe(b, 16), length: b.readUInt32BE(24),
  };
}
export function encodeRequestHeader(flags: number, type: number, cookie: bigint, offset: number, length: number, into?: Buffer): Buffer {
  const b = into ?? Buffer.allocUnsafe(REQUEST_HEADER_SIZE);
  b.writeUInt32BE(NBD_REQUEST_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.writeBigUInt64BE(cookie, 8);
  writeU64(b, offset, 16);
  b.writeUInt32BE(length >>> 0, 24);
  return b;
}

export function writeSimpleReplyHeader(b: Buffer, error: number, cookie: bigint): void {
  b.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(error >>> 0, 4);
  b.writeBigUInt64BE(cookie, 8);
}
export function encodeSimpleReply(error: number, cookie: bigint): Buffer {
  const b = Buffer.allocUnsafe(SIMPLE_REPLY_HEADER_SIZE);
  writeSimpleReplyHeader(b, error, cookie);
  return b;
}

export function writeStructuredHeader(b: Buffer, flags: number, type: number, cookie: bigint, length: number): void {
  b.writeUInt32BE(NBD_STRUCTURED_REPLY_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.writeBigUInt64BE(cookie, 8);
  b.writeUInt32BE(length >>> 0, 16);
}

/** Space before the data in a structured OFFSET_DATA chunk: header + 64-bit offset. */
export const OFFSET_DATA_PREFIX = STRUCTURED_REPLY_HEADER_SIZE + 8;

/** Fill the 28-byte prefix of a final OFFSET_DATA chunk carrying `dataLength` bytes. */
export function writeOffsetDataPrefix(b: Buffer, cookie: bigint, offset: number, dataLength: number): void {
  writeStructuredHeader(b, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, cookie, 8 + dataLength);
  writeU64(b, offset, STRUCTURED_REPLY_HEADER_SIZE);
}

/** A final NBD_REPLY_TYPE_ERROR chunk with a human-readable message. */
export function encodeStructuredError(cookie: bigint, error: number, message: string): Buffer {
  const msg = Buffer.from(message, 'utf8').subarray(0, 1024);
  const b = Buffer.allocUnsafe(STRUCTURED_REPLY_HEADER_SIZE + 6 + msg.length);
  writeStructuredHeader(b, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, cookie, 6 + msg.length);
  b.writeUInt32BE(error >>> 0, STRUCTURED_REPLY_HEADER_SIZE);
  b.writeUInt16BE(msg.length, STRUCTURED_REPLY_HEADER_SIZE + 4);
  msg.copy(b, STRUCTURED_REPLY_HEADER_SIZE + 6);
  return b;
}
