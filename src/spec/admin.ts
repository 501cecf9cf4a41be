// Admin command set opcodes and command dword fields (NVMe 1.4 §5, Figure 139).

export const ADMIN = {
  DELETE_IO_SQ: 0x00,
  CREATE_IO_SQ: 0x01,
  GET_LOG_PAGE: 0x02,
  DELETE_IO_CQ: 0x04,
  CREATE_IO_CQ: 0x05,
  IDENTIFY: 0x06,
  ABORT: 0x08,
  SET_FEATURES: 0x09,
  GET_FEATURES: 0x0a,
  ASYNC_EVENT_REQUEST: 0x0c,
  NS_MANAGEMENT: 0x0d,
  FIRMWARE_COMMIT: 0x10,
  FIRMWARE_DOWNLOAD: 0x11,
  DEVICE_SELF_TEST: 0x14,
  NS_ATTACHMENT: 0x15,
  KEEP_ALIVE: 0x18,
  DIRECTIVE_SEND: 0x19,
  DIRECTIVE_RECEIVE: 0x1a,
  VIRTUALIZATION_MANAGEMENT: 0x1c,
  NVME_MI_SEND: 0x1d,
  NVME_MI_RECEIVE: 0x1e,
  DOORBELL_BUFFER_CONFIG: 0x7c,
  FABRICS: 0x7f,
  FORMAT_NVM: 0x80,
  SECURITY_SEND: 0x81,
  SECURITY_RECEIVE: 0x82,
  SANITIZE: 0x84,
  GET_LBA_STATUS: 0x86,
} as const;
export type AdminOpcode = (typeof ADMIN)[keyof typeof ADMIN];

const adminNames = new Map<number, string>(Object.entries(ADMIN).map(([k, v]) => [v, k.toLowerCase()]));
/** Name of an admin opcode, or "admin-XXh". */
export const adminOpcodeName = (opc: number): string =>
  adminNames.get(opc) ?? `admin-${opc.toString(16).padStart(2, '0')}h`;

/** Create I/O Completion Queue (§5.3): CDW10 QID 15:0, QSIZE 31:16 (0's based); CDW11 PC bit 0, IEN bit 1, IV 31:16. */
export const CREATE_CQ = { PC: 0x1, IEN: 0x2, IV_SHIFT: 16 } as const;
/** Create I/O Submission Queue (§5.4): CDW11 PC bit 0, QPRIO 2:1, CQID 31:16. */
export const CREATE_SQ = { PC: 0x1, QPRIO_SHIFT: 1, QPRIO_MASK: 0x3, CQID_SHIFT: 16 } as const;
/** Queue priorities (QPRIO) for weighted round robin. */
export const QPRIO = { URGENT: 0, HIGH: 1, MEDIUM: 2, LOW: 3 } as const;

/** Identify CNS values (§5.15.1, Figure 244). */
export const CNS = {
  NS: 0x00,
  CTRL: 0x01,
  ACTIVE_NS_LIST: 0x02,
  NS_DESC_LIST: 0x03,
  NVMSET_LIST: 0x04,
  CS_NS: 0x05,
  CS_CTRL: 0x06,
  CS_ACTIVE_NS_LIST: 0x07,
  CS_INDEP_NS: 0x08,
  ALLOCATED_NS_LIST: 0x10,
  ALLOCATED_NS: 0x11,
  NS_CTRL_LIST: 0x12,
  CTRL_LIST: 0x13,
  PRIMARY_CTRL_CAP: 0x14,
  SECONDARY_CTRL_LIST: 0x15,
  NS_GRANULARITY: 0x16,
  UUID_LIST: 0x17,
  IO_CS_VECTOR: 0x1c,
} as const;

/** Abort (§5.1): CDW10 SQID 15:0, CID 31:16. Completion DW0 bit 0 = 1: command not aborted. */
export const ABORT_NOT_ABORTED = 0x1;

/** Asynchronous event types (§5.2.1, Figure 146) and completion DW0 layout. */
export const AER_TYPE = {
  ERROR: 0,
  SMART: 1,
  NOTICE: 2,
  IO_CMD_SET: 6,
  VENDOR: 7,
} as const;
/** Error status event information (Figure 147). */
export const AER_INFO_ERROR = {
  INVALID_DB_REGISTER: 0x00,
  INVALID_DB_WRITE_VALUE: 0x01,
  DIAGNOSTIC_FAILURE: 0x02,
  PERSISTENT_INTERNAL: 0x03,
  TRANSIENT_INTERNAL: 0x04,
  FW_IMAGE_LOAD: 0x05,
} as const;
/** SMART/Health status event information (Figure 148). */
export const AER_INFO_SMART = { RELIABILITY: 0x00, TEMPERATURE: 0x01, SPARE_BELOW: 0x02 } as const;
/** Notice event information (Figure 149). */
export const AER_INFO_NOTICE = { NS_ATTR_CHANGED: 0x00, FW_ACTIVATION: 0x01, TELEMETRY: 0x02, ANA_CHANGE: 0x03 } as const;
/** AER completion DW0: type 2:0, info 15:8, log page 23:16. */
export const aerResult = (type: number, info: number, logPage: number): number =>
  ((type & 7) | ((info & 0xff) << 8) | ((logPage & 0xff) << 16)) >>> 0;

/** Get Log Page (§5.14): CDW10 LID 7:0, LSP 12:8, RAE bit 15, NUMDL 31:16; CDW11 NUMDU 15:0, LSI 31:16; CDW12/13 offset. */
export const GET_LOG = { RAE: 0x8000, LSP_SHIFT: 8, LSP_MASK: 0x1f } as const;

/** Format NVM (§5.23): CDW10 LBAF 3:0, MSET 4, PI 7:5, PIL 8, SES 11:9. */
export const FORMAT = { LBAF_MASK: 0xf, MSET: 0x10, PI_SHIFT: 5, PI_MASK: 0x7, PIL: 0x100, SES_SHIFT: 9, SES_MASK: 0x7 } as const;

/** Identify Controller OACS bits (Figure 247). */
export const OACS = {
  SECURITY: 1 << 0,
  FORMAT: 1 << 1,
  FIRMWARE: 1 << 2,
  NS_MGMT: 1 << 3,
  SELF_TEST: 1 << 4,
  DIRECTIVES: 1 << 5,
  NVME_MI: 1 << 6,
  VIRT_MGMT: 1 << 7,
  DBBUF: 1 << 8,
  GET_LBA_STATUS: 1 << 9,
} as const;
