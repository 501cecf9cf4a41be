// NBD benchmark scenarios for the bench framework (bench/lib.ts): the same
// fio jobs through fio's NBD engine (libnbd) against
//   - nvmelab: an rnull disk exported by host/nbd/serve-cli.ts (own process),
//   - nvmelab nvme: NVMELAB_BENCH_NVME_URI=nbd://… when set (HOOK: the host
//     daemon exporting an rnvme namespace, device daemon in another process),
//   - `nbdkit memory` and `qemu-storage-daemon` with a null-co export, when
//     installed — the outside yardsticks; nvmelab rows carry their ratio.
// Register with a one-line bench/nbd-fio.ts:  export { scenarios } from '../host/nbd/bench.ts';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Structural copies of bench/lib.ts types (host/ must not import bench/). */
interface Measurement { iops?: number; mbps?: number; lat_us?: { p50: number; p99: number; p999: number }; extra?: Record<string, number> }
interface RunOptions { quick: boolean; durationMs: number }
interface Scenario { id: string; reference?: string; ratioOf?: 'iops' | 'lat_p50'; run(opts: RunOptions): Promise<Measurement> }

const SIZE_MIB = 1024;

function have(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}
function fioHasNbd(): boolean {
  if (!have('fio')) return false;
  const r = spawnSync('fio', ['--enghelp=nbd'], { encoding: 'utf8' });
  return r.status === 0 && /uri/i.test(r.stdout);
}

interface Running { uri: string; stop(): Promise<void> }

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  });
}

/** Wait until a UNIX socket path exists (servers that print no ready line). */
async function waitForSocket(path: string, child: ChildProcess, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (existsSync(path)) return;
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${what}: socket ${path} did not appear`);
}

type TargetKind = 'rnull' | 'nvme' | 'nbdkit-memory' | 'qsd-null';

async function startTarget(kind: TargetKind): Promise<Running> {
  if (kind === 'nvme') {
    const uri = process.env.NVMELAB_BENCH_NVME_URI;
    if (!uri) throw new Error('NVMELAB_BENCH_NVME_URI not set');
    return { uri, stop: async () => undefined };
  }
  if (kind === 'rnull') {
    const child = spawn(process.execPath, ['--import', 'tsx', 'host/nbd/serve-cli.ts', '--watchdog-stdin',
      '--listen', '127.0.0.1:0', '--null', `nullb0,size=${SIZE_MIB},memory_backed=0,discard=0,irqmode=0,no_sched=1`, '--nr-cpus', '2'],
    { stdio: ['pipe', 'pipe', 'inherit'] });
    const rl = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> });
    const line = await new Promise<string>((resolve, reject) => {
      rl.once('line', resolve);
      child.once('exit', (c) => reject(new Error(`serve-cli exited with ${c}`)));
    });
    return { uri: line.trim().split(/\s+/)[0] ?? '', stop: () => stopChild(child) };
  }
  const dir = mkdtempSync(join(tmpdir(), 'nbdbench-'));
  const sock = join(dir, 's.sock');
  const child = kind === 'nbdkit-memory'
    ? spawn('nbdkit', ['-f', '--exit-with-parent', '-U', sock, 'memory', `${SIZE_MIB}M`], { stdio: 'ignore' })
    : spawn('qemu-storage-daemon', [
      '--blockdev', `driver=null-co,node-name=n0,size=${SIZE_MIB * 1024 * 1024}`,
      '--nbd-server', `addr.type=unix,addr.path=${sock}`,
      '--export', 'type=nbd,id=e0,node-name=n0,name=n0,writable=on',
    ], { stdio: 'ignore' });
  await waitForSocket(sock, child, kind);
  const name = kind === 'qsd-null' ? 'n0' : '';
  return { uri: `nbd+unix:///${name}?socket=${sock}`, stop: async () => { await stopChild(child); rmSync(dir, { recursive: true, force: true }); } };
}

interface FioJob { rw: 'randread' | 'randwrite'; bs: string; qd: number }

interface FioJson {
  jobs: Array<Record<'read' | 'write', { iops: number; bw_bytes: number; clat_ns?: { percentile?: Record<string, number> } }>>;
}

async function runFio(uri: string, job: FioJob, seconds: number): Promise<Measurement> {
  const args = ['--name=nbdbench', '--ioengine=nbd', `--uri=${uri}`, `--rw=${job.rw}`, `--bs=${job.bs}`,
    `--iodepth=${job.qd}`, `--size=${SIZE_MIB}m`, '--time_based', `--runtime=${seconds}`, '--ramp_time=1',
    '--randrepeat=1', '--norandommap', '--output-format=json'];
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn('fio', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let s = '';
    let e = '';
    p.stdout.on('data', (d: Buffer) => { s += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { e += d.toString(); });
    p.on('close', (code) => (code === 0 ? resolve(s) : reject(new Error(`fio failed (${code}): ${e.slice(0, 500)}`))));
  });
  const j = JSON.parse(out.slice(out.indexOf('{'))) as FioJson;
  const side = job.rw === 'randread' ? 'read' : 'write';
  const r = j.jobs[0]?.[side];
  if (!r) throw new Error('fio: no job result');
  const pct = r.clat_ns?.percentile ?? {};
  const us = (k: string): number => (pct[k] ?? 0) / 1000;
  return { iops: r.iops, mbps: r.bw_bytes / 1e6, lat_us: { p50: us('50.000000'), p99: us('99.000000'), p999: us('99.900000') } };
}

function scenario(kind: TargetKind, job: FioJob, reference?: string, ratioOf?: 'iops' | 'lat_p50'): Scenario {
  const id = `nbd/${kind}/${job.rw}/${job.bs}/qd${job.qd}`;
  const s: Scenario = {
    id,
    async run(opts) {
      const t = await startTarget(kind);
      try {
        return await runFio(t.uri, job, Math.max(2, Math.round(opts.durationMs / 1000)));
      } finally {
        await t.stop();
      }
    },
  };
  if (reference !== undefined) s.reference = reference;
  if (ratioOf !== undefined) s.ratioOf = ratioOf;
  return s;
}

const JOBS: FioJob[] = [
  { rw: 'randread', bs: '4k', qd: 1 },
  { rw: 'randread', bs: '4k', qd: 32 },
  { rw: 'randwrite', bs: '4k', qd: 32 },
];

function build(): Scenario[] {
  if (!fioHasNbd()) return [];
  const out: Scenario[] = [];
  const anchors: TargetKind[] = [];
  if (have('nbdkit')) anchors.push('nbdkit-memory');
  if (have('qemu-storage-daemon')) anchors.push('qsd-null');
  for (const job of JOBS) {
    for (const a of anchors) out.push(scenario(a, job));
    const tail = `${job.rw}/${job.bs}/qd${job.qd}`;
    // QD1: latency ratio to qemu-storage-daemon (the lean C server); deeper:
    // IOPS ratio to nbdkit memory (and the qsd row printed beside it).
    const ref = job.qd === 1
      ? (anchors.includes('qsd-null') ? `nbd/qsd-null/${tail}` : anchors.includes('nbdkit-memory') ? `nbd/nbdkit-memory/${tail}` : undefined)
      : (anchors.includes('nbdkit-memory') ? `nbd/nbdkit-memory/${tail}` : anchors.includes('qsd-null') ? `nbd/qsd-null/${tail}` : undefined);
    const ratioOf = job.qd === 1 ? 'lat_p50' : 'iops';
    out.push(scenario('rnull', job, ref, ratioOf));
    if (process.env.NVMELAB_BENCH_NVME_URI) out.push(scenario('nvme', job, ref, ratioOf));
  }
  return out;
}

/** Scenario list for bench/run.ts (empty when fio lacks the nbd engine). */
export const scenarios: Scenario[] = build();
