// Fuzz the fio job-file and command-line boundary: seeded mutations of every
// fixtures/jobs/*.fio (lines dropped, duplicated, garbled; random values for
// known options) and random command lines. Each one either parses and runs
// cleanly against a fake disk (I/O bounded) or fails with a FioConfigError:
// one line that names the option and the file:line / argument. Never another
// exception, never a hang.
import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  FioConfigError, FioRunError, OPTIONS, parseCommandLine, parseJobFileText, resolveAll, resolveJob, runJobs, runFio,
  type JobOptions,
} from '../../host/tools/fio/index.ts';
import { FakeDisk, fakeHost } from '../../host/tools/fio/testing.ts';
import { Mulberry32 } from '../../src/util/prng.ts';

const JOBS_DIR = join(import.meta.dirname, '../../fixtures/jobs');
const FILES = readdirSync(JOBS_DIR).filter((f) => f.endsWith('.fio')).sort();

const VALUES = [
  '', '0', '1', '-1', '4k', '4K', '1m', '7', '513', '3g', '1t', '99999999999999999999', '0x10', 'abc', '%', '50%', '150%', '1.5',
  '4k-1', '4k,8k', '4k,,', ',', ':', '4k/50:8k/50', '4k/120', '/', 'read', 'randrw:7', 'randrw:-1', 'zipf:1.2', 'zipf:0', 'pareto:x',
  'crc32c', 'md5', 'sha256', 'nope', '0xdeadbeef', '0x', '1,2,3', '1us', '10s', '1h', '-5s', 'yes', 'true', 'off', '${NOPE}', '$x',
  '\u00e9\u00e9', 'a'.repeat(300),
];

function randomValue(r: Mulberry32): string {
  return r.below(3) === 0 ? String(r.nextU32() % (1 << (1 + r.below(31)))) + ['', 'k', 'm', 'g', '%', 's', 'ms', 'x'][r.below(8)] : (VALUES[r.below(VALUES.length)] ?? '');
}

function garble(r: Mulberry32, line: string): string {
  const chars = [...line];
  switch (r.below(5)) {
    case 0: return chars.slice(0, r.below(chars.length + 1)).join('');
    case 1: return line.replace('=', ['==', ' = ', '', '=\u0000', ':'][r.below(5)] ?? '');
    case 2: chars.splice(r.below(chars.length + 1), 0, String.fromCharCode(r.below(128))); return chars.join('');
    case 3: return `[${line}`;
    default: return line.toUpperCase();
  }
}

function mutate(r: Mulberry32, text: string): string {
  const lines = text.split('\n');
  const n = 1 + r.below(4);
  for (let k = 0; k < n; k++) {
    const i = r.below(lines.length);
    const line = lines[i] ?? '';
    switch (r.below(6)) {
      case 0: lines.splice(i, 1); break;
      case 1: lines.splice(i, 0, line); break;
      case 2: lines[i] = garble(r, line); break;
      case 3: {
        const o = OPTIONS[r.below(OPTIONS.length)];
        if (o !== undefined) lines.splice(i, 0, r.below(6) === 0 ? o.name : `${o.name}=${randomValue(r)}`);
        break;
      }
      case 4: if (line.includes('=')) lines[i] = `${line.slice(0, line.indexOf('='))}=${randomValue(r)}`; break;
      default: lines.splice(i, 0, ['[x]', '[global]', '[]', '[a b]', 'nosuchoption=1', '=4k', '  ; comment', 'include other.fio'][r.below(8)] ?? '');
    }
  }
  return lines.join('\n');
}

/** Keep a run short whatever the mutation asked for. */
function bound(j: JobOptions): JobOptions {
  return { ...j, ioSize: Math.min(j.ioSize ?? 256 << 10, 256 << 10), size: j.size, runtime: Math.min(j.runtime === 0 ? 300 : j.runtime, 300), timeBased: false,
    rampTime: 0, startdelay: 0, loops: 1, numjobs: Math.min(j.numjobs, 2), rate: { ...j.rate }, rateIops: { ...j.rateIops } };
}

function checkConfigError(t: { fail: (m: string) => void; true: (b: boolean, m?: string) => void }, e: unknown, ctx: string): void {
  if (e instanceof FioConfigError) {
    t.true(!e.message.includes('\n'), `one line: ${JSON.stringify(e.message)} (${ctx})`);
    t.true(e.source !== undefined || e.message.length > 0, ctx);
    return;
  }
  if (e instanceof FioRunError) return;
  t.fail(`${ctx}: threw ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
}

const disks = () => fakeHost(new FakeDisk({ name: 'nullb0', capacityBytes: 16 << 20 }), new FakeDisk({ name: 'nvme0n1', capacityBytes: 16 << 20, logicalBlockSize: 512 }));

test('mutated fixtures/jobs files: a clean run or a one-line FioConfigError naming file:line', async (t) => {
  const r = new Mulberry32(0xf10);
  let ran = 0;
  let refused = 0;
  for (let round = 0; round < 8; round++) {
    for (const f of FILES) {
      const text = mutate(r, readFileSync(join(JOBS_DIR, f), 'utf8'));
      const ctx = `${f} round ${round}:\n${text}`;
      let jobs: JobOptions[];
      try {
        jobs = parseJobFileText(text, f, {}).map(resolveJob);
      } catch (e) {
        checkConfigError(t, e, ctx);
        if (e instanceof FioConfigError && e.source !== undefined) t.regex(e.message, new RegExp(`^${f.replace('.', '\\.')}:\\d+: `), ctx);
        refused++;
        continue;
      }
      try {
        const res = await runJobs(jobs.map(bound), { host: disks() });
        t.true(Number.isInteger(res.exitCode), ctx);
        ran++;
      } catch (e) {
        checkConfigError(t, e, ctx);
        refused++;
      }
    }
  }
  t.true(ran > 10 && refused > 10, `ran ${ran}, refused ${refused}`);
  t.log(`ran ${ran}, refused ${refused}`);
});

test('random command lines through runFio: exit code + one-line stderr, never a stack trace', async (t) => {
  const r = new Mulberry32(0xc11);
  for (let i = 0; i < 150; i++) {
    const argv: string[] = ['--name=j', `--filename=${['nullb0', 'nvme0n1', 'nope', ''][r.below(4)] ?? ''}`, '--io_size=64k', '--runtime=200ms'];
    const n = 1 + r.below(4);
    for (let k = 0; k < n; k++) {
      const o = OPTIONS[r.below(OPTIONS.length)];
      if (o === undefined || ['io_size', 'runtime', 'time_based', 'ramp_time', 'startdelay', 'loops', 'numjobs', 'size', 'rate', 'rate_iops', 'thinktime'].includes(o.name)) continue;
      argv.push(r.below(8) === 0 ? `--${o.name}` : `--${o.name}=${randomValue(r)}`);
    }
    if (r.below(10) === 0) argv.push(['--', '-x', '--=', '---name=x', 'nonexistent.fio'][r.below(5)] ?? '');
    let out = '';
    let err = '';
    let code: number;
    try {
      code = await runFio(argv, { host: disks(), stdout: { write: (s: string) => { out += s; return true; } }, stderr: { write: (s: string) => { err += s; return true; } }, env: {} });
    } catch (e) {
      t.fail(`${argv.join(' ')}: threw ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      continue;
    }
    t.true(Number.isInteger(code), argv.join(' '));
    t.notRegex(err, /\n\s+at /, `no stack trace: ${argv.join(' ')}\n${err}`);
    if (code !== 0 && out === '') t.true(err.trim().length > 0, `a failing run says why: ${argv.join(' ')}`);
  }
});

test('command-line parse errors name the argument', (t) => {
  const r = new Mulberry32(0xa55);
  for (let i = 0; i < 300; i++) {
    const o = OPTIONS[r.below(OPTIONS.length)];
    if (o === undefined) continue;
    const argv = ['--name=j', '--filename=nullb0', `--${o.name}=${randomValue(r)}`];
    try {
      resolveAll(parseCommandLine(argv), () => '', {});
    } catch (e) {
      checkConfigError(t, e, argv.join(' '));
      if (e instanceof FioConfigError && e.source !== undefined) t.regex(e.message, /^command line argument \d+: /, argv.join(' '));
    }
  }
  t.pass();
});
