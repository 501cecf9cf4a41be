// The host's control channel (token auth, QMP framing, commands) and the CLI
// over it: nvme-cli JSON field names, the null configfs flow, stat's iostat
// columns against the disk counters for a known workload.
import test from 'ava';
import { WebSocket } from 'ws';
import { HostDaemon } from '../../host/daemon/index.ts';
import { connectControl, ControlError, type ControlClient } from '../../host/control/client.ts';
import { getDisk } from '../../host/block/index.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, FakeCtrl, FAKE, isolatedEnv, fakeIdCtrl, fakeSmart } from './hostd-helpers.ts';

interface Rig {
  host: HostDaemon;
  fake: FakeCtrl;
  url: string;
  token: string;
  /** CLI args reaching this host. */
  at: string[];
}

async function rig(t: { teardown: (f: () => Promise<void>) => void }, ctrlName = 'nvme0'): Promise<Rig> {
  const fake = new FakeCtrl(ctrlName, [{ nsid: 1, disk: `${ctrlName}n1` }]);
  const host = new HostDaemon({ attacher: () => Promise.resolve(fake) });
  t.teardown(() => host.shutdown('test'));
  await host.attach('ws://127.0.0.1:1/');
  const cs = await host.startControl({ token: 'sekrit' });
  return { host, fake, url: cs.url, token: cs.token, at: ['--host', cs.url, '--token', cs.token] };
}

test('control channel refuses a missing or wrong token, accepts the right one', async (t) => {
  const r = await rig(t);
  t.regex(r.url, /^ws:\/\/127\.0\.0\.1:\d+\/control$/);
  await t.throwsAsync(connectControl(r.url, 'wrong'), { message: /401/ });
  const status = await new Promise<number>((res) => {
    const ws = new WebSocket(r.url);
    ws.on('unexpected-response', (_q, resp) => res(resp.statusCode ?? 0));
    ws.on('open', () => res(101));
    ws.on('error', () => undefined);
  });
  t.is(status, 401);
  const c = await connectControl(`${r.url}`, 'sekrit');
  t.teardown(() => c.close());
  t.like(await c.execute('query-status') as object, { status: 'running', controllers: 1 });
});

test('control commands: listing, errors with QMP classes, events', async (t) => {
  const r = await rig(t, 'nvme7');
  const c: ControlClient = await connectControl(r.url, r.token);
  t.teardown(() => c.close());
  const cmds = (await c.execute('query-commands')) as { name: string }[];
  for (const n of ['query-status', 'query-disks', 'query-blockstats', 'host-attach', 'host-detach', 'nvme-admin', 'null-create', 'null-set', 'null-get', 'null-power', 'null-remove', 'null-list', 'null-features', 'queue-get', 'queue-set', 'nbd-export', 'nbd-unexport', 'query-nbd', 'fio-run', 'fio-cancel', 'quit']) {
    t.true(cmds.some((x) => x.name === n), n);
  }
  const e1 = await t.throwsAsync(c.execute('no-such-command'));
  t.true(e1 instanceof ControlError && e1.errorClass === 'CommandNotFound');
  const e2 = await t.throwsAsync(c.execute('null-create', {}));
  t.true(e2 instanceof ControlError && e2.errorClass === 'GenericError' && /spec/.test(e2.message));
  const e3 = await t.throwsAsync(c.execute('nvme-admin', { device: 'nvme9', op: 'identify' }));
  t.true(e3 instanceof ControlError && e3.errorClass === 'DeviceNotFound');
  const events: string[] = [];
  c.onEvent((e) => events.push(e.event));
  t.deepEqual(await c.execute('null-create', { spec: 'hdctl0,size=16' }), { name: 'hdctl0' });
  const r2 = (await c.execute('nvme-admin', { device: 'nvme7n1', op: 'identify', cns: 0 })) as { controller: string; nsid: number; status: number; data: string };
  t.like(r2, { controller: 'nvme7', nsid: 1, status: 0 });
  t.is(Buffer.from(r2.data, 'base64').length, 4096);
  await c.execute('query-status'); // events precede later answers
  t.true(events.includes('NULL_CREATED'));
});

test('nvme commands print nvme-cli JSON field names over the control channel', async (t) => {
  const r = await rig(t, 'nvme3');
  const idc = await cli([...r.at, 'nvme', 'id-ctrl', '/dev/nvme3', '-o', 'json']);
  t.is(idc.code, 0, idc.err);
  const jc = JSON.parse(idc.out) as Record<string, unknown>;
  for (const k of ['vid', 'ssvid', 'sn', 'mn', 'fr', 'rab', 'ieee', 'cmic', 'mdts', 'cntlid', 'ver', 'oacs', 'acl', 'aerl', 'frmw', 'lpa', 'elpe', 'npss', 'wctemp', 'cctemp', 'sqes', 'cqes', 'maxcmd', 'nn', 'oncs', 'fuses', 'fna', 'vwc', 'awun', 'awupf', 'sgls', 'psds']) t.true(k in jc, `id-ctrl ${k}`);
  // SN/MN/FR keep their space padding (20/40/8 bytes), as nvme-cli prints them.
  t.like(jc, { vid: FAKE.vid, ssvid: FAKE.ssvid, sn: FAKE.sn.padEnd(20), mn: FAKE.mn.padEnd(40), fr: FAKE.fr.padEnd(8), mdts: FAKE.mdts, nn: FAKE.nn, oacs: FAKE.oacs, sqes: 0x66, cqes: 0x44 });
  t.like((jc.psds as object[])[0], { max_power: 2500 });

  const idn = await cli([...r.at, 'nvme', 'id-ns', 'nvme3n1', '-o', 'json']);
  t.is(idn.code, 0, idn.err);
  const jn = JSON.parse(idn.out) as Record<string, unknown>;
  for (const k of ['nsze', 'ncap', 'nuse', 'nsfeat', 'nlbaf', 'flbas', 'mc', 'dpc', 'dps', 'nmic', 'rescap', 'fpi', 'dlfeat', 'nvmcap', 'nguid', 'eui64', 'lbafs']) t.true(k in jn, `id-ns ${k}`);
  t.like(jn, { nsze: FAKE.nsze, ncap: FAKE.nsze, nuse: FAKE.nuse, nlbaf: 1, flbas: 1 });
  t.deepEqual(jn.lbafs, [{ ms: 0, ds: 9, rp: 0 }, { ms: 8, ds: 12, rp: 1 }]);

  const sm = await cli([...r.at, 'nvme', 'smart-log', 'nvme3', '-o', 'json']);
  t.is(sm.code, 0, sm.err);
  const js = JSON.parse(sm.out) as Record<string, unknown>;
  t.like(js, {
    critical_warning: 0, temperature: 310, avail_spare: 100, spare_thresh: 10, percent_used: 0, data_units_read: 7, data_units_written: 3,
    host_read_commands: 1234, host_write_commands: 567, controller_busy_time: 0, power_cycles: 2, power_on_hours: 0, unsafe_shutdowns: 1,
    media_errors: 0, num_err_log_entries: 1, warning_temp_time: 0, critical_comp_time: 0,
  });
  const text = await cli([...r.at, 'nvme', 'smart-log', 'nvme3']);
  t.regex(text.out, /^Smart Log for NVME device:nvme3 namespace-id:ffffffff/);
  t.regex(text.out, /temperature\s+: 37 °C \(310 K\)/);

  const el = await cli([...r.at, 'nvme', 'error-log', 'nvme3', '-o', 'json']);
  t.is(el.code, 0, el.err);
  const je = JSON.parse(el.out) as { errors: Record<string, number>[] };
  t.is(je.errors.length, FAKE.elpe + 1); // default: ELPE+1 entries
  t.like(je.errors[0], { error_count: 1, sqid: 1, cmdid: 0x1003, status_field: 0x4002, phase_tag: 1, lba: 0x800, nsid: 1 });
  for (const k of ['parm_error_location', 'vs', 'trtype', 'cs', 'trtype_spec_info']) t.true(k in (je.errors[0] ?? {}), k);

  const fw = await cli([...r.at, 'nvme', 'fw-log', 'nvme3', '-o', 'json']);
  t.deepEqual(JSON.parse(fw.out), { nvme3: { 'Active Firmware Slot (afi)': 1, 'Firmware Rev Slot 1': '1.2' } });

  const ls = await cli([...r.at, 'nvme', 'list', '-o', 'json']);
  t.is(ls.code, 0, ls.err);
  const dev = (JSON.parse(ls.out) as { Devices: Record<string, unknown>[] }).Devices[0];
  t.like(dev, { NameSpace: 1, DevicePath: '/dev/nvme3n1', ModelNumber: FAKE.mn, SerialNumber: FAKE.sn, Firmware: FAKE.fr, MaximumLBA: FAKE.nsze, SectorSize: 4096, UsedBytes: FAKE.nuse * 4096 });
  const lst = await cli([...r.at, 'nvme', 'list']);
  t.regex(lst.out, /^Node\s+Generic\s+SN\s+Model\s+Namespace\s+Usage\s+Format\s+FW Rev\n-+/);
  t.regex(lst.out, /\/dev\/nvme3n1\s+\/dev\/ng3n1\s+FAKE0001\s+nvmelab fake ctrl\s+1/);
});

test('nvme admin verbs reach the controller with nvme-cli semantics', async (t) => {
  const r = await rig(t, 'nvme4');
  const gf = await cli([...r.at, 'nvme', 'get-feature', 'nvme4', '-f', '7']);
  t.is(gf.out, 'get-feature:0x07 (number_of_queues), Current value:0x00030003\n');
  t.is((await cli([...r.at, 'nvme', 'set-feature', 'nvme4', '-f', '8', '-v', '0x101'])).code, 0);
  t.true(r.fake.calls.includes('set-feature 8 257'));
  const bad = await cli([...r.at, 'nvme', 'get-feature', 'nvme4', '-f', '0x55']);
  t.is(bad.code, 1);
  t.is(bad.err, 'NVMe status: INVALID_FIELD(0x4002)\n');
  const fmt = await cli([...r.at, 'nvme', 'format', 'nvme4n1']);
  t.is(fmt.out, 'Success formatting namespace:1\n');
  t.true(r.fake.calls.includes('format 1 1'), 'keeps the LBA format in use (flbas=1)');
  t.is((await cli([...r.at, 'nvme', 'format', 'nvme4n1', '--lbaf=0', '--ses=1'])).code, 0);
  t.true(r.fake.calls.includes(`format 1 ${1 << 9}`));
  t.is((await cli([...r.at, 'nvme', 'flush', 'nvme4n1'])).out, 'NVMe Flush: success\n');
  t.is((await cli([...r.at, 'nvme', 'reset', 'nvme4'])).code, 0);
  t.is((await cli([...r.at, 'nvme', 'ns-rescan', 'nvme4'])).code, 0);
  t.true(r.fake.calls.includes('reset') && r.fake.calls.includes('rescan'));
  const gl = await cli([...r.at, 'nvme', 'get-log', 'nvme4', '-i', '2', '-l', '32']);
  t.regex(gl.out, /^Device:nvme4 log-id:2 namespace-id:0xffffffff\n/);
  t.regex(gl.out, /0000: 00 36 01 64 0a/);
  const nodev = await cli([...r.at, 'nvme', 'id-ctrl', 'nvme5']);
  t.is(nodev.code, 1);
  t.regex(nodev.err, /nvme5: no such NVMe controller or namespace/);
  // Shutdown reaches every controller (orderly NVMe shutdown).
  await r.host.shutdown('test');
  t.true(r.fake.shutDown);
});

test('null: the configfs flow through the CLI', async (t) => {
  const r = await rig(t, 'nvme6');
  const run = (...a: string[]): ReturnType<typeof cli> => cli([...r.at, 'null', ...a]);
  t.is((await run('create', 'hdfast', 'size=64', 'memory_backed=1', 'power=0')).out, 'hdfast\n');
  t.is((await run('get', 'hdfast', 'power')).out, '0\n');
  t.is(getDisk('hdfast'), undefined);
  t.is((await run('set', 'hdfast', 'blocksize=4096', 'irqmode=0')).code, 0);
  t.is((await run('power', 'hdfast', 'on')).code, 0);
  t.is(getDisk('hdfast')?.limits.logicalBlockSize, 4096);
  t.is(getDisk('hdfast')?.capacityBytes, 64 << 20);
  const busy = await run('set', 'hdfast', 'blocksize=512');
  t.is(busy.code, 1);
  t.regex(busy.err, /EBUSY/);
  const all = JSON.parse((await run('get', 'hdfast', '-o', 'json')).out) as Record<string, string>;
  t.like(all, { power: '1', blocksize: '4096', size: '64', memory_backed: '1', irqmode: '0' });
  const list = JSON.parse((await run('list', '-o', 'json')).out) as { devices: Record<string, unknown>[] };
  t.like(list.devices.find((d) => d.name === 'hdfast'), { disk: 'hdfast', powered: true, size_mib: 64, blocksize: 4096 });
  t.regex((await run('features')).out, /memory_backed/);
  const q = await cli([...r.at, 'queue', 'hdfast', 'scheduler=mq-deadline', 'nr_requests']);
  t.is(q.code, 0, q.err);
  t.regex(q.out, /scheduler\s+: none \[mq-deadline\]/);
  const badq = await cli([...r.at, 'queue', 'hdfast', 'nr_requests=1']);
  t.is(badq.code, 1);
  t.regex(badq.err, /nr_requests/);
  t.is((await run('power', 'hdfast', 'off')).code, 0);
  t.is(getDisk('hdfast'), undefined);
  t.is((await run('remove', 'hdfast')).code, 0);
  const gone = await run('get', 'hdfast', 'power');
  t.is(gone.code, 1);
  t.regex(gone.err, /ENOENT/);
});

test('stat: iostat -x columns match the disk counters after a known workload', async (t) => {
  const env = isolatedEnv();
  const host = new HostDaemon();
  t.teardown(() => host.shutdown('test'));
  await host.createNull('hdstat0,size=64,memory_backed=1,irqmode=0');
  const cs = await host.startControl({});
  const at = ['--host', cs.url, '--token', cs.token];
  // 1024 sequential 4 KiB reads and 256 writes: no merges at queue depth 1.
  const rd = await cli([...at, 'fio', '--name=r', '--filename=hdstat0', '--rw=read', '--bs=4k', '--size=4m', '--iodepth=1'], env);
  t.is(rd.code, 0, rd.err);
  const wr = await cli([...at, 'fio', '--name=w', '--filename=hdstat0', '--rw=write', '--bs=4k', '--size=1m', '--iodepth=1', '--output-format=json'], env);
  t.is(wr.code, 0, wr.err);
  t.is((JSON.parse(wr.out) as { jobs: { write: { total_ios: number } }[] }).jobs[0]?.write.total_ios, 256);
  const s = await cli([...at, 'stat', '-x', '-o', 'json', 'hdstat0'], env);
  t.is(s.code, 0, s.err);
  const st = (JSON.parse(s.out) as { sysstat: { hosts: { statistics: { interval_ms: number; disk: Record<string, number | string>[] }[] }[] } }).sysstat.hosts[0]?.statistics[0];
  const row = st?.disk[0];
  t.truthy(row);
  if (st === undefined || row === undefined) return;
  const counters = getDisk('hdstat0')?.stat();
  t.truthy(counters);
  if (counters === undefined) return;
  t.is(counters.readIos, 1024);
  t.is(counters.writeIos, 256);
  const secs = st.interval_ms / 1000;
  t.is(row.disk_device, 'hdstat0');
  // r/s and w/s are rounded to 2 decimals: allow that error times the interval.
  t.true(Math.abs(Number(row['r/s']) * secs - counters.readIos) <= 0.01 * secs + 1e-9);
  t.true(Math.abs(Number(row['w/s']) * secs - counters.writeIos) <= 0.01 * secs + 1e-9);
  t.true(Math.abs(Number(row['rkB/s']) * secs - counters.readSectors / 2) <= 0.01 * secs + 1e-9);
  t.is(row['rareq-sz'], 4);
  t.is(row['wareq-sz'], 4);
  t.is(row['rrqm/s'], 0);
  t.is(Number(row['d/s']), 0);
  t.is(row.r_await, Math.round((counters.readTicks / counters.readIos) * 100) / 100);
  for (const col of ['r/s', 'rkB/s', 'rrqm/s', '%rrqm', 'r_await', 'rareq-sz', 'w/s', 'wkB/s', 'wrqm/s', '%wrqm', 'w_await', 'wareq-sz', 'd/s', 'dkB/s', 'drqm/s', '%drqm', 'd_await', 'dareq-sz', 'f/s', 'f_await', 'aqu-sz', '%util']) t.true(col in row, col);
  const text = await cli([...at, 'stat', 'hdstat0'], env);
  t.regex(text.out, /^Device\s+r\/s\s+rkB\/s/);
  t.regex(text.out, /\nhdstat0\s+[0-9.]+/);
  // interval + count: two reports over the next intervals (-y skips "since boot").
  const two = await cli([...at, 'stat', '-y', '-o', 'json', 'hdstat0', '0.05', '2'], env);
  t.is((JSON.parse(two.out) as { sysstat: { hosts: { statistics: unknown[] }[] } }).sysstat.hosts[0]?.statistics.length, 2);
});

test('fio through the control channel streams its output and reports the exit code', async (t) => {
  const host = new HostDaemon();
  t.teardown(() => host.shutdown('test'));
  await host.createNull('hdfio0,size=16,memory_backed=1');
  const cs = await host.startControl({});
  const r = await cli(['--host', `${cs.url}#${cs.token}`, 'fio', '--name=v', '--filename=hdfio0', '--rw=randwrite', '--bs=4k', '--size=2m', '--verify=crc32c', '--iodepth=4']);
  t.is(r.code, 0, r.err);
  t.regex(r.out, /v: \(groupid=0, jobs=1\)/);
  t.regex(r.out, /Run status group 0/);
  const missing = await cli(['--host', `${cs.url}#${cs.token}`, 'fio', '--name=v', '--filename=nosuchdisk', '--rw=read', '--size=1m']);
  t.is(missing.code, 1);
  t.regex(missing.err, /nosuchdisk/);
});

test('nvme -b/--raw-binary writes the controller\'s data buffer as is (get-log, id-ctrl, smart-log, get-feature)', async (t) => {
  const r = await rig(t, 'nvme7');
  const gl = await cli([...r.at, 'nvme', 'get-log', 'nvme7', '-i', '2', '-l', '512', '-b']);
  t.is(gl.code, 0, gl.err);
  t.deepEqual(gl.outBytes, fakeSmart(), 'the SMART log page, byte for byte');
  const short = await cli([...r.at, 'nvme', 'get-log', 'nvme7', '--log-id=2', '--log-len=32', '--raw-binary']);
  t.deepEqual(short.outBytes, fakeSmart().subarray(0, 32));
  t.deepEqual((await cli([...r.at, 'nvme', 'id-ctrl', 'nvme7', '-b'])).outBytes, fakeIdCtrl());
  t.deepEqual((await cli([...r.at, 'nvme', 'smart-log', 'nvme7', '-b'])).outBytes, fakeSmart());
  // A failed command prints nvme-cli's status line and no bytes.
  const bad = await cli([...r.at, 'nvme', 'get-log', 'nvme7', '-i', '0x7f', '-l', '16', '-b']);
  t.is(bad.code, 1);
  t.is(bad.outBytes.length, 0);
  t.regex(bad.err, /^NVMe status: /);
  // -b with -o json is a usage error naming both.
  const both = await cli([...r.at, 'nvme', 'get-log', 'nvme7', '-i', '2', '-l', '16', '-b', '-o', 'json']);
  t.is(both.code, 2);
  t.regex(both.err, /--raw-binary and --output-format=json/);
});

test('nvme set-feature --data FILE / -d: the data buffer reaches Set Features (length from -l, the feature, or the file)', async (t) => {
  const r = await rig(t, 'nvme8');
  const dir = mkdtempSync(join(tmpdir(), 'hostd-feat-'));
  const ts = join(dir, 'timestamp.bin');
  writeFileSync(ts, Buffer.from('0102030405060708090a', 'hex'));
  // Timestamp (0Eh) takes 8 bytes: the first 8 of the file, value defaults to 0.
  const a = await cli([...r.at, 'nvme', 'set-feature', 'nvme8', '-f', '0x0e', '-d', ts]);
  t.is(a.code, 0, a.err);
  t.true(r.fake.calls.includes('set-feature 14 0 data=0102030405060708'), r.fake.calls.join('\n'));
  t.regex(a.out, /^set-feature:0x0e \([^)]*\), value:0x00000000, cdw12:00000000, save:0\n {7}0 {2}1/);
  t.regex(a.out, /0000: 01 02 03 04 05 06 07 08/);
  // Explicit length, long options, and a value alongside.
  const b = await cli([...r.at, 'nvme', 'set-feature', 'nvme8', '--feature-id=0x0e', '--value=5', '--data-len=4', `--data=${ts}`, '-o', 'json']);
  t.is(b.code, 0, b.err);
  t.true(r.fake.calls.includes('set-feature 14 5 data=01020304'));
  t.is((JSON.parse(b.out) as { data_len: number }).data_len, 4);
  // A feature with no known size takes the whole file; get-feature -b gives it back raw.
  const c = await cli([...r.at, 'nvme', 'set-feature', 'nvme8', '-f', '0x7', '-v', '0x30003', '-d', ts]);
  t.is(c.code, 0, c.err);
  t.true(r.fake.calls.includes('set-feature 7 196611 data=0102030405060708090a'));
  t.deepEqual((await cli([...r.at, 'nvme', 'get-feature', 'nvme8', '-f', '7', '-b'])).outBytes, new Uint8Array(Buffer.from('0102030405060708090a', 'hex')));
  // Every problem is one line naming the flag, non-zero exit, nothing sent.
  const before = r.fake.calls.length;
  for (const [args, msg] of [
    [['-f', '0x0e', '-d', join(dir, 'missing.bin')], /--data .*missing\.bin: no such file/],
    [['-f', '0x0e', '-d', ts, '-l', '64'], /--data .*: has 10 bytes, --data-len needs 64/],
    [['-f', '0x0e', '-l', '8'], /--data-len needs --data FILE/],
    [['-f', '0x0e'], /--value is required/],
    [['-f', '0x0e', '-d', dir], /--data .*: is a directory/],
  ] as const) {
    const x = await cli([...r.at, 'nvme', 'set-feature', 'nvme8', ...args]);
    t.is(x.code, 2, `${args.join(' ')}: ${x.err}`);
    t.regex(x.err, msg);
    t.is(x.err.trimEnd().split('\n').length, 1, 'one line');
  }
  t.is(r.fake.calls.length, before, 'nothing reached the controller');
});
