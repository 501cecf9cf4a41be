// The main job's (`npm start`) flags, in their own module so that the README
// generator (scripts/gen-readme.ts) can print the table without running the
// job: host/tools/main-job.ts starts work when it is imported.
import type { FlagSpec } from '../cli/args.ts';

/** `npm start -- [options]`: parsed by host/tools/main-job.ts, listed by its --help and by README.md. */
export const MAIN_JOB_FLAGS: readonly FlagSpec[] = [
  { name: 'runtime', type: 'int', min: 1, max: 3600, arg: 'SECONDS', help: 'seconds of I/O per disk (verify reads come after)', default: '3' },
  { name: 'iodepth', type: 'int', min: 1, max: 1024, help: 'I/Os in flight per job', default: '32' },
  { name: 'bs', type: 'string', arg: 'SIZE', help: 'block size (fio syntax)', default: '4k' },
  { name: 'size', type: 'string', arg: 'SIZE', help: 'region of each disk the job touches (fio syntax)', default: '256m' },
  { name: 'full', type: 'bool', help: 'also print each job\'s complete fio report' },
  { name: 'log-level', type: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], help: 'log level on stderr', default: 'warn' },
  { name: 'help', short: 'h', type: 'bool', help: 'this help' },
];
