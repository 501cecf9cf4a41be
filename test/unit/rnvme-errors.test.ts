// NVMe status → block status, retry disposition, CRD delays and Linux's
// error log line, table-driven (Linux core.c nvme_error_status /
// nvme_decide_disposition / nvme_log_error).
import test from 'ava';
import { BLK_STS, REQ_FLAG, type BlkStatus } from '../../host/block/types.ts';
import {
  nvmeErrorStatus, decideDisposition, crdDelayMs, formatIoError, formatAdminError, nvmeStatusText, SC_HOST_ABORTED_CMD,
  resolveOptions, RnvmeError, CtrlState, CTRL_STATE,
} from '../../host/drivers/rnvme/index.ts';
import { STATUS_DNR, STATUS_MORE } from '../../src/spec/index.ts';
import { silentLogger } from '../../src/util/log.ts';

const MAP: [number, BlkStatus, string][] = [
  [0x000, BLK_STS.OK, 'success'],
  [0x081, BLK_STS.NOSPC, 'capacity exceeded'],
  [0x080, BLK_STS.TARGET, 'LBA out of range'],
  [0x021, BLK_STS.TARGET, 'command interrupted'],
  [0x082, BLK_STS.TARGET, 'namespace not ready'],
  [0x180, BLK_STS.NOTSUPP, 'conflicting attributes'],
  [0x001, BLK_STS.NOTSUPP, 'invalid opcode'],
  [0x002, BLK_STS.NOTSUPP, 'invalid field'],
  [0x00b, BLK_STS.NOTSUPP, 'invalid namespace'],
  [0x280, BLK_STS.MEDIUM, 'write fault'],
  [0x281, BLK_STS.MEDIUM, 'unrecovered read error'],
  [0x287, BLK_STS.MEDIUM, 'unwritten block'],
  [0x286, BLK_STS.MEDIUM, 'access denied'],
  [0x182, BLK_STS.MEDIUM, 'read-only range'],
  [0x285, BLK_STS.MEDIUM, 'compare failure'],
  [0x282, BLK_STS.PROTECTION, 'guard check'],
  [0x283, BLK_STS.PROTECTION, 'app tag check'],
  [0x284, BLK_STS.PROTECTION, 'ref tag check'],
  [0x181, BLK_STS.PROTECTION, 'invalid PI'],
  [0x083, BLK_STS.RESV_CONFLICT, 'reservation conflict'],
  [0x370, BLK_STS.TRANSPORT, 'host path error'],
  [0x1bd, BLK_STS.ZONE_ACTIVE_RESOURCE, 'too many active zones'],
  [0x1be, BLK_STS.ZONE_OPEN_RESOURCE, 'too many open zones'],
  [0x006, BLK_STS.IOERR, 'internal error'],
  [0x004, BLK_STS.IOERR, 'data transfer error'],
  [0x007, BLK_STS.IOERR, 'abort requested'],
  [SC_HOST_ABORTED_CMD, BLK_STS.IOERR, 'host aborted'],
  [0x1b9, BLK_STS.IOERR, 'zone full'],
  [0x1bc, BLK_STS.IOERR, 'zone invalid write'],
];

for (const [sc, blk, what] of MAP) {
  test(`nvme_error_status: ${what} (0x${sc.toString(16)}) → ${blk}`, (t) => {
    t.is(nvmeErrorStatus(sc), blk);
    // DNR / More / CRD bits never change the mapping.
    t.is(nvmeErrorStatus(sc | STATUS_DNR | STATUS_MORE | (2 << 11)), blk);
  });
}

test('disposition: retried up to max_retries unless DNR, failfast or dying', (t) => {
  const media = 0x281;
  t.is(decideDisposition(0, 0, 5), 'complete');
  for (let r = 0; r < 5; r++) t.is(decideDisposition(media, r, 5), 'retry', `retry #${r}`);
  t.is(decideDisposition(media, 5, 5), 'complete');
  t.is(decideDisposition(media | STATUS_DNR, 0, 5), 'complete');
  t.is(decideDisposition(media, 0, 5, REQ_FLAG.FAILFAST_DEV), 'complete');
  t.is(decideDisposition(media, 0, 5, REQ_FLAG.FAILFAST_DRIVER), 'complete');
  t.is(decideDisposition(media, 0, 0), 'complete', 'max_retries=0');
  t.is(decideDisposition(SC_HOST_ABORTED_CMD, 0, 5), 'retry', 'cancelled on reset → retried');
  t.is(decideDisposition(SC_HOST_ABORTED_CMD, 0, 5, 0, true), 'complete', 'controller going away');
});

test('CRD selects CRDT1..3 in 100 ms units', (t) => {
  const crdt = [1, 5, 20];
  t.is(crdDelayMs(0x006, crdt), 0);
  t.is(crdDelayMs(0x006 | (1 << 11), crdt), 100);
  t.is(crdDelayMs(0x006 | (2 << 11), crdt), 500);
  t.is(crdDelayMs(0x006 | (3 << 11), crdt), 2000);
  t.is(crdDelayMs(0x006 | (1 << 11), [0, 0, 0]), 0);
});

test("Linux's log line shape", (t) => {
  t.is(formatIoError('nvme0n1', 0x02, 0, 1, 0x281 | STATUS_DNR),
    'nvme0n1: Read(0x2) @ LBA 0, 1 blocks, Unrecovered Read Error (sct 0x2 / sc 0x81) DNR');
  t.is(formatIoError('nvme0n2', 0x01, 4096, 8, 0x280),
    'nvme0n2: Write(0x1) @ LBA 4096, 8 blocks, Write Fault (sct 0x2 / sc 0x80)');
  t.is(formatIoError('nvme1n1', 0x08, 7, 2, 0x080 | STATUS_MORE | STATUS_DNR),
    'nvme1n1: Write Zeroes(0x8) @ LBA 7, 2 blocks, LBA Out of Range (sct 0x0 / sc 0x80) MORE DNR');
  t.is(formatAdminError('nvme0', 0x06, 0x002 | STATUS_DNR), 'nvme0: Identify(0x6), Invalid Field in Command (sct 0x0 / sc 0x2) DNR');
  t.is(nvmeStatusText(0x2ff), 'Unknown');
});

test('options: defaults, validation with the option named', (t) => {
  const o = resolveOptions();
  t.is(o.max_retries, 5);
  t.is(o.io_queue_depth, 1024);
  t.is(o.sgl_threshold, 32768);
  t.is(o.io_timeout, 30000);
  t.is(o.admin_timeout, 60000);
  t.is(o.shutdown_timeout, 5000);
  const e = t.throws(() => resolveOptions({ io_queue_depth: 1 }), { instanceOf: RnvmeError });
  t.is(e?.code, 'EINVAL');
  t.regex(e?.message ?? '', /io_queue_depth/);
  t.throws(() => resolveOptions({ nope: 1 } as never), { message: /unknown option 'nope'/ });
  t.throws(() => resolveOptions({ use_dbbuf: 1 } as never), { message: /use_dbbuf/ });
});

test('controller state: one transition function, Linux rules, from -> to history', (t) => {
  const s = new CtrlState('nvme9', silentLogger);
  t.false(s.change(CTRL_STATE.DEAD), 'new → dead refused');
  t.true(s.change(CTRL_STATE.CONNECTING));
  t.true(s.change(CTRL_STATE.LIVE));
  t.false(s.change(CTRL_STATE.CONNECTING), 'live → connecting refused');
  t.true(s.change(CTRL_STATE.RESETTING));
  t.false(s.change(CTRL_STATE.RESETTING), 'resetting twice refused');
  t.true(s.change(CTRL_STATE.CONNECTING));
  t.true(s.change(CTRL_STATE.LIVE));
  t.true(s.change(CTRL_STATE.DELETING));
  t.true(s.terminal);
  t.false(s.change(CTRL_STATE.LIVE), 'deleting → live refused');
  t.true(s.change(CTRL_STATE.DEAD));
  t.deepEqual(s.history, ['new -> connecting', 'connecting -> live', 'live -> resetting', 'resetting -> connecting', 'connecting -> live', 'live -> deleting', 'deleting -> dead']);
});
