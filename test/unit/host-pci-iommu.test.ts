// Host memory + IOMMU without a device: windows, permissions, overlaps,
// blocked accesses never changing memory, counters, IOVA quarantine.
import test from 'ava';
import { silentLogger } from '../../src/util/log.ts';
import { Iommu, emptyStats } from '../../host/pci/iommu.ts';
import { HostMemoryImpl, type MapLink } from '../../host/pci/memory.ts';
import { IovaAllocator } from '../../host/pci/iova.ts';
import { PAGE_SIZE, isPciError, type PciStats } from '../../host/pci/index.ts';

interface Sent {
  t: 'map' | 'unmap';
  iova: number;
  len: number;
  prot?: number;
  done: (err: Error | undefined) => void;
}

/** A link that records what would go on the wire and lets the test answer. */
function fakeLink(): MapLink & { sent: Sent[]; gone: boolean; ackAll(err?: Error): void } {
  const sent: Sent[] = [];
  return {
    sent,
    gone: false,
    sendMap(iova, len, prot, done) {
      sent.push({ t: 'map', iova, len, prot, done });
    },
    sendUnmap(iova, len, done) {
      sent.push({ t: 'unmap', iova, len, done });
    },
    ackAll(err?: Error) {
      for (const s of sent.splice(0)) s.done(err);
    },
  };
}

function setup(): { mem: HostMemoryImpl; link: ReturnType<typeof fakeLink>; stats: PciStats } {
  const stats = emptyStats();
  const link = fakeLink();
  const mem = new HostMemoryImpl({ device: 'test0', log: silentLogger, stats, link });
  return { mem, link, stats };
}

test('coherent buffer: page-aligned window, announced rw, device reads and writes it', (t) => {
  const { mem, link, stats } = setup();
  const buf = mem.allocCoherent(100, { name: 'ring' });
  t.is(buf.iova % PAGE_SIZE, 0);
  t.is(buf.size, 100);
  t.deepEqual(link.sent.map((s) => [s.t, s.iova, s.len, s.prot]), [['map', buf.iova, PAGE_SIZE, 3]]);
  buf.writeU32(0, 0xdeadbeef);
  buf.writeU64(8, 0x0102030405060708n);
  const r = mem.iommu.read(buf.iova, 16);
  t.true(r.ok);
  if (r.ok) t.deepEqual([...r.data.subarray(0, 4)], [0xef, 0xbe, 0xad, 0xde]);
  t.is(mem.iommu.write(buf.iova + 16, new Uint8Array([1, 2, 3, 4])), undefined);
  t.is(buf.readU32(16), 0x04030201);
  t.is(buf.readU64(8), 0x0102030405060708n);
  t.is(stats.dmaReads, 1);
  t.is(stats.dmaWrites, 1);
  t.is(stats.dmaReadBytes, 16);
  t.is(mem.openMappings(), 1);
});

test('coherent accessors are bounds-checked with typed errors', (t) => {
  const { mem } = setup();
  const buf = mem.allocCoherent(64);
  const e = t.throws(() => buf.readU32(62));
  t.true(isPciError(e) && e.code === 'bounds');
  t.throws(() => buf.writeU64(-8, 1n), { message: /outside/ });
  t.throws(() => buf.writeBytes(60, new Uint8Array(8)), { message: /outside/ });
  t.throws(() => buf.readBytes(0, 65), { message: /outside/ });
  t.throws(() => buf.writeU64(0, -1), { message: /unsigned/ });
});

test('access outside any window is blocked, counted, logged in the fault ring', (t) => {
  const { mem, stats } = setup();
  const buf = mem.allocCoherent(PAGE_SIZE);
  const r = mem.iommu.read(buf.iova + 2 * PAGE_SIZE, 8);
  t.false(r.ok);
  if (!r.ok) t.is(r.fault.reason, 'unmapped');
  const f = mem.iommu.write(0x1234, new Uint8Array(4));
  t.is(f?.reason, 'unmapped');
  t.is(stats.blockedReads, 1);
  t.is(stats.blockedWrites, 1);
  const faults = mem.faults();
  t.is(faults.length, 2);
  t.like(faults[1], { device: 'test0', dir: 'write', iova: 0x1234, len: 4 });
});

test('an access running past the window end is refused whole and memory is untouched', (t) => {
  const { mem, stats } = setup();
  const buf = mem.allocCoherent(PAGE_SIZE);
  buf.fill(0xaa);
  const before = buf.readBytes(0, PAGE_SIZE);
  const f = mem.iommu.write(buf.iova + PAGE_SIZE - 4, new Uint8Array(8).fill(0x55));
  t.is(f?.reason, 'span');
  t.deepEqual(buf.readBytes(0, PAGE_SIZE), before);
  const r = mem.iommu.read(buf.iova + PAGE_SIZE - 4, 8);
  t.false(r.ok);
  t.is(stats.blockedWrites, 1);
  t.is(stats.blockedReads, 1);
  t.is(stats.dmaWrites, 0);
});

test('streaming permissions: to-device is read-only, from-device write-only, bidirectional both', (t) => {
  const { mem, link, stats } = setup();
  const src = new Uint8Array(512).fill(7);
  const dst = new Uint8Array(512);
  const both = new Uint8Array(512).fill(9);
  const a = mem.mapStreaming(src, 'to-device');
  const b = mem.mapStreaming(dst, 'from-device');
  const c = mem.mapStreaming(both, 'bidirectional');
  t.deepEqual(link.sent.map((s) => s.prot), [1, 2, 3]);

  // to-device: device may read, not write.
  t.true(mem.iommu.read(a.iova, 512).ok);
  t.is(mem.iommu.write(a.iova, new Uint8Array(512))?.reason, 'perm');
  t.true(src.every((x) => x === 7), 'blocked write left the source untouched');
  // from-device: device may write, not read (it must not see what was there).
  const rr = mem.iommu.read(b.iova, 4);
  t.false(rr.ok);
  if (!rr.ok) t.is(rr.fault.reason, 'perm');
  t.is(mem.iommu.write(b.iova, new Uint8Array(512).fill(3)), undefined);
  t.true(dst.every((x) => x === 3), 'zero copy: the caller buffer itself was written');
  // bidirectional.
  t.true(mem.iommu.read(c.iova, 512).ok);
  t.is(mem.iommu.write(c.iova, new Uint8Array([1])), undefined);
  t.is(both[0], 1);
  t.is(stats.blockedReads, 1);
  t.is(stats.blockedWrites, 1);
});

test('streaming mapping keeps the in-page offset; page slack reads zero and writes are discarded', (t) => {
  const { mem, stats } = setup();
  const big = new Uint8Array(3 * PAGE_SIZE).fill(0xee);
  const view = big.subarray(100, 100 + 200); // shares a "page" with neighbours
  view.fill(0x11);
  const m = mem.mapStreaming(view, 'bidirectional');
  t.is(m.iova % PAGE_SIZE, (big.byteOffset + 100) % PAGE_SIZE);
  t.is(m.len, 200);
  // The window covers the whole page: a read of the full page succeeds, slack is zeros.
  const base = m.iova - (m.iova % PAGE_SIZE);
  const r = mem.iommu.read(base, PAGE_SIZE);
  t.true(r.ok);
  if (r.ok) {
    const off = m.iova - base;
    t.is(r.data[off], 0x11);
    t.is(r.data[off - 1], 0, 'bytes before the buffer are not exposed');
    t.is(r.data[off + 200], 0, 'bytes after the buffer are not exposed');
  }
  // A write over the whole page only lands inside the buffer.
  t.is(mem.iommu.write(base, new Uint8Array(PAGE_SIZE).fill(0x22)), undefined);
  t.true(view.every((x) => x === 0x22));
  t.is(big[99], 0xee);
  t.is(big[300], 0xee);
  t.is(stats.slackWrites, 1);

  const aligned = mem.mapStreaming(view, 'to-device', { pageAligned: true });
  t.is(aligned.iova % PAGE_SIZE, 0);
});

test('unmap: window gone at once, IOVA quarantined until the device acks, double unmap is a typed error', (t) => {
  const { mem, link, stats } = setup();
  const data = new Uint8Array(PAGE_SIZE);
  const m = mem.mapStreaming(data, 'from-device', { pageAligned: true });
  link.ackAll();
  const iova = m.iova;
  m.unmap();
  t.false(m.mapped);
  t.is(mem.openMappings(), 0);
  t.is(mem.iommu.write(iova, new Uint8Array(4))?.reason, 'unmapped', 'stale device write blocked');
  t.deepEqual(link.sent.map((s) => [s.t, s.iova]), [['unmap', iova]]);
  // Not acked yet: a new mapping of the same size must not reuse the IOVA.
  const m2 = mem.mapStreaming(new Uint8Array(PAGE_SIZE), 'from-device', { pageAligned: true });
  t.not(m2.iova, iova);
  link.ackAll();
  m2.unmap();
  link.ackAll();
  const m3 = mem.mapStreaming(new Uint8Array(PAGE_SIZE), 'from-device', { pageAligned: true });
  t.true(m3.iova === iova || m3.iova === m2.iova, 'released IOVAs are reused');
  const e = t.throws(() => m.unmap());
  t.true(isPciError(e) && e.code === 'double_unmap');
  t.is(stats.maps, 3);
  t.is(stats.unmaps, 2);
});

test('an unmap the device refuses retires the IOVA and counts an error', (t) => {
  const { mem, link, stats } = setup();
  const m = mem.mapStreaming(new Uint8Array(PAGE_SIZE), 'to-device', { pageAligned: true });
  link.ackAll();
  const iova = m.iova;
  m.unmap();
  link.ackAll(new Error('bounds'));
  t.is(stats.mapErrors, 1);
  for (let i = 0; i < 4; i++) {
    const x = mem.mapStreaming(new Uint8Array(PAGE_SIZE), 'to-device', { pageAligned: true });
    t.not(x.iova, iova);
  }
});

test('freed coherent buffer: accessors and second free are typed errors', (t) => {
  const { mem } = setup();
  const buf = mem.allocCoherent(64);
  buf.free();
  t.true(buf.freed);
  t.throws(() => buf.readU32(0), { message: /freed/ });
  const e = t.throws(() => buf.free());
  t.true(isPciError(e) && e.code === 'double_unmap');
});

test('windows are separated by guard pages; no two windows overlap', (t) => {
  const { mem } = setup();
  const a = mem.allocCoherent(PAGE_SIZE);
  const b = mem.allocCoherent(PAGE_SIZE);
  t.true(b.iova >= a.iova + 2 * PAGE_SIZE || a.iova >= b.iova + 2 * PAGE_SIZE);
  // Direct overlap at the IOMMU level is refused.
  const e = t.throws(() => mem.iommu.map(a.iova, 1, 3, new Uint8Array(PAGE_SIZE), a.iova, 'dup'));
  t.true(isPciError(e) && e.code === 'no_space');
});

test('settled() waits for every ack; tearDown drops windows and makes handles dead', async (t) => {
  const { mem, link } = setup();
  const buf = mem.allocCoherent(64);
  const m = mem.mapStreaming(new Uint8Array(64), 'to-device');
  let settled = false;
  const p = mem.settled().then(() => {
    settled = true;
  });
  await Promise.resolve();
  t.false(settled);
  link.ackAll();
  await p;
  t.true(settled);
  t.is(mem.tearDown(), 2);
  t.is(mem.openMappings(), 0);
  t.false(mem.iommu.read(buf.iova, 4).ok);
  t.notThrows(() => m.unmap(), 'unmap after removal is a no-op');
  t.notThrows(() => buf.free());
  t.throws(() => mem.allocCoherent(64), { message: /gone/ });
});

test('invalid sizes and directions are typed errors', (t) => {
  const { mem } = setup();
  for (const n of [0, -1, 1.5, 2 ** 31]) t.throws(() => mem.allocCoherent(n), { message: /DMA size/ });
  t.throws(() => mem.mapStreaming(new Uint8Array(0), 'to-device'), { message: /DMA size/ });
  // @ts-expect-error: deliberately wrong direction
  t.throws(() => mem.mapStreaming(new Uint8Array(4), 'sideways'), { message: /direction/ });
});

test('IOMMU refuses nonsense addresses and lengths without throwing', (t) => {
  const stats = emptyStats();
  const iommu = new Iommu({ device: 'x', log: silentLogger, stats });
  t.false(iommu.read(-1, 4).ok);
  t.false(iommu.read(0, 0).ok);
  t.false(iommu.read(2 ** 60, 4).ok);
  t.is(iommu.write(1.5, new Uint8Array(1))?.reason, 'size');
  t.is(stats.blockedReads, 3);
  t.is(stats.blockedWrites, 1);
});

test('fault ring keeps the most recent N; a flood is counted in full', (t) => {
  const stats = emptyStats();
  const lines: unknown[] = [];
  const log = { ...silentLogger, warn: (...a: unknown[]) => lines.push(a) } as unknown as typeof silentLogger;
  const iommu = new Iommu({ device: 'x', log, stats, faultLogSize: 8, faultLogRate: 5 });
  for (let i = 0; i < 1000; i++) iommu.write(i * 8, new Uint8Array(8));
  t.is(stats.blockedWrites, 1000);
  const f = iommu.faults();
  t.is(f.length, 8);
  t.is(f[7]?.iova, 999 * 8);
  t.true(lines.length <= 6, 'logging is rate-limited');
});

test('IOVA allocator: classes, guard page, exhaustion is a typed error', (t) => {
  t.is(IovaAllocator.classPages(1), 2);
  t.is(IovaAllocator.classPages(PAGE_SIZE * 3), 5);
  const a = new IovaAllocator({ base: PAGE_SIZE, limit: PAGE_SIZE * 8 });
  a.alloc(PAGE_SIZE * 2); // 3 pages
  a.alloc(PAGE_SIZE * 2); // 6 pages
  const e = t.throws(() => a.alloc(PAGE_SIZE * 2));
  t.true(isPciError(e) && e.code === 'no_space');
});

test('bounce pool: O(1) slots inside one window, no message per alloc, double release is a typed error', (t) => {
  const { mem, link } = setup();
  const pool = mem.createPool(4000, 4, { name: 'bounce' });
  t.is(pool.slotSize, PAGE_SIZE);
  t.is(link.sent.length, 1, 'one dma_map for the whole pool');
  const a = pool.alloc();
  const b = pool.alloc();
  if (a === undefined || b === undefined) return t.fail();
  t.is(b.iova - a.iova, PAGE_SIZE);
  t.is(pool.available, 2);
  a.bytes.fill(9);
  const r = mem.iommu.read(a.iova, 16);
  t.true(r.ok && r.data.every((x) => x === 9));
  t.is(mem.iommu.write(b.iova, new Uint8Array([5])), undefined);
  t.is(b.bytes[0], 5);
  pool.alloc();
  pool.alloc();
  t.is(pool.alloc(), undefined, 'exhausted');
  a.release();
  t.is(pool.alloc(), a, 'the same slot object comes back');
  b.release();
  const e = t.throws(() => b.release());
  t.true(isPciError(e) && e.code === 'double_unmap');
  t.throws(() => pool.destroy(), { message: /in use/ });
  pool.destroy(true);
  t.is(mem.openMappings(), 0);
  t.is(link.sent.length, 2, 'one dma_unmap for the whole pool');
});

test('gated pool: one dma_map, a slot is reachable only while allocated and only in its direction', (t) => {
  const { mem, link, stats } = setup();
  const pool = mem.createPool(2 * PAGE_SIZE, 3, { name: 'data', gated: true });
  t.true(pool.gated);
  t.is(link.sent.length, 1, 'one dma_map for the whole pool');
  const base = pool.alloc('from-device');
  if (base === undefined) return t.fail();
  const idle = base.iova + 2 * PAGE_SIZE; // slot 1, not allocated
  // Allocated, device-writable: the write lands.
  t.is(mem.iommu.write(base.iova + 8, new Uint8Array([7, 7])), undefined);
  t.is(base.bytes[8], 7);
  // Wrong direction: the device may not read a from-device slot.
  const r = mem.iommu.read(base.iova, 4);
  t.false(r.ok);
  if (!r.ok) t.is(r.fault.reason, 'perm');
  // An idle slot is refused like an unmapped page; host memory untouched.
  const f = mem.iommu.write(idle, new Uint8Array([1]));
  t.is(f?.reason, 'unmapped');
  // Crossing from an open slot into the next one is a span fault.
  t.is(mem.iommu.write(base.iova + 2 * PAGE_SIZE - 2, new Uint8Array(4))?.reason, 'span');
  t.is(stats.blockedWrites, 2);
  t.is(stats.blockedReads, 1);
  // Released: closed again, without any message.
  base.release();
  t.is(mem.iommu.write(base.iova, new Uint8Array([9]))?.reason, 'unmapped');
  t.is(base.bytes[0], 0);
  t.is(link.sent.length, 1, 'alloc/release sent nothing');
  // FIFO: the released slot comes back last.
  const a = pool.alloc('to-device');
  const b = pool.alloc('to-device');
  const c = pool.alloc('to-device');
  t.deepEqual([a?.index, b?.index, c?.index], [1, 2, 0]);
  t.true(mem.iommu.read(c?.iova ?? 0, 16).ok);
  t.is(mem.iommu.write(c?.iova ?? 0, new Uint8Array(1))?.reason, 'perm');
  a?.release(); b?.release(); c?.release();
  pool.destroy();
  t.is(mem.openMappings(), 0);
});
