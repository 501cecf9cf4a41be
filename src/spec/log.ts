// Log pages (NVMe 1.4 §5.14.1) as field offset/size tables.
import { bf } from './layout.ts';

/** Log Page Identifiers (Figure 191). */
export const LID = {
  SUPPORTED_LOGS: 0x00,
  ERROR_INFO: 0x01,
  SMART: 0x02,
  FW_SLOT: 0x03,
  CHANGED_NS: 0x04,
  CMD_EFFECTS: 0x05,
  SELF_TEST: 0x06,
  TELEMETRY_HOST: 0x07,
  TELEMETRY_CTRL: 0x08,
  ENDURANCE_GROUP: 0x09,
  PERSISTENT_EVENT: 0x0d,
  RESERVATION: 0x80,
  SANITIZE: 0x81,
} as const;

/** Error Information entry, 64 bytes (Figure 194). */
export const ERROR_ENTRY = {
  ERROR_COUNT: bf(0, 8), // unique, incrementing; 0 = invalid entry
  SQID: bf(8, 2),
  CID: bf(10, 2),
  STATUS: bf(12, 2), // 15:1 status field, bit 0 phase tag as posted
  PARAM_LOCATION: bf(14, 2), // byte 7:0, bit 10:8 of the command where the error is; FFFFh n/a
  LBA: bf(16, 8),
  NSID: bf(24, 4),
  VS_INFO: bf(28, 1),
  TRTYPE: bf(29, 1),
  CMD_SPECIFIC: bf(32, 8),
  TRTYPE_SPECIFIC: bf(40, 2),
} as const;

/** SMART / Health Information, 512 bytes (Figure 196). 16-byte counters are 128-bit little-endian. */
export const SMART = {
  CRITICAL_WARNING: bf(0, 1),
  COMPOSITE_TEMP: bf(1, 2), // Kelvin
  AVAIL_SPARE: bf(3, 1),
  AVAIL_SPARE_THRESH: bf(4, 1),
  PERCENT_USED: bf(5, 1),
  EG_CRIT_WARNING: bf(6, 1),
  DATA_UNITS_READ: bf(32, 16), // thousands of 512-byte units, rounded up
  DATA_UNITS_WRITTEN: bf(48, 16),
  HOST_READ_CMDS: bf(64, 16),
  HOST_WRITE_CMDS: bf(80, 16),
  CTRL_BUSY_TIME: bf(96, 16), // minutes
  POWER_CYCLES: bf(112, 16),
  POWER_ON_HOURS: bf(128, 16),
  UNSAFE_SHUTDOWNS: bf(144, 16),
  MEDIA_ERRORS: bf(160, 16),
  NUM_ERR_LOG_ENTRIES: bf(176, 16),
  WARN_TEMP_TIME: bf(192, 4),
  CRIT_TEMP_TIME: bf(196, 4),
  TEMP_SENSOR1: bf(200, 2), // sensors 1..8, 2 bytes each
  TMT1_COUNT: bf(216, 4),
  TMT2_COUNT: bf(220, 4),
  TMT1_TIME: bf(224, 4),
  TMT2_TIME: bf(228, 4),
} as const;
/** Critical Warning bits. */
export const CRIT_WARN = { SPARE: 1 << 0, TEMPERATURE: 1 << 1, RELIABILITY: 1 << 2, READ_ONLY: 1 << 3, VOLATILE_BACKUP: 1 << 4, PMR_RO: 1 << 5 } as const;

/** Firmware Slot Information, 512 bytes (Figure 197). */
export const FW_SLOT = {
  AFI: bf(0, 1), // 2:0 active slot, 6:4 slot at next reset
  FRS1: bf(8, 8), // FRS1..FRS7 at 8 + 8·(n-1), ASCII
} as const;

/** Changed Namespace List: up to 1024 NSIDs (u32); FFFFFFFFh in entry 0 = more than 1024 changed. */
export const CHANGED_NS = { ENTRIES: 1024, OVERFLOW: 0xffff_ffff } as const;

/** Commands Supported and Effects (Figure 199/200): ACS[256] at 0, IOCS[256] at 1024, 4 bytes each. */
export const CMD_EFFECTS = {
  ACS: bf(0, 1024),
  IOCS: bf(1024, 1024),
} as const;
/** Effects bits of one entry. */
export const EFFECTS = {
  CSUPP: 1 << 0, // command supported
  LBCC: 1 << 1, // logical block content change
  NCC: 1 << 2, // namespace capability change
  NIC: 1 << 3, // namespace inventory change
  CCC: 1 << 4, // controller capability change
  CSE_SHIFT: 16, // 18:16 command submission and execution
  CSE_SINGLE_NS: 1 << 16,
  CSE_SINGLE_CMD: 2 << 16,
} as const;
