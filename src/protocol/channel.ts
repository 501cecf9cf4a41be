// The protocol channel: one per connection, on either side. It corks the
// messages sent within one event-loop turn into one frame, correlates
// request ids, enforces maxFrame and maxOutstanding, decodes and applies
// incoming frames strictly in order, and guarantees that every incoming
// request is answered exactly once (libvfio-user's "one dispatch that always
// answers"). See docs/protocol.md.
//
// Ordering (PROTOCOL.md "Ordering, as on PCIe"): incoming messages are handed
// to the handlers synchronously, in frame order and batch order. A device
// model (or host PCI core) MUST apply a posted write inside its onPosted call
// (synchronously), and then a later read in the same or a later frame sees it:
// a read is never answered before the posted writes sent before it took effect.
// Outgoing messages leave in the order they were posted/requested, including
// across the outgoing request queue (see maxQueued).
import type { Logger } from '../util/log.ts';
import { silentLogger } from '../util/log.ts';
import { arrayHeaderLength, decodeFrame, encodeMessageTransient, writeArrayHeader } from './codec.ts';
import { ChannelClosedError, ProtocolError, protocolError, type ErrorCode } from './errors.ts';
import {
  CloseCode, DEFAULT_MAX_FRAME, DEFAULT_MAX_OUTSTANDING, FRAME_ENVELOPE, MAX_ID, MAX_MAX_FRAME,
  MAX_MAX_OUTSTANDING, MIN_MAX_FRAME, PROTOCOL_VERSION, maySend,
  type DeviceInfo, type ErrMsg, type HelloMsg, type HelloResult, type Message, type OkMsg,
  type PostedMessage, type ReplyOf, type RequestMessage, type RequestType, type Side,
} from './messages.ts';
import type { Transport } from './transport.ts';

export interface ChannelOptions {
  /** Which end this channel is; decides which message types it may send and receive. */
  side: Side;
  logger?: Logger;
  /**
   * Largest frame this end accepts and sends (default 1 MiB). The host
   * proposes it in hello; both ends then use min(host, device). The
   * transport's own limit (ws maxPayload) should be at least this.
   */
  maxFrame?: number;
  /**
   * Most incoming requests this end holds unanswered (default 1024);
   * announced to the peer in hello / its answer, excess answered `err busy`.
   */
  maxOutstanding?: number;
  /**
   * Outgoing requests beyond the peer's maxOutstanding wait in a FIFO with
   * at most this many entries (default 65536). Once anything waits, later
   * posted messages wait behind it too, so order is kept. Beyond the bound a
   * request fails with `busy` and post() returns false.
   */
  maxQueued?: number;
  /** Device side: the function's description, sent in the answer to hello. */
  info?: DeviceInfo | (() => DeviceInfo);
}

/** Callback for the no-promise request path. Exactly one of err / reply is set. */
export type ReplyCallback<R> = (err: ProtocolError | undefined, reply: R | undefined) => void;

/** Fields of an `ok` answer (id and t are filled in). */
export interface OkFields {
  data?: Uint8Array;
}

/**
 * Handle to answer one incoming request. The channel guarantees an answer
 * exactly once: later calls are ignored, a handler that throws before
 * answering gets `err internal` sent for it. Answers after the connection
 * closed are dropped.
 */
export class Reply {
  private answered = false;
  constructor(
    private readonly ch: Channel,
    /** The request id. */
    readonly id: number,
    private readonly gen: number,
  ) {}
  /** True once answered. */
  get done(): boolean {
    return this.answered;
  }
  /** Answer `ok` (optionally with `data`). */
  ok(fields?: OkFields): void {
    if (this.answered) return;
    this.answered = true;
    this.ch.sendReply(this.gen, this.id, fields?.data);
  }
  /** Answer `ok` with `data` (region_read, dma_read). */
  data(bytes: Uint8Array): void {
    if (this.answered) return;
    this.answered = true;
    this.ch.sendReply(this.gen, this.id, bytes);
  }
  /** Answer `err` with a stable code and a human sentence. */
  err(code: ErrorCode, msg: string): void {
    if (this.answered) return;
    this.answered = true;
    this.ch.sendError(this.gen, this.id, code, msg);
  }
}

/** Incoming request handler. Answer through `reply`, now or later. */
export type RequestHandler = (msg: RequestMessage, reply: Reply) => void;
/** Incoming posted message handler (region_write without id, dma_write, irq). Apply synchronously. */
export type PostedHandler = (msg: PostedMessage) => void;
export type CloseHandler = (code: number, reason: string) => void;

/** Statistics; monotonically increasing except `inFlight`/`queued`/`incoming`. */
export interface ChannelCounters {
  framesIn: number;
  framesOut: number;
  msgsIn: number;
  msgsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Malformed elements and fatal frames received. */
  malformed: number;
  /** Fatal frames (close 4400/1009). */
  fatalFrames: number;
  errSent: number;
  errReceived: number;
  /** Incoming requests answered `busy` because maxOutstanding was reached. */
  busyRejected: number;
  /** Outgoing requests that had to wait for the peer's maxOutstanding. */
  requestsQueued: number;
  /** Outgoing messages refused because the wait queue was full or the channel closed. */
  outDropped: number;
  /** ok/err whose id matched no outstanding request. */
  unmatchedReplies: number;
  /** Handlers that threw. */
  handlerErrors: number;
  /** Outgoing requests sent and not yet answered. */
  inFlight: number;
  /** Outgoing messages waiting for the peer's maxOutstanding. */
  queued: number;
  /** Incoming requests not yet answered. */
  incoming: number;
}

interface Pending {
  type: RequestType;
  /** Expected data length for reads. */
  len: number;
  sent: boolean;
  cb: ReplyCallback<OkMsg>;
}

type State = 'open' | 'closed';

const MAX_LOGGED_MALFORMED = 20;

/**
 * A corked frame's buffer, recycled once the transport reports (sendOwned's
 * callback) that it no longer refers to it: ws sends Buffers without copying
 * and the socket may hold them until written. Allocating one per frame was a
 * large-object allocation per frame (docs/perf.md "Device data path").
 * Messages are copied into it when sent (corkChunk), so the encoder's output
 * can be transient and the frame needs no second copy at flush.
 */
interface FrameBuf {
  readonly buf: Buffer;
  readonly done: (err?: Error | null) => void;
}
/** Bytes kept free before a frame's first message: the largest msgpack array header (array32). */
const FRAME_HEADROOM = 5;
/** Smallest frame buffer (a turn's small messages usually fit). */
const MIN_FRAME_BUF = 16 * 1024;
/** Idle frame buffers kept per size class (at least 2). */
const FRAME_POOL_BYTES_PER_CLASS = 4 * 1024 * 1024;

export class Channel {
  readonly side: Side;
  readonly counters: ChannelCounters = {
    framesIn: 0, framesOut: 0, msgsIn: 0, msgsOut: 0, bytesIn: 0, bytesOut: 0, malformed: 0, fatalFrames: 0,
    errSent: 0, errReceived: 0, busyRejected: 0, requestsQueued: 0, outDropped: 0, unmatchedReplies: 0,
    handlerErrors: 0, inFlight: 0, queued: 0, incoming: 0,
  };

  private readonly log: Logger;
  private readonly transport: Transport;
  private state: State = 'open';
  /** Bumped on close so stale Reply handles become no-ops. */
  private gen = 0;
  private closeInfo: { code: number; reason: string } | undefined;

  // Negotiated limits.
  private ownMaxFrame: number;
  private frameLimit: number;
  private ownMaxOutstanding: number;
  private peerMaxOutstanding = DEFAULT_MAX_OUTSTANDING;
  private readonly maxQueued: number;
  private helloDone = false;
  private negotiated: HelloResult | undefined;
  private readonly info: DeviceInfo | (() => DeviceInfo) | undefined;

  // Outgoing requests.
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  // Free frame buffers by power-of-two class (index = log2 size), see takeFrameBuf.
  private readonly freeFrames: FrameBuf[][] = [];
  // Cork: the messages sent this turn, copied at once into one frame buffer
  // after FRAME_HEADROOM bytes (room for the array header written at flush).
  private corkBuf: FrameBuf | undefined;
  private corkEnd = FRAME_HEADROOM;
  private corkCount = 0;
  private corkBytes = 0;
  private flushScheduled: NodeJS.Immediate | undefined;
  // Wait queue (FIFO) for messages behind a request over the peer's cap. id -1 = posted.
  private waitChunks: Uint8Array[] = [];
  private waitIds: number[] = [];
  private waitHead = 0;

  // Incoming requests not answered yet.
  private readonly incomingIds = new Set<number>();

  private requestHandler: RequestHandler | undefined;
  private postedHandler: PostedHandler | undefined;
  private readonly closeHandlers: CloseHandler[] = [];
  private readonly helloHandlers: ((msg: HelloMsg, result: HelloResult) => void)[] = [];

  private readonly flushCb = (): void => {
    this.flushScheduled = undefined;
    this.flush();
  };

  constructor(transport: Transport, opts: ChannelOptions) {
    this.side = opts.side;
    this.transport = transport;
    this.log = (opts.logger ?? silentLogger).child({ component: 'channel', side: opts.side });
    this.ownMaxFrame = clamp(opts.maxFrame ?? DEFAULT_MAX_FRAME, MIN_MAX_FRAME, MAX_MAX_FRAME);
    this.frameLimit = this.ownMaxFrame;
    this.ownMaxOutstanding = clamp(opts.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING, 1, MAX_MAX_OUTSTANDING);
    this.maxQueued = Math.max(0, opts.maxQueued ?? 65536);
    this.info = opts.info;
    transport.onFrame((f) => this.onFrame(f));
    transport.onClose((code, reason) => this.finish(code, reason));
  }

  // -------------------------------------------------------------------------
  // Public API

  /** True until closed (locally, by the peer, or by bye). */
  get open(): boolean {
    return this.state === 'open';
  }
  /** Close code and reason once closed. */
  get closed(): { code: number; reason: string } | undefined {
    return this.closeInfo;
  }
  /** Negotiated frame limit (bytes): frames sent and accepted are at most this. */
  get maxFrame(): number {
    return this.frameLimit;
  }
  /** Largest `data` payload that fits a frame with its envelope (DMA split size, PROTOCOL.md "DMA size"). */
  get maxPayload(): number {
    return this.frameLimit - FRAME_ENVELOPE;
  }
  /** The peer's announced cap on our outstanding requests. */
  get maxOutstandingOut(): number {
    return this.peerMaxOutstanding;
  }
  /** Result of the hello handshake, once done (both sides). */
  get session(): HelloResult | undefined {
    return this.negotiated;
  }

  /** Set the handler for incoming requests (device: region_read, region_write with id, dma_map, dma_unmap, reset; host: dma_read). */
  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }
  /** Set the handler for incoming posted messages (device: region_write; host: dma_write, irq). */
  onPosted(handler: PostedHandler): void {
    this.postedHandler = handler;
  }
  /** Add a close listener (called once, with the close code: 1000 after bye, 4410 removal, …). */
  onClose(handler: CloseHandler): void {
    if (this.closeInfo !== undefined) {
      const c = this.closeInfo;
      queueMicrotask(() => handler(c.code, c.reason));
      return;
    }
    this.closeHandlers.push(handler);
  }
  /** Device side: called after a hello was accepted and answered. */
  onHello(handler: (msg: HelloMsg, result: HelloResult) => void): void {
    this.helloHandlers.push(handler);
  }

  /**
   * Host side: the hello handshake. Proposes `maxFrame` / `maxOutstanding`
   * (defaults: the channel's options), applies the negotiated values, and
   * returns them with the device's `info`. Await it before anything else.
   */
  async hello(opts: { maxFrame?: number; maxOutstanding?: number } = {}): Promise<HelloResult> {
    if (this.side !== 'host') throw protocolError('state', 'only the host sends hello');
    if (this.helloDone) throw protocolError('state', 'hello already done');
    if (opts.maxFrame !== undefined) {
      this.ownMaxFrame = clamp(opts.maxFrame, MIN_MAX_FRAME, MAX_MAX_FRAME);
      this.frameLimit = this.ownMaxFrame;
    }
    if (opts.maxOutstanding !== undefined) this.ownMaxOutstanding = clamp(opts.maxOutstanding, 1, MAX_MAX_OUTSTANDING);
    const proposal: HelloMsg = {
      t: 'hello', proto: PROTOCOL_VERSION, maxFrame: this.ownMaxFrame, maxOutstanding: this.ownMaxOutstanding,
    };
    const ok = await this.request(proposal);
    if (ok.proto !== PROTOCOL_VERSION) {
      const e = protocolError('version', `device speaks protocol ${ok.proto}, we speak ${PROTOCOL_VERSION}`);
      this.close(CloseCode.protocolError, 'version mismatch');
      throw e;
    }
    if (ok.maxFrame < MIN_MAX_FRAME || ok.maxFrame > this.ownMaxFrame) {
      const e = protocolError('bad_message', `device answered maxFrame ${ok.maxFrame}, outside [${MIN_MAX_FRAME}, ${this.ownMaxFrame}]`);
      this.close(CloseCode.protocolError, 'bad maxFrame');
      throw e;
    }
    this.frameLimit = ok.maxFrame;
    this.peerMaxOutstanding = clamp(ok.maxOutstanding, 1, MAX_MAX_OUTSTANDING);
    this.helloDone = true;
    this.negotiated = { proto: ok.proto, maxFrame: ok.maxFrame, maxOutstanding: this.peerMaxOutstanding, info: ok.info };
    return this.negotiated;
  }

  /**
   * Send a request and get its `ok` (rejects with ProtocolError for `err`,
   * ChannelClosedError when the link closes or says bye first). The channel
   * sets `msg.id`. The message is encoded at once, so the caller may reuse
   * `msg` and its data afterwards.
   */
  request<T extends RequestType>(msg: RequestMessage & { t: T }): Promise<ReplyOf<T>> {
    return new Promise<ReplyOf<T>>((resolve, reject) => {
      this.requestCb<T>(msg, (err, reply) => {
        if (reply !== undefined) resolve(reply);
        else reject(err ?? protocolError('internal', 'request failed without an error'));
      });
    });
  }

  /**
   * The no-promise request path for hot code: `cb(err, reply)` is called
   * exactly once, never synchronously from inside requestCb except when the
   * channel is already closed, the message is oversize, or the queue is full.
   */
  requestCb<T extends RequestType>(msg: RequestMessage & { t: T }, cb: ReplyCallback<ReplyOf<T>>): void {
    if (this.state !== 'open') {
      cb(this.closedError(), undefined);
      return;
    }
    if (!maySend(this.side, msg.t)) {
      cb(protocolError('unknown_type', `the ${this.side} may not send ${msg.t}`), undefined);
      return;
    }
    const id = this.allocId();
    msg.id = id;
    const chunk = encodeMessageTransient(msg);
    if (chunk.length + 5 > this.frameLimit) {
      cb(protocolError('size', `${msg.t} of ${chunk.length} bytes does not fit maxFrame ${this.frameLimit}`), undefined);
      return;
    }
    const m: RequestMessage = msg;
    const len = m.t === 'region_read' || m.t === 'dma_read' ? m.len : -1;
    // SAFETY of the cast: handleReply validates the ok's shape per request type
    // (validateReply) before calling cb, which is what ReplyOf<T> promises.
    const p: Pending = { type: msg.t, len, sent: false, cb: cb as ReplyCallback<OkMsg> };
    if (!this.enqueueOut(chunk, id, p)) {
      this.counters.outDropped++;
      cb(protocolError('busy', `outgoing queue full (${this.maxQueued} waiting for the peer's maxOutstanding)`), undefined);
      return;
    }
    this.pending.set(id, p);
  }

  /**
   * Send a posted message (region_write without id, dma_write, irq, bye).
   * Returns false when it was dropped: channel closed, or the wait queue full.
   * Throws ProtocolError (local misuse) for a message that can never fit a
   * frame, a type this side may not send, or a posted message with an id.
   */
  post(msg: PostedMessage): boolean {
    if (this.state !== 'open') {
      this.counters.outDropped++;
      return false;
    }
    if (!maySend(this.side, msg.t)) throw protocolError('unknown_type', `the ${this.side} may not send ${msg.t}`);
    if (msg.id !== undefined) throw protocolError('state', 'post() sends without id; use request() for an answered region_write');
    const chunk = encodeMessageTransient(msg);
    if (chunk.length + 5 > this.frameLimit) {
      throw protocolError('size', `${msg.t} of ${chunk.length} bytes does not fit maxFrame ${this.frameLimit} (split it, see maxPayload)`);
    }
    if (!this.enqueueOut(chunk, -1, undefined)) {
      this.counters.outDropped++;
      this.log.warn({ t: msg.t }, 'posted message dropped: outgoing queue full');
      return false;
    }
    return true;
  }

  /** Send everything corked now instead of at the end of the turn. */
  flush(): void {
    if (this.flushScheduled !== undefined) {
      clearImmediate(this.flushScheduled);
      this.flushScheduled = undefined;
    }
    const n = this.corkCount;
    const fb = this.corkBuf;
    if (n === 0 || fb === undefined) return;
    // One message goes alone (a map); several as an array (PROTOCOL.md "Frames"),
    // its header written right before the first message.
    const hl = n === 1 ? 0 : arrayHeaderLength(n);
    const start = FRAME_HEADROOM - hl;
    if (n > 1) writeArrayHeader(fb.buf, n, start);
    const frame = fb.buf.subarray(start, this.corkEnd);
    this.counters.framesOut++;
    this.counters.msgsOut += n;
    this.counters.bytesOut += frame.length;
    this.corkBuf = undefined;
    this.corkEnd = FRAME_HEADROOM;
    this.corkCount = 0;
    this.corkBytes = 0;
    if (this.transport.sendOwned !== undefined) {
      this.transport.sendOwned(frame, fb.done);
      return;
    }
    // A transport that may keep the bytes without telling when it is done
    // (e.g. a wrapper forwarding only send): give it an exact copy (small
    // ones come from Node's Buffer pool) and keep the cork buffer.
    const copy = Buffer.allocUnsafe(frame.length);
    copy.set(frame, 0);
    fb.done();
    this.transport.send(copy);
  }

  /** A free frame buffer of at least `size` bytes (power-of-two classes), or a new one. */
  private takeFrameBuf(size: number): FrameBuf {
    const k = 32 - Math.clz32(size - 1);
    const free = this.freeFrames[k];
    const fb = free?.pop();
    if (fb !== undefined) return fb;
    const bytes = 1 << k;
    const fresh: FrameBuf = {
      buf: Buffer.allocUnsafeSlow(bytes),
      done: (err) => {
        // Reuse only after the transport said it is done with the bytes, and never after an error.
        if (err !== undefined && err !== null) return;
        let list = this.freeFrames[k];
        if (list === undefined) {
          list = [];
          this.freeFrames[k] = list;
        }
        if (list.length < Math.max(2, FRAME_POOL_BYTES_PER_CLASS / bytes)) list.push(fresh);
      },
    };
    return fresh;
  }

  /**
   * UNSAFE — fault fixtures only: send `frame` as one raw WebSocket frame (text when a
   * string), bypassing encoding, validation and corking (corked messages go first, so
   * order is kept). Lets a hostile-device fixture put malformed frames on the wire.
   */
  sendRaw(frame: Uint8Array | string): void {
    this.flush();
    (this.transport.send as (f: Uint8Array | string) => void)(frame);
  }

  /** Say goodbye: post `bye`, flush, close with 1000. Outstanding requests fail. */
  bye(reason = 'bye'): void {
    if (this.state !== 'open') return;
    this.post({ t: 'bye', reason });
    this.close(CloseCode.normal, reason);
  }

  /**
   * Close the connection now with `code` (after flushing what is corked).
   * Outstanding requests fail with ChannelClosedError at once.
   */
  close(code: number = CloseCode.normal, reason = ''): void {
    if (this.state !== 'open') return;
    this.flush();
    this.transport.close(code, reason);
    this.finish(code, reason);
  }

  // -------------------------------------------------------------------------
  // Outgoing internals

  private allocId(): number {
    // uint32 ids, unique among outstanding requests (PROTOCOL.md "Messages").
    for (;;) {
      const id = this.nextId;
      this.nextId = id >= MAX_ID ? 0 : id + 1;
      if (!this.pending.has(id)) return id;
    }
  }

  /** Cork or queue an encoded message. id -1 = posted. */
  private enqueueOut(chunk: Uint8Array, id: number, p: Pending | undefined): boolean {
    const waiting = this.waitChunks.length - this.waitHead;
    if (waiting > 0 || (p !== undefined && this.counters.inFlight >= this.peerMaxOutstanding)) {
      if (waiting >= this.maxQueued) return false;
      // A copy: chunk may be the encoder's transient buffer (Buffer.from copies; Buffer#slice would not).
      this.waitChunks.push(Buffer.from(chunk));
      this.waitIds.push(id);
      this.counters.queued = waiting + 1;
      if (p !== undefined) this.counters.requestsQueued++;
      return true;
    }
    if (p !== undefined) {
      p.sent = true;
      this.counters.inFlight++;
    }
    this.corkChunk(chunk);
    return true;
  }

  /** Copy an encoded message into this turn's frame (chunk may be transient). */
  private corkChunk(chunk: Uint8Array): void {
    // Split so that no frame exceeds the negotiated maxFrame.
    if (this.corkCount > 0 && arrayHeaderLength(this.corkCount + 1) + this.corkBytes + chunk.length > this.frameLimit) {
      this.flush();
    }
    let fb = this.corkBuf;
    const end = this.corkEnd + chunk.length;
    if (fb === undefined) {
      fb = this.takeFrameBuf(Math.max(end, MIN_FRAME_BUF));
      this.corkBuf = fb;
    } else if (end > fb.buf.length) {
      // Outgrown (never sent yet): move to a larger buffer, recycle this one.
      const bigger = this.takeFrameBuf(Math.max(end, 2 * fb.buf.length));
      bigger.buf.set(fb.buf.subarray(0, this.corkEnd), 0);
      fb.done();
      fb = bigger;
      this.corkBuf = fb;
    }
    fb.buf.set(chunk, this.corkEnd);
    this.corkEnd = end;
    this.corkCount++;
    this.corkBytes += chunk.length;
    if (this.flushScheduled === undefined) this.flushScheduled = setImmediate(this.flushCb);
  }

  /** Move waiting messages to the cork while the peer's cap allows. */
  private drainWait(): void {
    while (this.waitHead < this.waitChunks.length) {
      const id = this.waitIds[this.waitHead] ?? -1;
      let p: Pending | undefined;
      if (id >= 0) {
        p = this.pending.get(id);
        if (p !== undefined && this.counters.inFlight >= this.peerMaxOutstanding) break;
      }
      const chunk = this.waitChunks[this.waitHead];
      this.waitHead++;
      if (chunk === undefined) continue;
      if (p !== undefined) {
        p.sent = true;
        this.counters.inFlight++;
      }
      // A request whose pending entry vanished (channel closed) is skipped.
      if (id < 0 || p !== undefined) this.corkChunk(chunk);
    }
    if (this.waitHead === this.waitChunks.length) {
      this.waitChunks = [];
      this.waitIds = [];
      this.waitHead = 0;
    } else if (this.waitHead > 1024 && this.waitHead * 2 > this.waitChunks.length) {
      this.waitChunks = this.waitChunks.slice(this.waitHead);
      this.waitIds = this.waitIds.slice(this.waitHead);
      this.waitHead = 0;
    }
    this.counters.queued = this.waitChunks.length - this.waitHead;
  }

  /** Called by Reply. */
  sendReply(gen: number, id: number, data: Uint8Array | undefined): void {
    if (!this.settleIncoming(gen, id)) return;
    const msg: OkMsg = data === undefined ? { t: 'ok', id } : { t: 'ok', id, data };
    this.sendAnswer(msg);
  }

  /** Called by Reply. */
  sendError(gen: number, id: number, code: ErrorCode, text: string): void {
    if (!this.settleIncoming(gen, id)) return;
    this.sendErr(id, code, text);
  }

  private settleIncoming(gen: number, id: number): boolean {
    if (gen !== this.gen || this.state !== 'open') return false;
    if (this.incomingIds.delete(id)) this.counters.incoming--;
    return true;
  }

  private sendErr(id: number, code: ErrorCode, text: string): void {
    if (this.state !== 'open') return;
    this.counters.errSent++;
    const msg: ErrMsg = { t: 'err', id, code, msg: text };
    this.sendAnswer(msg);
  }

  private sendAnswer(msg: OkMsg | ErrMsg): void {
    let chunk = encodeMessageTransient(msg);
    if (chunk.length + 5 > this.frameLimit) {
      // A handler answered with more data than fits: tell the peer instead of
      // sending a frame it must refuse (PROTOCOL.md "DMA size").
      this.counters.errSent++;
      chunk = encodeMessageTransient({ t: 'err', id: msg.id, code: 'size', msg: `answer of ${chunk.length} bytes exceeds maxFrame ${this.frameLimit}` });
    }
    // Answers never wait for the peer's cap (they free the peer's slots), but
    // keep order behind anything already waiting.
    if (!this.enqueueOut(chunk, -1, undefined)) this.counters.outDropped++;
  }

  // -------------------------------------------------------------------------
  // Incoming

  private onFrame(frame: Uint8Array | string): void {
    if (this.state !== 'open') return;
    this.counters.framesIn++;
    this.counters.bytesIn += typeof frame === 'string' ? frame.length : frame.length;
    const r = decodeFrame(frame, this.side, { maxFrame: this.frameLimit });
    if (r.fatal !== undefined) {
      this.counters.malformed++;
      this.counters.fatalFrames++;
      this.log.warn({ code: r.fatal.code, closeCode: r.fatal.closeCode }, `fatal frame: ${r.fatal.message}`);
      this.close(r.fatal.closeCode ?? CloseCode.protocolError, r.fatal.message.slice(0, 100));
      return;
    }
    const items = r.items;
    for (let i = 0; i < items.length; i++) {
      if (this.state !== 'open') return;
      const item = items[i];
      if (item === undefined) continue;
      this.counters.msgsIn++;
      if (item instanceof ProtocolError) this.onMalformed(item);
      else this.dispatch(item);
    }
  }

  private onMalformed(e: ProtocolError): void {
    this.counters.malformed++;
    if (this.counters.malformed <= MAX_LOGGED_MALFORMED) {
      this.log.warn({ code: e.code, id: e.id, t: e.type }, `malformed message: ${e.message}`);
    } else {
      this.log.debug({ code: e.code, id: e.id, t: e.type }, `malformed message: ${e.message}`);
    }
    if ((e.type === 'ok' || e.type === 'err') && e.id !== undefined) {
      // A garbled answer: fail the request it names rather than leave it hanging,
      // and never answer an answer.
      this.settlePending(e.id, protocolError(e.code, `malformed answer: ${e.message}`, { id: e.id }), undefined);
      return;
    }
    if (e.id !== undefined) this.sendErr(e.id, e.code, e.message);
    if (this.side === 'device' && !this.helloDone) {
      // PROTOCOL.md: nothing but hello may come first (close 4400).
      this.close(CloseCode.protocolError, 'expected hello');
    }
  }

  private dispatch(m: Message): void {
    switch (m.t) {
      case 'ok':
      case 'err':
        this.onAnswer(m);
        return;
      case 'bye':
        this.onBye(m.reason);
        return;
      default:
        break;
    }
    if (this.side === 'device') {
      if (!this.helloDone) {
        if (m.t !== 'hello') {
          this.counters.malformed++;
          this.log.warn({ t: m.t }, 'message before hello');
          if (m.id !== undefined) this.sendErr(m.id, 'state', `${m.t} before hello`);
          this.close(CloseCode.protocolError, 'expected hello');
          return;
        }
        this.onHelloMsg(m);
        return;
      }
      if (m.t === 'hello') {
        this.counters.malformed++;
        if (m.id !== undefined) this.sendErr(m.id, 'state', 'second hello');
        return;
      }
    }
    if (m.t === 'dma_write' || m.t === 'irq' || (m.t === 'region_write' && m.id === undefined)) {
      this.deliverPosted(m);
      return;
    }
    if (m.id === undefined) return; // unreachable: the codec requires ids on requests
    this.onIncomingRequest(m, m.id);
  }

  private deliverPosted(m: PostedMessage): void {
    const h = this.postedHandler;
    if (h === undefined) {
      this.log.debug({ t: m.t }, 'posted message with no handler: dropped');
      return;
    }
    try {
      h(m);
    } catch (e) {
      this.counters.handlerErrors++;
      this.log.error({ err: e, t: m.t }, 'posted handler threw; message dropped');
    }
  }

  private onIncomingRequest(m: RequestMessage, id: number): void {
    if (this.incomingIds.has(id)) {
      this.counters.malformed++;
      this.sendErr(id, 'bad_message', `id ${id} is already outstanding`);
      return;
    }
    if (this.incomingIds.size >= this.ownMaxOutstanding) {
      // PROTOCOL.md "Flow control": answer the excess busy, never buffer without bound.
      this.counters.busyRejected++;
      this.sendErr(id, 'busy', `more than ${this.ownMaxOutstanding} requests outstanding`);
      return;
    }
    if ((m.t === 'region_read' || m.t === 'dma_read') && m.len > this.maxPayload) {
      // PROTOCOL.md "DMA size": an answer must fit in maxFrame.
      this.sendErr(id, 'size', `${m.t} of ${m.len} bytes exceeds the frame payload limit ${this.maxPayload}`);
      return;
    }
    const h = this.requestHandler;
    if (h === undefined) {
      this.sendErr(id, 'internal', `no handler for ${m.t}`);
      return;
    }
    this.incomingIds.add(id);
    this.counters.incoming++;
    const reply = new Reply(this, id, this.gen);
    try {
      h(m, reply);
    } catch (e) {
      this.counters.handlerErrors++;
      this.log.error({ err: e, t: m.t, id }, 'request handler threw');
      reply.err('internal', `handler failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private onHelloMsg(m: HelloMsg): void {
    const id = m.id ?? 0;
    if (m.proto !== PROTOCOL_VERSION) {
      this.sendErr(id, 'version', `protocol ${m.proto} not supported (this device speaks ${PROTOCOL_VERSION})`);
      this.close(CloseCode.protocolError, 'version mismatch');
      return;
    }
    if (m.maxFrame < MIN_MAX_FRAME) {
      this.sendErr(id, 'size', `maxFrame ${m.maxFrame} below the minimum ${MIN_MAX_FRAME}`);
      this.close(CloseCode.protocolError, 'maxFrame too small');
      return;
    }
    let info: DeviceInfo;
    try {
      const src = this.info;
      if (src === undefined) throw new Error('no device info configured');
      info = typeof src === 'function' ? src() : src;
    } catch (e) {
      this.sendErr(id, 'internal', `device info unavailable: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    const maxFrame = Math.min(this.ownMaxFrame, m.maxFrame);
    this.peerMaxOutstanding = clamp(m.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING, 1, MAX_MAX_OUTSTANDING);
    // Answer with the old limit in force (it fits), then switch.
    this.sendAnswer({ t: 'ok', id, proto: PROTOCOL_VERSION, maxFrame, maxOutstanding: this.ownMaxOutstanding, info });
    this.frameLimit = maxFrame;
    this.helloDone = true;
    this.negotiated = { proto: PROTOCOL_VERSION, maxFrame, maxOutstanding: this.peerMaxOutstanding, info };
    for (const h of this.helloHandlers) {
      try {
        h(m, this.negotiated);
      } catch (e) {
        this.counters.handlerErrors++;
        this.log.error({ err: e }, 'hello handler threw');
      }
    }
  }

  private onAnswer(m: OkMsg | ErrMsg): void {
    if (m.t === 'err') {
      this.counters.errReceived++;
      this.settlePending(m.id, protocolError(m.code, m.msg, { id: m.id }), undefined);
      return;
    }
    this.settlePending(m.id, undefined, m);
  }

  private settlePending(id: number, err: ProtocolError | undefined, ok: OkMsg | undefined): void {
    const p = this.pending.get(id);
    if (p === undefined || !p.sent) {
      this.counters.unmatchedReplies++;
      this.log.debug({ id }, `answer for unknown request id ${id}`);
      return;
    }
    this.pending.delete(id);
    this.counters.inFlight--;
    let e = err;
    if (e === undefined && ok !== undefined) e = validateReply(p, ok);
    if (e !== undefined) {
      if (err === undefined) {
        this.counters.malformed++;
        this.log.warn({ id, t: p.type }, e.message);
      }
      p.cb(e, undefined);
    } else {
      p.cb(undefined, ok);
    }
    if (this.waitHead < this.waitChunks.length) this.drainWait();
  }

  private onBye(reason: string): void {
    // PROTOCOL.md: bye fails the sender's and receiver's outstanding requests
    // at once; the sender closes with 1000 (we close too, so nothing hangs).
    this.log.info({ reason }, 'peer said bye');
    this.close(CloseCode.normal, `bye: ${reason}`.slice(0, 100));
  }

  /** Enter the closed state once: fail everything outstanding, notify. */
  private finish(code: number, reason: string): void {
    if (this.closeInfo !== undefined) return;
    this.state = 'closed';
    this.closeInfo = { code, reason };
    this.gen++;
    if (this.flushScheduled !== undefined) {
      clearImmediate(this.flushScheduled);
      this.flushScheduled = undefined;
    }
    if (this.corkBuf !== undefined) this.corkBuf.done(); // never sent
    this.corkBuf = undefined;
    this.corkEnd = FRAME_HEADROOM;
    this.corkCount = 0;
    this.corkBytes = 0;
    this.waitChunks = [];
    this.waitIds = [];
    this.waitHead = 0;
    this.incomingIds.clear();
    this.counters.incoming = 0;
    this.counters.queued = 0;
    this.counters.inFlight = 0;
    const pending = [...this.pending.values()];
    this.pending.clear();
    const err = this.closedError();
    for (const p of pending) {
      try {
        p.cb(err, undefined);
      } catch (e) {
        this.log.error({ err: e }, 'request callback threw during close');
      }
    }
    for (const h of this.closeHandlers.splice(0)) {
      try {
        h(code, reason);
      } catch (e) {
        this.log.error({ err: e }, 'close handler threw');
      }
    }
  }

  private closedError(): ChannelClosedError {
    const c = this.closeInfo ?? { code: CloseCode.normal, reason: 'closed' };
    return new ChannelClosedError(c.code, c.reason);
  }
}

/** Check an `ok` against what its request promised (ReplyMap). Mutates defaults in. */
function validateReply(p: Pending, ok: OkMsg): ProtocolError | undefined {
  switch (p.type) {
    case 'region_read':
    case 'dma_read':
      if (ok.data === undefined) return protocolError('bad_message', `ok for ${p.type} without data`, { id: ok.id });
      if (ok.data.length !== p.len) {
        return protocolError('bad_message', `ok for ${p.type} has ${ok.data.length} bytes, asked for ${p.len}`, { id: ok.id });
      }
      return undefined;
    case 'hello':
      if (ok.proto === undefined || ok.maxFrame === undefined || ok.info === undefined) {
        return protocolError('bad_message', 'ok for hello needs proto, maxFrame and info', { id: ok.id });
      }
      if (ok.maxOutstanding === undefined) ok.maxOutstanding = DEFAULT_MAX_OUTSTANDING;
      return undefined;
    default:
      return undefined;
  }
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.floor(n)));
}
