// Shadow doorbells (Doorbell Buffer Config, NVMe 1.4 §5.7) against a host that
// follows Linux's nvme_dbbuf_need_event exactly: it writes the shadow value and
// rings the MMIO doorbell only when EventIdx says the controller asked for it.
// Regression tests for the stall reported in docs/requests.md (the controller
// never re-read the shadow CQ head, so a skipped CQ head doorbell left its head
// stale until the CQ looked full forever; CMB SQs never had EventIdx updated).
// Every wait is bounded by admin round trips, never by time.
import test from 'ava';
import { NvmeTestHost, type HostQueue } from '../helpers/nvme-host.ts';
import { ADMIN } from '../../src/spec/admin.ts';
import { NVM } from '../../src/spec/nvm.ts';
import { FID } from '../../src/spec/features.ts';
import { REG } from '../../src/spec/registers.ts';
import { u32 } from '../../src/wire/le.ts';
import { mulberry32 } from '../../src/util/prng.ts';
import type { Cqe } from '../../src/wire/cqe.ts';
import type { NvmeController } from '../../device/nvme/controller.ts';

/** One admin round trip: everything the controller had to do before it has been done. */
const sync = (h: NvmeTestHost) => h.expectOk(h.admin({ opc: ADMIN.GET_FEATURES, cdw10: FID.NUMBER_OF_QUEUES }), 'sync');

/** Round-trip until `pred` holds; a stall fails the test with the controller's queue state instead of hanging. */
async function until(h: NvmeTestHost, ctrl: NvmeController, pred: () => boolean, what: string, rounds = 40): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (pred()) return;
    await sync(h);
  }
  if (!pred()) throw new Error(`stalled waiting for ${what}: ${JSON.stringify(ctrl.describe().queues)}`);
}

const eventIdx = (h: NvmeTestHost, qid: number, isCq: 0 | 1): number => {
  const d = h.dbbuf;
  return d === undefined ? -1 : u32(h.mem.view(d.eventIdx + (2 * qid + isCq) * 4, 4), 0);
};

test('a skipped CQ head doorbell (EventIdx behind the host) does not stall the CQ', async (t) => {
  const { host, ctrl } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, qdepth: 8, aer: false });
  await host.enableDbbuf();
  const q = host.queues.get(1);
  if (q === undefined) return t.fail();
  host.manual.add(1);
  const b = host.buf(4096);
  const ps: Promise<Cqe>[] = [];
  ps.push(host.submit(q, { opc: NVM.READ, nsid: 1, prp1: b }));
  await until(host, ctrl, () => host.readyCqes(q) === 1, 'CQE 1');
  ps.push(host.submit(q, { opc: NVM.READ, nsid: 1, prp1: b }));
  await until(host, ctrl, () => host.readyCqes(q) === 2, 'CQE 2');
  // Two polls back to back, as when a second CQE lands before the controller saw the first
  // head doorbell: the first reap rings (EventIdx 0 ∈ [0,1)), the second is skipped (0 ∉ [1,2)).
  t.is(host.reap(q, true, 1).length, 1);
  const skippedBefore = host.mmioSkipped;
  t.is(host.reap(q, true, 1).length, 1);
  t.is(host.mmioSkipped, skippedBefore + 1);
  // Three laps of the 8-entry CQ, one command at a time: each must complete.
  for (let i = 0; i < 24; i++) {
    ps.push(host.submit(q, { opc: NVM.READ, nsid: 1, prp1: b, cdw10: i }));
    await until(host, ctrl, () => host.readyCqes(q) > 0, `command ${i + 3}`);
    host.reap(q);
  }
  for (const c of await Promise.all(ps)) t.is(c.status, 0);
  t.is(ctrl.cqs[1]?.waiting.length, 0);
});

test('Linux-style host, 2 queues, random batches and partial reaps: no stall, some MMIO doorbells skipped', async (t) => {
  const { host, ctrl } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 2, qdepth: 16, aer: false });
  await host.enableDbbuf();
  const qs = [host.queues.get(1), host.queues.get(2)].filter((q): q is HostQueue => q !== undefined);
  t.is(qs.length, 2);
  for (const q of qs) host.manual.add(q.qid);
  const rand = mulberry32(0x5eed);
  const bufs = Array.from({ length: 8 }, () => host.buf(4096));
  const TOTAL = 600;
  const outstanding = new Map<number, number>(qs.map((q) => [q.qid, 0]));
  let submitted = 0;
  let done = 0;
  let failed = 0;
  let idle = 0;
  while (done < TOTAL) {
    const q = qs[Math.floor(rand() * qs.length)] ?? qs[0];
    if (q === undefined) break;
    const r = rand();
    if (r < 0.45 && submitted < TOTAL) {
      // A batch of 1..6 mixed commands, one doorbell (Linux rings on bd->last).
      const room = q.size - 1 - (outstanding.get(q.qid) ?? 0);
      const n = Math.min(room, TOTAL - submitted, 1 + Math.floor(rand() * 6));
      for (let i = 0; i < n; i++) {
        const k = rand();
        const opc = k < 0.45 ? NVM.READ : k < 0.9 ? NVM.WRITE : NVM.FLUSH;
        const prp1 = opc === NVM.FLUSH ? 0 : (bufs[Math.floor(rand() * bufs.length)] ?? 0);
        void host.queueSqe(q, { opc, nsid: 1, prp1, cdw10: Math.floor(rand() * 4096) }).then((c) => {
          if (c.status !== 0) failed++;
        });
      }
      if (n > 0) host.ringSq(q);
      submitted += n;
      outstanding.set(q.qid, (outstanding.get(q.qid) ?? 0) + n);
    } else if (r < 0.8) {
      // Reap some of what is there (possibly only part: two polls per interrupt happen).
      const got = host.reap(q, true, 1 + Math.floor(rand() * 4)).length;
      outstanding.set(q.qid, (outstanding.get(q.qid) ?? 0) - got);
      done += got;
      idle = got > 0 ? 0 : idle + 1;
    } else {
      await sync(host);
      idle++;
    }
    if (idle > 200) throw new Error(`stalled at ${done}/${TOTAL}: ${JSON.stringify(ctrl.describe().queues)}`);
  }
  t.is(done, TOTAL);
  t.is(failed, 0);
  t.log(`I/O doorbells: ${host.mmioRung} MMIO, ${host.mmioSkipped} skipped thanks to EventIdx`);
  t.true(host.mmioSkipped > 0);
  // Idle at the end: the SQ EventIdx is the last tail the controller consumed.
  await sync(host);
  for (const q of qs) t.is(eventIdx(host, q.qid, 0), q.sqTail);
});

test('CMB submission queue with shadow doorbells: EventIdx follows the tail, skipped MMIO tails are picked up', async (t) => {
  const { host, ctrl } = await NvmeTestHost.inProcess({ cmbSizeMb: 1 });
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, aer: false });
  host.write32(REG.CMBMSC, 1); // CRE
  const cba = 0x4_0000_0000;
  host.write32(REG.CMBMSC + 4, Math.floor(cba / 2 ** 32));
  host.write32(REG.CMBMSC, (cba % 2 ** 32) | 3); // CRE | CMSE | CBA
  const q = host.newQueue(2, 16, 0);
  await host.expectOk(host.admin({ opc: ADMIN.CREATE_IO_CQ, prp1: q.cq, cdw10: (2 | (15 << 16)) >>> 0, cdw11: (3 | (2 << 16)) >>> 0 }), 'cq');
  await host.expectOk(host.admin({ opc: ADMIN.CREATE_IO_SQ, prp1: cba, cdw10: (2 | (15 << 16)) >>> 0, cdw11: (1 | (2 << 16)) >>> 0 }), 'sq');
  await host.enableDbbuf();
  const b = host.buf(4096);
  for (let i = 0; i < 40; i++) {
    const p = host.submit(q, { opc: NVM.READ, nsid: 1, prp1: b, cdw10: i });
    let c: Cqe | undefined;
    void p.then((x) => (c = x));
    await until(host, ctrl, () => c !== undefined, `CMB command ${i}`);
    t.is(c?.status, 0);
  }
  t.true(host.mmioSkipped > 0);
  t.is(eventIdx(host, 2, 0), q.sqTail);
});
