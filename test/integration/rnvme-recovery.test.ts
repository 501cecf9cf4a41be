// rnvme recovery across processes: a controller reset in the middle of
// verified I/O (quiesce, disable, cancel + requeue, bring-up, resume);
// surprise removal mid-I/O (daemon SIGKILLed) fails everything cleanly;
// the admin passthrough API tools use.
import test from 'ava';
import { startDevice } from '../helpers/daemon.ts';
import { BLK_STS, REQ_OP, getDisk, listDisks, openDisk } from '../../host/block/index.ts';
import { probeNvme, listControllers, decodeIdCtrl } from '../../host/drivers/rnvme/index.ts';
import { FID, LID, SMART, VWC_FEAT } from '../../src/spec/index.ts';
import { getBf } from '../../src/wire/index.ts';
import { mixedWorkload, submitP } from './rnvme-helpers.ts';

const ARGS = ['-device', 'nvme,serial=RECOV', '-device', 'nvme-ns,nsid=1,size=4M', '-device', 'nvme-ns,nsid=2,size=2M,logical_block_size=512'];

test('reset mid-I/O: in-flight commands are cancelled and requeued, I/O resumes, zero mismatches', async (t) => {
  const dev = await startDevice({ args: ARGS });
  t.teardown(() => dev.stop());
  const ctrl = await probeNvme(dev.url, { options: { io_queues: 2, nr_cpus: 2 } });
  const devs = ctrl.disks.map((d) => d.open());
  const work = mixedWorkload(devs, { seed: 77, ops: 300, inflight: 16, nrCpus: 2 });
  // Reset twice while the workload runs.
  await new Promise((r) => setTimeout(r, 50));
  await ctrl.reset();
  await ctrl.reset();
  const r = await work;
  t.deepEqual(r.errors, []);
  t.is(r.mismatches, 0);
  t.is(ctrl.stats.resets, 2);
  t.is(ctrl.state.label, 'live');
  t.deepEqual(ctrl.state.history.slice(2, 5), ['live -> resetting', 'resetting -> connecting', 'connecting -> live']);
  for (const d of devs) d.close();
  await ctrl.shutdown();
});

test('surprise removal mid-I/O: every request fails promptly, disks go away, the controller is dead', async (t) => {
  const dev = await startDevice({ args: ARGS });
  t.teardown(() => dev.stop());
  const ctrl = await probeNvme(dev.url, { options: { io_queues: 2, nr_cpus: 2, io_timeout: 60000 } });
  const name = ctrl.name;
  const d = openDisk(`${name}n1`);
  const results: number[] = [];
  const pending: Promise<void>[] = [];
  let stop = false;
  const loop = async (cpu: number): Promise<void> => {
    for (let i = 0; !stop; i++) {
      const st = await submitP(d, i % 2 === 0 ? REQ_OP.READ : REQ_OP.WRITE, ((i * 7 + cpu) % 1000) * 4096, new Uint8Array(4096), 0, cpu % 2);
      results.push(st);
      if (st !== BLK_STS.OK) return;
    }
  };
  for (let k = 0; k < 16; k++) pending.push(loop(k));
  while (results.length < 100) await new Promise((r) => setTimeout(r, 5));
  dev.proc.kill('SIGKILL');
  // Hang guard only (no timing asserted): everything settles long before the 60 s I/O timeout.
  const guard = new Promise<'hung'>((r) => { const tm = setTimeout(() => r('hung'), 20000); tm.unref(); });
  const outcome = await Promise.race([Promise.all(pending).then(() => 'settled' as const), guard]);
  stop = true;
  t.is(outcome, 'settled');
  const failures = results.filter((s) => s !== BLK_STS.OK);
  t.is(failures.length, 16, 'each of the 16 submitters saw exactly one failure and stopped');
  t.true(failures.every((s) => s === BLK_STS.IOERR || s === BLK_STS.OFFLINE), `statuses ${[...new Set(failures)].join(',')}`);
  await ctrl.removed;
  t.is(ctrl.state.label, 'dead');
  t.false(listDisks().includes(`${name}n1`));
  t.is(getDisk(`${name}n1`), undefined);
  t.false(listControllers().includes(ctrl));
  // New I/O on the old handle fails at once.
  t.not(await submitP(d, REQ_OP.READ, 0, new Uint8Array(4096), 0, 0), BLK_STS.OK);
  await t.throwsAsync(ctrl.identifyController());
});

test('admin passthrough: identify (decoded + raw), SMART log, get/set features, rescan', async (t) => {
  const dev = await startDevice({ args: ARGS });
  t.teardown(() => dev.stop());
  const ctrl = await probeNvme(dev.url, { options: { io_queues: 1 } });
  const { id, raw } = await ctrl.identifyController();
  t.is(raw.length, 4096);
  t.is(id.sn, 'RECOV');
  t.deepEqual(decodeIdCtrl(raw), id);
  t.is(id.sqes & 0xf, 6);
  const ns = await ctrl.identifyNamespace(2);
  t.is(ns.id.blockSize, 512);
  t.is(ns.id.nsze, (2 << 20) / 512);
  t.deepEqual(await ctrl.activeNamespaces(), [1, 2]);
  const smart = await ctrl.getLogPage({ lid: LID.SMART, len: 512 });
  t.is(smart.length, 512);
  t.true(getBf(smart, 0, SMART.COMPOSITE_TEMP) > 200, 'temperature in Kelvin');
  await ctrl.setFeatures(FID.VOLATILE_WRITE_CACHE, 0);
  t.is((await ctrl.getFeatures(FID.VOLATILE_WRITE_CACHE)).result & VWC_FEAT.WCE, 0);
  await ctrl.setFeatures(FID.VOLATILE_WRITE_CACHE, VWC_FEAT.WCE);
  t.is((await ctrl.getFeatures(FID.VOLATILE_WRITE_CACHE)).result & VWC_FEAT.WCE, 1);
  const bad = await ctrl.adminCommand({ opc: 0x0a, cdw10: 0xee });
  t.not(bad.status, 0, 'unsupported feature: an error status, not an exception');
  await t.throwsAsync(ctrl.getFeatures(0xee), { message: /Get Features\(0xa\), Invalid Field in Command/ });
  await ctrl.flush();
  await ctrl.rescan();
  t.deepEqual(ctrl.disks.map((d) => d.name), [`${ctrl.name}n1`, `${ctrl.name}n2`]);
  await ctrl.shutdown();
});

test('format with another LBA format: the disk comes back with the new block size, limits and capacity; I/O works', async (t) => {
  const dev = await startDevice({ args: ARGS });
  t.teardown(() => dev.stop());
  const ctrl = await probeNvme(dev.url, { options: { io_queues: 1 } });
  t.teardown(() => (ctrl.terminal ? undefined : ctrl.shutdown()));
  const name = `${ctrl.name}n2`;
  t.is(getDisk(name)?.limits.logicalBlockSize, 512);
  // LBAF 1 = 4096-byte blocks (the controller offers 512 and 4096); format() rescans.
  await ctrl.format(2, { lbaf: 1 });
  const d = getDisk(name);
  if (d === undefined) return t.fail('disk gone after format');
  t.is(d.limits.logicalBlockSize, 4096);
  t.is(d.capacityBytes, 2 << 20);
  t.is(d.limits.maxWriteZeroesSectors % 8, 0);
  const bd = d.open();
  const w = new Uint8Array(8192).fill(0x77);
  t.is(await submitP(bd, REQ_OP.WRITE, (2 << 20) - 8192, w, 0, 0), BLK_STS.OK);
  const r = new Uint8Array(8192);
  t.is(await submitP(bd, REQ_OP.READ, (2 << 20) - 8192, r, 0, 0), BLK_STS.OK);
  t.deepEqual(r, w);
  // A 512-byte request no longer fits the block size: refused by the block layer, not sent.
  t.not(await submitP(bd, REQ_OP.READ, 512, new Uint8Array(512), 0, 0), BLK_STS.OK);
  bd.close();
  t.deepEqual(ctrl.disks.map((x) => x.name), [`${ctrl.name}n1`, name]);
});
