// blk/inline/randread/4k/qd{1,32,128}: blk-mq with a driver that ends every
// request inside queueRq and moves no data — the block layer's own cost per
// I/O, driven through the hot-path submit() (no promise per I/O).
import { performance } from 'node:perf_hooks';
import { BLK_STS, GenDisk, REQ_OP, TagSet } from '../host/block/index.ts';
import type { SubmitCallback } from '../host/block/index.ts';
import { withGcCount } from './lib.ts';
import type { Measurement, RunOptions, Scenario } from './lib.ts';

let instance = 0;

async function randread(qd: number, opts: RunOptions): Promise<Measurement> {
  const tagSet = new TagSet<null, null>({ nrHwQueues: 1, queueDepth: Math.max(qd, 1), ops: { initRequest: () => null, queueRq: (_h, rq) => { rq.end(BLK_STS.OK); return BLK_STS.OK; } } });
  const cap = 1 << 30;
  const disk = new GenDisk({ name: `blkbench${process.pid}_${instance++}`, tagSet, capacitySectors: cap / 512, scheduler: 'none', limits: { maxHwSectors: 256 } });
  const dev = disk.open();
  const bufs = Array.from({ length: qd }, () => new Uint8Array(4096));
  const blocks = cap / 4096;
  let x = 12345;
  let done = 0;
  let target = 0;
  let finish: () => void = () => {};
  const cbs: SubmitCallback[] = bufs.map((buf, slot) => {
    const cb: SubmitCallback = () => {
      done++;
      if (done + qd <= target) {
        x = (Math.imul(x, 1103515245) + 12345) & 0x3fffffff; // 30 bits: stays a Smi (no HeapNumber per I/O in the bench itself)
        dev.submit(REQ_OP.READ, (x % blocks) * 4096, buf, 0, 0, cb);
      } else if (done === target) finish();
    };
    void slot;
    return cb;
  });
  const runFor = async (n: number): Promise<number> => {
    done = 0; target = n;
    const t0 = performance.now();
    await new Promise<void>((res) => {
      finish = res;
      for (let s = 0; s < qd; s++) dev.submit(REQ_OP.READ, s * 4096, bufs[s] as Uint8Array, 0, 0, cbs[s] as SubmitCallback);
    });
    return performance.now() - t0;
  };
  // Warm up, then size the run to the requested duration.
  const warm = 20000;
  const wt = await runFor(warm);
  const n = Math.max(qd * 10, Math.floor((warm / Math.max(wt, 1)) * opts.durationMs));
  const heap0 = process.memoryUsage().heapUsed;
  const { value: ms, gcs } = await withGcCount(() => runFor(n));
  const heap1 = process.memoryUsage().heapUsed;
  await disk.remove(0);
  const iops = (n / ms) * 1000;
  return { iops, mbps: (iops * 4096) / 1e6, extra: { gc_per_mio: (gcs / n) * 1e6, heap_growth_b_per_io: Math.max(0, heap1 - heap0) / n } };
}

export const scenarios: Scenario[] = [1, 32, 128].map((qd) => ({
  id: `blk/inline/randread/4k/qd${qd}`,
  ...(qd !== 1 ? { reference: 'blk/inline/randread/4k/qd1' } : {}),
  run: (o: RunOptions) => randread(qd, o),
}));
