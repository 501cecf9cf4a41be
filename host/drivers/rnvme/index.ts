// rnvme public API: the NVMe PCI driver (Linux nvme-pci behaviour, written
// against host/pci and host/block typed APIs only).
//
//   import { probeNvme, listControllers, getController } from './host/drivers/rnvme/index.ts';
//   const ctrl = await probeNvme(dev.url, { token, options: { io_queues: 2, poll_queues: 1 } });
//   ctrl.name;                         // 'nvme0'
//   ctrl.disks.map((d) => d.name);     // ['nvme0n1', 'nvme0n2'] — open with openDisk() from host/block
//   const { id, raw } = await ctrl.identifyController();
//   const smart = await ctrl.getLogPage({ lid: LID.SMART, len: 512 });
//   await ctrl.setFeatures(FID.VOLATILE_WRITE_CACHE, 1);
//   await ctrl.reset();                // quiesce, disable, cancel+requeue, bring up, resume
//   await ctrl.shutdown();             // delete queues, CC.SHN, wait SHST, detach
//
// Errors: probe and admin calls reject with RnvmeError (`code`: ENODEV,
// ETIMEDOUT, EIO with `nvmeStatus`, EINVAL, ECANCELED); I/O fails through the
// block layer with the BLK_STS Linux's nvme_error_status gives.
// Options: RNVME_OPTIONS (formatOptionTable() prints them).
import { attachFunction } from '../../pci/index.ts';
import type { PciFunction } from '../../pci/index.ts';
import { silentLogger } from '../../../src/util/log.ts';
import type { Logger } from '../../../src/util/log.ts';
import { NvmeController } from './controller.ts';
import { RnvmeError } from './errors.ts';
import { resolveOptions, type RnvmeOptions } from './options.ts';
import { allocInstance, registerController } from './registry.ts';

export { NvmeController, type NvmeNamespace, type RnvmeStats, type GetLogPageOpts, type CmbPlace } from './controller.ts';
export { RNVME_OPTIONS, DEFAULT_OPTIONS, resolveOptions, formatOptionTable, type RnvmeOptions, type OptionInfo } from './options.ts';
export {
  RnvmeError, nvmeErrorStatus, decideDisposition, crdDelayMs, nvmeStatusText, nvmeOpcodeText, formatIoError, formatAdminError,
  SC_HOST_ABORTED_CMD, SC_HOST_PATH_ERROR, type RnvmeErrorCode, type Disposition,
} from './errors.ts';
export { CtrlState, CTRL_STATE, CTRL_STATE_NAME, type CtrlStateValue } from './ctrl-state.ts';
export { decodeIdCtrl, decodeIdNs, decodeNsList, type IdCtrl, type IdNs, type LbaFormat } from './identify.ts';
export { NvmeQueue, dbbufNeedEvent, type DoorbellBar, type NvmeQueueInit, type CmbSqPlace, type DbbufPlace } from './queue.ts';
export { PrpPool, setupPrps, setupSgls, prpCompatible, listPagesForTransfer, newDataPtr, CTRL_PAGE, type SegmentList, type DataPtr } from './prp.ts';
export { AdminQueue, ADMIN_QUEUE_DEPTH, AER_CID, ADMIN_SLOTS, type AdminCommand, type AdminResult, type AdminDataOpts } from './admin.ts';
export { IoPath, RnvmePdu, type QueueCtx } from './io.ts';
export { listControllers, getController } from './registry.ts';

/** PCI class code of an NVM Express I/O controller (base 01h, sub 08h, prog-if 02h). */
export const NVME_CLASS_CODE = 0x010802;

export interface ProbeOptions {
  /** Bearer token of the device daemon. */
  token?: string;
  /** CA certificate(s) for a wss:// daemon. */
  ca?: string | Buffer | (string | Buffer)[];
  log?: Logger;
  /** Driver options (see RNVME_OPTIONS). */
  options?: Partial<RnvmeOptions>;
}

/**
 * Bind the driver to an attached PCI function (pci_driver.probe). Refuses
 * anything that is not class 0x010802. On failure the function is detached
 * and the promise rejects with RnvmeError.
 */
export async function probeFunction(fn: PciFunction, opts: Omit<ProbeOptions, 'token' | 'ca'> = {}): Promise<NvmeController> {
  const options = resolveOptions(opts.options);
  if (fn.ids.classCode !== NVME_CLASS_CODE) {
    throw new RnvmeError('ENODEV', `${fn.name}: class 0x${fn.ids.classCode.toString(16).padStart(6, '0')} is not an NVMe controller (0x010802)`);
  }
  const instance = allocInstance();
  const log = (opts.log ?? silentLogger).child({ drv: 'rnvme', ctrl: `nvme${instance}` });
  const c = new NvmeController(fn, instance, options, log);
  registerController(c);
  await c.probe();
  return c;
}

/** Attach the function at `url` (ws:// device daemon) and probe it. */
export async function probeNvme(url: string, opts: ProbeOptions = {}): Promise<NvmeController> {
  const options = resolveOptions(opts.options); // validate before connecting
  const log = opts.log ?? silentLogger;
  const fn = await attachFunction(url, { token: opts.token, ca: opts.ca, log, name: `nvme${allocInstance()}` });
  try {
    return await probeFunction(fn, { log, options });
  } catch (e) {
    if (!fn.gone) await fn.detach('rnvme probe failed').catch(() => undefined);
    throw e;
  }
}
