// The device daemon's entry point:
//   node --import tsx device/main.ts [--listen HOST:PORT] [-device NAME,k=v,...] ...
// Bad flags → one line on stderr naming the flag, exit 2. Ready → one line
// `listening ws://HOST:PORT/` on stdout. SIGINT/SIGTERM → clean shutdown, exit 0.
import './devices.ts';
import { formatUsage, parseDaemonArgs, UsageError } from './options.ts';
import { formatDeviceHelp, OptionError } from './registry.ts';
import { startDaemon } from './server/daemon.ts';

async function main(): Promise<number> {
  let opts;
  try {
    opts = parseDaemonArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`nvmelab-device: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (opts.help) {
    process.stdout.write(`${formatUsage()}\n`);
    return 0;
  }
  if (opts.helpDevices) {
    process.stdout.write(`${formatDeviceHelp()}\n`);
    return 0;
  }
  let daemon;
  try {
    daemon = await startDaemon(opts, (line) => process.stdout.write(`${line}\n`));
  } catch (e) {
    if (e instanceof UsageError || e instanceof OptionError) {
      process.stderr.write(`nvmelab-device: ${e.message}\n`);
      return 2;
    }
    const err = e as NodeJS.ErrnoException;
    process.stderr.write(`nvmelab-device: ${err.code === 'EADDRINUSE' ? `--listen ${opts.host}:${opts.port}: address in use` : err.message}\n`);
    return 1;
  }
  const stop = (why: string): void => void daemon.shutdown(why);
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  if (opts.exitOnStdinEof) {
    process.stdin.on('end', () => stop('stdin closed'));
    process.stdin.on('close', () => stop('stdin closed'));
    process.stdin.on('error', () => stop('stdin error'));
    process.stdin.resume();
  }
  return daemon.done;
}

main().then(
  (code) => {
    process.exitCode = code;
    // Anything left (sockets in teardown, timers) must not keep us alive.
    setTimeout(() => process.exit(code), 100).unref();
  },
  (e: unknown) => {
    process.stderr.write(`nvmelab-device: fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
