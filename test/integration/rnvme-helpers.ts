// Shared pieces of the rnvme integration tests: a seeded PRNG, a promise
// wrapper around the hot-path submit, and a random mixed workload verified
// against an in-memory model (no overlapping in-flight ranges, so the model
// is exact).
import type { ExecutionContext } from 'ava';
import { BLK_STS, REQ_FLAG, REQ_OP, type BlockDevice, type BlkStatus, type ReqOp } from '../../host/block/index.ts';
import { probeNvme, type NvmeController, type RnvmeOptions } from '../../host/drivers/rnvme/index.ts';
import { captureLogger } from '../../fixtures/promises.ts';
import { qmp, startDevice, type DeviceDaemon, type QmpClient } from '../helpers/daemon.ts';

/** xorshift32: deterministic, seeded. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0 || 0x9e3779b9; }
  next(): number { let x = this.s; x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; this.s = x; return x; }
  int(n: number): number { return this.next() % n; }
  fill(b: Uint8Array): void { for (let i = 0; i < b.length; i += 4) { const v = this.next(); b[i] = v; b[i + 1] = v >>> 8; b[i + 2] = v >>> 16; b[i + 3] = v >>> 24; } }
}

export function submitP(dev: BlockDevice, op: ReqOp, offset: number, bufOrLen: Uint8Array | number, flags: number, cpu: number): Promise<BlkStatus> {
  return new Promise((res) => dev.submit(op, offset, bufOrLen, flags, cpu, (st) => res(st)));
}

export interface WorkloadOpts {
  seed: number;
  ops: number;
  inflight: number;
  nrCpus: number;
  flags?: number;
  maxBlocks?: number;
}

export interface WorkloadResult { mismatches: number; errors: string[]; counts: Record<string, number> }

/** Random reads, writes (some FUA), write-zeroes and flushes over several disks and CPUs, checked against a model. */
export async function mixedWorkload(devs: BlockDevice[], o: WorkloadOpts): Promise<WorkloadResult> {
  const rng = new Rng(o.seed);
  const models = devs.map((d) => new Uint8Array(d.capacityBytes));
  const busy = devs.map(() => [] as { a: number; b: number }[]);
  const res: WorkloadResult = { mismatches: 0, errors: [], counts: { read: 0, write: 0, fua: 0, zeroes: 0, flush: 0 } };
  let issued = 0;
  const one = async (): Promise<void> => {
    while (issued < o.ops) {
      issued++;
      const di = rng.int(devs.length);
      const dev = devs[di] as BlockDevice;
      const model = models[di] as Uint8Array;
      const lbs = dev.logicalBlockSize;
      const blocks = dev.capacityBytes / lbs;
      const n = 1 + rng.int(o.maxBlocks ?? 32);
      let off = 0;
      for (let tries = 0; ; tries++) {
        off = rng.int(blocks - n) * lbs;
        const a = off, b = off + n * lbs;
        if (!(busy[di] as { a: number; b: number }[]).some((r) => r.a < b && a < r.b)) break;
        if (tries > 1000) throw new Error('workload: no free range');
      }
      const range = { a: off, b: off + n * lbs };
      (busy[di] as { a: number; b: number }[]).push(range);
      const cpu = rng.int(o.nrCpus);
      const kind = rng.int(100);
      const flags = o.flags ?? 0;
      try {
        if (kind < 45) {
          const buf = new Uint8Array(n * lbs);
          const st = await submitP(dev, REQ_OP.READ, off, buf, flags, cpu);
          res.counts.read = (res.counts.read ?? 0) + 1;
          if (st !== BLK_STS.OK) res.errors.push(`read ${dev.name}@${off}: ${st}`);
          else if (Buffer.compare(Buffer.from(buf), Buffer.from(model.subarray(off, off + buf.length))) !== 0) res.mismatches++;
        } else if (kind < 90) {
          const buf = new Uint8Array(n * lbs);
          rng.fill(buf);
          const fua = kind >= 80;
          const st = await submitP(dev, REQ_OP.WRITE, off, buf, flags | (fua ? REQ_FLAG.FUA : 0), cpu);
          res.counts[fua ? 'fua' : 'write'] = (res.counts[fua ? 'fua' : 'write'] ?? 0) + 1;
          if (st !== BLK_STS.OK) res.errors.push(`write ${dev.name}@${off}: ${st}`);
          else model.set(buf, off);
        } else if (kind < 96) {
          const st = await submitP(dev, REQ_OP.WRITE_ZEROES, off, n * lbs, REQ_FLAG.NOUNMAP, cpu);
          res.counts.zeroes = (res.counts.zeroes ?? 0) + 1;
          if (st !== BLK_STS.OK) res.errors.push(`write-zeroes ${dev.name}@${off}: ${st}`);
          else model.fill(0, off, off + n * lbs);
        } else {
          const st = await submitP(dev, REQ_OP.FLUSH, 0, 0, 0, cpu);
          res.counts.flush = (res.counts.flush ?? 0) + 1;
          if (st !== BLK_STS.OK) res.errors.push(`flush ${dev.name}: ${st}`);
        }
      } finally {
        const l = busy[di] as { a: number; b: number }[];
        l.splice(l.indexOf(range), 1);
      }
    }
  };
  await Promise.all(Array.from({ length: o.inflight }, () => one()));
  // Final sweep: every byte of every namespace equals the model.
  for (let di = 0; di < devs.length; di++) {
    const dev = devs[di] as BlockDevice;
    const model = models[di] as Uint8Array;
    const chunk = 128 * 1024;
    for (let off = 0; off < dev.capacityBytes; off += chunk) {
      const len = Math.min(chunk, dev.capacityBytes - off);
      const buf = new Uint8Array(len);
      const st = await submitP(dev, REQ_OP.READ, off, buf, o.flags ?? 0, 0);
      if (st !== BLK_STS.OK) { res.errors.push(`sweep ${dev.name}@${off}: ${st}`); continue; }
      if (Buffer.compare(Buffer.from(buf), Buffer.from(model.subarray(off, off + len))) !== 0) res.mismatches++;
    }
  }
  return res;
}

export interface Rig {
  dev: DeviceDaemon;
  /** The daemon's control channel (fault-inject, ns-add, …). */
  c: QmpClient;
  /** The host's log lines (rnvme's warnings included). */
  cap: ReturnType<typeof captureLogger>;
  ctrl: NvmeController;
}

/** A device daemon with `args`, its control channel, and rnvme probed on it with a captured log; all cleaned up by `t`. */
export async function rig(t: ExecutionContext, args: string[], options: Partial<RnvmeOptions>): Promise<Rig> {
  const dev = await startDevice({ args });
  t.teardown(() => dev.stop());
  const c = await qmp(dev.controlUrl, dev.token);
  t.teardown(() => c.close());
  const cap = captureLogger();
  const ctrl = await probeNvme(dev.url, { log: cap.log, options });
  t.teardown(() => (ctrl.terminal ? undefined : ctrl.shutdown()));
  return { dev, c, cap, ctrl };
}

/** Counters of one fault rule (undefined when no such rule). */
export async function injectedBy(c: QmpClient, id: string): Promise<number | undefined> {
  return ((await c.execute('fault-list')) as { id: string; counters: { injected: number } }[]).find((x) => x.id === id)?.counters.injected;
}
