// Wire protocol v1 message shapes (docs/protocol.md, ../shared/design/PROTOCOL.md).
//
// Modelled on vfio-user: the host plays the VMM/kernel, the device daemon the
// PCI function. Every message is a msgpack map with `t`; a message that wants
// an answer carries `id` (uint32, unique among the sender's outstanding
// requests) and is answered by `ok` or `err` with the same `id`.
//
// These types describe *validated* messages: src/protocol/codec.ts is the only
// place that turns wire bytes into them, and it checks every field.

/** Protocol version carried in `hello.proto`. */
export const PROTOCOL_VERSION = 1;
/** WebSocket subprotocol (Sec-WebSocket-Protocol). */
export const SUBPROTOCOL = 'nvmelab.v1';
/** Default and limits for `maxFrame` (bytes of one WebSocket message payload). */
export const DEFAULT_MAX_FRAME = 1 << 20;
/** Smallest `maxFrame` a peer may negotiate: room for a 4 KiB page plus envelope. */
export const MIN_MAX_FRAME = 8192;
/** Largest `maxFrame` we accept (64 MiB); anything above is clamped. */
export const MAX_MAX_FRAME = 64 << 20;
/** Default cap on a sender's unanswered requests (PROTOCOL.md "Flow control"). */
export const DEFAULT_MAX_OUTSTANDING = 1024;
/** Upper bound for a negotiated `maxOutstanding` (ids are uint32, but keep tables small). */
export const MAX_MAX_OUTSTANDING = 65536;
/**
 * Bytes reserved in a frame for the msgpack envelope around a data payload
 * (map header, keys, ids, addresses). A device splits DMA so that
 * `data.length <= maxFrame - FRAME_ENVELOPE` (PROTOCOL.md "DMA size").
 */
export const FRAME_ENVELOPE = 256;
/** Addresses, offsets and lengths are unsigned integers below 2^53. */
export const MAX_WIRE_INT = Number.MAX_SAFE_INTEGER; // 2^53 - 1
/** Request ids are uint32. */
export const MAX_ID = 0xffff_ffff;

/** WebSocket close codes used by the protocol (PROTOCOL.md "Close codes"). */
export const CloseCode = {
  /** Normal closure, after `bye`. */
  normal: 1000,
  /** Frame above the negotiated `maxFrame` (RFC 6455 "message too big"). */
  tooBig: 1009,
  /** Protocol error: a frame that could not be parsed at all, or state violation before/at hello. */
  protocolError: 4400,
  /** Busy: another host is attached. */
  busy: 4409,
  /** Device removed (hot-unplug or surprise removal). */
  removed: 4410,
} as const;
export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];

/** Which end of the link a party is. */
export type Side = 'host' | 'device';

/** Stable error codes carried in `err.code` and in ProtocolError.code. */
export const ERROR_CODES = [
  'bad_message', 'unknown_type', 'state', 'version', 'bounds', 'size', 'iommu', 'exists', 'busy', 'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Region names: PCI config space and the six BARs. */
export const REGION_NAMES = ['config', 'bar0', 'bar1', 'bar2', 'bar3', 'bar4', 'bar5'] as const;
export type RegionName = (typeof REGION_NAMES)[number];
export type RegionFlag = 'read' | 'write';

/** DMA window permissions (`dma_map.prot`): 1 read, 2 write, 3 both — from the device's view. */
export const DmaProt = { read: 1, write: 2, readWrite: 3 } as const;
export type DmaProtValue = 1 | 2 | 3;

export interface RegionInfo {
  name: RegionName;
  /** Size in bytes (config: 4096). */
  size: number;
  flags: RegionFlag[];
}

/** `info` in the answer to `hello`: what the PCI function is. */
export interface DeviceInfo {
  vendor: number;          // u16
  device: number;          // u16
  subsystemVendor: number; // u16
  subsystemDevice: number; // u16
  /** 24-bit class code, e.g. 0x010802 for NVMe. */
  classCode: number;
  regions: RegionInfo[];
  irqs: { msix: number };
}

// ---------------------------------------------------------------------------
// Messages. `id` is optional on every type in these shapes: the channel
// allocates ids for outgoing requests, and the codec guarantees that an
// incoming request (non-posted type, or region_write asking for ok) has one.

/** host → device: open the session. Must be the first message. */
export interface HelloMsg {
  t: 'hello';
  id?: number;
  proto: number;
  maxFrame: number;
  /** Extension of PROTOCOL.md "Flow control": the host's cap. Defaults to 1024. */
  maxOutstanding?: number;
}
/** host → device: read `len` bytes of `region` at `off`. Answer: ok with `data`. */
export interface RegionReadMsg { t: 'region_read'; id?: number; region: RegionName; off: number; len: number }
/** host → device, posted: write `data` to `region` at `off`. An `id` asks for an `ok`. */
export interface RegionWriteMsg { t: 'region_write'; id?: number; region: RegionName; off: number; data: Uint8Array }
/** host → device: announce an IOMMU window. */
export interface DmaMapMsg { t: 'dma_map'; id?: number; iova: number; len: number; prot: DmaProtValue }
/** host → device: remove a window; after `ok` the device no longer touches it. */
export interface DmaUnmapMsg { t: 'dma_unmap'; id?: number; iova: number; len: number }
/** device → host: read host memory. Answer: ok with `data`, or err `iommu`/`size`. */
export interface DmaReadMsg { t: 'dma_read'; id?: number; iova: number; len: number }
/** device → host, posted: write host memory. */
export interface DmaWriteMsg { t: 'dma_write'; id?: number; iova: number; data: Uint8Array }
/** device → host, posted: MSI-X message for vector `vec`. */
export interface IrqMsg { t: 'irq'; id?: number; vec: number }
/** host → device: function-level reset. Answer: ok when done. */
export interface ResetMsg { t: 'reset'; id?: number }
/** either side, posted: the sender is leaving and closes with 1000. */
export interface ByeMsg { t: 'bye'; id?: number; reason: string }

/**
 * Success answer. Which optional fields are present depends on the request:
 * region_read / dma_read → `data`; hello → `proto`, `maxFrame`,
 * `maxOutstanding`, `info`. The channel checks this per request type.
 */
export interface OkMsg {
  t: 'ok';
  id: number;
  data?: Uint8Array;
  proto?: number;
  maxFrame?: number;
  maxOutstanding?: number;
  info?: DeviceInfo;
}
/** Failure answer. */
export interface ErrMsg { t: 'err'; id: number; code: ErrorCode; msg: string }

export type Message =
  | HelloMsg | RegionReadMsg | RegionWriteMsg | DmaMapMsg | DmaUnmapMsg
  | DmaReadMsg | DmaWriteMsg | IrqMsg | ResetMsg | ByeMsg | OkMsg | ErrMsg;
export type MessageType = Message['t'];
export type MessageOf<T extends MessageType> = Extract<Message, { t: T }>;

export const MESSAGE_TYPES: readonly MessageType[] = [
  'hello', 'region_read', 'region_write', 'dma_map', 'dma_unmap', 'dma_read', 'dma_write', 'irq', 'reset', 'bye', 'ok', 'err',
];

/** Types that are answered (non-posted). region_write with an `id` is also answered. */
export type RequestType = 'hello' | 'region_read' | 'region_write' | 'dma_map' | 'dma_unmap' | 'dma_read' | 'reset';
/** Types that have no answer. region_write without an `id` is posted. */
export type PostedType = 'region_write' | 'dma_write' | 'irq' | 'bye';
export type RequestMessage = MessageOf<RequestType>;
export type PostedMessage = MessageOf<PostedType>;
export type ReplyMessage = OkMsg | ErrMsg;

/** Which side may send which type (PROTOCOL.md "Messages" table). */
export const SENT_BY: Readonly<Record<MessageType, 'host' | 'device' | 'either'>> = {
  hello: 'host',
  region_read: 'host',
  region_write: 'host',
  dma_map: 'host',
  dma_unmap: 'host',
  dma_read: 'device',
  dma_write: 'device',
  irq: 'device',
  reset: 'host',
  bye: 'either',
  ok: 'either',
  err: 'either',
};

/** Posted types: never answered (except region_write carrying an id). */
export const POSTED: Readonly<Record<MessageType, boolean>> = {
  hello: false,
  region_read: false,
  region_write: true,
  dma_map: false,
  dma_unmap: false,
  dma_read: false,
  dma_write: true,
  irq: true,
  reset: false,
  bye: true,
  ok: true,
  err: true,
};

/** True when `side` may send a message of type `t`. */
export function maySend(side: Side, t: MessageType): boolean {
  // A switch rather than a SENT_BY lookup: this runs for every message sent and received.
  switch (t) {
    case 'ok': case 'err': case 'bye':
      return true;
    case 'dma_read': case 'dma_write': case 'irq':
      return side === 'device';
    case 'hello': case 'region_read': case 'region_write': case 'dma_map': case 'dma_unmap': case 'reset':
      return side === 'host';
    default:
      return false;
  }
}

/** True when a message of this type/id expects an answer. */
export function wantsReply(m: Message): boolean {
  if (m.t === 'region_write') return m.id !== undefined;
  return !POSTED[m.t];
}

/** Typed shape of the `ok` answering each request type (checked by the channel). */
export interface HelloOk extends OkMsg { proto: number; maxFrame: number; maxOutstanding: number; info: DeviceInfo }
export interface DataOk extends OkMsg { data: Uint8Array }
export interface ReplyMap {
  hello: HelloOk;
  region_read: DataOk;
  region_write: OkMsg;
  dma_map: OkMsg;
  dma_unmap: OkMsg;
  dma_read: DataOk;
  reset: OkMsg;
}
export type ReplyOf<T extends RequestType> = ReplyMap[T];

/** Result of the host's hello handshake (Channel.hello). */
export interface HelloResult {
  proto: number;
  maxFrame: number;
  maxOutstanding: number;
  info: DeviceInfo;
}
