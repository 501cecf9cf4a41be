// Feature identifiers and their CDW11 layouts (NVMe 1.4 §5.21.1, Figure 271).

export const FID = {
  ARBITRATION: 0x01,
  POWER_MGMT: 0x02,
  LBA_RANGE_TYPE: 0x03,
  TEMPERATURE_THRESHOLD: 0x04,
  ERROR_RECOVERY: 0x05,
  VOLATILE_WRITE_CACHE: 0x06,
  NUMBER_OF_QUEUES: 0x07,
  INTERRUPT_COALESCING: 0x08,
  INTERRUPT_VECTOR_CONFIG: 0x09,
  WRITE_ATOMICITY: 0x0a,
  ASYNC_EVENT_CONFIG: 0x0b,
  APST: 0x0c,
  HOST_MEMORY_BUFFER: 0x0d,
  TIMESTAMP: 0x0e,
  KEEP_ALIVE_TIMER: 0x0f,
  HOST_THERMAL_MGMT: 0x10,
  NOPSC: 0x11,
  READ_RECOVERY_LEVEL: 0x12,
  HOST_BEHAVIOR: 0x16,
  SW_PROGRESS_MARKER: 0x80,
  HOST_IDENTIFIER: 0x81,
} as const;

const fidNames = new Map<number, string>(Object.entries(FID).map(([k, v]) => [v, k.toLowerCase()]));
export const featureName = (fid: number): string => fidNames.get(fid) ?? `fid-${fid.toString(16).padStart(2, '0')}h`;

/** Get/Set Features CDW10: FID 7:0; Get SEL 10:8; Set SV bit 31. */
export const FEAT_CDW10 = { FID_MASK: 0xff, SEL_SHIFT: 8, SEL_MASK: 0x7, SV: 1 << 31 } as const;
/** Get Features Select values (Figure 270). */
export const SEL = { CURRENT: 0, DEFAULT: 1, SAVED: 2, SUPPORTED_CAPS: 3 } as const;
/** Capabilities returned for SEL=3 (Figure 270): bit 0 saveable, 1 NS specific, 2 changeable. */
export const FEAT_CAP = { SAVEABLE: 1 << 0, NS_SPECIFIC: 1 << 1, CHANGEABLE: 1 << 2 } as const;

/** Arbitration (01h): AB 2:0 (burst, 2^n, 7 = no limit), LPW 15:8, MPW 23:16, HPW 31:24. */
export const ARBITRATION = { AB_MASK: 0x7, AB_NO_LIMIT: 7 } as const;
/** Power Management (02h): PS 4:0, WH 7:5. */
export const POWER_MGMT = { PS_MASK: 0x1f, WH_SHIFT: 5 } as const;
/** Temperature Threshold (04h): TMPTH 15:0 (Kelvin), TMPSEL 19:16, THSEL 21:20 (0 over, 1 under). */
export const TEMP_THRESH = { TMPTH_MASK: 0xffff, TMPSEL_SHIFT: 16, TMPSEL_MASK: 0xf, THSEL_SHIFT: 20, THSEL_MASK: 0x3 } as const;
/** Error Recovery (05h): TLER 15:0 (100 ms units), DULBE bit 16. */
export const ERROR_RECOVERY = { TLER_MASK: 0xffff, DULBE: 1 << 16 } as const;
/** Volatile Write Cache (06h): WCE bit 0. */
export const VWC_FEAT = { WCE: 1 } as const;
/** Number of Queues (07h): NSQR 15:0, NCQR 31:16 (0's based); completion DW0 NSQA 15:0, NCQA 31:16. */
export const NUM_QUEUES = { NSQ_MASK: 0xffff, NCQ_SHIFT: 16 } as const;
/** Interrupt Coalescing (08h): THR 7:0 (0's based number of entries), TIME 15:8 (100 µs units). */
export const INT_COALESCING = { THR_MASK: 0xff, TIME_SHIFT: 8, TIME_MASK: 0xff, TIME_UNIT_US: 100 } as const;
/** Interrupt Vector Configuration (09h): IV 15:0, CD bit 16 (coalescing disable). */
export const INT_VECTOR_CONFIG = { IV_MASK: 0xffff, CD: 1 << 16 } as const;
/** Write Atomicity Normal (0Ah): DN bit 0. */
export const WRITE_ATOMICITY = { DN: 1 } as const;
/** Asynchronous Event Configuration (0Bh): SMART critical warnings 7:0, NS attr 8, FW act 9, telemetry 10, ANA 11. */
export const ASYNC_EVENT_CONFIG = { SMART_MASK: 0xff, NS_ATTR: 1 << 8, FW_ACTIVATION: 1 << 9, TELEMETRY: 1 << 10, ANA: 1 << 11 } as const;
/** Timestamp (0Eh) data, 8 bytes: 47:0 ms since epoch, 49 Synch, 51:50 Timestamp Origin. */
export const TIMESTAMP = { MS_BITS: 48, SYNCH_SHIFT: 48, ORIGIN_SHIFT: 49, ORIGIN_HOST: 1 } as const;
