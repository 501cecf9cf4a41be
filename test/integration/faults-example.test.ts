// The example from docs/fixtures.md ("In your own tests"), run as a test so the doc stays true.
import test from 'ava';
import { faultyDisk, runWorkload, verifyDurable, attachHost } from '../../fixtures/index.ts';
import { assertWorkloadPromises, assertNoLeaks, captureLogger } from '../../fixtures/promises.ts';

test('survives lost completions', async (t) => {
  const cap = captureLogger();
  const { device, host, disk } = await faultyDisk(t, { fixture: 'dropped-completions', rnvme: { io_timeout: 400 }, log: cap.log });
  const baseline = host.openMappings();
  const w = runWorkload(disk, { seed: 1, ops: 500, boundMs: 15_000 });
  const r = await w.done;
  assertWorkloadPromises(t, r, { durable: await verifyDurable(disk, w.state) });
  await assertNoLeaks(t, host, baseline);
  t.true(cap.grep(/timeout, aborting/).length > 0);
  t.is((await device.faults()).injected, 6);
});

test('my own plan, injected at run time', async (t) => {
  const { device, disk } = await faultyDisk(t, {
    plan: { seed: 3, rules: [{ match: { queue: 'io', opcode: 2 }, trigger: { kind: 'every', n: 10 }, action: { type: 'status', sct: 2, sc: 0x81, dnr: true } }] },
  });
  await t.throwsAsync(async () => { for (let i = 0; i < 10; i++) await disk.read(0, 4096); });
  await device.inject({ id: 'slow', match: { queue: 'io' }, action: { type: 'delay', delay: { ms: 5 } } });
  await device.clear();
});

test('power cut, then a fresh host on the re-plugged device', async (t) => {
  const { device, disk } = await faultyDisk(t, { fixture: 'power-cut' });
  const added = device.waitEvent('DEVICE_ADDED', 20_000);
  const w = runWorkload(disk, { seed: 8, ops: 800, flushEvery: 8, stopAfterFailures: 8, expectAcked: false });
  await w.done;
  await added;
  const again = await attachHost(device);
  t.teardown(() => again.detach());
  t.deepEqual((await verifyDurable(again.disk, w.state)).lost, []);
});
