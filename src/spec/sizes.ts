// Sizes of NVMe structures, declared once (asserted in test/unit/nvme-spec.test.ts).

/** Submission queue entry (NVMe 1.4 §4.2): 64 bytes = 2^6. */
export const SQE_SIZE = 64;
export const SQES_LOG2 = 6;
/** Completion queue entry (§4.6): 16 bytes = 2^4. */
export const CQE_SIZE = 16;
export const CQES_LOG2 = 4;
/** Identify data structures (§5.15.2): 4096 bytes. */
export const IDENTIFY_SIZE = 4096;
/** Register file before the doorbells. */
export const REGISTER_BLOCK_SIZE = 0x1000;
/** One MSI-X table entry (PCI 3.0 §6.8.2): 16 bytes. */
export const MSIX_ENTRY_SIZE = 16;
/** Error Information log entry (§5.14.1.1): 64 bytes. */
export const ERROR_LOG_ENTRY_SIZE = 64;
/** SMART / Health Information log (§5.14.1.2): 512 bytes. */
export const SMART_LOG_SIZE = 512;
/** Firmware Slot Information log (§5.14.1.3): 512 bytes. */
export const FW_SLOT_LOG_SIZE = 512;
/** Changed Namespace List log (§5.14.1.4): 1024 NSIDs = 4096 bytes. */
export const CHANGED_NS_LOG_SIZE = 4096;
/** Commands Supported and Effects log (§5.14.1.5): 4096 bytes. */
export const CMD_EFFECTS_LOG_SIZE = 4096;
/** Power state descriptor in Identify Controller: 32 bytes. */
export const PSD_SIZE = 32;
/** Namespace list (CNS 02h): 1024 NSIDs. */
export const NS_LIST_MAX = 1024;
/** SGL descriptor (§4.4): 16 bytes. */
export const SGL_DESC_SIZE = 16;
/** Dataset Management range (§6.7): 16 bytes. */
export const DSM_RANGE_SIZE = 16;
/** PRP entry: 8 bytes. */
export const PRP_ENTRY_SIZE = 8;
/** Timestamp feature data (§5.21.1.14): 8 bytes. */
export const TIMESTAMP_SIZE = 8;
/** Minimum memory page size (CC.MPS=0). */
export const MIN_PAGE_SIZE = 4096;
