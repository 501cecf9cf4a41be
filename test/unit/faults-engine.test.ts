// The fault engine against the real controller, in process (memory
// transport): each action does what the plan says to the command it matched,
// counts it, and nothing else. No timing is asserted; ordering is forced by
// round trips.
import test from 'ava';
import { NvmeTestHost } from '../helpers/nvme-host.ts';
import { silentLogger } from '../../src/util/log.ts';
import { NVM } from '../../src/spec/nvm.ts';
import { ADMIN } from '../../src/spec/admin.ts';
import { FID } from '../../src/spec/features.ts';
import { REG, CSTS, getField } from '../../src/spec/registers.ts';
import { S, STATUS_DNR, statusCode } from '../../src/spec/status.ts';
import { NO_FAULTS } from '../../device/nvme/faults.ts';
import { FaultEngine, validatePlan, type FaultPlan } from '../../device/faults/index.ts';

async function rig(plan: FaultPlan, opts: { bringUp?: boolean } = {}) {
  const { host, ctrl } = await NvmeTestHost.inProcess();
  const eng = new FaultEngine(ctrl, { log: silentLogger });
  eng.load(validatePlan(plan));
  if (opts.bringUp !== false) await host.bringUp({ ioQueues: 1, aer: false });
  return { host, ctrl, eng };
}

const sync = (h: NvmeTestHost) => h.expectOk(h.admin({ opc: ADMIN.GET_FEATURES, cdw10: FID.NUMBER_OF_QUEUES }), 'sync');

/** One-block (4 KiB) I/O helpers. */
function io(h: NvmeTestHost) {
  return {
    write: (lba: number, fill: number | Uint8Array, blocks = 1, fua = false) => {
      const b = h.buf(4096 * blocks);
      const data = typeof fill === 'number' ? new Uint8Array(4096 * blocks).fill(fill) : fill;
      h.mem.write(b, data);
      return h.io(1, { opc: NVM.WRITE, nsid: 1, prp1: b, prp2: blocks === 2 ? b + 4096 : 0, cdw10: lba, cdw12: (blocks - 1) | (fua ? 1 << 30 : 0) });
    },
    read: async (lba: number, blocks = 1) => {
      const b = h.buf(4096 * blocks);
      h.mem.view(b, 4096 * blocks).fill(0xee);
      const c = await h.io(1, { opc: NVM.READ, nsid: 1, prp1: b, prp2: blocks === 2 ? b + 4096 : 0, cdw10: lba, cdw12: blocks - 1 });
      return { status: c.status, data: h.mem.view(b, 4096 * blocks).slice(), cqe: c };
    },
    flush: () => h.io(1, { opc: NVM.FLUSH, nsid: 1 }),
  };
}

test('no rules: the controller keeps NO_FAULTS (free); clearing restores it', async (t) => {
  const { host, ctrl, eng } = await rig({ rules: [] });
  t.teardown(() => host.close());
  t.is(ctrl.faults, NO_FAULTS);
  eng.add(validatePlan({ rules: [{ action: { type: 'fatal' }, trigger: { kind: 'once' }, match: { queue: 'io', opcode: 0x7f } }] }).rules);
  t.not(ctrl.faults, NO_FAULTS);
  t.is(eng.clear(), 1);
  t.is(ctrl.faults, NO_FAULTS);
});

test('status instead of executing (SCT/SC + DNR), only on the matched opcode, counted', async (t) => {
  const { host, ctrl, eng } = await rig({ rules: [{ id: 'ure', match: { queue: 'io', opcode: NVM.READ }, trigger: { kind: 'once' }, action: { type: 'status', sct: 2, sc: 0x81, dnr: true } }] });
  t.teardown(() => host.close());
  const d = io(host);
  t.is((await d.write(10, 0x11)).status, 0);
  const r1 = await d.read(10);
  t.is(r1.status, S.UNRECOVERED_READ_ERROR | STATUS_DNR);
  t.is(r1.data[0], 0xee, 'no data transferred');
  const r2 = await d.read(10);
  t.is(r2.status, 0);
  t.is(r2.data[0], 0x11);
  t.like(eng.report().rules[0], { id: 'ure', matches: 2, injected: 1 });
  t.is(ctrl.stats.hostReadCommands, 1);
});

test("status 'after': the write happens, its status is replaced", async (t) => {
  const { host } = await rig({ rules: [{ match: { queue: 'io', opcode: NVM.WRITE }, trigger: { kind: 'once' }, action: { type: 'status', sct: 0, sc: 6, when: 'after', crd: 1 } }] });
  t.teardown(() => host.close());
  const d = io(host);
  const w = await d.write(3, 0x33);
  t.is(statusCode(w.status), S.INTERNAL_ERROR);
  t.is((w.status >> 11) & 3, 1, 'CRD carried');
  t.is((await d.read(3)).data[0], 0x33);
});

test("drop-completion 'before': never executed, never completed; later commands unaffected", async (t) => {
  const { host, ctrl, eng } = await rig({ rules: [{ match: { queue: 'io', opcode: NVM.WRITE }, trigger: { kind: 'once' }, action: { type: 'drop-completion' } }] });
  t.teardown(() => host.close());
  const d = io(host);
  let done = false;
  void d.write(5, 0x55).then(() => {
    done = true;
  });
  t.is((await d.read(5)).data[0], 0, 'write never executed');
  await sync(host);
  t.false(done);
  t.is(eng.report().injected, 1);
  t.is(ctrl.sqs[1]?.inflight, 1, 'the lost command still holds its slot until a reset');
});

test("drop-completion 'after': executed (data on media), CQE lost", async (t) => {
  const { host, ctrl } = await rig({ rules: [{ match: { queue: 'io', opcode: NVM.WRITE }, trigger: { kind: 'once' }, action: { type: 'drop-completion', stage: 'after' } }] });
  t.teardown(() => host.close());
  const d = io(host);
  let done = false;
  void d.write(6, 0x66).then(() => {
    done = true;
  });
  while (ctrl.stats.hostWriteCommands === 0) await new Promise((r) => setImmediate(r));
  t.is((await d.read(6)).data[0], 0x66);
  await sync(host);
  t.false(done);
});

test('drop-interrupt: the CQE is written but its vector is not signalled', async (t) => {
  const { host, ctrl, eng } = await rig({ rules: [{ match: { queue: 'io' }, trigger: { kind: 'once' }, action: { type: 'drop-interrupt' } }] });
  t.teardown(() => host.close());
  const d = io(host);
  const before = host.irqs.filter((v) => v === 1).length;
  const q = host.queues.get(1);
  if (q === undefined) return t.fail();
  host.manual.add(1);
  const c0 = ctrl.stats.completions;
  const p = d.write(1, 1);
  while (ctrl.stats.completions === c0) await new Promise((r) => setImmediate(r));
  await sync(host);
  t.is(host.reap(q).length, 1, 'the CQE is in the ring');
  t.is((await p).status, 0);
  host.manual.delete(1);
  t.is(host.irqs.filter((v) => v === 1).length, before);
  await d.write(2, 2);
  t.is(host.irqs.filter((v) => v === 1).length, before + 1, 'only one interrupt lost');
  t.is(eng.report().injected, 1);
});

test('media-error until-rewritten: reads fail 2/81h until the block is written again', async (t) => {
  const { host, ctrl, eng } = await rig({ rules: [{ match: { lba: { first: 100, count: 2 } }, trigger: { kind: 'once' }, action: { type: 'media-error', kind: 'read', persist: 'until-rewritten' } }] });
  t.teardown(() => host.close());
  const d = io(host);
  t.is((await d.read(99)).status, 0, 'outside the range');
  t.is(statusCode((await d.read(100, 2)).status), S.UNRECOVERED_READ_ERROR);
  t.is(statusCode((await d.read(101)).status), S.UNRECOVERED_READ_ERROR, 'both blocks of the overlap marked');
  t.is(statusCode((await d.read(100)).status), S.UNRECOVERED_READ_ERROR, 'persists without the trigger');
  t.is(eng.report().injected, 1);
  t.is((await d.write(100, 0x77)).status, 0);
  const r = await d.read(100);
  t.is(r.status, 0);
  t.is(r.data[0], 0x77);
  t.true(ctrl.stats.mediaErrors >= 3);
});

test("media-error write 'always': a grown defect fails every write to the range", async (t) => {
  const { host, eng } = await rig({ rules: [{ match: { lba: { first: 50, count: 1 } }, trigger: { kind: 'once' }, action: { type: 'media-error', kind: 'write', persist: 'always' } }] });
  t.teardown(() => host.close());
  const d = io(host);
  for (let i = 0; i < 3; i++) t.is(statusCode((await d.write(50, i)).status), S.WRITE_FAULT);
  t.is((await d.write(51, 1)).status, 0);
  t.is(eng.report().rules[0]?.injected, 3);
});

test('bit-flip on media: exactly one bit differs, and it stays flipped', async (t) => {
  const { host } = await rig({ seed: 5, rules: [{ match: { lba: { first: 7, count: 1 } }, trigger: { kind: 'once' }, action: { type: 'bit-flip', bits: 1 } }] });
  t.teardown(() => host.close());
  const d = io(host);
  await d.write(7, 0x0f);
  const r = await d.read(7);
  t.is(r.status, 0, 'silent: success status');
  let diff = 0;
  for (const b of r.data) for (let x = b ^ 0x0f; x !== 0; x &= x - 1) diff++;
  t.is(diff, 1);
  t.deepEqual((await d.read(7)).data, r.data);
});

test("torn-write 'error': only the first block reaches the media, Write Fault", async (t) => {
  const { host, eng } = await rig({ rules: [{ match: { queue: 'io', opcode: NVM.WRITE }, trigger: { kind: 'after', n: 1, times: 1 }, action: { type: 'torn-write', keepBlocks: 1, then: 'error' } }] });
  t.teardown(() => host.close());
  const d = io(host);
  t.is((await d.write(20, 0xaa, 2)).status, 0);
  t.is(statusCode((await d.write(20, 0xbb, 2)).status), S.WRITE_FAULT);
  const r = await d.read(20, 2);
  t.is(r.data[0], 0xbb);
  t.is(r.data[4096], 0xaa);
  t.is(eng.report().injected, 1);
});

test('fatal after N commands sets CSTS.CFS', async (t) => {
  const { host, ctrl } = await rig({ rules: [{ match: { queue: 'io' }, trigger: { kind: 'after', n: 2, times: 1 }, action: { type: 'fatal' } }] });
  t.teardown(() => host.close());
  const d = io(host);
  await d.write(1, 1);
  await d.write(2, 2);
  t.is(getField(await host.read32(REG.CSTS), CSTS.CFS), 0);
  void d.write(3, 3);
  await host.waitCsts((v) => getField(v, CSTS.CFS) === 1);
  t.is(ctrl.stats.fatal, 1);
});

test('ready-stuck: the host reads RDY=0 after enable, CC.EN=0 clears the fault', async (t) => {
  const { host, ctrl, eng } = await rig({ rules: [{ on: 'enable', trigger: { kind: 'once' }, action: { type: 'ready-stuck' } }] }, { bringUp: false });
  t.teardown(() => host.close());
  await t.throwsAsync(host.bringUp({ ioQueues: 1, aer: false }), { message: /enable failed|CSTS condition not reached/ });
  t.true(ctrl.ready, 'the controller itself is ready; only the host view is stuck');
  t.is(getField(await host.read32(REG.CSTS), CSTS.RDY), 0);
  t.is(eng.report().injected, 1);
});

test('fatal on enable: enable ends in CFS', async (t) => {
  const { host } = await rig({ rules: [{ on: 'enable', trigger: { kind: 'once' }, action: { type: 'fatal' } }] }, { bringUp: false });
  t.teardown(() => host.close());
  await t.throwsAsync(host.bringUp({ ioQueues: 1, aer: false }), { message: /enable failed/ });
});

test('slow-enable and slow-shutdown hold RDY / SHST for the host, then release', async (t) => {
  const { host, eng } = await rig({ rules: [{ on: 'enable', action: { type: 'slow-enable', ms: 30 } }, { on: 'shutdown', action: { type: 'slow-shutdown', ms: 30 } }] });
  t.teardown(() => host.close());
  t.is(eng.report().rules[0]?.injected, 1, 'bring-up waited for RDY');
  host.write32(REG.CC, 0x00464001); // SHN = 01b, EN kept
  await host.waitCsts((v) => getField(v, CSTS.SHST) === 2, 100000);
  t.is(eng.report().rules[1]?.injected, 1);
});

test('irq-storm on the I/O vectors: spurious interrupts, no completions', async (t) => {
  const { host, ctrl } = await rig({ rules: [{ match: { queue: 'io' }, trigger: { kind: 'once' }, action: { type: 'irq-storm', vectors: 'io', count: 25 } }] });
  t.teardown(() => host.close());
  const d = io(host);
  const completions = ctrl.stats.completions;
  await d.write(1, 1);
  await sync(host);
  t.is(host.irqs.filter((v) => v === 1).length, 26);
  t.is(ctrl.stats.completions, completions + 2);
});

test('power-loss (no server): unflushed writes vanish, flushed ones survive, the controller is reset', async (t) => {
  const { host, ctrl, eng } = await rig({ rules: [{ match: { queue: 'io', opcode: NVM.READ }, trigger: { kind: 'once' }, action: { type: 'power-loss' } }] });
  t.teardown(() => host.close());
  const d = io(host);
  await d.write(1, 0x01);
  await d.flush();
  await d.write(2, 0x02);
  t.is((await d.write(3, 0x03, 1, true)).status, 0, 'FUA');
  void d.read(1);
  await host.waitCsts((v) => getField(v, CSTS.RDY) === 0);
  const ns = ctrl.namespaces.get(1);
  const b = new Uint8Array(4096);
  ns?.data.read(1, 1, b);
  t.is(b[0], 0x01);
  ns?.data.read(2, 1, b);
  t.is(b[0], 0, 'unflushed write lost');
  ns?.data.read(3, 1, b);
  t.is(b[0], 0x03, 'FUA write survived');
  t.is(eng.report().injected, 1);
});

test('stall-queue holds the queue, then releases it', async (t) => {
  const { host, eng } = await rig({ rules: [{ match: { queue: 'io' }, trigger: { kind: 'once' }, action: { type: 'stall-queue', ms: 20 } }] });
  t.teardown(() => host.close());
  const d = io(host);
  const [a, b] = await Promise.all([d.write(1, 1), d.write(2, 2)]);
  t.is(a.status, 0);
  t.is(b.status, 0);
  t.is(eng.report().injected, 1);
});

test('same seed, same command stream → exactly the same injections', async (t) => {
  const run = async (): Promise<number[]> => {
    const { host } = await rig({ seed: 99, rules: [{ match: { queue: 'io' }, trigger: { kind: 'probability', p: 0.3 }, action: { type: 'status', sct: 0, sc: 6 } }] });
    const d = io(host);
    const failed: number[] = [];
    for (let i = 0; i < 40; i++) if ((await d.write(i, i)).status !== 0) failed.push(i);
    host.close();
    return failed;
  };
  const a = await run();
  t.deepEqual(await run(), a);
  t.true(a.length > 3 && a.length < 25, `${a.length}`);
});

test('corrupt-cqe wrong-cid: the host sees an id it never issued; the real command never completes', async (t) => {
  const { host, eng } = await rig({ rules: [{ match: { queue: 'io' }, trigger: { kind: 'once' }, action: { type: 'corrupt-cqe', variant: 'wrong-cid' } }] });
  t.teardown(() => host.close());
  const d = io(host);
  let done = false;
  void d.write(1, 1).then(() => {
    done = true;
  });
  await d.write(2, 2);
  t.false(done);
  t.true(host.trace.some((l) => /invalid id \d+ completed on queue 1/.test(l)), host.trace.slice(-3).join('\n'));
  t.is(eng.report().injected, 1);
});

test('corrupt-cqe duplicate and phantom: one extra CQE each, rejected by the host', async (t) => {
  const { host, eng } = await rig({ rules: [{ match: { queue: 'io' }, trigger: { kind: 'every', n: 2, times: 2 }, action: { type: 'corrupt-cqe', variant: 'duplicate-cid' } }] });
  t.teardown(() => host.close());
  const d = io(host);
  for (let i = 0; i < 4; i++) t.is((await d.write(i, i)).status, 0);
  t.is(host.trace.filter((l) => l.startsWith('invalid id')).length, 2);
  t.is(eng.report().injected, 2);
});

test('corrupt-cqe wrong-sq-id / wrong-sq-head rewrite only those fields; wrong-phase hides the CQE from the host', async (t) => {
  const { host, eng } = await rig({
    rules: [
      { id: 'sqid', match: { queue: 'io', commands: { from: 1, to: 1000 } }, trigger: { kind: 'every', n: 1, times: 1 }, action: { type: 'corrupt-cqe', variant: 'wrong-sq-id' } },
      { id: 'head', match: { queue: 'io' }, trigger: { kind: 'every', n: 2, times: 1 }, action: { type: 'corrupt-cqe', variant: 'wrong-sq-head' } },
      { id: 'phase', match: { queue: 'io' }, trigger: { kind: 'every', n: 3, times: 1 }, action: { type: 'corrupt-cqe', variant: 'wrong-phase' } },
    ],
  });
  t.teardown(() => host.close());
  const d = io(host);
  const a = await d.write(1, 1);
  t.is(a.sqid, 1 + 0x100);
  const b = await d.write(2, 2);
  t.is(b.sqhd & 0x8000, 0x8000);
  let done = false;
  void d.write(3, 3).then(() => {
    done = true;
  });
  await sync(host);
  await sync(host);
  t.false(done, 'a CQE with the old phase looks like an empty slot');
  t.deepEqual(eng.report().rules.map((r) => r.injected), [1, 1, 1]);
});

test('corrupt-cqe stale-cid reuses an earlier command id; phantom adds a CQE for an id never issued', async (t) => {
  const { host, eng } = await rig({
    rules: [
      { id: 'stale', match: { queue: 'io' }, trigger: { kind: 'every', n: 3, times: 1 }, action: { type: 'corrupt-cqe', variant: 'stale-cid' } },
      { id: 'phantom', match: { queue: 'io' }, trigger: { kind: 'every', n: 5, times: 1 }, action: { type: 'corrupt-cqe', variant: 'phantom' } },
    ],
  });
  t.teardown(() => host.close());
  const d = io(host);
  const first = await d.write(1, 1);
  await d.write(2, 2);
  void d.write(3, 3); // completes with the id of write 2: the host drops it (its waiter is gone)
  await d.write(4, 4);
  await d.write(5, 5);
  await sync(host);
  t.true(first.cid >= 0);
  t.true(host.trace.some((l) => l === 'invalid id 4094 completed on queue 1'), host.trace.join('\n'));
  t.is(host.trace.filter((l) => l.startsWith('invalid id')).length, 2);
  t.deepEqual(eng.report().rules.map((r) => r.injected), [1, 1]);
});

test('bit-flip in transfer: this read sees one flipped bit, the media is intact', async (t) => {
  const { host, eng } = await rig({ rules: [{ match: { queue: 'io', opcode: NVM.READ }, trigger: { kind: 'once' }, action: { type: 'bit-flip', where: 'transfer', bits: 3 } }] });
  t.teardown(() => host.close());
  const d = io(host);
  await d.write(9, 0);
  const r1 = await d.read(9);
  let bits = 0;
  for (const b of r1.data) for (let x = b; x !== 0; x &= x - 1) bits++;
  t.true(bits >= 1 && bits <= 3);
  t.is((await d.read(9)).data.some((b) => b !== 0), false, 'the next read is clean');
  t.like(eng.report().rules[0], { injected: 1, unsupported: 0 });
});

test('kernel trigger and match.commands through the engine', async (t) => {
  const { host, eng } = await rig({
    rules: [{ match: { queue: 'io', commands: { from: 1 } }, trigger: { kind: 'kernel', spec: '3,100,2,2' }, action: { type: 'status', sct: 0, sc: 6 } }],
  });
  t.teardown(() => host.close());
  const d = io(host);
  const out: number[] = [];
  for (let i = 0; i < 12; i++) out.push((await d.write(i, i)).status === 0 ? 0 : 1);
  // space 2 skips matches 1-2; then every 3rd match fails (3, 6), twice only.
  t.deepEqual(out, [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  t.like(eng.report().rules[0], { matches: 12, injected: 2 });
});

test('surprise-removal with a server: removeDevice, then addDevice after the delay', async (t) => {
  const { host, ctrl } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  const calls: string[] = [];
  let added: () => void = () => {};
  const addedP = new Promise<void>((r) => {
    added = r;
  });
  const eng = new FaultEngine(ctrl, {
    log: silentLogger,
    removeDevice: (why) => calls.push(`remove: ${why}`),
    addDevice: () => {
      calls.push('add');
      added();
    },
  });
  eng.load(validatePlan({ rules: [{ id: 'yank', match: { queue: 'io' }, trigger: { kind: 'once' }, action: { type: 'surprise-removal', replugAfterMs: 5 } }] }));
  await host.bringUp({ ioQueues: 1, aer: false });
  void io(host).write(1, 1);
  await addedP;
  t.deepEqual(calls, ['remove: surprise removal (fault rule yank)', 'add']);
  t.is(eng.report().injected, 1);
});

test('timer rules fire without I/O (irq storm on the I/O vector)', async (t) => {
  const { host, eng } = await rig({ tickMs: 2, rules: [{ on: 'timer', trigger: { kind: 'always', times: 2 }, action: { type: 'irq-storm', vectors: [1], count: 3 } }] });
  t.teardown(() => {
    eng.close();
    host.close();
  });
  while (eng.report().injected < 2) await host.waitIrq();
  t.like(eng.report().rules[0], { injected: 2 });
  t.true(host.irqs.filter((v) => v === 1).length >= 6);
});

test('drop-doorbell: a lost SQ tail write; the next doorbell carries the new tail and both commands run', async (t) => {
  const { host, ctrl, eng } = await rig({ rules: [{ on: 'doorbell', trigger: { kind: 'once' }, action: { type: 'drop-doorbell', kind: 'sq', qid: 1 } }] });
  t.teardown(() => host.close());
  const d = io(host);
  let done = false;
  const p1 = d.write(1, 1).then((c) => {
    done = true;
    return c;
  });
  await sync(host);
  t.false(done);
  t.is(ctrl.stats.hostWriteCommands, 0);
  const c2 = await d.write(2, 2);
  t.is(c2.status, 0);
  t.is((await p1).status, 0);
  t.like(eng.report().rules[0], { injected: 1 });
});

test('loading the same plan again (fault-inject replace) repeats the same injections', async (t) => {
  const plan = validatePlan({ seed: 21, rules: [{ match: { queue: 'io' }, trigger: { kind: 'probability', p: 0.4 }, action: { type: 'status', sct: 0, sc: 6 } }] });
  const { host, eng } = await rig({ rules: [] });
  t.teardown(() => host.close());
  const d = io(host);
  const pass = async (): Promise<number[]> => {
    eng.load(plan);
    const out: number[] = [];
    for (let i = 0; i < 20; i++) out.push((await d.write(i, i)).status === 0 ? 0 : 1);
    return out;
  };
  const a = await pass();
  t.deepEqual(await pass(), a);
  t.true(a.includes(1));
});

test('hostile-dma goes through DeviceContext.unchecked: writes / reads outside every window, irqs on unused vectors', async (t) => {
  const { host, ctrl, eng } = await rig({ rules: [] });
  t.teardown(() => host.close());
  const d = io(host);
  await d.write(1, 1);
  // Replace the escape hatch with a recorder, to see exactly what the engine sends.
  const sent: string[] = [];
  Object.defineProperty(ctrl.ctx, 'unchecked', {
    configurable: true,
    value: {
      dmaWrite: (iova: number, data: Uint8Array) => sent.push(`write ${iova} ${data.length}`),
      dmaRead: (iova: number, len: number, cb: (e: Error | undefined, d: Uint8Array | undefined) => void) => {
        sent.push(`read ${iova} ${len}`);
        cb(new Error('iommu'), undefined);
      },
      irq: (v: number) => sent.push(`irq ${v}`),
    },
  });
  eng.load(validatePlan({ rules: [
    { id: 'w', match: { queue: 'io' }, trigger: { kind: 'once' }, action: { type: 'hostile-dma', kind: 'write-outside', len: 64 } },
    { id: 'r', match: { queue: 'io' }, trigger: { kind: 'once' }, action: { type: 'hostile-dma', kind: 'read-outside' } },
    { id: 'u', match: { queue: 'io' }, trigger: { kind: 'once' }, action: { type: 'irq-storm', vectors: 'unused', count: 2 } },
  ] }));
  await d.write(2, 2);
  const end = Math.max(...ctrl.ctx.windows.list().map((w) => w.iova + w.len));
  t.is(sent.length, 4, sent.join('\n'));
  for (const s of sent.slice(0, 2)) {
    const addr = Number(s.split(' ')[1]);
    t.true(addr >= end, `${s} is outside every window (they end at ${end})`);
  }
  t.regex(sent[2] ?? '', /^irq ([2-9]|[1-6]\d)$/, 'an unused vector');
  t.deepEqual(eng.report().rules.map((r) => r.injected), [1, 1, 1]);
});
