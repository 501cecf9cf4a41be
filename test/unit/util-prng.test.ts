// src/util/prng.ts: the project's one set of seeded generators. The known
// answers pin the sequences the modules that moved here produced before
// (rnull's SeededRandom, fio's Prng), so a seed in a saved job or fault plan
// keeps meaning the same run.
import test from 'ava';
import { Mulberry32, Xoshiro128ss, fmix32, mulberry32 } from '../../src/util/prng.ts';
import { SeededRandom } from '../../host/drivers/rnull/fault.ts';
import { Prng } from '../../host/tools/fio/rand.ts';

test('mulberry32: known answers; next/below derive from nextU32; reseed restarts', (t) => {
  const g = new Mulberry32(7);
  t.deepEqual([g.nextU32(), g.nextU32()], [50271532, 266108690]);
  t.is(g.below(100), 97);
  g.reseed(7);
  t.is(g.nextU32(), 50271532);
  const f = mulberry32(7);
  t.is(f(), 50271532 / 2 ** 32);
  t.is(SeededRandom, Mulberry32);
});

test('xoshiro128**: known answers; fillWords gives the same stream as u32()', (t) => {
  const g = new Xoshiro128ss(12345);
  t.deepEqual([g.u32(), g.u32(), g.u32(), g.below(1000)], [518667457, 440444462, 4232892992, 874]);
  const w = new Uint32Array(5);
  g.fillWords(w);
  t.deepEqual([...w], [1334683535, 3795058715, 2092637810, 2829112157, 779180383]);
  t.is(new Xoshiro128ss(0).u32(), 3809008728);
  t.is(Prng, Xoshiro128ss);
  const a = new Xoshiro128ss(99);
  const b = new Xoshiro128ss(99);
  const words = new Uint32Array(33);
  a.fillWords(words);
  t.deepEqual([...words], Array.from({ length: 33 }, () => b.u32()));
});

test('fmix32 is the murmur3 finaliser (0 → 0, avalanche on one bit)', (t) => {
  t.is(fmix32(0), 0);
  t.is(fmix32(1), 0x514e28b7);
  t.not(fmix32(2), fmix32(1));
});
