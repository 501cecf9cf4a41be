// Data pointers and interrupt options across processes: large segments go as
// SGLs (the controller reports SGLS support; nvme_pci_use_sgls: average
// segment ≥ sgl_threshold), small ones as PRPs, with sgl_threshold 0 never
// SGLs; interrupt coalescing from the options reaches the controller (Set
// Features 08h, read back with Get Features) and I/O still completes.
import test from 'ava';
import { startDevice } from '../helpers/daemon.ts';
import { BLK_STS, REQ_OP } from '../../host/block/index.ts';
import { probeNvme } from '../../host/drivers/rnvme/index.ts';
import { FID, INT_COALESCING } from '../../src/spec/index.ts';
import { Rng, submitP } from './rnvme-helpers.ts';

const ARGS = ['-device', 'nvme,serial=SGL', '-device', 'nvme-ns,nsid=1,size=4M'];

async function bigRoundTrips(ctrl: Awaited<ReturnType<typeof probeNvme>>, seed: number): Promise<number> {
  const bd = ctrl.disks[0]?.open();
  if (bd === undefined) throw new Error('no disk');
  const rng = new Rng(seed);
  let mismatches = 0;
  for (const len of [128 * 1024, 64 * 1024, 4096]) {
    const w = new Uint8Array(len);
    rng.fill(w);
    const off = rng.int(8) * 128 * 1024;
    if (await submitP(bd, REQ_OP.WRITE, off, w, 0, 0) !== BLK_STS.OK) mismatches++;
    const r = new Uint8Array(len);
    if (await submitP(bd, REQ_OP.READ, off, r, 0, 0) !== BLK_STS.OK) mismatches++;
    if (Buffer.compare(Buffer.from(r), Buffer.from(w)) !== 0) mismatches++;
  }
  bd.close();
  return mismatches;
}

test('large segments use SGLs (data intact); sgl_threshold 0 keeps PRPs', async (t) => {
  const dev = await startDevice({ args: ARGS });
  t.teardown(() => dev.stop());
  const ctrl = await probeNvme(dev.url, { options: { io_queues: 1 } });
  t.teardown(() => (ctrl.terminal ? undefined : ctrl.shutdown()));
  t.is(await bigRoundTrips(ctrl, 1), 0);
  // 128 KiB and 64 KiB writes and reads (one segment each, ≥ 32 KiB): 4 SGL commands; the 4 KiB pair uses a PRP.
  t.is(ctrl.stats.sglCommands, 4);
  await ctrl.shutdown();

  const ctrl2 = await probeNvme(dev.url, { options: { io_queues: 1, sgl_threshold: 0 } });
  t.teardown(() => (ctrl2.terminal ? undefined : ctrl2.shutdown()));
  t.is(await bigRoundTrips(ctrl2, 2), 0);
  t.is(ctrl2.stats.sglCommands, 0);
});

test('interrupt coalescing option: Feature 08h set from coalescing_thr / coalescing_time; I/O completes', async (t) => {
  const dev = await startDevice({ args: ARGS });
  t.teardown(() => dev.stop());
  const ctrl = await probeNvme(dev.url, { options: { io_queues: 1, coalescing_thr: 8, coalescing_time: 2 } });
  t.teardown(() => (ctrl.terminal ? undefined : ctrl.shutdown()));
  t.deepEqual(ctrl.coalescing, { thr: 8, time: 2 });
  const { result } = await ctrl.getFeatures(FID.INTERRUPT_COALESCING);
  t.is(result & INT_COALESCING.THR_MASK, 7, "THR is 0's based");
  t.is((result >>> INT_COALESCING.TIME_SHIFT) & INT_COALESCING.TIME_MASK, 2);
  // A lone request below the threshold still completes (the aggregation time ends it).
  t.is(await bigRoundTrips(ctrl, 3), 0);
  // Without the option the feature stays at its default (0).
  await ctrl.shutdown();
  const ctrl2 = await probeNvme(dev.url, { options: { io_queues: 1 } });
  t.teardown(() => (ctrl2.terminal ? undefined : ctrl2.shutdown()));
  t.is(ctrl2.coalescing, undefined);
  t.is((await ctrl2.getFeatures(FID.INTERRUPT_COALESCING)).result, 0);
});
