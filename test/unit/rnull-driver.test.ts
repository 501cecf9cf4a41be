// rnull through the block layer: every feature via the BlockDevice API, plus
// blktests-style scenarios (null_blk tests in block/ and zbd/).
import test from 'ava';
import { openDisk, getDisk, BLK_STS, REQ_OP, REQ_FLAG, BlockError, type BlockDevice, type BlkStatus } from '../../host/block/index.ts';
import { NullBlkRegistry, createNullDevices, NullBlkConfigError } from '../../host/drivers/rnull/index.ts';
import type { TimerSource } from '../../host/drivers/rnull/throttle.ts';

let seq = 0;
const uniq = (p: string): string => `${p}${process.pid % 1000}_${seq++}`;

async function mk(attrs: Record<string, string | number | boolean>, opts: ConstructorParameters<typeof NullBlkRegistry>[0] = {}): Promise<{ reg: NullBlkRegistry; name: string; bdev: BlockDevice }> {
  const reg = new NullBlkRegistry({ nrCpus: 4, ...opts });
  const name = uniq('rn');
  reg.create(name);
  for (const [k, v] of Object.entries({ size: 64, ...attrs })) await reg.setAttr(name, k, v);
  await reg.power(name, 1);
  return { reg, name, bdev: openDisk(name) };
}

const pattern = (n: number, seed: number): Uint8Array => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
};

async function status(p: Promise<unknown>): Promise<BlkStatus> {
  try {
    await p;
    return BLK_STS.OK;
  } catch (e) {
    if (e instanceof BlockError) return e.status;
    throw e;
  }
}

for (const irqmode of [0, 1, 2]) {
  test(`memory backed data round trip, irqmode=${irqmode}`, async (t) => {
    const { reg, name, bdev } = await mk({ memory_backed: 1, irqmode, completion_nsec: 20000, blocksize: 4096 });
    const data = pattern(64 * 1024, irqmode);
    await bdev.write(1 << 20, data);
    t.deepEqual(await bdev.read(1 << 20, data.length), data);
    t.true((await bdev.read(0, 4096)).every((b) => b === 0)); // never written
    await reg.remove(name);
    t.is(getDisk(name), undefined);
  });
}

test('without memory backing reads return zeros and writes are dropped', async (t) => {
  const { reg, name, bdev } = await mk({ irqmode: 0 });
  await bdev.write(0, pattern(8192, 1));
  t.true((await bdev.read(0, 8192)).every((b) => b === 0));
  await reg.remove(name);
});

test('discard and write-zeroes free pages', async (t) => {
  const { reg, name, bdev } = await mk({ memory_backed: 1, discard: 1, irqmode: 0, blocksize: 4096 });
  await bdev.write(0, pattern(16384, 3));
  t.is(reg.device(name)?.store?.stats().dataPages, 4);
  await bdev.discard(0, 8192);
  await bdev.writeZeroes(8192, 4096);
  t.is(reg.device(name)?.store?.stats().dataPages, 1);
  const r = await bdev.read(0, 16384);
  t.true(r.subarray(0, 12288).every((b) => b === 0));
  t.deepEqual(r.subarray(12288), pattern(16384, 3).subarray(12288));
  await reg.remove(name);
});

test('write-back cache: FLUSH writes back, FUA writes through, limits advertise it', async (t) => {
  const { reg, name, bdev } = await mk({ memory_backed: 1, cache_size: 1, irqmode: 0, blocksize: 4096 });
  t.true(bdev.limits.writeCache);
  t.true(bdev.limits.fua);
  const store = reg.device(name)?.store;
  await bdev.write(0, pattern(8192, 4));
  t.is(store?.stats().cachePages, 2);
  await bdev.flush();
  t.deepEqual([store?.stats().cachePages, store?.stats().dataPages], [0, 2]);
  await bdev.write(65536, pattern(4096, 5), { fua: true });
  t.is(store?.stats().cachePages, 0);
  t.deepEqual(await bdev.read(0, 8192), pattern(8192, 4));
  await reg.remove(name);
});

test('data persists across power cycles until the device is removed', async (t) => {
  const { reg, name, bdev } = await mk({ memory_backed: 1, irqmode: 0 });
  await bdev.write(4096, pattern(4096, 9));
  await reg.power(name, 0);
  await reg.power(name, 1);
  t.deepEqual(await openDisk(name).read(4096, 4096), pattern(4096, 9));
  await reg.remove(name);
});

test('badblocks → IOERR; badblocks_once; partial_io transfers the good prefix', async (t) => {
  const { reg, name, bdev } = await mk({ memory_backed: 1, irqmode: 1, blocksize: 512 });
  await reg.setAttr(name, 'badblocks', '+16-16');
  t.is(reg.getAttr(name, 'badblocks'), '16 1');
  t.is(await status(bdev.write(0, pattern(16384, 1))), BLK_STS.IOERR);
  t.is(await status(bdev.read(0, 4096)), BLK_STS.OK);
  await reg.setAttr(name, 'badblocks_partial_io', 1);
  t.is(await status(bdev.write(0, pattern(16384, 2))), BLK_STS.IOERR);
  const r = await bdev.read(0, 8192);
  t.deepEqual(r, pattern(16384, 2).subarray(0, 8192)); // sectors 0..15 written
  t.true((await bdev.read(8704, 7680)).every((b) => b === 0)); // after the bad sector: nothing
  await reg.setAttr(name, 'badblocks_once', 1);
  t.is(await status(bdev.read(8192, 512)), BLK_STS.IOERR);
  t.is(await status(bdev.read(8192, 512)), BLK_STS.OK); // cleared after the first hit
  await reg.setAttr(name, 'badblocks', '+100-200');
  await reg.setAttr(name, 'badblocks', '-100-200');
  t.is(reg.getAttr(name, 'badblocks'), '');
  await reg.remove(name);
});

test('configfs: EEXIST, EBUSY while powered, live attrs, features, unknown attr, init_hctx EFAULT', async (t) => {
  const { reg, name } = await mk({ irqmode: 0 });
  t.throws(() => reg.create(name), { instanceOf: NullBlkConfigError, message: /EEXIST/ });
  const e = await t.throwsAsync(reg.setAttr(name, 'blocksize', 4096), { instanceOf: NullBlkConfigError });
  t.is(e?.code, 'EBUSY');
  await reg.setAttr(name, 'badblocks_once', 1); // live
  t.is(reg.getAttr(name, 'power'), '1');
  t.regex(reg.features(), /^badblocks,badblocks_once,badblocks_partial_io,blocking,blocksize,cache_size/);
  t.true(reg.features().split(',').includes('zone_max_active'));
  await t.throwsAsync(reg.setAttr(name, 'no_such', 1), { message: /unknown null_blk attribute/ });
  await reg.power(name, 0);
  await reg.setAttr(name, 'blocksize', 4096); // fine when off
  t.is(reg.getAttr(name, 'blocksize'), '4096');
  await t.throwsAsync(reg.setAttr(name, 'blocksize', 1000).then(() => reg.power(name, 1)), { message: /invalid block size/ });
  await reg.setAttr(name, 'blocksize', 4096);
  await reg.setAttr(name, 'init_hctx_fault_inject/probability', 100);
  await reg.setAttr(name, 'init_hctx_fault_inject/times', 1);
  const f = await t.throwsAsync(reg.power(name, 1), { instanceOf: NullBlkConfigError });
  t.is(f?.code, 'EFAULT');
  t.is(getDisk(name), undefined);
  await reg.power(name, 1); // times exhausted: works now
  t.truthy(getDisk(name));
  await reg.remove(name);
  t.false(reg.has(name));
});

test('module-style createNullDevices: nullb0..N-1 with module parameters', async (t) => {
  const { registry, names } = await createNullDevices({ nr_devices: 2, gb: 1, bs: 4096, irqmode: 0, memory_backed: 1 }, { nrCpus: 2 });
  t.deepEqual(names, ['nullb0', 'nullb1']);
  const b = openDisk('nullb1');
  t.is(b.logicalBlockSize, 4096);
  t.is(b.capacityBytes, 1 << 30);
  await b.write(0, pattern(4096, 1));
  t.deepEqual(await b.read(0, 4096), pattern(4096, 1));
  await registry.destroy();
  t.is(getDisk('nullb0'), undefined);
  await t.throwsAsync(createNullDevices({ timeout: '1,2' }), { message: /FAULT_INJECTION/ });
});

test('timeout injection → timeout handler → BLK_STS_TIMEOUT', async (t) => {
  const { reg, name, bdev } = await mk({ irqmode: 1, timeout: '1,100,0,2' }, { timeoutMs: 30 });
  const results = await Promise.all([0, 1, 2, 3].map((i) => status(bdev.read(i * 4096, 4096))));
  t.is(results.filter((s) => s === BLK_STS.TIMEOUT).length, 2);
  t.is(results.filter((s) => s === BLK_STS.OK).length, 2);
  t.is(reg.device(name)?.stats.timedOut, 2);
  t.is(getDisk(name)?.tagSet.misuseCounters.staleEnd, 0);
  await reg.remove(name);
});

test('requeue injection alternates both requeue paths under load; all I/O completes with data intact', async (t) => {
  const { reg, name, bdev } = await mk({ memory_backed: 1, irqmode: 1, requeue: '1,30,0,-1', seed: 42, hw_queue_depth: 16 });
  const N = 200;
  // Gaps between the I/Os so the block layer cannot merge them.
  await Promise.all(Array.from({ length: N }, (_, i) => bdev.write(i * 8192, pattern(4096, i))));
  const reads = await Promise.all(Array.from({ length: N }, (_, i) => bdev.read(i * 8192, 4096)));
  reads.forEach((r, i) => t.deepEqual(r, pattern(4096, i)));
  const st = reg.device(name)?.stats;
  t.true((st?.requeueInjected ?? 0) > 20);
  t.true((st?.resourceBusy ?? 0) > 0 && (st?.resourceBusy ?? 0) < (st?.requeueInjected ?? 0)); // both paths taken
  await reg.remove(name);
});

test('changing submit_queues / poll_queues on a live device under load', async (t) => {
  const { reg, name, bdev } = await mk({ memory_backed: 1, irqmode: 1, submit_queues: 1, poll_queues: 1 }, { moduleParams: { poll_queues: 2 } });
  const load = Promise.all(Array.from({ length: 300 }, (_, i) => bdev.write((i % 64) * 4096, pattern(4096, i % 64))));
  await reg.setAttr(name, 'submit_queues', 3);
  t.is(getDisk(name)?.tagSet.nrHwQueues, 4);
  await reg.setAttr(name, 'poll_queues', 2);
  t.is(getDisk(name)?.tagSet.nrHwQueues, 5);
  await t.throwsAsync(reg.setAttr(name, 'submit_queues', 0), { message: /EINVAL/ });
  await t.throwsAsync(reg.setAttr(name, 'poll_queues', 3), { message: /EINVAL/ });
  await load;
  // Polled I/O goes to the poll queues.
  const cb = await new Promise<BlkStatus>((res) => bdev.submit(REQ_OP.READ, 0, new Uint8Array(4096), REQ_FLAG.POLLED, 1, (s) => res(s)));
  t.is(cb, BLK_STS.OK);
  t.true((reg.device(name)?.stats.polled ?? 0) >= 1);
  await reg.setAttr(name, 'submit_queues', 1);
  const r = await Promise.all(Array.from({ length: 64 }, (_, i) => bdev.read(i * 4096, 4096)));
  r.forEach((b, i) => t.deepEqual(b, pattern(4096, i)));
  await reg.remove(name);
});

test('many devices sharing one tag set', async (t) => {
  const reg = new NullBlkRegistry({ nrCpus: 2, moduleParams: { shared_tags: 1, hw_queue_depth: 8, submit_queues: 2, irqmode: 1, size: 16, memory_backed: 1, poll_queues: 0 } });
  const names = Array.from({ length: 6 }, () => uniq('sh'));
  for (const n of names) {
    reg.create(n);
    await reg.power(n, 1);
  }
  const sets = new Set(names.map((n) => getDisk(n)?.tagSet));
  t.is(sets.size, 1);
  await Promise.all(names.flatMap((n, d) => Array.from({ length: 20 }, (_, i) => openDisk(n).write(i * 4096, pattern(4096, d * 100 + i)))));
  for (const [d, n] of names.entries()) t.deepEqual(await openDisk(n).read(19 * 4096, 4096), pattern(4096, d * 100 + 19));
  await reg.destroy();
});

test('zoned: write pointer, append, verbs, resource limits, report, reads past wp', async (t) => {
  const { reg, name, bdev } = await mk({ zoned: 1, size: 16, zone_size: 1, zone_nr_conv: 1, zone_max_open: 2, zone_max_active: 3, memory_backed: 1, irqmode: 0, blocksize: 4096 });
  const Z = 2048;
  t.is(bdev.limits.zoned, 'host-managed');
  t.is(bdev.limits.maxOpenZones, 2);
  t.is(await status(bdev.write(Z * 512 + 4096, pattern(4096, 1))), BLK_STS.IOERR); // not at wp
  await bdev.write(Z * 512, pattern(8192, 1));
  t.is(await bdev.zoneAppend(Z, pattern(4096, 2)), Z + 16);
  const zs = await bdev.reportZones(Z * 512, 1);
  t.is(zs[0]?.wp, Z + 24);
  t.is(zs[0]?.cond, 'imp-open');
  const r = await bdev.read(Z * 512 + 8192, 8192);
  t.deepEqual(r.subarray(0, 4096), pattern(4096, 2));
  t.true(r.subarray(4096).every((b) => b === 0xff)); // beyond the write pointer
  await bdev.zoneOp(REQ_OP.ZONE_OPEN, 2 * Z); // explicit open #1
  await bdev.zoneOp(REQ_OP.ZONE_OPEN, 3 * Z); // #2: implicitly closes zone 1 (open limit 2)
  t.is((await bdev.reportZones(Z * 512, 1))[0]?.cond, 'closed');
  // Active = 2 open + 1 closed = zone_max_active.
  t.is(await status(bdev.zoneOp(REQ_OP.ZONE_OPEN, 4 * Z)), BLK_STS.ZONE_ACTIVE_RESOURCE);
  t.is(await status(bdev.write(4 * Z * 512, pattern(4096, 3))), BLK_STS.ZONE_ACTIVE_RESOURCE);
  await bdev.zoneOp(REQ_OP.ZONE_CLOSE, 3 * Z); // wp == start → EMPTY, frees a slot
  await bdev.write(4 * Z * 512, pattern(4096, 3)); // implicit open
  // Open = zone 2 (explicit) + zone 4 (implicit); closing zone 4 would be allowed,
  // but active is at its limit again.
  t.is(await status(bdev.write(5 * Z * 512, pattern(4096, 3))), BLK_STS.ZONE_ACTIVE_RESOURCE);
  // Finishing a CLOSED zone needs an open slot (null_check_zone_resources) and none is free.
  t.is(await status(bdev.zoneOp(REQ_OP.ZONE_FINISH, Z)), BLK_STS.ZONE_OPEN_RESOURCE);
  await bdev.zoneOp(REQ_OP.ZONE_FINISH, 4 * Z); // an open zone finishes freely
  t.is((await bdev.reportZones(4 * Z * 512, 1))[0]?.cond, 'full');
  await bdev.zoneOp(REQ_OP.ZONE_RESET_ALL, 0);
  t.true((await bdev.reportZones(Z * 512)).every((z) => z.cond === 'empty'));
  t.true((await bdev.read(Z * 512, 4096)).every((b) => b === 0xff)); // reset freed the data
  await reg.setAttr(name, 'zone_offline', String(3 * Z));
  t.is(await status(bdev.read(3 * Z * 512, 4096)), BLK_STS.IOERR);
  await reg.remove(name);
});

test('zoned: explicit opens at the open limit → ZONE_OPEN_RESOURCE', async (t) => {
  const { reg, name, bdev } = await mk({ zoned: 1, size: 16, zone_size: 1, zone_max_open: 2, irqmode: 1 });
  const Z = 2048;
  await bdev.zoneOp(REQ_OP.ZONE_OPEN, 0);
  await bdev.zoneOp(REQ_OP.ZONE_OPEN, Z);
  t.is(await status(bdev.zoneOp(REQ_OP.ZONE_OPEN, 2 * Z)), BLK_STS.ZONE_OPEN_RESOURCE);
  t.is(await status(bdev.write(2 * Z * 512, new Uint8Array(4096))), BLK_STS.ZONE_OPEN_RESOURCE);
  await bdev.zoneOp(REQ_OP.ZONE_CLOSE, 0);
  await bdev.write(2 * Z * 512, new Uint8Array(4096));
  t.is((await bdev.reportZones(2 * Z * 512, 1))[0]?.cond, 'imp-open');
  await reg.remove(name);
});

test('/sys/block/<dev>/stat-style counters match the I/O issued', async (t) => {
  const { reg, name, bdev } = await mk({ memory_backed: 1, discard: 1, irqmode: 2, completion_nsec: 1000, blocksize: 4096, no_sched: 1 });
  for (let i = 0; i < 10; i++) await bdev.write(i * 8192, pattern(8192, i));
  for (let i = 0; i < 7; i++) await bdev.read(i * 4096, 4096);
  await bdev.discard(0, 65536);
  const s = getDisk(name)?.stat();
  t.is(s?.writeIos, 10);
  t.is(s?.writeSectors, 160);
  t.is(s?.readIos, 7);
  t.is(s?.readSectors, 56);
  t.is(s?.discardIos, 1);
  t.is(s?.discardSectors, 128);
  t.is(s?.inFlight, 0);
  await reg.remove(name);
});

class ManualTimers implements TimerSource {
  q: (() => void)[] = [];
  setTimeout(fn: () => void): unknown {
    this.q.push(fn);
    return fn;
  }
  clearTimeout(h: unknown): void {
    this.q = this.q.filter((f) => f !== h);
  }
  fire(): void {
    const q = this.q;
    this.q = [];
    for (const f of q) f();
  }
}

test('mbps throttle stops the hw queues when the tick budget is spent and restarts them on the next tick', async (t) => {
  const timers = new ManualTimers();
  const { reg, name, bdev } = await mk({ mbps: 1, irqmode: 0, no_sched: 1 }, { timers });
  let done = 0;
  const all = Promise.all(Array.from({ length: 12 }, (_, i) => bdev.read(i * 8192, 4096).then(() => done++))); // gaps: no merging
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.is(done, 5); // 20 KiB per tick at 1 MiB/s
  t.is(getDisk(name)?.hctxs[0]?.stopped, true);
  for (let i = 0; i < 4 && done < 12; i++) {
    timers.fire();
    for (let k = 0; k < 4; k++) await new Promise((r) => setImmediate(r));
  }
  await all;
  t.is(done, 12);
  t.true((reg.device(name)?.stats.throttled ?? 0) >= 2);
  await reg.remove(name);
});

test('remove fails I/O the driver holds (injected timeouts) instead of hanging', async (t) => {
  const { reg, name, bdev } = await mk({ irqmode: 0, timeout: '1,100,0,-1' }, { timeoutMs: 60_000 });
  const p = status(bdev.read(0, 4096));
  await new Promise((r) => setImmediate(r));
  await reg.remove(name);
  t.not(await p, BLK_STS.OK);
});

test("queue attributes: io_timeout is null_blk's tag-set timeout (5 * HZ = 5000 ms), not blk-mq's 30 s default", async (t) => {
  const { reg, name } = await mk({});
  const d = getDisk(name);
  t.is(d?.getAttr('io_timeout'), '5000');
  t.is(d?.getAttr('logical_block_size'), '512'); // bs default 512
  t.is(d?.getAttr('write_cache'), 'write through'); // no cache_size
  await reg.remove(name);
});
