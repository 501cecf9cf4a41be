// Fault plans: the validator's errors (path + problem, all at once), the
// kernel-style trigger string, and every ready-made fixture is a valid plan.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validatePlan, parsePlan, parseKernelSpec, PlanError, FIXTURE_DIR, listFixtures, loadFixture, loadPlanFile, mergePlans, planFromFlags } from '../../device/faults/index.ts';

const rule = (over: Record<string, unknown>): unknown => ({ rules: [{ action: { type: 'fatal' }, ...over }] });

/** [name, plan, expected "path: problem" fragments] */
const BAD: [string, unknown, string[]][] = [
  ['not an object', 42, ['$: expected an object']],
  ['rules missing', {}, ['$.rules: required']],
  ['rules not a list', { rules: {} }, ['$.rules: expected a list']],
  ['unknown top-level field', { rules: [], sead: 1 }, ['$.sead: unknown field']],
  ['seed out of range', { rules: [], seed: -1 }, ['$.seed: expected an integer in 0..4294967295, got -1']],
  ['rule not an object', { rules: [1] }, ['rules[0]: expected an object']],
  ['action missing', { rules: [{}] }, ['rules[0].action: required']],
  ['unknown action', rule({ action: { type: 'explode' } }), ['rules[0].action.type: expected one of status, delay']],
  ['status needs sct/sc', rule({ action: { type: 'status' } }), ['rules[0].action.sct: required', 'rules[0].action.sc: required']],
  ['status sc range', rule({ action: { type: 'status', sct: 2, sc: 300 } }), ['rules[0].action.sc: expected an integer in 0..255, got 300']],
  ['status success injects nothing', rule({ action: { type: 'status', sct: 0, sc: 0 } }), ['rules[0].action: status 0/00h is success']],
  ['crd range', rule({ action: { type: 'status', sct: 0, sc: 6, crd: 4 } }), ['rules[0].action.crd: expected an integer in 0..3, got 4']],
  ['dnr type', rule({ action: { type: 'status', sct: 0, sc: 6, dnr: 'yes' } }), ['rules[0].action.dnr: expected true or false']],
  ['delay missing', rule({ action: { type: 'delay' } }), ['rules[0].action.delay: required']],
  ['delay dist', rule({ action: { type: 'delay', delay: { dist: 'gamma' } } }), ['rules[0].action.delay.dist: expected one of uniform, exponential, normal']],
  ['uniform max < min', rule({ action: { type: 'delay', delay: { dist: 'uniform', min: 5, max: 1 } } }), ['rules[0].action.delay.max: must be ≥ min (5)']],
  ['trigger kind', rule({ trigger: { kind: 'sometimes' } }), ['rules[0].trigger.kind: expected one of always, once, every']],
  ['every n ≥ 1', rule({ trigger: { kind: 'every', n: 0 } }), ['rules[0].trigger.n: expected an integer in 1..']],
  ['probability range', rule({ trigger: { kind: 'probability', p: 1.5 } }), ['rules[0].trigger.p: expected a number in 0..1, got 1.5']],
  ['once takes no times', rule({ trigger: { kind: 'once', times: 3 } }), ['rules[0].trigger.times: unknown field']],
  ['window end before start', rule({ trigger: { kind: 'window', startMs: 100, endMs: 50 } }), ['rules[0].trigger.endMs: must be after startMs (100)']],
  ['kernel spec short', rule({ trigger: { kind: 'kernel', spec: '1,100' } }), ['rules[0].trigger.spec: expected "interval,probability,space,times"']],
  ['kernel spec probability', rule({ trigger: { kind: 'kernel', spec: '1,150,0,-1' } }), ['rules[0].trigger.spec: probability is a percentage']],
  ['kernel spec and fields', rule({ trigger: { kind: 'kernel', spec: '1,100,0,-1', interval: 2 } }), ['rules[0].trigger.interval: give either spec or the four fields']],
  ['match qid list', rule({ match: { qid: [1, 'x'] } }), ['rules[0].match.qid[1]: expected an integer in 0..65535, got "x"']],
  ['match queue', rule({ match: { queue: 'both' } }), ['rules[0].match.queue: expected one of admin, io']],
  ['match lba count', rule({ match: { lba: { first: 0, count: 0 } } }), ['rules[0].match.lba.count: expected an integer in 1..']],
  ['match commands order', rule({ match: { commands: { from: 10, to: 5 } } }), ['rules[0].match.commands: to (5) is before from (10)']],
  ['opcode without queue', rule({ match: { opcode: 1 } }), ['rules[0].match.opcode: needs match.queue']],
  ['unknown match field', rule({ match: { lbas: 1 } }), ['rules[0].match.lbas: unknown field']],
  ['media needs lba', rule({ action: { type: 'media-error', kind: 'read' } }), ["rules[0].action.type: 'media-error' needs match.lba"]],
  ['write until-rewritten', rule({ match: { lba: { first: 0, count: 1 } }, action: { type: 'media-error', kind: 'write', persist: 'until-rewritten' } }), ["rules[0].action.persist: 'until-rewritten' is for read errors"]],
  ['ready-stuck on command', rule({ action: { type: 'ready-stuck' } }), ['rules[0].action.type: \'ready-stuck\' only works with "on": "enable"']],
  ['command action on timer', rule({ on: 'timer', action: { type: 'drop-completion' } }), ["rules[0].action.type: 'drop-completion' acts on a command and needs \"on\": \"command\""]],
  ['match on timer', rule({ on: 'timer', match: { queue: 'io' } }), ['rules[0].match: only "on": "command" rules match commands']],
  ['corrupt variant', rule({ action: { type: 'corrupt-cqe', variant: 'garble' } }), ['rules[0].action.variant: expected one of wrong-cid']],
  ['duplicate ids', { rules: [{ id: 'a', action: { type: 'fatal' } }, { id: 'a', action: { type: 'fatal' } }] }, ["rules[1].id: duplicate rule id 'a'"]],
  ['replug without power-loss', rule({ action: { type: 'torn-write', then: 'drop', replugAfterMs: 5 } }), ['rules[0].action.replugAfterMs: only meaningful']],
  ['drop-doorbell on command', rule({ action: { type: 'drop-doorbell' } }), ['rules[0].action.type: \'drop-doorbell\' only works with "on": "doorbell"']],
  ['drop-doorbell kind', rule({ on: 'doorbell', action: { type: 'drop-doorbell', kind: 'xq' } }), ['rules[0].action.kind: expected one of sq, cq']],
  ['irq vectors', rule({ action: { type: 'irq-storm', vectors: 'all' } }), ['rules[0].action.vectors: expected "io", "unused" or a list']],
];

for (const [name, plan, want] of BAD) {
  test(`validator: ${name}`, (t) => {
    const e = t.throws(() => validatePlan(plan), { instanceOf: PlanError });
    for (const w of want) t.true(e.message.includes(w), `expected "${w}" in:\n${e.message}`);
    t.is(e.issues.length, want.length, e.message);
  });
}

test('validator reports every problem at once, one per line', (t) => {
  const e = t.throws(
    () => validatePlan({ seed: 'x', rules: [{ trigger: { kind: 'every', n: -1 }, action: { type: 'status', sct: 9, sc: 1 } }] }, 'my.json'),
    { instanceOf: PlanError },
  );
  t.is(e.issues.length, 3);
  t.regex(e.message, /^my\.json: 3 problems\n {2}\$\.seed: /);
  t.deepEqual(e.issues.map((i) => i.path), ['$.seed', 'rules[0].trigger.n', 'rules[0].action.sct']);
});

test('defaults: id, hook, trigger, seed, tick', (t) => {
  const p = validatePlan({ rules: [{ action: { type: 'fatal' } }] });
  t.is(p.seed, 1);
  t.is(p.tickMs, 10);
  t.deepEqual(p.rules[0], { id: 'rule-0', on: 'command', match: {}, trigger: { kind: 'always' }, action: { type: 'fatal' } });
});

test('parsePlan: JSON syntax errors are PlanErrors', (t) => {
  const e = t.throws(() => parsePlan('{"rules": [', 'x.json'), { instanceOf: PlanError });
  t.regex(e.message, /x\.json: 1 problem\n {2}\$: not valid JSON/);
});

test('kernel spec parses like lib/fault-inject.c', (t) => {
  t.deepEqual(parseKernelSpec('1,100,0,-1'), { interval: 1, probability: 100, space: 0, times: -1 });
  t.deepEqual(parseKernelSpec(' 10, 50, 4096, 3 '), { interval: 10, probability: 50, space: 4096, times: 3 });
  t.is(typeof parseKernelSpec('1,2,3'), 'string');
  t.is(typeof parseKernelSpec('a,b,c,d'), 'string');
  t.is(typeof parseKernelSpec('1,100,0,-2'), 'string');
});

test('every ready-made fixture exists and is a valid plan with a description', (t) => {
  const names = listFixtures();
  t.deepEqual(names, [
    'bit-rot', 'dropped-completions', 'fatal-controller', 'flaky-media', 'hostile-dma', 'irq-storm',
    'liar', 'lost-interrupts', 'never-ready', 'power-cut', 'slow-device', 'surprise-removal',
  ]);
  for (const n of names) {
    const p = loadFixture(n);
    t.true(p.rules.length > 0, n);
    t.true(p.description.length > 20, n);
  }
});

test('unknown fixture and unreadable plan file name the problem', (t) => {
  t.throws(() => loadFixture('nope'), { message: /unknown fixture 'nope' \(known: bit-rot, / });
  t.throws(() => loadFixture('../etc/passwd'), { instanceOf: PlanError });
  t.throws(() => loadPlanFile('/nonexistent/plan.json'), { message: /--fault-plan \/nonexistent\/plan\.json: 1 problem\n {2}\$: cannot read: ENOENT/ });
});

test('flags: fixtures and plan files merge in order, ids stay unique', (t) => {
  const p = planFromFlags(new Map([['fixture', ['fatal-controller', 'fatal-controller']]]));
  t.truthy(p);
  t.deepEqual(p?.rules.map((r) => r.id), ['cfs', 'cfs.1']);
  t.is(planFromFlags(new Map()), undefined);
  t.is(mergePlans([]), undefined);
  t.throws(() => planFromFlags(new Map([['fixture', ['nope']]])), { name: 'OptionError' });
});

test('fixtures/plans/index.json lists every fixture with its description', (t) => {
  const idx = JSON.parse(readFileSync(join(FIXTURE_DIR, 'index.json'), 'utf8')) as { fixtures: { name: string; file: string; description: string }[] };
  t.deepEqual(idx.fixtures.map((f) => f.name), listFixtures());
  for (const f of idx.fixtures) t.is(f.description, loadFixture(f.name).description, f.name);
});
