// Transports carry whole frames (one WebSocket message each) between the two
// ends. The channel (channel.ts) sits on top and never sees WebSocket APIs, so
// unit tests run it over an in-memory pair (libvfio-user keeps its transport
// behind an interface the same way).
import { WebSocket, type ClientOptions, type ServerOptions } from 'ws';
import type { IncomingMessage } from 'node:http';
import { CloseCode, DEFAULT_MAX_FRAME, SUBPROTOCOL } from './messages.ts';

/** One end of a frame link. */
export interface Transport {
  /** Queue one binary frame. Silently dropped once the transport is not open. */
  send(frame: Uint8Array): void;
  /**
   * Optional. Like `send`, and then `done()` once the transport no longer
   * refers to `frame` (written to the OS or copied), so the caller may reuse
   * its memory. `done(err)` with an error (or no call at all, e.g. when the
   * transport is closed) means: do not reuse it. Used by the Channel to
   * recycle frame buffers; without it the Channel allocates one per frame.
   */
  sendOwned?(frame: Uint8Array, done: (err?: Error | null) => void): void;
  /** Close with a WebSocket close code (1000, 1009, 4400, …). Idempotent. */
  close(code: number, reason?: string): void;
  /**
   * Frame listener (one). A `string` is a text frame, which the protocol
   * forbids (the channel closes with 4400). Frames that arrive before a
   * listener is set are held and delivered once it is.
   */
  onFrame(cb: (frame: Uint8Array | string) => void): void;
  /** Close listener (one), called once. Called (asynchronously) even if set after the close. */
  onClose(cb: (code: number, reason: string) => void): void;
  /** True until the transport is closing or closed. */
  readonly open: boolean;
}

/**
 * Shared listener bookkeeping: holds early frames and the close until a
 * listener is registered, and reports the close exactly once.
 */
abstract class TransportBase implements Transport {
  private frameCb: ((frame: Uint8Array | string) => void) | undefined;
  private closeCb: ((code: number, reason: string) => void) | undefined;
  private early: (Uint8Array | string)[] = [];
  private closed: { code: number; reason: string } | undefined;
  private closeReported = false;

  abstract send(frame: Uint8Array): void;
  abstract close(code: number, reason?: string): void;
  abstract get open(): boolean;

  private draining = false;

  onFrame(cb: (frame: Uint8Array | string) => void): void {
    this.frameCb = cb;
    if (this.early.length > 0 && !this.draining) {
      // Deliver held frames on a later turn, so that whoever registers the
      // listener can finish setting up (e.g. a Channel's handlers) first.
      this.draining = true;
      setImmediate(() => {
        const held = this.early;
        this.early = [];
        this.draining = false;
        for (const f of held) this.frameCb?.(f);
        const c = this.closed;
        if (c !== undefined) this.reportClose(c.code, c.reason);
      });
    }
  }

  onClose(cb: (code: number, reason: string) => void): void {
    this.closeCb = cb;
    if (this.closed !== undefined && !this.closeReported) {
      const c = this.closed;
      setImmediate(() => this.reportClose(c.code, c.reason));
    }
  }

  protected deliverFrame(frame: Uint8Array | string): void {
    if (this.closed !== undefined) return;
    const cb = this.frameCb;
    if (cb === undefined || this.draining) this.early.push(frame);
    else cb(frame);
  }

  protected deliverClose(code: number, reason: string): void {
    if (this.closed !== undefined) return;
    this.closed = { code, reason };
    if (!this.draining) this.reportClose(code, reason); // else after the held frames
  }

  private reportClose(code: number, reason: string): void {
    const cb = this.closeCb;
    if (cb === undefined || this.closeReported) return;
    this.closeReported = true;
    cb(code, reason);
  }
}

// ---------------------------------------------------------------------------
// In-memory pair

export interface MemoryTransportOptions {
  /** Largest frame either end accepts; a bigger one closes both ends with 1009. Default DEFAULT_MAX_FRAME. */
  maxFrame?: number;
}

class MemoryTransport extends TransportBase {
  peer: MemoryTransport | undefined;
  private isOpen = true;
  private inbox: (Uint8Array | string)[] = [];
  private scheduled = false;
  private pendingClose: { code: number; reason: string } | undefined;

  constructor(private readonly maxFrame: number) {
    super();
  }

  get open(): boolean {
    return this.isOpen;
  }

  send(frame: Uint8Array): void {
    this.sendAny(frame);
  }

  /** Test hook: send a text frame (forbidden by the protocol). */
  sendText(text: string): void {
    this.sendAny(text);
  }

  /** Copies at once, so the frame is free again when this returns. */
  sendOwned(frame: Uint8Array, done: (err?: Error | null) => void): void {
    if (!this.isOpen || this.peer === undefined) return;
    this.sendAny(frame);
    done();
  }

  private sendAny(frame: Uint8Array | string): void {
    if (!this.isOpen || this.peer === undefined) return;
    // Copy: a real wire does not share memory, and the sender reuses its
    // buffers. (Uint8Array#slice copies; Buffer#slice would be a view.)
    this.peer.enqueue(typeof frame === 'string' ? frame : Uint8Array.prototype.slice.call(frame));
  }

  close(code: number, reason = ''): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    // Like a WebSocket close handshake: frames already sent are still delivered,
    // then both ends see the close with the initiator's code.
    this.peer?.enqueueClose(code, reason);
    this.enqueueClose(code, reason);
  }

  private enqueue(frame: Uint8Array | string): void {
    if (this.pendingClose !== undefined) return;
    const len = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length;
    if (len > this.maxFrame) {
      // The receiver refuses it as ws does with maxPayload: close 1009 both ways.
      this.isOpen = false;
      this.peer?.markClosing();
      this.enqueueClose(CloseCode.tooBig, 'frame too big');
      this.peer?.enqueueClose(CloseCode.tooBig, 'frame too big');
      return;
    }
    this.inbox.push(frame);
    this.schedule();
  }

  private markClosing(): void {
    this.isOpen = false;
  }

  private enqueueClose(code: number, reason: string): void {
    if (this.pendingClose !== undefined) return;
    this.isOpen = false;
    this.pendingClose = { code, reason };
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    // Deliver everything queued now, in order; frames queued while delivering
    // go out in a later turn (as socket reads would).
    const batch = this.inbox;
    this.inbox = [];
    for (const f of batch) this.deliverFrame(f);
    if (this.inbox.length > 0) {
      this.schedule();
      return;
    }
    const c = this.pendingClose;
    if (c !== undefined) this.deliverClose(c.code, c.reason);
  }
}

export interface MemoryTransportPair {
  /** Conventionally the host end. */
  a: Transport & { sendText(text: string): void };
  /** Conventionally the device end. */
  b: Transport & { sendText(text: string): void };
}

/**
 * Two connected in-memory transports. Delivery is asynchronous (setImmediate)
 * and in order; a frame above `maxFrame` closes both ends with 1009.
 */
export function createMemoryTransportPair(opts: MemoryTransportOptions = {}): MemoryTransportPair {
  const maxFrame = opts.maxFrame ?? DEFAULT_MAX_FRAME;
  const a = new MemoryTransport(maxFrame);
  const b = new MemoryTransport(maxFrame);
  a.peer = b;
  b.peer = a;
  return { a, b };
}

// ---------------------------------------------------------------------------
// WebSocket adapters

const SEND_BINARY = { binary: true } as const;

class WsTransport extends TransportBase {
  private tooBig = false;

  constructor(private readonly ws: WebSocket) {
    super();
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        this.deliverFrame(toBuffer(data).toString('utf8'));
        return;
      }
      this.deliverFrame(toBuffer(data));
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // ws reports the receiver's protocol errors here and then closes; note
      // an oversize frame so the close is reported as 1009 even when the
      // peer never echoes the close frame.
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.tooBig = true;
    });
    ws.on('close', (code, reason) => {
      const c = this.tooBig && (code === 1005 || code === 1006) ? CloseCode.tooBig : code;
      this.deliverClose(c, reason.toString('utf8'));
    });
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(frame: Uint8Array): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(frame, SEND_BINARY);
  }

  /**
   * ws does not copy a Buffer it sends unmasked (the server side, and the
   * client with the zero mask): it hands the caller's bytes to
   * `socket.write`, whose callback — passed through by `ws.send` — runs once
   * the socket is done with them (or with an error when it failed/closed).
   */
  sendOwned(frame: Uint8Array, done: (err?: Error | null) => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(frame, SEND_BINARY, done);
  }

  close(code: number, reason = ''): void {
    const s = this.ws.readyState;
    if (s === WebSocket.CLOSING || s === WebSocket.CLOSED) return;
    try {
      this.ws.close(code, reason.slice(0, 120)); // close reasons are limited to 123 bytes
    } catch {
      this.ws.terminate();
    }
  }

  /** The underlying socket, for diagnostics. */
  get socket(): WebSocket {
    return this.ws;
  }
}

function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return data;
}

/**
 * Wrap an open (or opening) WebSocket from either side. Use a socket created
 * with `perMessageDeflate: false` and `maxPayload` = maxFrame (see
 * `webSocketServerOptions` and `connectWebSocket`).
 */
export function wrapWebSocket(ws: WebSocket): Transport {
  return new WsTransport(ws);
}

/** WebSocketServer options the device daemon should use (merge in server/port/etc.). */
export function webSocketServerOptions(opts: { maxFrame?: number } = {}): ServerOptions {
  return {
    perMessageDeflate: false,
    maxPayload: opts.maxFrame ?? DEFAULT_MAX_FRAME,
    // Accept only our subprotocol; a client that offers none is refused by
    // the daemon's upgrade check (or gets no subprotocol here).
    handleProtocols: (protocols: Set<string>, _req: IncomingMessage) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  };
}

/** Why `connectWebSocket` failed. */
export type ConnectErrorKind = 'unauthorized' | 'http' | 'subprotocol' | 'network';

export class ConnectError extends Error {
  override readonly name: string = 'ConnectError';
  constructor(
    readonly kind: ConnectErrorKind,
    message: string,
    /** HTTP status for 'unauthorized' (401) and 'http'. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface ConnectOptions {
  /** Bearer token sent as `Authorization: Bearer TOKEN`. */
  token?: string;
  /** CA certificate(s) (PEM) to verify a `wss://` daemon. */
  ca?: string | Buffer | (string | Buffer)[];
  /** Verify the server certificate (default true). */
  rejectUnauthorized?: boolean;
  /** Largest incoming frame; bigger closes with 1009. Default DEFAULT_MAX_FRAME. */
  maxFrame?: number;
  /** Handshake timeout in ms (default 10 s). */
  handshakeTimeoutMs?: number;
  /**
   * Mask outgoing frames with zeros (default true). RFC 6455 requires a
   * client mask; a zero mask is legal and skips the XOR, which matters on a
   * trusted loopback link (see TOOLCHAIN.md).
   */
  zeroMask?: boolean;
}

/**
 * Host side: connect to a device daemon. Resolves once the WebSocket is open.
 * HTTP 401 rejects with ConnectError kind 'unauthorized'. A busy (4409) or
 * removed (4410) daemon accepts the upgrade and closes at once: that surfaces
 * as the transport's close code (and the channel fails `hello` with it).
 */
export function connectWebSocket(url: string, opts: ConnectOptions = {}): Promise<Transport> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  const options: ClientOptions = {
    perMessageDeflate: false,
    maxPayload: opts.maxFrame ?? DEFAULT_MAX_FRAME,
    headers,
    handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
  };
  if (opts.ca !== undefined) options.ca = opts.ca;
  if (opts.rejectUnauthorized !== undefined) options.rejectUnauthorized = opts.rejectUnauthorized;
  if (opts.zeroMask ?? true) options.generateMask = zeroMask;

  return new Promise<Transport>((resolve, reject) => {
    let settled = false;
    const ws = new WebSocket(url, [SUBPROTOCOL], options);
    // Wrap at once so that frames/closes right after open are not lost.
    const transport = new WsTransport(ws);
    const fail = (e: ConnectError): void => {
      if (settled) return;
      settled = true;
      reject(e);
    };
    ws.once('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      ws.terminate();
      fail(
        status === 401
          ? new ConnectError('unauthorized', `${url}: 401 unauthorized (missing or wrong token)`, 401)
          : new ConnectError('http', `${url}: unexpected HTTP ${status}`, status),
      );
    });
    ws.once('error', (err: Error) => fail(new ConnectError('network', `${url}: ${err.message}`)));
    ws.once('close', (code: number) => fail(new ConnectError('network', `${url}: closed (${code}) before open`)));
    ws.once('open', () => {
      if (ws.protocol !== SUBPROTOCOL) {
        ws.terminate();
        fail(new ConnectError('subprotocol', `${url}: server did not accept subprotocol ${SUBPROTOCOL}`));
        return;
      }
      settled = true;
      resolve(transport);
    });
  });
}

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}
