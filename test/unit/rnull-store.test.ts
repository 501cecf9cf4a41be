// rnull sparse page store + write-back cache, bad-block list, mbps throttle.
import test from 'ava';
import { NullbStore, MemStatus, FREE_BATCH } from '../../host/drivers/rnull/memory.ts';
import { BadBlocks } from '../../host/drivers/rnull/badblocks.ts';
import { Throttle, mbPerTick, TIMER_INTERVAL_MS, type TimerSource } from '../../host/drivers/rnull/throttle.ts';

const fill = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v);

test('memory: untouched sectors read as zeros; multi-TiB costs nothing until written', (t) => {
  const s = new NullbStore({ blocksize: 512 });
  const far = 2 ** 42 / 512 - 8; // last page of a 4 TiB device
  const buf = fill(4096, 0xaa);
  s.read(far, buf, 0, 4096);
  t.true(buf.every((b) => b === 0));
  t.is(s.stats().dataPages, 0);
  t.is(s.write(far, fill(4096, 7), 0, 4096, false), MemStatus.OK);
  t.is(s.stats().dataPages, 1);
  s.read(far, buf, 0, 4096);
  t.true(buf.every((b) => b === 7));
});

test('memory: partial-page writes keep neighbours; unaligned page crossing', (t) => {
  const s = new NullbStore({ blocksize: 512 });
  s.write(3, fill(1024, 1), 0, 1024, false); // sectors 3,4
  s.write(7, fill(1024, 2), 0, 1024, false); // sectors 7,8: crosses a page
  const b = new Uint8Array(512 * 10);
  s.read(0, b, 0, b.length);
  const sect = (i: number): number => b[i * 512] ?? -1;
  t.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(sect), [0, 0, 0, 1, 1, 0, 0, 2, 2, 0]);
  t.is(s.stats().dataPages, 2);
});

test('memory: discard frees pages (and write-zeroes reads back zeros); sparse huge discard', (t) => {
  const s = new NullbStore({ blocksize: 4096 });
  s.write(0, fill(8192, 5), 0, 8192, false);
  s.write(1_000_000, fill(4096, 6), 0, 4096, false);
  s.discard(0, 8);
  t.is(s.stats().dataPages, 2);
  const b = new Uint8Array(8192);
  s.read(0, b, 0, 8192);
  t.true(b.subarray(0, 4096).every((x) => x === 0));
  t.true(b.subarray(4096).every((x) => x === 5));
  s.discard(0, 2 ** 33); // 4 TiB range, only existing pages visited
  t.is(s.stats().dataPages, 0);
});

test('memory: page insert failure → NOSPC', (t) => {
  const s = new NullbStore({ blocksize: 4096, maxPages: 2 });
  t.is(s.write(0, fill(8192, 1), 0, 8192, false), MemStatus.OK);
  t.is(s.write(16, fill(4096, 1), 0, 4096, false), MemStatus.NOSPC);
  t.is(s.write(8, fill(4096, 9), 0, 4096, false), MemStatus.OK); // overwrite needs no page
});

test('cache: writes land in cache, reads see them, FLUSH writes everything back', (t) => {
  const s = new NullbStore({ blocksize: 4096, cacheSizeMiB: 1 });
  s.write(0, fill(4096, 3), 0, 4096, false);
  t.deepEqual([s.stats().cachePages, s.stats().dataPages], [1, 0]);
  const b = new Uint8Array(4096);
  s.read(0, b, 0, 4096);
  t.is(b[0], 3);
  t.is(s.flush(), MemStatus.OK);
  t.deepEqual([s.stats().cachePages, s.stats().dataPages, s.stats().cacheBytes], [0, 1, 0]);
  s.read(0, b, 0, 4096);
  t.is(b[100], 3);
});

test('cache: flush-on-full writes back FREE_BATCH pages when the cache cannot take a page', (t) => {
  const s = new NullbStore({ blocksize: 4096, cacheSizeMiB: 1 }); // 256 pages
  for (let i = 0; i < 255; i++) s.write(i * 8, fill(4096, i & 0xff), 0, 4096, false);
  t.is(s.stats().cachePages, 255);
  t.is(s.stats().flushedPages, 0);
  s.write(255 * 8, fill(4096, 0xee), 0, 4096, false); // 255+1 pages >= 1 MiB → flush a batch first
  t.is(s.stats().flushedPages, FREE_BATCH);
  t.is(s.stats().cachePages, 256 - FREE_BATCH);
  const b = new Uint8Array(4096);
  for (const i of [0, 15, 16, 255]) {
    s.read(i * 8, b, 0, 4096);
    t.is(b[0], i === 255 ? 0xee : i);
  }
});

test('cache: FUA writes go through to data and drop the cached copy', (t) => {
  const s = new NullbStore({ blocksize: 4096, cacheSizeMiB: 1 });
  s.write(0, fill(4096, 1), 0, 4096, false);
  s.write(0, fill(4096, 2), 0, 4096, true);
  t.deepEqual([s.stats().cachePages, s.stats().dataPages], [0, 1]);
  const b = new Uint8Array(4096);
  s.read(0, b, 0, 4096);
  t.is(b[0], 2);
  s.flush();
  s.read(0, b, 0, 4096);
  t.is(b[0], 2); // the stale cached 1s never come back
});

test('badblocks: +a-b / -a-b ranges, merge and split, show', (t) => {
  const bb = new BadBlocks();
  t.false(bb.enabled);
  bb.store('+10-19');
  bb.store('+20-29'); // adjacent → merged
  t.is(bb.show(), '10 20\n');
  bb.store('-15-16');
  t.is(bb.show(), '10 5\n17 13\n');
  t.deepEqual(bb.check(0, 11), { firstBad: 10, badSectors: 5 });
  t.is(bb.check(15, 2), undefined);
  t.is(bb.check(30, 100), undefined);
  t.throws(() => bb.store('10-20'), { message: /must start with \+/ });
  t.throws(() => bb.store('+20-10'), { message: /after end/ });
  t.throws(() => bb.store('+x-10'), { message: /not a sector/ });
  bb.store('+0x40-0x47');
  t.deepEqual(bb.check(64, 8), { firstBad: 64, badSectors: 8 });
});

test('badblocks: once clears after first hit; partial_io transfers up to the block before', (t) => {
  const bb = new BadBlocks();
  bb.store('+20-20');
  t.is(bb.handle(0, 8, 8, false, false), undefined);
  t.is(bb.handle(16, 8, 8, false, false), 0); // hit, nothing transferred
  t.is(bb.handle(8, 16, 8, false, true), 8); // 4 KiB blocks: bad sector 20 → block at 16 → 8 sectors ok
  t.is(bb.handle(8, 16, 1, true, true), 12); // 512 B blocks: 12 sectors ok, and cleared
  t.is(bb.handle(8, 16, 1, true, true), undefined);
  t.is(bb.count, 0);
});

class ManualTimers implements TimerSource {
  private q: { fn: () => void; id: number }[] = [];
  private n = 0;
  setTimeout(fn: () => void): unknown {
    const id = ++this.n;
    this.q.push({ fn, id });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.q = this.q.filter((x) => x.id !== h);
  }
  get pending(): number {
    return this.q.length;
  }
  fire(): void {
    const q = this.q;
    this.q = [];
    for (const x of q) x.fn();
  }
}

test('throttle: budget per tick, stop queues when spent, restart on tick, timer lapses when idle', (t) => {
  const timers = new ManualTimers();
  let stopped = 0;
  let started = 0;
  const th = new Throttle(1, { stopHwQueues: () => stopped++, startStoppedHwQueues: () => started++ }, timers);
  t.is(TIMER_INTERVAL_MS, 20);
  t.is(mbPerTick(1), 20971 * 1);
  t.is(th.budget, mbPerTick(1));
  let ok = 0;
  while (th.charge(4096)) ok++;
  t.is(ok, Math.floor(mbPerTick(1) / 4096)); // 5 x 4 KiB fit in 20 KiB
  t.is(stopped, 1);
  t.is(th.budget, mbPerTick(1) - 5 * 4096); // a refused request is not charged
  timers.fire(); // tick: refill and restart
  t.is(started, 1);
  t.is(th.budget, mbPerTick(1));
  t.true(th.charge(64 * 1024)); // bigger than a tick: a full budget admits it, into debt
  t.false(th.charge(4096));
  timers.fire();
  timers.fire();
  t.true(th.budget < mbPerTick(1)); // debt paid over several ticks
  while (th.budget < mbPerTick(1)) timers.fire();
  t.true(th.charge(4096));
  timers.fire();
  timers.fire(); // nothing used since the last refill → timer lapses
  t.is(timers.pending, 0);
  t.true(th.charge(4096)); // re-armed
  t.is(timers.pending, 1);
  th.stop();
  t.is(timers.pending, 0);
});
