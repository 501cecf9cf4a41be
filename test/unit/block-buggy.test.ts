// A deliberately buggy driver under load: ends twice, ends after the timeout
// took the request, looks up random/free/stale tags, ends an old handle after
// its tag was reused. Every misuse must be refused and counted, and every bio
// must complete exactly once with the right data and status.
import test from 'ava';
import { mulberry32 } from '../../src/util/prng.ts';
import { BLK_STS, END, GenDisk, REQ_OP, TagSet } from '../../host/block/index.ts';
import type { BlkStatus, HwQueue, RequestRef } from '../../host/block/index.ts';

test('buggy driver under load: misuse refused and counted, every bio completes once with right data/status', async (t) => {
  const rnd = mulberry32(42);
  const CAP = 4 << 20;
  const store = new Uint8Array(CAP);
  const pending: RequestRef[] = [];
  const old: RequestRef[] = [];
  const lost: RequestRef[] = [];
  const dropped = new Set<number>(); // sectors of requests the driver "loses" (they must time out)
  let hctx0: HwQueue | null = null;
  const expect = { stale: 0, timedOut: 0, miss: 0 };
  const transfer = (rq: RequestRef): BlkStatus => {
    let off = rq.sector * 512;
    if (rq.op === REQ_OP.READ) for (const b of rq.bvecs) { b.set(store.subarray(off, off + b.length)); off += b.length; }
    else if (rq.op === REQ_OP.WRITE) for (const b of rq.bvecs) { store.set(b, off); off += b.length; }
    return BLK_STS.OK;
  };
  const tagSet = new TagSet<null, null>({
    nrHwQueues: 1, queueDepth: 16, timeoutMs: 100,
    ops: {
      initRequest: () => null,
      queueRq: (h, rq) => {
        hctx0 = h;
        if (rnd() < 0.03 && dropped.size < 6) { dropped.add(rq.sector); lost.push(rq); return BLK_STS.OK; } // lost: will time out
        pending.push(rq);
        return BLK_STS.OK;
      },
      timeout: () => 'done',
    },
  });
  const disk = new GenDisk({ name: `buggy${process.pid % 1000}`, tagSet, capacitySectors: CAP / 512, scheduler: 'none' }).add();
  const dev = disk.open();

  // The driver's "interrupt": completes pending requests with misbehaviour mixed in.
  let stop = false;
  const irq = (): void => {
    const batch = pending.splice(0, pending.length);
    for (const rq of batch) {
      const st = transfer(rq);
      const r0 = rq.end(st);
      if (r0 === END.TIMED_OUT) { expect.timedOut++; continue; } // the timeout won the race: refused
      t.is(r0, END.OK);
      if (rnd() < 0.2) { t.is(rq.end(BLK_STS.OK), END.STALE); expect.stale++; } // ends twice
      old.push(rq);
    }
    // Random lookups: out of range, free or stale-generation tags must all miss.
    const h = hctx0;
    if (h !== null) {
      const tag = Math.floor(rnd() * 40);
      const found = h.tagToRq(tag, 0x7);
      if (found === undefined) expect.miss++;
      else if (found.generation % 16 !== 7) t.fail('lookup returned a request of another generation');
      if (h.tagToRq(1000) === undefined) expect.miss++;
    }
    // Old handles whose tag was probably reused: refused, never ending the new owner.
    // (Handles come from a ring of 16 per tag, so only recently ended ones are guaranteed stale.)
    if (old.length > 20) old.splice(0, old.length - 20);
    if (old.length >= 10) {
      const o = old.splice(old.length - 1 - Math.floor(rnd() * 10), 1)[0] as RequestRef;
      const r = o.end(BLK_STS.IOERR);
      if (dropped.has(o.sector) && r === END.TIMED_OUT) expect.timedOut++;
      else if (r === END.STALE) expect.stale++;
      else if (r === END.TIMED_OUT) expect.timedOut++;
      else if (r === END.OK) t.fail('an old handle ended a request');
    }
    if (!stop) setImmediate(irq);
  };
  setImmediate(irq);

  // Load: distinct 4 KiB regions written then read back, QD up to 64.
  const N = 1500;
  const done = new Uint8Array(N);
  const status = new Array<number>(N).fill(-1);
  const promises: Promise<void>[] = [];
  for (let i = 0; i < N; i++) {
    const off = (i % 1000) * 4096;
    const data = new Uint8Array(4096).fill((i % 251) + 1);
    promises.push(new Promise<void>((res) => {
      dev.submit(REQ_OP.WRITE, off, data, 0, 0, (st) => {
        done[i] = (done[i] as number) + 1; status[i] = st;
        if (st !== BLK_STS.OK) { res(); return; }
        const rb = new Uint8Array(4096);
        dev.submit(REQ_OP.READ, off, rb, 0, 0, (st2) => {
          if (st2 === BLK_STS.OK && i >= N - 1000 + 0) {
            // Only the last writer of a region is guaranteed to be visible when there were no overlapping later writes.
          }
          if (st2 === BLK_STS.OK && rb[0] !== 0 && rb.every((x) => x === rb[0])) { /* whole block consistent */ }
          else if (st2 === BLK_STS.OK) t.fail(`torn read at ${off}`);
          res();
        });
      });
    }));
    if (i % 64 === 63) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(promises);
  // Let the remaining lost requests time out.
  while (disk.debugState().inflight > 0) await new Promise((r) => setTimeout(r, 5));
  stop = true;
  // Ends after the timeout: refused. If the tag was reused meanwhile (a slow run), the handle is
  // also stale, and STALE is the refusal; either way it must not end anything.
  for (const rq of lost) {
    const r = rq.end(BLK_STS.OK);
    if (r === END.TIMED_OUT) expect.timedOut++;
    else if (r === END.STALE) expect.stale++;
    else t.fail(`an end after timeout returned ${r}`);
  }
  t.true([...done].every((x) => x === 1), 'every bio completed exactly once');
  const timedOut = status.filter((s) => s === BLK_STS.TIMEOUT).length;
  t.true(status.every((s) => s === BLK_STS.OK || s === BLK_STS.TIMEOUT));
  t.true(timedOut >= dropped.size);
  const c = tagSet.misuseCounters;
  t.is(c.staleEnd, expect.stale);
  t.is(c.endAfterTimeout, expect.timedOut);
  t.is(c.tagLookupMiss, expect.miss);
  t.true(expect.stale > 50 && expect.miss > 50);
  t.deepEqual(tagSet.busyTags(), [0]);
  // Final data check: each region holds the last value written to it.
  for (let r = 0; r < 1000; r += 97) {
    const got = await dev.read(r * 4096, 4096).catch(() => null);
    if (got === null) { await new Promise((x) => setTimeout(x, 40)); continue; }
    const w = r + 1000 < N ? r + 1000 : r; // last writer of region r
    if (status[w] === BLK_STS.OK) t.is(got[0], (w % 251) + 1);
  }
  stop = true;
  await disk.remove(5);
});
