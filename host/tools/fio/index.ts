// nvmelab's fio-compatible job runner: public API.
//
//   import { runFio, parseCommandLine, resolveAll, runJobs, formatNormal, formatJson } from '../tools/fio/index.ts';
//
//   // one call, as the `fio` command does it (argv without the program name):
//   const code = await runFio(['--name=r', '--filename=nullb0', '--rw=randread', '--io_size=4m'],
//     { host: { open: (n) => openDisk(n), stat: (n) => getDisk(n)?.stat() }, stdout: process.stdout });
//
//   // or step by step:
//   const jobs = resolveAll(parseCommandLine(argv), (p) => readFileSync(p, 'utf8'));
//   const result = await runJobs(jobs, { host });
//   process.stdout.write(formatNormal(result));   // or JSON.stringify(formatJson(result), null, 2)
//
// Jobs run against block devices through the no-promise hot path
// (BlockDevice.submit), keeping `iodepth` I/Os in flight per job.

export { FioConfigError, FioRunError, type OptionSource } from './errors.ts';
export {
  OPTIONS, optionsHelp, findOption, parseSize, sizeMultiplier,
  type JobOptions, type OptionDef, type RwMode, type VerifyKind, type DistKind, type PerDir, type BsSplitEntry, type SizeOrPercent,
} from './options.ts';
export {
  parseJobFileText, parseCommandLine, resolveJob, resolveAll, defaultJobOptions,
  type RawJob, type RawOption, type RunnerOptions, type ParsedCommandLine, type OutputFormat,
} from './parse.ts';
export type { FioTarget, FioHost, RunOptions, RunResult, JobReport, DirStats, LatStats, GroupReport, DiskUtil, VerifyFailure } from './types.ts';
export { runJobs } from './engine.ts';
export { formatNormal, formatJson, type FioJson } from './output.ts';
export { LatencyHistogram, PLAT_NR, platIdxToVal, platValToIdx } from './hist.ts';
export { crc32c } from './verify.ts';
export { runFio, FIO_USAGE, type RunFioOptions, type OutStream } from './cli.ts';
export { blockLayerHost } from './host.ts';
export { formatHeader, FIO_VERSION } from './output.ts';
