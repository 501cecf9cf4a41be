// Interop harness: find the real NBD tools, start nvmelab NBD targets in
// their own processes, run tools with a timeout.
//
// Targets:
// - 'rnull': host/nbd/serve-cli.ts with memory-backed rnull disks (always).
// - 'nvme':  an rnvme namespace exported by the host daemon, device daemon in
//   a third process. HOOK: until the host daemon ships an `--export` option,
//   set NVMELAB_INTEROP_NVME_URI=nbd://127.0.0.1:PORT/nvme0n1 (a disk of at
//   least 64 MiB, started by whoever runs the suite); when host/main.ts gains
//   `--export`, fill in startNvmeTarget() below (spawn device/main.ts, then
//   host/main.ts --device ws://… --export nvme0n1 --nbd-listen 127.0.0.1:0,
//   read the nbd:// ready line) and the nvme tests run with no other change.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const INTEROP = process.env.NVMELAB_INTEROP === '1';

/** Debian package that provides each tool (for skip messages and the CI apt line). */
export const TOOL_PACKAGE: Readonly<Record<string, string>> = {
  'qemu-io': 'qemu-utils', 'qemu-img': 'qemu-utils', nbdinfo: 'libnbd-bin', nbdcopy: 'libnbd-bin',
  fio: 'fio', nbdkit: 'nbdkit', 'qemu-storage-daemon': 'qemu-system-common',
};

export function haveTool(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/** fio must be built with the nbd engine (libnbd). */
export function fioHasNbd(): boolean {
  if (!haveTool('fio')) return false;
  const r = spawnSync('fio', ['--enghelp=nbd'], { encoding: 'utf8' });
  return r.status === 0 && /uri/i.test(r.stdout);
}

/** Why a test cannot run, or undefined when it can. */
export function missing(tools: readonly string[]): string | undefined {
  if (!INTEROP) return 'interop suite: run `npm run test:interop`';
  const gone = tools.filter((t) => (t === 'fio-nbd' ? !fioHasNbd() : !haveTool(t)));
  if (gone.length === 0) return undefined;
  const pkgs = [...new Set(gone.map((t) => TOOL_PACKAGE[t === 'fio-nbd' ? 'fio' : t] ?? t))];
  return `missing ${gone.join(', ')} (apt-get install -y ${pkgs.join(' ')})`;
}

export interface RunResult { status: number | null; stdout: string; stderr: string }

/** Run a tool to completion (async, so the event loop keeps serving other processes). */
export function run(cmd: string, args: readonly string[], timeoutMs = 120_000): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => { p.kill('SIGKILL'); stderr += `\n[killed after ${timeoutMs} ms]`; }, timeoutMs);
    p.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

export interface Target {
  kind: string;
  /** Export name → nbd:// URI. */
  uris: Map<string, string>;
  stop(): Promise<void>;
}

/** A spawned process that prints one ready line on stdout; dies with us (stdin watchdog). */
export async function spawnReady(args: readonly string[], timeoutMs = 30_000): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${args[0]} not ready within ${timeoutMs} ms`)); }, timeoutMs);
    rl.once('line', (l) => { clearTimeout(timer); resolve(l); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${args[0]} exited with ${code} before ready`)); });
  });
  return { child, line };
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    t.unref();
  });
}

/** rnull disks exported by serve-cli: `big` (64 MiB, 512 B blocks) and `img` (16 MiB, 4 KiB blocks). */
export async function startRnullTarget(): Promise<Target> {
  const { child, line } = await spawnReady([
    'host/nbd/serve-cli.ts', '--watchdog-stdin', '--listen', '127.0.0.1:0', '--max-connections', '64',
    '--null', 'big,size=64', '--null', 'img,size=16,blocksize=4096',
  ]);
  const uris = new Map<string, string>();
  for (const u of line.trim().split(/\s+/)) uris.set(decodeURIComponent(new URL(u).pathname.slice(1)), u);
  return { kind: 'rnull', uris, stop: () => stopChild(child) };
}

/** Why the nvme target cannot run (known at load time so tests show as skipped), or undefined. */
export function nvmeUnavailable(): string | undefined {
  if (process.env.NVMELAB_INTEROP_NVME_URI) return undefined;
  return 'nvme target: host daemon --export not wired yet (set NVMELAB_INTEROP_NVME_URI=nbd://… to run)';
}

/** See the HOOK note at the top of this file. */
export async function startNvmeTarget(): Promise<Target | string> {
  const uri = process.env.NVMELAB_INTEROP_NVME_URI;
  if (uri) {
    const uris = new Map<string, string>([['big', uri], ['img', uri]]);
    return { kind: 'nvme', uris, stop: async () => undefined };
  }
  return 'nvme target: host daemon export not wired yet (set NVMELAB_INTEROP_NVME_URI to test one)';
}

export function tempDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'nvmelab-interop-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Deterministic bytes (xorshift32). */
export function seeded(len: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  return b;
}
