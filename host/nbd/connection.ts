// One NBD client connection: the fixed-newstyle handshake, then the
// transmission phase with many requests in flight (replies go out in
// completion order, each tagged with the request's cookie).
//
// Guest-misbehaviour policy (proto.md "Terminating the transmission phase":
// either side MAY hard-disconnect on a violation of a mandatory condition):
// - framing we cannot resynchronise after (bad magic, a WRITE payload above
//   the cap, an oversized option, unknown client flags) → log one line, close
//   this connection only; requests already handed to the disk finish first
//   but their replies are dropped;
// - everything that can be answered (unknown command or flag, out-of-range
//   offset, unaligned request from a client that promised alignment, writes
//   to a read-only export) → an errno reply, as "Error values" asks.
import type { Socket } from 'node:net';
import type { Logger } from '../../src/util/log.ts';
import type { NbdExport } from './export.ts';
import { nbdErrnoFromError, errorMessage } from './errors.ts';
import {
  ByteQueue, encodeGreeting, decodeOptionHeader, encodeOptionReply, decodeRequestHeader, writeSimpleReplyHeader,
  encodeSimpleReply, writeOffsetDataPrefix, OFFSET_DATA_PREFIX, encodeStructuredError, writeU64, writeStructuredHeader,
} from './wire.ts';
import type { BlockExtent } from './backend.ts';
import * as P from './protocol.ts';

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly log: Logger;
  /** Look up an export by name; '' is the default export. */
  findExport(name: string): NbdExport | undefined;
  listExports(): readonly NbdExport[];
  /** Called once when the socket is gone. */
  connectionClosed(conn: NbdConnection): void;
  /** Server-wide counters the connection adds to. */
  readonly counters: NbdCounters;
}

/** Server-wide counters (also exposed through NbdServer.stats()). */
export interface NbdCounters {
  requests: number;
  errors: number;
  bytesRead: number;
  bytesWritten: number;
  protocolErrors: number;
}

export interface ConnectionLimits {
  /** Requests in flight per connection before we stop reading the socket. */
  maxInflight: number;
  /** Unsent reply bytes queued on the socket before we stop reading it. */
  maxQueuedReplyBytes: number;
  /** Milliseconds a client may spend in the handshake. */
  handshakeTimeoutMs: number;
}

type State =
  | 'client-flags' | 'option-header' | 'option-data'
  | 'request-header' | 'write-payload'
  | 'draining' // after NBD_CMD_DISC / shutdown: no more input, finish in-flight, then close
  | 'closed';

/** Where READ data starts inside its reply buffer (≥ the largest reply prefix, 512-aligned). */
const READ_DATA_ALIGN = 512;

const HANDSHAKE_FLAGS = P.NBD_FLAG_FIXED_NEWSTYLE | P.NBD_FLAG_NO_ZEROES;
const KNOWN_CLIENT_FLAGS = P.NBD_FLAG_C_FIXED_NEWSTYLE | P.NBD_FLAG_C_NO_ZEROES;

/** Command flags each command may carry ("Command flags"); others → EINVAL. */
function allowedFlags(type: number, structured: boolean): number {
  // FUA "is valid for all commands, provided NBD_FLAG_SEND_FUA has been negotiated".
  switch (type) {
    case P.NBD_CMD_READ: return P.NBD_CMD_FLAG_FUA | (structured ? P.NBD_CMD_FLAG_DF : 0);
    case P.NBD_CMD_WRITE:
    case P.NBD_CMD_FLUSH:
    case P.NBD_CMD_TRIM: return P.NBD_CMD_FLAG_FUA;
    case P.NBD_CMD_WRITE_ZEROES: return P.NBD_CMD_FLAG_FUA | P.NBD_CMD_FLAG_NO_HOLE;
    case P.NBD_CMD_BLOCK_STATUS: return P.NBD_CMD_FLAG_REQ_ONE;
    default: return 0;
  }
}

export class NbdConnection {
  readonly id: number;
  readonly remote: string;
  /** Sequence number used to spread connections over the disk's logical CPUs. */
  private readonly seq: number;
  /** Logical CPU whose software queue this connection's requests enter (set when an export is chosen). */
  cpu = 0;
  exp: NbdExport | undefined;
  structuredReplies = false;
  /**
   * Export name for which NBD_OPT_SET_META_CONTEXT selected base:allocation
   * (undefined: no context). Entering transmission on another export drops it
   * (proto.md: the selection is only valid for the export it named).
   */
  private metaExport: string | undefined;
  /** base:allocation is active for this session: NBD_CMD_BLOCK_STATUS is allowed. */
  private metaActive = false;
  /** The client asked for NBD_INFO_BLOCK_SIZE, so it must honour our alignment. */
  private strictAlignment = false;
  private noZeroes = false;
  private state: State = 'client-flags';
  private readonly rx = new ByteQueue();
  private opt = { option: 0, length: 0 };
  private pendingWrite: { flags: number; cookie: bigint; offset: number; length: number } | undefined;
  private inflight = 0;
  private paused = false;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private closedNotified = false;

  constructor(
    private readonly socket: Socket,
    private readonly host: ConnectionHost,
    private readonly limits: ConnectionLimits,
    id: number,
    cpu: number,
    remote: string,
  ) {
    this.id = id;
    this.seq = cpu;
    this.remote = remote;
    this.log = host.log.child({ conn: id, remote });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.maybeResume());
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'nbd socket error'));
    socket.on('close', () => this.onClose());
    this.handshakeTimer = setTimeout(() => {
      if (this.inHandshake()) this.violation(`handshake not finished within ${limits.handshakeTimeoutMs} ms`);
    }, limits.handshakeTimeoutMs);
    this.handshakeTimer.unref();
    this.send(encodeGreeting(HANDSHAKE_FLAGS));
  }

  get exportName(): string | undefined { return this.exp?.name; }
  get inflightRequests(): number { return this.inflight; }
  get isOpen(): boolean { return this.state !== 'closed'; }

  /** Stop taking requests, let in-flight ones finish and reply, then close. */
  shutdown(): void {
    if (this.state === 'closed') return;
    if (this.inHandshake()) { this.destroy(); return; }
    this.state = 'draining';
    this.rx.clear();
    this.closeIfDrained();
  }

  /** Close at once. */
  destroy(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.rx.clear();
    this.socket.destroy();
  }

  // ── input ─────────────────────────────────────────────────────────────────

  private onData(chunk: Buffer): void {
    if (this.state === 'closed' || this.state === 'draining') return; // nothing may follow DISC
    this.rx.push(chunk);
    this.pump();
  }

  private inHandshake(): boolean {
    return this.state === 'client-flags' || this.state === 'option-header' || this.state === 'option-data';
  }

  /** Parse as many complete messages as are buffered. */
  private pump(): void {
    for (;;) {
      if (this.paused) return;
      switch (this.state) {
        case 'client-flags': {
          if (this.rx.length < 4) return;
          this.onClientFlags(this.rx.take(4).readUInt32BE(0));
          break;
        }
        case 'option-header': {
          if (this.rx.length < P.OPTION_HEADER_SIZE) return;
          const h = decodeOptionHeader(this.rx.take(P.OPTION_HEADER_SIZE));
          if (!h.magicOk) { this.violation('bad option magic (expected IHAVEOPT)'); return; }
          if (h.length > P.NBD_MAX_OPTION_LENGTH) {
            this.violation(`option ${h.option} carries ${h.length} bytes (limit ${P.NBD_MAX_OPTION_LENGTH})`);
            return;
          }
          this.opt = { option: h.option, length: h.length };
          this.state = 'option-data';
          break;
        }
        case 'option-data': {
          if (this.rx.length < this.opt.length) return;
          this.onOption(this.opt.option, this.rx.take(this.opt.length));
          break;
        }
        case 'request-header': {
          if (this.rx.length < P.REQUEST_HEADER_SIZE) return;
          this.onRequestHeader(this.rx.take(P.REQUEST_HEADER_SIZE));
          break;
        }
        case 'write-payload': {
          const w = this.pendingWrite;
          if (w === undefined) { this.state = 'request-header'; break; }
          if (this.rx.length < w.length) return;
          const data = this.rx.take(w.length);
          this.pendingWrite = undefined;
          this.state = 'request-header';
          this.execute(P.NBD_CMD_WRITE, w.flags, w.cookie, w.offset, w.length, data);
          break;
        }
        default:
          return;
      }
    }
  }

  // ── handshake ("Fixed newstyle negotiation") ─────────────────────────────

  private onClientFlags(flags: number): void {
    // "the server MUST drop the TCP connection if the client sets an unknown flag"
    if ((flags & ~KNOWN_CLIENT_FLAGS) !== 0) { this.violation(`unknown client flags 0x${flags.toString(16)}`); return; }
    // Clients without C_FIXED_NEWSTYLE are still served ("Servers MAY choose to honour fixed newstyle").
    this.noZeroes = (flags & P.NBD_FLAG_C_NO_ZEROES) !== 0;
    this.state = 'option-header';
  }

  private reply(option: number, type: number, data?: Buffer): void {
    this.send(encodeOptionReply(option, type, data));
  }
  private replyError(option: number, type: number, message: string): void {
    this.log.debug({ option, type: type - P.NBD_REP_FLAG_ERROR }, `option error: ${message}`);
    this.reply(option, type, Buffer.from(message, 'utf8'));
  }

  private onOption(option: number, data: Buffer): void {
    this.state = 'option-header';
    switch (option) {
      case P.NBD_OPT_EXPORT_NAME: return this.optExportName(data);
      case P.NBD_OPT_ABORT:
        // "The server MUST reply with NBD_REP_ACK" and close.
        this.reply(option, P.NBD_REP_ACK);
        this.state = 'draining';
        this.socket.end();
        return;
      case P.NBD_OPT_LIST: return this.optList(data);
      case P.NBD_OPT_INFO:
      case P.NBD_OPT_GO: return this.optInfoGo(option, data);
      case P.NBD_OPT_STRUCTURED_REPLY:
        if (data.length !== 0) return this.replyError(option, P.NBD_REP_ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data');
        this.structuredReplies = true;
        return this.reply(option, P.NBD_REP_ACK);
      case P.NBD_OPT_LIST_META_CONTEXT:
      case P.NBD_OPT_SET_META_CONTEXT:
        return this.optMetaContext(option, data);
      case P.NBD_OPT_STARTTLS:
        return this.replyError(option, P.NBD_REP_ERR_UNSUP, 'TLS is not supported by this server');
      default:
        // Unknown options, and known ones we do not implement (extended
        // headers): "NBD_REP_ERR_UNSUP".
        return this.replyError(option, P.NBD_REP_ERR_UNSUP, `option ${option} is not supported`);
    }
  }

  private optExportName(data: Buffer): void {
    const name = data.toString('utf8');
    const exp = this.host.findExport(name);
    // "If the chosen export does not exist … the server MUST terminate the session."
    if (!exp) { this.violation(`NBD_OPT_EXPORT_NAME for unknown export '${name.slice(0, 100)}'`); return; }
    const b = Buffer.alloc(P.EXPORT_NAME_REPLY_SIZE + (this.noZeroes ? 0 : P.EXPORT_NAME_ZERO_PAD));
    writeU64(b, exp.size, 0);
    b.writeUInt16BE(exp.transmissionFlags(this.structuredReplies), 8);
    this.send(b);
    this.enterTransmission(exp, false);
  }

  private optList(data: Buffer): void {
    if (data.length !== 0) return this.replyError(P.NBD_OPT_LIST, P.NBD_REP_ERR_INVALID, 'NBD_OPT_LIST takes no data');
    for (const exp of this.host.listExports()) {
      const name = Buffer.from(exp.name, 'utf8');
      const desc = Buffer.from(exp.description, 'utf8');
      const b = Buffer.allocUnsafe(4 + name.length + desc.length);
      b.writeUInt32BE(name.length, 0);
      name.copy(b, 4);
      desc.copy(b, 4 + name.length);
      this.reply(P.NBD_OPT_LIST, P.NBD_REP_SERVER, b);
    }
    this.reply(P.NBD_OPT_LIST, P.NBD_REP_ACK);
  }

  private optInfoGo(option: number, data: Buffer): void {
    // Data: u32 name length, name, u16 number of info requests, u16 × n.
    if (data.length < 6) return this.replyError(option, P.NBD_REP_ERR_INVALID, 'option data too short');
    const nameLen = data.readUInt32BE(0);
    if (nameLen > P.NBD_MAX_STRING || 4 + nameLen + 2 > data.length) {
      return this.replyError(option, P.NBD_REP_ERR_INVALID, 'bad export name length');
    }
    const name = data.toString('utf8', 4, 4 + nameLen);
    const nInfo = data.readUInt16BE(4 + nameLen);
    if (data.length !== 4 + nameLen + 2 + 2 * nInfo) {
      return this.replyError(option, P.NBD_REP_ERR_INVALID, 'option length does not match the info request count');
    }
    const wanted = new Set<number>();
    for (let i = 0; i < nInfo; i++) wanted.add(data.readUInt16BE(4 + nameLen + 2 + 2 * i));
    const exp = this.host.findExport(name);
    if (!exp) return this.replyError(option, P.NBD_REP_ERR_UNKNOWN, `no export named '${name.slice(0, 100)}'`);

    // NBD_INFO_EXPORT is mandatory: size + transmission flags.
    const info = Buffer.allocUnsafe(12);
    info.writeUInt16BE(P.NBD_INFO_EXPORT, 0);
    writeU64(info, exp.size, 2);
    info.writeUInt16BE(exp.transmissionFlags(this.structuredReplies), 10);
    this.reply(option, P.NBD_REP_INFO, info);
    if (wanted.has(P.NBD_INFO_NAME)) {
      const n = Buffer.from(exp.name, 'utf8');
      const b = Buffer.allocUnsafe(2 + n.length);
      b.writeUInt16BE(P.NBD_INFO_NAME, 0);
      n.copy(b, 2);
      this.reply(option, P.NBD_REP_INFO, b);
    }
    if (wanted.has(P.NBD_INFO_DESCRIPTION) && exp.description !== '') {
      const d = Buffer.from(exp.description, 'utf8');
      const b = Buffer.allocUnsafe(2 + d.length);
      b.writeUInt16BE(P.NBD_INFO_DESCRIPTION, 0);
      d.copy(b, 2);
      this.reply(option, P.NBD_REP_INFO, b);
    }
    // Block sizes are always sent (a server MAY send them unrequested); only a
    // client that asked for them is held to them (see export.ts).
    const bs = Buffer.allocUnsafe(14);
    bs.writeUInt16BE(P.NBD_INFO_BLOCK_SIZE, 0);
    bs.writeUInt32BE(exp.minBlock, 2);
    bs.writeUInt32BE(exp.preferredBlock, 6);
    bs.writeUInt32BE(exp.maxPayload, 10);
    this.reply(option, P.NBD_REP_INFO, bs);
    this.reply(option, P.NBD_REP_ACK);
    if (option === P.NBD_OPT_GO) this.enterTransmission(exp, wanted.has(P.NBD_INFO_BLOCK_SIZE));
  }

  /**
   * NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT ("Metadata querying"):
   * data = u32 export name length, name, u32 query count, then per query a
   * u32 length and the string. We know one context, base:allocation. LIST
   * with no query (or the query "base:") names it; SET selects what matches,
   * replacing any earlier selection, and needs structured replies first.
   */
  private optMetaContext(option: number, data: Buffer): void {
    const set = option === P.NBD_OPT_SET_META_CONTEXT;
    // "If the client has not negotiated structured replies … the server MUST reply NBD_REP_ERR_INVALID" (SET).
    if (set && !this.structuredReplies) {
      return this.replyError(option, P.NBD_REP_ERR_INVALID, 'NBD_OPT_SET_META_CONTEXT needs NBD_OPT_STRUCTURED_REPLY first');
    }
    if (data.length < 8) return this.replyError(option, P.NBD_REP_ERR_INVALID, 'option data too short');
    const nameLen = data.readUInt32BE(0);
    if (nameLen > P.NBD_MAX_STRING || 4 + nameLen + 4 > data.length) return this.replyError(option, P.NBD_REP_ERR_INVALID, 'bad export name length');
    const name = data.toString('utf8', 4, 4 + nameLen);
    const nQueries = data.readUInt32BE(4 + nameLen);
    const queries: string[] = [];
    let at = 8 + nameLen;
    for (let i = 0; i < nQueries; i++) {
      if (at + 4 > data.length) return this.replyError(option, P.NBD_REP_ERR_INVALID, 'query count does not match the option length');
      const len = data.readUInt32BE(at);
      if (len > P.NBD_MAX_STRING || at + 4 + len > data.length) return this.replyError(option, P.NBD_REP_ERR_INVALID, 'bad query length');
      queries.push(data.toString('utf8', at + 4, at + 4 + len));
      at += 4 + len;
    }
    if (at !== data.length) return this.replyError(option, P.NBD_REP_ERR_INVALID, 'trailing bytes after the queries');
    if (!this.host.findExport(name)) return this.replyError(option, P.NBD_REP_ERR_UNKNOWN, `no export named '${name.slice(0, 100)}'`);
    // LIST with no queries: every context; "base:" lists the namespace.
    const matches = set
      ? queries.includes(P.NBD_META_BASE_ALLOCATION)
      : queries.length === 0 || queries.some((q) => q === P.NBD_META_BASE_ALLOCATION || q === 'base:');
    if (set) {
      this.metaExport = matches ? name : undefined;
      this.metaActive = false;
    }
    if (matches) {
      const ctx = Buffer.from(P.NBD_META_BASE_ALLOCATION, 'utf8');
      const b = Buffer.allocUnsafe(4 + ctx.length);
      // LIST: "the context id … SHOULD be set to 0" since nothing is selected.
      b.writeUInt32BE(set ? P.NBD_META_ID_BASE_ALLOCATION : 0, 0);
      ctx.copy(b, 4);
      this.reply(option, P.NBD_REP_META_CONTEXT, b);
    }
    this.reply(option, P.NBD_REP_ACK);
  }

  private enterTransmission(exp: NbdExport, strictAlignment: boolean): void {
    this.exp = exp;
    this.metaActive = this.metaExport !== undefined && this.metaExport === exp.name && this.structuredReplies;
    this.strictAlignment = strictAlignment;
    this.cpu = this.seq % Math.max(1, exp.backend.nrCpus);
    this.state = 'request-header';
    if (this.handshakeTimer) { clearTimeout(this.handshakeTimer); this.handshakeTimer = undefined; }
    this.log.info({ export: exp.name, structured: this.structuredReplies, strictAlignment }, 'nbd client attached');
  }

  // ── transmission ──────────────────────────────────────────────────────────

  private onRequestHeader(b: Buffer): void {
    const h = decodeRequestHeader(b);
    if (h.magic !== P.NBD_REQUEST_MAGIC) { this.violation(`bad request magic 0x${h.magic.toString(16)}`); return; }
    const exp = this.exp;
    if (!exp) { this.violation('request before an export was chosen'); return; }
    const offset = h.offsetSafe ? h.offset : Number.MAX_SAFE_INTEGER;
    if (h.type === P.NBD_CMD_WRITE) {
      // A payload we will not buffer cannot be skipped safely: drop the connection.
      if (h.length > exp.maxPayload) {
        this.violation(`WRITE of ${h.length} bytes exceeds the ${exp.maxPayload}-byte maximum`);
        return;
      }
      this.pendingWrite = { flags: h.flags, cookie: h.cookie, offset, length: h.length };
      this.state = 'write-payload';
      return;
    }
    if (h.type === P.NBD_CMD_DISC) {
      // "The server MUST handle all outstanding requests … and close the TCP session."
      this.log.debug('client sent NBD_CMD_DISC');
      this.state = 'draining';
      this.rx.clear();
      this.closeIfDrained();
      return;
    }
    this.execute(h.type, h.flags, h.cookie, offset, h.length, undefined);
  }

  /** Validate a request and hand it to the export; always produces exactly one reply. */
  private execute(type: number, flags: number, cookie: bigint, offset: number, length: number, payload: Buffer | undefined): void {
    const exp = this.exp as NbdExport;
    this.host.counters.requests++;
    const bad = this.validate(exp, type, flags, offset, length);
    if (bad !== undefined) {
      this.host.counters.errors++;
      this.log.debug({ cmd: P.NBD_CMD_NAMES[type] ?? type, offset, length, flags }, bad.message);
      this.sendError(type, cookie, bad.errno, bad.message);
      return;
    }
    const fua = (flags & P.NBD_CMD_FLAG_FUA) !== 0;
    this.startRequest();
    switch (type) {
      case P.NBD_CMD_READ: return this.doRead(exp, cookie, offset, length);
      case P.NBD_CMD_WRITE:
        this.track(type, cookie, exp.write(offset, payload as Buffer, fua, this.cpu), length);
        return;
      case P.NBD_CMD_FLUSH: this.track(type, cookie, exp.flush(this.cpu), 0); return;
      case P.NBD_CMD_TRIM: this.track(type, cookie, exp.trim(offset, length, fua, this.cpu), 0); return;
      case P.NBD_CMD_WRITE_ZEROES:
        this.track(type, cookie, exp.writeZeroes(offset, length, (flags & P.NBD_CMD_FLAG_NO_HOLE) !== 0, fua, this.cpu), 0);
        return;
      case P.NBD_CMD_BLOCK_STATUS: return this.doBlockStatus(exp, cookie, offset, length, (flags & P.NBD_CMD_FLAG_REQ_ONE) !== 0);
      default:
        this.sendError(type, cookie, P.NBD_EINVAL, 'unknown command');
        this.finishRequest();
    }
  }

  private validate(exp: NbdExport, type: number, flags: number, offset: number, length: number): { errno: number; message: string } | undefined {
    if (exp.removed) return { errno: P.NBD_ESHUTDOWN, message: 'export was removed' };
    // BLOCK_STATUS only once a context was negotiated ("the server MUST NOT
    // send … unless the client negotiated a metadata context" → EINVAL).
    const known = type === P.NBD_CMD_READ || type === P.NBD_CMD_WRITE || type === P.NBD_CMD_FLUSH
      || type === P.NBD_CMD_TRIM || type === P.NBD_CMD_WRITE_ZEROES || (type === P.NBD_CMD_BLOCK_STATUS && this.metaActive);
    // "The server SHOULD return EINVAL if it receives an unknown command."
    if (!known) return { errno: P.NBD_EINVAL, message: `unsupported command ${type}` };
    // "… if it receives an unknown command flag" or one not valid for the command.
    const extra = flags & ~allowedFlags(type, this.structuredReplies);
    if (extra !== 0) return { errno: P.NBD_EINVAL, message: `invalid flags 0x${extra.toString(16)} for ${P.NBD_CMD_NAMES[type]}` };
    const writes = type === P.NBD_CMD_WRITE || type === P.NBD_CMD_TRIM || type === P.NBD_CMD_WRITE_ZEROES;
    // "SHOULD return EPERM if it receives a write or trim request on a read-only export."
    if (writes && exp.readOnly) return { errno: P.NBD_EPERM, message: 'export is read-only' };
    if (type === P.NBD_CMD_FLUSH) return undefined; // offset/length are reserved
    if (type === P.NBD_CMD_TRIM && !exp.backend.discard) return { errno: P.NBD_EINVAL, message: 'TRIM not supported by this export' };
    if (length === 0) return { errno: P.NBD_EINVAL, message: 'zero-length request' };
    if (offset + length > exp.size) {
      // "SHOULD return ENOSPC if it receives a write request including one or more sectors beyond the size."
      return { errno: writes ? P.NBD_ENOSPC : P.NBD_EINVAL, message: `request [${offset}, +${length}) beyond the export size ${exp.size}` };
    }
    if (type === P.NBD_CMD_READ && length > exp.maxPayload) {
      const df = (flags & P.NBD_CMD_FLAG_DF) !== 0;
      return { errno: df ? P.NBD_EOVERFLOW : P.NBD_EINVAL, message: `READ of ${length} bytes exceeds the ${exp.maxPayload}-byte maximum` };
    }
    if (this.strictAlignment && type !== P.NBD_CMD_TRIM && !exp.isAligned(offset, length)) {
      return { errno: P.NBD_EINVAL, message: `request [${offset}, +${length}) not aligned to the advertised ${exp.minBlock}-byte minimum block size` };
    }
    return undefined;
  }

  private doRead(exp: NbdExport, cookie: bigint, offset: number, length: number): void {
    // One allocation per read: the reply header and the data share a buffer, and
    // the disk reads straight into the data part.
    // The data starts at a 512-byte boundary of a fresh ArrayBuffer, so the
    // block layer's DMA alignment holds without a bounce buffer.
    const prefix = this.structuredReplies ? OFFSET_DATA_PREFIX : P.SIMPLE_REPLY_HEADER_SIZE;
    const whole = Buffer.allocUnsafeSlow(READ_DATA_ALIGN + length);
    const buf = whole.subarray(READ_DATA_ALIGN - prefix);
    exp.read(offset, whole.subarray(READ_DATA_ALIGN), this.cpu).then(
      () => {
        this.host.counters.bytesRead += length;
        if (this.structuredReplies) writeOffsetDataPrefix(buf, cookie, offset, length);
        else writeSimpleReplyHeader(buf, 0, cookie);
        this.send(buf);
        this.finishRequest();
      },
      (err: unknown) => this.fail(P.NBD_CMD_READ, cookie, err),
    );
  }

  /** One final NBD_REPLY_TYPE_BLOCK_STATUS chunk: context id, then (length, flags) descriptors. */
  private doBlockStatus(exp: NbdExport, cookie: bigint, offset: number, length: number, reqOne: boolean): void {
    exp.blockStatus(offset, length, reqOne, this.cpu).then(
      (extents: BlockExtent[]) => {
        const n = 4 + 8 * extents.length;
        const b = Buffer.allocUnsafe(P.STRUCTURED_REPLY_HEADER_SIZE + n);
        writeStructuredHeader(b, P.NBD_REPLY_FLAG_DONE, P.NBD_REPLY_TYPE_BLOCK_STATUS, cookie, n);
        b.writeUInt32BE(P.NBD_META_ID_BASE_ALLOCATION, P.STRUCTURED_REPLY_HEADER_SIZE);
        let at = P.STRUCTURED_REPLY_HEADER_SIZE + 4;
        for (const e of extents) {
          b.writeUInt32BE(e.length >>> 0, at);
          b.writeUInt32BE(e.flags >>> 0, at + 4);
          at += 8;
        }
        this.send(b);
        this.finishRequest();
      },
      (err: unknown) => this.fail(P.NBD_CMD_BLOCK_STATUS, cookie, err),
    );
  }

  private track(type: number, cookie: bigint, p: Promise<void>, bytesWritten: number): void {
    p.then(
      () => {
        this.host.counters.bytesWritten += bytesWritten;
        this.send(encodeSimpleReply(0, cookie));
        this.finishRequest();
      },
      (err: unknown) => this.fail(type, cookie, err),
    );
  }

  private fail(type: number, cookie: bigint, err: unknown): void {
    this.host.counters.errors++;
    const errno = nbdErrnoFromError(err);
    const message = errorMessage(err);
    this.log.debug({ cmd: P.NBD_CMD_NAMES[type] ?? type, errno: P.NBD_ERRNO_NAMES[errno] ?? errno }, `request failed: ${message}`);
    this.sendError(type, cookie, errno, message);
    this.finishRequest();
  }

  private sendError(type: number, cookie: bigint, errno: number, message: string): void {
    // With structured replies a READ MUST get a structured reply; errors SHOULD
    // be structured anyway, since they can carry a message.
    if (this.structuredReplies) this.send(encodeStructuredError(cookie, errno, message));
    else this.send(encodeSimpleReply(errno, cookie));
    void type;
  }

  private startRequest(): void {
    this.inflight++;
    if (this.inflight >= this.limits.maxInflight) this.pause();
  }

  private finishRequest(): void {
    this.inflight--;
    this.maybeResume();
    this.closeIfDrained();
  }

  // ── flow control and output ───────────────────────────────────────────────

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  private maybeResume(): void {
    if (!this.paused) return;
    if (this.inflight >= this.limits.maxInflight) return;
    if (this.socket.writableLength > this.limits.maxQueuedReplyBytes) return;
    this.paused = false;
    if (this.state === 'closed' || this.state === 'draining') return;
    this.socket.resume();
    // Messages already buffered before the pause.
    queueMicrotask(() => this.pump());
  }

  private send(buf: Buffer): void {
    if (this.state === 'closed' || this.socket.destroyed) return;
    this.socket.write(buf);
    if (this.socket.writableLength > this.limits.maxQueuedReplyBytes) this.pause();
  }

  private closeIfDrained(): void {
    if (this.state === 'draining' && this.inflight === 0) {
      this.state = 'closed';
      this.socket.end();
    }
  }

  private violation(reason: string): void {
    this.host.counters.protocolErrors++;
    this.log.warn(`nbd protocol violation, closing connection: ${reason}`);
    this.destroy();
  }

  private onClose(): void {
    if (this.handshakeTimer) { clearTimeout(this.handshakeTimer); this.handshakeTimer = undefined; }
    this.state = 'closed';
    this.rx.clear();
    if (!this.closedNotified) { this.closedNotified = true; this.host.connectionClosed(this); }
  }
}
