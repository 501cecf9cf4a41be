// The fault tests' workload: self-describing blocks catch every kind of bad
// data, and the durability check compares against acknowledged + flushed
// versions (an in-memory BlockDevice stands in for a disk).
import test from 'ava';
import { makeBlock, checkBlock, runWorkload, verifyDurable } from '../../fixtures/workload.ts';
import { BLK_STS, type BlockDevice, type BlkStatus, type ReqOp } from '../../host/block/index.ts';

test('a block verifies; a flipped bit, a misdirected block and garbage do not; zeroes are version 0', (t) => {
  const b = makeBlock(4096, 42, 7, 1);
  t.deepEqual(checkBlock(b, 42), { version: 7 });
  t.deepEqual(makeBlock(4096, 42, 7, 1), b, 'deterministic');
  t.deepEqual(checkBlock(new Uint8Array(4096), 42), { version: 0 });
  const f = b.slice();
  f[100] = (f[100] ?? 0) ^ 4;
  t.deepEqual(checkBlock(f, 42), { corrupt: 'CRC mismatch (silent corruption)' });
  t.regex((checkBlock(b, 43) as { corrupt: string }).corrupt, /block for LBA 42 found at LBA 43/);
  t.true('corrupt' in checkBlock(new Uint8Array(4096).fill(1), 42));
});

/** A RAM disk with a volatile cache: `crash()` drops unflushed writes. Optionally fails every n-th op. */
function ramDisk(blocks: number, failEvery = 0): BlockDevice & { crash(): void; calls: number } {
  const bs = 4096;
  const durable = new Uint8Array(blocks * bs);
  const cache = new Map<number, Uint8Array>();
  let ops = 0;
  const dev = {
    name: 'ram', capacityBytes: blocks * bs, logicalBlockSize: bs, cpu: 0, calls: 0,
    crash: () => cache.clear(),
    submit(op: ReqOp, off: number, buf: Uint8Array | number, flags: number, _cpu: number, cb: (s: BlkStatus, r: number) => void): void {
      dev.calls++;
      setImmediate(() => {
        if (failEvery > 0 && ++ops % failEvery === 0) return cb(BLK_STS.IOERR, 0);
        const first = off / bs;
        const nblk = buf instanceof Uint8Array ? buf.length / bs : 0;
        for (let i = 0; i < nblk && buf instanceof Uint8Array; i++) {
          const lba = first + i;
          const blk = buf.subarray(i * bs, (i + 1) * bs);
          if (op === 0) blk.set(cache.get(lba) ?? durable.subarray(lba * bs, (lba + 1) * bs));
          else if ((flags & 1) !== 0) {
            durable.set(blk, lba * bs);
            cache.delete(lba); // FUA writes through and replaces any cached copy
          } else cache.set(lba, blk.slice());
        }
        if (op === 2) {
          for (const [l, d] of cache) durable.set(d, l * bs);
          cache.clear();
        }
        cb(BLK_STS.OK, 0);
      });
    },
    async read(off: number, len: number): Promise<Uint8Array> {
      const b = new Uint8Array(len);
      await new Promise<void>((res, rej) => dev.submit(0 as ReqOp, off, b, 0, 0, (s) => (s === 0 ? res() : rej(new Error(`status ${s}`)))));
      return b;
    },
  };
  return dev as unknown as BlockDevice & { crash(): void; calls: number };
}

test('workload: no faults → every I/O ok, nothing corrupt or stale, all durable data reads back', async (t) => {
  const d = ramDisk(64);
  const w = runWorkload(d, { seed: 4, ops: 300, lbas: 64, depth: 4, maxBlocks: 4 });
  const r = await w.done;
  t.is(r.ok, 300);
  t.deepEqual([r.failed, r.hung, r.doubleCompletions, r.corrupt.length, r.staleReads.length], [0, 0, 0, 0, 0]);
  const v = await verifyDurable(d, w.state);
  t.true(v.checked > 0);
  t.deepEqual(v.lost, []);
});

test('workload: a crash loses only unflushed writes; verifyDurable agrees; failures are counted by status', async (t) => {
  const d = ramDisk(32, 17);
  const w = runWorkload(d, { seed: 5, ops: 200, lbas: 32, flushEvery: 4 });
  const r = await w.done;
  t.true(r.failed > 0);
  t.is(r.failures.BLK_STS_IOERR, r.failed);
  d.crash();
  const ok = ramDisk(32); // a fresh device for reading must see zeroes → everything durable "lost"
  t.true(w.state.durable.some((v) => v > 0));
  t.deepEqual((await verifyDurable(d, w.state)).lost, []);
  t.true((await verifyDurable(ok, w.state)).lost.length > 0, 'a disk without the data fails the check');
});
