// Assemble and run the device daemon: resolve -device options against the
// registry, build the model and its PCI function, serve it, register the
// control commands, and shut down cleanly (the model flushes) on
// SIGINT/SIGTERM, `quit`, or stdin EOF with --exit-on-stdin-eof.
import { readFileSync } from 'node:fs';
import { createLogger, type Logger } from '../../src/util/log.ts';
import { ControlRegistry } from '../../src/control/commands.ts';
import { registerBuiltinCommands } from '../control/builtin.ts';
import { PciFunction } from '../pci/function.ts';
import { getDeviceType, resolveDevices } from '../registry.ts';
import { UsageError, type DaemonOptions } from '../options.ts';
import { DeviceServer } from './server.ts';

/** How long a model may take to flush on shutdown before we exit anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

export interface RunningDaemon {
  server: DeviceServer;
  fn: PciFunction;
  control: ControlRegistry;
  host: string;
  port: number;
  /** The ready line that was printed. */
  readyLine: string;
  /** Shut down (idempotent); resolves with the exit code to use. */
  shutdown(reason: string): Promise<number>;
  /** Resolves with the exit code once shutdown completed. */
  done: Promise<number>;
}

/** The device type used when no -device is given: nvme when built in, else edu. */
export function defaultDeviceType(): string {
  return getDeviceType('nvme')?.kind === 'function' ? 'nvme' : 'edu';
}

/**
 * Start the daemon. Throws UsageError / OptionError (exit 2) for bad options,
 * other errors (exit 1) for runtime failures such as a port in use.
 * `onReady` receives the ready line (main prints it to stdout).
 */
export async function startDaemon(opts: DaemonOptions, onReady: (line: string) => void, log?: Logger): Promise<RunningDaemon> {
  const root = log ?? createLogger('device', opts.logLevel);
  const resolved = resolveDevices(opts.devices, defaultDeviceType());
  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (opts.tlsCert !== undefined && opts.tlsKey !== undefined) {
    tls = { cert: readOrUsage('--tls-cert', opts.tlsCert), key: readOrUsage('--tls-key', opts.tlsKey) };
  }
  const control = new ControlRegistry();
  const devLog = root.child({ device: resolved.type.name });
  const model = await resolved.type.create(resolved.options, resolved.children, { log: devLog, control, flags: opts.extra });
  const fn = new PciFunction(model, devLog);
  const server = new DeviceServer({ host: opts.host, port: opts.port, token: opts.token, tls, fn, control, log: root });
  const addr = await server.listen();
  const startedAt = Date.now();

  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((r) => {
    finish = r;
  });
  let stopping: Promise<number> | undefined;
  const shutdown = (reason: string): Promise<number> => {
    if (stopping !== undefined) return stopping;
    stopping = (async () => {
      root.info({ reason }, 'shutting down');
      control.emit('SHUTDOWN', { reason });
      let code = 0;
      try {
        await server.close(reason);
        await withTimeout(fn.shutdown(), SHUTDOWN_GRACE_MS, 'model shutdown');
      } catch (e) {
        root.error({ err: e }, 'shutdown failed');
        code = 1;
      }
      finish(code);
      return code;
    })();
    return stopping;
  };

  registerBuiltinCommands(control, {
    server,
    fn,
    device: {
      type: resolved.type.name,
      options: resolved.options.toJSON(),
      children: resolved.children.map((c) => ({ type: c.type, options: c.options.toJSON() })),
    },
    quit: (r) => void shutdown(r),
    startedAt,
  });

  const readyLine = DeviceServer.readyLine(server.scheme, addr.host, addr.port);
  root.info({ device: resolved.type.name, auth: opts.token !== undefined, tls: tls !== undefined }, readyLine);
  onReady(readyLine);
  return { server, fn, control, host: addr.host, port: addr.port, readyLine, shutdown, done };
}

function readOrUsage(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UsageError(`${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
}

async function withTimeout(p: Promise<void>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      p,
      new Promise<void>((_r, rej) => {
        timer = setTimeout(() => rej(new Error(`${what} took longer than ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
