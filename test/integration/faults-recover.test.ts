// The host's promises under the recoverable fixtures: device daemon and host
// (this process, rnvme + blk-mq) as separate processes, a seeded verifying
// workload running. Each test: nothing hangs, nothing completes twice, no
// corrupt data, no tag or DMA-mapping leak, nothing acknowledged + flushed is
// lost, and the fault really was injected. Short rnvme timeouts keep it fast.
import test from 'ava';
import { faultyDisk, runWorkload, verifyDurable } from '../../fixtures/index.ts';
import { assertNoLeaks, assertWorkloadPromises, captureLogger } from '../../fixtures/promises.ts';
import { BLK_STS } from '../../host/block/index.ts';

/** Every I/O ends within this (io_timeout 400 → abort → reset, CAP.TO ready wait included). */
const BOUND_MS = 15_000;

test.serial('flaky-media: transient errors retried, a bad sector fails with the media status and a clear log line, rewrite cures it', async (t) => {
  const cap = captureLogger();
  const { device, host, disk } = await faultyDisk(t, { fixture: 'flaky-media', log: cap.log });
  const base = host.openMappings();
  const w = runWorkload(disk, { seed: 1, ops: 400, boundMs: BOUND_MS });
  const r = await w.done;
  assertWorkloadPromises(t, r, { durable: await verifyDurable(disk, w.state) });
  t.is(device.daemon.proc.exitCode, null, 'the device daemon is still running');
  t.true(r.ok > 300, `ok ${r.ok}`);
  // The bad sector: Unrecovered Read Error every time (retries do not help), BLK_STS_MEDIUM.
  const bs = disk.logicalBlockSize;
  const e = await t.throwsAsync(disk.read(4096 * bs, bs));
  t.is((e as { status?: number }).status, BLK_STS.MEDIUM, String(e));
  t.true(cap.grep(/Unrecovered Read Error/).length > 0, cap.lines.slice(-5).join('\n'));
  await disk.write(4096 * bs, new Uint8Array(bs).fill(7));
  t.is((await disk.read(4096 * bs, bs))[0], 7);
  await assertNoLeaks(t, host, base);
  const rep = await device.faults();
  t.true((rep.rules.find((x) => x.id === 'read-flaky')?.injected ?? 0) > 0);
  t.true((rep.rules.find((x) => x.id === 'write-flaky')?.injected ?? 0) > 0);
  t.is(rep.rules.find((x) => x.id === 'bad-sector')?.injected, 1);
});

test.serial('dropped-completions: timeouts → abort / reset; the workload continues and loses nothing', async (t) => {
  const cap = captureLogger();
  const { device, host, disk } = await faultyDisk(t, { fixture: 'dropped-completions', log: cap.log });
  const base = host.openMappings();
  const w = runWorkload(disk, { seed: 2, maxBlocks: 4, ops: 500, boundMs: BOUND_MS });
  const r = await w.done;
  assertWorkloadPromises(t, r, { durable: await verifyDurable(disk, w.state) });
  t.is(device.daemon.proc.exitCode, null, 'the device daemon is still running');
  t.is(r.failed, 0, JSON.stringify(r.failureSamples));
  t.true(host.ctrl.live, host.ctrl.state.label);
  t.true(host.ctrl.stats.timeouts > 0);
  t.true(cap.grep(/timeout, (aborting|reset controller)/).length > 0);
  await assertNoLeaks(t, host, base);
  t.is((await device.faults()).injected, 6);
});

test.serial('lost-interrupts: completions found by the next interrupt or by polling on timeout; no errors', async (t) => {
  const { device, host, disk } = await faultyDisk(t, { fixture: 'lost-interrupts' });
  const base = host.openMappings();
  const event = device.waitEvent('FAULT_INJECTED', 10_000);
  const w = runWorkload(disk, { seed: 3, ops: 400, boundMs: BOUND_MS });
  const r = await w.done;
  assertWorkloadPromises(t, r, { durable: await verifyDurable(disk, w.state) });
  t.is(device.daemon.proc.exitCode, null, 'the device daemon is still running');
  t.is(r.failed, 0, JSON.stringify(r.failureSamples));
  t.is(host.ctrl.stats.resets, 0, 'a lost interrupt must not cost a reset');
  await assertNoLeaks(t, host, base);
  t.is((await device.faults()).injected, 8);
  t.like((await event).data, { rule: 'no-irq', action: 'drop-interrupt' });
});

test.serial('slow-device: latency and a stalled queue, no errors, slow enable / shutdown waited for', async (t) => {
  const { device, host, disk } = await faultyDisk(t, { fixture: 'slow-device', rnvme: { io_timeout: 3000 } });
  const base = host.openMappings();
  const w = runWorkload(disk, { seed: 4, ops: 300, boundMs: BOUND_MS });
  const r = await w.done;
  assertWorkloadPromises(t, r, { durable: await verifyDurable(disk, w.state) });
  t.is(device.daemon.proc.exitCode, null, 'the device daemon is still running');
  t.is(r.failed, 0, JSON.stringify(r.failureSamples));
  await assertNoLeaks(t, host, base);
  await host.detach();
  const rep = await device.faults();
  for (const id of ['latency', 'stall', 'slow-enable', 'slow-shutdown']) t.true((rep.rules.find((x) => x.id === id)?.injected ?? 0) > 0, id);
});

test.serial('fatal-controller: CSTS.CFS → reset; outstanding I/O requeued, the workload continues', async (t) => {
  const cap = captureLogger();
  const { device, host, disk } = await faultyDisk(t, { fixture: 'fatal-controller', log: cap.log });
  const base = host.openMappings();
  const w = runWorkload(disk, { seed: 5, maxBlocks: 4, ops: 500, boundMs: BOUND_MS });
  const r = await w.done;
  assertWorkloadPromises(t, r, { durable: await verifyDurable(disk, w.state) });
  t.is(device.daemon.proc.exitCode, null, 'the device daemon is still running');
  t.is(r.failed, 0, JSON.stringify(r.failureSamples));
  t.true(host.ctrl.live);
  t.true(host.ctrl.stats.resets >= 1);
  t.true(cap.grep(/controller is down; will reset/).length > 0, cap.lines.slice(-5).join('\n'));
  await assertNoLeaks(t, host, base);
  t.is((await device.faults()).injected, 1);
});

test.serial('liar: corrupt completions never end the wrong request; invalid ids logged and dropped', async (t) => {
  const cap = captureLogger();
  const { device, host, disk } = await faultyDisk(t, { fixture: 'liar', log: cap.log });
  const base = host.openMappings();
  const w = runWorkload(disk, { seed: 6, ops: 500, boundMs: BOUND_MS });
  const r = await w.done;
  assertWorkloadPromises(t, r, { durable: await verifyDurable(disk, w.state) });
  t.is(device.daemon.proc.exitCode, null, 'the device daemon is still running');
  t.is(r.failed, 0, JSON.stringify(r.failureSamples));
  t.true(host.ctrl.stats.invalidIds > 0);
  t.true(cap.grep(/invalid id \d+ completed on queue \d+/).length > 0);
  await assertNoLeaks(t, host, base);
  const rep = await device.faults();
  t.is(rep.rules.reduce((a, x) => a + x.unsupported, 0), 0);
  t.true(rep.injected >= 10, JSON.stringify(rep.rules));
});
