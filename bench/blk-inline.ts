// blk/inline/randread/4k/qd{1,32,128}: blk-mq with a driver that ends every
// request inside queueRq and moves no data — the block layer's own cost per
// I/O, driven through the hot-path submit() (no promise per I/O).
import { BLK_STS, GenDisk, REQ_OP, TagSet } from '../host/block/index.ts';
import { closedLoop } from './lib.ts';
import type { Measurement, RunOptions, Scenario } from './lib.ts';

let instance = 0;

async function randread(qd: number, opts: RunOptions): Promise<Measurement> {
  const tagSet = new TagSet<null, null>({ nrHwQueues: 1, queueDepth: Math.max(qd, 1), ops: { initRequest: () => null, queueRq: (_h, rq) => { rq.end(BLK_STS.OK); return BLK_STS.OK; } } });
  const cap = 1 << 30;
  const disk = new GenDisk({ name: `blkbench${process.pid}_${instance++}`, tagSet, capacitySectors: cap / 512, scheduler: 'none', limits: { maxHwSectors: 256 } });
  try {
    return await closedLoop({ dev: disk.open(), op: REQ_OP.READ, qd, bs: 4096, blocks: cap / 4096 }, opts);
  } finally {
    await disk.remove(0);
  }
}

export const scenarios: Scenario[] = [1, 32, 128].map((qd) => ({
  id: `blk/inline/randread/4k/qd${qd}`,
  ...(qd !== 1 ? { reference: 'blk/inline/randread/4k/qd1' } : {}),
  run: (o: RunOptions) => randread(qd, o),
}));
