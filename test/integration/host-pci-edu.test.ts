// The edu device in a real daemon process, driven from this (host) process
// through the host PCI core over ws: identification, liveness, factorial,
// interrupts (incl. masked-then-unmasked via the PBA), DMA both ways with the
// data checked, DMA refused with bus mastering off or outside the IOMMU
// windows (host memory untouched), posted-write/read ordering with batching,
// FLR, and surprise removal followed by a clean re-attach.
import test from 'ava';
import { Mulberry32 } from '../../src/util/prng.ts';
import { u32 } from '../../src/util/bytes.ts';
import { startDevice, qmp, type DeviceDaemon } from '../helpers/daemon.ts';
import { attachFunction, type PciFunction, type GoneInfo } from '../../host/pci/index.ts';

const REG = { ID: 0x00, LIVENESS: 0x04, FACT: 0x08, STATUS: 0x20, IRQ_STATUS: 0x24, RAISE: 0x60, ACK: 0x64, SRC: 0x80, DST: 0x88, COUNT: 0x90, CMD: 0x98 } as const;
const CMD = { START: 1, TO_HOST: 2, IRQ: 4, ERROR: 0x10 } as const;
const EDU_BUF = 0x40000;

let dev: DeviceDaemon;

test.before(async () => {
  dev = await startDevice({ args: ['-device', 'edu,vectors=2'], token: 'edu-secret' });
});
test.after.always(async () => {
  await dev?.stop();
});

// Functions a test attached: detached after every test even when it failed
// half-way, so one failure does not cascade into "busy (4409)" for the rest.
const attached: PciFunction[] = [];
test.afterEach.always(async () => {
  for (const fn of attached.splice(0)) await fn.detach();
});

async function attach(opts: { enable?: boolean } = {}): Promise<PciFunction> {
  const fn = await attachFunction(dev.url, { token: 'edu-secret', name: 'edu0', ...opts });
  attached.push(fn);
  return fn;
}

/** Seeded bytes. */
function pattern(n: number, seed: number): Uint8Array {
  const rng = new Mulberry32(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.nextU32() & 0xff;
  return out;
}

/** Resolve on the next interrupt of `vec`. */
function nextIrq(fn: PciFunction, vec: number): Promise<number> {
  return new Promise((resolve) => {
    const off = fn.onIrq(vec, (v) => {
      off();
      resolve(v);
    });
  });
}

/** Run one edu DMA (src → dst, count bytes) with the completion interrupt; returns the command register after. */
async function eduDma(fn: PciFunction, src: number, dst: number, count: number, toHost: boolean): Promise<number> {
  const bar = fn.bar(0);
  const irq = nextIrq(fn, 0);
  bar.write64(REG.SRC, src);
  bar.write64(REG.DST, dst);
  bar.write32(REG.COUNT, count);
  bar.write32(REG.CMD, CMD.START | CMD.IRQ | (toHost ? CMD.TO_HOST : 0));
  await irq;
  const cmd = await bar.read32(REG.CMD);
  bar.write32(REG.ACK, 0x100);
  return cmd;
}

test.serial('identification, liveness and factorial registers', async (t) => {
  const fn = await attach();
  t.like(fn.ids, { vendor: 0x1234, device: 0x11e8, classCode: 0x00ff00 });
  t.truthy(fn.msix);
  t.true(fn.capabilities.some((c) => c.name === 'pcie'));
  t.is(fn.bars[0]?.size, 1 << 20);
  const bar = fn.bar(0);
  t.is(await bar.read32(REG.ID), 0x010000ed);
  bar.write32(REG.LIVENESS, 0x12345678);
  t.is(await bar.read32(REG.LIVENESS), ~0x12345678 >>> 0);

  // Factorial with the completion interrupt (edu.rst: status bit 7).
  await fn.enableMsix(1);
  const irq = nextIrq(fn, 0);
  bar.write32(REG.STATUS, 0x80);
  bar.write32(REG.FACT, 10);
  t.is(await irq, 0);
  t.is(await bar.read32(REG.FACT), 3628800);
  t.is((await bar.read32(REG.IRQ_STATUS)) & 1, 1);
  bar.write32(REG.ACK, 1);
  t.is(await bar.read32(REG.IRQ_STATUS), 0);
  await fn.detach();
});

test.serial('interrupts: raise/ack, masked-then-unmasked delivery via the PBA, function mask', async (t) => {
  const fn = await attach();
  await fn.enableMsix(2);
  const bar = fn.bar(0);
  let count = 0;
  let wake: (() => void) | undefined;
  fn.onIrq(0, () => {
    count++;
    wake?.();
  });
  const irqSeen = (): Promise<void> => new Promise((r) => (wake = r));

  let seen = irqSeen();
  bar.write32(REG.RAISE, 0x4);
  await seen;
  t.is(count, 1);
  t.is(await bar.read32(REG.IRQ_STATUS), 0x4);
  bar.write32(REG.ACK, 0x4);

  fn.maskVector(0, true);
  bar.write32(REG.RAISE, 0x8);
  t.true(await fn.isPending(0), 'masked: pending bit set in the PBA');
  t.is(count, 1, 'not delivered while masked');
  seen = irqSeen();
  fn.maskVector(0, false);
  await seen;
  t.is(count, 2, 'delivered once on unmask');
  t.false(await fn.isPending(0));

  fn.setFunctionMask(true);
  bar.write32(REG.RAISE, 0x10);
  t.true(await fn.isPending(0));
  seen = irqSeen();
  fn.setFunctionMask(false);
  await seen;
  t.is(count, 3);
  t.is(fn.stats().spuriousIrqs, 0);
  await fn.detach();
});

test.serial('DMA both ways through the IOMMU, data checked', async (t) => {
  const fn = await attach();
  await fn.enableMsix(1);
  const src = pattern(4096, 7);
  const out = fn.memory.mapStreaming(src, 'to-device');
  const back = new Uint8Array(4096);
  const inb = fn.memory.mapStreaming(back, 'from-device');
  t.is(await eduDma(fn, out.iova, EDU_BUF, 4096, false) & CMD.ERROR, 0);
  // The device buffer now holds the pattern (read it through BAR0 as well).
  t.is(await fn.bar(0).read32(EDU_BUF), u32(src, 0));
  t.is(await eduDma(fn, EDU_BUF, inb.iova, 4096, true) & CMD.ERROR, 0);
  t.deepEqual(back, src, 'round trip host → edu → host');

  // A sub-page, unaligned coherent slice the other way.
  const ring = fn.memory.allocCoherent(512, { name: 'small' });
  t.is(await eduDma(fn, EDU_BUF + 100, ring.iova + 3, 300, true) & CMD.ERROR, 0);
  t.deepEqual(ring.readBytes(3, 300), src.slice(100, 400));
  const s = fn.stats();
  t.true(s.dmaReads >= 1 && s.dmaWrites >= 2);
  t.is(s.blockedReads + s.blockedWrites, 0);
  out.unmap();
  inb.unmap();
  ring.free();
  await fn.memory.settled();
  t.is(fn.memory.openMappings(), 0);
  await fn.detach();
});

test.serial('DMA refused with bus mastering off; outside the IOMMU window refused; host memory untouched', async (t) => {
  const fn = await attach({ enable: false });
  await fn.setCommand({ memory: true, busMaster: false });
  const bar = fn.bar(0);
  const target = new Uint8Array(4096).fill(0x3c);
  const m = fn.memory.mapStreaming(target, 'bidirectional', { pageAligned: true });
  // Load the edu buffer with something else (register writes need no DMA).
  for (let i = 0; i < 64; i += 4) bar.write32(EDU_BUF + i, 0xa5a5a5a5);
  bar.write64(REG.SRC, EDU_BUF);
  bar.write64(REG.DST, m.iova);
  bar.write32(REG.COUNT, 64);
  bar.write32(REG.CMD, CMD.START | CMD.TO_HOST);
  let cmd: number;
  do cmd = await bar.read32(REG.CMD); while ((cmd & CMD.START) !== 0);
  t.is(cmd & CMD.ERROR, CMD.ERROR, 'edu reports the refused transfer');
  t.true(target.every((x) => x === 0x3c), 'bus mastering off: nothing written');

  // Bus mastering on, but the destination runs past the window: refused whole.
  await fn.setCommand({ busMaster: true });
  await fn.enableMsix(1);
  cmd = await eduDma(fn, EDU_BUF, m.iova + 4096 - 32, 64, true);
  t.is(cmd & CMD.ERROR, CMD.ERROR);
  t.true(target.every((x) => x === 0x3c), 'outside the window: nothing written');
  cmd = await eduDma(fn, m.iova + 8192, EDU_BUF, 64, false);
  t.is(cmd & CMD.ERROR, CMD.ERROR, 'a read from an unmapped IOVA is refused too');
  // And a good one still works.
  cmd = await eduDma(fn, EDU_BUF, m.iova, 64, true);
  t.is(cmd & CMD.ERROR, 0);
  t.true(target.subarray(0, 64).every((x) => x === 0xa5));
  t.true(target.subarray(64).every((x) => x === 0x3c));

  const ctl = await qmp(dev.controlUrl, dev.token);
  const q = (await ctl.execute('query-device')) as { stats?: { dmaRefusedBusMaster?: number; dmaRefusedWindow?: number } };
  ctl.close();
  t.true((q.stats?.dmaRefusedBusMaster ?? 0) >= 1);
  t.true((q.stats?.dmaRefusedWindow ?? 0) >= 2);
  await fn.detach();
});

test.serial('ordering over ws with batching: every read sees the posted writes issued before it', async (t) => {
  const fn = await attach();
  const bar = fn.bar(0);
  // Interleave 2000 writes and reads of one register in one turn: they leave
  // corked in few frames, and each read must observe exactly its preceding write.
  const reads: Promise<number>[] = [];
  for (let i = 0; i < 2000; i++) {
    bar.write32(REG.LIVENESS, i);
    reads.push(bar.read32(REG.LIVENESS));
  }
  const got = await Promise.all(reads);
  const wrong = got.findIndex((v, i) => v !== (~i >>> 0));
  t.is(wrong, -1, `read ${wrong} saw a stale value`);
  // Byte-sized posted writes to the DMA buffer, then a read of each dword.
  for (let i = 0; i < 1024; i++) bar.write32(EDU_BUF + 4 * i, i * 2654435761);
  const words = await Promise.all(Array.from({ length: 1024 }, (_, i) => bar.read32(EDU_BUF + 4 * i)));
  t.deepEqual(words, Array.from({ length: 1024 }, (_, i) => (i * 2654435761) >>> 0));
  await fn.detach();
});

test.serial('FLR via reset: state restored, MSI-X works after, windows kept', async (t) => {
  const fn = await attach();
  await fn.enableMsix(1);
  const buf = fn.memory.allocCoherent(4096);
  buf.bytes.set(pattern(64, 3));
  await fn.reset();
  const cmd = await eduDma(fn, buf.iova, EDU_BUF, 64, false);
  t.is(cmd & CMD.ERROR, 0);
  t.is(await fn.bar(0).read32(EDU_BUF), buf.readU32(0));
  await fn.detach();
});

test.serial('surprise removal: all-ones, onGone, no leaked windows; re-attach after device-add', async (t) => {
  const fn = await attach();
  const m = fn.memory.mapStreaming(new Uint8Array(8192), 'from-device');
  const gone = new Promise<GoneInfo>((r) => fn.onGone(r));
  const ctl = await qmp(dev.controlUrl, dev.token);
  await ctl.execute('device-remove');
  const info = await gone;
  t.is(info.code, 4410);
  t.true(info.surprise);
  t.true(fn.gone);
  t.is(await fn.bar(0).read32(REG.ID), 0xffff_ffff);
  t.is(fn.memory.openMappings(), 0);
  t.false(m.mapped);
  await t.throwsAsync(attach(), { message: /removed|4410/ });
  await ctl.execute('device-add');
  ctl.close();
  const fn2 = await attach();
  t.is(await fn2.bar(0).read32(REG.ID), 0x010000ed);
  await fn2.detach();
});

test.serial('attach needs the token: a wrong one is refused at the upgrade (401)', async (t) => {
  const e = await t.throwsAsync(attachFunction(dev.url, { token: 'wrong', name: 'edu-x' }));
  t.like(e, { kind: 'unauthorized' });
  const fn = await attach();
  t.is(await fn.bar(0).read32(REG.ID), 0x010000ed);
  await fn.detach();
});
