// fio's cpu figures come from getrusage deltas over the job's run:
// usr_cpu/sys_cpu as a percentage of the run time, ctx/majf/minf counters —
// in the JSON (fio's field names) and on the text summary's "cpu" line.
import test from 'ava';
import { formatJson, formatNormal, parseCommandLine, resolveAll, runJobs } from '../../host/tools/fio/index.ts';
import { FakeDisk, fakeHost } from '../../host/tools/fio/testing.ts';

test('usr_cpu/sys_cpu/ctx are the process usage over the job, not zeros', async (t) => {
  const disk = new FakeDisk({ name: 'd0', completion: 'immediate' });
  // sha256 verify of 4 MiB written and read back: tens of ms of CPU at least.
  const jobs = resolveAll(parseCommandLine(['--name=c', '--filename=d0', '--rw=randwrite', '--bs=4k', '--size=4m', '--iodepth=8', '--verify=sha256']), () => '', {});
  const res = await runJobs(jobs, { host: fakeHost(disk) });
  const r = res.jobs[0];
  const cpu = r?.cpu;
  if (cpu === undefined) return t.fail('no cpu usage recorded');
  t.true(cpu.usrMs + cpu.sysMs > 0, JSON.stringify(cpu));
  t.true(cpu.runMs > 0);
  t.true(Number.isInteger(cpu.ctx) && cpu.ctx >= 0);

  const j = formatJson(res).jobs[0];
  if (j === undefined) return t.fail('no JSON job');
  t.is(typeof j.usr_cpu, 'number');
  t.is(typeof j.sys_cpu, 'number');
  t.true(j.usr_cpu + j.sys_cpu > 0, `usr_cpu=${j.usr_cpu} sys_cpu=${j.sys_cpu}`);
  t.true(Math.abs(j.usr_cpu - (cpu.usrMs * 100) / cpu.runMs) < 1e-3, 'usr_cpu is usr time over run time, in percent');
  t.is(j.ctx, cpu.ctx);
  t.is(j.majf, cpu.majf);
  t.is(j.minf, cpu.minf);

  const line = /^ {2}cpu {10}: usr=(\d+\.\d\d)%, sys=(\d+\.\d\d)%, ctx=(\d+), majf=(\d+), minf=(\d+)$/m.exec(formatNormal(res));
  t.truthy(line, 'fio-shaped cpu line');
  t.is(line?.[1], j.usr_cpu.toFixed(2));
  t.is(Number(line?.[3]), j.ctx);
});

test('group_reporting sums the jobs\' usage', async (t) => {
  const disk = new FakeDisk({ name: 'd0', completion: 'immediate' });
  const jobs = resolveAll(parseCommandLine(['--name=g', '--filename=d0', '--rw=randread', '--bs=4k', '--size=1m', '--numjobs=2', '--group_reporting']), () => '', {});
  const res = await runJobs(jobs, { host: fakeHost(disk) });
  t.is(res.jobs.length, 1);
  const c = res.jobs[0]?.cpu;
  t.truthy(c);
  t.true((c?.runMs ?? 0) > 0);
});
