// fio job parsing: job files (sections in order, [global] scoping, comments,
// flags, suffixes) and the equivalent command line; every malformed or
// unsupported line is answered with an error naming the option and line.
import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  FioConfigError, parseCommandLine, parseJobFileText, parseSize, resolveAll, resolveJob, optionsHelp, OPTIONS,
  type JobOptions,
} from '../../host/tools/fio/index.ts';

const JOBS_DIR = join(import.meta.dirname, '../../fixtures/jobs');

function parseText(text: string, env: Record<string, string> = {}): JobOptions[] {
  return parseJobFileText(text, 'test.fio', env).map(resolveJob);
}

function parseArgs(argv: string[]): JobOptions[] {
  return resolveAll(parseCommandLine(argv), () => { throw new Error('no files'); }, {});
}

test('every job file in fixtures/jobs parses and has jobs with a filename', (t) => {
  const files = readdirSync(JOBS_DIR).filter((f) => f.endsWith('.fio'));
  t.true(files.length >= 12, `expected a dozen job files, found ${files.length}`);
  for (const f of files) {
    const jobs = parseJobFileText(readFileSync(join(JOBS_DIR, f), 'utf8'), f, {}).map(resolveJob);
    t.true(jobs.length >= 1, f);
    for (const j of jobs) t.true(j.filename === 'nullb0' || j.filename === 'nvme0n1', `${f}: ${j.name}: ${j.filename}`);
  }
});

test('[global] applies only to jobs below it, duplicates kept in order', (t) => {
  const jobs = parseText(`
; comment
# another
[a]
rw=read
[global]
bs=8k
iodepth=4
[b]
rw=write
[a]
rw=randread
[global]
iodepth=2
[c]
`);
  t.deepEqual(jobs.map((j) => j.name), ['a', 'b', 'a', 'c']);
  t.is(jobs[0]?.bs[0], 4096, 'job above [global] keeps the default');
  t.is(jobs[1]?.bs[1], 8192);
  t.is(jobs[1]?.iodepth, 4);
  t.is(jobs[2]?.rw, 'randread');
  t.is(jobs[3]?.iodepth, 2, 'second [global] accumulates');
  t.is(jobs[3]?.bs[0], 8192);
});

test('bare flags, name=, env expansion, rw suffix, /dev/ prefix', (t) => {
  const [j] = parseText(`[sec]
name=renamed
filename=/dev/\${DISK}
rw=randread:8
time_based
runtime=3
group_reporting
`, { DISK: 'nullb3' });
  t.is(j?.name, 'renamed');
  t.is(j?.filename, 'nullb3');
  t.is(j?.rw, 'randread');
  t.is(j?.rwSuffix, 8);
  t.true(j?.timeBased);
  t.is(j?.runtime, 3000);
  t.true(j?.groupReporting);
});

test("fio's size suffixes with kb_base=1024 (and kb_base=1000)", (t) => {
  t.is(parseSize('bs', '4k', 1024), 4096);
  t.is(parseSize('bs', '4K', 1024), 4096);
  t.is(parseSize('bs', '1m', 1024), 1048576);
  t.is(parseSize('bs', '1M', 1024), 1048576);
  t.is(parseSize('bs', '1mb', 1024), 1048576);
  t.is(parseSize('bs', '2g', 1024), 2 * 1024 ** 3);
  t.is(parseSize('bs', '0x1000', 1024), 4096);
  t.is(parseSize('bs', '512', 1024), 512);
  // "opposite units" compatibility: with kb_base=1024 the IEC spelling means 1000.
  t.is(parseSize('bs', '4KiB', 1024), 4000);
  t.is(parseSize('bs', '4k', 1000), 4000);
  t.is(parseSize('bs', '4KiB', 1000), 4096);
  const [j] = parseText('[x]\nkb_base=1000\nsize=1m\n');
  t.deepEqual(j?.size, { bytes: 1_000_000 });
});

test('per-direction values: bs=r,w,t rules', (t) => {
  const bs = (v: string): number[] => parseText(`[x]\nbs=${v}\n`)[0]?.bs ?? [];
  t.deepEqual(bs('256k'), [262144, 262144, 262144]);
  t.deepEqual(bs('8k,32k'), [8192, 32768, 32768]);
  t.deepEqual(bs('8k,32k,'), [8192, 32768, 4096]);
  t.deepEqual(bs(',8k'), [4096, 8192, 8192]);
  const [j] = parseText('[x]\nrate=1m,500k\nrate_iops=,100\n');
  t.deepEqual(j?.rate, [1048576, 512000, 512000]);
  t.deepEqual(j?.rateIops, [0, 100, 100]);
});

test('bssplit, bsrange, percent sizes, distributions, verify_pattern', (t) => {
  const [j] = parseText(`[x]
bssplit=4k/50:16k/:64k/,8k
bsrange=1k-4k
size=50%
offset=10%
random_distribution=zipf:1.2
verify=crc32c-intel
verify_pattern=0xdeadbeef
`);
  t.deepEqual(j?.bssplit?.[0], [{ bs: 4096, perc: 50 }, { bs: 16384, perc: 25 }, { bs: 65536, perc: 25 }]);
  t.deepEqual(j?.bssplit?.[1], [{ bs: 8192, perc: 100 }]);
  t.deepEqual(j?.bsrange?.[0], [1024, 4096]);
  t.deepEqual(j?.size, { percent: 50 });
  t.deepEqual(j?.offset, { percent: 10 });
  t.deepEqual(j?.randomDistribution, { kind: 'zipf', param: 1.2 });
  t.is(j?.verify, 'crc32c');
  t.deepEqual([...(j?.verifyPattern ?? [])], [0xde, 0xad, 0xbe, 0xef]);
});

test('iodepth batch fix-ups follow fio (0 or > iodepth → iodepth; complete_max ≥ min)', (t) => {
  const [a] = parseText('[x]\niodepth=16\niodepth_batch=0\niodepth_batch_complete=4\n');
  t.is(a?.iodepthBatchSubmit, 16);
  t.is(a?.iodepthBatchCompleteMin, 4);
  t.is(a?.iodepthBatchCompleteMax, 4);
  const [b] = parseText('[x]\niodepth=8\niodepth_batch_submit=32\niodepth_batch_complete_min=2\niodepth_batch_complete_max=6\n');
  t.is(b?.iodepthBatchSubmit, 8);
  t.is(b?.iodepthBatchCompleteMax, 6);
});

test('ioengine/direct are accepted and noted as ignored', (t) => {
  const [j] = parseText('[x]\nioengine=libaio\ndirect=1\n');
  t.deepEqual(j?.ignored, ['ioengine', 'direct']);
});

// Each case: job file text, expected option named, expected line, message fragment.
const BAD: [string, string, string, number, RegExp][] = [
  ['unknown option', '[x]\nrw=read\nfoo=bar\n', 'foo', 3, /unknown option 'foo'/],
  ['unsupported fio option', '[x]\ndirectory=/tmp\n', 'directory', 2, /does not support/],
  ['include', '[x]\ninclude other.fio\n', 'include', 2, /does not support/],
  ['option outside a section', 'bs=4k\n[x]\n', 'bs', 1, /outside of any \[section\]/],
  ['malformed section', '[x\nbs=4k\n', '', 1, /malformed section header/],
  ['bad rw', '[x]\nrw=readsome\n', 'rw', 2, /bad value "readsome" for option 'rw'/],
  ['bad size suffix', '[x]\nbs=4q\n', 'bs', 2, /unknown size suffix/],
  ['bad number', '[x]\niodepth=deep\n', 'iodepth', 2, /expected an integer/],
  ['iodepth 0', '[x]\niodepth=0\n', 'iodepth', 2, /must be >= 1/],
  ['rwmixread > 100', '[x]\nrwmixread=150\n', 'rwmixread', 2, /must be <= 100/],
  ['bad bool', '[x]\ntime_based=maybe\n', 'time_based', 2, /expected 0 or 1/],
  ['missing value', '[x]\nbs=\n', 'bs', 2, /needs a value/],
  ['bad time', '[x]\nruntime=soon\n', 'runtime', 2, /expected a time/],
  ['zipf theta 1', '[x]\nrandom_distribution=zipf:1\n', 'random_distribution', 2, /zipf θ must be > 0 and != 1/],
  ['pareto out of range', '[x]\nrandom_distribution=pareto:2\n', 'random_distribution', 2, /pareto h must be in/],
  ['unknown distribution', '[x]\nrandom_distribution=zoned:50/50\n', 'random_distribution', 2, /supported: random/],
  ['bad verify', '[x]\nverify=crc64\n', 'verify', 2, /supported: crc32c/],
  ['bssplit over 100', '[x]\nbssplit=4k/80:8k/40\n', 'bssplit', 2, /add up to 120/],
  ['bsrange reversed', '[x]\nbsrange=8k-4k\n', 'bsrange', 2, /lo <= hi/],
  ['bad percent', '[x]\nsize=150%\n', 'size', 2, /percentage must be/],
  ['bad pattern', '[x]\nverify_pattern=zz\n', 'verify_pattern', 2, /expected 0xHEX/],
  ['verify with trim', '[x]\nrw=trim\nverify=md5\n', 'verify', 3, /cannot be used with rw=trim/],
  ['pattern without verify_pattern', '[x]\nverify=pattern\n', 'verify', 2, /needs verify_pattern/],
  ['time_based without runtime', '[x]\ntime_based\n', 'time_based', 2, /needs runtime/],
  ['backlog without verify', '[x]\nverify_backlog=8\n', 'verify_backlog', 2, /needs verify=/],
  ['unset env var', '[x]\nfilename=${NOPE}\n', '', 2, /NOPE\} is not set/],
  ['bad kb_base', '[x]\nkb_base=512\n', 'kb_base', 2, /must be 1000 or 1024/],
];

for (const [title, text, option, line, re] of BAD) {
  test(`malformed: ${title}`, (t) => {
    const e = t.throws(() => parseText(text), { instanceOf: FioConfigError });
    t.is(e?.option, option);
    t.is(e?.source?.line, line);
    t.is(e?.source?.file, 'test.fio');
    t.regex(e?.message ?? '', re);
    t.regex(e?.message ?? '', new RegExp(`^test\\.fio:${line}: `));
  });
}

test('command line: options before --name are global, --name starts a job', (t) => {
  const jobs = parseArgs(['--filename=nullb0', '--bs=8k', '--name=a', '--rw=randread', '--iodepth', '4', '--name=b', '--rw=write', '--time_based', '--runtime=2']);
  t.deepEqual(jobs.map((j) => j.name), ['a', 'b']);
  t.is(jobs[0]?.filename, 'nullb0');
  t.is(jobs[0]?.bs[0], 8192);
  t.is(jobs[0]?.iodepth, 4, '"--iodepth 4" takes the next argument');
  t.is(jobs[1]?.iodepth, 1);
  t.true(jobs[1]?.timeBased);
});

test('command line and job file give the same jobs', (t) => {
  const file = `[global]
filename=nullb0
bs=4k,16k
iodepth=16
[mix]
rw=randrw
rwmixread=70
size=16m
io_size=8m
random_distribution=pareto:0.9
verify=md5
verify_backlog=32
[seq]
stonewall
rw=write:4k
numjobs=2
group_reporting
`;
  const fromFile = parseText(file);
  const fromCli = parseArgs(['--filename=nullb0', '--bs=4k,16k', '--iodepth=16',
    '--name=mix', '--rw=randrw', '--rwmixread=70', '--size=16m', '--io_size=8m', '--random_distribution=pareto:0.9', '--verify=md5', '--verify_backlog=32',
    '--name=seq', '--stonewall', '--rw=write:4k', '--numjobs=2', '--group_reporting']);
  // The echo of the options as written differs as in fio (a command-line job lists its --name).
  const resolved = (js: typeof fromFile): unknown[] => js.map(({ jobOptions: _j, globalOptions: _g, ...rest }) => rest);
  t.deepEqual(resolved(fromCli), resolved(fromFile));
});

test('command line errors name the argument', (t) => {
  const e = t.throws(() => parseArgs(['--name=x', '--bogus=1']), { instanceOf: FioConfigError });
  t.is(e?.option, 'bogus');
  t.regex(e?.message ?? '', /command line argument 2: unknown option 'bogus'/);
  const e2 = t.throws(() => parseCommandLine(['--output-format=xml']), { instanceOf: FioConfigError });
  t.regex(e2?.message ?? '', /--output-format/);
  const e3 = t.throws(() => parseArgs(['--name=x', '--rw']), { instanceOf: FioConfigError });
  t.regex(e3?.message ?? '', /option 'rw' needs a value/);
});

test('command-line globals also apply to job files; --section selects', (t) => {
  const cmd = parseCommandLine(['--iodepth=7', '--section=b', 'jobs.fio']);
  const jobs = resolveAll(cmd, () => '[a]\nrw=read\n[b]\nrw=write\n', {});
  t.deepEqual(jobs.map((j) => j.name), ['b']);
  t.is(jobs[0]?.iodepth, 7);
});

test('the option table documents every option with a default', (t) => {
  const help = optionsHelp();
  for (const o of OPTIONS) {
    t.true(help.includes(`  ${o.name} `), o.name);
    t.true(o.def.length > 0 && o.help.length > 0, o.name);
  }
});
