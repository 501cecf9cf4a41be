// NVMe completion status → block status, retry disposition and the error log
// line, as Linux drivers/nvme/host/core.c does it (nvme_error_status,
// nvme_decide_disposition, nvme_retry_req, nvme_log_error) — facts from
// BLOCK-BEHAVIOUR.md (d); names from Linux's nvme_statuses[] table.
import { BLK_STS, REQ_FLAG } from '../../block/types.ts';
import type { BlkStatus } from '../../block/types.ts';
import {
  ADMIN, NVM, statusCode, statusCrd, statusDnr, statusMore, statusSc, statusSct,
} from '../../../src/spec/index.ts';

/** Stable error codes of the driver (errno names). */
export type RnvmeErrorCode = 'ENODEV' | 'ETIMEDOUT' | 'EIO' | 'EINVAL' | 'ENOTSUP' | 'EBUSY' | 'ECANCELED';

/** What admin calls and probe reject with. `nvmeStatus` is set when a command completed with an error. */
export class RnvmeError extends Error {
  override readonly name = 'RnvmeError';
  readonly code: RnvmeErrorCode;
  readonly nvmeStatus: number | undefined;
  constructor(code: RnvmeErrorCode, message: string, nvmeStatus?: number) {
    super(message);
    this.code = code;
    this.nvmeStatus = nvmeStatus;
  }
}

/** Host-side status for commands the host cancelled (NVMe 2.0 path-related 3/71h, Linux NVME_SC_HOST_ABORTED_CMD). */
export const SC_HOST_ABORTED_CMD = 0x371;
/** Host pathing error 3/70h (Linux NVME_SC_HOST_PATH_ERROR). */
export const SC_HOST_PATH_ERROR = 0x370;

/**
 * nvme_error_status(): the block status for an NVMe status (SCT|SC; DNR,
 * More and CRD are ignored). Everything not listed is BLK_STS_IOERR.
 */
export function nvmeErrorStatus(status: number): BlkStatus {
  switch (statusCode(status)) {
    case 0x000: return BLK_STS.OK;
    case 0x081: return BLK_STS.NOSPC; // Capacity Exceeded
    case 0x080: // LBA Out of Range
    case 0x021: // Command Interrupted
    case 0x082: // Namespace Not Ready
      return BLK_STS.TARGET;
    case 0x180: // Conflicting Attributes
    case 0x001: // Invalid Command Opcode
    case 0x002: // Invalid Field in Command
    case 0x00b: // Invalid Namespace or Format
      return BLK_STS.NOTSUPP;
    case 0x280: // Write Fault
    case 0x281: // Unrecovered Read Error
    case 0x287: // Deallocated or Unwritten Logical Block
    case 0x286: // Access Denied
    case 0x182: // Attempted Write to Read Only Range
    case 0x285: // Compare Failure
      return BLK_STS.MEDIUM;
    case 0x282: case 0x283: case 0x284: // end-to-end guard / app tag / ref tag
    case 0x181: // Invalid Protection Information
      return BLK_STS.PROTECTION;
    case 0x083: return BLK_STS.RESV_CONFLICT;
    case SC_HOST_PATH_ERROR: return BLK_STS.TRANSPORT;
    case 0x1bd: return BLK_STS.ZONE_ACTIVE_RESOURCE;
    case 0x1be: return BLK_STS.ZONE_OPEN_RESOURCE;
    default: return BLK_STS.IOERR;
  }
}

export type Disposition = 'complete' | 'retry';

/**
 * nvme_decide_disposition() for a single-path PCI controller: success →
 * complete; failfast request, DNR, or retries exhausted → complete with
 * nvmeErrorStatus; otherwise retry (requeue after the CRD delay).
 */
export function decideDisposition(status: number, retries: number, maxRetries: number, rqFlags = 0, dying = false): Disposition {
  if (statusCode(status) === 0) return 'complete';
  const noRetry = (rqFlags & (REQ_FLAG.FAILFAST_DEV | REQ_FLAG.FAILFAST_DRIVER)) !== 0;
  if (noRetry || statusDnr(status) || retries >= maxRetries) return 'complete';
  if (dying) return 'complete';
  return 'retry';
}

/**
 * nvme_retry_req(): CRD (Command Retry Delay, status bits 12:11) selects one
 * of Identify Controller CRDT1..3, in 100 ms units; CRD 0 means no delay.
 */
export function crdDelayMs(status: number, crdt: readonly number[]): number {
  const crd = statusCrd(status);
  if (crd === 0) return 0;
  return (crdt[crd - 1] ?? 0) * 100;
}

// Linux drivers/nvme/host/constants.c nvme_statuses[] (SCT<<8 | SC → text).
const STATUS_TEXT: ReadonlyMap<number, string> = new Map([
  [0x000, 'Success'], [0x001, 'Invalid Command Opcode'], [0x002, 'Invalid Field in Command'],
  [0x003, 'Command ID Conflict'], [0x004, 'Data Transfer Error'],
  [0x005, 'Commands Aborted due to Power Loss Notification'], [0x006, 'Internal Error'],
  [0x007, 'Command Abort Requested'], [0x008, 'Command Aborted due to SQ Deletion'],
  [0x009, 'Command Aborted due to Failed Fused Command'], [0x00a, 'Command Aborted due to Missing Fused Command'],
  [0x00b, 'Invalid Namespace or Format'], [0x00c, 'Command Sequence Error'],
  [0x00d, 'Invalid SGL Segment Descriptor'], [0x00e, 'Invalid Number of SGL Descriptors'],
  [0x00f, 'Data SGL Length Invalid'], [0x010, 'Metadata SGL Length Invalid'], [0x011, 'SGL Descriptor Type Invalid'],
  [0x012, 'Invalid Use of Controller Memory Buffer'], [0x013, 'PRP Offset Invalid'],
  [0x014, 'Atomic Write Unit Exceeded'], [0x015, 'Operation Denied'], [0x016, 'SGL Offset Invalid'],
  [0x018, 'Host Identifier Inconsistent Format'], [0x019, 'Keep Alive Timeout Expired'],
  [0x01a, 'Keep Alive Timeout Invalid'], [0x01b, 'Command Aborted due to Preempt and Abort'],
  [0x01c, 'Sanitize Failed'], [0x01d, 'Sanitize In Progress'], [0x01e, 'SGL Data Block Granularity Invalid'],
  [0x01f, 'Command Not Supported for Queue in CMB'], [0x020, 'Namespace is Write Protected'],
  [0x021, 'Command Interrupted'], [0x022, 'Transient Transport Error'],
  [0x080, 'LBA Out of Range'], [0x081, 'Capacity Exceeded'], [0x082, 'Namespace Not Ready'],
  [0x083, 'Reservation Conflict'], [0x084, 'Format In Progress'],
  [0x100, 'Completion Queue Invalid'], [0x101, 'Invalid Queue Identifier'], [0x102, 'Invalid Queue Size'],
  [0x103, 'Abort Command Limit Exceeded'], [0x105, 'Asynchronous Event Request Limit Exceeded'],
  [0x106, 'Invalid Firmware Slot'], [0x107, 'Invalid Firmware Image'], [0x108, 'Invalid Interrupt Vector'],
  [0x109, 'Invalid Log Page'], [0x10a, 'Invalid Format'], [0x10b, 'Firmware Activation Requires Conventional Reset'],
  [0x10c, 'Invalid Queue Deletion'], [0x10d, 'Feature Identifier Not Saveable'], [0x10e, 'Feature Not Changeable'],
  [0x10f, 'Feature Not Namespace Specific'], [0x110, 'Firmware Activation Requires NVM Subsystem Reset'],
  [0x111, 'Firmware Activation Requires Reset'], [0x112, 'Firmware Activation Requires Maximum Time Violation'],
  [0x113, 'Firmware Activation Prohibited'], [0x114, 'Overlapping Range'],
  [0x115, 'Namespace Insufficient Capacity'], [0x116, 'Namespace Identifier Unavailable'],
  [0x118, 'Namespace Already Attached'], [0x119, 'Namespace Is Private'], [0x11a, 'Namespace Not Attached'],
  [0x11b, 'Thin Provisioning Not Supported'], [0x11c, 'Controller List Invalid'],
  [0x180, 'Conflicting Attributes'], [0x181, 'Invalid Protection Information'],
  [0x182, 'Attempted Write to Read Only Range'],
  [0x1b9, 'Zone Is Full'], [0x1bc, 'Zone Invalid Write'], [0x1bd, 'Too Many Active Zones'], [0x1be, 'Too Many Open Zones'],
  [0x280, 'Write Fault'], [0x281, 'Unrecovered Read Error'], [0x282, 'End-to-end Guard Check Error'],
  [0x283, 'End-to-end Application Tag Check Error'], [0x284, 'End-to-end Reference Tag Check Error'],
  [0x285, 'Compare Failure'], [0x286, 'Access Denied'], [0x287, 'Deallocated or Unwritten Logical Block'],
  [0x300, 'Internal Pathing Error'], [0x301, 'ANA Persistent Loss'], [0x302, 'ANA Inaccessible'],
  [0x303, 'ANA Transition'], [0x360, 'Controller Pathing Error'], [SC_HOST_PATH_ERROR, 'Host Pathing Error'],
  [SC_HOST_ABORTED_CMD, 'Host Aborted Command'],
]);

/** nvme_get_error_status_str(): Linux's text for a status ("Unknown" when not in the table). */
export function nvmeStatusText(status: number): string {
  return STATUS_TEXT.get(statusCode(status)) ?? 'Unknown';
}

// Linux constants.c nvme_ops[] / nvme_admin_ops[].
const IO_OP_TEXT: ReadonlyMap<number, string> = new Map([
  [NVM.FLUSH, 'Flush'], [NVM.WRITE, 'Write'], [NVM.READ, 'Read'], [NVM.WRITE_UNCORRECTABLE, 'Write Uncorrectable'],
  [NVM.COMPARE, 'Compare'], [NVM.WRITE_ZEROES, 'Write Zeroes'], [NVM.DSM, 'DSM'], [NVM.VERIFY, 'Verify'],
  [NVM.RESV_REGISTER, 'Reservation Register'], [NVM.RESV_REPORT, 'Reservation Report'],
  [NVM.RESV_ACQUIRE, 'Reservation Acquire'], [NVM.RESV_RELEASE, 'Reservation Release'], [NVM.COPY, 'Copy Offload'],
]);
const ADMIN_OP_TEXT: ReadonlyMap<number, string> = new Map([
  [ADMIN.DELETE_IO_SQ, 'Delete I/O Submission Queue'], [ADMIN.CREATE_IO_SQ, 'Create I/O Submission Queue'],
  [ADMIN.GET_LOG_PAGE, 'Get Log Page'], [ADMIN.DELETE_IO_CQ, 'Delete I/O Completion Queue'],
  [ADMIN.CREATE_IO_CQ, 'Create I/O Completion Queue'], [ADMIN.IDENTIFY, 'Identify'], [ADMIN.ABORT, 'Abort'],
  [ADMIN.SET_FEATURES, 'Set Features'], [ADMIN.GET_FEATURES, 'Get Features'],
  [ADMIN.ASYNC_EVENT_REQUEST, 'Asynchronous Event Request'], [ADMIN.NS_MANAGEMENT, 'Namespace Management'],
  [ADMIN.FIRMWARE_COMMIT, 'Firmware Commit'], [ADMIN.FIRMWARE_DOWNLOAD, 'Firmware Image Download'],
  [ADMIN.DEVICE_SELF_TEST, 'Device Self-test'], [ADMIN.NS_ATTACHMENT, 'Namespace Attachment'],
  [ADMIN.KEEP_ALIVE, 'Keep Alive'], [ADMIN.DIRECTIVE_SEND, 'Directive Send'], [ADMIN.DIRECTIVE_RECEIVE, 'Directive Receive'],
  [ADMIN.VIRTUALIZATION_MANAGEMENT, 'Virtualization Management'], [ADMIN.DOORBELL_BUFFER_CONFIG, 'Doorbell Buffer Config'],
  [ADMIN.FORMAT_NVM, 'Format NVM'], [ADMIN.SECURITY_SEND, 'Security Send'], [ADMIN.SECURITY_RECEIVE, 'Security Receive'],
  [ADMIN.SANITIZE, 'Sanitize'], [ADMIN.GET_LBA_STATUS, 'Get LBA Status'],
]);

export function nvmeOpcodeText(opc: number, admin: boolean): string {
  return (admin ? ADMIN_OP_TEXT : IO_OP_TEXT).get(opc) ?? 'Unknown';
}

const hex = (n: number): string => `0x${n.toString(16)}`;
const flagText = (status: number): string => `${statusMore(status) ? ' MORE' : ''}${statusDnr(status) ? ' DNR' : ''}`;

/**
 * nvme_log_error() for an I/O command, e.g.
 * `nvme0n1: Read(0x2) @ LBA 0, 1 blocks, Unrecovered Read Error (sct 0x2 / sc 0x81) DNR`.
 */
export function formatIoError(disk: string, opc: number, lba: number, blocks: number, status: number): string {
  return `${disk}: ${nvmeOpcodeText(opc, false)}(${hex(opc)}) @ LBA ${lba}, ${blocks} blocks, ${nvmeStatusText(status)} ` +
    `(sct ${hex(statusSct(status))} / sc ${hex(statusSc(status))})${flagText(status)}`;
}

/** nvme_log_err_passthru()/admin shape: `nvme0: Identify(0x6), Invalid Field in Command (sct 0x0 / sc 0x2) DNR`. */
export function formatAdminError(ctrl: string, opc: number, status: number): string {
  return `${ctrl}: ${nvmeOpcodeText(opc, true)}(${hex(opc)}), ${nvmeStatusText(status)} ` +
    `(sct ${hex(statusSct(status))} / sc ${hex(statusSc(status))})${flagText(status)}`;
}
