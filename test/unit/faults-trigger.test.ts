// Triggers are deterministic: the same seed and the same sequence of matches
// fire on exactly the same matches; each kind fires where its definition says.
import test from 'ava';
import { Rng, TriggerState, drawDelay, ruleSeed, type Trigger } from '../../device/faults/index.ts';

/** Indices (1-based) of the matches that fired, over `n` matches at time `now(i)`. */
function fired(trig: Trigger, n: number, seed = 1, now: (i: number) => number = () => 0): number[] {
  const s = new TriggerState(trig, new Rng(seed), 0);
  const out: number[] = [];
  for (let i = 1; i <= n; i++) if (s.consider(now(i))) out.push(i);
  return out;
}

test('always / once / times', (t) => {
  t.deepEqual(fired({ kind: 'always' }, 4), [1, 2, 3, 4]);
  t.deepEqual(fired({ kind: 'always', times: 2 }, 4), [1, 2]);
  t.deepEqual(fired({ kind: 'once' }, 4), [1]);
});

test('every n-th and after n', (t) => {
  t.deepEqual(fired({ kind: 'every', n: 3 }, 10), [3, 6, 9]);
  t.deepEqual(fired({ kind: 'every', n: 3, times: 2 }, 20), [3, 6]);
  t.deepEqual(fired({ kind: 'after', n: 7 }, 10), [8, 9, 10]);
  t.deepEqual(fired({ kind: 'after', n: 7, times: 1 }, 10), [8]);
  t.deepEqual(fired({ kind: 'after', n: 0, times: 1 }, 3), [1]);
});

test('probability: same seed, same firings; different seed, different firings; rate close to p', (t) => {
  const a = fired({ kind: 'probability', p: 0.1 }, 2000, 42);
  const b = fired({ kind: 'probability', p: 0.1 }, 2000, 42);
  const c = fired({ kind: 'probability', p: 0.1 }, 2000, 43);
  t.deepEqual(a, b);
  t.notDeepEqual(a, c);
  t.true(a.length > 140 && a.length < 260, `${a.length}`);
  t.deepEqual(fired({ kind: 'probability', p: 0 }, 100), []);
  t.is(fired({ kind: 'probability', p: 1 }, 100).length, 100);
});

test('kernel interval,probability,space,times follows lib/fault-inject.c', (t) => {
  // space skips the first 5 calls, then every 2nd call fails, 3 times at most.
  t.deepEqual(fired({ kind: 'kernel', spec: '2,100,5,3' }, 20), [6, 8, 10]);
  t.deepEqual(fired({ kind: 'kernel', spec: '1,100,0,-1' }, 3), [1, 2, 3]);
  t.deepEqual(fired({ kind: 'kernel', spec: '1,0,0,-1' }, 10), []);
  t.deepEqual(fired({ kind: 'kernel', interval: 4, probability: 100 }, 12), [4, 8, 12]);
  const p = fired({ kind: 'kernel', spec: '1,30,0,-1' }, 1000, 5);
  t.deepEqual(p, fired({ kind: 'kernel', spec: '1,30,0,-1' }, 1000, 5));
  t.true(p.length > 230 && p.length < 370, `${p.length}`);
});

test('window: only matches inside [startMs, endMs) fire (time is an input, not a clock)', (t) => {
  t.deepEqual(fired({ kind: 'window', startMs: 30, endMs: 60 }, 10, 1, (i) => i * 10), [3, 4, 5]);
  t.deepEqual(fired({ kind: 'window', startMs: 80 }, 10, 1, (i) => i * 10), [8, 9, 10]);
});

test('exhausted and counters', (t) => {
  const s = new TriggerState({ kind: 'every', n: 2, times: 1 }, new Rng(1), 0);
  t.false(s.exhausted);
  s.consider(0);
  s.consider(0);
  t.true(s.exhausted);
  t.is(s.matches, 2);
  t.is(s.fired, 1);
  t.false(s.consider(0));
  t.is(s.matches, 3);
});

test('rule seeds differ per rule and repeat per plan seed', (t) => {
  t.is(ruleSeed(1, 0), ruleSeed(1, 0));
  t.not(ruleSeed(1, 0), ruleSeed(1, 1));
  t.not(ruleSeed(1, 0), ruleSeed(2, 0));
});

test('delays: fixed, and distributions repeat with the seed and respect bounds', (t) => {
  t.is(drawDelay({ ms: 5 }, new Rng(1)), 5);
  const draw = (seed: number): number[] => {
    const r = new Rng(seed);
    return Array.from({ length: 200 }, () => drawDelay({ dist: 'exponential', mean: 2, max: 10 }, r));
  };
  t.deepEqual(draw(9), draw(9));
  t.true(draw(9).every((v) => v >= 0 && v <= 10));
  const r = new Rng(3);
  for (let i = 0; i < 200; i++) {
    const u = drawDelay({ dist: 'uniform', min: 1, max: 3 }, r);
    t.true(u >= 1 && u <= 3);
    t.true(drawDelay({ dist: 'normal', mean: 1, sd: 5, max: 4 }, r) <= 4);
    t.true(drawDelay({ dist: 'normal', mean: 1, sd: 5 }, r) >= 0);
  }
});
