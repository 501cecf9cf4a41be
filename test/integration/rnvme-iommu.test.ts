// rnvme's data slots against a device that DMAs where it should not: the
// slots are mapped on the device once per queue, but the host IOMMU opens a
// slot only while its request is in flight. A device write into an idle slot
// (a stale or wild DMA) must be refused and counted exactly like a write
// outside every window, leave host memory untouched, and harm no I/O.
// Device daemon (with FAULTS' engine) and host in separate processes.
import test from 'ava';
import { attachHost, startFaultyDevice } from '../../fixtures/index.ts';
import { BLK_STS, REQ_OP } from '../../host/block/index.ts';
import { submitP } from './rnvme-helpers.ts';

test('a device write into an idle data slot is refused and counted like an out-of-window DMA', async (t) => {
  const device = await startFaultyDevice({});
  t.teardown(() => device.stop());
  const host = await attachHost(device, { rnvme: { io_queues: 1, io_timeout: 20_000 } });
  t.teardown(() => host.detach());
  const { ctrl, disk } = host;
  // Small I/O goes through the slots, with no dma_map on the wire.
  const buf = new Uint8Array(4096).fill(0x11);
  const maps0 = ctrl.fn.stats().maps;
  t.is(await submitP(disk, REQ_OP.WRITE, 0, buf, 0, 0), BLK_STS.OK);
  const back = new Uint8Array(4096);
  t.is(await submitP(disk, REQ_OP.READ, 0, back, 0, 0), BLK_STS.OK);
  t.deepEqual(back, buf);
  t.is(ctrl.fn.stats().maps, maps0);
  t.true(ctrl.stats.slotted >= 2);

  // Find an idle slot: take one (FIFO) and give it back — it is now closed, and last in line.
  const pool = ctrl.dataPools[0];
  if (pool === undefined) return t.fail('no data pool');
  t.true(pool.gated);
  const idle = pool.alloc('from-device');
  if (idle === undefined) return t.fail('no free slot');
  idle.bytes.fill(0x3c);
  idle.release();

  const before = ctrl.fn.stats();
  await device.inject({ id: 'stale-slot', match: { queue: 'io' }, trigger: { kind: 'once' }, action: { type: 'hostile-dma', kind: 'write-outside', addr: idle.iova, len: 4096 } });
  // The rule fires on the next I/O command; its posted write reaches the host before that command's completion.
  t.is(await submitP(disk, REQ_OP.READ, 8192, new Uint8Array(4096), 0, 0), BLK_STS.OK);
  const rep = await device.faults();
  t.is(rep.rules.find((r) => r.id === 'stale-slot')?.injected, 1, JSON.stringify(rep.rules));

  const after = ctrl.fn.stats();
  t.is(after.blockedWrites - before.blockedWrites, 1);
  const f = ctrl.fn.memory.faults().at(-1);
  t.is(f?.iova, idle.iova);
  t.is(f?.dir, 'write');
  t.is(f?.reason, 'unmapped');
  t.true(idle.bytes.every((b) => b === 0x3c), 'the idle slot is untouched');

  // I/O carries on, data intact, nothing leaked.
  const again = new Uint8Array(4096);
  t.is(await submitP(disk, REQ_OP.READ, 0, again, 0, 0), BLK_STS.OK);
  t.deepEqual(again, buf);
  t.is(host.busyTags(), 0);
  t.is(pool.available, pool.slots, 'every slot back (and closed)');
});
