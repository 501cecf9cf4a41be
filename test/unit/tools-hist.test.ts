// Latency histograms: fio's log-linear bucketing, bounded memory, and
// percentiles within the bucket error of the exact order statistics.
import test from 'ava';
import { LatencyHistogram, PLAT_NR, platIdxToVal, platValToIdx } from '../../host/tools/fio/index.ts';
import { RunningStat } from '../../host/tools/fio/hist.ts';
import { Prng } from '../../host/tools/fio/rand.ts';

test('bucket index: exact below 128, 64 buckets per power of two above', (t) => {
  for (let v = 0; v < 128; v++) t.is(platValToIdx(v), v);
  t.is(platValToIdx(128), 128);
  t.is(platValToIdx(129), 128, '2 values per bucket in the 128..255 group');
  t.is(platValToIdx(130), 129);
  t.is(platValToIdx(256), 192);
  t.is(platValToIdx(2 ** 40), PLAT_NR - 1, 'huge values land in the last bucket');
  // Every bucket's representative value maps back to the same bucket.
  for (let i = 0; i < PLAT_NR - 1; i++) t.is(platValToIdx(platIdxToVal(i)), i);
});

test('memory is bounded: the histogram does not grow with samples', (t) => {
  const h = new LatencyHistogram();
  const rng = new Prng(1);
  for (let i = 0; i < 200_000; i++) h.add(rng.below(1e9));
  t.is(h.buckets.length, PLAT_NR);
  t.is(h.count, 200_000);
});

test('percentiles match the exact values within the bucket error (seeded data)', (t) => {
  const rng = new Prng(42);
  const n = 100_000;
  const vals: number[] = [];
  const h = new LatencyHistogram();
  for (let i = 0; i < n; i++) {
    // Log-normal-ish latencies from ~1 µs to ~10 ms.
    const v = Math.floor(Math.exp(7 + 3 * rng.float() + 2 * rng.float()));
    vals.push(v);
    h.add(v);
  }
  vals.sort((a, b) => a - b);
  const list = [1, 5, 10, 50, 90, 99, 99.9, 99.99];
  const got = h.percentiles(list);
  list.forEach((p, i) => {
    const exact = vals[Math.ceil((p / 100) * n) - 1] ?? 0;
    const err = Math.abs((got[i] ?? 0) - exact) / exact;
    t.true(err <= 1 / 64 + 1e-9, `p${p}: got ${got[i]}, exact ${exact}, rel err ${err}`);
  });
});

test('percentiles of an empty histogram are 0; merge adds counts', (t) => {
  const a = new LatencyHistogram();
  t.deepEqual(a.percentiles([50, 99]), [0, 0]);
  const b = new LatencyHistogram();
  a.add(100); b.add(100); b.add(5000);
  a.merge(b);
  t.is(a.count, 3);
  t.is(a.percentiles([50])[0], 100);
});

test('running stats: mean/stddev (sample) and merge equal the direct computation', (t) => {
  const rng = new Prng(7);
  const xs = Array.from({ length: 1000 }, () => rng.below(10_000));
  const a = new RunningStat();
  const b = new RunningStat();
  xs.forEach((x, i) => (i < 400 ? a : b).add(x));
  a.merge(b);
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1));
  t.true(Math.abs(a.mean - mean) < 1e-6);
  t.true(Math.abs(a.stddev() - sd) < 1e-6);
  t.is(a.min, Math.min(...xs));
  t.is(a.max, Math.max(...xs));
});
