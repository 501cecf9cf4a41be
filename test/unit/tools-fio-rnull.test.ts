// A short fio job (io_size-bound, not time-bound) against a real rnull disk
// through the block layer's submit path, with verify, and the disk's own
// /sys/block/<dev>/stat counters in "Disk stats" / disk_util.
import test from 'ava';
import { createNullDevices } from '../../host/drivers/rnull/index.ts';
import { getDisk } from '../../host/block/index.ts';
import { runFio, blockLayerHost } from '../../host/tools/fio/index.ts';
import { computeIostat } from '../../host/tools/stat.ts';

function collect(): { out: string[]; stream: { write: (s: string) => boolean } } {
  const out: string[] = [];
  return { out, stream: { write: (s: string) => { out.push(s); return true; } } };
}

test.serial('randrw with crc32c verify on a memory-backed rnull disk', async (t) => {
  const { registry, names } = await createNullDevices({ nr_devices: 1, gb: 1, bs: 4096, irqmode: 1, memory_backed: 1 }, { nrCpus: 2 });
  t.teardown(() => registry.destroy());
  const name = names[0] ?? 'nullb0';
  const disk = getDisk(name);
  t.truthy(disk);
  const before = disk?.stat();
  const c = collect();
  const code = await runFio(['--output-format=json', '--name=mix', `--filename=${name}`, '--rw=randrw', '--rwmixread=50', '--bs=4k',
    '--size=4m', '--offset_increment=4m', '--io_size=2m', '--iodepth=16', '--iodepth_batch_submit=4', '--numjobs=2', '--verify=crc32c', '--verify_fatal=1'],
  { host: blockLayerHost(), stdout: c.stream, stderr: c.stream });
  t.is(code, 0, c.out.join(''));
  const j = JSON.parse(c.out.join('')) as { jobs: { error: number; read: { total_ios: number; io_bytes: number }; write: { total_ios: number; io_bytes: number } }[]; disk_util: { name: string; read_ios: number; write_ios: number; read_merges: number; write_merges: number; util: number }[] };
  t.is(j.jobs.length, 2);
  let reads = 0;
  let writes = 0;
  for (const job of j.jobs) {
    t.is(job.error, 0);
    // io_size counts the workload (reads + writes); the verify phase reads every written block again.
    t.true(job.read.total_ios >= job.write.total_ios, 'verify read back every written block');
    reads += job.read.total_ios;
    writes += job.write.total_ios;
  }
  const du = j.disk_util[0];
  t.is(du?.name, name);
  // The plug merges adjacent bios: the disk counts requests plus merges.
  t.is((du?.read_ios ?? 0) + (du?.read_merges ?? 0), reads, 'disk stats count the same reads');
  t.is((du?.write_ios ?? 0) + (du?.write_merges ?? 0), writes, 'disk stats count the same writes');
  const after = disk?.stat();
  if (before && after) {
    const row = computeIostat(name, before, after, 1000);
    t.is(row['r/s'] + row['rrqm/s'], reads);
    t.is(row['w/s'] + row['wrqm/s'], writes);
    t.is(row['wkB/s'], writes * 4);
  }
});

test.serial('normal output against rnull, and a bad disk name', async (t) => {
  const { registry, names } = await createNullDevices({ nr_devices: 1, gb: 1, bs: 512, irqmode: 0 });
  t.teardown(() => registry.destroy());
  const name = names[0] ?? 'nullb0';
  const c = collect();
  const code = await runFio([`--filename=${name}`, '--name=seq', '--rw=read', '--bs=128k', '--size=4m', '--iodepth=4',
    '--name=rnd', '--stonewall', '--rw=randwrite', '--bs=4k', '--size=4m', '--number_ios=500', '--iodepth=8'],
  { host: blockLayerHost(), stdout: c.stream, stderr: c.stream });
  const out = c.out.join('');
  t.is(code, 0, out);
  t.regex(out, /^seq: \(groupid=0, jobs=1\): err= 0/m);
  t.regex(out, /^rnd: \(groupid=1, jobs=1\): err= 0/m);
  t.regex(out, /issued rwts: total=32,0,0,0/);
  t.regex(out, /issued rwts: total=0,500,0,0/);
  t.regex(out, /Run status group 1 \(all jobs\):\n {2}WRITE: bw=/);
  // The block layer may split 128 KiB reads to the queue limits: the disk counts requests.
  const m = new RegExp(`Disk stats \\(read/write\\):\\n  ${name}: ios=(\\d+)/500,`).exec(out);
  t.truthy(m);
  t.true(Number(m?.[1]) >= 32);
  const c2 = collect();
  t.is(await runFio(['--name=x', '--filename=nullb9'], { host: blockLayerHost(), stdout: c2.stream, stderr: c2.stream }), 1);
  t.regex(c2.out.join(''), /^fio: job 'x': filename=nullb9: no such disk "nullb9"/);
});
