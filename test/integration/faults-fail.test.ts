// The host's promises under the fixtures that take the device away or lie
// about data: never-ready, surprise removal + re-plug, power cut, bit rot,
// hostile DMA, interrupt storms. Device daemon and host in separate
// processes; a seeded verifying workload; after a removal the test attaches
// a fresh host to the re-plugged device and checks nothing durable was lost.
import test from 'ava';
import { attachHost, faultyDisk, runWorkload, startFaultyDevice, verifyDurable } from '../../fixtures/index.ts';
import { assertNoLeaks, assertRemovedCleanly, assertWorkloadPromises, captureLogger } from '../../fixtures/promises.ts';

const BOUND_MS = 15_000;

test.serial('never-ready: probe gives up after the ready timeout with a clear error, nothing hangs', async (t) => {
  const cap = captureLogger();
  const dev = await startFaultyDevice({ fixture: 'never-ready' });
  t.teardown(() => dev.stop());
  const e = await t.throwsAsync(attachHost(dev, { log: cap.log }));
  t.is((e as { code?: string }).code, 'ETIMEDOUT');
  t.regex(e?.message ?? '', /Device not ready; aborting initialisation, CSTS=0x0/);
  t.true(cap.grep(/Device not ready/).length > 0, `the host logs why probe failed:\n${cap.lines.join('\n')}`);
  t.like(await dev.faults(), { injected: 1 });
  t.is(dev.daemon.proc.exitCode, null, 'the device daemon is still running');
});

test.serial('surprise-removal: outstanding I/O fails (never hangs), the re-plugged device still has every flushed write', async (t) => {
  const cap = captureLogger();
  const { device, host, disk } = await faultyDisk(t, { fixture: 'surprise-removal', log: cap.log });
  const added = device.waitEvent('DEVICE_ADDED', 20_000);
  const w = runWorkload(disk, { seed: 7, ops: 600, boundMs: BOUND_MS, stopAfterFailures: 8 });
  const r = await w.done;
  assertWorkloadPromises(t, r);
  t.is(device.daemon.proc.exitCode, null, 'the device daemon is still running');
  await assertRemovedCleanly(t, host, r, cap);
  await added;
  const again = await attachHost(device);
  t.teardown(() => again.detach());
  const d = await verifyDurable(again.disk, w.state);
  t.deepEqual(d.lost, []);
  t.deepEqual(d.corrupt, []);
  t.true(d.checked > 0);
});

test.serial('power-cut: torn write + volatile cache lost; after re-plug every acknowledged+flushed write reads back', async (t) => {
  const cap = captureLogger();
  const { device, host, disk } = await faultyDisk(t, { fixture: 'power-cut', log: cap.log });
  const added = device.waitEvent('DEVICE_ADDED', 20_000);
  const torn = device.waitEvent('FAULT_INJECTED', 20_000);
  const w = runWorkload(disk, { seed: 8, ops: 800, boundMs: BOUND_MS, readRatio: 0.3, flushEvery: 8, maxBlocks: 4, stopAfterFailures: 8, expectAcked: false });
  const r = await w.done;
  assertWorkloadPromises(t, r);
  t.is(device.daemon.proc.exitCode, null, 'the device daemon is still running');
  await assertRemovedCleanly(t, host, r, cap);
  await added;
  const again = await attachHost(device);
  t.teardown(() => again.detach());
  const d = await verifyDurable(again.disk, w.state);
  t.deepEqual(d.lost, [], 'acknowledged + flushed data lost');
  t.deepEqual(d.corrupt, []);
  t.true(w.state.durable.some((v) => v > 0), 'something was durable before the cut');
  const ev = (await torn).data as { action: string; nlb: number; kept: number };
  t.is(ev.action, 'torn-write');
  t.true(ev.kept < ev.nlb);
  t.true((await device.faults()).injected >= 1);
});

test.serial('bit-rot: success status with flipped bits — verification catches every one, none returned silently as good', async (t) => {
  const { device, host, disk } = await faultyDisk(t, { fixture: 'bit-rot' });
  const base = host.openMappings();
  const w = runWorkload(disk, { seed: 9, maxBlocks: 4, ops: 600, boundMs: BOUND_MS });
  const r = await w.done;
  assertWorkloadPromises(t, r, { allowCorrupt: true });
  t.is(device.daemon.proc.exitCode, null, 'the device daemon is still running');
  t.is(r.failed, 0, 'the device reported success for everything');
  t.true(r.corrupt.length > 0, 'verification caught the rot');
  t.true(r.corrupt.every((c) => /CRC mismatch/.test(c.why)), JSON.stringify(r.corrupt.slice(0, 3)));
  const rep = await device.faults();
  t.true((rep.rules.find((x) => x.id === 'rot')?.injected ?? 0) > 0);
  t.is(rep.rules.find((x) => x.id === 'wire')?.unsupported, 0, 'transfer flips need dataDma(…, sqe)');
  t.true((rep.rules.find((x) => x.id === 'wire')?.injected ?? 0) > 0);
  // Each injection flips a bit in one block of the read it fired on, so each one is at least one caught block.
  t.true(r.corrupt.length >= rep.injected, `${rep.injected} flips injected, only ${r.corrupt.length} blocks caught`);
  await assertNoLeaks(t, host, base);
});

test.serial('hostile-dma: out-of-window DMA is refused by the host IOMMU; host memory and data unharmed', async (t) => {
  const { device, host, disk } = await faultyDisk(t, { fixture: 'hostile-dma' });
  const ctl = await device.control(); // before the workload: it collects the FAULT_INJECTED events
  const base = host.openMappings();
  const w = runWorkload(disk, { seed: 10, ops: 300, boundMs: BOUND_MS });
  const r = await w.done;
  assertWorkloadPromises(t, r, { durable: await verifyDurable(disk, w.state) });
  t.is(device.daemon.proc.exitCode, null, 'the device daemon is still running');
  const rep = await device.faults();
  for (const id of ['write-outside', 'read-outside', 'wild-write']) {
    t.like(rep.rules.find((x) => x.id === id), { unsupported: 0 }, id);
    t.true((rep.rules.find((x) => x.id === id)?.injected ?? 0) > 0, `${id} never injected: ${JSON.stringify(rep.rules)}`);
  }
  t.like(rep.rules.find((x) => x.id === 'bme-off'), { injected: 0 }, 'bus mastering stayed on while attached, so no bus-master-off DMA');
  const st = host.ctrl.fn.stats();
  t.true(st.blockedWrites > 0 && st.blockedReads > 0, JSON.stringify(st));
  // Every hostile access the device reports was stopped by the host IOMMU at that address: nothing landed.
  const hostile = ctl.events
    .filter((e) => e.event === 'FAULT_INJECTED' && (e.data as { action?: string }).action === 'hostile-dma')
    .map((e) => e.data as { kind: string; addr: number; len: number });
  t.is(hostile.length, rep.rules.reduce((a, x) => a + x.injected, 0));
  const faults = host.ctrl.fn.memory.faults();
  for (const h of hostile) {
    const dir = h.kind === 'read-outside' ? 'read' : 'write';
    t.true(faults.some((f) => f.dir === dir && f.iova === h.addr && f.len === h.len), `${h.kind} at 0x${h.addr.toString(16)} was not refused`);
  }
  await assertNoLeaks(t, host, base);
});

test.serial('irq-storm: spurious interrupts on used and unused vectors; no errors, no double completions', async (t) => {
  const cap = captureLogger();
  const { device, host, disk } = await faultyDisk(t, { fixture: 'irq-storm', log: cap.log });
  const base = host.openMappings();
  const w = runWorkload(disk, { seed: 11, maxBlocks: 4, ops: 400, boundMs: BOUND_MS });
  const r = await w.done;
  assertWorkloadPromises(t, r, { durable: await verifyDurable(disk, w.state) });
  t.is(device.daemon.proc.exitCode, null, 'the device daemon is still running');
  t.is(r.failed, 0);
  t.is(host.ctrl.stats.resets, 0);
  const rep = await device.faults();
  t.true((rep.rules.find((x) => x.id === 'storm')?.injected ?? 0) >= 1);
  t.true((rep.rules.find((x) => x.id === 'spurious')?.injected ?? 0) >= 1);
  t.true(host.ctrl.fn.stats().spuriousIrqs > 0, 'interrupts on unused vectors reached the host and were counted spurious');
  await assertNoLeaks(t, host, base);
});

// Used to go wrong: the host applied a device's DMA write inside a mapped window while its command
// register had bus mastering off. A device cannot master the bus then (PCI 3.0 §6.2.2, Command bit 2),
// so the host's IOMMU now drops it.
test.serial('hostile-dma bus-master-off: with bus mastering off, a device DMA write into a window is refused', async (t) => {
  const { device, host } = await faultyDisk(t, {
    plan: { tickMs: 5, rules: [{ id: 'bme-off', on: 'timer', trigger: { kind: 'once' }, action: { type: 'hostile-dma', kind: 'bus-master-off', len: 64 } }] },
  });
  const injected = device.waitEvent('FAULT_INJECTED', 10_000);
  const before = host.ctrl.fn.stats().blockedWrites;
  await host.ctrl.fn.setCommand({ busMaster: false });
  const ev = (await injected).data as { kind: string; addr: number };
  t.is(ev.kind, 'bus-master-off');
  // A read on the device's own link: its answer comes after every posted message the device sent
  // before it (PROTOCOL.md ordering), so the hostile DMA write has reached the host by then. (A
  // control-channel round trip is another connection and proves nothing about this one.)
  await host.ctrl.fn.bar(0).read32(0);
  await host.ctrl.fn.memory.settled();
  const after = host.ctrl.fn.stats().blockedWrites;
  await host.ctrl.fn.setCommand({ busMaster: true });
  t.true(after > before, `DMA write at 0x${ev.addr.toString(16)} with bus mastering off was applied to host memory`);
});
