// Hybrid polling (io_poll_delay, Linux blk_mq_poll_hybrid): the background
// poller of a poll hctx sleeps (one coalesced timer per hctx) instead of
// polling every event-loop turn, unless io_poll_delay is -1 (classic).
import test from 'ava';
import { BLK_STS, GenDisk, REQ_FLAG, REQ_OP, TagSet } from '../../host/block/index.ts';
import type { Operations, RequestRef } from '../../host/block/index.ts';

let seq = 0;
const uniq = (p: string): string => `${p}${process.pid % 1000}h${seq++}`;
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Poll-hctx requests wait in `sq` until the test moves them to `cq`; only ops.poll ends them. */
function pollDriver(ioPollDelay?: number) {
  const sq: RequestRef[] = [];
  const cq: RequestRef[] = [];
  let polls = 0;
  const ops: Operations<null, null> = {
    initRequest: () => null,
    queueRq: (_h, rq) => { sq.push(rq); return BLK_STS.OK; },
    poll: () => {
      polls++;
      let n = 0;
      for (let rq = cq.shift(); rq !== undefined; rq = cq.shift()) { if (rq.end(BLK_STS.OK) === 0) n++; }
      return n;
    },
  };
  const tagSet = new TagSet<null, null>({ ops, nrHwQueues: 2, queueDepth: 8, queueMaps: { default: 1, poll: 1 }, nrCpus: 1 });
  const disk = new GenDisk({ name: uniq('hyb'), tagSet, capacitySectors: 2048, scheduler: 'none', ...(ioPollDelay === undefined ? {} : { ioPollDelay }) });
  disk.add();
  return { disk, polls: () => polls, deviceDone: () => { while (sq.length > 0) cq.push(sq.shift() as RequestRef); } };
}

test('io_poll_delay attribute: default -1 (classic, as Linux), 0 adaptive, µs fixed; bad values refused', async (t) => {
  const d = pollDriver();
  t.is(d.disk.getAttr('io_poll_delay'), '-1');
  await d.disk.setAttr('io_poll_delay', '0');
  t.is(d.disk.getAttr('io_poll_delay'), '0');
  await d.disk.setAttr('io_poll_delay', '-1');
  t.is(d.disk.getAttr('io_poll_delay'), '-1');
  await d.disk.setAttr('io_poll_delay', '250');
  t.is(d.disk.getAttr('io_poll_delay'), '250');
  await t.throwsAsync(d.disk.setAttr('io_poll_delay', '-2'), { instanceOf: RangeError });
  await t.throwsAsync(d.disk.setAttr('io_poll_delay', 'x'), { instanceOf: RangeError });
  t.throws(() => new GenDisk({ name: uniq('bad'), tagSet: new TagSet({ ops: { initRequest: () => null, queueRq: () => BLK_STS.OK }, nrHwQueues: 1, queueDepth: 2 }), capacitySectors: 8, ioPollDelay: -5 }), { instanceOf: RangeError });
  await d.disk.remove();
});

test('fixed hybrid delay: no poll while sleeping, one timer for many requests; submitter poll still works; remove cancels the sleep', async (t) => {
  const d = pollDriver(1_000_000); // 1 s: the background poller will not wake during the test
  const dev = d.disk.open();
  const got: number[] = [];
  for (let i = 0; i < 4; i++) dev.submit(REQ_OP.READ, i * 512, new Uint8Array(512), REQ_FLAG.POLLED, 0, (st) => got.push(st));
  for (let i = 0; i < 5; i++) await tick();
  t.is(d.polls(), 0, 'sleeping, not spinning');
  d.deviceDone();
  t.is(dev.poll(), 4);
  t.deepEqual(got, [0, 0, 0, 0]);
  dev.close();
  await d.disk.remove(); // clears the pending 1 s timer (else the test process would linger)
});

test('classic (-1) polls every turn; adaptive starts classic, then sleeps about half the mean completion time', async (t) => {
  const d = pollDriver(-1);
  const dev = d.disk.open();
  dev.polled = true;
  const p1 = dev.read(0, 512);
  for (let i = 0; i < 5; i++) await tick();
  t.true(d.polls() >= 3, `classic: ${d.polls()} polls in 5 turns`);
  d.deviceDone();
  await p1;

  // Adaptive: a first request that takes ≥ 60 ms gives the mean; the next one sleeps ≥ 30 ms before its first poll.
  await d.disk.setAttr('io_poll_delay', '0');
  const p2 = dev.read(0, 512);
  await new Promise((r) => setTimeout(r, 60));
  d.deviceDone();
  await p2;
  const before = d.polls();
  const p3 = dev.read(512, 512);
  for (let i = 0; i < 3; i++) await tick();
  t.is(d.polls(), before, 'adaptive hybrid: asleep right after the dispatch');
  d.deviceDone();
  await p3; // the sleep ends, the poll finds it
  t.true(d.polls() > before);
  dev.close();
  await d.disk.remove();
});
