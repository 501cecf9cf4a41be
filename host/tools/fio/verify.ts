// Data verification, after fio's verify.c: every written block carries a
// header (magic, type, length, the seed its payload was generated from, its
// own disk offset, a header checksum) followed by a checksum of the payload.
// A read-back check can therefore tell "this block belongs elsewhere"
// (misdirected write), "the header is damaged" and "the payload is damaged",
// and, regenerating the payload from the seed, name the first bad byte.
import { createHash } from 'node:crypto';
import { put32 } from '../../../src/util/bytes.ts';
import { Prng } from './rand.ts';
import type { VerifyKind } from './options.ts';

// ── crc32c (Castagnoli, reflected polynomial 0x82F63B78), slice-by-8 tables ──
const CRC32C_TABLES = (() => {
  const t = new Uint32Array(256 * 8);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    for (let k = 1; k < 8; k++) {
      const prev = t[(k - 1) * 256 + i];
      t[k * 256 + i] = (prev >>> 8) ^ t[prev & 0xff];
    }
  }
  return t;
})();

/** CRC-32C of `buf[start, end)`; `crc` continues a previous value. */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length, crc = 0): number {
  const T = CRC32C_TABLES;
  let c = ~crc >>> 0;
  let i = start;
  // Eight bytes per step (slice-by-8).
  for (; i + 8 <= end; i += 8) {
    const lo = (c ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24))) >>> 0;
    c = T[1792 + (lo & 0xff)] ^ T[1536 + ((lo >>> 8) & 0xff)] ^ T[1280 + ((lo >>> 16) & 0xff)] ^ T[1024 + (lo >>> 24)] ^
      T[768 + buf[i + 4]] ^ T[512 + buf[i + 5]] ^ T[256 + buf[i + 6]] ^ T[buf[i + 7]];
  }
  for (; i < end; i++) c = T[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

export const VERIFY_MAGIC = 0xacca;
/** Header: magic u16, type u16, len u32, seed u32 x2, offset u64, numberio u32, job u16, pad u16, hdr crc u32, checksum (≤ 32 bytes). */
export const HEADER_SIZE = 72;
const OFF_MAGIC = 0;
const OFF_TYPE = 2;
const OFF_LEN = 4;
const OFF_SEED = 8;
const OFF_OFFSET = 16;
const OFF_NUMBERIO = 24;
const OFF_JOB = 28;
const OFF_HDR_CRC = 32;
const OFF_CSUM = 36;

const TYPE_CODE: Record<Exclude<VerifyKind, 'none' | 'pattern'>, number> = { crc32c: 1, md5: 2, sha256: 3 };
const CSUM_LEN: Record<Exclude<VerifyKind, 'none' | 'pattern'>, number> = { crc32c: 4, md5: 16, sha256: 32 };

/** What was written at a block, kept so the read-back knows what to expect. */
export interface WrittenBlock {
  offset: number;
  len: number;
  seed: number;
  numberio: number;
}

export interface VerifyContext {
  kind: VerifyKind;
  pattern: Uint8Array | undefined;
  job: number;
}

/** Smallest block a header-carrying verify can use. */
export function minVerifyBlock(kind: VerifyKind): number {
  return kind === 'none' || kind === 'pattern' ? 1 : HEADER_SIZE + 1;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function fillPayload(buf: Uint8Array, start: number, end: number, seed: number, pattern: Uint8Array | undefined, blockBase: number): void {
  if (pattern !== undefined && pattern.length > 0) {
    for (let i = start; i < end; i++) buf[i] = pattern[(i - blockBase) % pattern.length];
    return;
  }
  const rng = new Prng(seed);
  let i = start;
  if (LITTLE_ENDIAN && (buf.byteOffset + start) % 4 === 0) {
    // Same bytes as the loop below, a word at a time.
    const words = new Uint32Array(buf.buffer, buf.byteOffset + start, (end - start) >>> 2);
    rng.fillWords(words);
    i = start + words.length * 4;
  }
  while (i + 4 <= end) {
    const v = rng.u32();
    put32(buf, i, v);
    i += 4;
  }
  if (i < end) {
    let v = rng.u32();
    for (; i < end; i++) { buf[i] = v & 0xff; v >>>= 8; }
  }
}

function checksum(kind: 'crc32c' | 'md5' | 'sha256', buf: Uint8Array, start: number, end: number, out: Uint8Array, outOff: number): void {
  if (kind === 'crc32c') {
    const c = crc32c(buf, start, end);
    put32(out, outOff, c);
    return;
  }
  const h = createHash(kind).update(buf.subarray(start, end)).digest();
  out.set(h, outOff);
}

/** Fills `buf[0, len)` with the verifiable contents of the block at `offset`. */
export function fillBlock(ctx: VerifyContext, buf: Uint8Array, len: number, b: WrittenBlock): void {
  if (ctx.kind === 'pattern') {
    fillPayload(buf, 0, len, 0, ctx.pattern, 0);
    return;
  }
  if (ctx.kind === 'none') return;
  const dv = new DataView(buf.buffer, buf.byteOffset, len);
  fillPayload(buf, HEADER_SIZE, len, b.seed, ctx.pattern, 0);
  dv.setUint16(OFF_MAGIC, VERIFY_MAGIC, true);
  dv.setUint16(OFF_TYPE, TYPE_CODE[ctx.kind], true);
  dv.setUint32(OFF_LEN, len, true);
  dv.setUint32(OFF_SEED, b.seed >>> 0, true);
  dv.setUint32(OFF_SEED + 4, 0, true);
  dv.setBigUint64(OFF_OFFSET, BigInt(b.offset), true);
  dv.setUint32(OFF_NUMBERIO, b.numberio >>> 0, true);
  dv.setUint16(OFF_JOB, ctx.job & 0xffff, true);
  dv.setUint16(OFF_JOB + 2, 0, true);
  buf.fill(0, OFF_CSUM, HEADER_SIZE);
  dv.setUint32(OFF_HDR_CRC, crc32c(buf, 0, OFF_HDR_CRC), true);
  checksum(ctx.kind, buf, HEADER_SIZE, len, buf, OFF_CSUM);
}

export interface VerifyProblem {
  /** Offset in the block of the first byte that differs from what was written (-1 if the data matches but a check failed). */
  badByte: number;
  message: string;
}

const scratch = { buf: new Uint8Array(0) };

/** Offset of the first byte where `a` and `b` differ in [0, len), or -1. */
function firstDiff(a: Uint8Array, b: Uint8Array, len: number): number {
  for (let i = 0; i < len; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/**
 * Checks a block read back from `b.offset`. Returns undefined when good.
 * Like fio, the header is checked first (magic, header crc, offset, length,
 * and here also the seed: an older write left in place is caught), then the
 * payload checksum; only on a failure is the expected block regenerated to
 * name the first bad byte. Messages follow fio's ("verify: bad magic header
 * …", "crc32c: verify failed at file X offset N, length L …").
 */
export function checkBlock(ctx: VerifyContext, disk: string, buf: Uint8Array, b: WrittenBlock): VerifyProblem | undefined {
  const len = b.len;
  // fio's log_verify_failure: one line naming file, offset and length (the
  // requested block is the whole I/O; here one header per I/O, so the same),
  // then indented detail lines.
  const where = `file ${disk} offset ${b.offset}, length ${len} (requested block: offset=${b.offset}, length=${len})`;
  const problem = (what: string, detail = ''): VerifyProblem => {
    if (scratch.buf.length < len) scratch.buf = new Uint8Array(len);
    const expect = scratch.buf;
    fillBlock(ctx, expect, len, b);
    const first = firstDiff(buf, expect, len);
    const bad = first < 0 ? 'data matches what was written'
      : `first bad byte at offset ${b.offset + first} (block +${first}): wanted 0x${hex2(expect[first])}, got 0x${hex2(buf[first])}`;
    return { badByte: first, message: `${what} at ${where}${detail}\n${DETAIL_INDENT}${bad}` };
  };
  if (ctx.kind === 'none') return undefined;
  if (ctx.kind === 'pattern') {
    const p = ctx.pattern;
    if (p === undefined || p.length === 0) return undefined;
    for (let i = 0; i < len; i++) if (buf[i] !== p[i % p.length]) return problem('pattern: verify failed');
    return undefined;
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, len);
  const magic = dv.getUint16(OFF_MAGIC, true);
  if (magic !== VERIFY_MAGIC) return problem(`verify: bad magic header ${magic.toString(16)}, wanted ${VERIFY_MAGIC.toString(16)}`);
  const hdrCrc = dv.getUint32(OFF_HDR_CRC, true);
  if (hdrCrc !== crc32c(buf, 0, OFF_HDR_CRC)) return problem('verify: bad header crc');
  const hdrOffset = Number(dv.getBigUint64(OFF_OFFSET, true));
  if (hdrOffset !== b.offset) return problem(`verify: bad header offset ${hdrOffset}, wanted ${b.offset} (misdirected write?)`);
  const hdrLen = dv.getUint32(OFF_LEN, true);
  if (hdrLen !== len) return problem(`verify: bad header length ${hdrLen}, wanted ${len}`);
  const seed = dv.getUint32(OFF_SEED, true);
  if (seed !== b.seed >>> 0) return problem(`verify: bad header rand_seed ${seed}, wanted ${b.seed >>> 0} (stale data from an earlier write?)`);
  const kind = ctx.kind;
  const n = CSUM_LEN[kind];
  const got = scratchCsum;
  checksum(kind, buf, HEADER_SIZE, len, got, 0);
  const stored = buf.subarray(OFF_CSUM, OFF_CSUM + n);
  if (firstDiff(stored, got, n) < 0) return undefined;
  return problem(`${kind}: verify failed`, `\n${DETAIL_INDENT}Expected CRC: ${toHex(stored)}\n${DETAIL_INDENT}Received CRC: ${toHex(got.subarray(0, n))}`);
}

/**
 * Checks a block a read-only job read, knowing nothing of what was written
 * there: only what the block says about itself. fio verifies every read of a
 * job that does not write (backend.c: verify on reads when !td_rw) with its
 * header (magic, header crc, offset, length) and payload checksum, so data
 * that never carried a header — a zeroed disk — fails with "bad magic header".
 * `pattern` compares against the verify pattern. Undefined when good.
 */
export function checkReadBlock(ctx: VerifyContext, disk: string, buf: Uint8Array, offset: number, len: number): VerifyProblem | undefined {
  const where = `file ${disk} offset ${offset}, length ${len} (requested block: offset=${offset}, length=${len})`;
  const problem = (what: string, detail = ''): VerifyProblem => ({ badByte: -1, message: `${what} at ${where}${detail}` });
  if (ctx.kind === 'none') return undefined;
  if (ctx.kind === 'pattern') {
    const p = ctx.pattern;
    if (p === undefined || p.length === 0) return undefined;
    for (let i = 0; i < len; i++) {
      if (buf[i] !== p[i % p.length]) return { badByte: i, message: `pattern: verify failed at ${where}\n${DETAIL_INDENT}first bad byte at offset ${offset + i} (block +${i}): wanted 0x${hex2(p[i % p.length])}, got 0x${hex2(buf[i])}` };
    }
    return undefined;
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, len);
  const magic = dv.getUint16(OFF_MAGIC, true);
  if (magic !== VERIFY_MAGIC) return problem(`verify: bad magic header ${magic.toString(16)}, wanted ${VERIFY_MAGIC.toString(16)}`);
  const hdrCrc = dv.getUint32(OFF_HDR_CRC, true);
  if (hdrCrc !== crc32c(buf, 0, OFF_HDR_CRC)) return problem('verify: bad header crc');
  const hdrOffset = Number(dv.getBigUint64(OFF_OFFSET, true));
  if (hdrOffset !== offset) return problem(`verify: bad header offset ${hdrOffset}, wanted ${offset} (misdirected write?)`);
  const hdrLen = dv.getUint32(OFF_LEN, true);
  if (hdrLen !== len) return problem(`verify: bad header length ${hdrLen}, wanted ${len}`);
  const kind = ctx.kind;
  if (dv.getUint16(OFF_TYPE, true) !== TYPE_CODE[kind]) return problem(`verify: bad verify type ${dv.getUint16(OFF_TYPE, true)}, wanted ${TYPE_CODE[kind]}`);
  const n = CSUM_LEN[kind];
  checksum(kind, buf, HEADER_SIZE, len, scratchCsum, 0);
  const stored = buf.subarray(OFF_CSUM, OFF_CSUM + n);
  if (firstDiff(stored, scratchCsum, n) < 0) return undefined;
  return problem(`${kind}: verify failed`, `\n${DETAIL_INDENT}Expected CRC: ${toHex(stored)}\n${DETAIL_INDENT}Received CRC: ${toHex(scratchCsum.subarray(0, n))}`);
}

const scratchCsum = new Uint8Array(32);
/** fio indents the lines under a verify failure by seven spaces. */
const DETAIL_INDENT = '       ';

function hex2(n: number | undefined): string {
  return (n ?? 0).toString(16).padStart(2, '0');
}

function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}
