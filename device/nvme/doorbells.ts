// Doorbell writes (NVMe 1.4 §3.1.18/§3.1.19, §4.1): SQ tail and CQ head.
// Invalid writes are ignored and, when an AER is outstanding, reported as an
// Error asynchronous event (§5.2.1, Figure 147) — as QEMU does.
import type { NvmeController } from './controller.ts';
import { decodeDoorbell } from '../../src/spec/registers.ts';
import { AER_TYPE, AER_INFO_ERROR } from '../../src/spec/admin.ts';
import { LID } from '../../src/spec/log.ts';
import { kick, drainWaiting } from './queues.ts';

export function doorbellWrite(c: NvmeController, off: number, value: number): void {
  const db = decodeDoorbell(off, c.dstrd);
  if (db === undefined) return c.guest('§3.1.18: write between doorbells ignored', { off, value });
  if (!c.ready) return c.guest('§3.1.18: doorbell written while the controller is not ready', { off, value });
  const hook = c.faults.doorbell;
  if (hook !== undefined) {
    const r = hook(db.kind, db.qid, value);
    if (r === 'drop') return;
    if (typeof r === 'number') value = r >>> 0;
  }
  c.stats.doorbells++;
  if (db.kind === 'sq') {
    const sq = c.sqs[db.qid];
    if (sq === undefined) return invalid(c, AER_INFO_ERROR.INVALID_DB_REGISTER, `SQ ${db.qid} tail doorbell: no such queue`, value);
    if (value >= sq.size) return invalid(c, AER_INFO_ERROR.INVALID_DB_WRITE_VALUE, `SQ ${db.qid} tail ${value} ≥ size ${sq.size}`, value);
    sq.tail = value;
    c.shadowMmio('sq', db.qid, value);
    kick(c);
    return;
  }
  const cq = c.cqs[db.qid];
  if (cq === undefined) return invalid(c, AER_INFO_ERROR.INVALID_DB_REGISTER, `CQ ${db.qid} head doorbell: no such queue`, value);
  if (value >= cq.size) return invalid(c, AER_INFO_ERROR.INVALID_DB_WRITE_VALUE, `CQ ${db.qid} head ${value} ≥ size ${cq.size}`, value);
  cq.head = value;
  c.shadowMmio('cq', db.qid, value);
  if (cq.waiting.length > 0) drainWaiting(c, cq);
}

function invalid(c: NvmeController, info: number, why: string, value: number): void {
  c.stats.invalidDoorbells++;
  c.guest(`§3.1.18: ${why}; ignored`, { value });
  // Only reported when the host has an AER outstanding (QEMU's behaviour).
  if (c.aer.outstanding.length > 0) c.aer.enqueue(AER_TYPE.ERROR, info, LID.ERROR_INFO);
}
