// Protocol errors with stable codes, made by one factory (after ws's
// receiver, which builds every error with a message, a close code and a
// stable WS_ERR_* string).
import { ERROR_CODES, type ErrorCode } from './messages.ts';

export type { ErrorCode };

export interface ProtocolErrorOptions {
  closeCode?: number;
  id?: number;
  type?: string;
  cause?: unknown;
}

export class ProtocolError extends Error {
  override readonly name: string = 'ProtocolError';
  /** Stable code, the same set as `err.code` on the wire. */
  readonly code: ErrorCode;
  /** WebSocket close code when this error ends the connection (4400, 1009, …). */
  readonly closeCode: number | undefined;
  /** The offending message's request id, when it had a valid one. */
  readonly id: number | undefined;
  /** The offending message's `t`, when it was a string. */
  readonly type: string | undefined;

  constructor(code: ErrorCode, message: string, opts: ProtocolErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.closeCode = opts.closeCode;
    this.id = opts.id;
    this.type = opts.type;
  }
}

/** The one factory for protocol errors. */
export function protocolError(code: ErrorCode, message: string, opts: ProtocolErrorOptions = {}): ProtocolError {
  return new ProtocolError(code, message, opts);
}

export function isErrorCode(x: unknown): x is ErrorCode {
  return typeof x === 'string' && (ERROR_CODES as readonly string[]).includes(x);
}

export function isProtocolError(x: unknown): x is ProtocolError {
  return x instanceof ProtocolError;
}

/** Raised by the channel for requests that can never complete: the link closed or said bye. */
export class ChannelClosedError extends ProtocolError {
  /** The close code of the connection (1000 after bye, 4410 removed, …). */
  readonly linkCloseCode: number;
  constructor(linkCloseCode: number, reason: string) {
    super('state', `channel closed (${linkCloseCode}${reason ? `: ${reason}` : ''})`, { closeCode: linkCloseCode });
    this.linkCloseCode = linkCloseCode;
  }
}
