// The `fio` command: parse argv (job files and/or --name=… options), run,
// print the normal summary or JSON. Bad options are answered with one line
// naming the option (and file:line) and exit code 1.
import { readFileSync } from 'node:fs';
import { FioConfigError, FioRunError } from './errors.ts';
import { optionsHelp, findOption } from './options.ts';
import { parseCommandLine, resolveAll } from './parse.ts';
import { runJobs } from './engine.ts';
import { FIO_VERSION, formatHeader, formatJson, formatNormal } from './output.ts';
import type { FioHost } from './types.ts';

/** Minimal writable stream (process.stdout, or a test collector). */
export interface OutStream {
  write(s: string): unknown;
  isTTY?: boolean;
}

export interface RunFioOptions {
  host: FioHost;
  stdout: OutStream;
  stderr?: OutStream;
  /** Reads job files (default: fs.readFileSync utf8). */
  readFile?: (path: string) => string;
  env?: Record<string, string | undefined>;
  signal?: AbortSignal;
  /** Default filename= for jobs that name none (e.g. the main job's disk). */
  defaultFilename?: string;
  /** Progress line period (default 1000 ms). */
  progressIntervalMs?: number;
}

export const FIO_USAGE = `usage: fio [options] [job files...]
       fio --name=job1 --filename=nullb0 --rw=randread [--opt=value ...] [--name=job2 ...]

Runner options:
  --output-format=normal|json   Summary format (default normal)
  --eta=auto|always|never       Live progress line (auto: only on a terminal)
  --section=name                Run only this job section (repeatable)
  --cmdhelp[=option]            Describe all job options, or one
  --version                     Print the version
  --help                        This text

Options before the first --name are defaults for every job, job files
included; as in fio, a job file's own settings win over them. To run one job
file against different disks, write filename=\${DISK} in it: \${VAR} is
replaced from the environment (DISK=nvme0n1 nvmelab fio job.fio).
`;

/** Runs fio with `argv` (no program name). Returns the exit code; never throws for user errors. */
export async function runFio(argv: readonly string[], o: RunFioOptions): Promise<number> {
  const err = o.stderr ?? { write: (s: string) => process.stderr.write(s) };
  let cmd;
  let jobs;
  try {
    cmd = parseCommandLine(argv);
    if (cmd.runner.help) {
      o.stdout.write(FIO_USAGE);
      return 0;
    }
    if (cmd.runner.version) {
      o.stdout.write(`${FIO_VERSION}\n`);
      return 0;
    }
    if (cmd.runner.cmdhelp !== undefined) {
      if (cmd.runner.cmdhelp === 'all') {
        o.stdout.write(optionsHelp());
        return 0;
      }
      const def = findOption(cmd.runner.cmdhelp);
      if (def === undefined) {
        err.write(`fio: no such option '${cmd.runner.cmdhelp}'\n`);
        return 1;
      }
      o.stdout.write(`${def.name}: ${def.help} [default: ${def.def}]\n`);
      return 0;
    }
    jobs = resolveAll(cmd, o.readFile ?? ((p) => readFileSync(p, 'utf8')), o.env ?? process.env);
    if (o.defaultFilename !== undefined) for (const j of jobs) if (j.filename === '') j.filename = o.defaultFilename;
    if (jobs.length === 0) {
      err.write('fio: no jobs defined (give a job file or --name=…)\n');
      return 1;
    }
  } catch (e) {
    if (e instanceof FioConfigError) {
      err.write(`fio: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const json = cmd.runner.outputFormat === 'json';
  const showEta = cmd.runner.eta === 'always' || (cmd.runner.eta === 'auto' && o.stdout.isTTY === true && !json);
  let lastLen = 0;
  try {
    const res = await runJobs(jobs, {
      host: o.host,
      signal: o.signal,
      progressIntervalMs: o.progressIntervalMs,
      onNote: (s) => err.write(`${s}\n`),
      onStart: () => { if (!json) o.stdout.write(formatHeader(jobs)); },
      onProgress: showEta
        ? (line): void => {
          o.stdout.write(`\r${line.padEnd(lastLen)}`);
          lastLen = line.length;
        }
        : undefined,
    });
    if (showEta && lastLen > 0) o.stdout.write(`\r${' '.repeat(lastLen)}\r`);
    // fio ends its progress output with a newline, so the report follows a blank line.
    o.stdout.write(json ? `${JSON.stringify(formatJson(res), null, 2)}\n` : `\n${formatNormal(res)}`);
    return res.exitCode;
  } catch (e) {
    if (e instanceof FioRunError || e instanceof FioConfigError) {
      err.write(`fio: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
