// blk-mq core: data path, plug merging, splitting (seeded property test),
// schedulers, busy requeue, driver requeue, quiesce/freeze, timeouts, attrs.
import test from 'ava';
import { mulberry32 } from '../../src/util/prng.ts';
import { createMemDisk } from '../../host/block/testing.ts';
import { BLK_STS, BlockError, END, REQ_OP, getDisk, listDisks, openDisk } from '../../host/block/index.ts';
import type { BlkStatus } from '../../host/block/index.ts';

let seq = 0;
const uniq = (p: string): string => `${p}${process.pid % 1000}x${seq++}`;

test('write then read returns the data; stat counts ios and sectors; registry', async (t) => {
  const name = uniq('mem');
  const d = createMemDisk({ name, capacityBytes: 1 << 20, mode: 'softirq' });
  t.true(listDisks().includes(name));
  t.is(getDisk(name), d.disk);
  const dev = openDisk(name);
  const w = new Uint8Array(8192).map((_, i) => (i * 7) & 255);
  await dev.write(4096, w);
  t.deepEqual(await dev.read(4096, 8192), w);
  const s = d.disk.stat();
  t.is(s.readIos, 1); t.is(s.writeIos, 1); t.is(s.readSectors, 16); t.is(s.inFlight, 0);
  await d.disk.remove();
  t.false(listDisks().includes(name));
  t.throws(() => openDisk(name), { instanceOf: BlockError });
});

test('validation rejects before queueing, with a typed error', async (t) => {
  const d = createMemDisk({ name: uniq('val'), capacityBytes: 1 << 20, limits: { logicalBlockSize: 4096 } });
  const dev = d.disk.open();
  for (const p of [dev.read(512, 4096), dev.read(0, 100), dev.read(1 << 20, 4096), dev.discard(0, 4096), dev.read(-4096, 4096),
    dev.read(0, 2 ** 40), dev.read(0, NaN), dev.writeZeroes(0, Infinity)]) {
    const e = await t.throwsAsync(p, { instanceOf: BlockError });
    t.true(e !== undefined && (e.status === BLK_STS.INVAL || e.status === BLK_STS.NOTSUPP));
    t.true(e?.code === 'BLK_EINVAL_ARG' || e?.code === 'BLK_STS_NOTSUPP', e?.message);
  }
  t.is(d.queued, 0);
  let got: number = -1;
  dev.submit(REQ_OP.READ, 1, new Uint8Array(4096), 0, 0, (st) => { got = st; });
  t.is(got, BLK_STS.INVAL);
  await d.disk.remove();
});

test('plug merges contiguous bios (back and front) into one request, data intact', async (t) => {
  const d = createMemDisk({ name: uniq('plug'), capacityBytes: 1 << 20, mode: 'manual', scheduler: 'none' });
  const dev = d.disk.open();
  const bufs = [0, 1, 2, 3].map((i) => new Uint8Array(4096).fill(i + 1));
  dev.plug();
  const ps = [dev.write(8192, bufs[2] as Uint8Array), dev.write(12288, bufs[3] as Uint8Array), dev.write(4096, bufs[1] as Uint8Array), dev.write(0, bufs[0] as Uint8Array)];
  t.is(d.queued, 0);
  dev.unplug();
  t.is(d.held.length, 1);
  const rq = d.held[0];
  t.is(rq?.sector, 0); t.is(rq?.bytes, 16384); t.is(rq?.bvecs.length, 4);
  d.completeHeld();
  await Promise.all(ps);
  const r = await (async () => { const p = dev.read(0, 16384); d.completeHeld(); return p; })();
  for (let i = 0; i < 4; i++) t.is(r[i * 4096], i + 1);
  t.is(d.disk.stat().writeMerges, 3);
  await d.disk.remove();
});

test('property: random bios with tight limits are split and merged without losing, duplicating or reordering bytes', async (t) => {
  for (let seed = 1; seed <= 6; seed++) {
    const rnd = mulberry32(seed);
    const cap = 1 << 20;
    const limits = { maxHwSectors: 16 + Math.floor(rnd() * 48), maxSegments: 1 + Math.floor(rnd() * 6), maxSegmentSize: 4096 * (1 + Math.floor(rnd() * 3)) };
    const held: { sector: number; bytes: number; segs: number; maxSeg: number }[] = [];
    const d = createMemDisk({ name: uniq('prop'), capacityBytes: cap, mode: 'softirq', limits, scheduler: seed % 2 === 0 ? 'mq-deadline' : 'none',
      onQueue: (rq) => { held.push({ sector: rq.sector, bytes: rq.bytes, segs: rq.bvecs.length, maxSeg: Math.max(...rq.bvecs.map((b) => b.length)) }); return undefined; } });
    const dev = d.disk.open();
    const model = new Uint8Array(cap);
    const ps: Promise<void>[] = [];
    dev.plug();
    let written = 0;
    for (let i = 0; i < 60; i++) {
      const off = Math.floor(rnd() * 200) * 512;
      const len = (1 + Math.floor(rnd() * 80)) * 512;
      const buf = new Uint8Array(len);
      for (let k = 0; k < len; k++) buf[k] = (i * 31 + k) & 255;
      // Avoid overlapping in-flight writes (no ordering guarantee between them, as in Linux).
      if (off < written) continue;
      written = off + len;
      model.set(buf, off);
      ps.push(dev.write(off, buf));
      if (rnd() < 0.2) { dev.unplug(); dev.plug(); }
    }
    dev.unplug();
    await Promise.all(ps);
    for (const h of held) {
      t.true(h.bytes <= limits.maxHwSectors * 512, `request ${h.bytes} > max sectors`);
      t.true(h.segs <= limits.maxSegments, 'segments');
      t.true(h.maxSeg <= limits.maxSegmentSize, 'segment size');
    }
    t.deepEqual(await dev.read(0, written), model.subarray(0, written));
    t.deepEqual(d.tagSet.busyTags(), [0]);
    await d.disk.remove();
  }
});

test('discard and write zeroes split on their own limits; flush without cache completes without the driver', async (t) => {
  const d = createMemDisk({ name: uniq('disc'), capacityBytes: 1 << 20, mode: 'softirq', limits: { maxDiscardSectors: 64, discardGranularity: 4096, maxWriteZeroesSectors: 32 } });
  const dev = d.disk.open();
  await dev.write(0, new Uint8Array(65536).fill(9));
  const before = d.queued;
  await dev.discard(0, 65536);
  t.is(d.queued - before, 2);
  t.deepEqual(await dev.read(0, 512), new Uint8Array(512));
  await dev.writeZeroes(0, 32768);
  const q = d.queued;
  await dev.flush();
  t.is(d.queued, q);
  await d.disk.remove();
});

test('FUA on a cache without FUA is emulated with a post-flush; PREFLUSH issues a flush first', async (t) => {
  const ops: number[] = [];
  const d = createMemDisk({ name: uniq('fua'), capacityBytes: 1 << 20, mode: 'softirq', limits: { writeCache: true, fua: false }, onQueue: (rq) => { ops.push(rq.op); return undefined; } });
  const dev = d.disk.open();
  await dev.write(0, new Uint8Array(4096), { fua: true });
  t.deepEqual(ops, [REQ_OP.WRITE, REQ_OP.FLUSH]);
  ops.length = 0;
  await dev.write(0, new Uint8Array(4096), { preflush: true });
  t.deepEqual(ops, [REQ_OP.FLUSH, REQ_OP.WRITE]);
  t.is(d.disk.getAttr('write_cache'), 'write back');
  await d.disk.remove();
});

test('batches: isLast only on the last of a batch; RESOURCE requeues with back-off and commitRqs', async (t) => {
  let busyLeft = 3;
  const d = createMemDisk({ name: uniq('busy'), capacityBytes: 1 << 20, mode: 'softirq', scheduler: 'none',
    onQueue: (rq) => (rq.sector === 64 && busyLeft-- > 0 ? BLK_STS.RESOURCE : undefined) });
  const dev = d.disk.open();
  dev.plug();
  const ps = [0, 8, 16, 24].map((s) => dev.write(s * 512 * 4, new Uint8Array(2048)));
  // Non-contiguous (sector stride 32 vs length 4): four requests in one batch.
  dev.unplug();
  await Promise.all(ps);
  t.is(busyLeft, -1);
  t.true(d.commits >= 1);
  t.deepEqual(d.lastBatch.slice(0, 3), [false, false, false]);
  t.deepEqual(d.tagSet.busyTags(), [0]);
  await d.disk.remove();
});

test('driver requeue: the old handle goes stale and the request is dispatched again', async (t) => {
  let first = true;
  const stale: { ref: import('../../host/block/index.ts').RequestRef | null } = { ref: null };
  const d = createMemDisk({ name: uniq('rq'), capacityBytes: 1 << 20, mode: 'softirq',
    onQueue: (rq) => { if (first) { first = false; stale.ref = rq; rq.requeue(true); return BLK_STS.OK; } return undefined; } });
  const dev = d.disk.open();
  await dev.write(0, new Uint8Array(512).fill(3));
  t.is(stale.ref?.end(BLK_STS.OK), END.STALE);
  t.is(d.tagSet.misuseCounters.staleEnd, 1);
  t.is((await dev.read(0, 512))[0], 3);
  await d.disk.remove();
});

test('tag exhaustion: waiters proceed in order as tags free; nothing leaks', async (t) => {
  const d = createMemDisk({ name: uniq('tags'), capacityBytes: 1 << 20, mode: 'manual', queueDepth: 4, scheduler: 'none' });
  const dev = d.disk.open();
  const order: number[] = [];
  const ps = Array.from({ length: 20 }, (_, i) => dev.write(i * 8192, new Uint8Array(512)).then(() => order.push(i)));
  t.is(d.held.length, 4);
  while (order.length < 20) { d.completeHeld(); await Promise.resolve(); await new Promise((r) => setImmediate(r)); }
  await Promise.all(ps);
  t.deepEqual(order, [...Array(20).keys()]);
  t.is(d.maxInFlight, 4);
  t.deepEqual(d.tagSet.busyTags(), [0]);
  await d.disk.remove();
});

test('quiesce stops queueRq calls; freeze waits for in-flight and holds new I/O', async (t) => {
  const d = createMemDisk({ name: uniq('qf'), capacityBytes: 1 << 20, mode: 'manual' });
  const dev = d.disk.open();
  d.disk.quiesce();
  const p1 = dev.write(0, new Uint8Array(512));
  t.is(d.queued, 0);
  d.disk.unquiesce();
  await new Promise((r) => setImmediate(r));
  t.is(d.queued, 1);
  let frozen = false;
  const fz = d.disk.freeze().then(() => { frozen = true; });
  const p2 = dev.write(4096, new Uint8Array(512));
  await new Promise((r) => setImmediate(r));
  t.false(frozen);
  t.is(d.queued, 1);
  d.completeHeld();
  await fz;
  t.true(frozen);
  d.disk.unfreeze();
  t.is(d.queued, 2);
  d.completeHeld();
  await Promise.all([p1, p2]);
  await d.disk.remove();
});

test('timeout: one timer per queue; handler "done" ends with TIMEOUT; late end is refused', async (t) => {
  const calls: number[] = [];
  const d = createMemDisk({ name: uniq('to'), capacityBytes: 1 << 20, mode: 'manual', timeoutMs: 20, timeout: (rq) => { calls.push(rq.tag); return 'done'; } });
  const dev = d.disk.open();
  const e = await t.throwsAsync(dev.read(0, 512), { instanceOf: BlockError });
  t.is(e?.status, BLK_STS.TIMEOUT);
  t.is(e?.errno, 'ETIMEDOUT');
  t.is(calls.length, 1);
  t.is(d.held[0]?.end(BLK_STS.OK), END.TIMED_OUT);
  t.is(d.tagSet.misuseCounters.endAfterTimeout, 1);
  // reset-timer once, then complete from inside the handler: exactly one completion wins.
  let n = 0;
  const d2 = createMemDisk({ name: uniq('to2'), capacityBytes: 1 << 20, mode: 'manual', timeoutMs: 10, timeout: (rq) => (n++ === 0 ? 'reset-timer' : (rq.end(BLK_STS.MEDIUM), 'done')) });
  const e2 = await t.throwsAsync(d2.disk.open().read(0, 512), { instanceOf: BlockError });
  t.is(e2?.status, BLK_STS.MEDIUM); t.is(e2?.errno, 'ENODATA'); t.is(n, 2);
  await d.disk.remove(); await d2.disk.remove();
});

test('mq-deadline dispatches in sector order within a batch and expires FIFOs', async (t) => {
  const seen: number[] = [];
  const d = createMemDisk({ name: uniq('dl'), capacityBytes: 1 << 20, mode: 'softirq', scheduler: 'mq-deadline', onQueue: (rq) => { seen.push(rq.sector); return undefined; } });
  const dev = d.disk.open();
  d.disk.quiesce();
  const ps = [10, 40, 30, 20].map((s) => dev.read(s * 512 * 8, 512));
  d.disk.unquiesce();
  await Promise.all(ps);
  t.deepEqual(seen, [80, 160, 240, 320]);
  t.is(d.disk.getAttr('scheduler'), 'none [mq-deadline]');
  await d.disk.setAttr('scheduler', 'none');
  t.is(d.disk.getAttr('scheduler'), '[none] mq-deadline');
  await t.throwsAsync(d.disk.setAttr('logical_block_size', '4096'));
  await t.throwsAsync(d.disk.setAttr('nomerges', '7'));
  await d.disk.remove();
});

test('removal under load fails queued and in-flight I/O cleanly, never hangs, frees all tags', async (t) => {
  const d = createMemDisk({ name: uniq('rm'), capacityBytes: 1 << 20, mode: 'manual', queueDepth: 8 });
  const dev = d.disk.open();
  const res = Array.from({ length: 40 }, (_, i) => dev.read(i * 4096, 4096).then(() => 'ok', (e: BlockError) => e.errno));
  await d.disk.remove(5);
  const out = await Promise.all(res);
  t.true(out.every((x) => x === 'ENODEV'));
  t.deepEqual(d.tagSet.busyTags(), [0]);
  t.is(d.held[0]?.end(BLK_STS.OK), END.STALE);
  t.is(d.tagSet.misuseCounters.endAfterRemove, 1);
  await t.throwsAsync(dev.read(0, 512), { instanceOf: BlockError });
});

test('updateNrHwQueues under load: I/O drains, new maps apply, nothing lost', async (t) => {
  const d = createMemDisk({ name: uniq('nr'), capacityBytes: 1 << 20, mode: 'softirq', nrHwQueues: 1, nrCpus: 4 });
  const dev = d.disk.open();
  const ps: Promise<void>[] = [];
  for (let i = 0; i < 32; i++) { dev.cpu = i % 4; ps.push(dev.write(i * 4096, new Uint8Array(4096).fill(i))); }
  const up = d.tagSet.updateNrHwQueues(4);
  for (let i = 0; i < 8; i++) ps.push(dev.write(i * 4096 + 204800, new Uint8Array(512)));
  await Promise.all([...ps, up]);
  t.is(d.disk.getAttr('nr_hw_queues'), '4');
  for (let i = 0; i < 32; i++) t.is((await dev.read(i * 4096, 512))[0], i);
  t.deepEqual(d.tagSet.busyTags(), [0, 0, 0, 0]);
  await d.disk.remove();
});
