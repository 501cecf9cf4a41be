// msgpack codec and validation for protocol v1. The only place where wire
// values become typed messages: every field of every incoming message is
// checked (type, range, required/optional, direction) and anything else
// becomes a ProtocolError with a stable code. decodeFrame never throws.
import { Packr, Unpackr } from 'msgpackr';
import { protocolError, isErrorCode, type ErrorCode, type ProtocolError } from './errors.ts';
import {
  CloseCode, MAX_ID, MAX_WIRE_INT, POSTED, REGION_NAMES, maySend,
  type DeviceInfo, type ErrMsg, type Message, type MessageType, type OkMsg, type RegionFlag,
  type RegionInfo, type RegionName, type Side, MESSAGE_TYPES,
} from './messages.ts';

// Plain maps on both ends: no msgpackr records/structures, so a peer cannot
// install decoder state (record definitions are per-unpack without shared
// structures). 64-bit integers decode as bigint and are range-checked below.
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/**
 * Encode one message (a msgpack map). The result is a view into a shared
 * buffer that later encodes never overwrite (a fresh one is taken when it is
 * full): do not modify it, and copy it before handing it to anything that
 * transfers the whole underlying ArrayBuffer.
 *
 * The hot types (region_read/write, dma_read/write, irq, ok) are written by a
 * hand encoder: the same msgpack a generic encoder produces for the
 * protocol's fields — a map with the defined fields only, integers in their
 * shortest form (float64 above 2^32-1, as msgpackr does), bytes as bin — but
 * without per-message key encoding or allocation beyond the returned view.
 * Anything unusual (other types, fields out of range) goes through msgpackr.
 */
export function encodeMessage(msg: Message): Uint8Array {
  const start = encodeHot(msg, false);
  if (start >= 0) return slab.subarray(start, slabPos);
  return packr.pack(msg);
}

/**
 * The same bytes as encodeMessage, but a hot-type message is written into
 * one reusable scratch buffer: the result is valid only until the next call
 * (copy it before that). For a sender that copies at once (the Channel's
 * cork); it saves the slab refills that made large payloads cost an
 * allocation each.
 */
export function encodeMessageTransient(msg: Message): Uint8Array {
  const start = encodeHot(msg, true);
  if (start >= 0) return scratch.subarray(0, scratchEnd);
  return packr.pack(msg);
}

// ---------------------------------------------------------------------------
// Hot-path encoder. Writes into `slab` at `slabPos`; never reuses bytes that
// were handed out (views stay valid), takes a new slab when this one is full.

const SLAB_SIZE = 256 * 1024;
let slab: Buffer = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabPos = 0;
// encodeMessageTransient's buffer: overwritten by every call, grown on demand.
let scratch: Buffer = Buffer.allocUnsafeSlow(SLAB_SIZE);
let scratchEnd = 0;

/** fixstr bytes of an ASCII string shorter than 32 characters. */
function fixstr(text: string): Uint8Array {
  const b = new Uint8Array(1 + text.length);
  b[0] = 0xa0 | text.length;
  for (let i = 0; i < text.length; i++) b[i + 1] = text.charCodeAt(i);
  return b;
}
const K_T = fixstr('t');
const K_ID = fixstr('id');
const K_REGION = fixstr('region');
const K_OFF = fixstr('off');
const K_LEN = fixstr('len');
const K_DATA = fixstr('data');
const K_IOVA = fixstr('iova');
const K_VEC = fixstr('vec');
const V_REGION_READ = fixstr('region_read');
const V_REGION_WRITE = fixstr('region_write');
const V_DMA_READ = fixstr('dma_read');
const V_DMA_WRITE = fixstr('dma_write');
const V_IRQ = fixstr('irq');
const V_OK = fixstr('ok');
const V_REGIONS: Readonly<Record<RegionName, Uint8Array>> = {
  config: fixstr('config'), bar0: fixstr('bar0'), bar1: fixstr('bar1'), bar2: fixstr('bar2'),
  bar3: fixstr('bar3'), bar4: fixstr('bar4'), bar5: fixstr('bar5'),
};

function okUint(n: unknown): boolean {
  return typeof n === 'number' && n >= 0 && n <= MAX_WIRE_INT && Number.isInteger(n);
}
function okBytes(b: unknown): boolean {
  return b instanceof Uint8Array;
}

/**
 * Encode a hot-type message at the slab's end (or at the start of the
 * scratch buffer when `transient`); returns its start, or -1 to use the
 * generic encoder.
 */
function encodeHot(m: Message, transient: boolean): number {
  let size: number;
  // Upper bounds: map header 1, t 1+13, id 3+5, region 7+7, off/len/iova 5+9, vec 4+5, data 5+5+bytes.
  switch (m.t) {
    case 'region_read':
      if (!okUint(m.off) || !okUint(m.len) || (m.id !== undefined && !okUint(m.id)) || V_REGIONS[m.region] === undefined) return -1;
      size = 1 + 14 + 8 + 14 + 14 + 14;
      break;
    case 'region_write':
      if (!okUint(m.off) || !okBytes(m.data) || (m.id !== undefined && !okUint(m.id)) || V_REGIONS[m.region] === undefined) return -1;
      size = 1 + 14 + 8 + 14 + 14 + 10 + m.data.length;
      break;
    case 'dma_read':
      if (!okUint(m.iova) || !okUint(m.len) || (m.id !== undefined && !okUint(m.id))) return -1;
      size = 1 + 14 + 8 + 14 + 14;
      break;
    case 'dma_write':
      if (m.id !== undefined || !okUint(m.iova) || !okBytes(m.data)) return -1;
      size = 1 + 14 + 14 + 10 + m.data.length;
      break;
    case 'irq':
      if (m.id !== undefined || !okUint(m.vec)) return -1;
      size = 1 + 14 + 9;
      break;
    case 'ok':
      // Only the common answers: with data or nothing (hello's answer is generic).
      if (m.proto !== undefined || m.maxFrame !== undefined || m.maxOutstanding !== undefined || m.info !== undefined) return -1;
      if (!okUint(m.id) || (m.data !== undefined && !okBytes(m.data))) return -1;
      size = 1 + 14 + 8 + (m.data === undefined ? 0 : 10 + m.data.length);
      break;
    default:
      return -1;
  }
  let b: Buffer;
  let start: number;
  if (transient) {
    if (size > scratch.length) scratch = Buffer.allocUnsafeSlow(Math.max(size, 2 * scratch.length));
    b = scratch;
    start = 0;
  } else {
    if (slabPos + size > slab.length) {
      slab = Buffer.allocUnsafeSlow(Math.max(SLAB_SIZE, size));
      slabPos = 0;
    }
    b = slab;
    start = slabPos;
  }
  let p = start + 1;
  let n = 1;
  switch (m.t) {
    case 'region_read':
      p = putStr(b, p, K_T, V_REGION_READ);
      if (m.id !== undefined) { p = putUint(b, putKey(b, p, K_ID), m.id); n++; }
      p = putStr(b, p, K_REGION, V_REGIONS[m.region]);
      p = putUint(b, putKey(b, p, K_OFF), m.off);
      p = putUint(b, putKey(b, p, K_LEN), m.len);
      n += 3;
      break;
    case 'region_write':
      p = putStr(b, p, K_T, V_REGION_WRITE);
      if (m.id !== undefined) { p = putUint(b, putKey(b, p, K_ID), m.id); n++; }
      p = putStr(b, p, K_REGION, V_REGIONS[m.region]);
      p = putUint(b, putKey(b, p, K_OFF), m.off);
      p = putBin(b, putKey(b, p, K_DATA), m.data);
      n += 3;
      break;
    case 'dma_read':
      p = putStr(b, p, K_T, V_DMA_READ);
      if (m.id !== undefined) { p = putUint(b, putKey(b, p, K_ID), m.id); n++; }
      p = putUint(b, putKey(b, p, K_IOVA), m.iova);
      p = putUint(b, putKey(b, p, K_LEN), m.len);
      n += 2;
      break;
    case 'dma_write':
      p = putStr(b, p, K_T, V_DMA_WRITE);
      p = putUint(b, putKey(b, p, K_IOVA), m.iova);
      p = putBin(b, putKey(b, p, K_DATA), m.data);
      n += 2;
      break;
    case 'irq':
      p = putStr(b, p, K_T, V_IRQ);
      p = putUint(b, putKey(b, p, K_VEC), m.vec);
      n += 1;
      break;
    case 'ok':
      p = putStr(b, p, K_T, V_OK);
      p = putUint(b, putKey(b, p, K_ID), m.id);
      n += 1;
      if (m.data !== undefined) { p = putBin(b, putKey(b, p, K_DATA), m.data); n++; }
      break;
    default:
      return -1;
  }
  b[start] = 0x80 | n; // fixmap
  if (transient) scratchEnd = p;
  else slabPos = p;
  return start;
}

function putKey(b: Buffer, p: number, key: Uint8Array): number {
  for (let i = 0; i < key.length; i++) b[p + i] = key[i] as number;
  return p + key.length;
}
function putStr(b: Buffer, p: number, key: Uint8Array, value: Uint8Array): number {
  return putKey(b, putKey(b, p, key), value);
}
/** msgpack unsigned integer, shortest form; above 2^32-1 as float64 (as msgpackr writes JS numbers). */
function putUint(b: Buffer, p: number, v: number): number {
  if (v < 0x80) {
    b[p] = v;
    return p + 1;
  }
  if (v < 0x100) {
    b[p] = 0xcc;
    b[p + 1] = v;
    return p + 2;
  }
  if (v < 0x10000) {
    b[p] = 0xcd;
    b[p + 1] = v >>> 8;
    b[p + 2] = v & 0xff;
    return p + 3;
  }
  if (v <= 0xffff_ffff) {
    b[p] = 0xce;
    b.writeUInt32BE(v, p + 1);
    return p + 5;
  }
  b[p] = 0xcb;
  b.writeDoubleBE(v, p + 1);
  return p + 9;
}
function putBin(b: Buffer, p: number, data: Uint8Array): number {
  const n = data.length;
  if (n < 0x100) {
    b[p] = 0xc4;
    b[p + 1] = n;
    p += 2;
  } else if (n < 0x10000) {
    b[p] = 0xc5;
    b[p + 1] = n >>> 8;
    b[p + 2] = n & 0xff;
    p += 3;
  } else {
    b[p] = 0xc6;
    b.writeUInt32BE(n, p + 1);
    p += 5;
  }
  if (n <= 16) {
    for (let i = 0; i < n; i++) b[p + i] = data[i] as number;
  } else {
    b.set(data, p);
  }
  return p + n;
}

/** Encode a batch (a msgpack array of maps). */
export function encodeBatch(msgs: readonly Message[]): Uint8Array {
  return packr.pack(msgs);
}

/** Encode any value (tests build malformed frames with it). */
export function encodeValue(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Bytes of the msgpack array header for `n` elements (fixarray, array 16, array 32). */
export function arrayHeaderLength(n: number): number {
  return n < 16 ? 1 : n < 0x10000 ? 3 : 5;
}
/** Write the msgpack array header for `n` elements at buf[at] (used when concatenating pre-encoded messages). */
export function writeArrayHeader(buf: Uint8Array, n: number, at = 0): void {
  if (n < 16) {
    buf[at] = 0x90 | n;
  } else if (n < 0x10000) {
    buf[at] = 0xdc;
    buf[at + 1] = n >>> 8;
    buf[at + 2] = n & 0xff;
  } else {
    buf[at] = 0xdd;
    buf[at + 1] = (n >>> 24) & 0xff;
    buf[at + 2] = (n >>> 16) & 0xff;
    buf[at + 3] = (n >>> 8) & 0xff;
    buf[at + 4] = n & 0xff;
  }
}

export interface DecodeOptions {
  /** Frames longer than this are fatal with close 1009. */
  maxFrame?: number;
}

/**
 * Result of decoding one frame. `fatal` set: the frame could not be parsed at
 * all and the connection must close with `fatal.closeCode` (4400 or 1009).
 * Otherwise `items` holds, in order, a validated message or a ProtocolError
 * per element (carrying the element's `id` when it had a valid one, and its
 * `type` when `t` was a string).
 */
export type FrameResult =
  | { fatal: ProtocolError; items: undefined; batch: false }
  | { fatal: undefined; items: (Message | ProtocolError)[]; batch: boolean };

/** Decode one frame received by `receiver`. Never throws. */
export function decodeFrame(frame: Uint8Array | string, receiver: Side, opts: DecodeOptions = {}): FrameResult {
  if (typeof frame === 'string') {
    return fatal(protocolError('bad_message', 'text frame (the protocol uses binary frames only)', { closeCode: CloseCode.protocolError }));
  }
  if (frame.length === 0) {
    return fatal(protocolError('bad_message', 'empty frame', { closeCode: CloseCode.protocolError }));
  }
  if (opts.maxFrame !== undefined && frame.length > opts.maxFrame) {
    return fatal(protocolError('size', `frame of ${frame.length} bytes exceeds maxFrame ${opts.maxFrame}`, { closeCode: CloseCode.tooBig }));
  }
  let value: unknown;
  try {
    value = unpackr.unpack(frame);
  } catch (e) {
    return fatal(protocolError('bad_message', `frame is not one msgpack value: ${errText(e)}`, { closeCode: CloseCode.protocolError, cause: e }));
  }
  try {
    if (Array.isArray(value)) {
      const items: (Message | ProtocolError)[] = new Array(value.length);
      for (let i = 0; i < value.length; i++) items[i] = decodeValue(value[i], receiver);
      return { fatal: undefined, items, batch: true };
    }
    return { fatal: undefined, items: [decodeValue(value, receiver)], batch: false };
  } catch (e) {
    // Validation is written not to throw; this is the last line of defence.
    return fatal(protocolError('internal', `decoder failure: ${errText(e)}`, { closeCode: CloseCode.protocolError, cause: e }));
  }
}

function fatal(e: ProtocolError): FrameResult {
  return { fatal: e, items: undefined, batch: false };
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------------------
// Field validators. Each returns the value or `undefined` when invalid.

function isRecord(v: unknown): v is Record<string, unknown> {
  // A plain object only (arrays, byte arrays and objects with another prototype,
  // e.g. from a `__proto__` key, are not maps).
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

const BIG_MAX_WIRE_INT = BigInt(MAX_WIRE_INT);

/**
 * An unsigned integer below 2^53: a msgpack integer, or a float64 holding an
 * exact integer (msgpackr sends numbers above 2^32-1 that way), or a 64-bit
 * integer decoded as bigint.
 */
export function wireUint(v: unknown, max: number = MAX_WIRE_INT): number | undefined {
  if (typeof v === 'number') {
    return Number.isInteger(v) && v >= 0 && v <= max ? v + 0 /* -0 → 0 */ : undefined;
  }
  if (typeof v === 'bigint') {
    if (v < 0n || v > BIG_MAX_WIRE_INT) return undefined;
    const n = Number(v);
    return n <= max ? n : undefined;
  }
  return undefined;
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

class Fields {
  error: string | undefined;
  constructor(readonly o: Record<string, unknown>) {}

  uint(key: string, max: number = MAX_WIRE_INT): number {
    const n = wireUint(this.o[key], max);
    if (n === undefined) {
      this.fail(`${key} must be an unsigned integer <= ${max}, got ${describe(this.o[key])}`);
      return 0;
    }
    return n;
  }
  optUint(key: string, max: number = MAX_WIRE_INT): number | undefined {
    return this.o[key] === undefined ? undefined : this.uint(key, max);
  }
  str(key: string): string {
    const v = this.o[key];
    if (typeof v !== 'string') {
      this.fail(`${key} must be a string, got ${describe(v)}`);
      return '';
    }
    return v;
  }
  bytes(key: string): Uint8Array {
    const v = this.o[key];
    if (!isBytes(v)) {
      this.fail(`${key} must be bin (bytes), got ${describe(v)}`);
      return EMPTY;
    }
    return v;
  }
  optBytes(key: string): Uint8Array | undefined {
    return this.o[key] === undefined ? undefined : this.bytes(key);
  }
  region(key: string): RegionName {
    const v = this.o[key];
    if (typeof v === 'string') {
      for (const r of REGION_NAMES) if (r === v) return r;
    }
    this.fail(`${key} must be one of ${REGION_NAMES.join(', ')}, got ${describe(v)}`);
    return 'config';
  }
  fail(msg: string): void {
    if (this.error === undefined) this.error = msg;
  }
}

const EMPTY = new Uint8Array(0);

function describe(v: unknown): string {
  if (v === undefined) return 'nothing (missing)';
  if (v === null) return 'nil';
  if (typeof v === 'number') return Number.isInteger(v) ? `${v}` : `non-integer ${v}`;
  if (typeof v === 'bigint') return `${v}`;
  if (typeof v === 'string') return `string "${v.length > 40 ? v.slice(0, 40) + '…' : v}"`;
  if (v instanceof Uint8Array) return `bin(${v.length})`;
  if (Array.isArray(v)) return `array(${v.length})`;
  return typeof v;
}

// Hot path: decodeValue runs once per incoming message, so it allocates only
// the validated message itself — no per-call closures (tsx's keepNames wraps
// each one in a __name() call) and no helper objects. Field checks record the
// first failure in `fieldError`; decoding is synchronous, so one module-level
// slot is safe.
let fieldError: string | undefined;

function fail(msg: string): void {
  if (fieldError === undefined) fieldError = msg;
}
function uintField(o: Record<string, unknown>, key: string, max: number = MAX_WIRE_INT): number {
  const v = o[key];
  // Fast path: a msgpack int (or float64) that is already a valid integer.
  if (typeof v === 'number' && v >= 0 && v <= max && Number.isInteger(v)) return v + 0; // -0 → 0
  const n = wireUint(v, max);
  if (n === undefined) {
    fail(`${key} must be an unsigned integer <= ${max}, got ${describe(v)}`);
    return 0;
  }
  return n;
}
function optUintField(o: Record<string, unknown>, key: string, max: number = MAX_WIRE_INT): number | undefined {
  return o[key] === undefined ? undefined : uintField(o, key, max);
}
function strField(o: Record<string, unknown>, key: string): string {
  const v = o[key];
  if (typeof v !== 'string') {
    fail(`${key} must be a string, got ${describe(v)}`);
    return '';
  }
  return v;
}
function bytesField(o: Record<string, unknown>, key: string): Uint8Array {
  const v = o[key];
  if (!isBytes(v)) {
    fail(`${key} must be bin (bytes), got ${describe(v)}`);
    return EMPTY;
  }
  return v;
}
function regionField(o: Record<string, unknown>, key: string): RegionName {
  const v = o[key];
  switch (v) {
    case 'config': case 'bar0': case 'bar1': case 'bar2': case 'bar3': case 'bar4': case 'bar5':
      return v;
    default:
      fail(`${key} must be one of ${REGION_NAMES.join(', ')}, got ${describe(v)}`);
      return 'config';
  }
}

function isMessageType(t: unknown): t is MessageType {
  return typeof t === 'string' && (MESSAGE_TYPES as readonly string[]).includes(t);
}

function elementError(code: ErrorCode, msg: string, id: number | undefined, type: string | undefined): ProtocolError {
  const o: { id?: number; type?: string } = {};
  if (id !== undefined) o.id = id;
  if (type !== undefined) o.type = type;
  return protocolError(code, msg, o);
}

/** Validate one element of a frame received by `receiver`. */
export function decodeValue(v: unknown, receiver: Side): Message | ProtocolError {
  if (!isRecord(v)) return protocolError('bad_message', `message must be a map, got ${describe(v)}`);
  const rawId = v.id;
  let id: number | undefined;
  if (rawId !== undefined) {
    id = typeof rawId === 'number' && rawId >= 0 && rawId <= MAX_ID && Number.isInteger(rawId) ? rawId + 0 : wireUint(rawId, MAX_ID);
  }
  const t = v.t;
  const type = typeof t === 'string' ? t : undefined;
  if (rawId !== undefined && id === undefined) {
    return elementError('bad_message', `id must be a uint32, got ${describe(rawId)}`, undefined, type);
  }
  if (!isMessageType(t)) return elementError('unknown_type', `unknown message type ${describe(t)}`, id, type);
  const sender: Side = receiver === 'host' ? 'device' : 'host';
  if (!maySend(sender, t)) return elementError('unknown_type', `${t} may not be sent by the ${sender}`, id, type);
  fieldError = undefined;
  if (id === undefined && !POSTED[t] ) fail(`${t} is a request and needs an id`);
  const rid = id ?? 0;
  let m: Message;
  switch (t) {
    case 'hello': {
      const proto = uintField(v, 'proto');
      const maxFrame = uintField(v, 'maxFrame');
      const maxOutstanding = optUintField(v, 'maxOutstanding', MAX_ID);
      m = maxOutstanding === undefined ? { t, id: rid, proto, maxFrame } : { t, id: rid, proto, maxFrame, maxOutstanding };
      break;
    }
    case 'region_read':
      m = { t, id: rid, region: regionField(v, 'region'), off: uintField(v, 'off'), len: uintField(v, 'len') };
      break;
    case 'region_write': {
      const region = regionField(v, 'region');
      const off = uintField(v, 'off');
      const data = bytesField(v, 'data');
      m = id === undefined ? { t, region, off, data } : { t, id, region, off, data };
      break;
    }
    case 'dma_map': {
      const iova = uintField(v, 'iova');
      const len = uintField(v, 'len');
      const prot = uintField(v, 'prot', 3);
      if (prot !== 1 && prot !== 2 && prot !== 3) {
        fail(`prot must be 1 (read), 2 (write) or 3 (both), got ${describe(v.prot)}`);
        return elementError('bad_message', `${t}: ${fieldError ?? 'bad prot'}`, id, type);
      }
      m = { t, id: rid, iova, len, prot };
      break;
    }
    case 'dma_unmap':
      m = { t, id: rid, iova: uintField(v, 'iova'), len: uintField(v, 'len') };
      break;
    case 'dma_read':
      m = { t, id: rid, iova: uintField(v, 'iova'), len: uintField(v, 'len') };
      break;
    case 'dma_write':
      // A posted message's id is ignored (PROTOCOL.md "Malformed messages").
      m = { t, iova: uintField(v, 'iova'), data: bytesField(v, 'data') };
      break;
    case 'irq':
      m = { t, vec: uintField(v, 'vec', MAX_ID) };
      break;
    case 'reset':
      m = { t, id: rid };
      break;
    case 'bye':
      m = { t, reason: strField(v, 'reason') };
      break;
    case 'ok':
      if (id === undefined) fail('ok is an answer and needs an id');
      m = decodeOk(v, rid);
      break;
    case 'err':
      if (id === undefined) fail('err is an answer and needs an id');
      m = decodeErr(v, rid);
      break;
  }
  const e = fieldError;
  if (e !== undefined) {
    fieldError = undefined;
    return elementError('bad_message', `${t}: ${e}`, id, type);
  }
  return m;
}

function decodeOk(o: Record<string, unknown>, id: number): OkMsg {
  const data = o.data;
  // Fast path: the common answers carry nothing or only data.
  if (o.proto === undefined && o.maxFrame === undefined && o.maxOutstanding === undefined && o.info === undefined) {
    if (data === undefined) return { t: 'ok', id };
    if (isBytes(data)) return { t: 'ok', id, data };
  }
  const m: OkMsg = { t: 'ok', id };
  if (data !== undefined) m.data = bytesField(o, 'data');
  const proto = optUintField(o, 'proto');
  if (proto !== undefined) m.proto = proto;
  const maxFrame = optUintField(o, 'maxFrame');
  if (maxFrame !== undefined) m.maxFrame = maxFrame;
  const maxOutstanding = optUintField(o, 'maxOutstanding', MAX_ID);
  if (maxOutstanding !== undefined) m.maxOutstanding = maxOutstanding;
  if (o.info !== undefined) {
    const info = decodeInfo(o.info);
    if (typeof info === 'string') fail(`info: ${info}`);
    else m.info = info;
  }
  return m;
}

function decodeErr(o: Record<string, unknown>, id: number): ErrMsg {
  const rawCode = strField(o, 'code');
  const msg = strField(o, 'msg');
  // An unknown code from a newer peer is kept readable but mapped to a known one.
  if (fieldError === undefined && !isErrorCode(rawCode)) {
    return { t: 'err', id, code: 'internal', msg: `[${rawCode}] ${msg}` };
  }
  return { t: 'err', id, code: isErrorCode(rawCode) ? rawCode : 'internal', msg };
}

/** Validate `info` from the answer to hello. Returns a reason string when invalid. */
export function decodeInfo(v: unknown): DeviceInfo | string {
  if (!isRecord(v)) return `must be a map, got ${describe(v)}`;
  const f = new Fields(v);
  const vendor = f.uint('vendor', 0xffff);
  const device = f.uint('device', 0xffff);
  const subsystemVendor = f.uint('subsystemVendor', 0xffff);
  const subsystemDevice = f.uint('subsystemDevice', 0xffff);
  const classCode = f.uint('classCode', 0xff_ffff);
  if (f.error !== undefined) return f.error;
  if (!Array.isArray(v.regions)) return `regions must be an array, got ${describe(v.regions)}`;
  const regions: RegionInfo[] = [];
  for (let i = 0; i < v.regions.length; i++) {
    const r: unknown = v.regions[i];
    if (!isRecord(r)) return `regions[${i}] must be a map`;
    const rf = new Fields(r);
    const name = rf.region('name');
    const size = rf.uint('size');
    if (rf.error !== undefined) return `regions[${i}]: ${rf.error}`;
    if (!Array.isArray(r.flags)) return `regions[${i}].flags must be an array`;
    const flags: RegionFlag[] = [];
    for (const fl of r.flags as unknown[]) {
      if (fl === 'read' || fl === 'write') flags.push(fl);
      else return `regions[${i}].flags: unknown flag ${describe(fl)}`;
    }
    regions.push({ name, size, flags });
  }
  if (!isRecord(v.irqs)) return `irqs must be a map, got ${describe(v.irqs)}`;
  // PCI Local Bus 3.0 §6.8.2.3: MSI-X Table Size is 11 bits (N-1), so at most 2048 vectors.
  const msix = wireUint(v.irqs.msix, 2048);
  if (msix === undefined) return `irqs.msix must be an integer 0..2048, got ${describe(v.irqs.msix)}`;
  return { vendor, device, subsystemVendor, subsystemDevice, classCode, regions, irqs: { msix } };
}
