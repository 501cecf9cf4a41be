// Logging: pino, structured, to stderr (stdout is kept for machine-readable lines
// such as the daemon's "listening ws://…"). Quiet by default ("warn"); every
// entry point takes --log-level to open it up.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function isLogLevel(s: string): s is LevelWithSilent {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

/** Root logger for a process. `name` is the component ("device", "host", …). */
export function createLogger(name: string, level: string = process.env.NVMELAB_LOG_LEVEL ?? 'warn'): Logger {
  // Entry points validate --log-level themselves; a bad NVMELAB_LOG_LEVEL is said once, not ignored.
  if (!isLogLevel(level)) process.stderr.write(`${name}: log level '${level}' is not one of ${LOG_LEVELS.join(', ')}; using 'warn'\n`);
  const lvl: LevelWithSilent = isLogLevel(level) ? level : 'warn';
  return pino({ name, level: lvl, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}

/** A logger that discards everything (unit tests, benchmarks). */
export const silentLogger: Logger = pino({ level: 'silent' });
