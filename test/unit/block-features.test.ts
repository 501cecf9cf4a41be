// blk-mq features added after the first build: polled queues (blk_mq_poll),
// fair sharing of one tag set between disks (hctx_may_queue) and the shared
// tag bitmap, zoned ops through the user API, driver passthrough requests
// (DRV_IN/DRV_OUT on reserved tags), and the errno names of BLK_STS.
import test from 'ava';
import { constants } from 'node:os';
import { BLK_STS, BLK_STS_INFO, BlockError, END, GenDisk, REQ_FLAG, REQ_OP, RequestQueue, TagSet } from '../../host/block/index.ts';
import type { BlkStatus, HwQueue, Operations, ReqOp, RequestRef, ZoneInfo } from '../../host/block/index.ts';

let seq = 0;
const uniq = (p: string): string => `${p}${process.pid % 1000}f${seq++}`;
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

// ───────────────────────────── polled queues ─────────────────────────────

/** A scripted poll driver: poll-hctx requests wait in `sq` until the test "completes" them into `cq`; only ops.poll ends them. */
function pollDriver(opts: { autoPoll: boolean }) {
  const sq: RequestRef[] = [];
  const cq: RequestRef[] = [];
  const seen: { hwq: number; type: string }[] = [];
  let polls = 0;
  const ops: Operations<null, null> = {
    initRequest: () => null,
    queueRq: (hctx, rq) => {
      seen.push({ hwq: hctx.index, type: hctx.type });
      if (hctx.type === 'poll') sq.push(rq); // no interrupt: only poll() finds it
      else rq.end(BLK_STS.OK);
      return BLK_STS.OK;
    },
    poll: () => {
      polls++;
      let n = 0;
      for (let rq = cq.shift(); rq !== undefined; rq = cq.shift()) { if (rq.end(BLK_STS.OK) === 0) n++; }
      return n;
    },
  };
  const tagSet = new TagSet<null, null>({ ops, nrHwQueues: 2, queueDepth: 8, queueMaps: { default: 1, poll: 1 }, nrCpus: 2 });
  const disk = new GenDisk({ name: uniq('poll'), tagSet, capacitySectors: 2048, scheduler: 'none', autoPoll: opts.autoPoll });
  disk.add();
  return { sq, cq, seen, disk, polls: () => polls, deviceDone: (n = Infinity) => { while (n-- > 0 && sq.length > 0) cq.push(sq.shift() as RequestRef); } };
}

test('poll: REQ_POLLED goes to the poll hctx and completes only through BlockDevice.poll() when autoPoll is off', async (t) => {
  const d = pollDriver({ autoPoll: false });
  const dev = d.disk.open();
  const got: number[] = [];
  for (let i = 0; i < 3; i++) dev.submit(REQ_OP.READ, i * 512, new Uint8Array(512), REQ_FLAG.POLLED, 0, (st) => got.push(st));
  dev.submit(REQ_OP.READ, 0, new Uint8Array(512), 0, 0, (st) => got.push(st + 100)); // interrupt-driven: completes inline
  t.deepEqual(d.seen.map((s) => s.type), ['poll', 'poll', 'poll', 'default']);
  t.deepEqual(got, [100]);
  t.is(dev.poll(), 0, 'nothing completed on the device yet');
  await tick(); await tick();
  t.is(d.polls(), 1, 'no background poller with autoPoll off');
  d.deviceDone(2);
  t.is(dev.poll(), 2);
  t.deepEqual(got, [100, 0, 0], 'callbacks ran before poll() returned');
  d.deviceDone();
  t.is(dev.poll(1), 1, 'cpu 1 maps to the same (only) poll hctx');
  t.deepEqual(got, [100, 0, 0, 0]);
  t.is(d.disk.debugState().inflight, 0);
  await d.disk.remove();
});

test('poll: with autoPoll the core polls once per event-loop turn and never blocks the loop', async (t) => {
  const d = pollDriver({ autoPoll: true });
  const dev = d.disk.open();
  dev.polled = true;
  const p = dev.read(0, 512);
  let settled = false;
  void p.then(() => { settled = true; });
  // Other work keeps running while the request is outstanding: the poller yields every turn.
  let turns = 0;
  while (turns < 5) { await tick(); turns++; }
  t.false(settled);
  const before = d.polls();
  t.true(before >= 3 && before <= turns + 1, `one poll per turn (${before} polls in ${turns} turns)`);
  d.deviceDone();
  await p;
  t.true(settled);
  // Idle: the poller stops once nothing is in flight.
  const after = d.polls();
  await tick(); await tick();
  t.is(d.polls(), after);
  await d.disk.remove();
});

test('poll: REQ_POLLED on a disk without poll queues is refused with NOTSUPP', async (t) => {
  const tagSet = new TagSet<null, null>({ ops: { initRequest: () => null, queueRq: (_h, rq) => { rq.endOk(); return BLK_STS.OK; } }, nrHwQueues: 1, queueDepth: 4 });
  const disk = new GenDisk({ name: uniq('nopoll'), tagSet, capacitySectors: 64 });
  const dev = disk.open();
  let st = -1;
  dev.submit(REQ_OP.READ, 0, new Uint8Array(512), REQ_FLAG.POLLED, 0, (s) => { st = s; });
  t.is(st, BLK_STS.NOTSUPP);
  t.throws(() => { dev.polled = true; }, { instanceOf: BlockError });
  t.is(dev.poll(), 0);
  t.is(disk.getAttr('io_poll'), '0');
  await disk.remove();
});

// ───────────────────────────── shared tags ─────────────────────────────

/** Two disks on one tag set; requests are held until released by the test. */
function sharedSet(depth: number, hctxShared = false, nrHwQueues = 1) {
  const held = new Map<string, RequestRef[]>();
  const ops: Operations<null, null> = {
    initRequest: () => null,
    queueRq: (_h, rq) => { const l = held.get(rq.diskName) ?? []; l.push(rq); held.set(rq.diskName, l); return BLK_STS.OK; },
  };
  const tagSet = new TagSet<null, null>({ ops, nrHwQueues, queueDepth: depth, hctxShared, nrCpus: nrHwQueues });
  const mk = (): GenDisk<null, null> => new GenDisk({ name: uniq('sh'), tagSet, capacitySectors: 1 << 16, scheduler: 'none' });
  const endAll = (name: string, n = Infinity): number => {
    const l = held.get(name) ?? [];
    let k = 0;
    while (l.length > 0 && k < n) { (l.shift() as RequestRef).endOk(); k++; }
    return k;
  };
  return { tagSet, mk, held: (name: string) => held.get(name)?.length ?? 0, endAll };
}

test('shared tags: a busy disk cannot starve another; each gets its fair share (hctx_may_queue)', async (t) => {
  const s = sharedSet(16);
  const a = s.mk(), b = s.mk();
  const da = a.open(), db = b.open();
  let aDone = 0, bDone = 0;
  // A floods the set and resubmits on every completion (a closed loop at QD 64).
  const loopA = (): void => da.submit(REQ_OP.READ, 0, new Uint8Array(512), REQ_FLAG.NOMERGE, 0, () => { aDone++; loopA(); });
  for (let i = 0; i < 64; i++) loopA();
  t.is(s.held(a.name), 16, 'alone, A takes every tag');
  for (let i = 0; i < 8; i++) db.submit(REQ_OP.READ, 4096 * i, new Uint8Array(512), 0, 0, () => { bDone++; });
  t.is(s.held(b.name), 0, 'no free tag yet: B waits');
  // A's completions free tags; A may no longer exceed half of them, so B gets in.
  for (let round = 0; round < 4; round++) { s.endAll(a.name, 4); await tick(); }
  t.is(s.held(b.name), 8, 'B got its 8 requests in despite A resubmitting at once');
  t.true(s.held(a.name) <= 8, `A is held to its share (${s.held(a.name)} <= 8)`);
  t.is(s.tagSet.busyTags()[0], s.held(a.name) + s.held(b.name));
  s.endAll(b.name);
  await tick();
  t.is(bDone, 8);
  // B idle again: A may use the whole set once more.
  for (let round = 0; round < 4; round++) { s.endAll(a.name, 2); await tick(); }
  t.is(s.held(a.name), 16, 'after B went idle A is back to the full depth');
  t.true(aDone > 0);
  await Promise.all([a.remove(0), b.remove(0)]);
  t.deepEqual(s.tagSet.busyTags(), [0]);
});

test('shared tag bitmap (hctxShared): one tag space for all hw queues, unique tags, per-hctx lookups', async (t) => {
  const s = sharedSet(8, true, 2);
  const a = s.mk();
  const da = a.open();
  const got: RequestRef[] = [];
  for (let i = 0; i < 12; i++) da.submit(REQ_OP.READ, 512 * i, new Uint8Array(512), REQ_FLAG.NOMERGE, i % 2, () => {});
  t.is(s.held(a.name), 8, 'the two hctxs share 8 tags, not 8 each');
  t.deepEqual(s.tagSet.busyTags(), [8]);
  for (let hwq = 0; hwq < 2; hwq++) {
    const h = a.hctxs[hwq] as HwQueue;
    for (let tag = 0; tag < 8; tag++) { const r = h.tagToRq(tag); if (r !== undefined && r.hwqIndex === hwq) got.push(r); }
  }
  t.is(new Set(got.map((r) => r.tag)).size, 8, 'tags unique across hctxs');
  t.true(got.some((r) => r.hwqIndex === 1) && got.some((r) => r.hwqIndex === 0));
  t.is(got.find((r) => r.hwqIndex === 1)?.uniqueTag !== undefined, true);
  while (s.held(a.name) > 0) { s.endAll(a.name); await tick(); }
  t.deepEqual(s.tagSet.busyTags(), [0]);
  await a.remove(0);
});

// ───────────────────────────── zoned ─────────────────────────────

test('zoned: append returns the written sector (also with emulated FUA), zone ops reach the driver, report zones', async (t) => {
  const ZS = 64; // sectors per zone
  const wp = [0, ZS, 2 * ZS, 3 * ZS];
  const log: string[] = [];
  const ops: Operations<null, null> = {
    initRequest: () => null,
    queueRq: (_h, rq) => {
      const z = Math.floor(rq.sector / ZS);
      log.push(`${rq.op}@${rq.sector}`);
      switch (rq.op) {
        case REQ_OP.ZONE_APPEND: rq.setResultSector(wp[z] as number); wp[z] = (wp[z] as number) + rq.bytes / 512; break;
        case REQ_OP.ZONE_RESET: wp[z] = z * ZS; break;
        case REQ_OP.ZONE_FINISH: wp[z] = (z + 1) * ZS; break;
        case REQ_OP.ZONE_RESET_ALL: for (let i = 0; i < wp.length; i++) wp[i] = i * ZS; break;
        case REQ_OP.ZONE_OPEN: case REQ_OP.ZONE_CLOSE: case REQ_OP.FLUSH: case REQ_OP.WRITE: case REQ_OP.READ: break;
        default: rq.end(BLK_STS.NOTSUPP); return BLK_STS.OK;
      }
      rq.endOk();
      return BLK_STS.OK;
    },
  };
  const tagSet = new TagSet<null, null>({ ops, nrHwQueues: 1, queueDepth: 8 });
  const reportZones = (sector: number, nr: number): ZoneInfo[] => {
    const out: ZoneInfo[] = [];
    for (let z = Math.floor(sector / ZS); z < wp.length && out.length < nr; z++) {
      const w = wp[z] as number;
      out.push({ start: z * ZS, len: ZS, capacity: ZS, wp: w, type: 'seq-write-required', cond: w === z * ZS ? 'empty' : w === (z + 1) * ZS ? 'full' : 'imp-open' });
    }
    return out;
  };
  const disk = new GenDisk({ name: uniq('zn'), tagSet, capacitySectors: 4 * ZS, reportZones, scheduler: 'none',
    limits: { zoned: 'host-managed', zoneSectors: ZS, maxZoneAppendSectors: 32, writeCache: true, fua: false, maxSegments: 2, maxSegmentSize: 4096 } });
  disk.add();
  const dev = disk.open();
  t.is(await dev.zoneAppend(ZS, new Uint8Array(1024)), ZS);
  t.is(await dev.zoneAppend(ZS, new Uint8Array(2048)), ZS + 2);
  // Hot path with the result in the callback.
  const r = await new Promise<[number, number]>((res) => dev.submit(REQ_OP.ZONE_APPEND, ZS * 512, new Uint8Array(512), 0, 0, (st, sec) => res([st, sec])));
  t.deepEqual(r, [BLK_STS.OK, ZS + 6]);
  // FUA on a cache without native FUA: data then a post-flush; the sector survives.
  log.length = 0;
  dev.submit(REQ_OP.ZONE_APPEND, 2 * ZS * 512, new Uint8Array(512), REQ_FLAG.FUA, 0, () => {});
  await tick();
  const r2 = await new Promise<number>((res) => dev.submit(REQ_OP.ZONE_APPEND, 2 * ZS * 512, new Uint8Array(512), REQ_FLAG.FUA, 0, (_st, sec) => res(sec)));
  t.is(r2, 2 * ZS + 1);
  t.true(log.includes(`${REQ_OP.FLUSH}@0`), 'post-flush issued');
  // Validation: not a zone start, too big for zone_append_max, too many segments, not zoned ops.
  await t.throwsAsync(dev.zoneAppend(ZS + 8, new Uint8Array(512)), { instanceOf: BlockError });
  await t.throwsAsync(dev.zoneAppend(0, new Uint8Array(32 * 512 + 512)), { instanceOf: BlockError });
  await t.throwsAsync(dev.zoneAppend(0, new Uint8Array(12288)), { instanceOf: BlockError, message: /max_segments/ });
  await t.throwsAsync(dev.zoneOp(REQ_OP.WRITE, 0), { instanceOf: BlockError });
  await t.throwsAsync(dev.zoneOp(REQ_OP.ZONE_RESET, 3), { instanceOf: BlockError }, 'not a zone start');
  // Zone management ops reach the driver with op and zone start sector.
  log.length = 0;
  await dev.zoneOp(REQ_OP.ZONE_OPEN, 3 * ZS);
  await dev.zoneOp(REQ_OP.ZONE_FINISH, 3 * ZS);
  await dev.zoneOp(REQ_OP.ZONE_CLOSE, 0);
  await dev.zoneOp(REQ_OP.ZONE_RESET, ZS);
  t.deepEqual(log, [`${REQ_OP.ZONE_OPEN}@${3 * ZS}`, `${REQ_OP.ZONE_FINISH}@${3 * ZS}`, `${REQ_OP.ZONE_CLOSE}@0`, `${REQ_OP.ZONE_RESET}@${ZS}`]);
  // Report zones: starts at the zone containing the offset, honours nrZones.
  const zs = await dev.reportZones(ZS * 512 + 4096, 2);
  t.deepEqual(zs.map((z) => [z.start, z.wp, z.cond]), [[ZS, ZS, 'empty'], [2 * ZS, 2 * ZS + 2, 'imp-open']]);
  t.is((await dev.reportZones()).find((z) => z.start === 3 * ZS)?.cond, 'full');
  await t.throwsAsync(dev.reportZones(4 * ZS * 512), { instanceOf: BlockError });
  await t.throwsAsync(dev.reportZones(0, 0), { instanceOf: BlockError });
  await dev.zoneOp(REQ_OP.ZONE_RESET_ALL, 0);
  t.true((await dev.reportZones()).every((z) => z.cond === 'empty'));
  t.is(disk.getAttr('zoned'), 'host-managed');
  t.is(disk.getAttr('nr_zones'), '4');
  await disk.remove();
});

// ───────────────────────────── passthrough ─────────────────────────────

test('passthrough: DRV_IN/DRV_OUT on reserved tags reach the driver with their command, result and data; at-head; timeout', async (t) => {
  const seen: { op: ReqOp; tag: number; cmd: unknown; bytes: number; flags: number }[] = [];
  let hold: RequestRef | undefined;
  let timeouts = 0;
  const ops: Operations<null, null> = {
    initRequest: () => null,
    queueRq: (_h, rq) => {
      const cmd = rq.driverCmd as { opc: number; hang?: boolean };
      seen.push({ op: rq.op, tag: rq.tag, cmd, bytes: rq.bytes, flags: rq.flags });
      if (cmd.hang === true) { hold = rq; return BLK_STS.OK; }
      if (rq.op === REQ_OP.DRV_IN) for (const b of rq.bvecs) b.fill(0xab);
      rq.setDriverResult({ cqe: cmd.opc + 1 });
      rq.end(cmd.opc === 0xff ? BLK_STS.IOERR : BLK_STS.OK);
      return BLK_STS.OK;
    },
    timeout: () => { timeouts++; return 'done'; },
  };
  const tagSet = new TagSet<null, null>({ ops, nrHwQueues: 1, queueDepth: 4, reservedTags: 2 });
  // An admin queue: a RequestQueue without a gendisk (blk_mq_alloc_queue).
  const q = new RequestQueue({ name: uniq('adm'), tagSet, capacitySectors: 0 });
  const id = new Uint8Array(4096);
  const r1 = await q.executeDrv(REQ_OP.DRV_IN, { opc: 6 }, { buf: id, reserved: true });
  t.deepEqual(r1, { status: BLK_STS.OK, result: { cqe: 7 } });
  t.is(id[4095], 0xab);
  t.true((seen[0]?.tag ?? 99) < 2, 'a reserved tag');
  t.is(seen[0]?.bytes, 4096);
  t.true(((seen[0]?.flags ?? 0) & REQ_FLAG.FAILFAST_DRIVER) !== 0);
  const r2 = await q.executeDrv(REQ_OP.DRV_OUT, { opc: 0xff }, {});
  t.is(r2.status, BLK_STS.IOERR);
  t.true((seen[1]?.tag ?? -1) >= 2, 'a normal tag without reserved');
  // Quiesced: requests wait; the at-head one goes first on unquiesce.
  q.quiesce();
  const order: number[] = [];
  const pa = q.executeDrv(REQ_OP.DRV_OUT, { opc: 1 }, {}).then(() => order.push(1));
  const pb = q.executeDrv(REQ_OP.DRV_OUT, { opc: 2 }, { atHead: true }).then(() => order.push(2));
  await tick();
  t.is(seen.length, 2);
  q.unquiesce();
  await Promise.all([pa, pb]);
  t.deepEqual(order, [2, 1]);
  t.deepEqual(seen.slice(2).map((s) => (s.cmd as { opc: number }).opc), [2, 1]);
  // Per-request timeout: the driver's timeout op runs and the request ends with TIMEOUT.
  const r3 = await q.executeDrv(REQ_OP.DRV_IN, { opc: 9, hang: true }, { timeoutMs: 20, reserved: true });
  t.is(r3.status, BLK_STS.TIMEOUT);
  t.is(timeouts, 1);
  t.is(hold?.end(BLK_STS.OK), END.TIMED_OUT, 'late end refused');
  // Callback form; invalid arguments are refused before anything is queued.
  const st = await new Promise<[number, unknown]>((res) => q.submitDrv(REQ_OP.DRV_IN, { opc: 3 }, { cpu: 0 }, (s, r) => res([s, r])));
  t.deepEqual(st, [BLK_STS.OK, { cqe: 4 }]);
  const n = seen.length;
  await t.throwsAsync(q.executeDrv(REQ_OP.READ, {}), { instanceOf: BlockError, code: 'BLK_EINVAL_ARG' });
  await t.throwsAsync(q.executeDrv(REQ_OP.DRV_IN, {}, { buf: new Uint8Array(1 << 20) }), { instanceOf: BlockError });
  await t.throwsAsync(q.executeDrv(REQ_OP.DRV_IN, {}, { timeoutMs: 0 }), { instanceOf: BlockError });
  await t.throwsAsync(q.executeDrv(REQ_OP.DRV_IN, {}, { cpu: 5 }), { instanceOf: BlockError });
  await t.throwsAsync(q.executeDrv(REQ_OP.DRV_IN, {}, { flags: REQ_FLAG.POLLED }), { instanceOf: BlockError });
  let cbSt = -1;
  q.submitDrv(REQ_OP.DRV_OUT, {}, { timeoutMs: -1 }, (s) => { cbSt = s; });
  t.is(cbSt, BLK_STS.INVAL);
  t.is(seen.length, n);
  t.deepEqual(tagSet.busyTags(), [0]);
  // A tag set without reserved tags refuses reserved passthrough.
  const plain = new TagSet<null, null>({ ops, nrHwQueues: 1, queueDepth: 2 });
  const q2 = new RequestQueue({ name: uniq('adm'), tagSet: plain, capacitySectors: 0 });
  await t.throwsAsync(q2.executeDrv(REQ_OP.DRV_IN, {}, { reserved: true }), { instanceOf: BlockError, message: /reserved/ });
  await q.destroy(0);
  await q2.destroy(0);
  // After removal: OFFLINE, never a hang.
  t.is((await q.executeDrv(REQ_OP.DRV_IN, { opc: 1 }, {})).status, BLK_STS.OFFLINE);
});

// ───────────────────────────── status codes ─────────────────────────────

test('BLK_STS: errno names and numbers match Linux (blk-core.c blk_errors[], x86-64 errno)', (t) => {
  const expected: Record<string, string> = {
    OK: 'OK', NOTSUPP: 'EOPNOTSUPP', TIMEOUT: 'ETIMEDOUT', NOSPC: 'ENOSPC', TRANSPORT: 'ENOLINK', TARGET: 'EREMOTEIO',
    RESV_CONFLICT: 'EBADE', MEDIUM: 'ENODATA', PROTECTION: 'EILSEQ', RESOURCE: 'ENOMEM', IOERR: 'EIO', DM_REQUEUE: 'EREMCHG',
    AGAIN: 'EAGAIN', DEV_RESOURCE: 'EBUSY', ZONE_OPEN_RESOURCE: 'ETOOMANYREFS', ZONE_ACTIVE_RESOURCE: 'EOVERFLOW',
    OFFLINE: 'ENODEV', DURATION_LIMIT: 'ETIME', INVAL: 'EINVAL',
  };
  const errnos = constants.errno as Record<string, number | undefined>;
  for (const [k, v] of Object.entries(BLK_STS)) {
    const info = BLK_STS_INFO[v];
    t.is(info.name, `BLK_STS_${k}`);
    t.is(info.errno, expected[k], k);
    // Node lists the common errnos only (no EREMOTEIO, EBADE, ...): check the ones it knows.
    const num = errnos[info.errno];
    if (process.platform === 'linux' && num !== undefined) t.is(num, info.errnoNum, `${k}: ${info.errno}`);
    // asm-generic/errno.h values of the ones Node does not list.
    const extra: Record<string, number> = { EREMOTEIO: 121, EBADE: 52, EREMCHG: 78, ETOOMANYREFS: 109 };
    if (extra[info.errno] !== undefined) t.is(info.errnoNum, extra[info.errno]);
    const e = new BlockError(v);
    t.is(e.errno, info.errno);
  }
  // Linux numbering (current blk_types.h): ZONE_OPEN_RESOURCE 14 ... DURATION_LIMIT 17, INVAL 19.
  t.deepEqual([BLK_STS.ZONE_OPEN_RESOURCE, BLK_STS.ZONE_ACTIVE_RESOURCE, BLK_STS.OFFLINE, BLK_STS.DURATION_LIMIT, BLK_STS.INVAL], [14, 15, 16, 17, 19]);
});
