// The edu teaching device (after QEMU's hw/misc/edu.c and docs/specs/edu.rst):
// the smallest complete device plugin. BAR0 (1 MiB, registers) holds an
// identification register, a liveness check, a factorial unit, an interrupt
// raise/acknowledge pair and a DMA engine that copies between host memory
// and a 4 KiB buffer at 0x40000. Interrupts use MSI-X vector 0 (QEMU's edu
// uses INTx/MSI; the wire carries MSI-X only).
//
// Register map (BAR0):
//   0x00 RO  identification 0xRRrr00ed (1.0 → 0x010000ed)
//   0x04 RW  liveness: reads back the bitwise inverse of what was written
//   0x08 RW  factorial: write n (ignored while computing); reads n! (mod 2^32) once done
//   0x20 RW  status: bit0 computing (RO), bit7 raise interrupt 0x001 when the factorial is done
//   0x24 RO  interrupt status (bits set by 0x60 / by the engines)
//   0x60 WO  interrupt raise: status |= value, MSI-X vector 0 fires
//   0x64 WO  interrupt acknowledge: status &= ~value
//   0x80 RW  DMA source address (64-bit; a 4-byte write at 0x80 sets the low half and clears the high half, as QEMU; 0x84 sets the high half)
//   0x88 RW  DMA destination address (same)
//   0x90 RW  DMA transfer count
//   0x98 RW  DMA command: bit0 start / busy, bit1 direction (0 host→edu, 1 edu→host), bit2 raise interrupt 0x100 when done,
//            bit4 error (nvmelab extension: the last transfer was refused — bus mastering off, outside the host's windows,
//            or outside the edu buffer; QEMU would abort the VM there)
//   0x40000–0x40fff  the DMA buffer (nvmelab extension: also readable/writable directly with 4/8-byte accesses)
//   0x80000  MSI-X table, 0x80800 PBA
// Accesses below 0x80 are 4 bytes only (edu.rst "MMIO area spec"): an 8-byte
// read there returns all-ones and an 8-byte write is ignored. Unimplemented
// offsets read all-ones.
import { put32, u32 } from '../../src/util/bytes.ts';
import type { DeviceContext, DeviceModel, MsixDecl, PciIds, RegisterBarDecl, ResetKind } from '../pci/model.ts';

export const EDU_REG = {
  ID: 0x00,
  LIVENESS: 0x04,
  FACTORIAL: 0x08,
  STATUS: 0x20,
  IRQ_STATUS: 0x24,
  IRQ_RAISE: 0x60,
  IRQ_ACK: 0x64,
  DMA_SRC: 0x80,
  DMA_DST: 0x88,
  DMA_COUNT: 0x90,
  DMA_CMD: 0x98,
} as const;

export const EDU_STATUS = { COMPUTING: 0x01, IRQ_ON_FACTORIAL: 0x80 } as const;
export const EDU_DMA_CMD = { START: 0x01, TO_HOST: 0x02, IRQ: 0x04, ERROR: 0x10 } as const;
/** Interrupt status values the engines raise (edu.c: 0x1 factorial, 0x100 DMA). */
export const EDU_IRQ = { FACTORIAL: 0x001, DMA: 0x100 } as const;
export const EDU_ID = 0x010000ed;
export const EDU_BAR_SIZE = 1 << 20;
export const EDU_DMA_BUF_OFFSET = 0x40000;
export const EDU_DMA_BUF_SIZE = 4096;
export const EDU_MSIX_TABLE = 0x80000;
export const EDU_MSIX_PBA = 0x80800;

export interface EduOptions {
  /** DMA addresses are masked to this many bits (QEMU's edu: 28 by default). */
  dmaBits: number;
  /** Number of MSI-X vectors (all events use vector 0). */
  vectors: number;
}

export class EduDevice implements DeviceModel {
  readonly name = 'edu';
  readonly ids: PciIds = {
    vendor: 0x1234, device: 0x11e8, subsystemVendor: 0x1af4, subsystemDevice: 0x1100, classCode: 0x00ff00, revision: 0x10,
  };
  readonly bars: readonly RegisterBarDecl[];
  readonly msix: MsixDecl;

  private ctx: DeviceContext | undefined;
  private readonly dmaLimit: number;
  /** Bumped on reset: work scheduled before is dropped. */
  private gen = 0;
  private liveness = 0;
  private fact = 0;
  private status = 0;
  private irqStatus = 0;
  private dmaSrc = 0;
  private dmaDst = 0;
  private dmaCount = 0;
  private dmaCmd = 0;
  private readonly buf = new Uint8Array(EDU_DMA_BUF_SIZE);
  private readonly counters = { factorials: 0, dmaToDevice: 0, dmaToHost: 0, dmaErrors: 0, irqsRaised: 0, clampedAddresses: 0 };

  constructor(opts: EduOptions) {
    this.dmaLimit = 2 ** opts.dmaBits;
    this.msix = { vectors: opts.vectors, tableBar: 0, tableOffset: EDU_MSIX_TABLE, pbaBar: 0, pbaOffset: EDU_MSIX_PBA };
    this.bars = [{
      index: 0,
      size: EDU_BAR_SIZE,
      kind: 'registers',
      read32: (off) => this.read32(off),
      write32: (off, v) => this.write32(off, v),
      read64: (off) => this.read64(off),
      write64: (off, lo, hi) => this.write64(off, lo, hi),
    }];
  }

  attach(ctx: DeviceContext): void {
    this.ctx = ctx;
  }

  reset(kind: ResetKind): void {
    this.gen++;
    this.liveness = 0;
    this.fact = 0;
    this.status = 0;
    this.irqStatus = 0;
    this.dmaSrc = 0;
    this.dmaDst = 0;
    this.dmaCount = 0;
    this.dmaCmd = 0;
    if (kind === 'power-on') this.buf.fill(0);
  }

  describe(): Record<string, unknown> {
    return {
      status: this.status, irqStatus: this.irqStatus, dmaCmd: this.dmaCmd, dmaBits: Math.log2(this.dmaLimit), ...this.counters,
    };
  }

  // --- register access ------------------------------------------------------

  private read32(off: number): number {
    switch (off) {
      case EDU_REG.ID: return EDU_ID;
      case EDU_REG.LIVENESS: return ~this.liveness >>> 0;
      case EDU_REG.FACTORIAL: return this.fact >>> 0;
      case EDU_REG.STATUS: return this.status;
      case EDU_REG.IRQ_STATUS: return this.irqStatus >>> 0;
      case EDU_REG.DMA_SRC: return lo32(this.dmaSrc);
      case EDU_REG.DMA_SRC + 4: return hi32(this.dmaSrc);
      case EDU_REG.DMA_DST: return lo32(this.dmaDst);
      case EDU_REG.DMA_DST + 4: return hi32(this.dmaDst);
      case EDU_REG.DMA_COUNT: return lo32(this.dmaCount);
      case EDU_REG.DMA_COUNT + 4: return hi32(this.dmaCount);
      case EDU_REG.DMA_CMD: return this.dmaCmd;
      case EDU_REG.DMA_CMD + 4: return 0;
      default:
        if (off >= EDU_DMA_BUF_OFFSET && off < EDU_DMA_BUF_OFFSET + EDU_DMA_BUF_SIZE) {
          const o = off - EDU_DMA_BUF_OFFSET;
          return u32(this.buf, o);
        }
        return 0xffffffff;
    }
  }

  private read64(off: number): bigint {
    // edu.rst: only 4-byte accesses below 0x80.
    if (off < 0x80) return 0xffff_ffff_ffff_ffffn;
    return BigInt(this.read32(off)) | (BigInt(this.read32(off + 4)) << 32n);
  }

  private write32(off: number, v: number): void {
    switch (off) {
      case EDU_REG.LIVENESS:
        this.liveness = v;
        return;
      case EDU_REG.FACTORIAL:
        // edu.c: a new value is taken only while the unit is idle.
        if ((this.status & EDU_STATUS.COMPUTING) !== 0) return;
        this.fact = v;
        this.status |= EDU_STATUS.COMPUTING;
        this.startFactorial();
        return;
      case EDU_REG.STATUS:
        // Only the "interrupt on completion" bit is writable.
        this.status = (this.status & ~EDU_STATUS.IRQ_ON_FACTORIAL) | (v & EDU_STATUS.IRQ_ON_FACTORIAL);
        return;
      case EDU_REG.IRQ_RAISE:
        this.raise(v);
        return;
      case EDU_REG.IRQ_ACK:
        this.irqStatus = (this.irqStatus & ~v) >>> 0;
        return;
      case EDU_REG.DMA_SRC:
        if (!this.dmaBusy()) this.dmaSrc = v;
        return;
      case EDU_REG.DMA_SRC + 4:
        if (!this.dmaBusy()) this.dmaSrc = lo32(this.dmaSrc) + v * 2 ** 32;
        return;
      case EDU_REG.DMA_DST:
        if (!this.dmaBusy()) this.dmaDst = v;
        return;
      case EDU_REG.DMA_DST + 4:
        if (!this.dmaBusy()) this.dmaDst = lo32(this.dmaDst) + v * 2 ** 32;
        return;
      case EDU_REG.DMA_COUNT:
        if (!this.dmaBusy()) this.dmaCount = v;
        return;
      case EDU_REG.DMA_CMD:
        this.writeDmaCmd(v);
        return;
      default:
        if (off >= EDU_DMA_BUF_OFFSET && off < EDU_DMA_BUF_OFFSET + EDU_DMA_BUF_SIZE) {
          const o = off - EDU_DMA_BUF_OFFSET;
          put32(this.buf, o, v);
        }
        // Anything else: ignored, as edu.c does.
    }
  }

  private write64(off: number, lo: number, hi: number): void {
    if (off < 0x80) return; // 4-byte only below 0x80
    if (off === EDU_REG.DMA_SRC || off === EDU_REG.DMA_DST || off === EDU_REG.DMA_COUNT) {
      if (this.dmaBusy()) return;
      // Addresses are kept below 2^53 (wire integers); higher bits are dropped here and by dma_bits.
      const v = lo + (hi & 0x1fffff) * 2 ** 32;
      if (off === EDU_REG.DMA_SRC) this.dmaSrc = v;
      else if (off === EDU_REG.DMA_DST) this.dmaDst = v;
      else this.dmaCount = v;
      return;
    }
    if (off === EDU_REG.DMA_CMD) {
      this.writeDmaCmd(lo);
      return;
    }
    this.write32(off, lo);
    this.write32(off + 4, hi);
  }

  // --- engines ----------------------------------------------------------------

  private raise(value: number): void {
    this.irqStatus = (this.irqStatus | value) >>> 0;
    this.counters.irqsRaised++;
    this.ctx?.raiseIrq(0);
  }

  private startFactorial(): void {
    const gen = this.gen;
    // Computed on a later turn so a driver can see the busy bit, as with edu.c's worker thread.
    setImmediate(() => {
      if (gen !== this.gen) return;
      let r = 1;
      for (let i = this.fact; i > 1; i--) r = Math.imul(r, i) >>> 0;
      this.fact = r;
      this.counters.factorials++;
      this.status &= ~EDU_STATUS.COMPUTING;
      if ((this.status & EDU_STATUS.IRQ_ON_FACTORIAL) !== 0) this.raise(EDU_IRQ.FACTORIAL);
    });
  }

  private dmaBusy(): boolean {
    return (this.dmaCmd & EDU_DMA_CMD.START) !== 0;
  }

  private writeDmaCmd(v: number): void {
    if (this.dmaBusy()) return; // edu.c: a command is taken only while the engine is idle
    this.dmaCmd = v & (EDU_DMA_CMD.START | EDU_DMA_CMD.TO_HOST | EDU_DMA_CMD.IRQ);
    if ((v & EDU_DMA_CMD.START) === 0) return;
    const gen = this.gen;
    setImmediate(() => {
      if (gen === this.gen) this.runDma(gen);
    });
  }

  /** Clamp a DMA address to dma_bits, as edu_clamp_addr does. */
  private clamp(addr: number): number {
    const r = addr % this.dmaLimit;
    if (r !== addr) {
      this.counters.clampedAddresses++;
      this.ctx?.log.warn({ addr, clamped: r }, 'edu: DMA address clamped to dma_bits');
    }
    return r;
  }

  private runDma(gen: number): void {
    const ctx = this.ctx;
    const toHost = (this.dmaCmd & EDU_DMA_CMD.TO_HOST) !== 0;
    const count = this.dmaCount;
    const devAddr = toHost ? this.dmaSrc : this.dmaDst;
    const o = devAddr - EDU_DMA_BUF_OFFSET;
    if (ctx === undefined || o < 0 || count < 0 || o + count > EDU_DMA_BUF_SIZE) {
      ctx?.log.warn({ devAddr, count }, 'edu: DMA outside the 4 KiB buffer at 0x40000');
      this.finishDma(false);
      return;
    }
    if (toHost) {
      const ok = ctx.dmaWrite(this.clamp(this.dmaDst), this.buf.slice(o, o + count));
      if (ok) this.counters.dmaToHost++;
      this.finishDma(ok);
      return;
    }
    ctx.dmaReadCb(this.clamp(this.dmaSrc), count, (err, data) => {
      if (gen !== this.gen) return;
      if (err !== undefined || data === undefined) {
        ctx.log.warn({ code: err?.code }, `edu: DMA from host failed: ${err?.message ?? 'no data'}`);
        this.finishDma(false);
        return;
      }
      this.buf.set(data, o);
      this.counters.dmaToDevice++;
      this.finishDma(true);
    });
  }

  private finishDma(ok: boolean): void {
    if (!ok) this.counters.dmaErrors++;
    this.dmaCmd = (this.dmaCmd & ~EDU_DMA_CMD.START & ~EDU_DMA_CMD.ERROR) | (ok ? 0 : EDU_DMA_CMD.ERROR);
    if ((this.dmaCmd & EDU_DMA_CMD.IRQ) !== 0) this.raise(EDU_IRQ.DMA);
  }
}

function lo32(v: number): number {
  return v % 2 ** 32 >>> 0;
}
function hi32(v: number): number {
  return Math.floor(v / 2 ** 32) >>> 0;
}
