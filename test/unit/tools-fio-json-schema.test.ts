// --output-format=json against real fio's output, recursively. The reference
// (fixtures/jobs/fio-3.33-reference.json) was produced by Debian's fio 3.33
// running REF_JOB below on a file with ioengine=libaio; its filename and disk
// name were then changed to nullb0. Our output must have every key fio has, at
// every level, with the same JSON type; keys fio does not print are allowed
// only where listed (newer fio versions add them). "global options" and
// "job options" must echo the options as written, split the way fio splits them.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runFio } from '../../host/tools/fio/index.ts';
import { FakeDisk, fakeHost } from '../../host/tools/fio/testing.ts';

const REF = JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/jobs/fio-3.33-reference.json'), 'utf8')) as Record<string, unknown>;

const REF_JOB = `; reference for the JSON schema test
[global]
bs=4k
iodepth=8
ioengine=libaio
size=16m

[mix]
filename=nullb0
rw=randrw
rwmixread=70
number_ios=2000
`;

/** Keys we print that fio 3.33 does not (fio 3.36 prints the sector counts). */
const ALLOWED_EXTRA = new Set(['.disk_util[].read_sectors', '.disk_util[].write_sectors']);

function diff(ref: unknown, ours: unknown, path: string, out: string[]): void {
  const kind = (v: unknown): string => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);
  if (kind(ref) !== kind(ours)) {
    out.push(`${path}: fio has ${kind(ref)}, we have ${kind(ours)}`);
    return;
  }
  if (Array.isArray(ref) && Array.isArray(ours)) {
    if (ref.length > 0 && ours.length === 0) out.push(`${path}: empty array`);
    else if (ref.length > 0) diff(ref[0], ours[0], `${path}[]`, out);
    return;
  }
  if (kind(ref) !== 'object') return;
  const r = ref as Record<string, unknown>;
  const o = ours as Record<string, unknown>;
  // Percentile keys depend on percentile_list, bins on the samples: compared elsewhere.
  if (path.endsWith('.percentile') || path.endsWith('.bins')) return;
  for (const k of Object.keys(r)) {
    if (!(k in o)) out.push(`${path}.${k}: missing`);
    else diff(r[k], o[k], `${path}.${k}`, out);
  }
  for (const k of Object.keys(o)) if (!(k in r) && !ALLOWED_EXTRA.has(`${path}.${k}`)) out.push(`${path}.${k}: not in fio's output`);
}

async function ours(argv: string[], files: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const out: string[] = [];
  const stream = { write: (s: string): boolean => { out.push(s); return true; } };
  const code = await runFio(['--output-format=json', ...argv], {
    host: fakeHost(new FakeDisk({ name: 'nullb0', capacityBytes: 32 << 20 })), stdout: stream, stderr: { write: () => true },
    readFile: (p: string) => { const t = files[p]; if (t === undefined) throw new Error(`no ${p}`); return t; },
  });
  if (code !== 0) throw new Error(`runFio exited ${code}`);
  return JSON.parse(out.join('')) as Record<string, unknown>;
}

test("a job file's JSON has fio 3.33's keys at every level, with fio's types", async (t) => {
  const j = await ours(['ref.fio'], { 'ref.fio': REF_JOB });
  const problems: string[] = [];
  // The reference's run-specific values (fio version, times) differ; keys and types must not.
  diff(REF, j, '', problems);
  t.deepEqual(problems, []);
});

test('"global options" and "job options" echo the options as written, split as fio splits them', async (t) => {
  const j = await ours(['ref.fio'], { 'ref.fio': REF_JOB });
  const refJob = (REF.jobs as Record<string, unknown>[])[0] ?? {};
  const job = (j.jobs as Record<string, unknown>[])[0] ?? {};
  t.deepEqual(j['global options'], REF['global options']);
  t.deepEqual(job['job options'], refJob['job options']);
});

test('command-line job: canonical option names, raw values, valueless flags left out, no "global options"', async (t) => {
  // Real fio 3.33 for: --name=j --blocksize=4k --readwrite=randread --size=1m --time_based --runtime=100ms --group_reporting
  // prints job options {name, filename, bs: "4k", rw: "randread", size: "1m", runtime: "100ms"} and no "global options".
  const j = await ours(['--name=j', '--filename=nullb0', '--blocksize=4k', '--readwrite=randread', '--size=1m', '--number_ios=64', '--group_reporting']);
  t.false('global options' in j);
  const job = (j.jobs as Record<string, unknown>[])[0] ?? {};
  t.deepEqual(job['job options'], { name: 'j', filename: 'nullb0', bs: '4k', rw: 'randread', size: '1m', number_ios: '64' });
});

test('command-line options before the first --name are "global options", as in fio', async (t) => {
  const j = await ours(['--iodepth=2', 'g.fio'], { 'g.fio': '[global]\nbs=4k\n[a]\nfilename=nullb0\nsize=1m\n' });
  t.deepEqual(j['global options'], { iodepth: '2', bs: '4k' });
  const job = (j.jobs as Record<string, unknown>[])[0] ?? {};
  t.deepEqual(job['job options'], { filename: 'nullb0', size: '1m' });
});

test('normal output: header, a blank line, then the job report, as real fio prints when not on a terminal', async (t) => {
  const out: string[] = [];
  const stream = { write: (s: string): boolean => { out.push(s); return true; } };
  const code = await runFio(['--name=j', '--filename=nullb0', '--rw=randread', '--size=64k'], {
    host: fakeHost(new FakeDisk({ name: 'nullb0' })), stdout: stream, stderr: { write: () => true },
  });
  t.is(code, 0);
  const lines = out.join('').split('\n');
  const i = lines.indexOf('Starting 1 process');
  t.true(i > 0);
  t.is(lines[i + 1], '');
  t.regex(lines[i + 2] ?? '', /^j: \(groupid=0, jobs=1\): err= 0: pid=\d+: /);
});
