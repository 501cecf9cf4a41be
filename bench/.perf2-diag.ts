// rnvme cost breakdown (a tool, not a scenario: exports no scenarios, runs
// only when executed directly). One daemon, one rnvme controller, a fixed
// number of I/Os at a fixed depth, then per I/O: CPU µs of both processes,
// channel messages and frames each way, host PCI counters (device reads and
// writes of host memory, interrupts, dma_maps, region writes) and doorbells.
//
//   node --import tsx bench/rnvme-diag.ts [--qd 32] [--ios 20000] [--bs 4096]
//        [--rw read|write] [--cmb] [--dbbuf] [--slot BYTES] [--dev-prof DIR]
//
// --dev-prof runs the daemon under `node --cpu-prof --cpu-prof-dir=DIR` (it
// is stopped by closing its stdin, so the profile is written); profile the
// host side with `node --cpu-prof --import tsx bench/rnvme-diag.ts …`.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { REQ_OP, type SubmitCallback } from '/work/main/host/block/index.ts';
import { probeNvme } from '/work/main/host/drivers/rnvme/index.ts';
import { startDevice } from '/work/main/test/helpers/daemon.ts';

const ROOT = process.env.DIAG_ROOT ?? '/work/main';

interface Daemon { url: string; proc: ChildProcess; stop(): Promise<unknown> }

/** The daemon under --cpu-prof (startDevice cannot: NODE_OPTIONS refuses --cpu-prof). */
function profiledDevice(dir: string, args: string[]): Promise<Daemon> {
  const proc = spawn(process.execPath, [...(process.env.DEV_NODE_ARGS ?? `--cpu-prof --cpu-prof-dir=${dir}`).split(' '), '--import', 'tsx', 'device/main.ts', '--listen', '127.0.0.1:0', '--exit-on-stdin-eof', ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((r) => proc.once('exit', r));
  return new Promise((resolve, reject) => {
    let out = '';
    proc.once('exit', (code) => reject(new Error(`daemon exited (${code}) before ready`)));
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (d: string) => {
      out += d;
      if (process.env.DEV_ECHO) process.stderr.write(d);
      const m = /^listening (wss?:\/\/\S+?)\/?\s*$/m.exec(out);
      if (m !== null) resolve({ url: `${m[1] ?? ''}/`, proc, stop: async () => { proc.stdin?.end(); await exited; } });
    });
  });
}

/** CPU µs a process used so far (Linux /proc; USER_HZ = 100). */
function procCpuUs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      qd: { type: 'string', default: '32' }, ios: { type: 'string', default: '20000' }, bs: { type: 'string', default: '4096' },
      rw: { type: 'string', default: 'read' }, cmb: { type: 'boolean', default: false }, dbbuf: { type: 'boolean', default: false },
      slot: { type: 'string' }, 'dev-prof': { type: 'string' },
    },
  });
  const qd = Number(v.qd), n = Number(v.ios), bs = Number(v.bs);
  if (![qd, n, bs].every((x) => Number.isInteger(x) && x > 0) || bs % 4096 !== 0) throw new Error('--qd, --ios, --bs must be positive integers (bs a multiple of 4096)');
  const nsBytes = 64 << 20;
  const args = ['-device', `nvme,serial=DIAG${v.cmb ? ',cmb_size_mb=2' : ''}`, '-device', `nvme-ns,nsid=1,size=${nsBytes}`];
  const profDir = v['dev-prof'];
  const dev: Daemon = profDir !== undefined ? await profiledDevice(profDir, args) : await startDevice({ args });
  const ctrl = await probeNvme(dev.url, {
    options: { io_queues: 1, nr_cpus: 1, io_queue_depth: 256, use_cmb_sqes: v.cmb, use_dbbuf: v.dbbuf, ...(v.slot !== undefined ? { data_slot_size: Number(v.slot) } : {}) },
  });
  try {
    const disk = ctrl.disks[0];
    if (disk === undefined) throw new Error('no disk');
    const bd = disk.open();
    const op = v.rw === 'write' ? REQ_OP.WRITE : REQ_OP.READ;
    const blocks = nsBytes / bs;
    let x = 1;
    const run = (count: number): Promise<number> => new Promise((resolve) => {
      let done = 0;
      let sub = 0;
      const t0 = performance.now();
      for (let s = 0; s < qd; s++) {
        const buf = new Uint8Array(bs);
        const cb: SubmitCallback = () => {
          done++;
          if (sub < count) { sub++; x = (Math.imul(x, 1103515245) + 12345) >>> 0; bd.submit(op, (x % blocks) * bs, buf, 0, 0, cb); }
          else if (done === count) resolve(performance.now() - t0);
        };
        sub++;
        bd.submit(op, (s % blocks) * bs, buf, 0, 0, cb);
      }
    });
    await run(Math.max(1000, qd * 10));
    const link = ctrl.fn.linkCounters?.();
    const l0 = { ...link };
    const s0 = ctrl.fn.stats();
    const db0 = ctrl.ioQueues.map((q) => [q.sqDoorbells, q.cqDoorbells]);
    const d0 = procCpuUs(dev.proc.pid);
    const h0 = process.cpuUsage();
    const ms = await run(n);
    const h = process.cpuUsage(h0);
    const d = procCpuUs(dev.proc.pid) - d0;
    const s1 = ctrl.fn.stats();
    const per = (a: number, b: number): string => ((b - a) / n).toFixed(3);
    const lk = (k: 'msgsIn' | 'msgsOut' | 'framesIn' | 'framesOut'): string => per(l0[k] ?? 0, link?.[k] ?? 0);
    const st = (k: 'dmaReads' | 'dmaWrites' | 'irqs' | 'maps' | 'regionWrites'): string => per(s0[k], s1[k]);
    const sqDb = ctrl.ioQueues.reduce((a, q, i) => a + q.sqDoorbells - (db0[i]?.[0] ?? 0), 0);
    const cqDb = ctrl.ioQueues.reduce((a, q, i) => a + q.cqDoorbells - (db0[i]?.[1] ?? 0), 0);
    console.log(`${v.rw} bs=${bs} qd=${qd}${v.cmb ? ' cmb' : ''}${v.dbbuf ? ' dbbuf' : ''}: ${((n / ms) * 1000).toFixed(0)} IOPS`);
    console.log(`cpu µs/io    host ${((h.user + h.system) / n).toFixed(1)}  device ${(d / n).toFixed(1)}`);
    console.log(`channel/io   msgs in ${lk('msgsIn')} out ${lk('msgsOut')}  frames in ${lk('framesIn')} out ${lk('framesOut')}`);
    console.log(`pci/io       dma_read ${st('dmaReads')} dma_write ${st('dmaWrites')} irq ${st('irqs')} dma_map ${st('maps')} region_write ${st('regionWrites')}`);
    console.log(`doorbell/io  sq ${(sqDb / n).toFixed(3)} cq ${(cqDb / n).toFixed(3)}  slotted ${ctrl.stats.slotted}`);
    bd.close();
  } finally {
    await ctrl.shutdown();
    await dev.stop();
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => { console.error(e); process.exitCode = 1; });
}
