// `nvmelab stat` (iostat -x) against a running host daemon process with a
// real device daemon attached: nvme0n1's columns follow its
// /sys/block/<dev>/stat-style counters, for a known workload (exactly) and
// while a workload runs (interval reports).
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevice } from '../helpers/daemon.ts';
import { connectControl } from '../../host/control/client.ts';
import { IOSTAT_COLUMNS } from '../../host/tools/stat.ts';
import type { DiskStat } from '../../host/block/types.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Proc {
  proc: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function run(args: string[], env: Record<string, string | undefined>): Proc {
  const proc = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  proc.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  return { proc, out: () => out, err: () => err, exited };
}

/** The nvmelab CLI as a process; resolves when it exits. */
async function nvmelab(args: string[], env: Record<string, string | undefined>): Promise<{ code: number | null; out: string; err: string }> {
  const p = run(['host/cli/index.ts', ...args], env);
  const code = await p.exited;
  return { code, out: p.out(), err: p.err() };
}

interface StatJson {
  sysstat: { hosts: { statistics: { interval_ms: number; disk: Record<string, number | string>[] }[] }[] };
}

/** Every iostat -x column of `row` recomputed from counter deltas `d` over `ms` (values are rounded to 2 decimals). */
function checkRow(t: { true: (v: boolean, m?: string) => void }, row: Record<string, number | string>, d: DiskStat, ms: number): void {
  const secs = ms / 1000;
  const near = (col: string, want: number): void => {
    const got = Number(row[col]);
    t.true(Math.abs(got - want) <= 0.005 + 1e-9, `${col}: ${got}, counters say ${want}`);
  };
  near('r/s', d.readIos / secs);
  near('rkB/s', d.readSectors / 2 / secs);
  near('rrqm/s', d.readMerges / secs);
  near('r_await', d.readIos > 0 ? d.readTicks / d.readIos : 0);
  near('rareq-sz', d.readIos > 0 ? d.readSectors / 2 / d.readIos : 0);
  near('w/s', d.writeIos / secs);
  near('wkB/s', d.writeSectors / 2 / secs);
  near('wrqm/s', d.writeMerges / secs);
  near('w_await', d.writeIos > 0 ? d.writeTicks / d.writeIos : 0);
  near('wareq-sz', d.writeIos > 0 ? d.writeSectors / 2 / d.writeIos : 0);
  near('f/s', d.flushIos / secs);
  near('aqu-sz', d.timeInQueue / ms);
  near('%util', Math.min(100, (d.ioTicks / ms) * 100));
}

test('stat: nvme0n1 on a running host follows its counters, at rest and under a workload', async (t) => {
  const dev = await startDevice({ token: 'devtok' });
  t.teardown(() => dev.stop());
  const dir = mkdtempSync(join(tmpdir(), 'tools-stat-'));
  const env = { NVMELAB_HOST_STATE: join(dir, 'host.json') };
  const host = run(['host/main.ts', '--exit-on-stdin-eof', '--attach', dev.url, '--token', 'devtok', '--control-token', 'ctl', '--no-state-file'], env);
  t.teardown(async () => {
    if (host.proc.exitCode === null) {
      host.proc.kill('SIGKILL');
      await host.exited;
    }
  });
  const controlUrl = await new Promise<string>((res, rej) => {
    const check = (): void => {
      const m = /^control (ws:\/\/\S+)$/m.exec(host.out());
      if (m?.[1] !== undefined) res(m[1]);
    };
    host.proc.stdout?.on('data', check);
    void host.exited.then((c) => rej(new Error(`host exited ${String(c)}: ${host.err()}`)));
  });
  const at = ['--host', controlUrl, '--token', 'ctl'];
  const ctl = await connectControl(controlUrl, 'ctl');
  t.teardown(() => ctl.close());
  const counters = async (): Promise<DiskStat> => {
    const r = (await ctl.execute('query-blockstats')) as { disks: Record<string, DiskStat> };
    const s = r.disks.nvme0n1;
    if (s === undefined) throw new Error('no nvme0n1 in query-blockstats');
    return s;
  };

  // A known workload: 256 random 4 KiB writes, then 128 sequential 8 KiB reads.
  const before = await counters();
  const w = await nvmelab([...at, 'fio', '--name=w', '--filename=nvme0n1', '--rw=randwrite', '--bs=4k', '--size=1m', '--iodepth=4'], env);
  t.is(w.code, 0, w.err);
  const r = await nvmelab([...at, 'fio', '--name=r', '--filename=nvme0n1', '--rw=read', '--bs=8k', '--size=1m', '--iodepth=2'], env);
  t.is(r.code, 0, r.err);
  const after = await counters();
  t.is(after.writeSectors - before.writeSectors, 2048, '1 MiB written');
  t.is(after.writeIos + after.writeMerges - (before.writeIos + before.writeMerges), 256, 'every fio write is a request or merged into one');
  t.is(after.readSectors - before.readSectors, 2048, '1 MiB read');
  t.is(after.readIos + after.readMerges - (before.readIos + before.readMerges), 128);
  t.is(after.inFlight, 0);

  // At rest, the since-boot report is the counters over the host's uptime.
  const s = await nvmelab([...at, 'stat', '-x', '-o', 'json', 'nvme0n1'], env);
  t.is(s.code, 0, s.err);
  const rep = (JSON.parse(s.out) as StatJson).sysstat.hosts[0]?.statistics[0];
  const row = rep?.disk[0];
  if (rep === undefined || row === undefined) return t.fail(s.out);
  t.is(row.disk_device, 'nvme0n1');
  const now = await counters();
  t.deepEqual(now, after, 'nothing ran since');
  checkRow(t, row, now, rep.interval_ms);
  t.true(Number(row['wareq-sz']) >= 4 && Number(row['rareq-sz']) >= 8);

  // The text form: iostat -x's header and one row with as many numbers.
  const txt = await nvmelab([...at, 'stat', 'nvme0n1'], env);
  t.is(txt.code, 0, txt.err);
  const lines = txt.out.split('\n').filter((l) => l.trim() !== '');
  const header = lines.find((l) => l.startsWith('Device'))?.trim().split(/\s+/);
  t.deepEqual(header, ['Device', ...IOSTAT_COLUMNS]);
  const cells = lines.find((l) => l.startsWith('nvme0n1'))?.trim().split(/\s+/) ?? [];
  t.is(cells.length, IOSTAT_COLUMNS.length + 1);
  t.true(cells.slice(1).every((c) => /^\d+\.\d\d$/.test(c)), cells.join(' '));
  t.notRegex(txt.out, /\u001b\[/, 'no ANSI escapes when stdout is not a terminal');

  // Under a workload: a time-based fio runs (stopped with ^C afterwards);
  // once the counters move, two 300 ms interval reports each show it.
  const load = run(['host/cli/index.ts', ...at, 'fio', '--name=load', '--filename=nvme0n1', '--rw=randrw', '--bs=4k', '--size=4m', '--iodepth=4', '--time_based', '--runtime=60'], env);
  t.teardown(() => {
    if (load.proc.exitCode === null) load.proc.kill('SIGKILL');
  });
  const start = await counters();
  for (;;) {
    const c = await counters();
    if (c.readIos + c.writeIos > start.readIos + start.writeIos + 50) break;
    if (load.proc.exitCode !== null) return t.fail(`fio ended early: ${load.err()}`);
    await new Promise<void>((res) => setImmediate(res));
  }
  const live = await nvmelab([...at, 'stat', '-y', '-o', 'json', 'nvme0n1', '0.3', '2'], env);
  t.is(live.code, 0, live.err);
  const reports = (JSON.parse(live.out) as StatJson).sysstat.hosts[0]?.statistics ?? [];
  t.is(reports.length, 2, '-y drops the since-boot report; COUNT=2 interval reports');
  for (const x of reports) {
    const d = x.disk[0];
    if (d === undefined) return t.fail('no row');
    t.true(Math.abs(x.interval_ms - 300) < 300, `interval ${x.interval_ms} ms`);
    t.true(Number(d['r/s']) > 0 && Number(d['w/s']) > 0, `reads and writes in every interval: ${JSON.stringify(d)}`);
    t.true(Number(d['%util']) > 0 && Number(d['%util']) <= 100);
    t.true(Number(d['aqu-sz']) > 0);
    // Request sizes from the same interval's counters: 4 KiB each, or more when merged.
    t.true(Number(d['rareq-sz']) >= 4 && Number(d['wareq-sz']) >= 4);
    // r/s × interval is a whole number of requests (r/s has 2 decimals, interval_ms 3).
    const n = Number(d['r/s']) * (x.interval_ms / 1000);
    t.true(Math.abs(n - Math.round(n)) <= 0.01, `r/s × interval = ${n}`);
  }
  load.proc.kill('SIGINT');
  t.is(await load.exited, 0, `fio stops cleanly on ^C: ${load.err()}`);
  t.regex(load.out(), /Run status group 0 \(all jobs\):/);

  host.proc.kill('SIGTERM');
  t.is(await host.exited, 0, host.err());
});
