// Command Retry Delay end to end (device crdt1 → Identify CRDT1 → rnvme sets
// Host Behavior Support ACRE → a status with CRD=1 → the retry waits
// CRDT1 × 100 ms), and Linux's reset order (Delete I/O SQs, then CQs, while
// the controller is still enabled, then CC.EN=0).
import test from 'ava';
import { BLK_STS, REQ_OP } from '../../host/block/index.ts';
import { ADMIN, NVM, FID } from '../../src/spec/index.ts';
import { injectedBy, rig, submitP } from './rnvme-helpers.ts';

test('crdt1=1: Identify CRDT, ACRE set via Feature 16h, CRD=1 status retried after ≥ 100 ms and the read succeeds', async (t) => {
  const { c, cap, ctrl } = await rig(t, ['-device', 'nvme,serial=CRD,crdt1=1,crdt3=7', '-device', 'nvme-ns,nsid=1,size=1M'], { io_queues: 1, max_retries: 3 });
  const { id } = await ctrl.identifyController();
  t.deepEqual(id.crdt, [1, 0, 7]);
  // The host enabled Advanced Command Retry (nvme_configure_acre).
  const hb = await ctrl.adminCommand({ opc: ADMIN.GET_FEATURES, cdw10: FID.HOST_BEHAVIOR }, { dir: 'in', len: 512 });
  t.is(hb.status, 0);
  t.is(hb.data?.[0], 1);

  const bd = ctrl.disks[0]?.open();
  if (bd === undefined) return t.fail('no disk');
  const buf = new Uint8Array(4096);
  await c.execute('fault-inject', { rule: { id: 'crd', match: { queue: 'io', opcode: NVM.READ }, trigger: { kind: 'once' }, action: { type: 'status', sct: 0, sc: 0x04, crd: 1 } } });
  const t0 = performance.now();
  t.is(await submitP(bd, REQ_OP.READ, 0, buf, 0, 0), BLK_STS.OK);
  const took = performance.now() - t0;
  t.is(await injectedBy(c, 'crd'), 1);
  t.is(ctrl.stats.retries, 1);
  // Lower bound only: the retry must not be sent before CRDT1 × 100 ms.
  t.true(took >= 100, `retried after ${took.toFixed(1)} ms`);
  t.deepEqual(cap.grep(/advanced command retry/), []);
  bd.close();
});

test('crdt defaults to 0: no Host Behavior Support set, ACRE stays 0', async (t) => {
  const { ctrl } = await rig(t, ['-device', 'nvme,serial=NOCRD', '-device', 'nvme-ns,nsid=1,size=1M'], { io_queues: 1 });
  const { id } = await ctrl.identifyController();
  t.deepEqual(id.crdt, [0, 0, 0]);
  const hb = await ctrl.adminCommand({ opc: ADMIN.GET_FEATURES, cdw10: FID.HOST_BEHAVIOR }, { dir: 'in', len: 512 });
  t.is(hb.status, 0);
  t.is(hb.data?.[0], 0);
  // Reserved ACRE value refused; namespace-specific set refused.
  const bad = new Uint8Array(512);
  bad[0] = 2;
  const r = await ctrl.adminCommand({ opc: ADMIN.SET_FEATURES, cdw10: FID.HOST_BEHAVIOR }, { dir: 'out', len: 512, data: bad });
  t.is(r.status & 0x7ff, 0x02); // Invalid Field in Command
  const ns = await ctrl.adminCommand({ opc: ADMIN.SET_FEATURES, nsid: 1, cdw10: FID.HOST_BEHAVIOR }, { dir: 'out', len: 512, data: new Uint8Array(512) });
  t.is(ns.status & 0x7ff, 0x10f); // Feature Not Namespace Specific
});

test('reset of a live controller deletes the I/O SQs then CQs before CC.EN=0 (nvme_dev_disable)', async (t) => {
  const { c, cap, ctrl } = await rig(t, ['-device', 'nvme,serial=RST', '-device', 'nvme-ns,nsid=1,size=1M'], { io_queues: 2 });
  // Count the deletes the device executes: a 1 ms hold changes nothing else.
  for (const [id, opc] of [['del-sq', ADMIN.DELETE_IO_SQ], ['del-cq', ADMIN.DELETE_IO_CQ]] as const) {
    await c.execute('fault-inject', { rule: { id, match: { queue: 'admin', opcode: opc }, trigger: { kind: 'always' }, action: { type: 'delay', delay: { ms: 1 } } } });
  }
  const bd = ctrl.disks[0]?.open();
  if (bd === undefined) return t.fail('no disk');
  const nq = ctrl.ioQueues.length;
  t.true(nq >= 1);
  await ctrl.reset();
  t.is(await injectedBy(c, 'del-sq'), nq);
  t.is(await injectedBy(c, 'del-cq'), nq);
  // They succeeded, so the queues still existed: sent before the disable (CC.EN=0 frees every queue, §7.3.2).
  t.deepEqual(cap.grep(/delete (SQ|CQ)/), []);
  t.is(await submitP(bd, REQ_OP.READ, 0, new Uint8Array(4096), 0, 0), BLK_STS.OK);
  bd.close();
});
