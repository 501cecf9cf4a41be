// Every action type the plan validator accepts really injects against the
// real controller (in process): after its stimulus, the rule's `injected`
// counter is ≥ 1 and nothing was counted `unsupported`. A new action type
// without a case here fails the coverage test, so "accepted but silently
// unsupported" cannot creep in. The same for every trigger kind.
import test from 'ava';
import { NvmeTestHost } from '../helpers/nvme-host.ts';
import { silentLogger } from '../../src/util/log.ts';
import { NVM } from '../../src/spec/nvm.ts';
import { ADMIN } from '../../src/spec/admin.ts';
import { FID } from '../../src/spec/features.ts';
import { REG, CSTS, getField } from '../../src/spec/registers.ts';
import { FaultEngine, validatePlan, ACTION_TYPES, TRIGGER_KINDS, type Rule } from '../../device/faults/index.ts';
import type { NvmeController } from '../../device/nvme/controller.ts';

interface Rig {
  host: NvmeTestHost;
  ctrl: NvmeController;
  eng: FaultEngine;
}

/** Wait (by event-loop turns, bounded) until `pred` holds; false if it never does. */
async function until(pred: () => boolean, turns = 20_000): Promise<boolean> {
  for (let i = 0; i < turns; i++) {
    if (pred()) return true;
    await new Promise((r) => setImmediate(r));
  }
  return pred();
}

function io(h: NvmeTestHost) {
  const write = (lba: number, fill: number, blocks = 1) => {
    const b = h.buf(4096 * blocks);
    h.mem.write(b, new Uint8Array(4096 * blocks).fill(fill));
    return h.io(1, { opc: NVM.WRITE, nsid: 1, prp1: b, prp2: blocks === 2 ? b + 4096 : 0, cdw10: lba, cdw12: blocks - 1 });
  };
  const read = (lba: number) => h.io(1, { opc: NVM.READ, nsid: 1, prp1: h.buf(4096), prp2: 0, cdw10: lba, cdw12: 0 });
  return { write, read };
}

const sync = (h: NvmeTestHost) => h.expectOk(h.admin({ opc: ADMIN.GET_FEATURES, cdw10: FID.NUMBER_OF_QUEUES }), 'sync');
/** Before any host turned bus mastering off, a bus-master-off rule has not fired (no DMA into nobody). */
function t0Check(eng: FaultEngine): void {
  if (injected(eng) !== 0) throw new Error('bus-master-off fired before the host turned bus mastering off');
}
const injected = (eng: FaultEngine) => eng.report().rules.reduce((a, r) => a + r.injected, 0);

interface Case {
  rule: Rule;
  bringUp?: boolean;
  tickMs?: number;
  /** Drive the controller until the rule has had its chance to fire. */
  run(r: Rig): Promise<void>;
}

const IO = { queue: 'io' } as const;
const ONCE = { kind: 'once' } as const;

const CASES: Record<string, Case> = {
  status: { rule: { match: IO, trigger: ONCE, action: { type: 'status', sct: 1, sc: 0x0b, more: true, crd: 2 } }, run: async ({ host }) => void (await io(host).write(1, 1)) },
  delay: { rule: { match: IO, trigger: ONCE, action: { type: 'delay', delay: { dist: 'uniform', min: 0, max: 2 } } }, run: async ({ host }) => void (await io(host).write(1, 1)) },
  'stall-queue': { rule: { match: IO, trigger: ONCE, action: { type: 'stall-queue', ms: 1 } }, run: async ({ host }) => void (await io(host).write(1, 1)) },
  'drop-completion': {
    rule: { match: IO, trigger: ONCE, action: { type: 'drop-completion' } },
    run: async ({ host, eng }) => {
      void io(host).write(1, 1);
      await until(() => injected(eng) > 0);
    },
  },
  'drop-interrupt': {
    rule: { match: IO, trigger: ONCE, action: { type: 'drop-interrupt' } },
    run: async ({ host, eng }) => {
      const d = io(host);
      const first = d.write(1, 1);
      await until(() => injected(eng) > 0); // the CQE is in the ring, its interrupt swallowed
      await d.write(2, 2); // the next interrupt reaps the stranded CQE too
      await first;
    },
  },
  'corrupt-cqe': { rule: { match: IO, trigger: ONCE, action: { type: 'corrupt-cqe', variant: 'wrong-sq-head' } }, run: async ({ host }) => void (await io(host).write(1, 1)) },
  'drop-doorbell': {
    rule: { on: 'doorbell', trigger: ONCE, action: { type: 'drop-doorbell', kind: 'sq', qid: 1 } },
    run: async ({ host }) => {
      const d = io(host);
      const lost = d.write(1, 1);
      await d.write(2, 2);
      await lost;
    },
  },
  fatal: {
    rule: { match: IO, trigger: ONCE, action: { type: 'fatal' } },
    run: async ({ host }) => {
      void io(host).write(1, 1);
      await host.waitCsts((v) => getField(v, CSTS.CFS) === 1);
    },
  },
  'ready-stuck': {
    rule: { on: 'enable', trigger: ONCE, action: { type: 'ready-stuck' } },
    bringUp: false,
    run: async ({ host }) => {
      await host.bringUp({ ioQueues: 1, aer: false }).then(
        () => Promise.reject(new Error('bring-up succeeded with RDY stuck at 0')),
        () => undefined,
      );
    },
  },
  'slow-enable': { rule: { on: 'enable', trigger: ONCE, action: { type: 'slow-enable', ms: 2 } }, run: async () => {} },
  'slow-shutdown': {
    rule: { on: 'shutdown', trigger: ONCE, action: { type: 'slow-shutdown', ms: 2 } },
    run: async ({ host }) => {
      host.write32(REG.CC, 0x00464001); // SHN = 01b, EN kept
      await host.waitCsts((v) => getField(v, CSTS.SHST) === 2, 100_000);
    },
  },
  'media-error': {
    rule: { match: { queue: 'io', lba: { first: 0, count: 16 } }, trigger: ONCE, action: { type: 'media-error', kind: 'read', persist: 'always' } },
    run: async ({ host }) => void (await io(host).read(3)),
  },
  'bit-flip': {
    rule: { match: IO, trigger: ONCE, action: { type: 'bit-flip', bits: 3, where: 'transfer' } },
    run: async ({ host }) => {
      const d = io(host);
      await d.write(1, 1);
      await d.read(1);
    },
  },
  'torn-write': {
    rule: { match: IO, trigger: ONCE, action: { type: 'torn-write', keepBlocks: 1, then: 'drop' } },
    run: async ({ host, eng }) => {
      void io(host).write(4, 4, 2);
      await until(() => injected(eng) > 0);
    },
  },
  'power-loss': {
    rule: { match: IO, trigger: ONCE, action: { type: 'power-loss' } },
    run: async ({ host, eng }) => {
      void io(host).write(1, 1);
      await until(() => injected(eng) > 0);
    },
  },
  'surprise-removal': {
    rule: { match: IO, trigger: ONCE, action: { type: 'surprise-removal' } },
    run: async ({ host, eng }) => {
      void io(host).write(1, 1);
      await until(() => injected(eng) > 0);
    },
  },
  'hostile-dma': {
    // The hardest kind: it only fires once the host has turned bus mastering off.
    rule: { on: 'timer', trigger: ONCE, action: { type: 'hostile-dma', kind: 'bus-master-off', len: 64 } },
    tickMs: 1,
    run: async ({ host, eng }) => {
      t0Check(eng);
      await until(() => eng.busMasterSeen); // a tick saw the host's bus mastering on
      await host.cfgWrite(0x04, 2, 0x0002); // memory on, bus master off
      await until(() => injected(eng) > 0);
    },
  },
  'irq-storm': { rule: { match: IO, trigger: ONCE, action: { type: 'irq-storm', vectors: 'unused', count: 3 } }, run: async ({ host }) => void (await io(host).write(1, 1)) },
};

test('every action type has a case here', (t) => {
  t.deepEqual(Object.keys(CASES).sort(), [...ACTION_TYPES].sort());
});

for (const [type, c] of Object.entries(CASES)) {
  test(`${type}: injects, none unsupported`, async (t) => {
    const { host, ctrl } = await NvmeTestHost.inProcess();
    const removed: string[] = [];
    const eng = new FaultEngine(ctrl, { log: silentLogger, removeDevice: (why) => removed.push(why) });
    t.teardown(() => {
      eng.close();
      host.close();
    });
    eng.load(validatePlan({ seed: 5, ...(c.tickMs === undefined ? {} : { tickMs: c.tickMs }), rules: [{ id: 'r', ...c.rule }] }));
    if (c.bringUp !== false) await host.bringUp({ ioQueues: 1, aer: false });
    await c.run({ host, ctrl, eng });
    const rep = eng.report().rules[0];
    t.is(rep?.unsupported, 0, `${type} counted unsupported`);
    t.true((rep?.injected ?? 0) >= 1, `${type} never injected: ${JSON.stringify(rep)}`);
    if (type === 'surprise-removal' || type === 'power-loss') t.is(removed.length, 1, 'the device was removed');
  });
}

// Every trigger kind, through the engine, on 20 identical writes: which ones fire.
const TRIGGERS: Record<string, { trigger: Rule['trigger']; fired: (n: number[]) => boolean }> = {
  always: { trigger: { kind: 'always', times: 3 }, fired: (n) => n.join() === '1,2,3' },
  once: { trigger: { kind: 'once' }, fired: (n) => n.join() === '1' },
  every: { trigger: { kind: 'every', n: 7 }, fired: (n) => n.join() === '7,14' },
  after: { trigger: { kind: 'after', n: 17 }, fired: (n) => n.join() === '18,19,20' },
  probability: { trigger: { kind: 'probability', p: 0.5 }, fired: (n) => n.length > 2 && n.length < 18 },
  kernel: { trigger: { kind: 'kernel', spec: '5,100,3,2' }, fired: (n) => n.length === 2 && n.every((x) => x > 3) },
  window: { trigger: { kind: 'window', startMs: 0 }, fired: (n) => n.length === 20 },
};

test('every trigger kind has a case here', (t) => {
  t.deepEqual(Object.keys(TRIGGERS).sort(), [...TRIGGER_KINDS].sort());
});

for (const [kind, c] of Object.entries(TRIGGERS)) {
  test(`trigger ${kind} through the engine`, async (t) => {
    const { host, ctrl } = await NvmeTestHost.inProcess();
    const eng = new FaultEngine(ctrl, { log: silentLogger });
    t.teardown(() => host.close());
    eng.load(validatePlan({ seed: 9, rules: [{ match: { queue: 'io', opcode: NVM.WRITE }, trigger: c.trigger, action: { type: 'status', sct: 0, sc: 6 } }] }));
    await host.bringUp({ ioQueues: 1, aer: false });
    const d = io(host);
    const fired: number[] = [];
    for (let i = 1; i <= 20; i++) if ((await d.write(i, i)).status !== 0) fired.push(i);
    t.true(c.fired(fired), `${kind} fired on writes ${fired.join(', ')}`);
    t.is(eng.report().rules[0]?.injected, fired.length);
  });
}

test('bus-master-off waits for a host to turn bus mastering off (not the power-on off state)', async (t) => {
  const { host, ctrl } = await NvmeTestHost.inProcess();
  await host.cfgWrite(0x04, 2, 0x0002); // bus mastering off, as at power-on before a host enables it
  const eng = new FaultEngine(ctrl, { log: silentLogger });
  t.teardown(() => {
    eng.close();
    host.close();
  });
  eng.load(validatePlan({ tickMs: 1, rules: [
    { id: 'bme', on: 'timer', trigger: { kind: 'always' }, action: { type: 'hostile-dma', kind: 'bus-master-off', len: 64 } },
    // A tick counter: an irq storm on a vector the controller does not have never injects, but counts its matches.
    { id: 'ticks', on: 'timer', action: { type: 'irq-storm', vectors: [2047], count: 1 } },
  ] }));
  const ticks = () => eng.report().rules[1]?.matches ?? 0;
  t.true(await until(() => ticks() >= 3));
  t.is(eng.report().rules[0]?.injected, 0, 'no DMA while no host ever enabled bus mastering');
  await host.cfgWrite(0x04, 2, 0x0006);
  t.true(await until(() => eng.busMasterSeen));
  await host.cfgWrite(0x04, 2, 0x0002);
  t.true(await until(() => (eng.report().rules[0]?.injected ?? 0) > 0), 'fires once the host turned it off');
});
