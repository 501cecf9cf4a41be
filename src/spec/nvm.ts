// NVM command set I/O opcodes and command fields (NVMe 1.4 §6, Figure 346).

export const NVM = {
  FLUSH: 0x00,
  WRITE: 0x01,
  READ: 0x02,
  WRITE_UNCORRECTABLE: 0x04,
  COMPARE: 0x05,
  WRITE_ZEROES: 0x08,
  DSM: 0x09,
  VERIFY: 0x0c,
  RESV_REGISTER: 0x0d,
  RESV_REPORT: 0x0e,
  RESV_ACQUIRE: 0x11,
  RESV_RELEASE: 0x15,
  COPY: 0x19,
} as const;
export type NvmOpcode = (typeof NVM)[keyof typeof NVM];

const nvmNames = new Map<number, string>(Object.entries(NVM).map(([k, v]) => [v, k.toLowerCase()]));
/** Name of an NVM opcode, or "io-XXh". */
export const nvmOpcodeName = (opc: number): string => nvmNames.get(opc) ?? `io-${opc.toString(16).padStart(2, '0')}h`;

/** Flush to every namespace (§6.8): NSID FFFFFFFFh when VWC.FB allows it. */
export const NSID_BROADCAST = 0xffff_ffff;

/**
 * Read/Write/Compare/Verify/Write Zeroes/Write Uncorrectable share this
 * layout (§6.9, §6.15): CDW10/11 SLBA, CDW12 NLB 15:0 (0's based), DEAC bit 25
 * (Write Zeroes), PRINFO 29:26, FUA bit 30, LR bit 31; CDW13 DSM hints.
 */
export const RW = {
  NLB_MASK: 0xffff,
  DEAC: 1 << 25,
  PRINFO_SHIFT: 26,
  PRINFO_MASK: 0xf,
  FUA: 1 << 30,
  LR: 1 << 31,
} as const;

/** Dataset Management (§6.7): CDW10 NR 7:0 (0's based), CDW11 IDR bit 0, IDW bit 1, AD bit 2. */
export const DSM = { NR_MASK: 0xff, IDR: 1 << 0, IDW: 1 << 1, AD: 1 << 2 } as const;
/** One DSM range (Figure 364): context attributes u32 @0, length in LBAs u32 @4, starting LBA u64 @8. */
export const DSM_RANGE = { SIZE: 16, CATTR: 0, NLB: 4, SLBA: 8, MAX_RANGES: 256 } as const;

/** Identify Controller ONCS bits (Figure 247). */
export const ONCS = {
  COMPARE: 1 << 0,
  WRITE_UNCORRECTABLE: 1 << 1,
  DSM: 1 << 2,
  WRITE_ZEROES: 1 << 3,
  SAVE_SELECT: 1 << 4,
  RESERVATIONS: 1 << 5,
  TIMESTAMP: 1 << 6,
  VERIFY: 1 << 7,
  COPY: 1 << 8,
} as const;
