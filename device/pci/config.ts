// [raw] A PCI Express function's 4 KiB configuration space: type 0 header,
// capability chain PM (0x40) → MSI-X (0x50) → PCI Express (0x60), no extended
// capabilities. Writes go through per-byte masks as in hardware: a read-only
// byte ignores writes, a RW1C byte clears the bits written as 1, BARs keep
// only their address bits (so writing all-ones reads back the size mask, PCI
// 3.0 §6.2.5.1). Side effects (MSE/BME, MSI-X enable/mask, FLR) are reported
// to the owner through hooks after the write has taken effect.
import { put16, u16, u32 } from '../../src/util/bytes.ts';
import { BAR, CAP_ID, CAP_OFFSET, CFG, COMMAND, CONFIG_SPACE_SIZE, MSIX, PCIE, PM, STATUS } from './regs.ts';
import type { BarDecl, MsixDecl, PciIds } from './model.ts';

export interface ConfigHooks {
  /** Command register changed (old, new). */
  commandChanged(old: number, now: number): void;
  /** MSI-X Message Control changed (old, new). */
  msixControlChanged(old: number, now: number): void;
  /** PMCSR PowerState changed (old, new; 0 = D0, 3 = D3hot). */
  powerStateChanged(old: number, now: number): void;
  /** Device Control "Initiate Function Level Reset" was written as 1. Called after the write. */
  flrRequested(): void;
}

/** The parts of a model config space depends on. */
export interface ConfigShape {
  readonly ids: PciIds;
  readonly bars: readonly BarDecl[];
  readonly msix: MsixDecl;
}

export class ConfigSpace {
  /** Current contents. */
  private readonly bytes = new Uint8Array(CONFIG_SPACE_SIZE);
  private readonly wmask = new Uint8Array(CONFIG_SPACE_SIZE);
  private readonly w1cmask = new Uint8Array(CONFIG_SPACE_SIZE);
  /** Power-on image, restored by reset(). */
  private readonly image: Uint8Array;

  constructor(
    shape: ConfigShape,
    private readonly hooks: ConfigHooks,
  ) {
    this.build(shape);
    this.image = this.bytes.slice();
  }

  /** Return to power-on values (PCIe FLR resets the function's config registers too; the host restores them). */
  reset(): void {
    this.bytes.set(this.image);
  }

  /** Read `size` (1, 2 or 4) bytes at `off`, little-endian. The caller has checked bounds and alignment. */
  read(off: number, size: number): number {
    const b = this.bytes;
    if (size === 1) return b[off] ?? 0;
    if (size === 2) return u16(b, off);
    return u32(b, off);
  }

  /** Write `size` bytes of `value` at `off` through the masks, then run side effects. */
  write(off: number, size: number, value: number): void {
    const oldCmd = this.u16(CFG.COMMAND);
    const msixCtl = CAP_OFFSET.MSIX + MSIX.CONTROL;
    const oldMsix = this.u16(msixCtl);
    const pmcsr = CAP_OFFSET.PM + PM.PMCSR;
    const oldPower = this.u16(pmcsr) & PM.PMCSR_STATE_MASK;
    for (let i = 0; i < size; i++) {
      const a = off + i;
      const v = (value >>> (8 * i)) & 0xff;
      const w = this.wmask[a] ?? 0;
      const c = this.w1cmask[a] ?? 0;
      const cur = this.bytes[a] ?? 0;
      this.bytes[a] = ((cur & ~w) | (v & w)) & ~(v & c);
    }
    // PM 1.2 §3.2.4: PowerState 01b/10b (D1/D2) are not supported by this
    // function; "if software attempts to write an unsupported state, the write
    // must complete normally but the data is discarded".
    const now = this.u16(pmcsr) & PM.PMCSR_STATE_MASK;
    if (now === 1 || now === 2) this.setU16(pmcsr, (this.u16(pmcsr) & ~PM.PMCSR_STATE_MASK) | oldPower);

    const devctl = CAP_OFFSET.PCIE + PCIE.DEVCTL;
    const flr = (this.u16(devctl) & PCIE.DEVCTL_INITIATE_FLR) !== 0;
    if (flr) this.setU16(devctl, this.u16(devctl) & ~PCIE.DEVCTL_INITIATE_FLR); // always reads 0

    const cmd = this.u16(CFG.COMMAND);
    if (cmd !== oldCmd) this.hooks.commandChanged(oldCmd, cmd);
    const msix = this.u16(msixCtl);
    if (msix !== oldMsix) this.hooks.msixControlChanged(oldMsix, msix);
    const power = this.u16(pmcsr) & PM.PMCSR_STATE_MASK;
    if (power !== oldPower) this.hooks.powerStateChanged(oldPower, power);
    if (flr) this.hooks.flrRequested();
  }

  get command(): number {
    return this.u16(CFG.COMMAND);
  }
  get memoryEnabled(): boolean {
    return (this.command & COMMAND.MEMORY_SPACE) !== 0;
  }
  get busMaster(): boolean {
    return (this.command & COMMAND.BUS_MASTER) !== 0;
  }
  get msixControl(): number {
    return this.u16(CAP_OFFSET.MSIX + MSIX.CONTROL);
  }
  get msixEnabled(): boolean {
    return (this.msixControl & MSIX.CONTROL_ENABLE) !== 0;
  }
  get msixFunctionMasked(): boolean {
    return (this.msixControl & MSIX.CONTROL_FUNCTION_MASK) !== 0;
  }
  /** PMCSR PowerState (0 = D0, 3 = D3hot). */
  get powerState(): number {
    return this.u16(CAP_OFFSET.PM + PM.PMCSR) & PM.PMCSR_STATE_MASK;
  }

  /** Programmed address of BAR `index` (64-bit BARs combine both dwords). */
  barAddress(index: number): number {
    const lo = this.read(CFG.BAR0 + 4 * index, 4);
    const addr = lo & ~BAR.FLAG_BITS;
    if ((lo & 0b110) === BAR.TYPE_64 && index < 5) return (addr >>> 0) + this.read(CFG.BAR0 + 4 * (index + 1), 4) * 2 ** 32;
    return addr >>> 0;
  }

  /** A copy of the whole space (tests, query-device). */
  snapshot(): Uint8Array {
    return this.bytes.slice();
  }

  private u16(off: number): number {
    return u16(this.bytes, off);
  }
  private setU16(off: number, v: number): void {
    put16(this.bytes, off, v);
  }
  private set(off: number, size: number, value: number, wmask = 0, w1c = 0): void {
    for (let i = 0; i < size; i++) {
      this.bytes[off + i] = (value >>> (8 * i)) & 0xff;
      this.wmask[off + i] = (wmask >>> (8 * i)) & 0xff;
      this.w1cmask[off + i] = (w1c >>> (8 * i)) & 0xff;
    }
  }

  private build(shape: ConfigShape): void {
    const { ids, bars, msix } = shape;
    // --- type 0 header (PCI 3.0 §6.2)
    this.set(CFG.VENDOR_ID, 2, ids.vendor);
    this.set(CFG.DEVICE_ID, 2, ids.device);
    // Command: no I/O BARs, so I/O Space stays 0; MSE, BME, parity response, SERR#, INTx disable are RW.
    this.set(CFG.COMMAND, 2, 0, COMMAND.MEMORY_SPACE | COMMAND.BUS_MASTER | COMMAND.PARITY_ERROR_RESPONSE | COMMAND.SERR_ENABLE | COMMAND.INTX_DISABLE);
    this.set(CFG.STATUS, 2, STATUS.CAP_LIST, 0, STATUS.RW1C_MASK);
    this.set(CFG.REVISION_ID, 1, ids.revision);
    this.set(CFG.CLASS_PROG, 3, ids.classCode);
    this.set(CFG.CACHE_LINE_SIZE, 1, 0, 0xff); // RW, no effect on PCIe (PCIe 4.0 §7.5.1.1.7)
    this.set(CFG.LATENCY_TIMER, 1, 0); // hardwired 0 on PCIe
    this.set(CFG.HEADER_TYPE, 1, 0x00); // type 0, single function
    for (const b of bars) {
      const off = CFG.BAR0 + 4 * b.index;
      const is64 = b.is64 === true;
      const flags = (is64 ? BAR.TYPE_64 : 0) | (b.prefetchable === true ? BAR.PREFETCH : 0);
      const lowMask = b.size >= 2 ** 32 ? 0 : (~(b.size - 1) & ~BAR.FLAG_BITS) >>> 0;
      this.set(off, 4, flags, lowMask);
      if (is64) {
        const highMask = b.size > 2 ** 32 ? ~(b.size / 2 ** 32 - 1) >>> 0 : 0xffffffff;
        this.set(off + 4, 4, 0, highMask);
      }
    }
    this.set(CFG.SUBSYSTEM_VENDOR_ID, 2, ids.subsystemVendor);
    this.set(CFG.SUBSYSTEM_ID, 2, ids.subsystemDevice);
    this.set(CFG.ROM_ADDRESS, 4, 0); // no expansion ROM: hardwired 0
    this.set(CFG.CAPABILITIES_PTR, 1, CAP_OFFSET.PM);
    this.set(CFG.INTERRUPT_LINE, 1, 0xff, 0xff); // RW scratch for the OS
    // Interrupt Pin 0: no INTx; the wire protocol carries MSI-X only.
    this.set(CFG.INTERRUPT_PIN, 1, 0);

    // --- Power Management (PCI PM 1.2 §3.2): D0 and D3hot only; No_Soft_Reset so D3hot→D0 keeps state.
    this.set(CAP_OFFSET.PM, 1, CAP_ID.PM);
    this.set(CAP_OFFSET.PM + 1, 1, CAP_OFFSET.MSIX);
    this.set(CAP_OFFSET.PM + PM.PMC, 2, PM.PMC_VERSION_1_2);
    this.set(CAP_OFFSET.PM + PM.PMCSR, 2, PM.PMCSR_NO_SOFT_RESET, PM.PMCSR_STATE_MASK);

    // --- MSI-X (PCI 3.0 §6.8.2)
    this.set(CAP_OFFSET.MSIX, 1, CAP_ID.MSIX);
    this.set(CAP_OFFSET.MSIX + 1, 1, CAP_OFFSET.PCIE);
    this.set(CAP_OFFSET.MSIX + MSIX.CONTROL, 2, (msix.vectors - 1) & MSIX.CONTROL_TABLE_SIZE_MASK, MSIX.CONTROL_ENABLE | MSIX.CONTROL_FUNCTION_MASK);
    this.set(CAP_OFFSET.MSIX + MSIX.TABLE, 4, (msix.tableOffset | msix.tableBar) >>> 0);
    this.set(CAP_OFFSET.MSIX + MSIX.PBA, 4, (msix.pbaOffset | msix.pbaBar) >>> 0);

    // --- PCI Express capability v2, endpoint (PCIe 4.0 §7.5.3)
    const p = CAP_OFFSET.PCIE;
    this.set(p, 1, CAP_ID.PCIE);
    this.set(p + 1, 1, 0); // end of chain
    this.set(p + PCIE.CAPS, 2, PCIE.CAPS_V2_ENDPOINT);
    // Max_Payload_Size Supported 000b (128 B), RBER, FLR capable.
    this.set(p + PCIE.DEVCAP, 4, (PCIE.DEVCAP_RBER | PCIE.DEVCAP_FLR) >>> 0);
    // Device Control: error reporting enables, relaxed ordering, MPS, ext tag,
    // phantom, aux power, no snoop, MRRS are RW; bit 15 starts an FLR. Reset
    // value: relaxed ordering + no snoop enabled, MRRS 512 B (PCIe 4.0 §7.5.3.4).
    this.set(p + PCIE.DEVCTL, 2, 0x2810, 0xffff);
    this.set(p + PCIE.DEVSTA, 2, 0, 0, PCIE.DEVSTA_RW1C_MASK);
    // Link: 8 GT/s x4 capable and negotiated.
    this.set(p + PCIE.LINKCAP, 4, 0x0000_0043);
    this.set(p + PCIE.LINKCTL, 2, 0, 0x01c3); // ASPM control, RCB, common clock, extended synch
    this.set(p + PCIE.LINKSTA, 2, 0x0043);
    this.set(p + PCIE.DEVCAP2, 4, 0x0000_0010); // Completion Timeout Disable Supported
    this.set(p + PCIE.DEVCTL2, 2, 0, 0x001f); // completion timeout value + disable
    this.set(p + PCIE.LINKCAP2, 4, 0x0000_000e); // 2.5, 5 and 8 GT/s supported
    this.set(p + PCIE.LINKCTL2, 2, 0x0003, 0x000f); // target link speed 8 GT/s
    this.set(p + PCIE.LINKSTA2, 2, 0);
    // 0x100: extended capability header 0 = "no extended capabilities" (PCIe 4.0 §7.6.2).
  }
}
