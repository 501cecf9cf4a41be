// rnull through blk-mq: 4 KiB random read/write at QD 1/32/128, irqmode
// 0/1/2, memory backed on/off, one and several submit queues. Driven through
// the block layer's hot-path submit() (no promise per I/O); each scenario
// reports the ratio to blk/inline at the same depth (the layer's own cost).
import { REQ_OP, openDisk } from '../host/block/index.ts';
import { NullBlkRegistry } from '../host/drivers/rnull/index.ts';
import { closedLoop } from './lib.ts';
import type { Measurement, RunOptions, Scenario } from './lib.ts';

let instance = 0;

interface Job {
  qd: number;
  write?: boolean;
  irqmode?: number;
  memory?: boolean;
  submitQueues?: number;
}

const SIZE_MIB = 1024;

async function randio(job: Job, opts: RunOptions): Promise<Measurement> {
  const nrCpus = Math.max(1, job.submitQueues ?? 1);
  const reg = new NullBlkRegistry({ nrCpus, moduleParams: { poll_queues: 0 } });
  const name = `rnbench${process.pid}_${instance++}`;
  try {
    reg.create(name);
    const attrs: Record<string, string | number | boolean> = {
      size: SIZE_MIB, blocksize: 4096, irqmode: job.irqmode ?? 0, completion_nsec: 10000, hw_queue_depth: Math.max(job.qd, 1),
      submit_queues: nrCpus, poll_queues: 0, memory_backed: job.memory === true, no_sched: 1,
    };
    for (const [k, v] of Object.entries(attrs)) await reg.setAttr(name, k, v);
    await reg.power(name, 1);
    const dev = openDisk(name);
    const blocks = (SIZE_MIB << 20) / 4096;
    if (job.memory === true && job.write !== true) {
      // Populate a slice so reads find pages (the rest read as zeros).
      const page = new Uint8Array(4096).fill(0x5a);
      for (let i = 0; i < 4096; i++) await dev.write(((i * 7919) % blocks) * 4096, page);
    }
    return await closedLoop({ dev, op: job.write === true ? REQ_OP.WRITE : REQ_OP.READ, qd: job.qd, bs: 4096, blocks, nrCpus }, opts);
  } finally {
    await reg.destroy();
  }
}

const sc = (id: string, job: Job): Scenario => ({ id, reference: `blk/inline/randread/4k/qd${job.qd === 1 ? 1 : job.qd >= 128 ? 128 : 32}`, run: (o) => randio(job, o) });

export const scenarios: Scenario[] = [
  sc('rnull/randread/4k/qd1', { qd: 1 }),
  sc('rnull/randread/4k/qd32', { qd: 32 }),
  sc('rnull/randread/4k/qd128', { qd: 128 }),
  sc('rnull/randwrite/4k/qd1', { qd: 1, write: true }),
  sc('rnull/randwrite/4k/qd32', { qd: 32, write: true }),
  sc('rnull/randwrite/4k/qd128', { qd: 128, write: true }),
  sc('rnull/randread/4k/qd32/irqmode0', { qd: 32, irqmode: 0 }),
  sc('rnull/randread/4k/qd32/irqmode1', { qd: 32, irqmode: 1 }),
  sc('rnull/randread/4k/qd32/irqmode2', { qd: 32, irqmode: 2 }),
  sc('rnull/randread/4k/qd32/mem', { qd: 32, memory: true }),
  sc('rnull/randwrite/4k/qd32/mem', { qd: 32, write: true, memory: true }),
  sc('rnull/randread/4k/qd128/sq4', { qd: 128, submitQueues: 4 }),
];
