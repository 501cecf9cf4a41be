// rnull configuration table, validation (null_blk's rules) and fault-attr semantics.
import test from 'ava';
import {
  NULLB_PARAMS, defaultConfig, configFromOptions, validateConfig, parseParamValue, formatParamTable,
  NullBlkConfigError, type NullBlkConfig,
} from '../../host/drivers/rnull/config.ts';
import { FaultAttr, parseFaultSpec, FaultParseError, SeededRandom } from '../../host/drivers/rnull/fault.ts';

const HOST = { nrCpuIds: 4, maxPollQueues: 1 };
const cfg = (o: Record<string, string | number | boolean>): NullBlkConfig => configFromOptions(o);
const rejects = (t: import('ava').ExecutionContext, o: Record<string, string | number | boolean>, re: RegExp): void => {
  const e = t.throws(() => validateConfig(cfg(o), HOST), { instanceOf: NullBlkConfigError });
  t.regex(e?.message ?? '', re);
  t.is(e?.code, 'EINVAL');
};

test('table: every knob named like null_blk with its default and a meaning', (t) => {
  const names = NULLB_PARAMS.map((p) => p.name);
  for (const n of ['size', 'blocksize', 'queue_mode', 'irqmode', 'completion_nsec', 'submit_queues', 'poll_queues', 'home_node',
    'hw_queue_depth', 'memory_backed', 'discard', 'cache_size', 'fua', 'mbps', 'blocking', 'shared_tags', 'shared_tag_bitmap',
    'no_sched', 'max_sectors', 'virt_boundary', 'rotational', 'zoned', 'zone_size', 'zone_capacity', 'zone_nr_conv',
    'zone_max_open', 'zone_max_active', 'zone_append_max_sectors', 'badblocks_once', 'badblocks_partial_io',
    'timeout', 'requeue', 'init_hctx', 'seed']) t.true(names.includes(n as keyof NullBlkConfig), n);
  for (const p of NULLB_PARAMS) t.true(p.doc.length > 10, p.name);
  const d = defaultConfig();
  t.is(d.size, 250 * 1024); // gb=250
  t.is(d.blocksize, 512);
  t.is(d.irqmode, 1);
  t.is(d.completion_nsec, 10000);
  t.is(d.hw_queue_depth, 64);
  t.is(d.queue_mode, 2);
  t.is(d.zone_size, 256);
  t.is(d.fua, true);
  t.regex(formatParamTable(), /hw_queue_depth\s+uint\s+64/);
});

test('options: gb is GiB → size MiB, bs alias, string values parsed like kstrto*', (t) => {
  const c = cfg({ gb: 4, bs: '4096', memory_backed: 'y', hw_queue_depth: '0x80', submit_queues: '010' });
  t.is(c.size, 4096);
  t.is(c.blocksize, 4096);
  t.is(c.memory_backed, true);
  t.is(c.hw_queue_depth, 128);
  t.is(c.submit_queues, 8);
  t.throws(() => cfg({ nonsense: 1 }), { message: /unknown null_blk parameter "nonsense"/ });
  t.throws(() => parseParamValue('irqmode', 'two'), { message: /not an integer/ });
  t.throws(() => parseParamValue('blocking', 'maybe'), { message: /not a boolean/ });
  t.throws(() => parseParamValue('mbps', '-1'), { message: /negative/ });
});

test('validation: bad block size', (t) => {
  rejects(t, { bs: 1000 }, /invalid block size/);
  rejects(t, { bs: 8192 }, /invalid block size/);
  rejects(t, { bs: 256 }, /invalid block size/);
  t.notThrows(() => validateConfig(cfg({ bs: 4096 }), HOST));
});

test('validation: zone rules (power of two, capacity <= size, zone <= device)', (t) => {
  rejects(t, { zoned: 1, zone_size: 3 }, /zone_size must be power-of-two/);
  rejects(t, { zoned: 1, zone_size: 0 }, /zone_size must be power-of-two/);
  rejects(t, { zoned: 1, size: 64, zone_size: 128 }, /Zone size larger than device capacity/);
  rejects(t, { zoned: 1, size: 1024, zone_size: 64, zone_capacity: 128 }, /zone capacity \(128 MB\) larger than zone size \(64 MB\)/);
  const v = validateConfig(cfg({ zoned: 1, size: 1024, zone_size: 64 }), HOST);
  t.is(v.config.zone_capacity, 64);
});

test('validation: discard needs memory_backed; legacy queue_mode; irqmode range; depth', (t) => {
  rejects(t, { discard: 1 }, /discard requires memory_backed/);
  rejects(t, { queue_mode: 1 }, /legacy IO path is no longer available/);
  rejects(t, { queue_mode: 7 }, /queue_mode/);
  rejects(t, { irqmode: 3 }, /irqmode=3/);
  rejects(t, { hw_queue_depth: 0 }, /queue depth/);
  rejects(t, { timeout: '1,2' }, /FAULT_INJECTION: failed to parse arguments/);
});

test('validation: null_blk silent adjustments are applied and noted', (t) => {
  const v = validateConfig(cfg({ submit_queues: 64, poll_queues: 3, cache_size: 16, mbps: 99999, hw_queue_depth: 20000 }), HOST);
  t.is(v.config.submit_queues, 4);
  t.is(v.config.poll_queues, 1);
  t.is(v.config.cache_size, 0); // meaningless without memory_backed
  t.is(v.config.mbps, 40960);
  t.is(v.config.hw_queue_depth, 10240);
  t.true(v.notes.length >= 4);
  const m = validateConfig(cfg({ memory_backed: 1, submit_queues: 0 }), HOST);
  t.is(m.config.blocking, true); // memory backing forces blocking
  t.is(m.config.submit_queues, 1);
  const z = validateConfig(cfg({ memory_backed: 1, discard: 1, zoned: 1, size: 1024, zone_size: 64 }), HOST);
  t.is(z.config.discard, false); // ignored when zoned
});

test('fault: parse interval,probability,space,times like sscanf', (t) => {
  t.deepEqual(parseFaultSpec('1,100,0,-1'), { interval: 1, probability: 100, space: 0, times: -1 });
  t.deepEqual(parseFaultSpec(' 10,50,3,5\n'), { interval: 10, probability: 50, space: 3, times: 5 });
  t.is(parseFaultSpec(''), undefined);
  t.throws(() => parseFaultSpec('1,100,0'), { instanceOf: FaultParseError });
  t.throws(() => parseFaultSpec('a,b,c,d'), { instanceOf: FaultParseError });
  t.throws(() => parseFaultSpec('-1,100,0,1'), { instanceOf: FaultParseError });
});

test('fault: probability 0 and times 0 never fail; times counts down; -1 is unlimited', (t) => {
  const off = new FaultAttr({ interval: 1, probability: 0, space: 0, times: -1 });
  for (let i = 0; i < 100; i++) t.false(off.shouldFail());
  const three = new FaultAttr({ interval: 1, probability: 100, space: 0, times: 3 });
  const r = Array.from({ length: 6 }, () => three.shouldFail());
  t.deepEqual(r, [true, true, true, false, false, false]);
  t.is(three.times, 0);
  const inf = new FaultAttr({ interval: 1, probability: 100, space: 0, times: -1 });
  for (let i = 0; i < 50; i++) t.true(inf.shouldFail());
  t.is(inf.times, -1);
});

test('fault: space skips the first calls, interval fails every Nth', (t) => {
  const sp = new FaultAttr({ interval: 1, probability: 100, space: 3, times: -1 });
  // space > size(1): 3→2, 2→1 skipped; then space 1 is not > 1 → fail.
  t.deepEqual(Array.from({ length: 4 }, () => sp.shouldFail()), [false, false, true, true]);
  const iv = new FaultAttr({ interval: 3, probability: 100, space: 0, times: -1 });
  t.deepEqual(Array.from({ length: 7 }, () => iv.shouldFail()), [false, false, true, false, false, true, false]);
});

test('fault: seeded probability repeats and is roughly right', (t) => {
  const run = (seed: number): boolean[] => {
    const a = new FaultAttr({ interval: 1, probability: 30, space: 0, times: -1 }, seed);
    return Array.from({ length: 2000 }, () => a.shouldFail());
  };
  const a = run(7);
  t.deepEqual(a, run(7));
  t.notDeepEqual(a, run(8));
  const hits = a.filter(Boolean).length;
  t.true(hits > 450 && hits < 750, `hits=${hits}`);
  const r = new SeededRandom(1);
  for (let i = 0; i < 1000; i++) {
    const v = r.below(100);
    t.true(v >= 0 && v < 100);
  }
});
