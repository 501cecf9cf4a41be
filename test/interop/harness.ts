// their own processes, run tools with a timeout.
//
// Targets (each offers the exports `big` ≥ 64 MiB with 512 B blocks and `img`
// 16 MiB with 4 KiB blocks, so every test runs unchanged against both):
// - 'rnull': host/nbd/serve-cli.ts with memory-backed rnull disks.
// - 'nvme':  rnvme namespaces across processes — a device daemon
//   (device/main.ts, an NVMe controller with two RAM namespaces) and a host
//   daemon (host/main.ts --attach ws://… --export …) exporting nvme0n1 as
//   `big` and nvme0n2 as `img`. NVMELAB_INTEROP_NVME_URI=nbd://… points the
//   nvme tests at an already running export instead (both names → that URI).
import { spawn, spawnSync } from 'node:child_process';
import { startServeCliTarget, startNvmeTarget as startNvmeProcesses, type NbdTarget } from '../../host/nbd/targets.ts';
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
    // In the OS temp dir: fio drops *-verify.state files in its cwd when a verify fails.
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmpdir() });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => { p.kill('SIGKILL'); stderr += `\n[killed after ${timeoutMs} ms]`; }, timeoutMs);
    p.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

/** A running target: export name → nbd:// URI (see host/nbd/targets.ts). */
export type Target = NbdTarget;

/** rnull disks exported by serve-cli: `big` (64 MiB, 512 B blocks) and `img` (16 MiB, 4 KiB blocks). */
export function startRnullTarget(): Promise<Target> {
  return startServeCliTarget(['--listen', '127.0.0.1:0', '--max-connections', '64',
    '--null', 'big,size=64', '--null', 'img,size=16,blocksize=4096'], 'rnull', { unix: true });
}

/**
 * Why the nvme target cannot run a test (known at load time), or undefined:
 * it is always started, but an outside NVMELAB_INTEROP_NVME_URI target has
 * no UNIX socket.
 */
export function nvmeUnavailable(needsUnix = false): string | undefined {
  if (needsUnix && process.env.NVMELAB_INTEROP_NVME_URI) return 'NVMELAB_INTEROP_NVME_URI target has no UNIX socket';
  return undefined;
}

/**
 * rnvme options for the nvme target: the driver's defaults, shadow doorbells
 * (use_dbbuf) included — NVME2 fixed their stall (docs/requests.md).
 * NVMELAB_INTEROP_DBBUF=0 runs without them, to tell a doorbell problem apart.
 */
export const NVME_RNVME_OPTIONS = process.env.NVMELAB_INTEROP_DBBUF === '0' ? 'use_dbbuf=0' : '';

/** One NVMe controller with two RAM namespaces shaped like the rnull target's disks. */
export const NVME_DEVICE_ARGS: readonly string[] = [
  '-device', 'nvme',
  '-device', 'nvme-ns,size=64M,logical_block_size=512', // nvme0n1 → big
  '-device', 'nvme-ns,size=16M,logical_block_size=4096', // nvme0n2 → img
];

/** True when the target has the standard exports (`big` 64 MiB / 512 B, `img` 16 MiB / 4 KiB), not an outside URI. */
export function shaped(target: Target): boolean {
  return target.kind === 'rnull' || !process.env.NVMELAB_INTEROP_NVME_URI;
}

/** The nvme target (see the note at the top of this file); a string says why it did not start. */
export async function startNvmeTarget(): Promise<Target | string> {
  const uri = process.env.NVMELAB_INTEROP_NVME_URI;
  if (uri) {
    const uris = new Map<string, string>([['big', uri], ['img', uri]]);
    return { kind: 'nvme', uris, stop: async () => undefined };
  }
  try {
    return await startNvmeProcesses({
      deviceArgs: NVME_DEVICE_ARGS, rnvme: NVME_RNVME_OPTIONS, exports: [['big', 'nvme0n1'], ['img', 'nvme0n2']], unix: true,
    });
  } catch (e) {
    return `nvme target failed to start: ${e instanceof Error ? e.message : String(e)}`;
  }
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
