// nvmelab NBD targets in their own processes, for the interop suite
// (test/interop/harness.ts) and the NBD benchmark (bench.ts):
//
// - startServeCliTarget(): host/nbd/serve-cli.ts with rnull / memory disks.
// - startNvmeTarget(): rnvme namespaces across processes — a device daemon
//   (device/main.ts, an emulated NVMe controller) and a host daemon
//   (host/main.ts --attach ws://… --export …) exporting over NBD on loopback
//   port 0 (or a UNIX socket), the way a user runs them.
//
// Every child gets the stdin watchdog (it exits when we die) and is spawned
// from the repository root so `--import tsx` resolves wherever we run from.
// Nothing here imports device code: the device daemon is only a process.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A running NBD target. */
export interface NbdTarget {
  kind: string;
  /** Export name → TCP URI (nbd://HOST:PORT/NAME). */
  uris: Map<string, string>;
  /** Export name → UNIX-socket URI (nbd+unix:///NAME?socket=PATH), when the target also listens on one. */
  unixUris?: Map<string, string>;
  /** Stop every process of the target (idempotent). */
  stop(): Promise<void>;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), graceMs).unref();
  });
}

/**
 * Spawn `node --import tsx ARGS…` and collect its stdout lines until
 * `done(line)` says it is ready. Rejects (and kills the child) if it exits
 * first or is not ready within `timeoutMs`. stderr goes to ours.
 */
export async function spawnNodeUntil(
  args: readonly string[], done: (line: string) => boolean, timeoutMs = 30_000,
): Promise<{ child: ChildProcess; lines: string[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const stdout = child.stdout;
  if (stdout === null) throw new Error('spawn: no stdout pipe');
  const rl = createInterface({ input: stdout });
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const finish = (err: Error | undefined): void => {
      clearTimeout(timer);
      rl.off('line', onLine);
      child.off('exit', onExit);
      if (err === undefined) { resolve(); return; }
      child.kill('SIGKILL');
      reject(err);
    };
    const why = (what: string): Error => new Error(`${args[0] ?? 'node'} ${what}; stdout so far: ${JSON.stringify(lines)}`);
    const timer = setTimeout(() => finish(why(`not ready within ${timeoutMs} ms`)), timeoutMs);
    const onLine = (l: string): void => {
      lines.push(l);
      if (done(l)) finish(undefined);
    };
    const onExit = (code: number | null, sig: NodeJS.Signals | null): void => finish(why(`exited (${code ?? sig}) before ready`));
    rl.on('line', onLine);
    child.once('exit', onExit);
  });
  // Keep draining stdout so a chatty child never blocks on a full pipe.
  rl.on('line', () => undefined);
  return { child, lines };
}

function exportName(uri: string): string {
  return decodeURIComponent(new URL(uri).pathname.slice(1));
}

/** Sort printed URIs into the TCP and UNIX maps of a target. */
function addUri(t: { uris: Map<string, string>; unixUris: Map<string, string> }, uri: string): void {
  (uri.startsWith('nbd+unix:') ? t.unixUris : t.uris).set(exportName(uri), uri);
}

/** A private directory for a UNIX socket, removed by the returned cleanup. */
function socketDir(): { path: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'nvmelab-nbd-'));
  return { path: join(dir, 'nbd.sock'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * host/nbd/serve-cli.ts with `args` (its --null / --memory / --listen …),
 * which prints the URIs on one line; `unix: true` adds a UNIX-socket listener.
 */
export async function startServeCliTarget(args: readonly string[], kind = 'rnull', opts: { unix?: boolean } = {}): Promise<NbdTarget> {
  const sock = opts.unix === true ? socketDir() : undefined;
  let started: { child: ChildProcess; lines: string[] };
  try {
    started = await spawnNodeUntil(['host/nbd/serve-cli.ts', '--watchdog-stdin', ...args,
      ...(sock !== undefined ? ['--listen', `unix:${sock.path}`] : [])], () => true);
  } catch (e) {
    sock?.cleanup();
    throw e;
  }
  const { child, lines } = started;
  const t = { kind, uris: new Map<string, string>(), unixUris: new Map<string, string>() };
  for (const u of (lines[0] ?? '').trim().split(/\s+/)) if (u !== '') addUri(t, u);
  return { ...t, stop: async () => { await stopChild(child); sock?.cleanup(); } };
}

export interface NvmeTargetOptions {
  /** Device-daemon `-device …` arguments (default: one NVMe controller with its default 1 GiB namespace). */
  deviceArgs?: readonly string[];
  /** Export name → disk (default nvme0n1 → nvme0n1). */
  exports?: ReadonlyArray<readonly [name: string, disk: string]>;
  /** rnvme driver options, `key=value,…` for the host's --rnvme (e.g. `use_dbbuf=0`). */
  rnvme?: string;
  /** NBD listen spec for the host daemon: `127.0.0.1:0` (default) or `unix:/path`. */
  nbdListen?: string;
  /** Also listen on a UNIX socket in a private temporary directory (→ NbdTarget.unixUris). */
  unix?: boolean;
  /** Block-layer CPUs in the host daemon (default: the daemon's own default). */
  cpus?: number;
  /** More host-daemon arguments. */
  hostArgs?: readonly string[];
  /** Readiness timeout per process (default 60 s: two cold tsx starts on a busy machine). */
  timeoutMs?: number;
}

/**
 * Device daemon + host daemon exporting rnvme namespaces over NBD. The
 * host daemon prints `attached …`, one `export <uri>` per export, then
 * `control ws://…` last (everything is ready by then). Teardown stops the
 * host first (it detaches from the device cleanly), then the device.
 */
export async function startNvmeTarget(opts: NvmeTargetOptions = {}): Promise<NbdTarget> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const dev = await spawnNodeUntil(['device/main.ts', '--listen', '127.0.0.1:0', '--exit-on-stdin-eof',
    ...(opts.deviceArgs ?? [])], (l) => l.startsWith('listening '), timeoutMs);
  const url = (dev.lines.at(-1) ?? '').slice('listening '.length).trim();
  const wanted = opts.exports ?? [['nvme0n1', 'nvme0n1']];
  const sock = opts.unix === true ? socketDir() : undefined;
  const hostArgs = ['host/main.ts', '--attach', url,
    ...(opts.rnvme !== undefined && opts.rnvme !== '' ? ['--rnvme', opts.rnvme] : []),
    ...wanted.flatMap(([name, disk]) => ['--export', name === disk ? disk : `${disk},name=${name}`]),
    '--nbd-listen', opts.nbdListen ?? '127.0.0.1:0', ...(sock !== undefined ? ['--nbd-listen', `unix:${sock.path}`] : []),
    '--nbd-max-connections', '64',
    ...(opts.cpus !== undefined ? ['--cpus', String(opts.cpus)] : []),
    '--no-state-file', '--exit-on-stdin-eof', ...(opts.hostArgs ?? [])];
  let host: { child: ChildProcess; lines: string[] };
  try {
    host = await spawnNodeUntil(hostArgs, (l) => l.startsWith('control '), timeoutMs);
  } catch (e) {
    await stopChild(dev.child);
    sock?.cleanup();
    throw e;
  }
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => { await stopChild(host.child); await stopChild(dev.child); sock?.cleanup(); })();
    return stopping;
  };
  const t = { kind: 'nvme', uris: new Map<string, string>(), unixUris: new Map<string, string>() };
  for (const l of host.lines) if (l.startsWith('export ')) addUri(t, l.slice('export '.length).trim());
  const absent = wanted.filter(([name]) => !t.uris.has(name) && !t.unixUris.has(name)).map(([name]) => name);
  if (absent.length > 0) {
    await stop();
    throw new Error(`host daemon did not export ${absent.join(', ')}; its stdout: ${JSON.stringify(host.lines)}`);
  }
  return { ...t, stop };
}
