// Fuzz the fault-plan boundary (--fault-plan files, fault-inject arguments):
// seeded structural mutations of every ready-made fixture plus random JSON
// values and random text. validatePlan/parsePlan either return a plan or throw
// a PlanError whose issues are all "path: problem"; nothing else is thrown.
// Validation never modifies its input.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validatePlan, parsePlan, PlanError, FIXTURE_DIR, listFixtures } from '../../device/faults/index.ts';
import { Mulberry32 } from '../../src/util/prng.ts';

const SAMPLES: unknown[] = [
  0, 1, -1, 0.5, 2 ** 32, 2 ** 53, -0, 1e308, NaN, Infinity, '', 'x', 'always', 'once', 'every', 'status', 'delay', 'fatal', 'read', 'write', '5%',
  '1,100,0,1', true, false, null, [], [1], [{}], {}, { type: 'status' }, { kind: 'every', n: 3 }, { dist: 'uniform', min: 1, max: 2 },
  { sct: 0, sc: 6 }, 'a'.repeat(10_000), { __proto__: { polluted: true } }, { constructor: 1 }, { toString: 3 },
];

function randomJson(r: Mulberry32, depth: number): unknown {
  if (depth <= 0 || r.below(3) === 0) return SAMPLES[r.below(SAMPLES.length)];
  if (r.below(2) === 0) return Array.from({ length: r.below(4) }, () => randomJson(r, depth - 1));
  const o: Record<string, unknown> = {};
  const keys = ['rules', 'seed', 'action', 'trigger', 'match', 'type', 'kind', 'n', 'p', 'opc', 'qid', 'nsid', 'hook', 'delay', 'sct', 'sc', 'x'];
  for (let i = 0; i < r.below(5); i++) o[keys[r.below(keys.length)] ?? 'x'] = randomJson(r, depth - 1);
  return o;
}

type J = unknown;
/** Replace / delete / retype one random node inside a JSON value. */
function mutate(r: Mulberry32, v: J): J {
  if (Array.isArray(v)) {
    if (v.length === 0 || r.below(5) === 0) return r.below(2) === 0 ? [...v, randomJson(r, 2)] : randomJson(r, 2);
    const i = r.below(v.length);
    const out = [...v];
    if (r.below(6) === 0) out.splice(i, 1);
    else if (r.below(6) === 0) out.splice(i, 0, out[i]);
    else out[i] = mutate(r, out[i]);
    return out;
  }
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v);
    const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    if (keys.length === 0 || r.below(6) === 0) {
      out[['seed', 'rules', 'n', 'times', 'extra'][r.below(5)] ?? 'x'] = randomJson(r, 2);
      return out;
    }
    const k = keys[r.below(keys.length)] ?? '';
    if (r.below(5) === 0) delete out[k];
    else out[k] = mutate(r, out[k]);
    return out;
  }
  return r.below(2) === 0 ? randomJson(r, 2) : SAMPLES[r.below(SAMPLES.length)];
}

function check(t: { fail: (m: string) => void; true: (b: boolean, m?: string) => void }, f: () => unknown, ctx: () => string): 'ok' | 'refused' {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (!(e instanceof PlanError)) {
      t.fail(`${ctx()}: threw ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      return 'refused';
    }
    t.true(e.issues.length > 0, ctx());
    for (const i of e.issues) {
      t.true(typeof i.path === 'string' && i.path.length > 0 && typeof i.problem === 'string' && i.problem.length > 0 && !i.problem.includes('\n'), `${ctx()}: ${JSON.stringify(i)}`);
    }
    return 'refused';
  }
}

test('mutated fixture plans: a valid plan or PlanError with "path: problem" issues', (t) => {
  const r = new Mulberry32(0xfa17);
  const plans = listFixtures().map((n) => JSON.parse(readFileSync(join(FIXTURE_DIR, `${n}.json`), 'utf8')) as unknown);
  t.true(plans.length > 0);
  const tally = { ok: 0, refused: 0 };
  for (let i = 0; i < 1500; i++) {
    let p = plans[r.below(plans.length)];
    for (let k = 0, n = 1 + r.below(3); k < n; k++) p = mutate(r, p);
    const before = JSON.stringify(p);
    tally[check(t, () => validatePlan(p), () => JSON.stringify(p).slice(0, 400))]++;
    t.is(JSON.stringify(p), before, 'validation does not modify its input');
  }
  t.true(tally.ok > 50 && tally.refused > 50, JSON.stringify(tally));
});

test('random JSON values and random text: never anything but PlanError', (t) => {
  const r = new Mulberry32(0x7e47);
  for (let i = 0; i < 1000; i++) {
    const v = randomJson(r, 5);
    check(t, () => validatePlan(v), () => JSON.stringify(v)?.slice(0, 300) ?? String(v));
    check(t, () => validatePlan({ rules: [v] }), () => `rules: [${JSON.stringify(v)?.slice(0, 300)}]`);
  }
  for (let i = 0; i < 300; i++) {
    const text = r.below(2) === 0
      ? JSON.stringify(randomJson(r, 4) ?? null).slice(0, r.below(200))
      : String.fromCharCode(...Array.from({ length: r.below(80) }, () => r.below(0x3000)));
    check(t, () => parsePlan(text, 'fuzz.json'), () => JSON.stringify(text));
  }
});
