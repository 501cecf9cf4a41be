// Audit (issue 3) regressions: a refused SQE fetch / CQE post sets CSTS.CFS,
// one dma_read per SQE batch, register reads outside the file, arbitration burst.
import test from 'ava';
import { NvmeTestHost, type HostQueue } from '../helpers/nvme-host.ts';
import { ADMIN } from '../../src/spec/admin.ts';
import { NVM } from '../../src/spec/nvm.ts';
import { FID } from '../../src/spec/features.ts';
import { REG, CSTS, getField } from '../../src/spec/registers.ts';
import type { Cqe } from '../../src/wire/cqe.ts';

const sync = (h: NvmeTestHost) => h.expectOk(h.admin({ opc: ADMIN.GET_FEATURES, cdw10: FID.NUMBER_OF_QUEUES }), 'sync');

test('an SQE fetch the IOMMU refuses sets CSTS.CFS (§10.5), not an exception', async (t) => {
  const { host, ctrl } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, aer: false });
  const q = host.queues.get(1) as HostQueue;
  host.blocked = [{ addr: q.sq, len: q.size * 64 }];
  void host.queueSqe(q, { opc: NVM.FLUSH, nsid: 1 });
  host.ringSq(q);
  const csts = await host.waitCsts((v) => getField(v, CSTS.CFS) === 1);
  t.is(getField(csts, CSTS.CFS), 1);
  t.is(ctrl.stats.fatal, 1);
});

test('a CQE post the IOMMU refuses sets CSTS.CFS (§10.5)', async (t) => {
  const { host } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, aer: false });
  const q = host.queues.get(1) as HostQueue;
  // The device checks its own copy of the windows (PROTOCOL.md "DMA windows"): leave the CQ out.
  const { base, size } = host.mem;
  await host.ch.request({ t: 'dma_unmap', iova: base, len: size });
  await host.ch.request({ t: 'dma_map', iova: base, len: q.cq - base, prot: 3 });
  await host.ch.request({ t: 'dma_map', iova: q.cq + 4096, len: base + size - q.cq - 4096, prot: 3 });
  void host.queueSqe(q, { opc: NVM.FLUSH, nsid: 1 });
  host.ringSq(q);
  const csts = await host.waitCsts((v) => getField(v, CSTS.CFS) === 1);
  t.is(getField(csts, CSTS.CFS), 1);
});

test('one doorbell for 16 SQEs costs one SQE-fetch dma_read', async (t) => {
  const { host } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, aer: false });
  const q = host.queues.get(1) as HostQueue;
  const b = host.buf(4096);
  const before = host.dmaReads;
  const ps: Promise<Cqe>[] = [];
  for (let i = 0; i < 16; i++) ps.push(host.queueSqe(q, { opc: NVM.READ, nsid: 1, prp1: b, cdw10: i }));
  host.ringSq(q);
  for (const c of await Promise.all(ps)) t.is(c.status, 0);
  t.is(host.dmaReads - before, 1);
});

test('BAR0 reads outside the register file and of doorbells return 0', async (t) => {
  const { host } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, aer: false });
  for (const off of [0x40, 0x100, 0xe00, 0xffc, 0x1000, 0x1004, 0x1008]) t.is(await host.read32(off), 0, `0x${off.toString(16)}`);
  t.not(await host.read32(REG.VS), 0);
});

test('round-robin arbitration with the Feature 01h burst: two SQs on one CQ interleave in bursts of 2^AB', async (t) => {
  const { host } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, aer: false });
  await host.expectOk(host.admin({ opc: ADMIN.SET_FEATURES, cdw10: FID.ARBITRATION, cdw11: 1 }), 'AB=1');
  // SQ 2 shares CQ 1 with SQ 1.
  const q1 = host.queues.get(1) as HostQueue;
  const q2 = host.newQueue(2, 16);
  q2.cq = q1.cq;
  await host.expectOk(host.admin({ opc: ADMIN.CREATE_IO_SQ, prp1: q2.sq, cdw10: (2 | (15 << 16)) >>> 0, cdw11: (1 | (1 << 16)) >>> 0 }), 'sq 2');
  host.queues.delete(2);
  const order: number[] = [];
  const ps: Promise<Cqe>[] = [];
  // Distinct CIDs per SQ; CQ 1's reap resolves both (SQ 2's waiters moved there).
  for (const [q, base] of [[q1, 0x100], [q2, 0x200]] as const) {
    for (let i = 0; i < 6; i++) ps.push(host.queueSqe(q, { opc: NVM.FLUSH, nsid: 1, cid: base + i }).then((c) => (order.push(c.sqid), c)));
  }
  for (const [cid, w] of q2.waiters) q1.waiters.set(cid, w);
  host.ringSq(q1);
  host.ringSq(q2);
  for (const c of await Promise.all(ps)) t.is(c.status, 0);
  t.deepEqual(order, [1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2, 2]);
});

test('one pass: the data, CQEs and interrupt of 8 reads leave as one frame after the SQE fetch', async (t) => {
  const { host } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, aer: false });
  const q = host.queues.get(1) as HostQueue;
  const irqs = host.irqs.length;
  const f0 = host.ch.counters.framesIn;
  const m0 = host.ch.counters.msgsIn;
  const ps: Promise<Cqe>[] = [];
  for (let i = 0; i < 8; i++) ps.push(host.queueSqe(q, { opc: NVM.READ, nsid: 1, prp1: host.buf(4096), cdw10: i }));
  host.ringSq(q);
  for (const c of await Promise.all(ps)) t.is(c.status, 0);
  // Frame 1: the SQE fetch (dma_read). Frame 2: 8 data dma_writes + 1 CQE dma_write + 1 irq.
  t.is(host.ch.counters.framesIn - f0, 2);
  t.is(host.ch.counters.msgsIn - m0, 1 + 8 + 1 + 1);
  t.is(host.irqs.length - irqs, 1);
});

test('SMART counts power cycles: one per controller power-on', async (t) => {
  const { host } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, aer: false });
  const b = host.buf(4096);
  // Get Log Page 02h, NUMDL = 512 dwords - 1.
  await host.expectOk(host.admin({ opc: ADMIN.GET_LOG_PAGE, nsid: 0xffffffff, prp1: b, cdw10: (0x02 | (127 << 16)) >>> 0 }), 'smart');
  const v = host.mem.view(b, 512);
  // §5.14.1.2: Power Cycles at bytes 112-127 (low 8 bytes used here).
  t.is(v[112], 1);
});
