// Namespace attach / detach at run time (the daemon's ns-add / ns-remove
// control commands): the controller raises Notice / Namespace Attribute
// Changed / log 04h, rnvme reads the Changed Namespace List (which clears the
// event — otherwise the second event would stay masked) and rescans: disks
// appear and disappear while the others keep working.
import test from 'ava';
import { BLK_STS, REQ_OP, getDisk } from '../../host/block/index.ts';
import { LID } from '../../src/spec/index.ts';
import { rig, submitP } from './rnvme-helpers.ts';

const ARGS = ['-device', 'nvme,serial=AEN', '-device', 'nvme-ns,nsid=1,size=2M'];

/** Wait for a condition the AEN work makes true (bounded: fails instead of hanging). */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`timed out waiting for: ${what}`);
}

test('ns-add / ns-remove: AEN → changed-ns log 04h → rescan; disks appear and disappear', async (t) => {
  const { c, ctrl } = await rig(t, ARGS, { io_queues: 1 });
  t.deepEqual(ctrl.disks.map((d) => d.name), [`${ctrl.name}n1`]);

  // Attach NSID 3 (512-byte blocks): a new disk with its own limits and capacity.
  t.deepEqual(await c.execute('ns-add', { nsid: 3, size: '1M', logical_block_size: 512 }), { nsid: 3 });
  const n3 = `${ctrl.name}n3`;
  await until('nvme?n3 appears', () => getDisk(n3) !== undefined);
  t.is(ctrl.stats.aens, 1);
  const d3 = getDisk(n3);
  if (d3 === undefined) return t.fail();
  t.is(d3.capacityBytes, 1 << 20);
  t.is(d3.limits.logicalBlockSize, 512);
  const bd3 = d3.open();
  const w = new Uint8Array(1024).fill(0x5a);
  t.is(await submitP(bd3, REQ_OP.WRITE, (1 << 20) - 1024, w, 0, 0), BLK_STS.OK);
  const r = new Uint8Array(1024);
  t.is(await submitP(bd3, REQ_OP.READ, (1 << 20) - 1024, r, 0, 0), BLK_STS.OK);
  t.deepEqual(r, w);
  // The host read (and so cleared) the Changed Namespace List.
  t.deepEqual([...(await ctrl.getLogPage({ lid: LID.CHANGED_NS, len: 16, nsid: 0xffff_ffff }))], new Array(16).fill(0));

  // Detach it again: only possible to notice if the first event was cleared by the log read (RAE=0).
  t.deepEqual(await c.execute('ns-remove', { nsid: 3 }), { nsid: 3 });
  await until('nvme?n3 disappears', () => getDisk(n3) === undefined);
  t.is(ctrl.stats.aens, 2);
  t.deepEqual(ctrl.disks.map((d) => d.name), [`${ctrl.name}n1`]);
  t.not(await submitP(bd3, REQ_OP.READ, 0, new Uint8Array(512), 0, 0), BLK_STS.OK, 'the old handle fails');
  bd3.close();

  // The remaining namespace is untouched; NSID defaults to the next free one.
  const bd1 = ctrl.disks[0]?.open();
  if (bd1 === undefined) return t.fail();
  t.is(await submitP(bd1, REQ_OP.READ, 0, new Uint8Array(4096), 0, 0), BLK_STS.OK);
  bd1.close();
  t.deepEqual(await c.execute('ns-add', { size: 8192 }), { nsid: 2 });
  await until('nvme?n2 appears', () => getDisk(`${ctrl.name}n2`) !== undefined);
  t.is(getDisk(`${ctrl.name}n2`)?.limits.logicalBlockSize, 4096);

  // Bad requests are refused with a clear message, nothing changes.
  await t.throwsAsync(c.execute('ns-add', { nsid: 1, size: '1M' }), { message: /namespace 1 already exists/ });
  await t.throwsAsync(c.execute('ns-add', { size: 'lots' }), { message: /'size' expects a size/ });
  await t.throwsAsync(c.execute('ns-add', { size: 1000, logical_block_size: 512 }), { message: /must be ≥ 4096/ });
  await t.throwsAsync(c.execute('ns-add', { size: '1M', logical_block_size: 1024 }), { message: /512 or 4096/ });
  await t.throwsAsync(c.execute('ns-remove', { nsid: 9 }), { message: /no namespace 9/ });
  await t.throwsAsync(c.execute('ns-remove', {}), { message: /'nsid' is missing/ });
  t.is(ctrl.stats.aens, 3);
});

test('rescan: a namespace whose Identify answers Invalid Namespace is removed; the scan carries on', async (t) => {
  const { c, ctrl } = await rig(t, [...ARGS, '-device', 'nvme-ns,nsid=2,size=1M'], { io_queues: 1 });
  t.deepEqual(ctrl.disks.map((d) => d.name), [`${ctrl.name}n1`, `${ctrl.name}n2`]);
  // As if NSID 1 went away between the active list and its Identify (Identify = admin opcode 06h).
  await c.execute('fault-inject', { rule: { id: 'gone', match: { queue: 'admin', opcode: 0x06, nsid: 1 }, trigger: { kind: 'once' }, action: { type: 'status', sct: 0, sc: 0x0b, dnr: true } } });
  await ctrl.rescan();
  t.deepEqual(ctrl.disks.map((d) => d.name), [`${ctrl.name}n2`]);
  t.is(getDisk(`${ctrl.name}n1`), undefined);
  // The next scan finds it again.
  await ctrl.rescan();
  t.deepEqual(ctrl.disks.map((d) => d.name), [`${ctrl.name}n1`, `${ctrl.name}n2`]);
});
