// device/backend page walking (forEachPage / forEachPresentPage) behind
// RamStore and WriteCache: a seeded random mix of unaligned writes, reads,
// deallocations (some far larger than what is allocated), FUA writes, flushes
// and power loss, checked against a flat reference array.
import test from 'ava';
import { Mulberry32 } from '../../src/util/prng.ts';
import { RamStore, STORE_PAGE, forEachPage, forEachPresentPage } from '../../device/backend/store.ts';
import { WriteCache } from '../../device/backend/write-cache.ts';
import { forEachInRange } from '../../src/util/sparse.ts';

test('forEachPage splits at page boundaries; forEachPresentPage visits only present pages', (t) => {
  const seen: number[][] = [];
  forEachPage(STORE_PAGE - 10, STORE_PAGE + 20, (pi, po, done, n) => seen.push([pi, po, done, n]));
  t.deepEqual(seen, [[0, STORE_PAGE - 10, 0, 10], [1, 0, 10, STORE_PAGE], [2, 0, STORE_PAGE + 10, 10]]);
  const pages = new Map<number, string>([[1, 'a'], [7, 'b'], [1e9, 'c']]);
  const hit: Array<[number, string, number, number]> = [];
  forEachPresentPage(pages, STORE_PAGE + 5, 7 * STORE_PAGE, (pi, p, po, n) => hit.push([pi, p, po, n]));
  t.deepEqual(hit, [[1, 'a', 5, STORE_PAGE - 5], [7, 'b', 0, STORE_PAGE]]);
  forEachPresentPage(pages, 0, 0, () => t.fail('empty range visits nothing'));
});

test('forEachInRange walks the shorter side and tolerates deleting the visited entry', (t) => {
  const m = new Map<number, number>([[5, 50], [2, 20], [9, 90], [3, 30]]);
  const small: number[] = [];
  forEachInRange(m, 2, 4, (k) => small.push(k)); // range (3) < map (4): ascending
  t.deepEqual(small, [2, 3]);
  const big: number[] = [];
  forEachInRange(m, 0, 1e12, (k) => {
    big.push(k);
    m.delete(k);
  }); // map shorter: insertion order
  t.deepEqual(big, [5, 2, 9, 3]);
  t.is(m.size, 0);
});

const SIZE = 64 * STORE_PAGE;

function run(seed: number, cached: boolean): { ok: boolean; where: string } {
  const rng = new Mulberry32(seed);
  const store = new RamStore(SIZE);
  const cache = new WriteCache(store, cached, 8);
  const ref = new Uint8Array(SIZE); // what a reader must see
  let durable = new Uint8Array(SIZE); // what survives power loss
  for (let step = 0; step < 400; step++) {
    const op = rng.below(10);
    const off = rng.below(SIZE);
    const len = 1 + rng.below(Math.min(SIZE - off, 3 * STORE_PAGE));
    if (op < 4) {
      const src = new Uint8Array(len);
      for (let i = 0; i < len; i++) src[i] = rng.nextU32() & 0xff;
      const fua = op === 0;
      cache.write(off, src, fua);
      ref.set(src, off);
      if (fua || !cached) durable.set(src, off);
    } else if (op < 6) {
      cache.deallocate(off, len);
      ref.fill(0, off, off + len);
      if (!cached) durable.fill(0, off, off + len);
    } else if (op === 6) {
      cache.deallocate(0, SIZE); // larger than the cache tracks page by page
      ref.fill(0);
      durable.fill(0);
    } else if (op === 7) {
      void cache.flush();
      durable = ref.slice();
    } else {
      const dst = new Uint8Array(len);
      cache.read(off, dst);
      if (Buffer.compare(dst, ref.subarray(off, off + len)) !== 0) return { ok: false, where: `read ${off}+${len} at step ${step}` };
    }
    // Whatever has been written back must be on the store; nothing must be lost by the cache itself.
    if (!cached || cache.dirtyPages === 0) {
      const all = new Uint8Array(SIZE);
      store.read(0, all);
      if (Buffer.compare(all, ref) !== 0) return { ok: false, where: `store at step ${step}` };
    }
  }
  // Power loss: dirty pages vanish, so the cache reads what the store holds;
  // anything flushed or FUA-written and not overwritten since is still there.
  cache.dropVolatile();
  const all = new Uint8Array(SIZE);
  const onStore = new Uint8Array(SIZE);
  cache.read(0, all);
  store.read(0, onStore);
  if (Buffer.compare(all, onStore) !== 0) return { ok: false, where: 'after power loss' };
  if (!cached && Buffer.compare(all, durable) !== 0) return { ok: false, where: 'write-through lost data' };
  return { ok: true, where: '' };
}

for (const cached of [false, true]) {
  test(`RamStore${cached ? ' + WriteCache' : ''}: random ops agree with a flat reference`, (t) => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = run(seed, cached);
      t.true(r.ok, `seed ${seed}: ${r.where}`);
    }
  });
}
