// rnvme end to end, device daemon and host in separate processes: probe →
// disks with the right capacity and limits → seeded random mixed I/O on
// several queues and two namespaces verified against a model → orderly
// shutdown; in interrupt and poll mode, with and without CMB SQs and shadow
// doorbells.
import test from 'ava';
import { startDevice } from '../helpers/daemon.ts';
import { getDisk, listDisks, REQ_FLAG, REQ_OP } from '../../host/block/index.ts';
import { probeNvme, listControllers, type RnvmeOptions } from '../../host/drivers/rnvme/index.ts';
import { mixedWorkload, submitP } from './rnvme-helpers.ts';

const NS_ARGS = ['-device', 'nvme-ns,nsid=1,size=8M', '-device', 'nvme-ns,nsid=2,size=4M,logical_block_size=512'];

interface Variant { name: string; cmb: boolean; opts: Partial<RnvmeOptions>; poll: boolean; expectDbbuf: boolean }
const variants: Variant[] = [
  { name: 'interrupts + shadow doorbells', cmb: false, opts: { io_queues: 3, nr_cpus: 4 }, poll: false, expectDbbuf: true },
  { name: 'interrupts, MMIO doorbells', cmb: false, opts: { io_queues: 2, nr_cpus: 4, use_dbbuf: false }, poll: false, expectDbbuf: false },
  { name: 'poll queues', cmb: false, opts: { io_queues: 1, poll_queues: 2, nr_cpus: 4 }, poll: true, expectDbbuf: true },
  { name: 'CMB submission queues', cmb: true, opts: { io_queues: 2, nr_cpus: 4, use_dbbuf: false }, poll: false, expectDbbuf: false },
  { name: 'CMB submission queues + shadow doorbells', cmb: true, opts: { io_queues: 2, nr_cpus: 4 }, poll: false, expectDbbuf: true },
];

for (const [i, v] of variants.entries()) {
  test(`probe, mixed verified I/O, shutdown: ${v.name}`, async (t) => {
    const dev = await startDevice({ args: ['-device', `nvme,serial=RNVME${i}${v.cmb ? ',cmb_size_mb=1' : ''}`, ...NS_ARGS] });
    t.teardown(() => dev.stop());
    const ctrl = await probeNvme(dev.url, { options: { ...v.opts, io_timeout: 20000 } });
    t.true(listControllers().includes(ctrl));
    const [n1, n2] = ctrl.disks.map((d) => d.name);
    t.deepEqual([n1, n2], [`${ctrl.name}n1`, `${ctrl.name}n2`]);
    t.true(listDisks().includes(`${ctrl.name}n1`));
    const d1 = getDisk(`${ctrl.name}n1`);
    const d2 = getDisk(`${ctrl.name}n2`);
    if (d1 === undefined || d2 === undefined) { t.fail('disks missing'); return; }
    // Capacity and limits from Identify (4 KiB / 512 B blocks, MDTS 7 → 512 KiB, VWC → write cache + FUA).
    t.is(d1.capacityBytes, 8 << 20);
    t.is(d2.capacityBytes, 4 << 20);
    t.is(d1.limits.logicalBlockSize, 4096);
    t.is(d2.limits.logicalBlockSize, 512);
    t.is(d1.limits.maxHwSectors, (1 << 7) * 4096 / 512);
    t.true(d1.limits.writeCache);
    t.true(d1.limits.fua);
    t.true(d1.limits.maxWriteZeroesSectors > 0);
    t.true(d1.limits.maxDiscardSectors > 0);
    const info = ctrl.info();
    t.is(info.queues.length, (v.opts.io_queues ?? 0) + (v.opts.poll_queues ?? 0));
    t.is(info.queues.every((q) => q.cmb), v.cmb);
    t.is(info.queues.some((q) => q.dbbuf), v.expectDbbuf);
    if (v.poll) t.true(info.queues.some((q) => q.vector === -1));

    const devs = [d1.open(), d2.open()];
    const open0 = ctrl.fn.memory.openMappings();
    const r = await mixedWorkload(devs, { seed: 0xc0ffee + i, ops: 400, inflight: 24, nrCpus: 4, flags: v.poll ? REQ_FLAG.POLLED : 0 });
    t.deepEqual(r.errors, []);
    t.is(r.mismatches, 0);
    t.true((r.counts.read ?? 0) > 50 && (r.counts.write ?? 0) > 50);
    // Several hardware queues carried I/O.
    t.true(ctrl.ioQueues.filter((q) => q.submitted > 0).length >= 2);
    t.is(ctrl.stats.invalidIds, 0);
    // Small transfers went through gated data slots (no dma_map); only the larger ones were mapped,
    // every mapping ended with its request, and a correct device never hit a closed slot.
    const st = ctrl.fn.stats();
    t.true(ctrl.stats.slotted > 100, `${ctrl.stats.slotted} slotted`);
    t.is(ctrl.fn.memory.openMappings(), open0);
    t.is(st.blockedWrites + st.blockedReads, 0);
    // One doorbell per batch: 16 plugged writes on one CPU ring the SQ doorbell fewer than 16 times.
    const maps0 = ctrl.fn.stats().maps;
    const before = ctrl.ioQueues.reduce((s, q) => s + q.sqDoorbells, 0);
    const sub0 = ctrl.ioQueues.reduce((s, q) => s + q.submitted, 0);
    devs[0]?.plug();
    const ps = Array.from({ length: 16 }, (_, k) => submitP(devs[0] as never, REQ_OP.WRITE, k * 8192, new Uint8Array(4096).fill(k), 0, 0));
    devs[0]?.unplug();
    t.true((await Promise.all(ps)).every((s) => s === 0));
    const rung = ctrl.ioQueues.reduce((s, q) => s + q.sqDoorbells, 0) - before;
    const subs = ctrl.ioQueues.reduce((s, q) => s + q.submitted, 0) - sub0;
    t.is(subs, 16);
    // …and these small writes sent no dma_map at all: their data went through the gated slots.
    t.is(ctrl.fn.stats().maps, maps0);
    t.true(rung < 16, `${rung} doorbells for 16 SQEs`);

    for (const d of devs) d.close();
    await ctrl.shutdown();
    t.deepEqual([...ctrl.state.history], ['new -> connecting', 'connecting -> live', 'live -> deleting', 'deleting -> dead']);
    t.false(listDisks().includes(`${ctrl.name}n1`));
    t.false(listControllers().includes(ctrl));
  });
}
