// A small NBD client (fixed newstyle, simple and structured replies, many
// requests in flight). For tests and benchmarks of host/nbd; it also gives
// tests raw access to the socket for malformed-input cases.
import { connect as netConnect, type Socket } from 'node:net';
import {
  ByteQueue, encodeOptionRequest, decodeOptionReplyHeader, encodeRequestHeader, readU64,
} from './wire.ts';
import * as P from './protocol.ts';

export interface NbdClientOptions {
  /** TCP host (default 127.0.0.1) and port, or a UNIX socket path. */
  host?: string;
  port?: number;
  path?: string;
  /** Or an nbd:// / nbd+unix:// URI (sets host/port/path; the export name is in `uriExport`). */
  uri?: string;
  /** Client flags to send (default FIXED_NEWSTYLE | NO_ZEROES). */
  clientFlags?: number;
}

export interface NbdExportInfo {
  size: number;
  flags: number;
  name?: string;
  description?: string;
  minBlock?: number;
  preferredBlock?: number;
  maxBlock?: number;
}

export interface OptionReply { option: number; type: number; data: Buffer }

/** A failed request: `errno` is the NBD error value, `message` from a structured error chunk. */
export class NbdClientError extends Error {
  constructor(readonly errno: number, message: string) {
    super(message);
    this.name = 'NbdClientError';
  }
}

interface Pending {
  type: number;
  /** READ: destination for the data. */
  dst: Buffer | undefined;
  offset: number;
  resolve: (v: Buffer | undefined) => void;
  reject: (e: Error) => void;
  /** Structured replies: the error seen so far. */
  error: NbdClientError | undefined;
}

export class NbdClient {
  readonly socket: Socket;
  handshakeFlags = 0;
  structured = false;
  info: NbdExportInfo | undefined;
  private readonly rx = new ByteQueue();
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private ended: Error | undefined;
  private readonly pending = new Map<bigint, Pending>();
  private nextCookie = 1n;
  private transmitting = false;
  /** Resolves when the socket closes. */
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => { this.rx.push(c); this.feed(); });
    this.closed = new Promise<void>((resolve) => {
      socket.on('close', () => {
        this.fail(this.ended ?? new Error('connection closed'));
        resolve();
      });
    });
    socket.on('error', (e) => { this.ended ??= e; });
  }

  /** Open the socket and read the greeting (before any option). */
  static async connect(opts: NbdClientOptions): Promise<NbdClient> {
    let { host, port, path } = opts;
    if (opts.uri !== undefined) {
      const u = new URL(opts.uri);
      if (u.protocol === 'nbd+unix:') path = u.searchParams.get('socket') ?? undefined;
      else { host = u.hostname.replace(/^\[|\]$/g, ''); port = u.port === '' ? P.NBD_DEFAULT_PORT : Number(u.port); }
    }
    const socket = path !== undefined ? netConnect(path) : netConnect(port ?? P.NBD_DEFAULT_PORT, host ?? '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => { socket.off('error', reject); resolve(); });
      socket.once('error', reject);
    });
    const c = new NbdClient(socket);
    const g = await c.readExact(P.GREETING_SIZE);
    if (g.readBigUInt64BE(0) !== P.NBD_MAGIC || g.readBigUInt64BE(8) !== P.NBD_OPTS_MAGIC) {
      socket.destroy();
      throw new Error('not an NBD fixed-newstyle server (bad greeting)');
    }
    c.handshakeFlags = g.readUInt16BE(16);
    const flags = opts.clientFlags ?? (P.NBD_FLAG_C_FIXED_NEWSTYLE | (c.handshakeFlags & P.NBD_FLAG_NO_ZEROES ? P.NBD_FLAG_C_NO_ZEROES : 0));
    const f = Buffer.allocUnsafe(4);
    f.writeUInt32BE(flags >>> 0, 0);
    socket.write(f);
    c.noZeroes = (flags & P.NBD_FLAG_C_NO_ZEROES) !== 0;
    return c;
  }
  private noZeroes = true;

  // ── handshake ─────────────────────────────────────────────────────────────

  /** Send one option and collect replies until a final one (ACK or error). */
  async option(option: number, data: Buffer = Buffer.alloc(0)): Promise<OptionReply[]> {
    this.socket.write(encodeOptionRequest(option, data));
    const out: OptionReply[] = [];
    for (;;) {
      const h = decodeOptionReplyHeader(await this.readExact(P.OPTION_REPLY_HEADER_SIZE));
      if (!h.magicOk) throw new Error('bad option reply magic');
      if (h.option !== option) throw new Error(`option reply for ${h.option}, expected ${option}`);
      const body = await this.readExact(h.length);
      out.push({ option, type: h.type, data: body });
      if (h.type === P.NBD_REP_ACK || (h.type & P.NBD_REP_FLAG_ERROR) !== 0) return out;
    }
  }

  /** NBD_OPT_LIST: export names (and descriptions). */
  async list(): Promise<Array<{ name: string; description: string }>> {
    const replies = await this.option(P.NBD_OPT_LIST);
    const last = replies[replies.length - 1] as OptionReply;
    if (last.type !== P.NBD_REP_ACK) throw new NbdOptionError(last);
    return replies.filter((r) => r.type === P.NBD_REP_SERVER).map((r) => {
      const n = r.data.readUInt32BE(0);
      return { name: r.data.toString('utf8', 4, 4 + n), description: r.data.toString('utf8', 4 + n) };
    });
  }

  /** NBD_OPT_STRUCTURED_REPLY. Returns whether the server agreed. */
  async structuredReply(): Promise<boolean> {
    const r = await this.option(P.NBD_OPT_STRUCTURED_REPLY);
    this.structured = (r[r.length - 1] as OptionReply).type === P.NBD_REP_ACK;
    return this.structured;
  }

  /**
   * NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT for `exportName`:
   * the contexts the server named (id, name). Throws NbdOptionError on an error reply.
   */
  async metaContext(option: typeof P.NBD_OPT_LIST_META_CONTEXT | typeof P.NBD_OPT_SET_META_CONTEXT, exportName: string,
    queries: readonly string[]): Promise<Array<{ id: number; name: string }>> {
    const n = Buffer.from(exportName, 'utf8');
    const qs = queries.map((q) => Buffer.from(q, 'utf8'));
    const d = Buffer.allocUnsafe(8 + n.length + qs.reduce((a, q) => a + 4 + q.length, 0));
    d.writeUInt32BE(n.length, 0);
    n.copy(d, 4);
    d.writeUInt32BE(qs.length, 4 + n.length);
    let at = 8 + n.length;
    for (const q of qs) { d.writeUInt32BE(q.length, at); q.copy(d, at + 4); at += 4 + q.length; }
    const replies = await this.option(option, d);
    const last = replies[replies.length - 1] as OptionReply;
    if (last.type !== P.NBD_REP_ACK) throw new NbdOptionError(last);
    return replies.filter((r) => r.type === P.NBD_REP_META_CONTEXT && r.data.length >= 4)
      .map((r) => ({ id: r.data.readUInt32BE(0), name: r.data.toString('utf8', 4) }));
  }

  /** NBD_OPT_INFO or NBD_OPT_GO; `infos` are the NBD_INFO_* requested. Throws NbdOptionError on an error reply. */
  async infoOrGo(option: typeof P.NBD_OPT_INFO | typeof P.NBD_OPT_GO, name: string, infos: readonly number[] = [P.NBD_INFO_BLOCK_SIZE]): Promise<NbdExportInfo> {
    const n = Buffer.from(name, 'utf8');
    const d = Buffer.allocUnsafe(4 + n.length + 2 + 2 * infos.length);
    d.writeUInt32BE(n.length, 0);
    n.copy(d, 4);
    d.writeUInt16BE(infos.length, 4 + n.length);
    infos.forEach((t, i) => d.writeUInt16BE(t, 4 + n.length + 2 + 2 * i));
    const replies = await this.option(option, d);
    const last = replies[replies.length - 1] as OptionReply;
    if (last.type !== P.NBD_REP_ACK) throw new NbdOptionError(last);
    const info: NbdExportInfo = { size: -1, flags: 0 };
    for (const r of replies) {
      if (r.type !== P.NBD_REP_INFO || r.data.length < 2) continue;
      const t = r.data.readUInt16BE(0);
      if (t === P.NBD_INFO_EXPORT) { info.size = readU64(r.data, 2); info.flags = r.data.readUInt16BE(10); }
      else if (t === P.NBD_INFO_NAME) info.name = r.data.toString('utf8', 2);
      else if (t === P.NBD_INFO_DESCRIPTION) info.description = r.data.toString('utf8', 2);
      else if (t === P.NBD_INFO_BLOCK_SIZE) {
        info.minBlock = r.data.readUInt32BE(2); info.preferredBlock = r.data.readUInt32BE(6); info.maxBlock = r.data.readUInt32BE(10);
      }
    }
    if (option === P.NBD_OPT_GO) { this.info = info; this.transmitting = true; this.feed(); }
    return info;
  }

  go(name: string, infos?: readonly number[]): Promise<NbdExportInfo> { return this.infoOrGo(P.NBD_OPT_GO, name, infos); }

  /** NBD_OPT_EXPORT_NAME (old way into transmission; an unknown name closes the connection). */
  async exportName(name: string): Promise<NbdExportInfo> {
    this.socket.write(encodeOptionRequest(P.NBD_OPT_EXPORT_NAME, Buffer.from(name, 'utf8')));
    const b = await this.readExact(P.EXPORT_NAME_REPLY_SIZE + (this.noZeroes ? 0 : P.EXPORT_NAME_ZERO_PAD));
    this.info = { size: readU64(b, 0), flags: b.readUInt16BE(8) };
    this.transmitting = true;
    this.feed();
    return this.info;
  }

  /** NBD_OPT_ABORT: wait for the ACK (if any) and the close. */
  async abort(): Promise<OptionReply | undefined> {
    this.socket.write(encodeOptionRequest(P.NBD_OPT_ABORT, Buffer.alloc(0)));
    let reply: OptionReply | undefined;
    try {
      const h = decodeOptionReplyHeader(await this.readExact(P.OPTION_REPLY_HEADER_SIZE));
      reply = { option: h.option, type: h.type, data: await this.readExact(h.length) };
    } catch { /* closed without a reply: allowed */ }
    await this.closed;
    return reply;
  }

  // ── transmission ──────────────────────────────────────────────────────────

  /** Send a request; resolves with READ data (or undefined), rejects with NbdClientError. */
  request(type: number, offset: number, length: number, flags = 0, payload?: Buffer): Promise<Buffer | undefined> {
    if (!this.transmitting) return Promise.reject(new Error('not in transmission phase'));
    if (this.ended) return Promise.reject(this.ended);
    const cookie = this.nextCookie++;
    const hdr = encodeRequestHeader(flags, type, cookie, offset, payload ? payload.length : length);
    if (type === P.NBD_CMD_DISC) {
      this.socket.write(hdr);
      return Promise.resolve(undefined);
    }
    return new Promise<Buffer | undefined>((resolve, reject) => {
      this.pending.set(cookie, {
        type, offset, dst: type === P.NBD_CMD_READ ? Buffer.allocUnsafe(length) : undefined, resolve, reject, error: undefined,
      });
      if (payload) { this.socket.cork(); this.socket.write(hdr); this.socket.write(payload); this.socket.uncork(); }
      else this.socket.write(hdr);
    });
  }

  async read(offset: number, length: number, flags = 0): Promise<Buffer> {
    return (await this.request(P.NBD_CMD_READ, offset, length, flags)) as Buffer;
  }
  async write(offset: number, data: Buffer, flags = 0): Promise<void> { await this.request(P.NBD_CMD_WRITE, offset, data.length, flags, data); }
  async flush(flags = 0): Promise<void> { await this.request(P.NBD_CMD_FLUSH, 0, 0, flags); }
  async trim(offset: number, length: number, flags = 0): Promise<void> { await this.request(P.NBD_CMD_TRIM, offset, length, flags); }
  async writeZeroes(offset: number, length: number, flags = 0): Promise<void> { await this.request(P.NBD_CMD_WRITE_ZEROES, offset, length, flags); }

  /** NBD_CMD_BLOCK_STATUS (needs a context from metaContext(SET) and structured replies): the context id and extents. */
  async blockStatus(offset: number, length: number, flags = 0): Promise<{ contextId: number; extents: Array<{ length: number; flags: number }> }> {
    const raw = await this.request(P.NBD_CMD_BLOCK_STATUS, offset, length, flags);
    if (raw === undefined || raw.length < 12 || (raw.length - 4) % 8 !== 0) throw new Error('bad BLOCK_STATUS reply');
    const extents: Array<{ length: number; flags: number }> = [];
    for (let at = 4; at < raw.length; at += 8) extents.push({ length: raw.readUInt32BE(at), flags: raw.readUInt32BE(at + 4) });
    return { contextId: raw.readUInt32BE(0), extents };
  }

  /** NBD_CMD_DISC, then wait for the server to close. */
  async disconnect(): Promise<void> {
    if (this.transmitting && !this.ended) await this.request(P.NBD_CMD_DISC, 0, 0);
    this.socket.end();
    await this.closed;
  }

  get inflight(): number { return this.pending.size; }

  /** Write raw bytes (malformed-input tests). */
  sendRaw(b: Buffer): void { this.socket.write(b); }

  destroy(): void { this.socket.destroy(); }

  // ── input ─────────────────────────────────────────────────────────────────

  private readExact(n: number): Promise<Buffer> {
    if (this.rx.length >= n) return Promise.resolve(this.rx.take(n));
    if (this.ended || this.socket.destroyed) return Promise.reject(this.ended ?? new Error('connection closed'));
    return new Promise<Buffer>((resolve, reject) => { this.waiter = { n, resolve, reject }; });
  }

  private feed(): void {
    const w = this.waiter;
    if (w) {
      if (this.rx.length >= w.n) { this.waiter = undefined; w.resolve(this.rx.take(w.n)); }
      return;
    }
    if (!this.transmitting) return;
    try {
      while (this.parseReply()) { /* keep going */ }
    } catch (e) {
      this.ended = e instanceof Error ? e : new Error(String(e));
      this.socket.destroy();
    }
  }

  /** Parse one complete reply if buffered; false when more bytes are needed. */
  private parseReply(): boolean {
    if (this.rx.length < 4) return false;
    const magic = peekU32(this.rx);
    if (magic === P.NBD_SIMPLE_REPLY_MAGIC) {
      if (this.rx.length < P.SIMPLE_REPLY_HEADER_SIZE) return false;
      const h = peek(this.rx, P.SIMPLE_REPLY_HEADER_SIZE);
      const error = h.readUInt32BE(4);
      const cookie = h.readBigUInt64BE(8);
      const p = this.pending.get(cookie);
      if (!p) throw new Error(`simple reply for unknown cookie ${cookie}`);
      const dataLen = p.type === P.NBD_CMD_READ && error === 0 ? (p.dst as Buffer).length : 0;
      if (this.rx.length < P.SIMPLE_REPLY_HEADER_SIZE + dataLen) return false;
      this.rx.skip(P.SIMPLE_REPLY_HEADER_SIZE);
      if (dataLen > 0) this.rx.takeInto(p.dst as Buffer, dataLen);
      this.pending.delete(cookie);
      if (error !== 0) p.reject(new NbdClientError(error, `${P.NBD_CMD_NAMES[p.type]} failed: ${P.NBD_ERRNO_NAMES[error] ?? error}`));
      else p.resolve(p.dst);
      return true;
    }
    if (magic === P.NBD_STRUCTURED_REPLY_MAGIC) {
      if (this.rx.length < P.STRUCTURED_REPLY_HEADER_SIZE) return false;
      const h = peek(this.rx, P.STRUCTURED_REPLY_HEADER_SIZE);
      const flags = h.readUInt16BE(4);
      const type = h.readUInt16BE(6);
      const cookie = h.readBigUInt64BE(8);
      const len = h.readUInt32BE(16);
      if (this.rx.length < P.STRUCTURED_REPLY_HEADER_SIZE + len) return false;
      this.rx.skip(P.STRUCTURED_REPLY_HEADER_SIZE);
      const p = this.pending.get(cookie);
      if (!p) throw new Error(`structured reply for unknown cookie ${cookie}`);
      if (type === P.NBD_REPLY_TYPE_OFFSET_DATA) {
        if (len < 9 || !p.dst) throw new Error('bad OFFSET_DATA chunk');
        const off = readU64(this.rx.take(8), 0);
        const at = off - p.offset;
        if (at < 0 || at + len - 8 > p.dst.length) throw new Error('OFFSET_DATA outside the request');
        this.rx.takeInto(p.dst.subarray(at), len - 8);
      } else if (type === P.NBD_REPLY_TYPE_OFFSET_HOLE) {
        if (len !== 12 || !p.dst) throw new Error('bad OFFSET_HOLE chunk');
        const b = this.rx.take(12);
        const at = readU64(b, 0) - p.offset;
        p.dst.fill(0, at, at + b.readUInt32BE(8));
      } else if (type === P.NBD_REPLY_TYPE_BLOCK_STATUS) {
        if (p.type !== P.NBD_CMD_BLOCK_STATUS) throw new Error('BLOCK_STATUS chunk for another command');
        p.dst = Buffer.from(this.rx.take(len));
      } else if ((type & 0x8000) !== 0) {
        const b = this.rx.take(len);
        const err = b.readUInt32BE(0);
        const mlen = b.readUInt16BE(4);
        p.error ??= new NbdClientError(err, b.toString('utf8', 6, 6 + mlen) || `${P.NBD_CMD_NAMES[p.type]} failed: ${P.NBD_ERRNO_NAMES[err] ?? err}`);
      } else {
        this.rx.skip(len); // NONE, or an unknown non-error type
      }
      if ((flags & P.NBD_REPLY_FLAG_DONE) !== 0) {
        this.pending.delete(cookie);
        if (p.error) p.reject(p.error); else p.resolve(p.dst);
      }
      return true;
    }
    throw new Error(`bad reply magic 0x${magic.toString(16)}`);
  }

  private fail(e: Error): void {
    this.ended ??= e;
    const w = this.waiter;
    if (w) { this.waiter = undefined; w.reject(e); }
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

/** An option answered with an error reply. */
export class NbdOptionError extends Error {
  readonly type: number;
  constructor(reply: OptionReply) {
    super(`option ${reply.option} failed: reply type 0x${reply.type.toString(16)} ${reply.data.toString('utf8')}`);
    this.name = 'NbdOptionError';
    this.type = reply.type;
  }
}

function peekU32(q: ByteQueue): number { return q.peek(4).readUInt32BE(0); }
function peek(q: ByteQueue, n: number): Buffer { return q.peek(n); }

/** Connect, negotiate structured replies (unless `structured: false`) and GO to `exportName`. */
export async function connectNbd(opts: NbdClientOptions & { exportName?: string; structured?: boolean }): Promise<NbdClient> {
  const c = await NbdClient.connect(opts);
  try {
    if (opts.structured !== false) await c.structuredReply();
    let name = opts.exportName;
    if (name === undefined && opts.uri !== undefined) name = decodeURIComponent(new URL(opts.uri).pathname.replace(/^\//, ''));
    await c.go(name ?? '', [P.NBD_INFO_NAME, P.NBD_INFO_DESCRIPTION, P.NBD_INFO_BLOCK_SIZE]);
    return c;
  } catch (e) {
    c.destroy();
    throw e;
  }
}
