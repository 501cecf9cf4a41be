// The PCI device library over an in-memory transport: config space (IDs,
// capability walk, BAR sizing, command register), access checks, MSI-X
// masking and PBA delivery on unmask, FLR, DMA windows, power-on per
// connection. The edu model is the device under test.
import test from 'ava';
import { Channel } from '../../src/protocol/channel.ts';
import { createMemoryTransportPair } from '../../src/protocol/transport.ts';
import type { PostedMessage, RegionName } from '../../src/protocol/messages.ts';
import { silentLogger } from '../../src/util/log.ts';
import { PciFunction } from '../../device/pci/function.ts';
import { CAP_ID, CFG, COMMAND, MSIX, PCIE } from '../../device/pci/regs.ts';
import { EduDevice, EDU_REG, EDU_MSIX_TABLE, EDU_MSIX_PBA, EDU_ID } from '../../device/edu/edu.ts';

interface Rig {
  fn: PciFunction;
  host: Channel;
  irqs: number[];
  posted: PostedMessage[];
  cfgRead(off: number, len?: number): Promise<number>;
  cfgWrite(off: number, value: number, len?: number): void;
  read32(off: number, region?: RegionName): Promise<number>;
  write32(off: number, value: number, region?: RegionName): void;
  nextIrq(): Promise<number>;
}

async function connect(fn: PciFunction): Promise<Rig> {
  const { a, b } = createMemoryTransportPair();
  const dev = new Channel(b, { side: 'device', info: () => fn.info() });
  fn.bind(dev);
  const host = new Channel(a, { side: 'host' });
  const irqs: number[] = [];
  const posted: PostedMessage[] = [];
  let irqWaiter: ((v: number) => void) | undefined;
  host.onPosted((m) => {
    posted.push(m);
    if (m.t === 'irq') {
      irqs.push(m.vec);
      const w = irqWaiter;
      irqWaiter = undefined;
      w?.(m.vec);
    }
  });
  await host.hello();
  const le = (d: Uint8Array): number => d.reduce((acc, x, i) => acc + x * 2 ** (8 * i), 0);
  const bytes = (v: number, len: number): Uint8Array => Uint8Array.from({ length: len }, (_x, i) => Math.floor(v / 2 ** (8 * i)) & 0xff);
  return {
    fn,
    host,
    irqs,
    posted,
    cfgRead: async (off, len = 4) => le((await host.request({ t: 'region_read', region: 'config', off, len })).data),
    cfgWrite: (off, value, len = 4) => void host.post({ t: 'region_write', region: 'config', off, data: bytes(value, len) }),
    read32: async (off, region = 'bar0') => le((await host.request({ t: 'region_read', region, off, len: 4 })).data),
    write32: (off, value, region = 'bar0') => void host.post({ t: 'region_write', region, off, data: bytes(value, 4) }),
    nextIrq: () =>
      new Promise((res) => {
        irqWaiter = res;
      }),
  };
}

function newEdu(): PciFunction {
  return new PciFunction(new EduDevice({ dmaBits: 53, vectors: 4 }), silentLogger);
}

/** Memory Space + Bus Master on, MSI-X enabled with every vector unmasked. */
async function enableAll(r: Rig): Promise<void> {
  r.cfgWrite(CFG.COMMAND, COMMAND.MEMORY_SPACE | COMMAND.BUS_MASTER, 2);
  r.cfgWrite(0x50 + MSIX.CONTROL, MSIX.CONTROL_ENABLE, 2);
  for (let v = 0; v < 4; v++) r.write32(EDU_MSIX_TABLE + 16 * v + MSIX.ENTRY_VECTOR_CTRL, 0);
  await r.cfgRead(CFG.COMMAND, 2); // a read orders after the posted writes
}

test('hello info and identification registers', async (t) => {
  const r = await connect(newEdu());
  const info = r.host.session?.info;
  t.is(info?.vendor, 0x1234);
  t.is(info?.device, 0x11e8);
  t.deepEqual(info?.irqs, { msix: 4 });
  t.deepEqual(info?.regions.map((x) => [x.name, x.size]), [['config', 4096], ['bar0', 1 << 20]]);
  t.is(await r.cfgRead(CFG.VENDOR_ID, 2), 0x1234);
  t.is(await r.cfgRead(CFG.DEVICE_ID, 2), 0x11e8);
  t.is((await r.cfgRead(CFG.REVISION_ID)) >>> 8, 0x00ff00, 'class code');
  t.is(await r.cfgRead(CFG.HEADER_TYPE, 1), 0);
  t.is(await r.cfgRead(CFG.SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
  t.true(((await r.cfgRead(CFG.STATUS, 2)) & 0x10) !== 0, 'capabilities list bit');
  t.is(await r.cfgRead(0x100), 0, 'no extended capabilities');
});

test('capability list walks PM → MSI-X → PCIe, with MSI-X table size and BIR/offsets', async (t) => {
  const r = await connect(newEdu());
  const seen: [number, number][] = [];
  let p = (await r.cfgRead(CFG.CAPABILITIES_PTR, 1)) & 0xfc;
  while (p !== 0 && seen.length < 48) {
    const id = await r.cfgRead(p, 1);
    seen.push([id, p]);
    p = (await r.cfgRead(p + 1, 1)) & 0xfc;
  }
  t.deepEqual(seen.map((s) => s[0]), [CAP_ID.PM, CAP_ID.MSIX, CAP_ID.PCIE]);
  const msix = seen[1]?.[1] ?? 0;
  t.is((await r.cfgRead(msix + MSIX.CONTROL, 2)) & MSIX.CONTROL_TABLE_SIZE_MASK, 3, 'N-1 vectors');
  t.is(await r.cfgRead(msix + MSIX.TABLE), EDU_MSIX_TABLE | 0);
  t.is(await r.cfgRead(msix + MSIX.PBA), EDU_MSIX_PBA | 0);
  const pcie = seen[2]?.[1] ?? 0;
  t.is((await r.cfgRead(pcie + PCIE.CAPS, 2)) & 0xf, 2, 'PCIe capability version 2');
  t.true(((await r.cfgRead(pcie + PCIE.DEVCAP)) & PCIE.DEVCAP_FLR) !== 0, 'FLR capable');
});

test('BAR sizing: all-ones reads back the size mask; unimplemented BARs stay 0', async (t) => {
  const r = await connect(newEdu());
  r.cfgWrite(CFG.BAR0, 0xffffffff);
  t.is(await r.cfgRead(CFG.BAR0), 0xfff00000, '1 MiB, 32-bit, non-prefetchable');
  r.cfgWrite(CFG.BAR0, 0xfebf0000);
  t.is(await r.cfgRead(CFG.BAR0), 0xfeb00000, 'address bits below the size are read-only');
  r.cfgWrite(CFG.BAR0 + 4, 0xffffffff);
  t.is(await r.cfgRead(CFG.BAR0 + 4), 0);
  r.cfgWrite(CFG.ROM_ADDRESS, 0xffffffff);
  t.is(await r.cfgRead(CFG.ROM_ADDRESS), 0, 'no expansion ROM');
  r.cfgWrite(CFG.VENDOR_ID, 0xdead, 2);
  t.is(await r.cfgRead(CFG.VENDOR_ID, 2), 0x1234, 'IDs are read-only');
});

test('command register: writable bits only; BARs decode only with Memory Space Enable', async (t) => {
  const r = await connect(newEdu());
  r.cfgWrite(CFG.COMMAND, 0xffff, 2);
  t.is(await r.cfgRead(CFG.COMMAND, 2), COMMAND.MEMORY_SPACE | COMMAND.BUS_MASTER | COMMAND.PARITY_ERROR_RESPONSE | COMMAND.SERR_ENABLE | COMMAND.INTX_DISABLE);
  r.cfgWrite(CFG.COMMAND, 0, 2);
  t.is(await r.read32(EDU_REG.ID), 0xffffffff, 'undecoded read: all-ones');
  r.write32(EDU_REG.LIVENESS, 0x12345678);
  await r.cfgRead(CFG.COMMAND, 2);
  t.is(r.fn.stats.writesDroppedDecode, 1);
  r.cfgWrite(CFG.COMMAND, COMMAND.MEMORY_SPACE, 2);
  t.is(await r.read32(EDU_REG.ID), EDU_ID);
  t.is(await r.read32(EDU_REG.LIVENESS), 0xffffffff, 'the dropped write never reached the model');
  r.write32(EDU_REG.LIVENESS, 0x12345678);
  t.is(await r.read32(EDU_REG.LIVENESS), ~0x12345678 >>> 0);
  // Status RW1C bits: writing 1 to a clear bit keeps it clear; cap-list bit is read-only.
  r.cfgWrite(CFG.STATUS, 0xffff, 2);
  t.is(await r.cfgRead(CFG.STATUS, 2), 0x10);
});

test('bounds and access-size checks happen before the model sees anything', async (t) => {
  const r = await connect(newEdu());
  r.cfgWrite(CFG.COMMAND, COMMAND.MEMORY_SPACE, 2);
  const err = async (region: RegionName, off: number, len: number): Promise<string | undefined> => {
    try {
      await r.host.request({ t: 'region_read', region, off, len });
      return undefined;
    } catch (e) {
      return (e as { code?: string }).code;
    }
  };
  t.is(await err('config', 4094, 4), 'bounds');
  t.is(await err('config', 1, 2), 'size');
  t.is(await err('config', 0, 3), 'size');
  t.is(await err('bar0', 0, 2), 'size');
  t.is(await err('bar0', 2, 4), 'size');
  t.is(await err('bar0', 1 << 20, 4), 'bounds');
  t.is(await err('bar1', 0, 4), 'bounds');
  t.is(await err('bar0', EDU_MSIX_TABLE - 4, 8), 'size', 'straddles the MSI-X table');
  const before = r.fn.stats.writesDroppedInvalid;
  r.host.post({ t: 'region_write', region: 'bar0', off: EDU_REG.LIVENESS, data: Uint8Array.of(1, 2) });
  r.host.post({ t: 'region_write', region: 'bar3', off: 0, data: new Uint8Array(4) });
  t.is(await r.read32(EDU_REG.LIVENESS), 0xffffffff);
  t.is(r.fn.stats.writesDroppedInvalid, before + 2);
  // An answered write reports the error.
  await t.throwsAsync(r.host.request({ t: 'region_write', region: 'bar0', off: 3, data: new Uint8Array(4) }), { message: /naturally aligned/ });
});

test('MSI-X: masked vector sets its PBA bit and fires on unmask; function mask too', async (t) => {
  const r = await connect(newEdu());
  r.cfgWrite(CFG.COMMAND, COMMAND.MEMORY_SPACE | COMMAND.BUS_MASTER, 2);
  // MSI-X disabled: the interrupt is dropped (no INTx on the wire).
  r.write32(EDU_REG.IRQ_RAISE, 1);
  t.is(await r.read32(EDU_REG.IRQ_STATUS), 1);
  t.is(r.fn.stats.irqsDropped, 1);
  r.cfgWrite(0x50 + MSIX.CONTROL, MSIX.CONTROL_ENABLE, 2);
  t.is(await r.read32(EDU_MSIX_TABLE + MSIX.ENTRY_VECTOR_CTRL), 1, 'vectors start masked');
  r.write32(EDU_REG.IRQ_RAISE, 2);
  t.is(await r.read32(EDU_MSIX_PBA), 1, 'pending bit for vector 0');
  t.deepEqual(r.irqs, []);
  const got = r.nextIrq();
  r.write32(EDU_MSIX_TABLE + MSIX.ENTRY_VECTOR_CTRL, 0); // unmask vector 0
  t.is(await got, 0);
  t.is(await r.read32(EDU_MSIX_PBA), 0, 'pending bit cleared on delivery');
  t.is(r.fn.stats.irqsDeliveredOnUnmask, 1);

  // Function mask holds every vector.
  r.cfgWrite(0x50 + MSIX.CONTROL, MSIX.CONTROL_ENABLE | MSIX.CONTROL_FUNCTION_MASK, 2);
  r.write32(EDU_REG.IRQ_RAISE, 4);
  t.is(await r.read32(EDU_MSIX_PBA), 1);
  t.is(r.irqs.length, 1);
  const again = r.nextIrq();
  r.cfgWrite(0x50 + MSIX.CONTROL, MSIX.CONTROL_ENABLE, 2);
  t.is(await again, 0);
  t.is(await r.read32(EDU_MSIX_PBA), 0);

  // Unmasked: immediate. Table entries hold address/data; PBA is read-only.
  r.write32(EDU_MSIX_TABLE, 0xfee00003);
  t.is(await r.read32(EDU_MSIX_TABLE), 0xfee00000, 'address bits 1:0 are read-only');
  r.write32(EDU_MSIX_PBA, 0xffffffff);
  t.is(await r.read32(EDU_MSIX_PBA), 0);
  const third = r.nextIrq();
  r.write32(EDU_REG.IRQ_RAISE, 8);
  t.is(await third, 0);
  t.is(r.fn.stats.irqsSent, 3);
});

test('interrupts need Bus Master Enable (MSI-X messages are memory writes)', async (t) => {
  const r = await connect(newEdu());
  await enableAll(r);
  r.cfgWrite(CFG.COMMAND, COMMAND.MEMORY_SPACE, 2);
  r.write32(EDU_REG.IRQ_RAISE, 1);
  t.is(await r.read32(EDU_REG.IRQ_STATUS), 1);
  t.deepEqual(r.irqs, []);
  t.is(r.fn.stats.irqsDropped, 1);
});

test('FLR via Device Control resets config space and the model; DMA windows survive', async (t) => {
  const r = await connect(newEdu());
  await enableAll(r);
  r.cfgWrite(CFG.BAR0, 0xfe000000);
  r.write32(EDU_REG.LIVENESS, 5);
  await r.host.request({ t: 'dma_map', iova: 0x10000, len: 0x1000, prot: 3 });
  r.cfgWrite(0x60 + PCIE.DEVCTL, 0x2810 | PCIE.DEVCTL_INITIATE_FLR, 2);
  t.is(await r.cfgRead(0x60 + PCIE.DEVCTL, 2), 0x2810, 'Initiate FLR reads 0');
  t.is(await r.cfgRead(CFG.COMMAND, 2), 0);
  t.is(await r.cfgRead(CFG.BAR0), 0);
  t.is(await r.cfgRead(0x50 + MSIX.CONTROL, 2), 3, 'MSI-X disabled again');
  r.cfgWrite(CFG.COMMAND, COMMAND.MEMORY_SPACE, 2);
  t.is(await r.read32(EDU_REG.LIVENESS), 0xffffffff, 'model state reset');
  t.is(await r.read32(EDU_MSIX_TABLE + MSIX.ENTRY_VECTOR_CTRL), 1, 'vectors masked again');
  t.is(r.fn.windows.count, 1, 'window kept');
  t.is(r.fn.stats.flrs, 1);
  // The wire's reset message does the same.
  await r.host.request({ t: 'reset' });
  t.is(await r.cfgRead(CFG.COMMAND, 2), 0);
  t.is(r.fn.windows.count, 1);
  t.is(r.fn.stats.flrs, 2);
});

test('DMA windows: overlap → exists, inexact unmap → bounds', async (t) => {
  const r = await connect(newEdu());
  await r.host.request({ t: 'dma_map', iova: 0x2000, len: 0x2000, prot: 1 });
  await t.throwsAsync(r.host.request({ t: 'dma_map', iova: 0x3000, len: 0x2000, prot: 3 }), { code: 'exists' } as never);
  await t.throwsAsync(r.host.request({ t: 'dma_map', iova: 0x1000, len: 0x1001, prot: 3 }), { code: 'exists' } as never);
  await r.host.request({ t: 'dma_map', iova: 0x4000, len: 0x1000, prot: 2 });
  await t.throwsAsync(r.host.request({ t: 'dma_unmap', iova: 0x2000, len: 0x1000 }), { code: 'bounds' } as never);
  t.true(r.fn.windows.allows(0x2000, 0x2000, 'read'));
  t.false(r.fn.windows.allows(0x2000, 0x2000, 'write'), 'read-only window');
  t.false(r.fn.windows.allows(0x3800, 0x1000, 'read'), 'spans two windows');
  await r.host.request({ t: 'dma_unmap', iova: 0x2000, len: 0x2000 });
  t.is(r.fn.windows.count, 1);
});

test('a new connection finds the function at power-on state with no windows', async (t) => {
  const fn = newEdu();
  const r1 = await connect(fn);
  await enableAll(r1);
  await r1.host.request({ t: 'dma_map', iova: 0x10000, len: 0x1000, prot: 3 });
  r1.host.close(1000);
  while (fn.connected) await new Promise((res) => setImmediate(res));
  t.false(fn.connected);
  t.is(fn.windows.count, 0);
  const r2 = await connect(fn);
  t.is(await r2.cfgRead(CFG.COMMAND, 2), 0);
  t.is(fn.windows.count, 0);
  t.is(fn.stats.powerOns, 2);
});

test('edu: factorial with completion interrupt, then DMA both ways with the host serving memory', async (t) => {
  const r = await connect(newEdu());
  await enableAll(r);
  const mem = new Uint8Array(0x4000);
  for (let i = 0; i < mem.length; i++) mem[i] = (i * 7 + 3) & 0xff;
  r.host.onRequest((m, reply) => {
    if (m.t !== 'dma_read') return reply.err('unknown_type', m.t);
    reply.data(mem.slice(m.iova - 0x100000, m.iova - 0x100000 + m.len));
  });
  let dmaWrites = 0;
  r.host.onPosted((m) => {
    if (m.t === 'dma_write') {
      dmaWrites++;
      mem.set(m.data, m.iova - 0x100000);
    }
    if (m.t === 'irq') r.irqs.push(m.vec);
  });
  await r.host.request({ t: 'dma_map', iova: 0x100000, len: 0x4000, prot: 3 });

  r.write32(EDU_REG.STATUS, 0x80);
  r.write32(EDU_REG.FACTORIAL, 10);
  while (((await r.read32(EDU_REG.STATUS)) & 1) !== 0) { /* busy: poll like a driver */ }
  t.is(await r.read32(EDU_REG.FACTORIAL), 3628800);
  t.is(await r.read32(EDU_REG.IRQ_STATUS), 0x1);
  t.deepEqual(r.irqs, [0]);
  r.write32(EDU_REG.IRQ_ACK, 0x1);

  // host → edu: 200 bytes from host 0x100100 into the buffer.
  r.write32(EDU_REG.DMA_SRC, 0x100100);
  r.write32(EDU_REG.DMA_DST, 0x40000);
  r.write32(EDU_REG.DMA_COUNT, 200);
  r.write32(EDU_REG.DMA_CMD, 0x1 | 0x4);
  while (((await r.read32(EDU_REG.DMA_CMD)) & 1) !== 0) { /* busy */ }
  t.is((await r.read32(EDU_REG.DMA_CMD)) & 0x10, 0, 'no error');
  t.is(await r.read32(0x40000), (mem[0x100] ?? 0) | ((mem[0x101] ?? 0) << 8) | ((mem[0x102] ?? 0) << 16) | (((mem[0x103] ?? 0) << 24) >>> 0));
  // edu → host: back out to host 0x102000.
  r.write32(EDU_REG.DMA_SRC, 0x40000);
  r.write32(EDU_REG.DMA_DST, 0x102000);
  r.write32(EDU_REG.DMA_CMD, 0x1 | 0x2);
  while (((await r.read32(EDU_REG.DMA_CMD)) & 1) !== 0) { /* busy */ }
  t.deepEqual(mem.slice(0x2000, 0x2000 + 200), mem.slice(0x100, 0x100 + 200));
  t.is(await r.read32(EDU_REG.IRQ_STATUS), 0x100);

  // Bus mastering off: refused locally, error bit, nothing sent.
  const writesBefore = dmaWrites;
  r.cfgWrite(CFG.COMMAND, COMMAND.MEMORY_SPACE, 2);
  r.write32(EDU_REG.DMA_DST, 0x103000);
  r.write32(EDU_REG.DMA_CMD, 0x1 | 0x2);
  while (((await r.read32(EDU_REG.DMA_CMD)) & 1) !== 0) { /* busy */ }
  t.is((await r.read32(EDU_REG.DMA_CMD)) & 0x10, 0x10);
  t.is(r.fn.stats.dmaRefusedBusMaster, 1);
  t.is(dmaWrites, writesBefore, 'nothing reached the host');
  // Outside the windows: refused locally too.
  r.cfgWrite(CFG.COMMAND, COMMAND.MEMORY_SPACE | COMMAND.BUS_MASTER, 2);
  r.write32(EDU_REG.DMA_SRC, 0x200000);
  r.write32(EDU_REG.DMA_DST, 0x40000);
  r.write32(EDU_REG.DMA_CMD, 0x1);
  while (((await r.read32(EDU_REG.DMA_CMD)) & 1) !== 0) { /* busy */ }
  t.is((await r.read32(EDU_REG.DMA_CMD)) & 0x10, 0x10);
  t.is(r.fn.stats.dmaRefusedWindow, 1);
});

test('large DMA reads are split to fit maxFrame and joined', async (t) => {
  const fn = newEdu();
  const r = await connect(fn);
  await enableAll(r);
  const sizes: number[] = [];
  r.host.onRequest((m, reply) => {
    if (m.t !== 'dma_read') return reply.err('unknown_type', m.t);
    sizes.push(m.len);
    reply.data(Uint8Array.from({ length: m.len }, (_x, i) => (m.iova + i) & 0xff));
  });
  const len = (1 << 20) * 2 + 123;
  await r.host.request({ t: 'dma_map', iova: 0, len: 4 << 20, prot: 3 });
  const data = await fn.ctx.dmaRead(5, len);
  t.is(data.length, len);
  t.true(sizes.length >= 3);
  t.true(sizes.every((s) => s <= fn.ctx.maxDmaChunk));
  t.true(data.every((x, i) => x === ((5 + i) & 0xff)));
  await t.throwsAsync(fn.ctx.dmaRead(4 << 20, 1), { instanceOf: Error, message: /outside/ });
});

test('power management: D3hot stops BAR decoding, D1/D2 writes are discarded, D0 restores without reset', async (t) => {
  const r = await connect(newEdu());
  r.cfgWrite(CFG.COMMAND, COMMAND.MEMORY_SPACE, 2);
  r.write32(EDU_REG.LIVENESS, 1);
  const pmcsr = 0x40 + 4;
  r.cfgWrite(pmcsr, 1, 2);
  t.is((await r.cfgRead(pmcsr, 2)) & 3, 0, 'D1 unsupported: write discarded');
  r.cfgWrite(pmcsr, 3, 2);
  t.is((await r.cfgRead(pmcsr, 2)) & 3, 3);
  t.is(await r.read32(EDU_REG.ID), 0xffffffff, 'D3hot: config space only');
  r.cfgWrite(pmcsr, 0, 2);
  t.is(await r.read32(EDU_REG.LIVENESS), ~1 >>> 0, 'No_Soft_Reset: state kept');
});

test('MSI-X table takes aligned QWORD accesses; 8-byte edu registers read both halves', async (t) => {
  const r = await connect(newEdu());
  r.cfgWrite(CFG.COMMAND, COMMAND.MEMORY_SPACE, 2);
  r.host.post({ t: 'region_write', region: 'bar0', off: EDU_MSIX_TABLE + 16, data: Uint8Array.of(0x00, 0x10, 0xe0, 0xfe, 0x01, 0, 0, 0) });
  const q = await r.host.request({ t: 'region_read', region: 'bar0', off: EDU_MSIX_TABLE + 16, len: 8 });
  t.deepEqual([...q.data], [0x00, 0x10, 0xe0, 0xfe, 0x01, 0, 0, 0]);
  r.host.post({ t: 'region_write', region: 'bar0', off: EDU_REG.DMA_SRC, data: Uint8Array.of(0x78, 0x56, 0x34, 0x12, 0x02, 0, 0, 0) });
  t.is(await r.read32(EDU_REG.DMA_SRC), 0x12345678);
  t.is(await r.read32(EDU_REG.DMA_SRC + 4), 2);
  const below = await r.host.request({ t: 'region_read', region: 'bar0', off: EDU_REG.ID, len: 8 });
  t.deepEqual([...below.data], new Array(8).fill(0xff), 'edu: only 4-byte accesses below 0x80');
});
