// iostat -x columns from two /sys/block/<dev>/stat snapshots: checked
// against the counters of a known workload on a disk with a scripted clock.
import test from 'ava';
import { computeIostat, formatIostat, iostatJson, IOSTAT_COLUMNS, watchIostat } from '../../host/tools/stat.ts';
import { FakeDisk, emptyDiskStat } from '../../host/tools/fio/testing.ts';
import { REQ_OP } from '../../host/block/types.ts';

test('known workload: every column from the counters', (t) => {
  // Each I/O takes exactly 1 ms on this clock (start and end read it once each).
  let clock = 0;
  const disk = new FakeDisk({ name: 'known0', completion: 'inline', nowMs: () => clock++ });
  const before = disk.stat();
  const buf8 = new Uint8Array(8192);
  const buf4 = new Uint8Array(4096);
  const cb = (): void => undefined;
  for (let i = 0; i < 100; i++) disk.submit(REQ_OP.READ, i * 8192, buf8, 0, 0, cb);
  for (let i = 0; i < 50; i++) disk.submit(REQ_OP.WRITE, i * 4096, buf4, 0, 0, cb);
  for (let i = 0; i < 5; i++) disk.submit(REQ_OP.DISCARD, i * 65536, 65536, 0, 0, cb);
  for (let i = 0; i < 10; i++) disk.submit(REQ_OP.FLUSH, 0, 0, 0, 0, cb);
  const after = disk.stat();
  t.is(after.readIos, 100);
  t.is(after.readSectors, 1600);
  t.is(after.ioTicks, 165);
  const r = computeIostat('known0', before, after, 2000);
  const expect: Record<string, number> = {
    'r/s': 50, 'rkB/s': 400, 'rrqm/s': 0, '%rrqm': 0, r_await: 1, 'rareq-sz': 8,
    'w/s': 25, 'wkB/s': 100, 'wrqm/s': 0, '%wrqm': 0, w_await: 1, 'wareq-sz': 4,
    'd/s': 2.5, 'dkB/s': 160, 'drqm/s': 0, '%drqm': 0, d_await: 1, 'dareq-sz': 64,
    'f/s': 5, f_await: 1, 'aqu-sz': 165 / 2000, '%util': (165 / 2000) * 100,
  };
  for (const c of IOSTAT_COLUMNS) t.true(Math.abs(r[c] - (expect[c] ?? NaN)) < 1e-9, `${c}: ${r[c]} vs ${expect[c]}`);
});

test('merges, percentages and the util cap', (t) => {
  const a = emptyDiskStat();
  const b = { ...a, readIos: 30, readMerges: 10, readSectors: 480, readTicks: 90, writeIos: 0, ioTicks: 5000, timeInQueue: 3000 };
  const r = computeIostat('m0', a, b, 1000);
  t.is(r['rrqm/s'], 10);
  t.is(r['%rrqm'], 25);
  t.is(r.r_await, 3);
  t.is(r['rareq-sz'], 8);
  t.is(r.w_await, 0, 'no I/O → await 0, not NaN');
  t.is(r['%util'], 100, 'util is capped at 100%');
  t.is(r['aqu-sz'], 3);
  t.throws(() => computeIostat('m0', a, b, 0), { instanceOf: RangeError });
});

test('text and JSON forms use iostat -x column names', (t) => {
  const r = computeIostat('nullb0', emptyDiskStat(), { ...emptyDiskStat(), readIos: 10, readSectors: 80 }, 1000);
  const txt = formatIostat([r]);
  const [head, line] = txt.trimEnd().split('\n');
  t.regex(head ?? '', /^Device\s+r\/s\s+rkB\/s\s+rrqm\/s\s+%rrqm\s+r_await\s+rareq-sz\s+w\/s/);
  t.regex(head ?? '', /f\/s\s+f_await\s+aqu-sz\s+%util$/);
  t.regex(line ?? '', /^nullb0\s+10\.00\s+40\.00\s+0\.00/);
  const j = iostatJson([r]);
  t.is(j.disk[0]?.disk_device, 'nullb0');
  t.is(j.disk[0]?.['rkB/s'], 40);
});

test('watchIostat reports `count` intervals, each over the last interval', async (t) => {
  let now = 0;
  const disk = new FakeDisk({ name: 'w0', completion: 'inline', nowMs: () => 0 });
  const reports: number[] = [];
  const w = watchIostat({
    devices: () => ['w0'], stat: () => disk.stat(), intervalMs: 5, count: 2, now: () => now,
    onReport: (rows) => {
      reports.push(rows[0]?.['r/s'] ?? -1);
      now += 1000; // the next report covers one more (idle) second
    },
  });
  // Scripted: 10 reads in the first interval, none in the second.
  for (let i = 0; i < 10; i++) disk.submit(REQ_OP.READ, 0, new Uint8Array(512), 0, 0, () => undefined);
  now = 1000;
  await w.done;
  t.is(reports.length, 2);
  t.is(reports[0], 10);
  t.is(reports[1], 0);
});
