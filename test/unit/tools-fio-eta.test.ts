// fio's eta: the JSON "eta"/"elapsed" every job carries (INT_MAX until the run
// has taken 3 s, then the jobs' remaining time), the per-job estimate behind
// the progress line (bytes done vs total, or elapsed vs runtime), and a
// read-only job with verify= on data never written, which real fio 3.33
// fails with "verify: bad magic header 0, wanted acca" (err=84, exit 1).
import test from 'ava';
import { JobRunner, progressReporter, runEtaSec } from '../../host/tools/fio/engine.ts';
import { formatJson, parseCommandLine, resolveAll, runJobs, type JobOptions } from '../../host/tools/fio/index.ts';
import { jsonEta } from '../../host/tools/fio/output.ts';
import { FakeDisk, fakeHost } from '../../host/tools/fio/testing.ts';

/** Lets the runner reap what the disk just completed (its completions are queued, not inline). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Ends a held runner: stop, let the disk finish what is in flight, wait for the job to wind down. */
async function end(h: { r: JobRunner; disk: FakeDisk }, done: Promise<void>): Promise<void> {
  h.r.stop('aborted');
  h.disk.release();
  await done;
}

function job(argv: string[]): JobOptions {
  const j = resolveAll(parseCommandLine(argv), () => '', {})[0];
  if (j === undefined) throw new Error('no job');
  return j;
}

/** A runner on a disk whose completions wait for completeHeld(), with a hand-driven clock (ns). */
function held(argv: string[]): { r: JobRunner; disk: FakeDisk; clock: { ns: number } } {
  const disk = new FakeDisk({ name: 'd0', capacityBytes: 8 << 20, completion: 'manual' });
  const clock = { ns: 0 };
  const r = new JobRunner(job(['--name=e', '--filename=d0', '--iodepth=1', ...argv]), disk.open(), 0, 0, 0, 0, () => clock.ns, () => {});
  return { r, disk, clock };
}

test('JSON eta/elapsed: INT_MAX before 3 s of run, 0 once finished after that; elapsed rounds up', async (t) => {
  const res = await runJobs([job(['--name=j', '--filename=d0', '--rw=read', '--bs=4k', '--size=64k'])], { host: fakeHost(new FakeDisk({ name: 'd0' })) });
  t.like(jsonEta({ ...res, runElapsedMs: 1200 }), { eta: 2147483647, elapsed: 2 });
  t.like(jsonEta({ ...res, runElapsedMs: 2000 }), { eta: 2147483647, elapsed: 2 });
  t.like(jsonEta({ ...res, runElapsedMs: 2001 }), { eta: 0, elapsed: 3 }, 'fio rounds the elapsed ms up before comparing with 3 s');
  t.like(jsonEta({ ...res, runElapsedMs: 3500 }), { eta: 0, elapsed: 4 });
  const j = formatJson({ ...res, runElapsedMs: 800 }).jobs[0];
  t.is(j?.eta, 2147483647, 'a sub-second run, as fio 3.33 prints it');
  t.is(j?.elapsed, 1);
});

test('per-job eta from bytes done vs total (size-bound read)', async (t) => {
  const { r, disk, clock } = held(['--rw=read', '--bs=1m', '--size=4m']);
  t.is(r.etaSec(), 0, 'not started, no runtime or rate: fio has nothing to go on');
  const done = r.run(undefined);
  clock.ns = 2e9;
  t.is(r.etaSec(), 0, 'nothing done yet and no runtime');
  disk.completeHeld(1); await settle(); // 1 MiB of 4 done after 2 s → 6 s left
  t.is(r.etaSec(), 6);
  clock.ns = 3e9;
  disk.completeHeld(1); await settle(); // half done after 3 s → 3 s left
  t.is(r.etaSec(), 3);
  await end({ r, disk }, done);
});

test('per-job eta: a write job that verifies counts its verify reads; time_based uses the runtime', async (t) => {
  const w = held(['--rw=write', '--bs=1m', '--size=4m', '--verify=crc32c']);
  const wDone = w.r.run(undefined);
  w.clock.ns = 2e9;
  w.disk.completeHeld(1); await settle();
  t.is(w.r.etaSec(), 14, '1 MiB of 8 (4 written + 4 verified) after 2 s');
  w.disk.completeHeld(1); await settle(); // 2 MiB of 8 after 2 s → 6 s left
  t.is(w.r.etaSec(), 6);
  await end(w, wDone);

  const tb = held(['--rw=randread', '--bs=4k', '--size=4m', '--time_based', '--runtime=10s']);
  t.is(tb.r.etaSec(), 10, 'not started: pessimistically the whole runtime');
  const tbDone = tb.r.run(undefined);
  tb.clock.ns = 4e9;
  tb.disk.completeHeld(1); await settle();
  t.is(tb.r.etaSec(), 6, 'elapsed 4 of 10 s');
  await end(tb, tbDone);
});

test('run eta: the longest running job plus pending stonewall groups; the progress line prints it', async (t) => {
  const a = held(['--rw=read', '--bs=1m', '--size=4m']);
  const b = held(['--rw=read', '--bs=4k', '--size=4m', '--runtime=20s', '--stonewall']);
  const all = [{ runner: a.r }, { runner: b.r }];
  const aDone = a.r.run(undefined);
  a.clock.ns = 2e9;
  a.disk.completeHeld(1); await settle();
  t.is(runEtaSec(all), 6 + 20);
  const line = progressReporter(all, () => a.clock.ns)();
  t.regex(line, /\[eta 00m:26s\]$/);
  await end(a, aDone);
});

test('read-only job with verify=crc32c on never-written (zeroed) data fails as fio does', async (t) => {
  const notes: string[] = [];
  const res = await runJobs([job(['--name=v', '--filename=z0', '--rw=read', '--bs=4k', '--size=1m', '--verify=crc32c'])],
    { host: fakeHost(new FakeDisk({ name: 'z0' })), onNote: (s) => notes.push(s) });
  t.is(res.exitCode, 1);
  const r = res.jobs[0];
  t.is(r?.error, 84, 'EILSEQ');
  t.is(r?.dirs[0].totalIos, 1, 'the job stops at the first bad block (fio: total=1,0,0,0)');
  t.true(notes.includes('verify: bad magic header 0, wanted acca at file z0 offset 0, length 4096 (requested block: offset=0, length=4096)'), notes.join('\n'));
  t.true(notes.some((n) => /^fio: pid=\d+, err=84\/file:io_u\.c, func=io_u_sync_complete, error=Invalid or incomplete multibyte or wide character$/.test(n)));
});

test('read-only verify job passes over blocks a verify write job left, and catches a corrupted one', async (t) => {
  const disk = new FakeDisk({ name: 'd0' });
  const host = fakeHost(disk);
  const w = await runJobs([job(['--name=w', '--filename=d0', '--rw=write', '--bs=4k', '--size=256k', '--verify=crc32c', '--do_verify=0'])], { host });
  t.is(w.exitCode, 0);
  const rd = (): Promise<Awaited<ReturnType<typeof runJobs>>> => runJobs([job(['--name=r', '--filename=d0', '--rw=randread', '--bs=4k', '--size=256k', '--verify=crc32c'])], { host });
  const ok = await rd();
  t.is(ok.exitCode, 0);
  t.is(ok.jobs[0]?.dirs[0].totalIos, 64);
  disk.bitRot.add(8192 + 100);
  const bad = await rd();
  t.is(bad.exitCode, 1);
  t.regex(bad.jobs[0]?.verifyFailures[0]?.message ?? '', /^crc32c: verify failed at file d0 offset 8192, length 4096/);
});
