// The I/O timeout ladder (Linux pci.c nvme_timeout):
//   1. poll the CQ: a completion whose interrupt went missing ends it here
//      ("completion polled");
//   2. the controller is resetting/connecting: re-arm, the reset cancels it;
//   3. a request already aborted once: reset the controller;
//   4. read CSTS: all-ones (gone) or CFS ⇒ reset ("controller is down");
//   5. otherwise send Abort (CDW10 = SQID | CID << 16) and re-arm.
// Linux reads CSTS before polling; here polling is local memory while CSTS
// is a round trip, so the CQ is polled first and CSTS checked asynchronously
// before the Abort is sent. Admin timeouts reset directly (admin.ts).
import { BLK_STS } from '../../block/types.ts';
import type { RequestRef, TimeoutResult } from '../../block/types.ts';
import { ADMIN, CSTS, REG, getField, CSTS_DEVICE_GONE } from '../../../src/spec/index.ts';
import type { NvmeController } from './controller.ts';
import type { RnvmePdu } from './io.ts';

const hex4 = (n: number): string => n.toString(16).padStart(4, '0');

export function ioTimeout(c: NvmeController, rq: RequestRef<RnvmePdu>): TimeoutResult {
  const pdu = rq.pdu;
  const q = c.ioQueues[rq.hwqIndex];
  const qid = rq.hwqIndex + 1;
  const cid = pdu.cid;
  // 1. Did it complete without an interrupt?
  if (q !== undefined) {
    q.reap(c.io.onCqe);
    if (!rq.valid) {
      c.log.warn(`${c.name}: I/O tag ${rq.tag} (${hex4(cid)}) QID ${qid} timeout, completion polled`);
      c.stats.timeoutsPolled++;
      return 'done';
    }
  }
  c.stats.timeouts++;
  if (c.terminal) {
    // Nothing will answer any more: fail it now rather than wait for teardown.
    c.io.unmapData(rq, pdu, false);
    rq.end(BLK_STS.IOERR);
    return 'done';
  }
  // 2. A reset is in progress: it will cancel (and requeue) this request.
  if (!c.live) return 'reset-timer';
  // 3. Second timeout of the same command.
  if (pdu.aborted) {
    c.log.warn(`${c.name}: I/O tag ${rq.tag} (${hex4(cid)}) QID ${qid} timeout, reset controller`);
    c.scheduleReset('I/O timeout after abort');
    return 'reset-timer';
  }
  pdu.aborted = true;
  // 4 + 5: CSTS, then Abort.
  c.bar0.read32Cb(REG.CSTS, (csts, err) => {
    if (err !== undefined || csts === CSTS_DEVICE_GONE || getField(csts, CSTS.CFS) === 1) {
      c.log.warn(`${c.name}: controller is down; will reset: CSTS=0x${(csts >>> 0).toString(16)}`);
      c.scheduleReset('controller fatal status');
      return;
    }
    if (!rq.valid || rq.pdu.cid !== cid) return; // completed meanwhile
    if (c.abortsInFlight >= c.abortLimit) return; // Linux: wait for an abort slot; the re-armed timer escalates
    c.log.warn(`${c.name}: I/O tag ${rq.tag} (${hex4(cid)}) QID ${qid} timeout, aborting req_op:${rq.op} size:${rq.bytes}`);
    c.abortsInFlight++;
    c.stats.aborts++;
    const admin = c.admin;
    if (admin === undefined) { c.abortsInFlight--; return; }
    admin.submit({ opc: ADMIN.ABORT, cdw10: (qid | (cid << 16)) >>> 0 }, { quiet: true }).then(
      (r) => c.log.warn(`${c.name}: Abort status: 0x${r.status.toString(16)}`),
      () => { /* reset or removal cancelled it */ },
    ).finally(() => { c.abortsInFlight--; });
  });
  return 'reset-timer';
}
