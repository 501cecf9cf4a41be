// iodepth_batch_complete_min/max mean what fio means: completions are reaped
// in batches (fio's io_getevents(min, max)); while the queue is full a reap
// waits for at least `min` of them and takes at most `max` before the job
// submits again. The disk completes held I/Os in bursts the test controls,
// and its trace (S submit, C completion, P/U plug/unplug) shows the order.
import test from 'ava';
import { parseCommandLine, resolveAll, runJobs, type RunResult } from '../../host/tools/fio/index.ts';
import { FakeDisk, fakeHost } from '../../host/tools/fio/testing.ts';

interface Driven {
  trace: string;
  res: RunResult;
}

/** Runs the job on a 'manual' disk, completing `burst` held I/Os per event-loop turn. */
async function drive(args: string[], burst: number): Promise<Driven> {
  const disk = new FakeDisk({ name: 'd0', completion: 'manual' });
  let trace = '';
  disk.trace = (e) => {
    trace += e;
  };
  const jobs = resolveAll(parseCommandLine(['--name=b', '--filename=d0', '--rw=randread', '--bs=4k', '--size=1m', ...args]), () => '', {});
  let finished = false;
  const p = runJobs(jobs, { host: fakeHost(disk) }).finally(() => {
    finished = true;
  });
  for (let turns = 0; !finished && turns < 100_000; turns++) {
    await new Promise<void>((r) => setImmediate(r));
    disk.completeHeld(burst);
  }
  return { trace, res: await p };
}

/** Lengths of the runs of submits between completions (plug marks ignored). */
function submitRuns(trace: string): number[] {
  return trace.replace(/[PU]/g, '').split(/C+/).filter((r) => r.length > 0).map((r) => r.length);
}

/** Submits per plugged batch. */
function pluggedBatches(trace: string): number[] {
  return [...trace.matchAll(/P(S*)U/g)].map((m) => (m[1] ?? '').length);
}

test('complete_min: a full queue is refilled only once min completions are in', async (t) => {
  // 3 completions per turn: the job waits until 8 are in, reaps 8, submits 8.
  const { trace, res } = await drive(['--iodepth=16', '--iodepth_batch_complete_min=8', '--number_ios=96'], 3);
  const runs = submitRuns(trace);
  t.is(runs[0], 16, 'the queue is filled first');
  t.deepEqual(runs.slice(1), new Array<number>(10).fill(8), trace);
  // Every refill comes after at least 8 completions not yet used for a refill.
  let pending = 0;
  for (const m of trace.replace(/[PU]/g, '').replace(/^S{16}/, '').matchAll(/(C*)(S*)/g)) {
    pending += (m[1] ?? '').length;
    if ((m[2] ?? '').length === 0) continue;
    t.true(pending >= 8, `refill after only ${pending} completions`);
    pending -= 8;
  }
  t.is(res.jobs[0]?.dirs[0].totalIos, 96);
  t.is(res.exitCode, 0);
});

test('complete_max: a burst of completions is reaped together, up to max', async (t) => {
  // min 1, max 8: a burst of 8 completions is one reap of 8, then 8 submits.
  const all = await drive(['--iodepth=8', '--iodepth_batch_complete_min=1', '--iodepth_batch_complete_max=8', '--number_ios=64'], 8);
  t.deepEqual(submitRuns(all.trace), new Array<number>(8).fill(8), all.trace);
  const r = all.res.jobs[0];
  t.is(r?.completeDist[2], 100, `every reap took 5-8: ${r?.completeDist.join(',')}`);

  // min 1, max 2: the same bursts are reaped two at a time, each reap followed
  // by a refill of exactly the two slots it freed (one plugged batch each).
  const two = await drive(['--iodepth=8', '--iodepth_batch_submit=8', '--iodepth_batch_complete_min=1', '--iodepth_batch_complete_max=2', '--number_ios=64'], 8);
  const batches = pluggedBatches(two.trace);
  t.is(batches[0], 8, 'the first fill is one batch of 8');
  t.true(batches.length > 1);
  t.deepEqual(batches.slice(1), new Array<number>(batches.length - 1).fill(2), two.trace);
  t.is(two.res.jobs[0]?.completeDist[1], 100, 'every reap took 1-4');
  t.is(two.res.jobs[0]?.dirs[0].totalIos, 64);
});

test('a job that cannot submit more reaps whatever has completed (no wait for min)', async (t) => {
  // 20 I/Os at depth 16, min 16: the last 4 cannot make a full batch of 16 but still finish.
  const { res } = await drive(['--iodepth=16', '--iodepth_batch_complete_min=16', '--number_ios=20'], 1);
  t.is(res.jobs[0]?.dirs[0].totalIos, 20);
  t.is(res.exitCode, 0);
});
