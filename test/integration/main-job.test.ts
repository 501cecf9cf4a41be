// The README's main-job command, exactly as written: `npm start`. It must
// start a device daemon and a host, run a verified fio-style job on an NVMe
// namespace over the wire and on an rnull disk, print both side by side,
// shut down cleanly and exit 0.
import test from 'ava';
import { spawn } from 'node:child_process';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    const p = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, NVMELAB_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8');
    p.stderr.setEncoding('utf8');
    p.stdout.on('data', (s: string) => (out += s));
    p.stderr.on('data', (s: string) => (err += s));
    const killer = setTimeout(() => p.kill('SIGKILL'), 100_000);
    p.on('exit', (code) => {
      clearTimeout(killer);
      res({ code, out, err });
    });
  });
}

test('npm start: the main job runs both disks with verify and exits 0', async (t) => {
  const r = await run('npm', ['start']);
  t.is(r.code, 0, `${r.out}\n${r.err}`);
  t.regex(r.out, /device\s+daemon pid \d+ listening ws:\/\/127\.0\.0\.1:\d+\//);
  t.regex(r.out, /host\s+nvme0: nvme0n1 \(\d+ MiB, \d+ B blocks\) — rnvme over the wire/);
  t.regex(r.out, /host\s+nullb0 \(1024 MiB/);
  t.regex(r.out, /fio\s+nvme0n1: running… done \([\d,]+ I\/Os, verify OK\)/);
  t.regex(r.out, /fio\s+nullb0: running… done \([\d,]+ I\/Os, verify OK\)/);
  // Side by side: one header with both disks, fio's metrics as rows.
  t.regex(r.out, /^\s+nvme0n1 \(rnvme, over ws\)\s+nullb0 \(rnull, in-process\)$/m);
  for (const row of ['read: IOPS', 'read: BW', 'read: clat p50/p99/p99.9', 'write: IOPS', 'write: BW', 'write: clat avg']) {
    t.regex(r.out, new RegExp(`^${row.replace(/[/()]/g, '\\$&')}\\s+\\S+.*\\s{3}\\S+`, 'm'), row);
  }
  t.regex(r.out, /^verify \(crc32c\)\s+OK\s+OK$/m);
  t.regex(r.out, /shutdown nvme0: orderly \(CC\.SHN → CSTS\.SHST complete\), nullb0 powered off, device daemon exited 0/);
  t.notRegex(r.err, /"level":(50|60)/, 'no error logs');
  t.notRegex(r.err, /timeout/i);
});

test('main job: --help, and a bad flag is one line naming it, exit 2', async (t) => {
  const h = await run(process.execPath, ['--import', 'tsx', 'host/tools/main-job.ts', '--help']);
  t.is(h.code, 0);
  for (const f of ['--runtime', '--iodepth', '--log-level', '--help']) t.true(h.out.includes(f), f);
  const b = await run(process.execPath, ['--import', 'tsx', 'host/tools/main-job.ts', '--runtime=0']);
  t.is(b.code, 2);
  t.is(b.out, '');
  t.is(b.err.trimEnd().split('\n').length, 1);
  t.regex(b.err, /--runtime/);
});
