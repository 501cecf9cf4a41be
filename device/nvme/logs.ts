// Log pages with live content (NVMe 1.4 §5.14.1).
import type { NvmeController } from './controller.ts';
import { SMART, FW_SLOT, EFFECTS, LID } from '../../src/spec/log.ts';
import { SMART_LOG_SIZE, FW_SLOT_LOG_SIZE, CHANGED_NS_LOG_SIZE, CMD_EFFECTS_LOG_SIZE } from '../../src/spec/sizes.ts';
import { ADMIN } from '../../src/spec/admin.ts';
import { NVM } from '../../src/spec/nvm.ts';
import { putAscii, putBf, put32 } from '../../src/wire/le.ts';
import { COMPOSITE_TEMP_K } from './features.ts';
import { FIRMWARE_REVISION } from './identify.ts';
import { ADMIN_SUPPORTED } from './admin.ts';
import { IO_SUPPORTED } from './io.ts';

/** Data units are thousands of 512-byte units, rounded up (§5.14.1.2). */
const dataUnits = (bytes: number): number => Math.ceil(bytes / 512 / 1000);

export function smartLog(c: NvmeController): Uint8Array {
  const b = new Uint8Array(SMART_LOG_SIZE);
  const s = c.smart;
  const st = c.stats;
  const f = c.features;
  const hot = COMPOSITE_TEMP_K > f.overTemp || COMPOSITE_TEMP_K < f.underTemp;
  putBf(b, 0, SMART.CRITICAL_WARNING, hot ? 0x2 : 0);
  putBf(b, 0, SMART.COMPOSITE_TEMP, COMPOSITE_TEMP_K);
  putBf(b, 0, SMART.AVAIL_SPARE, 100);
  putBf(b, 0, SMART.AVAIL_SPARE_THRESH, 10);
  putBf(b, 0, SMART.PERCENT_USED, 0);
  putBf(b, 0, SMART.DATA_UNITS_READ, dataUnits(s.dataUnitsRead + st.bytesRead));
  putBf(b, 0, SMART.DATA_UNITS_WRITTEN, dataUnits(s.dataUnitsWritten + st.bytesWritten));
  putBf(b, 0, SMART.HOST_READ_CMDS, s.hostReadCommands + st.hostReadCommands);
  putBf(b, 0, SMART.HOST_WRITE_CMDS, s.hostWriteCommands + st.hostWriteCommands);
  putBf(b, 0, SMART.POWER_CYCLES, s.powerCycles);
  const onMs = s.powerOnMs + (performance.now() - c.startedAt);
  putBf(b, 0, SMART.POWER_ON_HOURS, Math.floor(onMs / 3_600_000));
  putBf(b, 0, SMART.UNSAFE_SHUTDOWNS, s.unsafeShutdowns);
  putBf(b, 0, SMART.MEDIA_ERRORS, s.mediaErrors + st.mediaErrors);
  putBf(b, 0, SMART.NUM_ERR_LOG_ENTRIES, c.errorCount);
  putBf(b, 0, SMART.TEMP_SENSOR1, COMPOSITE_TEMP_K);
  return b;
}

export function fwSlotLog(): Uint8Array {
  const b = new Uint8Array(FW_SLOT_LOG_SIZE);
  putBf(b, 0, FW_SLOT.AFI, 1);
  putAscii(b, 0, FW_SLOT.FRS1, FIRMWARE_REVISION);
  return b;
}

/** Changed Namespace List (04h): NSIDs attached/detached at run time (ns-add / ns-remove) since the log was last read; at most 1024 entries. */
export function changedNsLog(c: NvmeController): Uint8Array {
  const b = new Uint8Array(CHANGED_NS_LOG_SIZE);
  let i = 0;
  for (const nsid of c.changedNs) put32(b, 4 * i++, nsid);
  c.changedNs.length = 0;
  return b;
}

export function cmdEffectsLog(): Uint8Array {
  const b = new Uint8Array(CMD_EFFECTS_LOG_SIZE);
  for (const opc of ADMIN_SUPPORTED) {
    let e = EFFECTS.CSUPP;
    if (opc === ADMIN.FORMAT_NVM) e |= EFFECTS.LBCC | EFFECTS.NCC | EFFECTS.NIC | EFFECTS.CSE_SINGLE_NS;
    put32(b, 4 * opc, e);
  }
  for (const opc of IO_SUPPORTED) {
    let e = EFFECTS.CSUPP;
    if (opc === NVM.WRITE || opc === NVM.WRITE_ZEROES || opc === NVM.DSM || opc === NVM.WRITE_UNCORRECTABLE) e |= EFFECTS.LBCC;
    put32(b, 1024 + 4 * opc, e);
  }
  return b;
}

export const LOG_SIZES: Readonly<Record<number, number>> = {
  [LID.ERROR_INFO]: 64 * 64,
  [LID.SMART]: SMART_LOG_SIZE,
  [LID.FW_SLOT]: FW_SLOT_LOG_SIZE,
  [LID.CHANGED_NS]: CHANGED_NS_LOG_SIZE,
  [LID.CMD_EFFECTS]: CMD_EFFECTS_LOG_SIZE,
};
