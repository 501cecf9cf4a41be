// Fuzz: random admin and I/O SQEs and random BAR0 register writes against an
// in-process NVMe controller. Properties (STYLE.md "guest misbehaviour is never
// an exception"): every command completes exactly once with some status, a
// malformed command alone never sets CSTS.CFS, nothing is logged as a thrown
// exception, and the controller keeps serving a good command afterwards.
// Seeded (src/util/prng.ts); every wait is bounded by admin round trips.
import test from 'ava';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { NvmeTestHost, TestMemory } from '../helpers/nvme-host.ts';
import { Channel } from '../../src/protocol/channel.ts';
import { createMemoryTransportPair } from '../../src/protocol/transport.ts';
import { PciFunction } from '../../device/pci/function.ts';
import { NvmeController } from '../../device/nvme/controller.ts';
import { nvmeConfig } from '../../device/nvme/options.ts';
import { ADMIN, CNS } from '../../src/spec/admin.ts';
import { NVM } from '../../src/spec/nvm.ts';
import { FID } from '../../src/spec/features.ts';
import { REG, CSTS, getField } from '../../src/spec/registers.ts';
import { Mulberry32 } from '../../src/util/prng.ts';
import type { Cqe } from '../../src/wire/cqe.ts';

/** Error-level log lines (a handler that threw, a fatal status), kept for assertions. */
function capture(): { log: Logger; errors: string[] } {
  const errors: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') errors.push(line);
      cb();
    },
  });
  return { log: pino({ level: 'error' }, sink), errors };
}

async function rig(seedMem = 16 << 20): Promise<{ host: NvmeTestHost; ctrl: NvmeController; errors: string[] }> {
  const { log, errors } = capture();
  // A small namespace (4 MiB, 512 B blocks) so random LBAs often land inside it.
  const ctrl = new NvmeController(nvmeConfig({ namespaces: [{ nsid: 1, sizeBytes: 4 << 20, blockSize: 512 }] }), log);
  const fn = new PciFunction(ctrl, log);
  const pair = createMemoryTransportPair({ maxFrame: 4 << 20 });
  const dev = new Channel(pair.b, { side: 'device', info: () => fn.info(), maxFrame: 4 << 20, logger: log });
  fn.bind(dev);
  const host = new NvmeTestHost(new Channel(pair.a, { side: 'host', maxFrame: 4 << 20, logger: log }), new TestMemory(seedMem));
  await host.attach();
  return { host, ctrl, errors };
}

const sync = (h: NvmeTestHost): Promise<Cqe> => h.admin({ opc: ADMIN.GET_FEATURES, cdw10: FID.NUMBER_OF_QUEUES });

/** Resolve `p` within `rounds` register round trips, or fail naming `what`. */
async function bounded<T>(h: NvmeTestHost, p: Promise<T>, what: string, rounds = 200): Promise<T> {
  let done = false;
  let value: T | undefined;
  void p.then((v) => {
    done = true;
    value = v;
  });
  for (let i = 0; i < rounds && !done; i++) {
    await h.read32(REG.CSTS);
    await new Promise((r) => setImmediate(r));
  }
  if (!done) throw new Error(`no completion for ${what} after ${rounds} round trips`);
  return value as T;
}

/** A random 64-bit-ish PRP: inside the scratch area (aligned or not), elsewhere in the window, outside it, or 0. */
function prp(r: Mulberry32, scratch: number, scratchLen: number, memBase: number, memLen: number): number {
  switch (r.below(6)) {
    case 0: return scratch + r.below(scratchLen / 4096) * 4096;
    case 1: return scratch + r.below(scratchLen);
    case 2: return scratch + r.below(scratchLen / 4096) * 4096 + 4 * r.below(1024);
    case 3: return memBase + memLen + r.below(1 << 20) * 4096; // just past the window
    case 4: return r.nextU32() * 0x1000 + (r.below(2) === 0 ? 0 : r.nextU32() % 4096); // anywhere below 2^44
    default: return 0;
  }
}

function cdw(r: Mulberry32): number {
  switch (r.below(4)) {
    case 0: return 0;
    case 1: return r.below(16);
    case 2: return r.below(0x1_0000);
    default: return r.nextU32();
  }
}

/** Fill the scratch area with words that look like PRP entries (into scratch, or not), so PRP lists are exercised. */
function seedScratch(h: NvmeTestHost, r: Mulberry32, scratch: number, len: number): void {
  const v = new DataView(h.mem.bytes.buffer, h.mem.bytes.byteOffset + (scratch - h.mem.base), len);
  for (let o = 0; o < len; o += 8) {
    const x = r.below(3) === 0 ? r.nextU32() * 0x1000 : scratch + r.below(len / 4096) * 4096 + (r.below(8) === 0 ? r.below(4096) : 0);
    v.setUint32(o, x % 0x1_0000_0000, true);
    v.setUint32(o + 4, Math.floor(x / 0x1_0000_0000), true);
  }
}

// Opcodes whose completion legitimately waits for an event (AER) or which change how the host must
// ring doorbells (Doorbell Buffer Config) are left out of the "completes at once" stream.
const ADMIN_SKIP = new Set<number>([ADMIN.ASYNC_EVENT_REQUEST, ADMIN.DOORBELL_BUFFER_CONFIG]);
const ADMIN_OPS = [...Object.values(ADMIN).filter((o) => !ADMIN_SKIP.has(o)), 0x03, 0x07, 0x0b, 0x7e, 0xc0, 0xff];
const IO_OPS = [...Object.values(NVM), 0x03, 0x06, 0x07, 0x0a, 0x7f, 0x80, 0x81, 0xff];

for (const seed of [1, 2, 3]) {
  test(`random admin SQEs complete exactly once, no CFS, admin keeps serving (seed ${seed})`, async (t) => {
    const { host, errors } = await rig();
    t.teardown(() => host.close());
    await host.bringUp({ ioQueues: 2, qdepth: 16, aer: false });
    const r = new Mulberry32(seed * 7919);
    const scratchLen = 1 << 20;
    const scratch = host.buf(scratchLen);
    seedScratch(host, r, scratch, scratchLen);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 250; i++) {
      const opc = r.below(4) === 0 ? r.below(256) : (ADMIN_OPS[r.below(ADMIN_OPS.length)] ?? 0);
      if (ADMIN_SKIP.has(opc)) continue;
      const sqe = {
        opc, nsid: r.below(3) === 0 ? r.nextU32() : r.below(4), fuse: r.below(8) === 0 ? r.below(4) : 0, psdt: r.below(8) === 0 ? r.below(4) : 0,
        prp1: prp(r, scratch, scratchLen, host.mem.base, host.mem.size), prp2: prp(r, scratch, scratchLen, host.mem.base, host.mem.size),
        cdw10: cdw(r), cdw11: cdw(r), cdw12: cdw(r), cdw13: cdw(r), cdw14: cdw(r), cdw15: cdw(r),
      };
      const what = `admin #${i} ${JSON.stringify(sqe)}`;
      const c = await bounded(host, host.admin(sqe), what);
      statuses.set(c.status & 0x7ff, (statuses.get(c.status & 0x7ff) ?? 0) + 1);
      const csts = await host.read32(REG.CSTS);
      if (getField(csts, CSTS.CFS) !== 0) t.fail(`CSTS.CFS after ${what}`);
      if (getField(csts, CSTS.RDY) !== 1) t.fail(`controller not ready after ${what}`);
    }
    t.true(statuses.size > 3, 'a variety of statuses');
    t.deepEqual(host.trace.filter((l) => l.startsWith('invalid id')), [], 'no duplicate or phantom completions');
    const idc = host.buf(4096);
    t.is((await bounded(host, host.admin({ opc: ADMIN.IDENTIFY, prp1: idc, cdw10: CNS.CTRL }), 'identify')).status, 0);
    t.deepEqual(errors, []);
  });

  test(`random I/O SQEs complete exactly once, no CFS, I/O keeps serving (seed ${seed})`, async (t) => {
    const { host, errors } = await rig();
    t.teardown(() => host.close());
    await host.bringUp({ ioQueues: 2, qdepth: 32, aer: false });
    const r = new Mulberry32(seed * 104729);
    const scratchLen = 1 << 20;
    const scratch = host.buf(scratchLen);
    seedScratch(host, r, scratch, scratchLen);
    for (let i = 0; i < 60; i++) {
      // Batches of up to 8 commands on a random queue, one doorbell, as a driver would.
      const qid = 1 + r.below(2);
      const n = 1 + r.below(8);
      const q = host.queues.get(qid);
      if (q === undefined) throw new Error('no queue');
      const ps: Promise<Cqe>[] = [];
      const whats: string[] = [];
      for (let k = 0; k < n; k++) {
        const opc = r.below(5) === 0 ? r.below(256) : (IO_OPS[r.below(IO_OPS.length)] ?? 0);
        const nsid = [0, 1, 1, 1, 2, 0xffff_ffff, r.nextU32()][r.below(7)] ?? 1;
        const sqe = {
          opc, nsid, fuse: r.below(10) === 0 ? r.below(4) : 0, psdt: r.below(10) === 0 ? r.below(4) : 0,
          prp1: prp(r, scratch, scratchLen, host.mem.base, host.mem.size), prp2: prp(r, scratch, scratchLen, host.mem.base, host.mem.size),
          // SLBA mostly inside the 8192-block namespace, NLB mostly small.
          cdw10: r.below(4) === 0 ? r.nextU32() : r.below(8300), cdw11: r.below(6) === 0 ? r.nextU32() : 0,
          cdw12: r.below(4) === 0 ? r.nextU32() : r.below(300), cdw13: cdw(r), cdw14: cdw(r), cdw15: cdw(r),
        };
        whats.push(`io q${qid} #${i}.${k} ${JSON.stringify(sqe)}`);
        ps.push(host.queueSqe(q, sqe));
      }
      host.ringSq(q);
      for (let k = 0; k < n; k++) {
        const p = ps[k];
        if (p !== undefined) await bounded(host, p, whats[k] ?? '');
      }
      const csts = await host.read32(REG.CSTS);
      if (getField(csts, CSTS.CFS) !== 0) t.fail(`CSTS.CFS after ${whats.join('; ')}`);
    }
    t.deepEqual(host.trace.filter((l) => l.startsWith('invalid id')), [], 'no duplicate or phantom completions');
    // A good write + read-back still works on both queues.
    for (const qid of [1, 2]) {
      const b = host.buf(4096);
      host.mem.view(b, 4096).fill(0x5a + qid);
      t.is((await bounded(host, host.io(qid, { opc: NVM.WRITE, nsid: 1, prp1: b, cdw10: 16 * qid, cdw12: 7 }), 'good write')).status, 0);
      const rb = host.buf(4096);
      t.is((await bounded(host, host.io(qid, { opc: NVM.READ, nsid: 1, prp1: rb, cdw10: 16 * qid, cdw12: 7 }), 'good read')).status, 0);
      t.deepEqual(host.mem.view(rb, 4096), host.mem.view(b, 4096));
    }
    t.deepEqual(errors, []);
  });
}

// BAR0 register fuzz: any offset (registers, reserved space, doorbells of queues that do not exist,
// doorbell values ≥ the queue size), 4- or 8-byte writes, CC toggles.
for (const seed of [11, 12]) {
  test(`random BAR0 writes are logged and ignored, never thrown; a reset brings the controller back (seed ${seed})`, async (t) => {
    const { host, errors } = await rig();
    t.teardown(() => host.close());
    await host.bringUp({ ioQueues: 2, qdepth: 16, aer: false });
    const r = new Mulberry32(seed);
    const regOffs = [REG.CC, REG.CSTS, REG.AQA, REG.ASQ, REG.ACQ, REG.INTMS, REG.CAP, REG.VS, 0x20, 0x38, 0x3c, 0x40, 0x50, 0xe00, 0xf00];
    for (let i = 0; i < 600; i++) {
      let off: number;
      switch (r.below(5)) {
        case 0: off = regOffs[r.below(regOffs.length)] ?? 0; break;
        case 1: off = 0x1000 + 4 * r.below(2 * 130); break; // doorbells, most for queues that do not exist
        case 2: off = 0x1000 + 4 * r.below(4); break; // admin/I-O 1 doorbells with random values
        case 3: off = 4 * r.below(0x1000); break;
        default: off = r.below(0x4000);
      }
      const val = r.below(3) === 0 ? r.below(64) : r.nextU32();
      if (r.below(4) === 0) {
        const d = new Uint8Array(8);
        new DataView(d.buffer).setUint32(0, val, true);
        new DataView(d.buffer).setUint32(4, r.nextU32(), true);
        host.ch.post({ t: 'region_write', region: 'bar0', off, data: d });
      } else if (r.below(10) === 0) {
        const len = 1 + r.below(3);
        host.ch.post({ t: 'region_write', region: 'bar0', off, data: new Uint8Array(len).fill(val & 0xff) });
      } else host.write32(off, val);
      if (i % 25 === 0) await host.read32(REG.CSTS); // an occasional round trip: let the controller act
    }
    await host.read32(REG.CSTS);
    // Whatever state the controller is in, Linux's bring-up (CC.EN=0, wait RDY=0, re-enable) works.
    for (const q of host.queues.values()) q.waiters.clear();
    host.queues.clear();
    await host.bringUp({ ioQueues: 1, qdepth: 8, aer: false });
    t.is((await bounded(host, sync(host), 'get features after reset')).status, 0);
    const b = host.buf(4096);
    t.is((await bounded(host, host.io(1, { opc: NVM.READ, nsid: 1, prp1: b, cdw10: 0, cdw12: 7 }), 'read after reset')).status, 0);
    // Thrown exceptions would show up as "handler threw"; a fatal status from garbage ASQ/ACQ is legitimate.
    t.deepEqual(errors.filter((l) => !l.includes('controller fatal status')), []);
  });
}
