// Controller reset, surprise removal and orderly shutdown (Linux pci.c
// nvme_reset_work / nvme_dev_disable / nvme_remove, core.c
// nvme_cancel_request / nvme_disable_ctrl(shutdown)). Never hangs: every wait
// is bounded (CAP.TO, admin timeout, shutdown timeout, io_timeout).
import { BLK_STS } from '../../block/types.ts';
import { ADMIN, CC, CC_SHN_NORMAL, CSTS, CSTS_SHST_COMPLETE, CSTS_DEVICE_GONE, REG, getField, setField, statusCode } from '../../../src/spec/index.ts';
import { CTRL_STATE } from './ctrl-state.ts';
import { RnvmeError, SC_HOST_ABORTED_CMD } from './errors.ts';
import { bringUp, disableCtrl, waitCsts } from './probe.ts';
import { unregisterController } from './registry.ts';
import type { NvmeController } from './controller.ts';

/** Resolve after `p` or `ms`, whichever comes first (never rejects). */
async function bounded(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<boolean>((res) => { timer = setTimeout(() => res(false), ms); });
  try {
    return await Promise.race([p.then(() => true, () => true), t]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** Is the controller beyond talking to? (nvme_dev_disable's `dead`: gone, CFS, or not ready.) */
async function ctrlDead(c: NvmeController): Promise<boolean> {
  if (c.fn.gone) return true;
  const csts = await c.bar0.read32(REG.CSTS);
  return csts === CSTS_DEVICE_GONE || getField(csts, CSTS.CFS) === 1 || getField(csts, CSTS.RDY) === 0;
}

/** Delete I/O SQs, then CQs (nvme_disable_io_queues); errors are logged, time is bounded by the admin timeout. */
async function deleteIoQueues(c: NvmeController): Promise<void> {
  const admin = c.admin;
  if (admin === undefined) return;
  for (const [opc, what] of [[ADMIN.DELETE_IO_SQ, 'SQ'], [ADMIN.DELETE_IO_CQ, 'CQ']] as const) {
    const rs = await Promise.allSettled([...c.ioQueues].reverse().map((q) => admin.exec({ opc, cdw10: q.qid }, undefined, { quiet: true })));
    for (const r of rs) {
      if (r.status === 'rejected') { c.log.warn(`${c.name}: delete ${what}: ${String(r.reason)}`); return; }
      if (statusCode(r.value.status) !== 0) c.log.warn(`${c.name}: delete ${what} failed: status 0x${r.value.status.toString(16)}`);
    }
  }
}

/** nvme_disable_ctrl(shutdown=true): CC.SHN = 01b (EN stays), wait for SHST = 10b within the shutdown timeout. */
async function shutdownCtrl(c: NvmeController): Promise<void> {
  c.ctrlConfig = setField(c.ctrlConfig, CC.SHN, CC_SHN_NORMAL);
  c.bar0.write32(REG.CC, c.ctrlConfig);
  try {
    await waitCsts(c, (s) => getField(s, CSTS.SHST) === CSTS_SHST_COMPLETE, c.shutdownTimeoutMs, 'shutdown');
  } catch (e) {
    c.log.warn(`${c.name}: Device shutdown incomplete; abort shutdown (${e instanceof Error ? e.message : String(e)})`);
  }
}

/**
 * nvme_cancel_request for every request the driver owns: completed with
 * Host Aborted Command, so they are retried (requeued) after a reset, or
 * failed when the controller is going away.
 */
export function cancelInflight(c: NvmeController): void {
  c.tagSet?.busyIter((rq) => { c.io.completeRq(rq, SC_HOST_ABORTED_CMD); });
}

/** nvme_dev_disable: stop the controller (shutdown or reset), reap what completed, cancel the rest. */
async function devDisable(c: NvmeController, shutdown: boolean): Promise<void> {
  const dead = await ctrlDead(c);
  if (!dead) {
    // Linux deletes the I/O queues of a responsive controller on a reset too,
    // so that the device drains them before CC.EN=0; the whole exchange is
    // bounded by the admin timeout (a stuck admin queue cannot stall a reset).
    await bounded(deleteIoQueues(c), c.opts.admin_timeout);
    try {
      if (shutdown) await shutdownCtrl(c);
      else await disableCtrl(c);
    } catch (e) {
      c.log.warn(`${c.name}: disable: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  // nvme_reap_pending_cqes: completions that made it before the disable.
  for (const q of c.ioQueues) q.reap(c.io.onCqe);
  c.admin?.reap();
  cancelInflight(c);
  c.admin?.cancelAll(new RnvmeError('ECANCELED', `${c.name}: command cancelled by controller ${shutdown ? 'shutdown' : 'reset'}`, SC_HOST_ABORTED_CMD));
}

/**
 * nvme_reset_work: quiesce + start freeze, disable, cancel (requeue) what was
 * in flight, bring the controller up again with the same queues, unquiesce,
 * kick the requeue lists, wait for the freeze (bounded), unfreeze.
 */
export async function resetController(c: NvmeController): Promise<void> {
  const disks = c.disks;
  const frozen = disks.map((d) => d.freeze());
  for (const d of disks) d.quiesce();
  let ok = false;
  try {
    await devDisable(c, false);
    if (!c.state.change(CTRL_STATE.CONNECTING)) throw new RnvmeError('ENODEV', 'controller removed during reset');
    await bringUp(c, false);
    if (!c.state.change(CTRL_STATE.LIVE)) throw new RnvmeError('ENODEV', 'controller removed during reset');
    ok = true;
  } catch (e) {
    c.log.error(`${c.name}: reset failed, removing controller: ${e instanceof Error ? e.message : String(e)}`);
  }
  for (const d of disks) d.unquiesce();
  if (!ok) {
    for (const d of disks) d.unfreeze();
    await removeController(c, 'reset failure');
    return;
  }
  for (const d of disks) d.kickRequeueList(0);
  await c.enableAen().catch((e: unknown) => c.log.warn(`${c.name}: AEN after reset: ${String(e)}`));
  await bounded(Promise.all(frozen), c.opts.io_timeout);
  for (const d of disks) d.unfreeze();
  c.log.info(`${c.name}: reset done`);
}

/**
 * Surprise removal / dead controller (nvme_remove_dead_ctrl): fail in-flight
 * I/O with IOERR at once, fail admin commands, remove the disks (queued and
 * new I/O fail), free memory. Idempotent; never waits on the device.
 */
export function removeController(c: NvmeController, why: string): Promise<void> {
  if (c.removed !== undefined) return c.removed;
  c.removed = (async () => {
    c.state.change(CTRL_STATE.DELETING);
    c.log.warn(`${c.name}: removing controller: ${why}`);
    c.admin?.cancelAll(new RnvmeError('ENODEV', `${c.name}: controller removed (${why})`));
    c.tagSet?.busyIter((rq) => {
      c.io.unmapData(rq, rq.pdu, false);
      rq.end(BLK_STS.IOERR);
    });
    await c.removeAllNs(0);
    c.detachIrqs();
    c.freeMemory();
    c.state.change(CTRL_STATE.DEAD);
    unregisterController(c);
    if (!c.fn.gone) {
      await bounded(c.fn.memory.settled(), 1000);
      await c.fn.detach(`rnvme: ${why}`).catch(() => undefined);
    }
  })();
  return c.removed;
}

/**
 * nvme_remove: disks first (waiting up to io_timeout for in-flight I/O),
 * then Delete SQs/CQs, CC.SHN and SHST complete, memory freed, function
 * detached. Idempotent.
 */
export function shutdownController(c: NvmeController): Promise<void> {
  if (c.removed !== undefined) return c.removed;
  c.removed = (async () => {
    if (c.resetting !== undefined) await c.resetting.catch(() => undefined);
    c.state.change(CTRL_STATE.DELETING);
    const disks = c.disks;
    await bounded(Promise.all(disks.map((d) => d.freeze())), c.opts.io_timeout);
    await c.removeAllNs(0);
    if (!c.fn.gone) await devDisable(c, true);
    else c.admin?.cancelAll(new RnvmeError('ENODEV', `${c.name}: controller gone`));
    c.detachIrqs();
    c.freeMemory();
    c.state.change(CTRL_STATE.DEAD);
    unregisterController(c);
    if (!c.fn.gone) {
      await bounded(c.fn.memory.settled(), c.opts.admin_timeout);
      await c.fn.detach('rnvme shutdown').catch(() => undefined);
    }
    c.log.info(`${c.name}: shut down`);
  })();
  return c.removed;
}
