// The fio option table: every supported option, its type, default and meaning,
// in one place (printable as help), plus the value parsers that follow fio's
// conventions (size suffixes with kb_base=1024, "read,write,trim" comma lists,
// time suffixes). Facts from fio's HOWTO ("Job file parameters", "Parameter
// types"), re-implemented, not copied.
import { FioConfigError, type OptionSource } from './errors.ts';

export type RwMode = 'read' | 'write' | 'randread' | 'randwrite' | 'rw' | 'randrw' | 'trim' | 'randtrim';
export type VerifyKind = 'none' | 'crc32c' | 'md5' | 'sha256' | 'pattern';
export type DistKind = 'random' | 'zipf' | 'pareto' | 'normal';

/** Per data direction: [read, write, trim] (fio's DDIR_READ/WRITE/TRIM order). */
export type PerDir<T> = [T, T, T];

export interface BsSplitEntry {
  readonly bs: number;
  /** Percentage of I/Os of this size (0..100). */
  readonly perc: number;
}

/** A size that may be given as a percentage of the device ("50%"). */
export type SizeOrPercent = { readonly bytes: number } | { readonly percent: number };

/** A fully resolved job: every option with its value (defaults filled in). */
export interface JobOptions {
  name: string;
  description: string;
  filename: string;
  rw: RwMode;
  /** The ":N" suffix of rw: sequential → bytes skipped after each I/O; random → I/Os per new random offset. */
  rwSuffix: number;
  rwmixread: number;
  bs: PerDir<number>;
  bsrange: PerDir<[number, number]> | undefined;
  bssplit: PerDir<BsSplitEntry[]> | undefined;
  blockalign: PerDir<number> | undefined;
  size: SizeOrPercent | undefined;
  offset: SizeOrPercent;
  offsetIncrement: number;
  ioSize: number | undefined;
  numberIos: number;
  iodepth: number;
  iodepthBatchSubmit: number;
  iodepthBatchCompleteMin: number;
  iodepthBatchCompleteMax: number;
  numjobs: number;
  groupReporting: boolean;
  /** Milliseconds; 0 = no limit. */
  runtime: number;
  timeBased: boolean;
  rampTime: number;
  startdelay: number;
  loops: number;
  norandommap: boolean;
  randrepeat: boolean;
  randseed: number | undefined;
  randomDistribution: { kind: DistKind; param: number };
  /** Bytes per second per direction, 0 = unlimited. */
  rate: PerDir<number>;
  rateIops: PerDir<number>;
  fsync: number;
  endFsync: boolean;
  verify: VerifyKind;
  verifyPattern: Uint8Array | undefined;
  verifyFatal: boolean;
  verifyBacklog: number;
  doVerify: boolean;
  stonewall: boolean;
  percentileList: number[];
  kbBase: 1000 | 1024;
  /** Notes for options accepted and ignored (ioengine, direct, …), printed once. */
  ignored: string[];
  /**
   * fio's JSON "job options": this job's own options as written (canonical
   * names, raw value strings, valueless flags left out, the last one wins).
   * Options inherited from [global] / the command line are in `globalOptions`.
   */
  jobOptions?: Record<string, string>;
  /** fio's JSON "global options": the [global] / command-line globals this job saw. */
  globalOptions?: Record<string, string>;
}

export type OptionType =
  | 'str' | 'int' | 'bool' | 'size' | 'sizeperc' | 'time' | 'perdir-size' | 'perdir-range'
  | 'bssplit' | 'rw' | 'verify' | 'dist' | 'pattern' | 'percentiles' | 'ignored';

export interface OptionDef {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly type: OptionType;
  /** Default as fio documents it (text, for help). */
  readonly def: string;
  readonly help: string;
  /** A bare flag (no "=value") means 1 for bool options. */
  readonly min?: number;
  readonly max?: number;
  /** For 'str' options with a fixed set of values. */
  readonly choices?: readonly string[];
}

/** The supported options. Order = help order. */
export const OPTIONS: readonly OptionDef[] = [
  { name: 'name', type: 'str', def: 'section name', help: 'Job name; on the command line --name starts a new job.' },
  { name: 'description', type: 'str', def: '""', help: 'Free text shown in the job header.' },
  { name: 'filename', type: 'str', def: '(required)', help: 'Disk to run against, by block-device name (e.g. nullb0, nvme0n1); "/dev/" prefix accepted.' },
  { name: 'rw', aliases: ['readwrite'], type: 'rw', def: 'read', help: 'read, write, randread, randwrite, rw|readwrite, randrw, trim, randtrim; optional ":N" (sequential: skip N bytes after each I/O; random: N I/Os per new random offset).' },
  { name: 'rwmixread', type: 'int', def: '50', min: 0, max: 100, help: 'Percentage of a mixed workload that is reads.' },
  { name: 'rwmixwrite', type: 'int', def: '50', min: 0, max: 100, help: 'Percentage of a mixed workload that is writes (sets rwmixread to 100-N).' },
  { name: 'bs', aliases: ['blocksize'], type: 'perdir-size', def: '4k', help: 'Block size; "r,w,t" per direction (bs=4k,8k: reads 4k, writes and trims 8k).' },
  { name: 'bsrange', aliases: ['blocksize_range'], type: 'perdir-range', def: 'bs-bs', help: 'Block-size range lo-hi (per direction with commas); sizes are multiples of lo.' },
  { name: 'bssplit', type: 'bssplit', def: 'none', help: 'Weighted sizes: bs/perc:bs/perc…, per direction with commas; an empty perc shares the remainder.' },
  { name: 'blockalign', aliases: ['ba'], type: 'perdir-size', def: 'min bs', help: 'Alignment of random offsets.' },
  { name: 'size', type: 'sizeperc', def: 'disk size', help: 'Size of the region this job does I/O to (bytes with suffixes, or N% of the disk).' },
  { name: 'offset', type: 'sizeperc', def: '0', help: 'Start of the region (bytes, or N% of the disk).' },
  { name: 'offset_increment', type: 'size', def: '0', help: 'Clone k of numjobs starts at offset + k*offset_increment (so clones do not overlap).' },
  { name: 'io_size', aliases: ['io_limit'], type: 'size', def: 'size', help: 'Amount of I/O to do (may exceed size: the region is gone over again).' },
  { name: 'number_ios', type: 'int', def: '0', min: 0, help: 'Stop after this many I/Os (0 = no limit).' },
  { name: 'iodepth', type: 'int', def: '1', min: 1, max: 65536, help: 'I/Os kept in flight.' },
  { name: 'iodepth_batch_submit', aliases: ['iodepth_batch'], type: 'int', def: '1', min: 0, help: 'I/Os prepared before they are submitted together (0 or >iodepth = iodepth).' },
  { name: 'iodepth_batch_complete_min', aliases: ['iodepth_batch_complete'], type: 'int', def: '1', min: 0, help: 'With the queue full, wait for at least this many completions before refilling (0 = 1).' },
  { name: 'iodepth_batch_complete_max', type: 'int', def: 'iodepth_batch_complete_min', min: 0, help: 'Reap at most this many completions before submitting again.' },
  { name: 'numjobs', type: 'int', def: '1', min: 1, max: 4096, help: 'Clones of this job, run in parallel on logical CPUs.' },
  { name: 'group_reporting', type: 'bool', def: '0', help: 'Report a stonewall group as one job.' },
  { name: 'runtime', aliases: ['timeout'], type: 'time', def: '0 (no limit)', help: 'Stop after this long (default unit: seconds).' },
  { name: 'time_based', type: 'bool', def: '0', help: 'Keep going for the full runtime, wrapping around the region.' },
  { name: 'ramp_time', type: 'time', def: '0', help: 'Run this long before statistics are recorded.' },
  { name: 'startdelay', type: 'time', def: '0', help: 'Wait this long before the job starts.' },
  { name: 'loops', type: 'int', def: '1', min: 1, help: 'Repeat the job this many times.' },
  { name: 'norandommap', type: 'bool', def: '0', help: 'Pick random offsets without tracking coverage (blocks may repeat before all are done).' },
  { name: 'randrepeat', type: 'bool', def: '1', help: 'Seed the generators the same way every run (repeatable).' },
  { name: 'randseed', type: 'int', def: '0x89 base seed', min: 0, help: 'Base seed for the generators (implies repeatable).' },
  { name: 'random_distribution', type: 'dist', def: 'random', help: 'random, zipf:θ (θ≠1), pareto:h (0<h<1), normal:σ (% of region); non-uniform disables the random map.' },
  { name: 'rate', type: 'perdir-size', def: '0', help: 'Bandwidth cap in bytes/s (suffixes), per direction with commas.' },
  { name: 'rate_iops', type: 'perdir-size', def: '0', help: 'IOPS cap, per direction with commas.' },
  { name: 'fsync', type: 'int', def: '0', min: 0, help: 'Flush the disk after every N writes.' },
  { name: 'end_fsync', type: 'bool', def: '0', help: 'Flush the disk when the job ends.' },
  { name: 'verify', type: 'verify', def: '0', help: 'Verify written data: crc32c (alias crc32c-intel), md5, sha256, pattern, 0/none.' },
  { name: 'verify_pattern', type: 'pattern', def: 'none', help: 'Fill pattern: 0x hex bytes, a decimal number, or a "quoted string".' },
  { name: 'verify_fatal', type: 'bool', def: '0', help: 'Stop at the first verify failure.' },
  { name: 'verify_backlog', type: 'int', def: '0', min: 0, help: 'Verify written blocks after every N writes instead of at the end.' },
  { name: 'do_verify', type: 'bool', def: '1', help: 'Run the verify phase after writing (when verify is set).' },
  { name: 'stonewall', aliases: ['wait_for_previous'], type: 'bool', def: '0', help: 'Wait for all jobs above to finish; starts a new reporting group.' },
  { name: 'percentile_list', type: 'percentiles', def: '1:5:10:20:30:40:50:60:70:80:90:95:99:99.5:99.9:99.95:99.99', help: 'Completion-latency percentiles reported.' },
  { name: 'kb_base', type: 'int', def: '1024', help: '1024 (default: k = 1024, and "KiB" means 1000 for old-script compatibility) or 1000.' },
  { name: 'ioengine', type: 'ignored', def: 'nvmelab', help: 'Accepted and ignored: jobs always use the block layer\'s async submit path.' },
  { name: 'direct', type: 'ignored', def: '1', help: 'Accepted and ignored: there is no page cache.' },
  { name: 'buffered', type: 'ignored', def: '0', help: 'Accepted and ignored: there is no page cache.' },
  { name: 'thread', type: 'ignored', def: '-', help: 'Accepted and ignored: jobs are logical CPUs in one process.' },
  { name: 'invalidate', type: 'ignored', def: '-', help: 'Accepted and ignored: there is no page cache.' },
];

const BY_NAME = new Map<string, OptionDef>();
for (const o of OPTIONS) {
  BY_NAME.set(o.name, o);
  for (const a of o.aliases ?? []) BY_NAME.set(a, o);
}

export function findOption(name: string): OptionDef | undefined {
  return BY_NAME.get(name.toLowerCase());
}

/** Options fio has that nvmelab knowingly does not support (a clearer error than "unknown"). */
export const UNSUPPORTED = new Set([
  'include', 'directory', 'nrfiles', 'filesize', 'opendir', 'zonemode', 'zonesize', 'cpus_allowed',
  'ioscheduler', 'exec_prerun', 'exec_postrun', 'write_bw_log', 'write_lat_log', 'write_iops_log',
  'unified_rw_reporting', 'continue_on_error', 'create_serialize', 'fallocate', 'lockfile', 'mem', 'iomem',
  'sync', 'fdatasync', 'rw_sequencer', 'zero_buffers', 'refill_buffers', 'scramble_buffers', 'buffer_pattern',
  'verify_interval', 'verify_offset', 'verify_async', 'verify_state_save', 'verify_only', 'trim_percentage',
  'flow', 'thinktime', 'rate_process', 'rate_min', 'wait_for', 'new_group', 'gtod_reduce', 'clocksource',
]);

/** Help text: the option table, one option per line. */
export function optionsHelp(): string {
  const w = Math.max(...OPTIONS.map((o) => o.name.length));
  const lines = OPTIONS.map((o) => {
    const al = o.aliases && o.aliases.length > 0 ? ` (alias: ${o.aliases.join(', ')})` : '';
    return `  ${o.name.padEnd(w)}  ${o.help}${al} [default: ${o.def}]`;
  });
  return `Job options (job file "key=value" lines or --key=value):\n${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------
// Value parsers. Each throws FioConfigError naming the option.

function bad(opt: string, value: string, why: string, src: OptionSource | undefined): FioConfigError {
  return new FioConfigError(`bad value "${value}" for option '${opt}': ${why}`, opt, src);
}

/**
 * fio's size multiplier rules with kb_base=1024 (the default): k/m/g/t/p and
 * kb/mb/… are powers of 1024, while the IEC spellings kib/mib/… are powers of
 * 1000 ("opposite units", kept for old scripts). With kb_base=1000 it is the
 * other way round. Case-insensitive. Returns undefined for an unknown suffix.
 */
export function sizeMultiplier(suffix: string, kbBase: 1000 | 1024): number | undefined {
  const s = suffix.toLowerCase();
  if (s === '' || s === 'b') return 1;
  const pows: Record<string, number> = { k: 1, m: 2, g: 3, t: 4, p: 5 };
  const p = pows[s[0] ?? ''];
  if (p === undefined) return undefined;
  let base: number;
  if (s.length === 1 || (s.length === 2 && s[1] === 'b')) base = kbBase;
  else if (s.length === 3 && s.slice(1) === 'ib') base = kbBase === 1024 ? 1000 : 1024;
  else return undefined;
  return base ** p;
}

/** Parses "4k", "1m", "0x1000", "512" → bytes. */
export function parseSize(opt: string, value: string, kbBase: 1000 | 1024, src?: OptionSource): number {
  const v = value.trim();
  if (/^0x[0-9a-f]+$/i.test(v)) return Number.parseInt(v.slice(2), 16);
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)$/i.exec(v);
  if (!m) throw bad(opt, value, 'expected a number with an optional k/m/g/t/p suffix', src);
  const mult = sizeMultiplier(m[2] ?? '', kbBase);
  if (mult === undefined) throw bad(opt, value, `unknown size suffix "${m[2] ?? ''}"`, src);
  const n = Math.round(Number(m[1]) * mult);
  if (!Number.isSafeInteger(n)) throw bad(opt, value, 'too large', src);
  return n;
}

export function parseSizeOrPercent(opt: string, value: string, kbBase: 1000 | 1024, src?: OptionSource): SizeOrPercent {
  const v = value.trim();
  const m = /^([0-9]+(?:\.[0-9]+)?)%$/.exec(v);
  if (m) {
    const p = Number(m[1]);
    if (p <= 0 || p > 100) throw bad(opt, value, 'percentage must be in (0, 100]', src);
    return { percent: p };
  }
  return { bytes: parseSize(opt, v, kbBase, src) };
}

/** fio integers: decimal or 0x hex; suffixes are allowed (fio parses ints like sizes). */
export function parseInt(opt: string, value: string, def: OptionDef | undefined, kbBase: 1000 | 1024, src?: OptionSource): number {
  const v = value.trim();
  let n: number;
  if (/^-?[0-9]+$/.test(v)) n = Number(v);
  else if (/^0x[0-9a-f]+$/i.test(v)) n = Number.parseInt(v.slice(2), 16);
  else if (/^[0-9]+[kmgtp]$/i.test(v)) n = parseSize(opt, v, kbBase, src);
  else throw bad(opt, value, 'expected an integer', src);
  if (!Number.isSafeInteger(n)) throw bad(opt, value, 'too large', src);
  if (def?.min !== undefined && n < def.min) throw bad(opt, value, `must be >= ${def.min}`, src);
  if (def?.max !== undefined && n > def.max) throw bad(opt, value, `must be <= ${def.max}`, src);
  return n;
}

export function parseBool(opt: string, value: string | undefined, src?: OptionSource): boolean {
  if (value === undefined) return true; // bare flag
  const v = value.trim().toLowerCase();
  if (v === '1' || v === 'true' || v === 'yes' || v === 'on') return true;
  if (v === '0' || v === 'false' || v === 'no' || v === 'off') return false;
  throw bad(opt, value, 'expected 0 or 1', src);
}

/** Time in milliseconds; a bare number is seconds (fio's default unit for runtime etc.). */
export function parseTime(opt: string, value: string, src?: OptionSource): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*(us|usec|ms|msec|s|sec|m|min|h|d)?$/i.exec(value.trim());
  if (!m) throw bad(opt, value, 'expected a time such as 10, 10s, 500ms, 2m', src);
  const n = Number(m[1]);
  const unit = (m[2] ?? 's').toLowerCase();
  const ms: Record<string, number> = { us: 1e-3, usec: 1e-3, ms: 1, msec: 1, s: 1000, sec: 1000, m: 60000, min: 60000, h: 3600000, d: 86400000 };
  return n * (ms[unit] ?? 1000);
}

/**
 * Splits a "read,write,trim" value per fio's rule: one value applies to all;
 * with commas, an empty field keeps the default, and a missing trailing field
 * copies the last given one (bs=8k,32k → trim 32k; bs=8k,32k, → trim default).
 */
export function splitPerDir(value: string): PerDir<string | undefined> {
  const parts = value.split(',');
  if (parts.length === 1) return [parts[0], parts[0], parts[0]];
  const out: PerDir<string | undefined> = [undefined, undefined, undefined];
  let last: string | undefined;
  for (let i = 0; i < 3; i++) {
    if (i < parts.length) {
      const p = (parts[i] ?? '').trim();
      out[i] = p === '' ? undefined : p;
      last = out[i];
    } else {
      out[i] = last;
    }
  }
  return out;
}

export function parseRw(value: string, src?: OptionSource): { rw: RwMode; suffix: number } {
  const [mode, suf] = value.trim().toLowerCase().split(':', 2);
  const map: Record<string, RwMode> = {
    read: 'read', write: 'write', randread: 'randread', randwrite: 'randwrite',
    rw: 'rw', readwrite: 'rw', randrw: 'randrw', trim: 'trim', randtrim: 'randtrim',
  };
  const rw = map[mode ?? ''];
  if (rw === undefined) {
    throw bad('rw', value, 'expected read, write, randread, randwrite, rw, readwrite, randrw, trim or randtrim', src);
  }
  let suffix = 0;
  if (suf !== undefined) suffix = parseSize('rw', suf, 1024, src);
  return { rw, suffix };
}

export function parseVerify(value: string, src?: OptionSource): VerifyKind {
  const v = value.trim().toLowerCase();
  if (v === '0' || v === 'none' || v === 'null') return 'none';
  if (v === 'crc32c' || v === 'crc32c-intel') return 'crc32c';
  if (v === 'md5' || v === 'sha256' || v === 'pattern') return v;
  throw bad('verify', value, 'supported: crc32c, crc32c-intel, md5, sha256, pattern, 0', src);
}

export function parseDist(value: string, src?: OptionSource): { kind: DistKind; param: number } {
  const [k, p] = value.trim().toLowerCase().split(':', 2);
  if (k === 'random') {
    if (p !== undefined) throw bad('random_distribution', value, '"random" takes no parameter', src);
    return { kind: 'random', param: 0 };
  }
  if (k !== 'zipf' && k !== 'pareto' && k !== 'normal') {
    throw bad('random_distribution', value, 'supported: random, zipf:θ, pareto:h, normal:σ', src);
  }
  if (p === undefined || p === '') throw bad('random_distribution', value, `${k} needs a parameter (${k}:N)`, src);
  const n = Number(p);
  if (!Number.isFinite(n)) throw bad('random_distribution', value, 'parameter is not a number', src);
  if (k === 'zipf' && (n <= 0 || n === 1)) throw bad('random_distribution', value, 'zipf θ must be > 0 and != 1', src);
  if (k === 'pareto' && (n <= 0 || n >= 1)) throw bad('random_distribution', value, 'pareto h must be in (0, 1)', src);
  if (k === 'normal' && (n <= 0 || n > 100)) throw bad('random_distribution', value, 'normal σ is a percentage in (0, 100]', src);
  return { kind: k, param: n };
}

/** verify_pattern: 0xHEX (any even length), a decimal number (as a little-endian u32), or a quoted string. */
export function parsePattern(value: string, src?: OptionSource): Uint8Array {
  const v = value.trim();
  if (/^0x[0-9a-f]+$/i.test(v)) {
    let hex = v.slice(2);
    if (hex.length % 2 === 1) hex = `0${hex}`;
    return Uint8Array.from(Buffer.from(hex, 'hex'));
  }
  const q = /^(["'])(.*)\1$/.exec(v);
  if (q && (q[2] ?? '').length > 0) return Uint8Array.from(Buffer.from(q[2] ?? '', 'latin1'));
  if (/^[0-9]+$/.test(v)) {
    const n = Number(v);
    if (n > 0xffffffff) throw bad('verify_pattern', value, 'decimal pattern must fit in 32 bits', src);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n, true);
    return b;
  }
  throw bad('verify_pattern', value, 'expected 0xHEX, a number, or a "quoted string"', src);
}

export function parsePercentiles(value: string, src?: OptionSource): number[] {
  const out = value.split(':').map((s) => Number(s.trim()));
  for (const p of out) {
    if (!Number.isFinite(p) || p <= 0 || p > 100) throw bad('percentile_list', value, 'each percentile must be in (0, 100]', src);
  }
  if (out.length > 20) throw bad('percentile_list', value, 'at most 20 percentiles', src);
  return out.sort((a, b) => a - b);
}

export function parseBsSplit(value: string, kbBase: 1000 | 1024, src?: OptionSource): PerDir<BsSplitEntry[] | undefined> {
  const dirs = splitPerDir(value);
  const parseOne = (s: string): BsSplitEntry[] => {
    const items = s.split(':').filter((x) => x.trim() !== '');
    if (items.length === 0) throw bad('bssplit', value, 'empty list', src);
    const raw: { bs: number; perc: number | undefined }[] = [];
    for (const it of items) {
      const [b, p] = it.split('/', 2);
      const bs = parseSize('bssplit', b ?? '', kbBase, src);
      if (bs <= 0) throw bad('bssplit', value, 'block size must be > 0', src);
      let perc: number | undefined;
      if (p !== undefined && p.trim() !== '') {
        perc = Number(p);
        if (!Number.isFinite(perc) || perc < 0 || perc > 100) throw bad('bssplit', value, `bad percentage "${p}"`, src);
      }
      raw.push({ bs, perc });
    }
    const given = raw.reduce((a, r) => a + (r.perc ?? 0), 0);
    if (given > 100 + 1e-9) throw bad('bssplit', value, `percentages add up to ${given} (> 100)`, src);
    const blanks = raw.filter((r) => r.perc === undefined).length;
    if (blanks === 0 && Math.abs(given - 100) > 1e-9) throw bad('bssplit', value, `percentages add up to ${given}, not 100`, src);
    const share = blanks > 0 ? (100 - given) / blanks : 0;
    return raw.map((r) => ({ bs: r.bs, perc: r.perc ?? share }));
  };
  return [dirs[0] === undefined ? undefined : parseOne(dirs[0]),
    dirs[1] === undefined ? undefined : parseOne(dirs[1]),
    dirs[2] === undefined ? undefined : parseOne(dirs[2])];
}

export function parseRange(opt: string, value: string, kbBase: 1000 | 1024, src?: OptionSource): PerDir<[number, number] | undefined> {
  const dirs = splitPerDir(value);
  const one = (s: string): [number, number] => {
    const [a, b] = s.split('-', 2);
    if (a === undefined || b === undefined) throw bad(opt, value, 'expected lo-hi', src);
    const lo = parseSize(opt, a, kbBase, src);
    const hi = parseSize(opt, b, kbBase, src);
    if (lo <= 0 || hi < lo) throw bad(opt, value, 'need 0 < lo <= hi', src);
    return [lo, hi];
  };
  return [dirs[0] === undefined ? undefined : one(dirs[0]), dirs[1] === undefined ? undefined : one(dirs[1]), dirs[2] === undefined ? undefined : one(dirs[2])];
}

export const DEFAULT_PERCENTILES: readonly number[] = [1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99];
