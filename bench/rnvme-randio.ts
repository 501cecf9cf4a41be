// rnvme through the full stack, device daemon in another process:
//   rnvme/randread/4k/qd{1,32,128}, rnvme/randwrite/4k/qd{1,32,128}, rnvme/read/128k/qd8
// and variants of the 4 KiB random reads: +poll (polled queue, REQ_POLLED),
// +cmb (SQs in the controller memory buffer), +dbbuf (shadow doorbells).
// The base is interrupt-driven with MMIO doorbells. Ratios: QD1 latency over
// channel/rtt, everything else IOPS over channel/posted/k16 (bench/channel-raw.ts),
// both measured in the same run. Driven through the hot-path submit() (no
// promise per I/O); small transfers use rnvme's gated data slots, 128 KiB is
// mapped zero-copy per request. Extras: CPU µs per I/O of both processes
// (the figure that stays comparable on a loaded machine), channel messages
// and frames per I/O (both directions, host side), dma_maps and SQ doorbells
// per I/O. Each scenario's repeats share one daemon.
import { performance } from 'node:perf_hooks';
import { REQ_FLAG, REQ_OP, type BlockDevice, type SubmitCallback } from '../host/block/index.ts';
import { probeNvme, type NvmeController, type RnvmeOptions } from '../host/drivers/rnvme/index.ts';
import { readFileSync } from 'node:fs';
import { startDevice, type DeviceDaemon } from '../test/helpers/daemon.ts';
import { percentile } from './lib.ts';
import type { Measurement, RunOptions, Scenario } from './lib.ts';

interface Job { rw: 'randread' | 'randwrite' | 'read'; bs: number; qd: number; variant: '' | '+poll' | '+cmb' | '+dbbuf' }

const NS_BYTES = 64 << 20;

/**
 * One daemon + controller per scenario, reused by its repeats (starting a
 * daemon costs seconds; the runner calls a scenario's repeats back to back).
 * Torn down when another scenario starts, or shortly after the last repeat.
 */
interface Rig { key: string; dev: DeviceDaemon; ctrl: NvmeController }
let rig: Rig | undefined;
let idleTimer: NodeJS.Timeout | undefined;

async function dropRig(): Promise<void> {
  const r = rig;
  rig = undefined;
  if (r === undefined) return;
  try { await r.ctrl.shutdown(); } finally { await r.dev.stop(); }
}

async function getRig(j: Job): Promise<Rig> {
  if (idleTimer !== undefined) { clearTimeout(idleTimer); idleTimer = undefined; }
  const key = `${j.variant}`;
  if (rig !== undefined && rig.key === key && rig.ctrl.live) return rig;
  await dropRig();
  const dev = await startDevice({ args: ['-device', `nvme,serial=BENCH${j.variant === '+cmb' ? ',cmb_size_mb=2' : ''}`, '-device', `nvme-ns,nsid=1,size=${NS_BYTES}`] });
  try {
    const opts: Partial<RnvmeOptions> = { io_queues: 1, nr_cpus: 1, use_dbbuf: j.variant === '+dbbuf', use_cmb_sqes: j.variant === '+cmb', io_queue_depth: 256 };
    if (j.variant === '+poll') opts.poll_queues = 1;
    rig = { key, dev, ctrl: await probeNvme(dev.url, { options: opts }) };
    return rig;
  } catch (e) {
    await dev.stop();
    throw e;
  }
}

async function runJob(j: Job, o: RunOptions): Promise<Measurement> {
  const { ctrl, dev } = await getRig(j);
  let ok = false;
  try {
    {
      const disk = ctrl.disks[0];
      if (disk === undefined) throw new Error('no disk');
      const bd: BlockDevice = disk.open();
      const flags = j.variant === '+poll' ? REQ_FLAG.POLLED : 0;
      const op = j.rw === 'randwrite' ? REQ_OP.WRITE : REQ_OP.READ;
      const blocks = NS_BYTES / j.bs;
      const bufs = Array.from({ length: j.qd }, () => new Uint8Array(j.bs).fill(0x5a));
      const starts = new Float64Array(j.qd);
      let lats = new Float64Array(1 << 16);
      let nl = 0;
      let x = 12345;
      let seq = 0;
      let done = 0;
      let target = 0;
      let errors = 0;
      let finish: () => void = () => {};
      const nextOff = (): number => {
        if (j.rw === 'read') { seq = (seq + 1) % blocks; return seq * j.bs; }
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        return (x % blocks) * j.bs;
      };
      const cbs: SubmitCallback[] = bufs.map((buf, slot) => {
        const cb: SubmitCallback = (st) => {
          const now = performance.now();
          if (st !== 0) errors++;
          if (nl === lats.length) { const l2 = new Float64Array(lats.length * 2); l2.set(lats); lats = l2; }
          lats[nl++] = (now - (starts[slot] ?? now)) * 1000;
          done++;
          if (done + j.qd <= target) { starts[slot] = performance.now(); bd.submit(op, nextOff(), buf, flags, 0, cb); }
          else if (done === target) finish();
        };
        return cb;
      });
      const runFor = async (n: number): Promise<number> => {
        done = 0; target = n; nl = 0;
        const t0 = performance.now();
        await new Promise<void>((res) => {
          finish = res;
          for (let s = 0; s < j.qd; s++) { starts[s] = performance.now(); bd.submit(op, nextOff(), bufs[s] as Uint8Array, flags, 0, cbs[s] as SubmitCallback); }
        });
        return performance.now() - t0;
      };
      const warm = Math.max(200, j.qd * 4);
      const wt = await runFor(warm);
      const n = Math.max(j.qd * 10, Math.floor((warm / Math.max(wt, 1)) * o.durationMs));
      const link = ctrl.fn.linkCounters?.();
      const m0 = link === undefined ? 0 : link.msgsIn + link.msgsOut;
      const f0 = link === undefined ? 0 : link.framesIn + link.framesOut;
      const maps0 = ctrl.fn.stats().maps;
      const sqdb0 = ctrl.ioQueues.reduce((s, q) => s + q.sqDoorbells, 0);
      const sub0 = ctrl.ioQueues.reduce((s, q) => s + q.submitted, 0);
      const dcpu0 = procCpuUs(dev.proc.pid);
      const cpu0 = process.cpuUsage();
      const ms = await runFor(n);
      const cpu = process.cpuUsage(cpu0);
      const dcpu1 = procCpuUs(dev.proc.pid);
      const msgs = link === undefined ? 0 : link.msgsIn + link.msgsOut - m0;
      const frames = link === undefined ? 0 : link.framesIn + link.framesOut - f0;
      const maps = ctrl.fn.stats().maps - maps0;
      if (errors > 0) throw new Error(`${errors} I/O errors`);
      bd.close();
      ok = true;
      const sorted = lats.subarray(0, nl).sort();
      const iops = (n / ms) * 1000;
      return {
        iops, mbps: (iops * j.bs) / 1e6,
        lat_us: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9) },
        cpu_pct: { host: ((cpu.user + cpu.system) / 1000 / ms) * 100, ...(dcpu0 !== undefined && dcpu1 !== undefined ? { device: ((dcpu1 - dcpu0) / 1000 / ms) * 100 } : {}) },
        extra: {
          host_cpu_us_per_io: (cpu.user + cpu.system) / n,
          ...(dcpu0 !== undefined && dcpu1 !== undefined ? { dev_cpu_us_per_io: (dcpu1 - dcpu0) / n } : {}),
          msgs_per_io: msgs / n, frames_per_io: frames / n, maps_per_io: maps / n,
          sq_doorbells_per_io: (ctrl.ioQueues.reduce((s, q) => s + q.sqDoorbells, 0) - sqdb0) / Math.max(1, ctrl.ioQueues.reduce((s, q) => s + q.submitted, 0) - sub0),
        },
      };
    }
  } finally {
    if (ok) idleTimer = setTimeout(() => { idleTimer = undefined; void dropRig(); }, 1000);
    else await dropRig();
  }
}

/** CPU time (µs) a process used so far, from /proc (Linux); undefined elsewhere. */
function procCpuUs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = Number(f[11]) + Number(f[12]);
    return Number.isFinite(ticks) ? ticks * 10_000 : undefined; // USER_HZ = 100
  } catch {
    return undefined;
  }
}

const jobs: Job[] = [];
for (const variant of ['', '+poll', '+cmb', '+dbbuf'] as const) for (const qd of [1, 32, 128]) jobs.push({ rw: 'randread', bs: 4096, qd, variant });
for (const qd of [1, 32, 128]) jobs.push({ rw: 'randwrite', bs: 4096, qd, variant: '' });
jobs.push({ rw: 'read', bs: 128 * 1024, qd: 8, variant: '' });

export const scenarios: Scenario[] = jobs.map((j) => ({
  id: `rnvme/${j.rw}/${j.bs >= 1024 ? `${j.bs / 1024}k` : j.bs}/qd${j.qd}${j.variant}`,
  reference: j.qd === 1 ? 'channel/rtt' : 'channel/posted/k16',
  ...(j.qd === 1 ? { ratioOf: 'lat_p50' as const } : {}),
  run: (o: RunOptions) => runJob(j, o),
}));
