// [raw] MSI-X table and Pending Bit Array (PCI 3.0 §6.8.2.6–§6.8.2.10).
// The table holds 16-byte entries (address lo/hi, data, vector control); the
// PBA one bit per vector in QWORDs. A vector signalled while masked — by its
// own Mask Bit or by the Function Mask — sets its pending bit instead, and is
// sent (and the bit cleared) as soon as it is unmasked (§6.8.3.4). Accesses
// here are DWORD or aligned QWORD only (§6.8.2: "software must use aligned
// full DWORD or aligned full QWORD transactions"); the caller checks that.
import { MSIX } from './regs.ts';

export interface MsixHooks {
  /** MSI-X enabled in Message Control. */
  enabled(): boolean;
  /** Function Mask set in Message Control. */
  functionMasked(): boolean;
  /** Deliver the message for `vector` (send `irq`). */
  send(vector: number): void;
  /** Count a pending vector delivered on unmask. */
  deliveredOnUnmask(vector: number): void;
}

export type RaiseResult = 'sent' | 'pending' | 'disabled' | 'bad_vector';

export class MsixTable {
  readonly tableSize: number;
  readonly pbaSize: number;
  private readonly table: Uint32Array;
  /** One bit per vector, 32 per word; the PBA's QWORDs are pairs of these words. */
  private readonly pba: Uint32Array;

  constructor(
    readonly vectors: number,
    private readonly hooks: MsixHooks,
  ) {
    this.tableSize = vectors * MSIX.ENTRY_SIZE;
    this.pbaSize = Math.ceil(vectors / 64) * 8;
    this.table = new Uint32Array(vectors * 4);
    this.pba = new Uint32Array(this.pbaSize / 4);
    this.reset();
  }

  /** Power-on / FLR state: every vector masked (§6.8.2.9: Mask Bit resets to 1), nothing pending. */
  reset(): void {
    this.table.fill(0);
    for (let v = 0; v < this.vectors; v++) this.table[v * 4 + 3] = MSIX.VECTOR_CTRL_MASK;
    this.pba.fill(0);
  }

  vectorMasked(v: number): boolean {
    return ((this.table[v * 4 + 3] ?? 0) & MSIX.VECTOR_CTRL_MASK) !== 0;
  }

  pending(v: number): boolean {
    return (((this.pba[v >>> 5] ?? 0) >>> (v & 31)) & 1) !== 0;
  }

  /** True when `v` would be sent now. */
  deliverable(v: number): boolean {
    return v >= 0 && v < this.vectors && this.hooks.enabled() && !this.hooks.functionMasked() && !this.vectorMasked(v);
  }

  /** Signal vector `v`. */
  raise(v: number): RaiseResult {
    if (!Number.isInteger(v) || v < 0 || v >= this.vectors) return 'bad_vector';
    // With MSI-X disabled the function would fall back to INTx, which the wire does not carry.
    if (!this.hooks.enabled()) return 'disabled';
    if (this.hooks.functionMasked() || this.vectorMasked(v)) {
      this.setPending(v, true);
      return 'pending';
    }
    this.hooks.send(v);
    return 'sent';
  }

  /** Deliver every pending vector that is now unmasked (after an unmask or enable). */
  deliverPending(): void {
    if (!this.hooks.enabled() || this.hooks.functionMasked()) return;
    for (let w = 0; w < this.pba.length; w++) {
      if (this.pba[w] === 0) continue;
      for (let b = 0; b < 32; b++) {
        const v = w * 32 + b;
        if (v < this.vectors && this.pending(v) && !this.vectorMasked(v)) this.fire(v);
      }
    }
  }

  /** Read a DWORD of the table at byte offset `off` (4-aligned, inside the table). */
  readTable(off: number): number {
    return (this.table[off >>> 2] ?? 0) >>> 0;
  }

  /** Write a DWORD of the table; an unmasking Vector Control write delivers a pending vector. */
  writeTable(off: number, value: number): void {
    const i = off >>> 2;
    const v = i >>> 2;
    if ((i & 3) === 3) {
      // Vector Control: only the Mask Bit is defined; other bits are reserved (RO 0).
      const wasMasked = this.vectorMasked(v);
      this.table[i] = value & MSIX.VECTOR_CTRL_MASK;
      if (wasMasked && !this.vectorMasked(v) && this.pending(v) && this.deliverable(v)) this.fire(v);
      return;
    }
    if ((i & 3) === 0) {
      this.table[i] = value & ~0x3; // Message Address is DWORD-aligned: bits 1:0 are RO 0
      return;
    }
    this.table[i] = value >>> 0;
  }

  /** Read a DWORD of the PBA (read-only; writes are ignored, §6.8.2.10). */
  readPba(off: number): number {
    return (this.pba[off >>> 2] ?? 0) >>> 0;
  }

  /** Snapshot of vector state for query-device. */
  describe(): { vector: number; masked: boolean; pending: boolean; address: number; data: number }[] {
    const out = [];
    for (let v = 0; v < this.vectors; v++) {
      out.push({
        vector: v,
        masked: this.vectorMasked(v),
        pending: this.pending(v),
        address: (this.table[v * 4] ?? 0) + (this.table[v * 4 + 1] ?? 0) * 2 ** 32,
        data: this.table[v * 4 + 2] ?? 0,
      });
    }
    return out;
  }

  private fire(v: number): void {
    this.setPending(v, false);
    this.hooks.deliveredOnUnmask(v);
    this.hooks.send(v);
  }

  private setPending(v: number, on: boolean): void {
    const w = v >>> 5;
    const bit = 1 << (v & 31);
    const cur = this.pba[w] ?? 0;
    this.pba[w] = on ? cur | bit : cur & ~bit;
  }
}
