// mq-deadline (block/mq-deadline.c __dd_dispatch_request) driven directly with
// a scripted clock: sorted dispatch, FIFO expiry, writes_starved, fifo_batch.
import test from 'ava';
import { DeadlineSched, DEADLINE_DEFAULTS } from '../../host/block/sched.ts';
import { PendingRq } from '../../host/block/pending.ts';
import { REQ_OP } from '../../host/block/types.ts';
import type { ReqOp } from '../../host/block/types.ts';

const rq = (op: ReqOp, sector: number, at: number): PendingRq => {
  const p = new PendingRq();
  p.op = op; p.sector = sector; p.nrSectors = 8; p.insertTime = at;
  return p;
};
const label = (p: PendingRq | null): string => (p === null ? '-' : `${p.op === REQ_OP.READ ? 'R' : 'W'}${p.sector}`);
const clock = (ms: number): Float64Array => Float64Array.of(ms);

test('deadline: sorted dispatch while nothing expired; an expired FIFO head goes first', (t) => {
  for (const [now, want] of [[0, ['R10', 'R20', 'R100']], [600, ['R10', 'R100', 'R20']]] as const) {
    const s = new DeadlineSched({ ...DEADLINE_DEFAULTS, fifoBatch: 1 });
    // FIFO order 10, 100, 20; sector order 10, 20, 100. read_expire 500 ms.
    s.insert(rq(REQ_OP.READ, 10, 0), false);
    s.insert(rq(REQ_OP.READ, 100, 0), false);
    s.insert(rq(REQ_OP.READ, 20, 1), false);
    const got = [label(s.pop(clock(0))), label(s.pop(clock(now))), label(s.pop(clock(now)))];
    t.deepEqual(got, [...want], `now=${now}`);
    t.is(s.count, 0);
    t.is(s.pop(clock(now)), null);
  }
});

test('deadline: writes_starved lets writes through after that many read batches', (t) => {
  const s = new DeadlineSched({ ...DEADLINE_DEFAULTS, fifoBatch: 1, writesStarved: 2 });
  for (let i = 0; i < 5; i++) s.insert(rq(REQ_OP.READ, 1000 + i * 100, 0), false);
  s.insert(rq(REQ_OP.WRITE, 0, 0), false);
  const got: string[] = [];
  for (let p = s.pop(clock(0)); p !== null; p = s.pop(clock(0))) got.push(label(p));
  t.deepEqual(got, ['R1000', 'R1100', 'W0', 'R1200', 'R1300', 'R1400']);
});

test('deadline: fifo_batch continues a sorted batch before choosing a direction again', (t) => {
  const s = new DeadlineSched({ ...DEADLINE_DEFAULTS, fifoBatch: 2, writesStarved: 1 });
  for (const sec of [0, 8, 16, 24]) s.insert(rq(REQ_OP.READ, sec, 0), false);
  s.insert(rq(REQ_OP.WRITE, 500, 0), false);
  const got: string[] = [];
  for (let p = s.pop(clock(0)); p !== null; p = s.pop(clock(0))) got.push(label(p));
  // New selection (starved 0→1, read), batch continues, new selection (1>=1: write), then reads.
  t.deepEqual(got, ['R0', 'R8', 'W500', 'R16', 'R24']);
});

test('deadline: an expired write FIFO is served when writes are chosen; drain empties both', (t) => {
  const s = new DeadlineSched({ ...DEADLINE_DEFAULTS, fifoBatch: 1, writesStarved: 0 });
  s.insert(rq(REQ_OP.WRITE, 900, 0), false);
  s.insert(rq(REQ_OP.WRITE, 100, 10), false);
  s.insert(rq(REQ_OP.READ, 50, 10), false);
  t.is(label(s.pop(clock(10))), 'W900'); // writes_starved 0: writes immediately; no batch yet → FIFO head
  t.is(label(s.pop(clock(6000))), 'W100'); // 100 is both sorted-next (wraps to FIFO) and expired
  const out: PendingRq[] = [];
  s.drain(out);
  t.deepEqual(out.map(label), ['R50']);
  t.is(s.count, 0);
});
