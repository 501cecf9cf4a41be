// Errors of the host PCI core, each with a stable code (after ws's receiver:
// one class, one factory, a string code a caller can switch on).

export const PCI_ERROR_CODES = [
  /** The function is gone (surprise removal or detach); nothing was sent. */
  'gone',
  /** An offset/length outside a BAR, config space, or a DMA buffer. */
  'bounds',
  /** A register access of the wrong size or alignment. */
  'size',
  /** The BAR / capability / vector does not exist on this function. */
  'no_such',
  /** The device answered a request with `err` (see `protocolCode`). */
  'device',
  /** The host's IOVA space or window table is exhausted. */
  'no_space',
  /** `unmap()`/`free()` of a mapping that is no longer mapped. */
  'double_unmap',
  /** An argument that can never be valid (negative size, wrong type, …). */
  'invalid',
  /** The handshake or config-space walk found something a PCI host cannot accept. */
  'config',
] as const;
export type PciErrorCode = (typeof PCI_ERROR_CODES)[number];

export class PciError extends Error {
  override readonly name = 'PciError';
  readonly code: PciErrorCode;
  /** For code 'device': the `err.code` the device answered with (`bounds`, `size`, `iommu`, …). */
  readonly protocolCode: string | undefined;
  constructor(code: PciErrorCode, message: string, opts: { protocolCode?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.protocolCode = opts.protocolCode;
  }
}

export function pciError(code: PciErrorCode, message: string, opts: { protocolCode?: string; cause?: unknown } = {}): PciError {
  return new PciError(code, message, opts);
}

export function isPciError(x: unknown): x is PciError {
  return x instanceof PciError;
}
