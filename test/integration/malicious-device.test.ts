// A malicious device in its own process (fixtures/malicious-daemon.ts) attacks
// the host: DMA outside the IOMMU windows, interrupt floods on vectors the
// host never enabled, malformed messages, an oversize DMA read, unparseable
// frames. The host survives, counts and logs each attack, never lets host
// memory change, and then works with a good device (an edu daemon).
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { pino } from 'pino';
import { startDevice, type DeviceDaemon } from '../helpers/daemon.ts';
import { attachFunction, type GoneInfo, type PciFunction } from '../../host/pci/index.ts';
import { MAL_CMD, MAL_ID, MAL_REG, MAL_RESULT } from '../../fixtures/malicious-device.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Proc {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Spawn the malicious daemon on port 0 with the stdin watchdog; resolve on its ready line. */
function startMalicious(extra: string[] = []): Promise<Proc> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'fixtures/malicious-daemon.ts', '--listen', '127.0.0.1:0', '--exit-on-stdin-eof', ...extra], {
    cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
    proc.stdin?.destroy();
  };
  return new Promise((res, rej) => {
    let out = '';
    const timer = setTimeout(() => {
      void stop();
      rej(new Error(`malicious daemon not ready; stderr:\n${err}`));
    }, 20_000);
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (ws:\/\/\S+)/.exec(out);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        res({ url: m[1], proc, stop });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`malicious daemon exited ${code}; stderr:\n${err}`));
    });
  });
}

let bad: Proc;
let good: DeviceDaemon;
const lines: string[] = [];
const log = pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) });

test.before(async () => {
  [bad, good] = await Promise.all([startMalicious(), startDevice({ args: ['-device', 'edu'] })]);
});
test.after.always(async () => {
  await Promise.all([bad?.stop(), good?.stop()]);
});

async function attachBad(t: { teardown(fn: () => Promise<void>): void }): Promise<PciFunction> {
  const fn = await attachFunction(bad.url, { name: 'evil0', log });
  t.teardown(() => fn.detach());
  await fn.enableMsix(2);
  return fn;
}

/** Issue a command and wait (by reading, never sleeping) until the device reports a result. */
async function command(fn: PciFunction, cmd: number, target: number, len: number): Promise<number> {
  const bar = fn.bar(0);
  bar.write32(MAL_REG.TARGET_LO, target % 2 ** 32);
  bar.write32(MAL_REG.TARGET_HI, Math.floor(target / 2 ** 32));
  bar.write32(MAL_REG.LEN, len);
  bar.write32(MAL_REG.CMD, cmd);
  for (let i = 0; i < 1000; i++) {
    const r = await bar.read32(MAL_REG.RESULT);
    if (r !== MAL_RESULT.NONE) return r;
  }
  throw new Error('device never reported a result');
}

test.serial('DMA outside the windows: reads refused, writes dropped, host memory untouched, DMAR faults logged', async (t) => {
  const fn = await attachBad(t);
  t.is(await fn.bar(0).read32(MAL_REG.ID), MAL_ID);
  const ring = fn.memory.allocCoherent(4096, { name: 'ring' });
  ring.fill(0x11);
  const src = new Uint8Array(4096).fill(0x22);
  const m = fn.memory.mapStreaming(src, 'to-device', { pageAligned: true });
  await fn.memory.settled();

  // Writes: into the guard page after the ring, into a read-only window, at IOVA 0, across a window end.
  t.is(await command(fn, MAL_CMD.DMA_WRITE, ring.iova + 4096, 64), MAL_RESULT.OK);
  t.is(await command(fn, MAL_CMD.DMA_WRITE, m.iova, 64), MAL_RESULT.OK);
  t.is(await command(fn, MAL_CMD.DMA_WRITE, 0, 4096), MAL_RESULT.OK);
  t.is(await command(fn, MAL_CMD.DMA_WRITE, ring.iova + 4090, 64), MAL_RESULT.OK);
  // Reads: unmapped, across the end of a window; and one too big for any frame.
  t.is(await command(fn, MAL_CMD.DMA_READ, ring.iova + 4096, 16), MAL_RESULT.REFUSED); // guard page
  t.is(await command(fn, MAL_CMD.DMA_READ, m.iova + 4000, 200), MAL_RESULT.REFUSED);
  t.is(await command(fn, MAL_CMD.OVERSIZE_READ, ring.iova, 0), MAL_RESULT.REFUSED);
  // A read inside a readable window is fine: the IOMMU is not a blanket refusal.
  t.is(await command(fn, MAL_CMD.DMA_READ, m.iova, 64), MAL_RESULT.OK);

  t.true(ring.bytes.every((x) => x === 0x11), 'ring untouched');
  t.true(src.every((x) => x === 0x22), 'read-only buffer untouched');
  const s = fn.stats();
  t.is(s.blockedWrites, 4);
  t.is(s.blockedReads, 2);
  t.is(s.dmaWrites, 0);
  const faults = fn.memory.faults();
  t.true(faults.some((f) => f.device === 'evil0' && f.dir === 'write' && f.iova === 0 && f.reason === 'unmapped'));
  t.true(faults.some((f) => f.dir === 'write' && f.reason === 'perm'));
  t.true(faults.some((f) => f.dir === 'read' && f.reason === 'span'));
  t.true(lines.some((l) => l.includes('DMAR') && l.includes('evil0')), 'faults are logged with the device name');
  await fn.detach();
});

test.serial('interrupt flood over used, unused and out-of-table vectors: merged per turn, counted spurious', async (t) => {
  const fn = await attachBad(t);
  let calls = 0;
  fn.onIrq(0, () => {
    calls++;
  });
  const n = 80_000; // 8 vectors in rotation: 0 (handler), 1 (enabled, no handler), 2-3 (not enabled), 4+ (beyond the table)
  t.is(await command(fn, MAL_CMD.IRQ_FLOOD, 0, n), MAL_RESULT.OK);
  await new Promise((r) => setImmediate(r));
  const s = fn.stats();
  t.is(s.irqs + s.irqsMerged, n / 8, 'every irq on vector 0 delivered or merged');
  t.is(s.spuriousIrqs, (n / 8) * 7);
  t.true(calls >= 1 && calls < n / 80, `handler ran ${calls} times for ${n / 8} irqs`);
  t.true(lines.some((l) => l.includes('spurious')));
  // Still responsive afterwards.
  t.is(await fn.bar(0).read32(MAL_REG.ID), MAL_ID);
  await fn.detach();
});

test.serial('malformed messages inside a batch are skipped one by one; the good one after them still runs', async (t) => {
  const fn = await attachBad(t);
  let calls = 0;
  fn.onIrq(0, () => {
    calls++;
  });
  const before = fn.stats().protocolErrors;
  t.is(await command(fn, MAL_CMD.MALFORMED, 0, 0), MAL_RESULT.OK);
  await new Promise((r) => setImmediate(r));
  t.true(fn.stats().protocolErrors - before >= 10, `counted ${fn.stats().protocolErrors - before}`);
  t.is(calls, 1, 'the well-formed irq at the end of the batch was delivered');
  t.false(fn.gone);
  t.is(fn.stats().dmaWrites, 0);
  t.is(await fn.bar(0).read32(MAL_REG.ID), MAL_ID);
  await fn.detach();
});

for (const [what, cmd] of [['an unparseable binary frame', MAL_CMD.GARBAGE_FRAME], ['a text frame', MAL_CMD.TEXT_FRAME]] as const) {
  test.serial(`${what} ends the link (4400) as surprise removal; then a good device works`, async (t) => {
    const fn = await attachBad(t);
    fn.memory.allocCoherent(8192);
    fn.memory.mapStreaming(new Uint8Array(100), 'from-device');
    const gone = new Promise<GoneInfo>((r) => fn.onGone(r));
    fn.bar(0).write32(MAL_REG.CMD, cmd);
    const info = await gone;
    t.is(info.code, 4400);
    t.true(info.surprise);
    t.is(fn.memory.openMappings(), 0, 'no leaked windows');
    t.is(await fn.bar(0).read32(MAL_REG.ID), 0xffff_ffff);

    // The host process is fine and drives a good device next.
    const edu = await attachFunction(good.url, { name: 'edu0', log });
    await edu.enableMsix(1);
    const data = Uint8Array.from({ length: 256 }, (_, i) => (i * 7) & 0xff);
    const out = edu.memory.mapStreaming(data, 'to-device');
    const back = new Uint8Array(256);
    const inb = edu.memory.mapStreaming(back, 'from-device');
    const bar = edu.bar(0);
    for (const [src, dst, dir] of [[out.iova, 0x40000, 0], [0x40000, inb.iova, 2]] as const) {
      const irq = new Promise<void>((r) => {
        const off = edu.onIrq(0, () => {
          off();
          r();
        });
      });
      bar.write64(0x80, src);
      bar.write64(0x88, dst);
      bar.write32(0x90, 256);
      bar.write32(0x98, 1 | 4 | dir);
      await irq;
      bar.write32(0x64, 0x100);
    }
    t.deepEqual(back, data);
    out.unmap();
    inb.unmap();
    t.is(edu.memory.openMappings(), 0);
    t.is(edu.stats().blockedReads + edu.stats().blockedWrites, 0);
    await edu.detach();
  });
}

test.serial('mode=auto: attacks unprompted the moment bus mastering is enabled; attach still completes', async (t) => {
  const auto = await startMalicious(['--mode', 'auto']);
  t.teardown(() => auto.stop());
  const fn = await attachFunction(auto.url, { name: 'evil1', log });
  t.teardown(() => fn.detach());
  const buf = fn.memory.allocCoherent(4096);
  buf.fill(0x66);
  // Wait, by reading, until the attack has landed: the malformed batch comes last.
  for (let i = 0; i < 1000 && fn.stats().protocolErrors < 10; i++) await fn.bar(0).read32(MAL_REG.ID);
  const s = fn.stats();
  t.true(s.blockedWrites >= 1 && s.blockedReads >= 1);
  t.true(s.spuriousIrqs >= 1);
  t.true(s.protocolErrors >= 10);
  t.true(buf.bytes.every((x) => x === 0x66));
  t.false(fn.gone);
});
