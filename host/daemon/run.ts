// `nvmelab host …` (and host/main.ts): the long-lived host daemon process.
// Start-up: attach devices, create rnull devices, start NBD exports, open
// the control channel; then one ready line `control ws://HOST:PORT/control` on
// stdout (everything before it is ready too). SIGINT/SIGTERM, `quit` on the
// control channel, or stdin EOF with --exit-on-stdin-eof → orderly shutdown
// (NBD close, NVMe CC.SHN shutdown, rnull power-off), exit 0.
import { readFileSync } from 'node:fs';
import { UsageError, parseIntArg, parseFlags, formatFlags, getStr, getBool, getInt, getList, type FlagSpec } from '../cli/args.ts';
import type { Io } from '../cli/types.ts';
import type { Logger } from '../../src/util/log.ts';
import { HostDaemon } from './host.ts';
import { parseNullSpec } from './null-spec.ts';
import { parseExportSpec, parseListen, isLoopbackHost } from '../nbd/index.ts';
import { RNVME_OPTIONS, resolveOptions } from '../drivers/rnvme/index.ts';
import { defaultStateFile } from '../cli/api.ts';

export const HOST_FLAGS: FlagSpec[] = [
  { name: 'attach', type: 'string', repeat: true, arg: 'URL[#TOKEN]', help: 'attach the device daemon at URL (rnvme probe → nvmeN, disks nvmeNn1…)' },
  { name: 'token', type: 'string', arg: 'TOKEN', help: 'device daemon token for --attach URLs without #TOKEN (default: NVMELAB_TOKEN)' },
  { name: 'token-file', type: 'string', arg: 'FILE', help: 'read that device token from FILE' },
  { name: 'rnvme', type: 'string', repeat: true, arg: 'KEY=VALUE[,…]', help: 'rnvme driver options for --attach (io_queues=2,io_queue_depth=256,use_dbbuf=0,…)' },
  { name: 'null', type: 'string', repeat: true, arg: 'SPEC', help: 'create an rnull device: NAME[,key=value…] with null_blk options (gb=1,bs=4096,irqmode=1,memory_backed=1,…)' },
  { name: 'export', type: 'string', repeat: true, arg: 'SPEC', help: 'export a disk over NBD: DISK[,ro][,name=N][,desc=T] or nbd://HOST:PORT/DISK' },
  { name: 'nbd-listen', type: 'string', repeat: true, arg: 'ADDR', help: 'NBD listen address HOST:PORT or unix:PATH', default: '127.0.0.1:10809' },
  { name: 'nbd-allow-remote', type: 'bool', help: 'allow a non-loopback NBD address (NBD has no authentication)' },
  { name: 'nbd-read-only', type: 'bool', help: 'make every NBD export read-only' },
  { name: 'nbd-max-connections', type: 'int', min: 1, max: 4096, help: 'simultaneous NBD connections', default: '16' },
  { name: 'control', type: 'string', arg: 'HOST:PORT', help: 'control channel address (loopback only)', default: '127.0.0.1:0' },
  { name: 'control-token', type: 'string', arg: 'TOKEN', help: 'control channel token (default: NVMELAB_HOST_TOKEN, else random)' },
  { name: 'control-token-file', type: 'string', arg: 'FILE', help: 'read the control token from FILE' },
  { name: 'state-file', type: 'string', arg: 'FILE', help: 'where to advertise {url, token, pid} for the CLI (default: NVMELAB_HOST_STATE or $XDG_RUNTIME_DIR/nvmelab-UID/host.json)' },
  { name: 'no-state-file', type: 'bool', help: 'do not write the state file' },
  { name: 'cpus', type: 'int', min: 1, max: 256, help: 'logical CPUs of the block layer', default: '2' },
  { name: 'log-level', type: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], arg: 'LEVEL', help: 'log level on stderr: fatal, error, warn, info, debug, trace or silent', default: 'warn' },
  { name: 'exit-on-stdin-eof', type: 'bool', help: 'shut down when stdin closes (parent-death watchdog)' },
  { name: 'help', short: 'h', type: 'bool', help: 'this help' },
];

export const HOST_SUMMARY = 'run the host daemon (attach devices, rnull, NBD, control channel)';

export const HOST_USAGE = `usage: nvmelab host [options]

${HOST_SUMMARY}.
The host daemon is a Linux-like block layer with rnvme controllers attached
to device daemons and rnull devices, an NBD server, and a QMP-style control
channel. Prints \`control ws://HOST:PORT/control\` when ready.

Options:
${formatFlags(HOST_FLAGS)}
`;

function readFirstLine(file: string, flag: string): string {
  let t: string;
  try {
    t = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  const line = (t.split('\n')[0] ?? '').trim();
  if (line === '') throw new UsageError(`${flag} ${file}: the first line is empty`);
  return line;
}

/** `--rnvme io_queues=2,use_dbbuf=0` → validated rnvme options (UsageError naming the bad one). */
export function parseRnvmeOptions(specs: readonly string[]): Record<string, number | boolean> {
  const out: Record<string, number | boolean> = {};
  for (const spec of specs) {
    for (const kv of spec.split(',')) {
      if (kv === '') continue;
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new UsageError(`--rnvme ${kv}: expected KEY=VALUE`);
      const k = kv.slice(0, eq);
      const v = kv.slice(eq + 1);
      const info = RNVME_OPTIONS.find((o) => o.name === k);
      if (info === undefined) throw new UsageError(`--rnvme: unknown rnvme option '${k}'`);
      if (info.type === 'bool') {
        if (!['0', '1', 'on', 'off', 'true', 'false'].includes(v)) throw new UsageError(`--rnvme ${k}=${v}: expected 0 or 1`);
        out[k] = v === '1' || v === 'on' || v === 'true';
      } else out[k] = parseIntArg(v, `--rnvme ${k}`, info.min ?? 0, info.max ?? Number.MAX_SAFE_INTEGER);
    }
  }
  try {
    resolveOptions(out);
  } catch (e) {
    throw new UsageError(`--rnvme: ${e instanceof Error ? e.message : String(e)}`);
  }
  return out;
}

/** Runs the host until shutdown. Returns the exit code (0 clean, 1 start-up failure, 2 usage). */
/** A bad command line is one stderr line and exit status 2; anything else is a real failure and propagates. */
function usageFailure(io: Io, e: unknown): number {
  if (!(e instanceof UsageError)) throw e;
  io.stderr.write(`nvmelab host: ${e.message}\n`);
  return 2;
}

export async function runHostCommand(argv: readonly string[], io: Io, logger: Logger): Promise<number> {
  let p;
  let driverOptions: Record<string, number | boolean> = {};
  try {
    p = parseFlags(argv, HOST_FLAGS);
    if (p.positionals.length > 0) throw new UsageError(`unexpected argument '${p.positionals[0] ?? ''}'`);
    if (getStr(p, 'token') !== undefined && getStr(p, 'token-file') !== undefined) throw new UsageError('--token and --token-file: give one of them');
    if (getStr(p, 'control-token') !== undefined && getStr(p, 'control-token-file') !== undefined) throw new UsageError('--control-token and --control-token-file: give one of them');
    for (const u of getList(p, 'attach')) {
      let url: URL;
      try {
        url = new URL(u);
      } catch {
        throw new UsageError(`--attach ${u}: not a URL (ws://HOST:PORT/)`);
      }
      if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new UsageError(`--attach ${u}: expected ws:// or wss://`);
    }
    driverOptions = parseRnvmeOptions(getList(p, 'rnvme'));
    for (const n of getList(p, 'null')) {
      try {
        parseNullSpec(n);
      } catch (e) {
        throw new UsageError(`--null ${n}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    for (const x of getList(p, 'export')) {
      try {
        parseExportSpec(x);
      } catch (e) {
        throw new UsageError(e instanceof Error ? e.message : String(e));
      }
    }
    for (const l of getList(p, 'nbd-listen')) {
      let a;
      try {
        a = parseListen(l);
      } catch (e) {
        throw new UsageError(`--nbd-listen ${l}: ${e instanceof Error ? e.message : String(e)}`);
      }
      // NBD has no authentication: a non-loopback address is refused here, before anything starts.
      if (a.kind === 'tcp' && !isLoopbackHost(a.host) && !getBool(p, 'nbd-allow-remote')) {
        throw new UsageError(`--nbd-listen ${l}: not a loopback address; add --nbd-allow-remote to export over the network (NBD has no authentication)`);
      }
    }
  } catch (e) {
    return usageFailure(io, e);
  }
  if (getBool(p, 'help')) {
    io.stdout.write(HOST_USAGE);
    return 0;
  }
  let deviceToken: string | undefined;
  let controlToken: string | undefined;
  try {
    const tf = getStr(p, 'token-file');
    deviceToken = getStr(p, 'token') ?? (tf !== undefined ? readFirstLine(tf, '--token-file') : undefined) ?? io.env.NVMELAB_TOKEN;
    const cf = getStr(p, 'control-token-file');
    controlToken = getStr(p, 'control-token') ?? (cf !== undefined ? readFirstLine(cf, '--control-token-file') : undefined) ?? io.env.NVMELAB_HOST_TOKEN;
  } catch (e) {
    return usageFailure(io, e);
  }

  const host = new HostDaemon({ logger, nrCpus: getInt(p, 'cpus') ?? 2 });
  const stop = (why: string): void => void host.shutdown(why);
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => (): void => {
    if (++signals > 1) {
      io.stderr.write(`nvmelab host: second ${sig}, exiting without a clean shutdown\n`);
      process.exit(130);
    }
    stop(sig);
  };
  const onInt = onSignal('SIGINT');
  const onTerm = onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  if (getBool(p, 'exit-on-stdin-eof')) {
    process.stdin.on('end', () => stop('stdin closed'));
    process.stdin.on('close', () => stop('stdin closed'));
    process.stdin.on('error', () => stop('stdin error'));
    process.stdin.resume();
  }
  try {
    for (const u of getList(p, 'attach')) {
      const c = await host.attach(u, { token: deviceToken, driverOptions });
      const s = c.summary();
      io.stdout.write(`attached ${s.name} ${s.url} ${s.namespaces.map((n) => n.disk).join(' ')}\n`);
    }
    for (const n of getList(p, 'null')) io.stdout.write(`null ${await host.createNull(n)}\n`);
    const exportsWanted = getList(p, 'export');
    if (exportsWanted.length > 0 || getList(p, 'nbd-listen').length > 0) {
      await host.startNbd({
        listen: getList(p, 'nbd-listen'),
        readOnly: getBool(p, 'nbd-read-only'),
        maxConnections: getInt(p, 'nbd-max-connections'),
        allowRemote: getBool(p, 'nbd-allow-remote'),
      });
    }
    for (const e of exportsWanted) for (const uri of await host.exportDisk(e)) io.stdout.write(`export ${uri}\n`);
    const stateFile = getBool(p, 'no-state-file') ? undefined : (getStr(p, 'state-file') ?? defaultStateFile(io.env));
    const cs = await host.startControl({ listen: getStr(p, 'control'), token: controlToken, stateFile });
    io.stdout.write(`control ${cs.url}\n`);
    logger.info({ control: cs.url, stateFile }, 'host ready');
  } catch (e) {
    io.stderr.write(`nvmelab host: ${e instanceof Error ? e.message : String(e)}\n`);
    await host.shutdown('start-up failed');
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    return 1;
  }
  await host.done;
  process.off('SIGINT', onInt);
  process.off('SIGTERM', onTerm);
  if (getBool(p, 'exit-on-stdin-eof')) process.stdin.pause();
  return 0;
}
