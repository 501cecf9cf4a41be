// rnull through blk-mq: 4 KiB random read/write at QD 1/32/128, irqmode
// 0/1/2, memory backed on/off, one and several submit queues. Driven through
// the block layer's hot-path submit() (no promise per I/O); each scenario
// reports the ratio to blk/inline at the same depth (the layer's own cost).
import { performance } from 'node:perf_hooks';
import { REQ_OP, openDisk, type SubmitCallback } from '../host/block/index.ts';
import { NullBlkRegistry } from '../host/drivers/rnull/index.ts';
import { withGcCount } from './lib.ts';
import type { Measurement, RunOptions, Scenario } from './lib.ts';

let instance = 0;

interface Job {
  qd: number;
  write?: boolean;
  irqmode?: number;
  memory?: boolean;
  submitQueues?: number;
}

async function randio(job: Job, opts: RunOptions): Promise<Measurement> {
  const nrCpus = Math.max(1, job.submitQueues ?? 1);
  const reg = new NullBlkRegistry({ nrCpus, moduleParams: { poll_queues: 0 } });
  const name = `rnbench${process.pid}_${instance++}`;
  reg.create(name);
  const attrs: Record<string, string | number | boolean> = {
    size: 1024, blocksize: 4096, irqmode: job.irqmode ?? 0, completion_nsec: 10000, hw_queue_depth: Math.max(job.qd, 1),
    submit_queues: nrCpus, poll_queues: 0, memory_backed: job.memory === true, no_sched: 1,
  };
  for (const [k, v] of Object.entries(attrs)) await reg.setAttr(name, k, v);
  await reg.power(name, 1);
  const dev = openDisk(name);
  const op = job.write === true ? REQ_OP.WRITE : REQ_OP.READ;
  const blocks = (1024 * 1024 * 1024) / 4096;
  const bufs = Array.from({ length: job.qd }, (_, i) => new Uint8Array(4096).fill(i & 0xff));
  if (job.memory === true && op === REQ_OP.READ) {
    // Populate a slice so reads find pages (the rest read as zeros).
    for (let i = 0; i < 4096; i++) await dev.write(((i * 7919) % blocks) * 4096, bufs[0] as Uint8Array);
  }
  let x = 12345;
  let done = 0;
  let target = 0;
  let finish: () => void = () => {};
  const cbs: SubmitCallback[] = bufs.map((buf, slot) => {
    const cpu = slot % nrCpus;
    const cb: SubmitCallback = () => {
      done++;
      if (done + job.qd <= target) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        dev.submit(op, (x % blocks) * 4096, buf, 0, cpu, cb);
      } else if (done === target) finish();
    };
    return cb;
  });
  const runFor = async (n: number): Promise<number> => {
    done = 0;
    target = n;
    const t0 = performance.now();
    await new Promise<void>((res) => {
      finish = res;
      for (let s = 0; s < job.qd; s++) dev.submit(op, s * 8192, bufs[s] as Uint8Array, 0, s % nrCpus, cbs[s] as SubmitCallback);
    });
    return performance.now() - t0;
  };
  const warm = opts.quick ? 5000 : 20000;
  const wt = await runFor(warm);
  const n = Math.max(job.qd * 10, Math.floor((warm / Math.max(wt, 1)) * opts.durationMs));
  const heap0 = process.memoryUsage().heapUsed;
  const { value: ms, gcs } = await withGcCount(() => runFor(n));
  const heap1 = process.memoryUsage().heapUsed;
  await reg.destroy();
  const iops = (n / ms) * 1000;
  return { iops, mbps: (iops * 4096) / 1e6, extra: { gc_per_mio: (gcs / n) * 1e6, heap_growth_b_per_io: Math.max(0, heap1 - heap0) / n } };
}

const sc = (id: string, job: Job): Scenario => ({ id, reference: `blk/inline/randread/4k/qd${job.qd === 1 ? 1 : job.qd >= 128 ? 128 : 32}`, run: (o) => randio(job, o) });

export const scenarios: Scenario[] = [
  sc('rnull/randread/4k/qd1', { qd: 1 }),
  sc('rnull/randread/4k/qd32', { qd: 32 }),
  sc('rnull/randread/4k/qd128', { qd: 128 }),
  sc('rnull/randwrite/4k/qd32', { qd: 32, write: true }),
  sc('rnull/randread/4k/qd32/irqmode0', { qd: 32, irqmode: 0 }),
  sc('rnull/randread/4k/qd32/irqmode1', { qd: 32, irqmode: 1 }),
  sc('rnull/randread/4k/qd32/irqmode2', { qd: 32, irqmode: 2 }),
  sc('rnull/randread/4k/qd32/mem', { qd: 32, memory: true }),
  sc('rnull/randwrite/4k/qd32/mem', { qd: 32, write: true, memory: true }),
  sc('rnull/randread/4k/qd128/sq4', { qd: 128, submitQueues: 4 }),
];
