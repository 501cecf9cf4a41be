// End to end: a device daemon with the bit-rot fixture (silent corruption:
// a flipped bit, status success), the CLI's one-shot embedded host attached
// to it, and fio's write-then-verify job (fixtures/jobs/verify-bitrot.fio:
// crc32c, verify_fatal=1, do_verify=1). The run names the corrupted block
// the way fio does ("crc32c: verify failed at file nvme0n1 offset N, length
// 4096" or "verify: bad … at file nvme0n1 offset N, …") and exits non-zero;
// the same job on a healthy device passes.
import test from 'ava';
import { spawn } from 'node:child_process';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevice } from '../helpers/daemon.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const JOB = 'fixtures/jobs/verify-bitrot.fio';
const REGION = 1 << 20;

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** `nvmelab --device URL fio ARGS…` as a process (the CLI's one-shot embedded host). */
function nvmelab(args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'host/cli/index.ts', ...args], {
      cwd: ROOT, env: { ...process.env, NVMELAB_HOST_STATE: '/nonexistent/nvmelab-host.json' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    p.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      rej(new Error(`nvmelab ${args.join(' ')} timed out\n${out}\n${err}`));
    }, timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(timer);
      res({ code, out, err });
    });
  });
}

test('bit-rot: verify names the corrupted offset and verify_fatal exits non-zero', async (t) => {
  const dev = await startDevice({ args: ['--fixture', 'bit-rot'] });
  t.teardown(() => dev.stop());
  const r = await nvmelab(['--device', dev.url, 'fio', JOB]);
  const all = `${r.out}\n${r.err}`;
  t.not(r.code, 0, all);
  t.is(r.code, 1, 'fio exits 1 when a job has an error');
  // fio's log_verify_failure line: what failed, the file, the block's offset and length.
  const m = /^(crc32c: verify failed|verify: bad [^\n]*?) at file nvme0n1 offset (\d+), length 4096 \(requested block: offset=(\d+), length=4096\)$/m.exec(r.err);
  t.truthy(m, r.err);
  const off = Number(m?.[2]);
  t.true(off % 4096 === 0 && off < REGION, `offset ${off} is a 4 KiB block of the 1 MiB region`);
  t.is(Number(m?.[3]), off);
  if (m?.[1] === 'crc32c: verify failed') {
    t.regex(r.err, /^ {7}Expected CRC: [0-9a-f]{8}\n {7}Received CRC: [0-9a-f]{8}$/m);
  }
  t.regex(r.err, /^ {7}first bad byte at offset \d+ \(block \+\d+\): wanted 0x[0-9a-f]{2}, got 0x[0-9a-f]{2}$/m);
  t.regex(r.err, /err=84\/file:io_u\.c, func=io_u_sync_complete/);
  // The summary: the job's err=84 and the same offset; verify_fatal stopped after the first bad block.
  t.regex(r.out, /^write-then-verify: \(groupid=0, jobs=1\): err=84: /m);
  t.regex(r.out, new RegExp(`^ {2}error {8}: verify failed at offset ${off}$`, 'm'));
  t.is(r.err.match(/ at file nvme0n1 offset /g)?.length, 1, 'verify_fatal: stops at the first bad block');
  const faults = dev.stderr();
  t.notRegex(faults, /"level":(50|60)/, 'the device logged no errors');
});

test('bit-rot job on a healthy device: verify passes, exit 0 (JSON: no verify errors)', async (t) => {
  const dev = await startDevice();
  t.teardown(() => dev.stop());
  const r = await nvmelab(['--device', dev.url, 'fio', '--output-format=json', JOB]);
  t.is(r.code, 0, `${r.out}\n${r.err}`);
  const j = JSON.parse(r.out) as { jobs: { jobname: string; error: number; read: { io_bytes: number }; write: { io_bytes: number }; verify_errors?: unknown[] }[] };
  const job = j.jobs[0];
  t.is(job?.jobname, 'write-then-verify');
  t.is(job?.error, 0);
  t.is(job?.write.io_bytes, REGION);
  t.is(job?.read.io_bytes, REGION, 'every written block was read back and verified');
  t.is(job?.verify_errors, undefined);
  t.notRegex(r.err, /verify failed|bad magic/);
});
