// PCI / PCI Express configuration-space registers as data, shared by the
// device library (device/pci/) and the host's PCI layer (host/pci/): the type 0
// header, Command/Status bits, BAR flag bits and the PM, MSI-X and PCI Express
// capability layouts (PCI Local Bus 3.0 §6, PCI PM 1.2 §3, PCI Express Base
// 4.0 §7). Offsets inside a capability are relative to its start.

/** Type 0 configuration header (PCI 3.0 §6.1, figure 6-1). */
export const CFG = {
  VENDOR_ID: 0x00,
  DEVICE_ID: 0x02,
  COMMAND: 0x04,
  STATUS: 0x06,
  REVISION_ID: 0x08,
  CLASS_PROG: 0x09,
  CLASS_SUB: 0x0a,
  CLASS_BASE: 0x0b,
  CACHE_LINE_SIZE: 0x0c,
  LATENCY_TIMER: 0x0d,
  HEADER_TYPE: 0x0e,
  BIST: 0x0f,
  BAR0: 0x10,
  CARDBUS_CIS: 0x28,
  SUBSYSTEM_VENDOR_ID: 0x2c,
  SUBSYSTEM_ID: 0x2e,
  ROM_ADDRESS: 0x30,
  CAPABILITIES_PTR: 0x34,
  INTERRUPT_LINE: 0x3c,
  INTERRUPT_PIN: 0x3d,
  MIN_GNT: 0x3e,
  MAX_LAT: 0x3f,
} as const;

/** Configuration space size of a PCI Express function (PCIe 4.0 §7.2.2). */
export const CONFIG_SPACE_SIZE = 4096;
/**
 * Start of PCIe extended configuration space, which is also the size of the
 * conventional (PCI 3.0) configuration space a host walks capabilities in.
 */
export const EXT_CONFIG_START = 0x100;
/** Lowest offset a capability may sit at: the type 0 header is 64 bytes (PCI 3.0 §6.7). */
export const CAP_MIN_OFFSET = 0x40;

/** Command register bits (PCI 3.0 §6.2.2). */
export const COMMAND = {
  IO_SPACE: 1 << 0,
  MEMORY_SPACE: 1 << 1,
  BUS_MASTER: 1 << 2,
  PARITY_ERROR_RESPONSE: 1 << 6,
  SERR_ENABLE: 1 << 8,
  INTX_DISABLE: 1 << 10,
} as const;

/** Status register bits (PCI 3.0 §6.2.3). */
export const STATUS = {
  INTERRUPT: 1 << 3,
  CAP_LIST: 1 << 4,
  /** Bits software clears by writing 1 (RW1C): parity, target/master aborts, SERR. */
  RW1C_MASK: 0xf900,
} as const;

/** Memory BAR low bits (PCI 3.0 §6.2.5.1). */
export const BAR = {
  TYPE_64: 0b10 << 1,
  PREFETCH: 1 << 3,
  /** Low 4 bits of a memory BAR are read-only type bits. */
  FLAG_BITS: 0xf,
} as const;

/** Capability IDs (PCI Code and ID Assignment §2). */
export const CAP_ID = {
  PM: 0x01,
  MSI: 0x05,
  VENDOR: 0x09,
  PCIE: 0x10,
  MSIX: 0x11,
} as const;

/** Power Management capability (PCI PM 1.2 §3.2). Offsets relative to the capability. */
export const PM = {
  PMC: 0x02,
  PMCSR: 0x04,
  /** PMCSR PowerState, bits 1:0 (0 = D0, 3 = D3hot). */
  PMCSR_STATE_MASK: 0x3,
  /** PMCSR No_Soft_Reset: D3hot → D0 does not reset the function. */
  PMCSR_NO_SOFT_RESET: 1 << 3,
  /** PMC Version = 011b (PM 1.2). */
  PMC_VERSION_1_2: 0x3,
} as const;

/** MSI-X capability (PCI 3.0 §6.8.2). Offsets relative to the capability. */
export const MSIX = {
  CONTROL: 0x02,
  TABLE: 0x04,
  PBA: 0x08,
  CONTROL_TABLE_SIZE_MASK: 0x07ff,
  CONTROL_FUNCTION_MASK: 1 << 14,
  CONTROL_ENABLE: 1 << 15,
  /** Table/PBA offset registers: BIR in bits 2:0, QWORD-aligned offset above. */
  BIR_MASK: 0x7,
  /** Bytes per table entry: address lo, address hi, data, vector control. */
  ENTRY_SIZE: 16,
  ENTRY_ADDR_LO: 0x0,
  ENTRY_ADDR_HI: 0x4,
  ENTRY_DATA: 0x8,
  ENTRY_VECTOR_CTRL: 0xc,
  /** Vector Control bit 0: Mask Bit. */
  VECTOR_CTRL_MASK: 1 << 0,
  MAX_VECTORS: 2048,
} as const;

/** PCI Express capability, version 2 (PCIe 4.0 §7.5.3). Offsets relative to the capability. */
export const PCIE = {
  CAPS: 0x02,
  DEVCAP: 0x04,
  DEVCTL: 0x08,
  DEVSTA: 0x0a,
  LINKCAP: 0x0c,
  LINKCTL: 0x10,
  LINKSTA: 0x12,
  DEVCAP2: 0x24,
  DEVCTL2: 0x28,
  LINKCAP2: 0x2c,
  LINKCTL2: 0x30,
  LINKSTA2: 0x32,
  /** Size of a version 2 endpoint capability structure. */
  SIZE: 0x3c,
  /** Capabilities register: version 2, device/port type 0000b = PCI Express Endpoint. */
  CAPS_V2_ENDPOINT: 0x0002,
  /** Device Capabilities: Role-Based Error Reporting (bit 15), Function Level Reset Capability (bit 28). */
  DEVCAP_RBER: 1 << 15,
  DEVCAP_FLR: 1 << 28,
  /** Device Control: Initiate Function Level Reset (bit 15, always reads 0 — PCIe 4.0 §7.5.3.4). */
  DEVCTL_INITIATE_FLR: 1 << 15,
  /** Device Status RW1C bits: correctable/non-fatal/fatal error detected, unsupported request detected. */
  DEVSTA_RW1C_MASK: 0x000f,
} as const;
