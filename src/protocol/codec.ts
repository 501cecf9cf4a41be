// msgpack codec and validation for protocol v1. The only place where wire
// values become typed messages: every field of every incoming message is
// checked (type, range, required/optional, direction) and anything else
// becomes a ProtocolError with a stable code. decodeFrame never throws.
import { Packr, Unpackr } from 'msgpackr';
import { protocolError, isErrorCode, type ProtocolError } from './errors.ts';
import {
  CloseCode, MAX_ID, MAX_WIRE_INT, REGION_NAMES, maySend,
  type DeviceInfo, type ErrMsg, type Message, type MessageType, type OkMsg, type RegionFlag,
  type RegionInfo, type RegionName, type Side, MESSAGE_TYPES,
} from './messages.ts';

// Plain maps on both ends: no msgpackr records/structures, so a peer cannot
// install decoder state (record definitions are per-unpack without shared
// structures). 64-bit integers decode as bigint and are range-checked below.
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** Encode one message (a msgpack map). The result may be a view into a shared buffer: do not modify it. */
export function encodeMessage(msg: Message): Uint8Array {
  return packr.pack(msg);
}

/** Encode a batch (a msgpack array of maps). */
export function encodeBatch(msgs: readonly Message[]): Uint8Array {
  return packr.pack(msgs);
}

/** Encode any value (tests build malformed frames with it). */
export function encodeValue(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** msgpack array header for `n` elements (used when concatenating pre-encoded messages). */
export function arrayHeader(n: number): Uint8Array {
  if (n < 16) return Uint8Array.of(0x90 | n);
  if (n < 0x10000) return Uint8Array.of(0xdc, n >>> 8, n & 0xff);
  return Uint8Array.of(0xdd, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}
export function arrayHeaderLength(n: number): number {
  return n < 16 ? 1 : n < 0x10000 ? 3 : 5;
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
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
    && Object.getPrototypeOf(v) === Object.prototype;
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

function isMessageType(t: unknown): t is MessageType {
  return typeof t === 'string' && (MESSAGE_TYPES as readonly string[]).includes(t);
}

/** Validate one element of a frame received by `receiver`. */
export function decodeValue(v: unknown, receiver: Side): Message | ProtocolError {
  if (!isRecord(v)) return protocolError('bad_message', `message must be a map, got ${describe(v)}`);
  const rawId = v.id;
  const idOk = rawId === undefined ? undefined : wireUint(rawId, MAX_ID);
  const t = v.t;
  const type = typeof t === 'string' ? t : undefined;
  const errOpts = (): { id?: number; type?: string } => {
    const o: { id?: number; type?: string } = {};
    if (idOk !== undefined) o.id = idOk;
    if (type !== undefined) o.type = type;
    return o;
  };
  if (rawId !== undefined && idOk === undefined) {
    return protocolError('bad_message', `id must be a uint32, got ${describe(rawId)}`, errOpts());
  }
  if (!isMessageType(t)) {
    return protocolError('unknown_type', `unknown message type ${describe(t)}`, errOpts());
  }
  const sender: Side = receiver === 'host' ? 'device' : 'host';
  if (!maySend(sender, t)) {
    return protocolError('unknown_type', `${t} may not be sent by the ${sender}`, errOpts());
  }
  const f = new Fields(v);
  const needId = (): number => {
    if (idOk === undefined) f.fail(`${t} is a request and needs an id`);
    return idOk ?? 0;
  };
  let m: Message;
  switch (t) {
    case 'hello': {
      const id = needId();
      const proto = f.uint('proto');
      const maxFrame = f.uint('maxFrame');
      const maxOutstanding = f.optUint('maxOutstanding', MAX_ID);
      m = maxOutstanding === undefined ? { t, id, proto, maxFrame } : { t, id, proto, maxFrame, maxOutstanding };
      break;
    }
    case 'region_read': {
      const id = needId();
      m = { t, id, region: f.region('region'), off: f.uint('off'), len: f.uint('len') };
      break;
    }
    case 'region_write': {
      const region = f.region('region');
      const off = f.uint('off');
      const data = f.bytes('data');
      m = idOk === undefined ? { t, region, off, data } : { t, id: idOk, region, off, data };
      break;
    }
    case 'dma_map': {
      const id = needId();
      const iova = f.uint('iova');
      const len = f.uint('len');
      const prot = f.uint('prot', 3);
      if (prot !== 1 && prot !== 2 && prot !== 3) {
        f.fail(`prot must be 1 (read), 2 (write) or 3 (both), got ${describe(v.prot)}`);
        return protocolError('bad_message', `${t}: ${f.error ?? 'bad prot'}`, errOpts());
      }
      m = { t, id, iova, len, prot };
      break;
    }
    case 'dma_unmap':
      m = { t, id: needId(), iova: f.uint('iova'), len: f.uint('len') };
      break;
    case 'dma_read':
      m = { t, id: needId(), iova: f.uint('iova'), len: f.uint('len') };
      break;
    case 'dma_write':
      // A posted message's id is ignored (PROTOCOL.md "Malformed messages").
      m = { t, iova: f.uint('iova'), data: f.bytes('data') };
      break;
    case 'irq':
      m = { t, vec: f.uint('vec', MAX_ID) };
      break;
    case 'reset':
      m = { t, id: needId() };
      break;
    case 'bye':
      m = { t, reason: f.str('reason') };
      break;
    case 'ok':
      m = decodeOk(f, needId());
      break;
    case 'err':
      m = decodeErr(f, needId());
      break;
  }
  if (f.error !== undefined) return protocolError('bad_message', `${t}: ${f.error}`, errOpts());
  return m;
}

function decodeOk(f: Fields, id: number): OkMsg {
  const m: OkMsg = { t: 'ok', id };
  const data = f.optBytes('data');
  if (data !== undefined) m.data = data;
  const proto = f.optUint('proto');
  if (proto !== undefined) m.proto = proto;
  const maxFrame = f.optUint('maxFrame');
  if (maxFrame !== undefined) m.maxFrame = maxFrame;
  const maxOutstanding = f.optUint('maxOutstanding', MAX_ID);
  if (maxOutstanding !== undefined) m.maxOutstanding = maxOutstanding;
  if (f.o.info !== undefined) {
    const info = decodeInfo(f.o.info);
    if (typeof info === 'string') f.fail(`info: ${info}`);
    else m.info = info;
  }
  return m;
}

function decodeErr(f: Fields, id: number): ErrMsg {
  const rawCode = f.str('code');
  const msg = f.str('msg');
  // An unknown code from a newer peer is kept readable but mapped to a known one.
  if (f.error === undefined && !isErrorCode(rawCode)) {
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
