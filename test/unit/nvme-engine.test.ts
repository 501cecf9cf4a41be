// Queue engine: CQ-full stall and recovery, phase-tag wrap, CC disable mid-I/O,
// CMB submission queues, shadow doorbells, interrupt coalescing, data integrity.
import test from 'ava';
import { NvmeTestHost, type HostQueue } from '../helpers/nvme-host.ts';
import { ADMIN } from '../../src/spec/admin.ts';
import { NVM } from '../../src/spec/nvm.ts';
import { FID } from '../../src/spec/features.ts';
import { REG, CMBSZ, getField } from '../../src/spec/registers.ts';
import { S, statusName } from '../../src/spec/status.ts';
import { put32, u32, put64 } from '../../src/wire/le.ts';
import { buildPrps, prpListPagesNeeded } from '../../src/wire/prp.ts';
import type { Cqe } from '../../src/wire/cqe.ts';
import { mulberry32 } from '../../src/util/prng.ts';

/** Wait until the controller has done `n` more things, by round-tripping admin Get Features. */
const sync = (h: NvmeTestHost) => h.expectOk(h.admin({ opc: ADMIN.GET_FEATURES, cdw10: FID.NUMBER_OF_QUEUES }), 'sync');

async function pair(h: NvmeTestHost, qid: number, cqSize: number, sqSize: number, iv = qid, cmbOff?: number, cba = 0): Promise<HostQueue> {
  const q = h.newQueue(qid, sqSize, cmbOff);
  const cq = h.mem.alloc(cqSize * 16);
  q.cq = cq;
  await h.expectOk(h.admin({ opc: ADMIN.CREATE_IO_CQ, prp1: cq, cdw10: (qid | ((cqSize - 1) << 16)) >>> 0, cdw11: (3 | (iv << 16)) >>> 0 }), 'cq');
  await h.expectOk(h.admin({ opc: ADMIN.CREATE_IO_SQ, prp1: cmbOff === undefined ? q.sq : cba + cmbOff, cdw10: (qid | ((sqSize - 1) << 16)) >>> 0, cdw11: (1 | (qid << 16)) >>> 0 }), 'sq');
  return q;
}

test('CQ full stalls posting until the head moves, then recovers; I/O phase wraps', async (t) => {
  const { host, ctrl } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, aer: false });
  const q = await pair(host, 2, 4, 16);
  // CQ of 4 holds 3 CQEs: a 4th cannot post until the host frees a slot.
  const cqSize = 4;
  const qq: HostQueue = { ...q, size: 16 };
  host.queues.set(2, qq);
  const b = host.buf(4096);
  host.manual.add(2);
  const ps: Promise<Cqe>[] = [];
  for (let i = 0; i < 10; i++) ps.push(host.queueSqe(qq, { opc: NVM.READ, nsid: 1, prp1: b }));
  host.ringSq(qq);
  await sync(host);
  await sync(host);
  t.true(ctrl.stats.cqFullStalls > 0);
  // Reap by hand with the real CQ size: head moves, the rest follow.
  const cqq: HostQueue = { ...qq, size: cqSize };
  let done = 0;
  let rounds = 0;
  while (done < 10 && rounds++ < 200) {
    const got = host.reap(cqq);
    for (const c of got) {
      t.is(c.status, 0);
      qq.waiters.get(c.cid)?.(c);
    }
    done += got.length;
    await sync(host);
  }
  t.is(done, 10);
  // 10 CQEs through a 4-entry ring: head 2 after two wraps, so the phase is back to 1, and the
  // ring holds this lap's phase before the head and the previous lap's from it on.
  t.is(cqq.cqHead, 2);
  t.is(cqq.phase, 1);
  for (let s = 0; s < cqSize; s++) t.is((host.mem.view(cqq.cq + s * 16 + 14, 1)[0] ?? 0) & 1, s < 2 ? 1 : 0, `I/O CQ slot ${s}`);
  t.is(ctrl.cqs[2]?.waiting.length, 0);
  host.manual.delete(2);
});

test('admin CQ phase tag wraps several times', async (t) => {
  const { host } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, aer: false });
  const aq = host.queues.get(0);
  if (aq === undefined) return t.fail();
  let flips = 0;
  for (let i = 0; i < 100; i++) {
    // The CQE for this command lands at the host's head and must carry the phase of this lap:
    // 1 on the first pass through the ring, inverted on every wrap (§4.6).
    const slot = aq.cqHead;
    const lapPhase = aq.phase;
    await sync(host);
    t.is((host.mem.view(aq.cq + slot * 16 + 14, 1)[0] ?? 0) & 1, lapPhase, `CQE ${i} in slot ${slot}`);
    if (aq.phase !== lapPhase) flips++;
  }
  t.true(flips >= 3, `only ${flips} wraps`);
  // The whole ring: slots before the head hold this lap's phase, the rest the previous lap's.
  for (let s = 0; s < aq.size; s++) t.is((host.mem.view(aq.cq + s * 16 + 14, 1)[0] ?? 0) & 1, s < aq.cqHead ? aq.phase : aq.phase ^ 1, `slot ${s}`);
});

test('CC disable mid-I/O: queues freed, later bring-up works, stale completions dropped', async (t) => {
  const { host, ctrl } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 2, aer: false });
  const b = host.buf(64 << 10);
  for (let i = 0; i < 32; i++) void host.io(1 + (i % 2), { opc: NVM.WRITE, nsid: 1, prp1: b, cdw10: i, cdw12: 0 });
  host.write32(REG.CC, 0);
  await host.waitCsts((v) => (v & 1) === 0);
  t.is(ctrl.sqs.length, 0);
  host.queues.clear();
  const r = await host.bringUp({ ioQueues: 2, aer: false });
  t.deepEqual(r.nsids, [1]);
  const c = await host.io(1, { opc: NVM.READ, nsid: 1, prp1: b });
  t.is(c.status, 0);
});

test('delete SQ with commands in flight: they complete with Aborted - SQ Deletion first', async (t) => {
  const { host, ctrl } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, aer: false });
  let held: (() => void) | undefined;
  ctrl.faults = { beforeExecute: (qid) => (qid === 1 && held === undefined ? { delayMs: 30 } : undefined) };
  const b = host.buf(4096);
  const p = host.io(1, { opc: NVM.READ, nsid: 1, prp1: b });
  await sync(host);
  const del = await host.admin({ opc: ADMIN.DELETE_IO_SQ, cdw10: 1 });
  t.is(del.status, 0);
  t.is(statusName((await p).status), statusName(S.ABORTED_SQ_DELETION));
  held = () => {};
});

test('CMB submission queue: SQEs written with region_write, no SQE fetch DMA', async (t) => {
  const { host } = await NvmeTestHost.inProcess({ cmbSizeMb: 1 });
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, aer: false });
  host.write32(REG.CMBMSC, 1); // CRE
  const sz = await host.read32(REG.CMBSZ);
  t.is(getField(sz, CMBSZ.SQS), 1);
  t.is(getField(sz, CMBSZ.SZ), 1);
  t.is((await host.read32(REG.CMBLOC)) & 7, 2);
  const cba = 0x4_0000_0000;
  host.write32(REG.CMBMSC + 4, Math.floor(cba / 2 ** 32));
  host.write32(REG.CMBMSC, (cba % 2 ** 32) | 3);
  const q = await pair(host, 2, 64, 64, 2, 0, cba);
  const b = host.buf(4096);
  const before = host.dmaReads;
  for (let i = 0; i < 20; i++) t.is((await host.submit(q, { opc: NVM.READ, nsid: 1, prp1: b, cdw10: i })).status, 0);
  t.is(host.dmaReads, before); // reads need no DMA read at all: SQEs come from the CMB
});

test('shadow doorbells: EventIdx published; a tail only in the shadow buffer is picked up', async (t) => {
  const { host, ctrl } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, aer: false });
  const shadow = host.buf(4096);
  const ev = host.buf(4096);
  await host.expectOk(host.admin({ opc: ADMIN.DOORBELL_BUFFER_CONFIG, prp1: shadow, prp2: ev }), 'dbbuf');
  t.is((await host.admin({ opc: ADMIN.DOORBELL_BUFFER_CONFIG, prp1: shadow + 8, prp2: ev })).status, 0x4002);
  t.truthy(ctrl.dbbuf);
  const q = host.queues.get(1);
  if (q === undefined) return t.fail();
  const b = host.buf(4096);
  const p1 = host.queueSqe(q, { opc: NVM.READ, nsid: 1, prp1: b });
  const p2 = host.queueSqe(q, { opc: NVM.READ, nsid: 1, prp1: b });
  // MMIO says tail=1; the shadow already says 2 (the host skipped the second MMIO).
  put32(host.mem.view(shadow, 16), 8, 2);
  host.write32(0x1008, 1);
  t.is((await p1).status, 0);
  t.is((await p2).status, 0);
  await sync(host);
  t.is(u32(host.mem.view(ev, 16), 8), 2); // EventIdx for SQ 1 = last tail seen
});

test('interrupt coalescing: no interrupt below the threshold until the aggregation time ends', async (t) => {
  const { host, ctrl } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, aer: false });
  await host.expectOk(host.admin({ opc: ADMIN.SET_FEATURES, cdw10: FID.INTERRUPT_COALESCING, cdw11: 0xff | (255 << 8) }), 'coalesce');
  const q = host.queues.get(1);
  if (q === undefined) return t.fail();
  host.manual.add(1);
  const b = host.buf(4096);
  const irqsBefore = host.irqs.filter((v) => v === 1).length;
  const t0 = performance.now();
  void host.submit(q, { opc: NVM.READ, nsid: 1, prp1: b });
  void host.submit(q, { opc: NVM.READ, nsid: 1, prp1: b });
  await sync(host);
  await sync(host);
  t.is(ctrl.stats.completions >= 2, true);
  // Held back: below the threshold, so the interrupt waits for the 25.5 ms aggregation
  // time. A load-independent check: the interrupt can only come later than that, never sooner
  // (1 ms of slack for timer rounding), and it covers both completions.
  while (host.irqs.filter((v) => v === 1).length === irqsBefore) await host.waitIrq();
  t.true(performance.now() - t0 >= 24.5, 'interrupt raised before the aggregation time');
  t.is(host.irqs.filter((v) => v === 1).length, irqsBefore + 1); // one interrupt for both
  t.is(host.reap(q).length, 2);
  // Vector 1 with coalescing disabled (Feature 09h CD): immediate interrupts again.
  await host.expectOk(host.admin({ opc: ADMIN.SET_FEATURES, cdw10: FID.INTERRUPT_VECTOR_CONFIG, cdw11: 1 | (1 << 16) }), 'cd');
  host.manual.delete(1);
  t.is((await host.submit(q, { opc: NVM.READ, nsid: 1, prp1: b })).status, 0);
});


test('data integrity: random writes/reads/deallocate/write-zeroes, 2 namespaces, 4 queues, PRP lists vs a model', async (t) => {
  const nsCfg = [{ nsid: 1, sizeBytes: 4 << 20, blockSize: 512 }, { nsid: 2, sizeBytes: 4 << 20, blockSize: 4096 }];
  const { host } = await NvmeTestHost.inProcess({ namespaces: nsCfg, mem: undefined } as never);
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 4, aer: false });
  const model = new Map(nsCfg.map((n) => [n.nsid, new Uint8Array(n.sizeBytes)]));
  const rand = mulberry32(0xc0ffee);
  const SLOTS = 16;
  let mismatches = 0;
  let ops = 0;
  for (let round = 0; round < 25; round++) {
    const batch: Promise<void>[] = [];
    for (let slot = 0; slot < SLOTS; slot++) {
      const ns = nsCfg[Math.floor(rand() * 2)] ?? nsCfg[0];
      if (ns === undefined) continue;
      const bs = ns.blockSize;
      const slotBlocks = ns.sizeBytes / bs / SLOTS;
      const maxNlb = Math.min(slotBlocks, Math.floor((64 << 10) / bs));
      const nlb = 1 + Math.floor(rand() * maxNlb);
      const slba = slot * slotBlocks + Math.floor(rand() * (slotBlocks - nlb + 1));
      const len = nlb * bs;
      const qid = 1 + (slot % 4);
      const m = model.get(ns.nsid) ?? new Uint8Array();
      const kind = rand();
      // Data buffer: an offset first page (dword aligned) + page-aligned pages → PRP list when > 2 pages.
      const off = Math.floor(rand() * 8) * 512;
      const base = host.buf(len + off + 4096);
      const pages: number[] = [base + off];
      for (let p = 4096; p < len + off; p += 4096) pages.push(base + p);
      const lists = Array.from({ length: prpListPagesNeeded(pages.length, 4096) }, () => host.buf(4096));
      const prp = buildPrps(pages, 4096, lists);
      for (const l of prp.lists) host.mem.write(l.addr, l.data);
      const v = host.mem.view(base + off, len);
      ops++;
      if (kind < 0.4) {
        for (let i = 0; i < len; i++) v[i] = Math.floor(rand() * 256);
        m.set(v, slba * bs);
        batch.push(host.io(qid, { opc: NVM.WRITE, nsid: ns.nsid, prp1: prp.prp1, prp2: prp.prp2, cdw10: slba, cdw12: nlb - 1 }).then((c) => {
          if (c.status !== 0) mismatches++;
        }));
      } else if (kind < 0.8) {
        const expect = m.slice(slba * bs, slba * bs + len);
        batch.push(host.io(qid, { opc: NVM.READ, nsid: ns.nsid, prp1: prp.prp1, prp2: prp.prp2, cdw10: slba, cdw12: nlb - 1 }).then((c) => {
          if (c.status !== 0 || Buffer.compare(host.mem.view(base + off, len), expect) !== 0) mismatches++;
        }));
      } else if (kind < 0.9) {
        m.fill(0, slba * bs, slba * bs + len);
        batch.push(host.io(qid, { opc: NVM.WRITE_ZEROES, nsid: ns.nsid, cdw10: slba, cdw12: nlb - 1 }).then((c) => {
          if (c.status !== 0) mismatches++;
        }));
      } else {
        m.fill(0, slba * bs, slba * bs + len);
        const r = host.buf(4096);
        const rv = host.mem.view(r, 16);
        put32(rv, 4, nlb);
        put64(rv, 8, slba);
        batch.push(host.io(qid, { opc: NVM.DSM, nsid: ns.nsid, prp1: r, cdw10: 0, cdw11: 4 }).then((c) => {
          if (c.status !== 0) mismatches++;
        }));
      }
    }
    await Promise.all(batch);
    if (round % 5 === 4) host.mem.bytes.fill(0, 1 << 20); // recycle buffers past the queues
  }
  // Final full read-back of both namespaces.
  for (const ns of nsCfg) {
    const m = model.get(ns.nsid) ?? new Uint8Array();
    for (let o = 0; o < ns.sizeBytes; o += 16384) {
      const b = host.buf(16384);
      const c = await host.io(1, { opc: NVM.READ, nsid: ns.nsid, prp1: b, cdw10: o / ns.blockSize, cdw12: 16384 / ns.blockSize - 1, ...listFor(host, b) });
      if (c.status !== 0 || Buffer.compare(host.mem.view(b, 16384), m.subarray(o, o + 16384)) !== 0) mismatches++;
    }
  }
  t.true(ops >= 400);
  t.is(mismatches, 0);
});

function listFor(host: NvmeTestHost, b: number): { prp2: number } {
  const l = host.buf(4096);
  const r = buildPrps([b, b + 4096, b + 8192, b + 12288], 4096, [l]);
  for (const x of r.lists) host.mem.write(x.addr, x.data);
  return { prp2: r.prp2 };
}
