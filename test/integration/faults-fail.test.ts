// The host's promises under the fixtures that take the device away or lie
// about data: never-ready, surprise removal + re-plug, power cut, bit rot,
// hostile DMA, interrupt storms. Device daemon and host in separate
// processes; a seeded verifying workload; after a removal the test attaches
// a fresh host to the re-plugged device and checks nothing durable was lost.
import test from 'ava';
import { attachHost, faultyDisk, runWorkload, startFaultyDevice, verifyDurable } from '../../fixtures/index.ts';
import { assertNoLeaks, assertWorkloadPromises, captureLogger } from '../../fixtures/promises.ts';

const BOUND_MS = 15_000;

test.serial('never-ready: probe gives up after the ready timeout with a clear error, nothing hangs', async (t) => {
  const dev = await startFaultyDevice({ fixture: 'never-ready' });
  t.teardown(() => dev.stop());
  const e = await t.throwsAsync(attachHost(dev));
  t.is((e as { code?: string }).code, 'ETIMEDOUT');
  t.regex(e?.message ?? '', /not ready/i);
  t.true((await dev.faults()).injected >= 1);
});

test.serial('surprise-removal: outstanding I/O fails (never hangs), the re-plugged device still has every flushed write', async (t) => {
  const cap = captureLogger();
  const { device, host, disk } = await faultyDisk(t, { fixture: 'surprise-removal', log: cap.log });
  const added = device.waitEvent('DEVICE_ADDED', 20_000);
  const w = runWorkload(disk, { seed: 7, ops: 600, boundMs: BOUND_MS, stopAfterFailures: 8 });
  const r = await w.done;
  assertWorkloadPromises(t, r);
  t.is(device.daemon.proc.exitCode, null, 'the device daemon is still running');
  t.true(r.failed > 0, 'I/O after the removal fails');
  t.true(host.ctrl.fn.gone);
  t.is(host.busyTags(), 0, 'every request ended');
  await host.ctrl.removed;
  t.is(host.openMappings(), 0, 'every DMA mapping released');
  t.true(cap.grep(/nvme\d+: removing controller/).length > 0, cap.lines.slice(-5).join('\n'));
  await added;
  const again = await attachHost(device);
  t.teardown(() => again.detach());
  const d = await verifyDurable(again.disk, w.state);
  t.deepEqual(d.lost, []);
  t.deepEqual(d.corrupt, []);
  t.true(d.checked > 0);
});

test.serial('power-cut: torn write + volatile cache lost; after re-plug every acknowledged+flushed write reads back', async (t) => {
  const { device, disk } = await faultyDisk(t, { fixture: 'power-cut' });
  const added = device.waitEvent('DEVICE_ADDED', 20_000);
  const torn = device.waitEvent('FAULT_INJECTED', 20_000);
  const w = runWorkload(disk, { seed: 8, ops: 800, boundMs: BOUND_MS, readRatio: 0.3, flushEvery: 8, maxBlocks: 4, stopAfterFailures: 8, expectAcked: false });
  const r = await w.done;
  assertWorkloadPromises(t, r);
  t.is(device.daemon.proc.exitCode, null, 'the device daemon is still running');
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
  await assertNoLeaks(t, host, base);
});

test.serial('hostile-dma: out-of-window DMA is refused by the host IOMMU; host memory and data unharmed', async (t) => {
  const { device, host, disk } = await faultyDisk(t, { fixture: 'hostile-dma' });
  const base = host.openMappings();
  const w = runWorkload(disk, { seed: 10, ops: 300, boundMs: BOUND_MS });
  const r = await w.done;
  assertWorkloadPromises(t, r, { durable: await verifyDurable(disk, w.state) });
  t.is(device.daemon.proc.exitCode, null, 'the device daemon is still running');
  const rep = await device.faults();
  const injected = rep.rules.filter((x) => x.id !== 'bme-off').reduce((a, x) => a + x.injected, 0);
  t.true(injected > 0, `hostile DMA needs DeviceContext.unchecked: ${JSON.stringify(rep.rules)}`);
  const st = host.ctrl.fn.stats();
  t.true(st.blockedWrites > 0 && st.blockedReads > 0, JSON.stringify(st));
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
  t.true((await device.faults()).injected >= 5);
  await assertNoLeaks(t, host, base);
});
