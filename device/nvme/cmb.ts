// Controller Memory Buffer (NVMe 1.4 §3.1.11-§3.1.16, §4.7): device memory in
// BAR2 that the host can place I/O submission queues in and fill with posted
// region_writes, so the controller reads SQEs locally — no SQE fetch round
// trip. Supported: SQS only (CMBSZ.SQS=1); CQs, PRP lists and data stay in
// host memory. Addressing (§3.1.15): once CMBMSC.CMSE=1, the controller
// addresses the CMB at [CBA, CBA + size).
import { CMBLOC, CMBSZ, CMBMSC, CMBSTS, makeReg, getField } from '../../src/spec/registers.ts';
import type { BarIndex, MemoryBarDecl } from '../pci/model.ts';

export const CMB_BAR: BarIndex = 2;
const TWO32 = 0x1_0000_0000;

export class Cmb {
  /** Device memory, allocated lazily (a large CMB costs nothing until written). */
  private mem: Uint8Array | undefined;
  /** CMBMSC as written: CRE bit 0, CMSE bit 1, CBA bits 63:12. */
  cmbmsc = 0;
  cmbsts = 0;

  constructor(readonly size: number, private readonly onGuest: (msg: string, extra: Record<string, unknown>) => void) {}

  get enabled(): boolean {
    return this.size > 0;
  }
  /** CMBMSC.CRE: CMBLOC/CMBSZ read as 0 until the host sets it (§3.1.15). */
  get cre(): boolean {
    return (this.cmbmsc & 1) !== 0;
  }
  /** CMBMSC.CMSE: the controller may be handed CMB addresses. */
  get cmse(): boolean {
    return (this.cmbmsc & 2) !== 0;
  }
  /** Controller base address CBA. */
  get cba(): number {
    return this.cmbmsc - (this.cmbmsc % 4096);
  }

  cmbloc(): number {
    if (!this.enabled || !this.cre) return 0;
    return makeReg(CMBLOC, { BIR: CMB_BAR, OFST: 0 });
  }
  cmbsz(): number {
    if (!this.enabled || !this.cre) return 0;
    // SZU=2 (1 MiB units), SZ = size in MiB; submission queues only.
    return makeReg(CMBSZ, { SQS: 1, SZU: 2, SZ: this.size >>> 20 });
  }

  writeCmbmsc(high: boolean, value: number): void {
    if (!this.enabled) return this.onGuest('§3.1.15: CMBMSC written without a CMB (CAP.CMBS=0) ignored', { value });
    const lo = this.cmbmsc % TWO32;
    const hi = Math.floor(this.cmbmsc / TWO32);
    this.cmbmsc = high ? lo + (value >>> 0) * TWO32 : hi * TWO32 + ((value & 0xffff_f003) >>> 0);
    if (getField(lo, CMBMSC.CMSE) === 0 && this.cmse && this.cba + this.size > 2 ** 53) {
      this.cmbsts = makeReg(CMBSTS, { CBAI: 1 });
    } else this.cmbsts = 0;
  }

  /** True when [addr, addr+len) is CMB memory as the controller addresses it. */
  contains(addr: number, len = 1): boolean {
    return this.enabled && this.cmse && addr >= this.cba && addr + len <= this.cba + this.size;
  }

  /** Bytes at a controller address inside the CMB (a copy), or undefined when outside. */
  slice(addr: number, len: number): Uint8Array | undefined {
    if (!this.contains(addr, len)) return undefined;
    const off = addr - this.cba;
    if (this.mem === undefined) return new Uint8Array(len);
    return this.mem.slice(off, off + len);
  }

  /** Reset: CMBMSC back to 0 (controller reset clears it, §3.1.15); contents are kept. */
  reset(): void {
    this.cmbmsc = 0;
    this.cmbsts = 0;
  }

  /** The BAR2 declaration (any size/alignment of access). */
  bar(): MemoryBarDecl {
    return {
      kind: 'memory',
      index: CMB_BAR,
      size: this.size,
      is64: true,
      prefetchable: true,
      read: (off, len) => (this.mem === undefined ? new Uint8Array(len) : this.mem.subarray(off, off + len)),
      write: (off, data) => {
        if (this.mem === undefined) this.mem = new Uint8Array(this.size);
        this.mem.set(data, off);
        this.onWrite?.(off, data.length);
      },
    };
  }

  /** Called after a host write into the CMB (the controller may use it to notice SQEs). */
  onWrite: ((off: number, len: number) => void) | undefined;
}
