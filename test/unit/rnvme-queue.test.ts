// The host ring (queue.ts), PRP/SGL building (prp.ts), the completion path
// (io.ts: command id lookup, stale/unknown ids dropped) and the timeout
// ladder (timeout.ts), against fake memory, a fake BAR and a scripted fake
// controller — no device process.
import test from 'ava';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { TagSet, GenDisk, BLK_STS, REQ_OP } from '../../host/block/index.ts';
import type { RequestRef } from '../../host/block/index.ts';
import type { DmaBuffer, HostMemory } from '../../host/pci/index.ts';
import {
  NvmeQueue, dbbufNeedEvent, PrpPool, setupPrps, setupSgls, newDataPtr, prpCompatible, IoPath, RnvmePdu, type SegmentList,
  type NvmeController,
} from '../../host/drivers/rnvme/index.ts';
import { ioTimeout } from '../../host/drivers/rnvme/timeout.ts';
import { writeCqe, readSqe, readSglDesc, SGL_TYPE, u64 } from '../../src/wire/index.ts';
import { ADMIN, NVM, STATUS_DNR } from '../../src/spec/index.ts';

class FakeBuf implements DmaBuffer {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  freed = false;
  constructor(readonly iova: number, readonly size: number) {
    this.bytes = new Uint8Array(Math.ceil(size / 4096) * 4096);
    this.view = new DataView(this.bytes.buffer);
  }
  readU8(o: number): number { return this.view.getUint8(o); }
  readU16(o: number): number { return this.view.getUint16(o, true); }
  readU32(o: number): number { return this.view.getUint32(o, true); }
  readU64(o: number): bigint { return this.view.getBigUint64(o, true); }
  writeU8(o: number, v: number): void { this.view.setUint8(o, v); }
  writeU16(o: number, v: number): void { this.view.setUint16(o, v, true); }
  writeU32(o: number, v: number): void { this.view.setUint32(o, v >>> 0, true); }
  writeU64(o: number, v: bigint | number): void { this.view.setBigUint64(o, BigInt(v), true); }
  readBytes(o: number, l: number): Uint8Array { return this.bytes.slice(o, o + l); }
  writeBytes(o: number, d: Uint8Array): void { this.bytes.set(d, o); }
  fill(v: number, o = 0, l = this.size - o): void { this.bytes.fill(v, o, o + l); }
  free(): void { this.freed = true; }
}

let nextIova = 0x1_0000_0000;
const fakeMem = { allocCoherent: (n: number) => { const b = new FakeBuf(nextIova, n); nextIova += Math.ceil(n / 4096) * 4096 + 4096; return b; } } as unknown as HostMemory;

class FakeBar {
  readonly writes: [number, number][] = [];
  readonly bytes: [number, Uint8Array][] = [];
  write32(off: number, v: number): void { this.writes.push([off, v]); }
  writeBytes(off: number, d: Uint8Array): void { this.bytes.push([off, d.slice()]); }
}

function capture(): { log: ReturnType<typeof pino>; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _e, cb) { lines.push((JSON.parse(String(chunk)) as { msg: string }).msg); cb(); } });
  return { log: pino({ level: 'debug' }, stream), lines };
}

// ─────────────────────────────── ring ───────────────────────────────

test('SQ: SQEs at the tail, one doorbell per batch, full at depth-1', (t) => {
  const bar = new FakeBar();
  const sq = fakeMem.allocCoherent(8 * 64);
  const q = new NvmeQueue({ qid: 3, depth: 8, dstrd: 0, bar0: bar, sq, cq: fakeMem.allocCoherent(8 * 16), vector: 3 });
  for (let i = 0; i < 5; i++) q.push({ opc: NVM.READ, cid: 100 + i, nsid: 1 });
  t.deepEqual(bar.writes, []);
  q.ringSq();
  q.ringSq(); // nothing new: no second write
  t.deepEqual(bar.writes, [[0x1000 + 2 * 3 * 4, 5]]);
  t.is(readSqe(sq.bytes, 4 * 64).cid, 104);
  q.push({ opc: NVM.READ, cid: 1 });
  q.push({ opc: NVM.READ, cid: 2 });
  t.true(q.sqFull(), '7 of 8 entries in flight');
  t.throws(() => q.push({ opc: NVM.READ, cid: 3 }), { message: /full/ });
});

test('SQ in the CMB: the batch of SQEs is one posted write into the CMB BAR, before the doorbell; two at the wrap', (t) => {
  const bar0 = new FakeBar();
  const cmbBar = new FakeBar();
  const q = new NvmeQueue({ qid: 1, depth: 4, dstrd: 0, bar0, cq: fakeMem.allocCoherent(64), vector: 1, cmb: { bar: cmbBar, barOffset: 0x2000, busAddr: 0xf000_2000 } });
  t.is(q.sqAddr, 0xf000_2000);
  q.push({ opc: NVM.WRITE, cid: 7 });
  q.push({ opc: NVM.WRITE, cid: 8 });
  t.is(cmbBar.bytes.length, 0, 'staged until the doorbell');
  q.ringSq();
  t.deepEqual(cmbBar.bytes.map((b) => [b[0], b[1].length]), [[0x2000, 128]]);
  const w = cmbBar.bytes[0]?.[1] ?? new Uint8Array(128);
  t.is(readSqe(w, 0).cid, 7);
  t.is(readSqe(w, 64).cid, 8);
  t.deepEqual(bar0.writes, [[0x1008, 2]]);
  // The controller consumed both (SQHD = 2): the next batch wraps the 4-entry ring.
  q.sqHead = 2;
  q.push({ opc: NVM.READ, cid: 9 });
  q.push({ opc: NVM.READ, cid: 10 });
  q.push({ opc: NVM.READ, cid: 11 });
  q.ringSq();
  t.deepEqual(cmbBar.bytes.slice(1).map((b) => [b[0], b[1].length]), [[0x2080, 128], [0x2000, 64]]);
  t.is(readSqe(cmbBar.bytes[2]?.[1] ?? new Uint8Array(64), 0).cid, 11);
  t.deepEqual(bar0.writes, [[0x1008, 2], [0x1008, 1]]);
});

test('CQ: phase first, a batch handled, one head doorbell, phase flips at wrap', (t) => {
  const bar = new FakeBar();
  const cq = fakeMem.allocCoherent(4 * 16);
  const q = new NvmeQueue({ qid: 1, depth: 4, dstrd: 0, bar0: bar, sq: fakeMem.allocCoherent(256), cq, vector: 1 });
  const seen: number[] = [];
  writeCqe(cq.bytes, 0, 0, 0, 1, 1, 10, 0, 1);
  writeCqe(cq.bytes, 16, 0, 0, 2, 1, 11, 0, 1);
  t.is(q.reap((c) => seen.push(c.cid)), 2);
  t.is(q.reap((c) => seen.push(c.cid)), 0, 'nothing new');
  t.deepEqual(bar.writes, [[0x100c, 2]]);
  writeCqe(cq.bytes, 32, 0, 0, 3, 1, 12, 0, 1);
  writeCqe(cq.bytes, 48, 0, 0, 0, 1, 13, 0, 1);
  writeCqe(cq.bytes, 0, 0, 0, 1, 1, 14, 0, 0); // after the wrap the phase is 0
  t.is(q.reap((c) => seen.push(c.cid)), 3);
  t.deepEqual(seen, [10, 11, 12, 13, 14]);
  t.is(q.cqPhase, 0);
  t.deepEqual(bar.writes[1], [0x100c, 1]);
});

test('shadow doorbells: MMIO only when EventIdx is crossed (nvme_dbbuf_need_event)', (t) => {
  t.true(dbbufNeedEvent(0, 1, 0));
  t.false(dbbufNeedEvent(0, 2, 1), 'controller has not caught up: no MMIO');
  t.true(dbbufNeedEvent(1, 2, 1));
  t.true(dbbufNeedEvent(0xffff, 1, 0xfffe), 'wraps modulo 2^16');
  const bar = new FakeBar();
  const shadow = fakeMem.allocCoherent(4096);
  const eventIdx = fakeMem.allocCoherent(4096);
  const q = new NvmeQueue({ qid: 2, depth: 16, dstrd: 0, bar0: bar, sq: fakeMem.allocCoherent(1024), cq: fakeMem.allocCoherent(256), vector: 2 });
  q.setDbbuf({ shadow, eventIdx });
  q.push({ opc: 0, cid: 1 });
  q.ringSq();
  t.is(shadow.readU32(16), 1, 'shadow SQ2 tail at (2·2)·4');
  t.is(bar.writes.length, 1);
  q.push({ opc: 0, cid: 2 });
  q.ringSq();
  t.is(shadow.readU32(16), 2);
  t.is(bar.writes.length, 1, 'EventIdx still 0: MMIO skipped');
  eventIdx.writeU32(16, 2);
  q.push({ opc: 0, cid: 3 });
  q.ringSq();
  t.is(bar.writes.length, 2);
});

// ─────────────────────────────── PRP / SGL ───────────────────────────────

const segs = (...s: [number, number][]): SegmentList => ({ iova: s.map((x) => x[0]), len: s.map((x) => x[1]), count: s.length });

test('PRPs: one page, two pages, a list, and chaining past a full list page', (t) => {
  const pool = new PrpPool(fakeMem, 4, 2);
  const d = newDataPtr();
  const base = 0x2_0000_0000;
  t.true(setupPrps(segs([base + 512, 1024]), pool, 0, d));
  t.deepEqual([d.prp1, d.prp2], [base + 512, 0]);
  t.true(setupPrps(segs([base + 512, 4096]), pool, 0, d));
  t.deepEqual([d.prp1, d.prp2], [base + 512, base + 4096], 'PRP2 is the second page');
  t.true(setupPrps(segs([base, 4096], [base + 0x10000, 4096]), pool, 0, d));
  t.deepEqual([d.prp1, d.prp2], [base, base + 0x10000], 'two segments, PRP2 = segment 2');
  t.true(setupPrps(segs([base, 3 * 4096]), pool, 1, d));
  t.is(d.prp2, pool.iova(1, 0), 'three pages: PRP2 points to the list');
  const off1 = pool.pageOffset(1, 0);
  t.deepEqual([u64(pool.buf.bytes, off1), u64(pool.buf.bytes, off1 + 8)], [base + 4096, base + 8192]);
  // 600 pages: 599 entries after PRP1 → 511 in list page 0 + chain pointer, 88 in list page 1.
  t.true(setupPrps(segs([base, 600 * 4096]), pool, 2, d));
  const p0 = pool.pageOffset(2, 0);
  t.is(u64(pool.buf.bytes, p0 + 510 * 8), base + 511 * 4096);
  t.is(u64(pool.buf.bytes, p0 + 511 * 8), pool.iova(2, 1), 'last entry chains to the next list page');
  const p1 = pool.pageOffset(2, 1);
  t.is(u64(pool.buf.bytes, p1), base + 512 * 4096);
  t.is(u64(pool.buf.bytes, p1 + 87 * 8), base + 599 * 4096);
  t.false(setupPrps(segs([base, 2000 * 4096]), pool, 3, d), 'more list pages than the tag has');
  t.false(prpCompatible(segs([base, 1000], [base + 0x10000, 4096])), 'a middle gap is not PRP-able');
});

test('SGLs: one data block inline, several behind a last segment descriptor', (t) => {
  const pool = new PrpPool(fakeMem, 2, 1);
  const d = newDataPtr();
  t.true(setupSgls(segs([0x3000, 100]), pool, 0, d));
  t.deepEqual({ ...d.sgl1 }, { addr: 0x3000, len: 100, type: SGL_TYPE.DATA_BLOCK, subtype: 0 });
  t.true(setupSgls(segs([0x3000, 100], [0x9000, 300]), pool, 1, d));
  t.is(d.sgl1.type, SGL_TYPE.LAST_SEGMENT);
  t.is(d.sgl1.len, 32);
  t.is(d.sgl1.addr, pool.iova(1, 0));
  const second = readSglDesc(pool.buf.bytes, pool.pageOffset(1, 0) + 16);
  t.deepEqual({ ...second }, { addr: 0x9000, len: 300, type: SGL_TYPE.DATA_BLOCK, subtype: 0 });
});

// ─────────────────────── completion path (fake CQ) ───────────────────────

function completionRig() {
  const { log, lines } = capture();
  const held: RequestRef<RnvmePdu>[] = [];
  const tagSet = new TagSet<RnvmePdu, null>({
    nrHwQueues: 1, queueDepth: 8,
    ops: {
      initRequest: (tag, hwq) => new RnvmePdu(tag, hwq),
      queueRq: (_h, rq) => { rq.pdu.cid = rq.tag | ((rq.generation & 0xf) << 12); rq.pdu.opc = NVM.READ; rq.pdu.slba = rq.sector; rq.pdu.nlb = rq.bytes / 512; held.push(rq); return BLK_STS.OK; },
    },
  });
  const disk = new GenDisk({ name: `rnvmeu${process.pid}${Math.floor(Math.random() * 1e6)}`, tagSet, capacitySectors: 2048, scheduler: 'none' });
  const ctrl = {
    name: 'nvme9', log, tagSet, live: true, terminal: false, crdt: [0, 0, 0],
    opts: { max_retries: 5 }, stats: { invalidIds: 0, retries: 0, errors: 0 },
  } as unknown as NvmeController;
  const io = new IoPath(ctrl);
  const bar = new FakeBar();
  const cq = fakeMem.allocCoherent(16 * 16);
  const q = new NvmeQueue({ qid: 1, depth: 16, dstrd: 0, bar0: bar, sq: fakeMem.allocCoherent(1024), cq, vector: 1 });
  let slot = 0;
  const post = (cid: number, status = 0): void => { writeCqe(cq.bytes, slot * 16, 0, 0, 0, 1, cid, status, 1); slot++; };
  return { log, lines, held, tagSet, disk, ctrl, io, q, post };
}

test('completion: the right id ends its request; unknown, stale and duplicate ids are dropped and logged', async (t) => {
  const r = completionRig();
  const dev = r.disk.open();
  const results: number[] = [];
  dev.submit(REQ_OP.READ, 0, new Uint8Array(512), 0, 0, (st) => results.push(st));
  dev.submit(REQ_OP.READ, 512, new Uint8Array(512), 0, 0, (st) => results.push(st));
  await new Promise((res) => setImmediate(res));
  t.is(r.held.length, 2);
  const [a, b] = r.held as [RequestRef<RnvmePdu>, RequestRef<RnvmePdu>];
  r.post(a.pdu.cid ^ (1 << 12)); // stale generation
  r.post(7); // a tag nobody owns
  r.post(0xfff); // out of range
  r.post(a.pdu.cid); // the real one
  r.post(a.pdu.cid); // duplicate
  t.is(r.q.reap(r.io.onCqe), 5);
  await new Promise((res) => setImmediate(res));
  t.deepEqual(results, [BLK_STS.OK]);
  t.true(b.valid, 'the other request is untouched');
  t.is((r.ctrl.stats as { invalidIds: number }).invalidIds, 4);
  const invalid = r.lines.filter((l) => /^invalid id \d+ completed on queue 1$/.test(l));
  t.is(invalid.length, 4);
  t.true(invalid.includes(`invalid id ${a.pdu.cid ^ (1 << 12)} completed on queue 1`));
  r.post(b.pdu.cid, 0x281 | STATUS_DNR); // media error with DNR: fails, no retry
  r.q.reap(r.io.onCqe);
  await new Promise((res) => setImmediate(res));
  t.deepEqual(results, [BLK_STS.OK, BLK_STS.MEDIUM]);
  t.true(r.lines.some((l) => l.includes('Read(0x2) @ LBA 1, 1 blocks, Unrecovered Read Error (sct 0x2 / sc 0x81) DNR')));
  await r.disk.remove(0);
});

test('completion: an error without DNR is retried (requeued) and then succeeds', async (t) => {
  const r = completionRig();
  const dev = r.disk.open();
  const results: number[] = [];
  dev.submit(REQ_OP.READ, 0, new Uint8Array(512), 0, 0, (st) => results.push(st));
  await new Promise((res) => setImmediate(res));
  const first = r.held[0] as RequestRef<RnvmePdu>;
  const firstCid = first.pdu.cid;
  r.post(firstCid, 0x006); // internal error, retryable
  r.q.reap(r.io.onCqe);
  await new Promise((res) => setImmediate(res));
  t.is(r.held.length, 2, 'dispatched again');
  const again = r.held[1] as RequestRef<RnvmePdu>;
  t.is(again.pdu.retries, 1);
  t.not(again.pdu.cid, firstCid, 'a new generation: the old id is stale now');
  r.post(again.pdu.cid);
  r.q.reap(r.io.onCqe);
  await new Promise((res) => setImmediate(res));
  t.deepEqual(results, [BLK_STS.OK]);
  await r.disk.remove(0);
});

// ─────────────────────── timeout ladder (scripted controller) ───────────────────────

function ladderRig(csts = 1) {
  const { log, lines } = capture();
  const pdu = new RnvmePdu(5, 0);
  pdu.cid = 5 | (3 << 12);
  const rq = { tag: 5, hwqIndex: 0, op: REQ_OP.READ, bytes: 4096, valid: true, pdu } as unknown as RequestRef<RnvmePdu> & { valid: boolean };
  const calls = { resets: [] as string[], aborts: [] as { opc: number; cdw10?: number }[], polls: 0 };
  let completeOnPoll = false;
  const ctrl = {
    name: 'nvme9', log, live: true, terminal: false, abortsInFlight: 0, abortLimit: 4,
    stats: { timeouts: 0, timeoutsPolled: 0, aborts: 0 },
    io: { onCqe: () => undefined, unmapData: () => undefined },
    ioQueues: [{ reap: () => { calls.polls++; if (completeOnPoll) (rq as { valid: boolean }).valid = false; return completeOnPoll ? 1 : 0; } }],
    bar0: { read32Cb: (_off: number, cb: (v: number, e: Error | undefined) => void) => queueMicrotask(() => cb(csts, undefined)) },
    scheduleReset: (why: string) => { calls.resets.push(why); return Promise.resolve(); },
    admin: { submit: (cmd: { opc: number; cdw10?: number }) => { calls.aborts.push(cmd); return Promise.resolve({ status: 0, dw0: 1, dw1: 0 }); } },
  };
  return { ctrl: ctrl as unknown as NvmeController, raw: ctrl, rq, pdu, calls, lines, setCompleteOnPoll: (v: boolean) => { completeOnPoll = v; } };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('timeout ladder: a completion found by polling the CQ ends it ("completion polled")', (t) => {
  const r = ladderRig();
  r.setCompleteOnPoll(true);
  t.is(ioTimeout(r.ctrl, r.rq), 'done');
  t.true(r.lines.includes('nvme9: I/O tag 5 (3005) QID 1 timeout, completion polled'));
  t.deepEqual(r.calls.aborts, []);
});

test('timeout ladder: first timeout sends Abort (SQID | CID << 16) and re-arms; second resets', async (t) => {
  const r = ladderRig();
  t.is(ioTimeout(r.ctrl, r.rq), 'reset-timer');
  await tick();
  t.deepEqual(r.calls.aborts, [{ opc: ADMIN.ABORT, cdw10: (1 | (0x3005 << 16)) >>> 0 }]);
  t.true(r.pdu.aborted);
  t.deepEqual(r.calls.resets, []);
  t.is(ioTimeout(r.ctrl, r.rq), 'reset-timer');
  t.is(r.calls.resets.length, 1);
  t.true(r.lines.includes('nvme9: I/O tag 5 (3005) QID 1 timeout, reset controller'));
});

test('timeout ladder: CSTS.CFS or all-ones ⇒ reset, no Abort', async (t) => {
  for (const csts of [0x3, 0xffff_ffff]) {
    const r = ladderRig(csts);
    t.is(ioTimeout(r.ctrl, r.rq), 'reset-timer');
    await tick();
    t.is(r.calls.resets.length, 1);
    t.deepEqual(r.calls.aborts, []);
    t.true(r.lines.some((l) => l.startsWith('nvme9: controller is down; will reset: CSTS=0x')));
  }
});

test('timeout ladder: while resetting, just re-arm (the reset cancels it)', async (t) => {
  const r = ladderRig();
  (r.raw as { live: boolean }).live = false;
  t.is(ioTimeout(r.ctrl, r.rq), 'reset-timer');
  await tick();
  t.deepEqual(r.calls.aborts, []);
  t.deepEqual(r.calls.resets, []);
});
