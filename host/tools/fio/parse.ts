// Job parsing: fio job files and fio command lines into resolved JobOptions.
//
// A job file is not an INI file (fio HOWTO, "Job file format"): sections are
// kept in order, duplicates included; a [global] section applies only to the
// jobs below it (several [global] sections accumulate); lines starting with
// ';' or '#' are comments; "key=value" and bare flags ("time_based"); ${VAR}
// is replaced from the environment. On the command line (fio's "--name=x
// --rw=randread …"), --name starts a new job and options before the first
// --name are global.
import { FioConfigError, type OptionSource } from './errors.ts';
import {
  DEFAULT_PERCENTILES, UNSUPPORTED, findOption, parseBool, parseBsSplit, parseDist, parseInt, parsePattern,
  parsePercentiles, parseRange, parseRw, parseSize, parseSizeOrPercent, parseTime, parseVerify, splitPerDir,
  type JobOptions, type PerDir,
} from './options.ts';

/** One "key[=value]" as written, with where it came from. */
export interface RawOption {
  readonly key: string;
  readonly value: string | undefined;
  readonly source: OptionSource;
  /** Set on options from a [global] section or before the first --name (fio's "global options"). */
  readonly global?: boolean;
}

/** A job section before resolution: inherited globals first, then its own lines. */
export interface RawJob {
  readonly section: string;
  readonly options: RawOption[];
  readonly source: OptionSource;
}

const MAX_LINE = 4096;

/** Parses the text of a job file into raw jobs (no option validation yet). */
export function parseJobFileText(text: string, file: string, env: Record<string, string | undefined> = process.env,
  baseGlobals: readonly RawOption[] = []): RawJob[] {
  const jobs: RawJob[] = [];
  let globals: RawOption[] = [...baseGlobals];
  let current: { section: string; options: RawOption[]; source: OptionSource; isGlobal: boolean } | undefined;
  const flush = (): void => {
    if (current && !current.isGlobal) jobs.push({ section: current.section, options: current.options, source: current.source });
  };
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const source: OptionSource = { file, line: i + 1 };
    const rawLine = lines[i] ?? '';
    if (rawLine.length > MAX_LINE) throw new FioConfigError(`line longer than ${MAX_LINE} characters`, '', source);
    const line = rawLine.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    if (line.startsWith('[')) {
      const m = /^\[([^\]\s]+)\]$/.exec(line);
      if (!m) throw new FioConfigError(`malformed section header "${line}" (expected [name])`, '', source);
      const name = m[1] ?? '';
      flush();
      if (name === 'global') {
        // Options of this [global] go into the running globals as they are read.
        current = { section: name, options: globals, source, isGlobal: true };
      } else {
        current = { section: name, options: [...globals], source, isGlobal: false };
      }
      continue;
    }
    if (/^include\s/i.test(line)) {
      throw new FioConfigError('option \'include\' is a fio option nvmelab does not support (inline the included file)', 'include', source);
    }
    const expanded = expandEnv(line, env, source);
    const eq = expanded.indexOf('=');
    const key = (eq < 0 ? expanded : expanded.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : expanded.slice(eq + 1).trim();
    if (key === '' || /\s/.test(key)) throw new FioConfigError(`malformed line "${line}" (expected key=value or a flag)`, '', source);
    if (current === undefined) throw new FioConfigError(`option '${key}' outside of any [section]`, key, source);
    checkKnown(key, source);
    const opt: RawOption = current.isGlobal ? { key, value, source, global: true } : { key, value, source };
    current.options.push(opt);
    if (current.isGlobal) globals = current.options;
  }
  flush();
  return jobs;
}

function expandEnv(line: string, env: Record<string, string | undefined>, source: OptionSource): string {
  return line.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const v = env[name];
    if (v === undefined) throw new FioConfigError(`environment variable \${${name}} is not set`, '', source);
    return v;
  });
}

function checkKnown(key: string, source: OptionSource): void {
  if (findOption(key) !== undefined) return;
  if (UNSUPPORTED.has(key)) throw new FioConfigError(`option '${key}' is a fio option nvmelab does not support`, key, source);
  throw new FioConfigError(`unknown option '${key}'`, key, source);
}

// ---------------------------------------------------------------------------
// Command line

export type OutputFormat = 'normal' | 'json';

/** Options of the runner itself (not of a job). */
export interface RunnerOptions {
  outputFormat: OutputFormat;
  /** 'auto' shows the live progress line only on a TTY. */
  eta: 'auto' | 'always' | 'never';
  help: boolean;
  /** --cmdhelp[=option]: print the option table (or one option). */
  cmdhelp: string | undefined;
  version: boolean;
  /** --section=name: run only these sections of the job files. */
  sections: string[];
}

export interface ParsedCommandLine {
  runner: RunnerOptions;
  jobFiles: string[];
  /** Options before the first --name: defaults for every job (files included). */
  globals: RawOption[];
  /** Jobs defined on the command line with --name=…. */
  jobs: RawJob[];
}

const RUNNER_FLAGS = new Set(['output-format', 'eta', 'help', 'cmdhelp', 'version', 'section']);

/** Parses fio-style argv (without the program name). */
export function parseCommandLine(argv: readonly string[]): ParsedCommandLine {
  const runner: RunnerOptions = { outputFormat: 'normal', eta: 'auto', help: false, cmdhelp: undefined, version: false, sections: [] };
  const jobFiles: string[] = [];
  const globals: RawOption[] = [];
  const jobs: RawJob[] = [];
  let cur: RawJob | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const source: OptionSource = { file: '<cmdline>', line: i + 1 };
    if (!arg.startsWith('--')) {
      if (arg.startsWith('-') && arg !== '-') throw new FioConfigError(`unknown argument "${arg}" (options are --key=value)`, arg, source);
      jobFiles.push(arg);
      continue;
    }
    const body = arg.slice(2);
    const eq = body.indexOf('=');
    const key = (eq < 0 ? body : body.slice(0, eq)).toLowerCase();
    let value = eq < 0 ? undefined : body.slice(eq + 1);
    if (RUNNER_FLAGS.has(key)) {
      applyRunnerFlag(runner, key, value, source);
      continue;
    }
    checkKnown(key, source);
    const def = findOption(key);
    // "--rw randread": take the next argument as the value for non-flag options.
    if (value === undefined && def !== undefined && def.type !== 'bool' && def.type !== 'ignored') {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new FioConfigError(`option '${key}' needs a value`, key, source);
      value = next;
      i++;
    }
    if (def?.name === 'name') {
      cur = { section: value ?? '', options: [...globals], source };
      jobs.push(cur);
    }
    if (cur) cur.options.push({ key, value, source });
    else globals.push({ key, value, source, global: true });
  }
  return { runner, jobFiles, globals, jobs };
}

function applyRunnerFlag(r: RunnerOptions, key: string, value: string | undefined, source: OptionSource): void {
  switch (key) {
    case 'output-format':
      if (value !== 'normal' && value !== 'json') {
        throw new FioConfigError(`bad value "${value ?? ''}" for --output-format: supported: normal, json`, key, source);
      }
      r.outputFormat = value;
      return;
    case 'eta':
      if (value !== 'auto' && value !== 'always' && value !== 'never') {
        throw new FioConfigError(`bad value "${value ?? ''}" for --eta: expected auto, always or never`, key, source);
      }
      r.eta = value;
      return;
    case 'help': r.help = true; return;
    case 'version': r.version = true; return;
    case 'cmdhelp': r.cmdhelp = value ?? 'all'; return;
    case 'section':
      if (value === undefined || value === '') throw new FioConfigError('--section needs a name', key, source);
      r.sections.push(value);
      return;
  }
}

// ---------------------------------------------------------------------------
// Resolution: raw options → JobOptions, validated.

export function defaultJobOptions(name: string): JobOptions {
  return {
    name, description: '', filename: '', rw: 'read', rwSuffix: 0, rwmixread: 50,
    bs: [4096, 4096, 4096], bsrange: undefined, bssplit: undefined, blockalign: undefined,
    size: undefined, offset: { bytes: 0 }, offsetIncrement: 0, ioSize: undefined, numberIos: 0,
    iodepth: 1, iodepthBatchSubmit: 1, iodepthBatchCompleteMin: 1, iodepthBatchCompleteMax: 0,
    numjobs: 1, groupReporting: false, runtime: 0, timeBased: false, rampTime: 0, startdelay: 0, loops: 1,
    norandommap: false, randrepeat: true, randseed: undefined, randomDistribution: { kind: 'random', param: 0 },
    rate: [0, 0, 0], rateIops: [0, 0, 0], fsync: 0, endFsync: false,
    verify: 'none', verifyPattern: undefined, verifyFatal: false, verifyBacklog: 0, doVerify: true,
    stonewall: false, percentileList: [...DEFAULT_PERCENTILES], kbBase: 1024, ignored: [],
  };
}

/** Applies a raw job's options in order and validates the combination. */
export function resolveJob(raw: RawJob): JobOptions {
  const o = defaultJobOptions(raw.section);
  // kb_base changes how every size is read, so it is applied first (its last occurrence wins).
  for (const opt of raw.options) {
    if (findOption(opt.key)?.name === 'kb_base') {
      const n = parseInt('kb_base', opt.value ?? '', undefined, 1024, opt.source);
      if (n !== 1000 && n !== 1024) throw new FioConfigError(`bad value "${opt.value ?? ''}" for option 'kb_base': must be 1000 or 1024`, 'kb_base', opt.source);
      o.kbBase = n;
    }
  }
  let batchCompleteMaxSet = false;
  const jobOptions: Record<string, string> = {};
  const globalOptions: Record<string, string> = {};
  for (const opt of raw.options) {
    const def = findOption(opt.key);
    if (def === undefined) throw new FioConfigError(`unknown option '${opt.key}'`, opt.key, opt.source);
    const name = def.name;
    const v = opt.value;
    // As fio's JSON dump: canonical name, the value string as written, flags without a value left out.
    if (v !== undefined) (opt.global === true ? globalOptions : jobOptions)[name] = v;
    const src = opt.source;
    const need = (): string => {
      if (v === undefined || v === '') throw new FioConfigError(`option '${name}' needs a value`, name, src);
      return v;
    };
    const int = (): number => parseInt(name, need(), def, o.kbBase, src);
    switch (def.type) {
      case 'ignored':
        if (!o.ignored.includes(name)) o.ignored.push(name);
        continue;
      case 'bool': {
        const b = parseBool(name, v, src);
        if (name === 'group_reporting') o.groupReporting = b;
        else if (name === 'time_based') o.timeBased = b;
        else if (name === 'norandommap') o.norandommap = b;
        else if (name === 'randrepeat') o.randrepeat = b;
        else if (name === 'end_fsync') o.endFsync = b;
        else if (name === 'verify_fatal') o.verifyFatal = b;
        else if (name === 'do_verify') o.doVerify = b;
        else if (name === 'stonewall') o.stonewall = b;
        continue;
      }
      default:
        break;
    }
    switch (name) {
      case 'name': o.name = need(); break;
      case 'description': o.description = v ?? ''; break;
      case 'filename': o.filename = need().replace(/^\/dev\//, ''); break;
      case 'rw': { const r = parseRw(need(), src); o.rw = r.rw; o.rwSuffix = r.suffix; break; }
      case 'rwmixread': o.rwmixread = int(); break;
      case 'rwmixwrite': o.rwmixread = 100 - int(); break;
      case 'bs': o.bs = perDirSizes(name, need(), o.bs, o.kbBase, src); break;
      case 'blockalign': o.blockalign = perDirSizes(name, need(), o.blockalign ?? [0, 0, 0], o.kbBase, src); break;
      case 'bsrange': {
        const r = parseRange(name, need(), o.kbBase, src);
        const prev = o.bsrange;
        o.bsrange = [r[0] ?? prev?.[0] ?? [o.bs[0], o.bs[0]], r[1] ?? prev?.[1] ?? [o.bs[1], o.bs[1]], r[2] ?? prev?.[2] ?? [o.bs[2], o.bs[2]]];
        break;
      }
      case 'bssplit': {
        const s = parseBsSplit(need(), o.kbBase, src);
        o.bssplit = [s[0] ?? [{ bs: o.bs[0], perc: 100 }], s[1] ?? [{ bs: o.bs[1], perc: 100 }], s[2] ?? [{ bs: o.bs[2], perc: 100 }]];
        break;
      }
      case 'size': o.size = parseSizeOrPercent(name, need(), o.kbBase, src); break;
      case 'offset': o.offset = parseSizeOrPercent(name, need(), o.kbBase, src); break;
      case 'offset_increment': o.offsetIncrement = parseSize(name, need(), o.kbBase, src); break;
      case 'io_size': o.ioSize = parseSize(name, need(), o.kbBase, src); break;
      case 'number_ios': o.numberIos = int(); break;
      case 'iodepth': o.iodepth = int(); break;
      case 'iodepth_batch_submit': o.iodepthBatchSubmit = int(); break;
      case 'iodepth_batch_complete_min': o.iodepthBatchCompleteMin = int(); break;
      case 'iodepth_batch_complete_max': o.iodepthBatchCompleteMax = int(); batchCompleteMaxSet = true; break;
      case 'numjobs': o.numjobs = int(); break;
      case 'runtime': o.runtime = parseTime(name, need(), src); break;
      case 'ramp_time': o.rampTime = parseTime(name, need(), src); break;
      case 'startdelay': o.startdelay = parseTime(name, need(), src); break;
      case 'loops': o.loops = int(); break;
      case 'randseed': o.randseed = int(); break;
      case 'random_distribution': o.randomDistribution = parseDist(need(), src); break;
      case 'rate': o.rate = perDirSizes(name, need(), o.rate, o.kbBase, src); break;
      case 'rate_iops': o.rateIops = perDirSizes(name, need(), o.rateIops, o.kbBase, src); break;
      case 'fsync': o.fsync = int(); break;
      case 'verify': o.verify = parseVerify(need(), src); break;
      case 'verify_pattern': o.verifyPattern = parsePattern(need(), src); break;
      case 'verify_backlog': o.verifyBacklog = int(); break;
      case 'percentile_list': o.percentileList = parsePercentiles(need(), src); break;
      case 'kb_base': break; // applied above
      default:
        throw new FioConfigError(`option '${name}' is not handled`, name, src);
    }
  }
  // fio's fix-ups: a submit batch of 0 or more than the depth means the depth;
  // complete_max defaults to complete_min and is never below it.
  if (o.iodepthBatchSubmit === 0 || o.iodepthBatchSubmit > o.iodepth) o.iodepthBatchSubmit = o.iodepth;
  if (o.iodepthBatchCompleteMin > o.iodepth) o.iodepthBatchCompleteMin = o.iodepth;
  if (!batchCompleteMaxSet || o.iodepthBatchCompleteMax < o.iodepthBatchCompleteMin) o.iodepthBatchCompleteMax = o.iodepthBatchCompleteMin;
  validateJob(o, raw);
  o.jobOptions = jobOptions;
  o.globalOptions = globalOptions;
  return o;
}

function perDirSizes(opt: string, value: string, prev: PerDir<number>, kbBase: 1000 | 1024, src: OptionSource): PerDir<number> {
  const parts = splitPerDir(value);
  const out: PerDir<number> = [prev[0], prev[1], prev[2]];
  for (let i = 0; i < 3; i++) {
    const p = parts[i];
    if (p !== undefined) out[i] = parseSize(opt, p, kbBase, src);
  }
  return out;
}

function lastSource(raw: RawJob, name: string): OptionSource {
  for (let i = raw.options.length - 1; i >= 0; i--) {
    const o = raw.options[i];
    if (o && findOption(o.key)?.name === name) return o.source;
  }
  return raw.source;
}

function validateJob(o: JobOptions, raw: RawJob): void {
  const err = (opt: string, msg: string): FioConfigError => new FioConfigError(msg, opt, lastSource(raw, opt));
  for (let d = 0; d < 3; d++) {
    if ((o.bs[d] ?? 0) <= 0) throw err('bs', `job '${o.name}': block size must be > 0`);
  }
  if (o.blockalign) {
    for (let d = 0; d < 3; d++) if ((o.blockalign[d] ?? 0) < 0) throw err('blockalign', `job '${o.name}': blockalign must be >= 0`);
  }
  const trims = o.rw === 'trim' || o.rw === 'randtrim';
  if (o.verify !== 'none' && trims) throw err('verify', `job '${o.name}': verify cannot be used with rw=${o.rw}`);
  if (o.verify === 'pattern' && o.verifyPattern === undefined) throw err('verify', `job '${o.name}': verify=pattern needs verify_pattern`);
  if (o.verifyBacklog > 0 && o.verify === 'none') throw err('verify_backlog', `job '${o.name}': verify_backlog needs verify=`);
  if (o.timeBased && o.runtime <= 0) throw err('time_based', `job '${o.name}': time_based needs runtime`);
  if (o.size && 'bytes' in o.size && o.size.bytes <= 0) throw err('size', `job '${o.name}': size must be > 0`);
}

/** Parses a whole invocation: command-line globals + job files + command-line jobs. */
export function resolveAll(cmd: ParsedCommandLine, readFile: (path: string) => string,
  env: Record<string, string | undefined> = process.env): JobOptions[] {
  const raws: RawJob[] = [];
  for (const f of cmd.jobFiles) {
    let text: string;
    try {
      text = readFile(f);
    } catch (e) {
      // As fio ("unable to open 'x.fio' job file"): name the file once, and why.
      const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      throw new FioConfigError(`${f}: cannot read job file (${why})`, '');
    }
    raws.push(...parseJobFileText(text, f, env, cmd.globals));
  }
  raws.push(...cmd.jobs);
  const selected = cmd.runner.sections.length === 0 ? raws : raws.filter((r) => cmd.runner.sections.includes(r.section));
  return selected.map(resolveJob);
}
