// The host PCI core against DEVPCI's device library in one process, over the
// in-memory transport: attach (config walk, capabilities, BAR sizing), register
// access and ordering, MSI-X (masking, PBA, coalescing, spurious, throwing
// handlers), IOMMU answers to DMA, FLR, surprise removal and detach. The raw
// device-side channel stands in for a misbehaving device where needed.
import test from 'ava';
import { silentLogger } from '../../src/util/log.ts';
import { Channel } from '../../src/protocol/channel.ts';
import { createMemoryTransportPair } from '../../src/protocol/transport.ts';
import { CloseCode } from '../../src/protocol/messages.ts';
import { PciFunction as DevFunction } from '../../device/pci/function.ts';
import type { DeviceContext, DeviceModel, ResetKind } from '../../device/pci/model.ts';
import { attachTransport, isPciError, type GoneInfo, type PciFunction } from '../../host/pci/index.ts';

/** A tiny test device: ID, scratch, irq trigger registers; a 64-bit memory BAR2; 4 MSI-X vectors in BAR0. */
class TestModel implements DeviceModel {
  readonly name = 'hostpci-test';
  readonly ids = { vendor: 0x1b36, device: 0x11e8, subsystemVendor: 0x1af4, subsystemDevice: 0x1100, classCode: 0x00ff00, revision: 0x10 };
  ctx: DeviceContext | undefined;
  scratch = 0;
  resets: ResetKind[] = [];
  readonly mem = new Uint8Array(4096);
  readonly msix = { vectors: 4, tableBar: 0, tableOffset: 0x800, pbaBar: 0, pbaOffset: 0xc00 } as const;
  readonly bars = [
    {
      kind: 'registers', index: 0, size: 4096,
      read32: (off: number): number => (off === 0 ? 0x1234abcd : off === 4 ? this.scratch : 0),
      write32: (off: number, v: number): void => {
        if (off === 4) this.scratch = v;
        if (off === 8) this.ctx?.raiseIrq(v);
      },
    },
    {
      kind: 'memory', index: 2, size: 8192, is64: true, prefetchable: true,
      read: (off: number, len: number): Uint8Array => this.mem.subarray(off, off + len),
      write: (off: number, data: Uint8Array): void => this.mem.set(data, off),
    },
  ] as const;
  attach(ctx: DeviceContext): void {
    this.ctx = ctx;
  }
  reset(kind: ResetKind): void {
    this.resets.push(kind);
  }
}

interface Rig {
  fn: PciFunction;
  model: TestModel;
  dev: DevFunction;
  /** The device end of the link: post raw messages as a misbehaving device would. */
  devCh: Channel;
  ctx: DeviceContext;
}

async function rig(opts: { enable?: boolean } = {}): Promise<Rig> {
  const { a, b } = createMemoryTransportPair();
  const model = new TestModel();
  const dev = new DevFunction(model, silentLogger);
  const devCh = new Channel(b, { side: 'device', info: () => dev.info() });
  dev.bind(devCh);
  const fn = await attachTransport(a, { name: 'tst0', ...(opts.enable !== undefined ? { enable: opts.enable } : {}) });
  if (model.ctx === undefined) throw new Error('model not attached');
  return { fn, model, dev, devCh, ctx: model.ctx };
}

/** Let the in-memory link and the irq scheduler run a few turns. */
async function turns(n = 6): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

test('attach walks config space: IDs, capabilities, MSI-X, BAR sizes incl. a 64-bit BAR', async (t) => {
  const { fn } = await rig();
  t.like(fn.ids, { vendor: 0x1b36, device: 0x11e8, subsystemVendor: 0x1af4, subsystemDevice: 0x1100, classCode: 0x00ff00, revision: 0x10 });
  const names = fn.capabilities.map((c) => c.name);
  t.true(names.includes('msix'));
  t.true(names.includes('pcie'));
  t.true(names.includes('pm'));
  t.like(fn.msix, { tableSize: 4, tableBar: 0, tableOffset: 0x800, pbaBar: 0, pbaOffset: 0xc00 });
  t.like(fn.bars[0], { size: 4096, is64: false });
  t.like(fn.bars[2], { size: 8192, is64: true, prefetchable: true });
  t.is(fn.bars[3], undefined, 'upper half of the 64-bit BAR');
  t.is(fn.bars[1], undefined);
  const e = t.throws(() => fn.bar(1));
  t.true(isPciError(e) && e.code === 'no_such');
  // Memory + bus master enabled.
  t.is((await fn.config.read16(0x04)) & 0x6, 0x6);
  await fn.detach();
});

test('register access: reads, posted writes ordered before later reads, 64-bit and byte access', async (t) => {
  const { fn, model } = await rig();
  const bar0 = fn.bar(0);
  t.is(await bar0.read32(0), 0x1234abcd);
  // Many posted writes then one read: the read sees the last write.
  for (let i = 1; i <= 100; i++) bar0.write32(4, i);
  t.is(await bar0.read32(4), 100);
  t.is(model.scratch, 100);
  bar0.write64(0, 0xffn); // lo/hi split by the library; harmless
  t.is(await bar0.read64(0), 0x1234abcdn);
  const bar2 = fn.bar(2);
  const data = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
  bar2.writeBytes(7, data);
  t.deepEqual(new Uint8Array(await bar2.readBytes(7, 300)), data);
  await new Promise<void>((resolve) => bar0.read32Cb(0, (v, err) => {
    t.is(v, 0x1234abcd);
    t.is(err, undefined);
    resolve();
  }));
  // Local checks: bounds and alignment, synchronously.
  t.throws(() => bar0.read32(4096), { message: /outside/ });
  t.throws(() => bar0.write32(2, 0), { message: /aligned/ });
  t.throws(() => bar2.writeBytes(8190, new Uint8Array(4)), { message: /outside/ });
  t.true(fn.stats().regionWrites >= 100);
  await fn.detach();
});

test('MSI-X: handler per vector, masked-then-unmasked delivery via the PBA', async (t) => {
  const { fn } = await rig();
  t.is(await fn.enableMsix(2), 2);
  const seen: number[] = [];
  fn.onIrq(0, (v) => seen.push(v));
  fn.onIrq(1, (v) => seen.push(v));
  fn.bar(0).write32(8, 1);
  await fn.bar(0).read32(0);
  await turns();
  t.deepEqual(seen, [1]);

  fn.maskVector(1, true);
  fn.bar(0).write32(8, 1);
  t.true(await fn.isPending(1), 'masked vector sets its pending bit');
  await turns();
  t.deepEqual(seen, [1], 'not delivered while masked');
  fn.maskVector(1, false);
  await fn.bar(0).read32(0);
  await turns();
  t.deepEqual(seen, [1, 1], 'delivered on unmask');
  t.false(await fn.isPending(1));

  fn.setFunctionMask(true);
  fn.bar(0).write32(8, 0);
  t.true(await fn.isPending(0));
  fn.setFunctionMask(false);
  await fn.bar(0).read32(0);
  await turns();
  t.deepEqual(seen, [1, 1, 0]);
  await fn.detach();
});

test('interrupts: spurious vectors counted, floods merged, throwing handlers contained', async (t) => {
  const { fn, devCh } = await rig();
  await fn.enableMsix(2);
  let calls = 0;
  fn.onIrq(0, () => {
    calls++;
    throw new Error('driver bug');
  });
  // A flood on vector 0 in one turn, plus vectors never enabled or beyond the table.
  for (let i = 0; i < 5000; i++) devCh.post({ t: 'irq', vec: 0 });
  devCh.post({ t: 'irq', vec: 3 });
  devCh.post({ t: 'irq', vec: 1 }); // enabled but no handler
  devCh.post({ t: 'irq', vec: 2047 });
  await fn.bar(0).read32(0);
  await turns();
  const s = fn.stats();
  t.true(calls >= 1 && calls < 10, `handler ran ${calls} times for 5000 merged irqs`);
  t.is(s.irqs + s.irqsMerged, 5000);
  t.is(s.spuriousIrqs, 3);
  t.is(s.handlerErrors, calls);
  // Still works afterwards.
  fn.bar(0).write32(8, 0);
  await fn.bar(0).read32(0);
  await turns();
  t.true(calls >= 2);
  await fn.detach();
});

test('DMA: device reads and writes mapped host memory; outside windows blocked with memory untouched', async (t) => {
  const { fn, ctx, devCh } = await rig();
  const buf = fn.memory.allocCoherent(4096, { name: 'ring' });
  buf.fill(0x5a);
  await fn.memory.settled(); // in real use the doorbell written after the map orders it
  const got = await ctx.dmaRead(buf.iova, 64);
  t.true(got.every((x) => x === 0x5a));
  t.true(ctx.dmaWrite(buf.iova + 8, new Uint8Array([1, 2, 3, 4])));
  await fn.bar(0).read32(0);
  await turns();
  t.is(buf.readU32(8), 0x04030201);

  const out = new Uint8Array(1000).fill(0x77);
  const m = fn.memory.mapStreaming(out, 'to-device');
  await fn.memory.settled();
  t.deepEqual(new Uint8Array(await ctx.dmaRead(m.iova, 1000)), out);
  m.unmap();
  await fn.memory.settled();

  // A device that ignores the windows: raw dma_read / dma_write outside them.
  const before = buf.readBytes(0, 4096);
  const err = await devCh.request({ t: 'dma_read', iova: buf.iova + 8192, len: 16 }).then(() => undefined, (e: unknown) => e);
  t.like(err, { code: 'iommu' });
  devCh.post({ t: 'dma_write', iova: buf.iova + 4096 - 2, data: new Uint8Array(8).fill(0xee) });
  devCh.post({ t: 'dma_write', iova: m.iova, data: new Uint8Array(8).fill(0xee) }); // unmapped already
  await fn.bar(0).read32(0);
  await turns();
  t.deepEqual(buf.readBytes(0, 4096), before);
  t.true(out.every((x) => x === 0x77));
  const s = fn.stats();
  t.is(s.blockedReads, 1);
  t.is(s.blockedWrites, 2);
  t.is(fn.memory.faults().length, 3);
  t.is(fn.memory.openMappings(), 1);
  buf.free();
  t.is(fn.memory.openMappings(), 0);
  await fn.detach();
});

test('bus mastering off: the device library refuses DMA', async (t) => {
  const { fn, ctx } = await rig({ enable: false });
  await fn.setCommand({ memory: true });
  const buf = fn.memory.allocCoherent(64);
  await fn.memory.settled();
  await t.throwsAsync(ctx.dmaRead(buf.iova, 8), { message: /.+/ });
  t.false(ctx.dmaWrite(buf.iova, new Uint8Array(4)));
  await fn.setCommand({ busMaster: true });
  t.is((await ctx.dmaRead(buf.iova, 8)).length, 8);
  await fn.detach();
});

test('FLR: reset restores command register and MSI-X; windows survive', async (t) => {
  const { fn, ctx, model } = await rig();
  await fn.enableMsix(2);
  const seen: number[] = [];
  fn.onIrq(1, (v) => seen.push(v));
  const buf = fn.memory.allocCoherent(64);
  buf.writeU32(0, 42);
  await fn.memory.settled();
  await fn.reset();
  t.true(model.resets.includes('flr'));
  t.is((await fn.config.read16(0x04)) & 0x6, 0x6);
  fn.bar(0).write32(8, 1);
  await fn.bar(0).read32(0);
  await turns();
  t.deepEqual(seen, [1]);
  const d = await ctx.dmaRead(buf.iova, 4);
  t.is(d[0], 42);
  await fn.detach();
});

test('surprise removal: gone flag, onGone once, reads all-ones, mappings torn down, pending reads resolve', async (t) => {
  const { fn, devCh } = await rig();
  const m = fn.memory.mapStreaming(new Uint8Array(4096), 'from-device');
  fn.memory.allocCoherent(100);
  const infos: GoneInfo[] = [];
  fn.onGone((i) => infos.push(i));
  const pending = fn.bar(0).read32(0); // in flight when the link drops
  devCh.close(CloseCode.removed, 'device-remove');
  t.is(await pending, 0xffff_ffff);
  await turns();
  t.true(fn.gone);
  t.is(infos.length, 1);
  t.like(infos[0], { code: 4410, surprise: true });
  t.is(await fn.bar(0).read32(0), 0xffff_ffff);
  t.is(await fn.bar(0).read64(0), 0xffff_ffff_ffff_ffffn);
  t.is(await fn.config.read16(0), 0xffff);
  t.notThrows(() => fn.bar(0).write32(4, 1), 'writes are dropped');
  t.is(fn.memory.openMappings(), 0);
  t.false(m.mapped);
  t.notThrows(() => m.unmap());
  const e = t.throws(() => fn.memory.mapStreaming(new Uint8Array(8), 'to-device'));
  t.true(isPciError(e) && e.code === 'gone');
  await t.throwsAsync(fn.reset(), { message: /gone/ });
  // A late subscriber still hears about it.
  const late = await new Promise<GoneInfo>((r) => fn.onGone(r));
  t.is(late.code, 4410);
  await fn.detach(); // no-op
});

test('detach says bye: the device sees a normal close; onGone reports no surprise', async (t) => {
  const { fn, devCh } = await rig();
  const closed = new Promise<number>((r) => devCh.onClose((c) => r(c)));
  const infos: GoneInfo[] = [];
  fn.onGone((i) => infos.push(i));
  await fn.detach('done');
  t.is(await closed, 1000);
  t.true(fn.gone);
  t.like(infos[0], { code: 1000, surprise: false });
});

test('attach fails cleanly against a busy device', async (t) => {
  const { a, b } = createMemoryTransportPair();
  b.onFrame(() => b.close(CloseCode.busy, 'busy'));
  const e = await t.throwsAsync(attachTransport(a, { name: 'busy0' }));
  t.true(isPciError(e) && e.code === 'gone');
  t.regex(e?.message ?? '', /busy/);
});

test('completion timeout: a read the device never answers completes with all-ones, nothing hangs', async (t) => {
  const { a, b } = createMemoryTransportPair();
  const model = new TestModel();
  const dev = new DevFunction(model, silentLogger);
  const devCh = new Channel(b, { side: 'device', info: () => dev.info() });
  dev.bind(devCh);
  const fn = await attachTransport(a, { name: 'wedged0', completionTimeoutMs: 1000 });
  devCh.onRequest(() => {}); // the device wedges: requests are never answered
  t.is(await fn.bar(0).read32(0), 0xffff_ffff);
  t.is(await fn.config.read16(0), 0xffff);
  t.is(fn.stats().completionTimeouts, 2);
  await fn.detach();
});
