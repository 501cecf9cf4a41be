// NBD benchmark scenarios for the bench framework (bench/lib.ts): the same
// fio jobs through fio's NBD engine (libnbd) against
//   - nbd/rnull/…: an rnull disk exported by host/nbd/serve-cli.ts (own process),
//   - nbd/nvme/…: an rnvme namespace across processes — device daemon + host
//     daemon exporting nvme0n1 (host/nbd/targets.ts, as the interop suite);
//     NVMELAB_BENCH_NVME_URI=nbd://… measures an already running export instead,
//   - nbd/nbdkit-memory/… and nbd/qsd-null/…: `nbdkit memory` and
//     `qemu-storage-daemon` with a null-co export, when installed — the outside
//     yardsticks. nvmelab rows carry the ratio column (QD1: p50 latency over
//     qsd's; deeper: IOPS over nbdkit's) and, as extras, their IOPS and p50
//     ratios to both anchors measured earlier in the same run.
// Registered by bench/nbd-fio.ts:  export { scenarios } from '../host/nbd/bench.ts';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNvmeTarget, startServeCliTarget, stopChild, type NbdTarget } from './targets.ts';

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

/** rnvme options for nbd/nvme: the driver's defaults (shadow doorbells on, as a user gets). */
const NVME_RNVME = '';

function firstUri(t: NbdTarget): string {
  const u = t.uris.values().next().value;
  if (u === undefined) throw new Error(`${t.kind}: no export`);
  return u;
}

async function startTarget(kind: TargetKind): Promise<Running> {
  if (kind === 'nvme') {
    const uri = process.env.NVMELAB_BENCH_NVME_URI;
    if (uri) return { uri, stop: async () => undefined };
    // Default device: one 1 GiB RAM namespace with 4 KiB blocks (= SIZE_MIB).
    const t = await startNvmeTarget({ rnvme: NVME_RNVME, cpus: 2 });
    return { uri: firstUri(t), stop: () => t.stop() };
  }
  if (kind === 'rnull') {
    const t = await startServeCliTarget(['--listen', '127.0.0.1:0',
      '--null', `nullb0,size=${SIZE_MIB},memory_backed=0,discard=0,irqmode=0,no_sched=1`, '--nr-cpus', '2']);
    return { uri: firstUri(t), stop: () => t.stop() };
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
    const p = spawn('fio', args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmpdir() });
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

/**
 * One target is kept across a scenario's repeats (run.ts runs them back to
 * back), so they measure I/O rather than two tsx cold starts each; it is
 * stopped when another kind is wanted or after a short idle, so it never
 * lingers beside other areas' scenarios.
 */
let live: { kind: TargetKind; target: Promise<Running>; idle: NodeJS.Timeout | undefined } | undefined;

async function acquire(kind: TargetKind): Promise<Running> {
  if (live !== undefined && live.kind === kind) {
    clearTimeout(live.idle);
    live.idle = undefined;
    return live.target;
  }
  await release();
  const target = startTarget(kind);
  live = { kind, target, idle: undefined };
  try {
    return await target;
  } catch (e) {
    live = undefined;
    throw e;
  }
}

async function release(): Promise<void> {
  const l = live;
  live = undefined;
  if (l === undefined) return;
  clearTimeout(l.idle);
  try { await (await l.target).stop(); } catch { /* it failed to start: nothing to stop */ }
}

function releaseWhenIdle(): void {
  if (live === undefined) return;
  live.idle = setTimeout(() => { void release(); }, 500);
  live.idle.unref();
}

/** Anchor measurements of this run by scenario id, for the nvmelab rows' both-anchor ratios. */
const anchorRuns = new Map<string, Measurement[]>();
const ANCHOR_SHORT: Partial<Record<TargetKind, string>> = { 'nbdkit-memory': 'nbdkit', 'qsd-null': 'qsd' };

function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

/** extra.iops_vs_<anchor> and extra.p50_vs_<anchor> against every anchor measured so far in this run. */
function anchorRatios(m: Measurement, tail: string, anchors: readonly TargetKind[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of anchors) {
    const runs = anchorRuns.get(`nbd/${a}/${tail}`) ?? [];
    const short = ANCHOR_SHORT[a] ?? a;
    const iops = median(runs.map((r) => r.iops ?? 0).filter((x) => x > 0));
    const p50 = median(runs.map((r) => r.lat_us?.p50 ?? 0).filter((x) => x > 0));
    if (iops !== undefined && m.iops !== undefined) out[`iops_vs_${short}`] = m.iops / iops;
    if (p50 !== undefined && m.lat_us !== undefined && m.lat_us.p50 > 0) out[`p50_vs_${short}`] = m.lat_us.p50 / p50;
  }
  return out;
}

function scenario(kind: TargetKind, job: FioJob, anchors: readonly TargetKind[], reference?: string, ratioOf?: 'iops' | 'lat_p50'): Scenario {
  const tail = `${job.rw}/${job.bs}/qd${job.qd}`;
  const id = `nbd/${kind}/${tail}`;
  const s: Scenario = {
    id,
    async run(opts) {
      const t = await acquire(kind);
      let m: Measurement;
      try {
        m = await runFio(t.uri, job, Math.max(2, Math.round(opts.durationMs / 1000)));
      } catch (e) {
        await release();
        throw e;
      }
      releaseWhenIdle();
      if (ANCHOR_SHORT[kind] !== undefined) {
        const runs = anchorRuns.get(id) ?? [];
        runs.push(m);
        anchorRuns.set(id, runs);
      } else {
        const extra = anchorRatios(m, tail, anchors);
        if (Object.keys(extra).length > 0) m.extra = extra;
      }
      return m;
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
    for (const a of anchors) out.push(scenario(a, job, anchors));
    const tail = `${job.rw}/${job.bs}/qd${job.qd}`;
    // QD1: latency ratio to qemu-storage-daemon (the lean C server); deeper:
    // IOPS ratio to nbdkit memory (and the qsd row printed beside it).
    const ref = job.qd === 1
      ? (anchors.includes('qsd-null') ? `nbd/qsd-null/${tail}` : anchors.includes('nbdkit-memory') ? `nbd/nbdkit-memory/${tail}` : undefined)
      : (anchors.includes('nbdkit-memory') ? `nbd/nbdkit-memory/${tail}` : anchors.includes('qsd-null') ? `nbd/qsd-null/${tail}` : undefined);
    const ratioOf = job.qd === 1 ? 'lat_p50' : 'iops';
    out.push(scenario('rnull', job, anchors, ref, ratioOf));
    out.push(scenario('nvme', job, anchors, ref, ratioOf));
  }
  return out;
}

/** Scenario list for bench/run.ts (empty when fio lacks the nbd engine). */
export const scenarios: Scenario[] = build();
