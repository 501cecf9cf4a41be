// Running fio jobs against an in-test disk: I/O accounting, random map,
// repeatable seeds, batching, groups, verify catching bit-rot (with the
// offset), fio's JSON schema and text summary shape, CLI behaviour.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  runJobs, runFio, parseCommandLine, resolveAll, formatJson, formatNormal, parseJobFileText, resolveJob,
  type FioHost, type FioTarget, type JobOptions, type RunResult,
} from '../../host/tools/fio/index.ts';
import { FakeDisk, fakeHost } from '../../host/tools/fio/testing.ts';
import { BLK_STS, REQ_OP, type ReqOp } from '../../host/block/types.ts';

const JOBS_DIR = join(import.meta.dirname, '../../fixtures/jobs');

interface Rec { op: ReqOp; offset: number; len: number }

/** A host whose disk records every submitted I/O. */
function recordingHost(disk: FakeDisk, log: Rec[]): FioHost {
  return {
    open: (n) => {
      if (n !== disk.name) return undefined;
      const t = disk.open();
      const wrapped: FioTarget = {
        ...t,
        submit: (op, offset, buf, flags, cpu, cb) => {
          log.push({ op, offset, len: typeof buf === 'number' ? buf : buf.length });
          t.submit(op, offset, buf, flags, cpu, cb);
        },
      };
      return wrapped;
    },
    stat: () => disk.stat(),
  };
}

function jobs(argv: string[]): JobOptions[] {
  return resolveAll(parseCommandLine(argv), () => '', {});
}

function collect(): { out: string[]; stream: { write: (s: string) => boolean } } {
  const out: string[] = [];
  return { out, stream: { write: (s: string) => { out.push(s); return true; } } };
}

test('io_size-bound random read: every block exactly once (random map), right totals', async (t) => {
  const disk = new FakeDisk({ name: 'd0', capacityBytes: 8 << 20 });
  const log: Rec[] = [];
  const res = await runJobs(jobs(['--name=r', '--filename=d0', '--rw=randread', '--bs=4k', '--size=4m', '--iodepth=8']), { host: recordingHost(disk, log) });
  t.is(res.exitCode, 0);
  const r = res.jobs[0];
  t.is(r?.dirs[0].totalIos, 1024);
  t.is(r?.dirs[0].ioBytes, 4 << 20);
  t.is(r?.dirs[1].totalIos, 0);
  const offs = new Set(log.map((l) => l.offset));
  t.is(offs.size, 1024, 'no block twice before all are covered');
  t.true(log.every((l) => l.offset % 4096 === 0 && l.offset < 4 << 20 && l.op === REQ_OP.READ));
  t.not(log.map((l) => l.offset).join(','), [...offs].sort((a, b) => a - b).join(','), 'order is random');
});

test('randrepeat/randseed make runs repeatable; a different seed differs', async (t) => {
  const run = async (seed: string): Promise<string> => {
    const log: Rec[] = [];
    await runJobs(jobs(['--name=r', '--filename=d0', '--rw=randrw', '--bs=4k', '--size=1m', '--iodepth=1', `--randseed=${seed}`]), { host: recordingHost(new FakeDisk({ name: 'd0' }), log) });
    return log.map((l) => `${l.op}:${l.offset}`).join(',');
  };
  const a = await run('11');
  t.is(await run('11'), a);
  t.not(await run('12'), a);
});

test('iodepth is kept full and batches are submitted inside a plug', async (t) => {
  const disk = new FakeDisk({ name: 'd0', completion: 'immediate' });
  const res = await runJobs(jobs(['--name=b', '--filename=d0', '--rw=randread', '--size=2m', '--iodepth=16', '--iodepth_batch_submit=8', '--iodepth_batch_complete_min=8']), { host: fakeHost(disk) });
  const r = res.jobs[0];
  t.is(r?.dirs[0].totalIos, 512);
  t.true(disk.plugs > 0, 'batched submits are plugged');
  t.true((r?.depthDist[4] ?? 0) > 50, `most submissions at depth 9-16: ${r?.depthDist.join(',')}`);
  t.true((r?.submitDist[2] ?? 0) > 50, `submit batches of 5-8: ${r?.submitDist.join(',')}`);
});

test('sequential write with rw=write:4k leaves holes; bssplit picks the listed sizes', async (t) => {
  const log: Rec[] = [];
  await runJobs(jobs(['--name=s', '--filename=d0', '--rw=write:4k', '--bs=4k', '--size=64k']), { host: recordingHost(new FakeDisk({ name: 'd0' }), log) });
  t.deepEqual(log.map((l) => l.offset), [0, 8192, 16384, 24576, 32768, 40960, 49152, 57344]);
  const log2: Rec[] = [];
  await runJobs(jobs(['--name=m', '--filename=d0', '--rw=randread', '--bssplit=4k/50:64k/50', '--blockalign=4k', '--size=8m', '--io_size=1g', '--number_ios=2000', '--norandommap']), { host: recordingHost(new FakeDisk({ name: 'd0' }), log2) });
  const sizes = new Map<number, number>();
  for (const l of log2) sizes.set(l.len, (sizes.get(l.len) ?? 0) + 1);
  t.deepEqual([...sizes.keys()].sort((a, b) => a - b), [4096, 65536]);
  t.true((sizes.get(4096) ?? 0) > 800 && (sizes.get(65536) ?? 0) > 800, JSON.stringify([...sizes]));
  t.is(log2.length, 2000, 'number_ios bounds the job');
});

test('zipf concentrates I/O on few blocks', async (t) => {
  const log: Rec[] = [];
  await runJobs(jobs(['--name=z', '--filename=d0', '--rw=randread', '--size=16m', '--number_ios=5000', '--random_distribution=zipf:1.2']), { host: recordingHost(new FakeDisk({ name: 'd0' }), log) });
  const counts = new Map<number, number>();
  for (const l of log) counts.set(l.offset, (counts.get(l.offset) ?? 0) + 1);
  const sorted = [...counts.values()].sort((a, b) => b - a);
  const top = sorted.slice(0, Math.ceil(4096 / 10)).reduce((a, b) => a + b, 0);
  t.true(top / log.length > 0.6, `top 10% of blocks got ${(top / log.length) * 100}%`);
});

test('verify (crc32c, md5, sha256, pattern, backlog) passes on a good disk', async (t) => {
  for (const v of [['--verify=crc32c'], ['--verify=md5'], ['--verify=sha256', '--verify_pattern="abc"'], ['--verify=pattern', '--verify_pattern=0xdeadbeef'], ['--verify=md5', '--verify_backlog=16']]) {
    const res = await runJobs(jobs(['--name=v', '--filename=d0', '--rw=randwrite', '--bs=4k', '--size=512k', '--iodepth=4', ...v]), { host: fakeHost(new FakeDisk({ name: 'd0' })) });
    const r = res.jobs[0];
    t.is(res.exitCode, 0, v.join(' '));
    t.is(r?.dirs[1].totalIos, 128, v.join(' '));
    t.is(r?.dirs[0].totalIos, 128, `${v.join(' ')}: every written block read back once`);
    t.deepEqual(r?.verifyFailures, []);
  }
});

test('verify catches a bit-rot corruption, names the offset, verify_fatal stops and exits non-zero', async (t) => {
  const disk = new FakeDisk({ name: 'rot0' });
  const badOffset = 40960 + 1234; // inside the block at 40960
  disk.bitRot.add(badOffset);
  const notes: string[] = [];
  const res = await runJobs(jobs(['--name=v', '--filename=rot0', '--rw=write', '--bs=4k', '--size=1m', '--iodepth=1', '--verify=crc32c', '--verify_fatal=1']), { host: fakeHost(disk), onNote: (s) => notes.push(s) });
  const r = res.jobs[0];
  t.is(res.exitCode, 1);
  t.is(r?.error, 84);
  t.is(r?.verifyFailures.length, 1);
  t.is(r?.verifyFailures[0]?.offset, 40960);
  t.is(r?.verifyFailures[0]?.badByte, 1234);
  t.regex(r?.verifyFailures[0]?.message ?? '', /crc32c: verify failed at file rot0 offset 40960, length 4096/);
  t.regex(r?.verifyFailures[0]?.message ?? '', /first bad byte at offset 42194/);
  t.true((r?.dirs[0].totalIos ?? 0) < 256, 'verify_fatal stopped the verify phase early');
  t.true(notes.some((n) => n.includes('offset 40960')));
  const json = formatJson(res);
  t.is(json.jobs[0]?.error, 84);
  t.is(json.jobs[0]?.verify_errors?.[0]?.offset, 40960);
  t.regex(formatNormal(res), /err=84/);
});

test('without verify_fatal every block is still checked and every bad one reported', async (t) => {
  const disk = new FakeDisk({ name: 'rot1' });
  disk.bitRot.add(8192 + 100); // payload
  disk.bitRot.add(65536); // header (magic)
  const res = await runJobs(jobs(['--name=v', '--filename=rot1', '--rw=randwrite', '--bs=8k', '--size=256k', '--iodepth=8', '--verify=sha256']), { host: fakeHost(disk) });
  const r = res.jobs[0];
  t.is(res.exitCode, 1);
  t.is(r?.dirs[0].totalIos, 32);
  t.deepEqual(r?.verifyFailures.map((f) => f.offset).sort((a, b) => a - b), [8192, 65536]);
  t.true(r?.verifyFailures.some((f) => /bad magic header/.test(f.message)));
});

test('an I/O error ends the job with EIO and a non-zero exit', async (t) => {
  const disk = new FakeDisk({ name: 'e0' });
  disk.failAt = { n: 10, status: BLK_STS.IOERR };
  const res = await runJobs(jobs(['--name=e', '--filename=e0', '--rw=randread', '--size=1m', '--iodepth=4']), { host: fakeHost(disk) });
  t.is(res.exitCode, 1);
  t.is(res.jobs[0]?.error, 5);
  t.regex(res.jobs[0]?.errorMessage ?? '', /io_u error on file e0: I\/O error \(EIO\): read offset=\d+, buflen=4096/);
  t.true((res.jobs[0]?.dirs[0].totalIos ?? 0) < 256);
});

test('trim and fsync jobs: discards, flush every N writes and at the end', async (t) => {
  const disk = new FakeDisk({ name: 't0' });
  const res = await runJobs(jobs(['--filename=t0', '--name=tr', '--rw=randtrim', '--bs=64k', '--size=1m', '--iodepth=4',
    '--name=fs', '--stonewall', '--rw=write', '--bs=4k', '--size=256k', '--iodepth=8', '--fsync=16', '--end_fsync=1']), { host: fakeHost(disk) });
  t.is(res.exitCode, 0);
  t.is(res.jobs[0]?.dirs[2].totalIos, 16);
  t.is(res.jobs[1]?.dirs[1].totalIos, 64);
  t.is(res.jobs[1]?.sync.totalIos, 64 / 16 + 1);
  const st = disk.stat();
  t.is(st.discardIos, 16);
  t.is(st.flushIos, 5);
  const json = formatJson(res);
  t.is(json.jobs[0]?.trim.total_ios, 16);
  t.is(json.jobs[1]?.sync.total_ios, 5);
});

test('stonewall groups, numjobs clones and group_reporting', async (t) => {
  const disk = new FakeDisk({ name: 'nullb0', capacityBytes: 32 << 20 });
  const text = readFileSync(join(JOBS_DIR, 'numjobs-group.fio'), 'utf8') + readFileSync(join(JOBS_DIR, 'stonewall-groups.fio'), 'utf8').replace('[global]', '[global]\ngroup_reporting=0');
  const js = parseJobFileText(text, 'x.fio', {}).map(resolveJob);
  const res = await runJobs(js, { host: fakeHost(disk) });
  t.is(res.exitCode, 0);
  // numjobs-group: one group, reported as one job of 4 clones with 4 × 2 MiB.
  t.is(res.jobs[0]?.name, 'clones');
  t.is(res.jobs[0]?.jobs, 4);
  t.is(res.jobs[0]?.dirs[0].ioBytes, 8 << 20);
  // stonewall-groups: fill-lo/fill-hi run together in the first job's group (no stonewall), reads in the next.
  t.deepEqual(res.jobs.map((j) => [j.name, j.groupId]), [['clones', 0], ['fill-lo', 0], ['fill-hi', 0], ['read-lo', 1], ['read-hi', 1]]);
  t.is(res.groups.length, 2);
  t.is(res.groups[1]?.dirs[0].ioBytes, 16 << 20);
});

test('time_based runs until the runtime and stops (no timing asserted); io_size > size wraps', async (t) => {
  const log: Rec[] = [];
  const res = await runJobs(jobs(['--name=tb', '--filename=d0', '--rw=randread', '--size=1m', '--time_based', '--runtime=100ms', '--iodepth=4']), { host: recordingHost(new FakeDisk({ name: 'd0' }), log) });
  t.is(res.exitCode, 0);
  t.true((res.jobs[0]?.dirs[0].totalIos ?? 0) > 0);
  t.true(log.every((l) => l.offset < 1 << 20));
  const log2: Rec[] = [];
  const res2 = await runJobs(jobs(['--name=w', '--filename=d0', '--rw=read', '--size=64k', '--io_size=256k']), { host: recordingHost(new FakeDisk({ name: 'd0' }), log2) });
  t.is(res2.jobs[0]?.dirs[0].totalIos, 64);
  t.deepEqual(log2.slice(14, 18).map((l) => l.offset), [57344, 61440, 0, 4096], 'sequential wraps to the start of the region');
});

test('rate-limited and ramp jobs complete their io_size', async (t) => {
  const res = await runJobs(jobs(['--name=rl', '--filename=d0', '--rw=randwrite', '--size=256k', '--rate_iops=2000', '--iodepth=4',
    '--name=rb', '--filename=d0', '--rw=read', '--size=256k', '--rate=4m']), { host: fakeHost(new FakeDisk({ name: 'd0' })) });
  t.is(res.exitCode, 0);
  t.is(res.jobs[0]?.dirs[1].totalIos, 64);
  t.is(res.jobs[1]?.dirs[0].totalIos, 64);
});

const LAT_KEYS = ['min', 'max', 'mean', 'stddev', 'N'];
const DIR_KEYS = ['io_bytes', 'io_kbytes', 'bw_bytes', 'bw', 'iops', 'runtime', 'total_ios', 'short_ios', 'drop_ios', 'slat_ns', 'clat_ns', 'lat_ns',
  'bw_min', 'bw_max', 'bw_agg', 'bw_mean', 'bw_dev', 'bw_samples', 'iops_min', 'iops_max', 'iops_mean', 'iops_stddev', 'iops_samples'];
const JOB_KEYS = ['jobname', 'groupid', 'error', 'eta', 'elapsed', 'job options', 'read', 'write', 'trim', 'sync', 'job_runtime', 'usr_cpu', 'sys_cpu',
  'ctx', 'majf', 'minf', 'iodepth_level', 'iodepth_submit', 'iodepth_complete', 'latency_ns', 'latency_us', 'latency_ms', 'latency_depth',
  'latency_target', 'latency_percentile', 'latency_window'];

test("--output-format=json follows fio's schema field by field", async (t) => {
  const c = collect();
  const disk = new FakeDisk({ name: 'nullb0' });
  const code = await runFio(['--output-format=json', '--name=j', '--filename=nullb0', '--rw=randrw', '--bs=4k', '--size=1m', '--iodepth=8'], { host: fakeHost(disk), stdout: c.stream, stderr: c.stream });
  t.is(code, 0);
  const j = JSON.parse(c.out.join('')) as Record<string, unknown>;
  t.regex(String(j['fio version']), /^fio-3\.\d+/);
  for (const k of ['timestamp', 'timestamp_ms', 'time', 'jobs', 'disk_util']) t.true(k in j, k);
  const job = (j.jobs as Record<string, unknown>[])[0] ?? {};
  for (const k of JOB_KEYS) t.true(k in job, `jobs[].${k}`);
  t.is(job.jobname, 'j');
  t.is(job.groupid, 0);
  let total = 0;
  for (const dir of ['read', 'write', 'trim']) {
    const d = job[dir] as Record<string, unknown>;
    for (const k of DIR_KEYS) t.true(k in d, `${dir}.${k}`);
    for (const lat of ['slat_ns', 'clat_ns', 'lat_ns']) for (const k of LAT_KEYS) t.true(k in (d[lat] as object), `${dir}.${lat}.${k}`);
    t.is(d.io_kbytes, Math.floor((d.io_bytes as number) / 1024));
    if ((d.runtime as number) > 0) {
      t.is(d.bw_bytes, Math.floor((1000 * (d.io_bytes as number)) / (d.runtime as number)));
      t.is(d.bw, Math.floor((d.bw_bytes as number) / 1024));
      t.true(Math.abs((d.iops as number) - (1000 * (d.total_ios as number)) / (d.runtime as number)) < 1e-9);
    }
    total += d.total_ios as number;
  }
  t.is(total, 256);
  const read = job.read as Record<string, Record<string, unknown>>;
  const pct = read.clat_ns?.percentile as Record<string, number>;
  t.deepEqual(Object.keys(pct), ['1.000000', '5.000000', '10.000000', '20.000000', '30.000000', '40.000000', '50.000000', '60.000000', '70.000000',
    '80.000000', '90.000000', '95.000000', '99.000000', '99.500000', '99.900000', '99.950000', '99.990000']);
  const vals = Object.values(pct);
  t.true(vals.every((v, i) => i === 0 || v >= (vals[i - 1] ?? 0)), 'percentiles are monotonic');
  t.true((read.clat_ns?.min as number) <= (pct['1.000000'] ?? 0) * 1.02);
  t.is(read.clat_ns?.N, (job.read as Record<string, unknown>).total_ios);
  t.deepEqual(Object.keys(job.iodepth_level as object), ['1', '2', '4', '8', '16', '32', '>=64']);
  t.deepEqual(Object.keys(job.latency_ms as object).slice(-2), ['2000', '>=2000']);
  const du = (j.disk_util as Record<string, unknown>[])[0] ?? {};
  for (const k of ['name', 'read_ios', 'write_ios', 'read_merges', 'write_merges', 'read_ticks', 'write_ticks', 'in_queue', 'util']) t.true(k in du, `disk_util.${k}`);
  t.is(du.name, 'nullb0');
  t.is((du.read_ios as number) + (du.write_ios as number), 256);
});

test('normal output has fio\'s summary shape', async (t) => {
  const c = collect();
  const code = await runFio(['--name=n', '--filename=nullb0', '--rw=randread', '--bs=4k', '--size=1m', '--iodepth=4', '--ioengine=libaio'],
    { host: fakeHost(new FakeDisk({ name: 'nullb0' })), stdout: c.stream, stderr: c.stream });
  t.is(code, 0);
  const out = c.out.join('');
  t.regex(out, /^n: \(g=0\): rw=randread, bs=\(R\) 4096B-4096B, \(W\) 4096B-4096B, \(T\) 4096B-4096B, ioengine=nvmelab, iodepth=4$/m);
  t.regex(out, /^Starting 1 process$/m);
  t.regex(out, /^n: \(groupid=0, jobs=1\): err= 0: pid=\d+: \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/m);
  t.regex(out, /^ {2}read: IOPS=[\d.]+k?, BW=[\d.]+[KMG]?i?B\/s \([\d.]+[kMG]?B\/s\)\(1024KiB\/\d+msec\)$/m);
  t.regex(out, /^ {4}slat \((nsec|usec|msec)\): min=\d+, max=\d+, avg=[\d.]+, stdev=[\d.]+$/m);
  t.regex(out, /^ {4}clat \((nsec|usec|msec)\): min=\d+/m);
  t.regex(out, /^ {5}lat \((nsec|usec|msec)\): min=\d+/m);
  t.regex(out, /^ {4}clat percentiles \((nsec|usec|msec)\):\n {5}\| {2}1\.00th=\[ *\d+\], {2}5\.00th=\[ *\d+\], 10\.00th=\[ *\d+\], 20\.00th=\[ *\d+\],$/m);
  t.regex(out, /^ {5}\| 99\.99th=\[ *\d+\]$/m);
  t.regex(out, /^ {2}IO depths {4}: 1=[\d.]+%, 2=/m);
  t.regex(out, /^ {5}issued rwts: total=256,0,0,0 short=0,0,0,0 dropped=0,0,0,0$/m);
  t.regex(out, /^Run status group 0 \(all jobs\):\n {3}READ: bw=.+, io=1024KiB \(1049kB\), run=\d+-\d+msec$/m);
  t.regex(out, /^Disk stats \(read\/write\):\n {2}nullb0: ios=256\/0, sectors=2048\/0, merge=0\/0, ticks=\d+\/0, in_queue=\d+, util=[\d.]+%$/m);
  t.regex(out, /ioengine accepted and ignored/);
});

test('CLI: a missing disk, a bad option, --help and --cmdhelp', async (t) => {
  const host = fakeHost(new FakeDisk({ name: 'nullb0' }));
  let c = collect();
  t.is(await runFio(['--name=x', '--filename=nosuch', '--size=1m'], { host, stdout: c.stream, stderr: c.stream }), 1);
  t.deepEqual(c.out, ["fio: job 'x': filename=nosuch: no such disk\n"]);
  c = collect();
  t.is(await runFio(['--name=x', '--bs=4z'], { host, stdout: c.stream, stderr: c.stream }), 1);
  t.is(c.out.length, 1);
  t.regex(c.out[0] ?? '', /^fio: command line argument 2: bad value "4z" for option 'bs'/);
  c = collect();
  t.is(await runFio(['--help'], { host, stdout: c.stream }), 0);
  t.regex(c.out.join(''), /usage: fio/);
  c = collect();
  t.is(await runFio(['--cmdhelp=bs'], { host, stdout: c.stream }), 0);
  t.regex(c.out.join(''), /^bs: Block size/);
  c = collect();
  t.is(await runFio(['--name=x', '--filename=nullb0', '--size=1m', '--bs=3000'], { host, stdout: c.stream, stderr: c.stream }), 1);
  t.regex(c.out.join(''), /block size 3000 is not a multiple of nullb0's logical block size 512/);
});

test('all fixture job files run against a disk (time-bound ones shortened)', async (t) => {
  const { readdirSync } = await import('node:fs');
  for (const f of readdirSync(JOBS_DIR).filter((x) => x.endsWith('.fio'))) {
    const js = parseJobFileText(readFileSync(join(JOBS_DIR, f), 'utf8'), f, {}).map(resolveJob);
    const disks = [...new Set(js.map((j) => j.filename))].map((name) => new FakeDisk({ name, capacityBytes: 64 << 20, completion: 'inline' }));
    for (const j of js) {
      if (j.runtime > 0) { j.runtime = 50; j.rampTime = Math.min(j.rampTime, 20); }
    }
    const res: RunResult = await runJobs(js, { host: fakeHost(...disks) });
    t.is(res.exitCode, 0, f);
    t.true(res.jobs.every((j) => j.dirs.some((d) => d.totalIos > 0)), f);
  }
});

test('live progress line on a TTY (fio status shape), silent when not a TTY', async (t) => {
  const lines: string[] = [];
  // The disk holds completions until a progress line has been printed: the job is
  // certainly running when the status timer fires (event-driven, no sleeps).
  const disk = new FakeDisk({ name: 'nullb0', completion: 'manual' });
  const tty = {
    isTTY: true,
    write: (s: string) => {
      lines.push(s);
      if (s.startsWith('\rJobs:')) disk.release();
      return true;
    },
  };
  const code = await runFio(['--name=p', '--filename=nullb0', '--rw=randread', '--size=256k', '--iodepth=2'],
    { host: fakeHost(disk), stdout: tty, stderr: tty, progressIntervalMs: 5 });
  t.is(code, 0);
  const progress = lines.filter((l) => l.startsWith('\rJobs:'));
  t.true(progress.length > 0);
  t.regex(progress[0] ?? '', /^\rJobs: 1 \(f=1\): \[r\(1\)\]\[\d+\.\d%\]\[-\]\[- IOPS\]\[eta \d\dm:\d\ds\]$/);
  for (const p of progress) {
    t.regex(p, /^\rJobs: [01] \(f=[01]\): \[(r|_)\(1\)\]\[\d+\.\d%\]\[(r=[\d.]+[KMG]?i?B\/s|-)\]\[(r=[\d.]+k?|-) IOPS\]\[eta \d\dm:\d\ds\] *$/);
  }
  t.true(lines.some((l) => /^\r +\r$/.test(l)), 'the status line is erased before the summary');
  const plain = collect();
  const d2 = new FakeDisk({ name: 'nullb0' });
  await runFio(['--name=p', '--filename=nullb0', '--rw=randread', '--size=256k', '--iodepth=2'],
    { host: fakeHost(d2), stdout: plain.stream, stderr: plain.stream, progressIntervalMs: 1 });
  t.false(plain.out.some((l) => l.includes('Jobs:')));
});

test('loops repeat the job; startdelay and ramp_time (scripted clock) leave ramp I/O out of the stats', async (t) => {
  const log: Rec[] = [];
  const res = await runJobs(jobs(['--name=l', '--filename=d0', '--rw=read', '--size=64k', '--loops=3', '--startdelay=1ms']), { host: recordingHost(new FakeDisk({ name: 'd0' }), log) });
  t.is(res.jobs[0]?.dirs[0].totalIos, 48);
  t.is(log.length, 48);
  // Each clock read advances 1 ms: the 20 ms ramp covers the first few I/Os only.
  let clock = 0;
  const log2: Rec[] = [];
  const res2 = await runJobs(jobs(['--name=r', '--filename=d0', '--rw=randread', '--size=1m', '--ramp_time=20ms']),
    { host: recordingHost(new FakeDisk({ name: 'd0' }), log2), now: () => (clock += 1e6) });
  const measured = res2.jobs[0]?.dirs[0].totalIos ?? 0;
  t.is(log2.length, 256);
  t.true(measured > 0 && measured < 256, `measured ${measured} of 256`);
});
