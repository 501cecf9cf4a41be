// rnull configuration: every null_blk knob, with null_blk's name, default and
// meaning, in one table (drivers/block/null_blk/main.c module parameters and
// configfs attributes; Documentation/block/null_blk.rst). The table is data so
// the README and the host CLI can print it (`formatParamTable()`).
//
// Validation follows null_blk's null_validate_conf() / null_init_zoned_dev()
// rules, plus upstream rnull's stricter block-size check. Where null_blk
// silently adjusts a value (clamps, forces), `validateConfig()` does the same
// and reports the adjustment in `notes` instead of failing.

import { parseFaultSpec, FaultParseError, type FaultSpec } from './fault.ts';

/** Errors carry the errno a configfs write would return. */
export type NullBlkErrno = 'EINVAL' | 'EBUSY' | 'EEXIST' | 'ENOENT' | 'ENOMEM' | 'EFAULT' | 'ENODEV';

export class NullBlkConfigError extends Error {
  readonly code: NullBlkErrno;
  constructor(code: NullBlkErrno, message: string) {
    super(`${code}: ${message}`);
    this.name = 'NullBlkConfigError';
    this.code = code;
  }
}

/** queue_mode values (null_blk's historic enum). */
export const NULL_Q_BIO = 0;
export const NULL_Q_RQ = 1;
export const NULL_Q_MQ = 2;

/** irqmode values. */
export const NULL_IRQ_NONE = 0;
export const NULL_IRQ_SOFTIRQ = 1;
export const NULL_IRQ_TIMER = 2;

/** NUMA_NO_NODE. */
export const NUMA_NO_NODE = -1;
/** PAGE_SIZE of the emulated host; the largest logical block size. */
export const PAGE_SIZE = 4096;
/** null_blk caps mbps at 40 GiB/s (`min(1024 * 40, mbps)`). */
export const MBPS_MAX = 1024 * 40;
/** BLK_MQ_MAX_DEPTH: the block layer clamps deeper tag sets. */
export const BLK_MQ_MAX_DEPTH = 10240;
const INT_MAX = 0x7fff_ffff;

/** The per-device configuration, keyed by null_blk's configfs names. */
export interface NullBlkConfig {
  /** Device size in MiB (configfs `size`; module `gb` × 1024). */
  size: number;
  blocksize: number;
  queue_mode: number;
  irqmode: number;
  completion_nsec: number;
  submit_queues: number;
  poll_queues: number;
  home_node: number;
  use_per_node_hctx: boolean;
  hw_queue_depth: number;
  memory_backed: boolean;
  discard: boolean;
  cache_size: number;
  fua: boolean;
  mbps: number;
  blocking: boolean;
  shared_tags: boolean;
  shared_tag_bitmap: boolean;
  no_sched: boolean;
  max_sectors: number;
  virt_boundary: boolean;
  rotational: boolean;
  zoned: boolean;
  zone_size: number;
  zone_capacity: number;
  zone_nr_conv: number;
  zone_max_open: number;
  zone_max_active: number;
  zone_append_max_sectors: number;
  zone_full: boolean;
  badblocks_once: boolean;
  badblocks_partial_io: boolean;
  /** Fault injection strings, `interval,probability,space,times` ('' = off). */
  timeout: string;
  requeue: string;
  init_hctx: string;
  /** Seed for the fault-injection PRNGs (not in null_blk: runs repeat). */
  seed: number;
}

export type ParamType = 'int' | 'uint' | 'ulong' | 'bool' | 'string';

/** One row of the knob table. */
export interface ParamInfo {
  /** null_blk configfs attribute name (the key in NullBlkConfig). */
  readonly name: keyof NullBlkConfig;
  /** Module-parameter name when it differs (`gb`, `bs`). */
  readonly moduleName?: string;
  readonly type: ParamType;
  /** Default value, in the configfs attribute's unit. */
  readonly default: number | boolean | string;
  /** Unit shown in the table. */
  readonly unit?: string;
  /** One-line meaning. */
  readonly doc: string;
  /** Can be written while the device is powered (else EBUSY). */
  readonly live?: boolean;
  /** A configfs attribute (false: module parameter only). */
  readonly configfs: boolean;
}

/** Every knob, in null_blk's configfs attribute order where it has one. */
export const NULLB_PARAMS: readonly ParamInfo[] = Object.freeze([
  { name: 'size', moduleName: 'gb', type: 'ulong', default: 250 * 1024, unit: 'MiB', configfs: true, doc: 'Device size (module param gb is in GiB, default 250; configfs size in MiB)' },
  { name: 'blocksize', moduleName: 'bs', type: 'uint', default: 512, unit: 'B', configfs: true, doc: 'Logical = physical block size: 512..4096, power of two' },
  { name: 'queue_mode', type: 'uint', default: NULL_Q_MQ, configfs: true, doc: 'Block interface: 0=bio (accepted, served by blk-mq like current null_blk), 1=rq (rejected: legacy path gone), 2=multiqueue' },
  { name: 'irqmode', type: 'uint', default: NULL_IRQ_SOFTIRQ, configfs: true, doc: 'Completion: 0=none (end inside queue_rq), 1=softirq (complete() later), 2=timer (after completion_nsec)' },
  { name: 'completion_nsec', type: 'ulong', default: 10000, unit: 'ns', configfs: true, doc: 'Timer-mode (irqmode=2) completion delay' },
  { name: 'submit_queues', type: 'uint', default: 1, configfs: true, live: true, doc: 'Hardware submission queues; clamped to nr_cpu_ids, 0 -> 1; live-resizable when powered' },
  { name: 'poll_queues', type: 'uint', default: 1, configfs: true, live: true, doc: 'Polled (HCTX_TYPE_POLL) queues, at most the module value; live-resizable when powered' },
  { name: 'home_node', type: 'int', default: NUMA_NO_NODE, configfs: true, doc: 'NUMA home node (accepted; one node here, so -1 or 0)' },
  { name: 'use_per_node_hctx', type: 'bool', default: false, configfs: true, doc: 'One hw queue per NUMA node (submit_queues := nr_online_nodes = 1)' },
  { name: 'hw_queue_depth', type: 'uint', default: 64, configfs: true, doc: 'Tags per hardware queue (1..10240)' },
  { name: 'memory_backed', type: 'bool', default: false, configfs: true, doc: 'Store data in sparse 4 KiB pages (forces blocking); else reads give zeros, writes are dropped' },
  { name: 'discard', type: 'bool', default: false, configfs: true, doc: 'Support discard/write-zeroes, freeing pages (requires memory_backed; ignored when zoned)' },
  { name: 'cache_size', type: 'ulong', default: 0, unit: 'MiB', configfs: true, doc: 'Write-back cache in front of the store (0 = none; forced to 0 without memory_backed)' },
  { name: 'fua', type: 'bool', default: true, configfs: true, doc: 'Advertise FUA when a cache is used (FUA writes go straight to the store)' },
  { name: 'mbps', type: 'uint', default: 0, unit: 'MiB/s', configfs: true, doc: 'Bandwidth limit (0 = none, capped at 40960); 50 ticks/s budget, stops hw queues when spent' },
  { name: 'blocking', type: 'bool', default: false, configfs: true, doc: 'Register as a blocking driver (BLK_MQ_F_BLOCKING)' },
  { name: 'shared_tags', type: 'bool', default: false, configfs: true, doc: 'Share one global tag set between all devices' },
  { name: 'shared_tag_bitmap', type: 'bool', default: false, configfs: true, doc: 'One tag bitmap for all hw queues (BLK_MQ_F_TAG_HCTX_SHARED)' },
  { name: 'no_sched', type: 'bool', default: false, configfs: true, doc: 'Default to the "none" I/O scheduler (BLK_MQ_F_NO_SCHED_BY_DEFAULT)' },
  { name: 'max_sectors', type: 'uint', default: 0, unit: 'sectors', configfs: true, doc: 'Maximum request size in 512 B sectors (0 = block-layer default)' },
  { name: 'virt_boundary', type: 'bool', default: false, configfs: true, doc: 'Require a virtual boundary (virt_boundary_mask = PAGE_SIZE-1)' },
  { name: 'rotational', type: 'bool', default: false, configfs: true, doc: 'Set the rotational feature' },
  { name: 'zoned', type: 'bool', default: false, configfs: true, doc: 'Host-managed zoned block device' },
  { name: 'zone_size', type: 'ulong', default: 256, unit: 'MiB', configfs: true, doc: 'Zone size, power of two, <= device size' },
  { name: 'zone_capacity', type: 'ulong', default: 0, unit: 'MiB', configfs: true, doc: 'Zone capacity (0 = zone_size), <= zone_size' },
  { name: 'zone_nr_conv', type: 'uint', default: 0, configfs: true, doc: 'Conventional zones at the start (clamped to nr_zones-1)' },
  { name: 'zone_max_open', type: 'uint', default: 0, configfs: true, doc: 'Open-zone limit (0 = none) -> BLK_STS_ZONE_OPEN_RESOURCE' },
  { name: 'zone_max_active', type: 'uint', default: 0, configfs: true, doc: 'Active-zone limit (0 = none) -> BLK_STS_ZONE_ACTIVE_RESOURCE' },
  { name: 'zone_append_max_sectors', type: 'int', default: INT_MAX, unit: 'sectors', configfs: true, doc: 'Largest zone append (0 = emulated by the block layer)' },
  { name: 'zone_full', type: 'bool', default: false, configfs: true, doc: 'Start sequential zones FULL' },
  { name: 'badblocks_once', type: 'bool', default: false, configfs: true, live: true, doc: 'Clear a bad range after its first hit' },
  { name: 'badblocks_partial_io', type: 'bool', default: false, configfs: true, live: true, doc: 'Transfer the sectors before the first bad one (block-aligned)' },
  { name: 'timeout', type: 'string', default: '', configfs: false, doc: 'Fault injection: never complete the request; the timeout handler ends it with BLK_STS_TIMEOUT' },
  { name: 'requeue', type: 'string', default: '', configfs: false, doc: 'Fault injection: requeue, alternating BLK_STS_RESOURCE and driver requeue' },
  { name: 'init_hctx', type: 'string', default: '', configfs: false, doc: 'Fault injection: fail init_hctx (disk creation fails with EFAULT)' },
  { name: 'seed', type: 'uint', default: 1, configfs: true, doc: 'Seed for the fault-injection PRNGs so runs repeat (rnull extension)' },
] satisfies ParamInfo[]);

const PARAM_BY_NAME: ReadonlyMap<string, ParamInfo> = new Map(NULLB_PARAMS.map((p) => [p.name, p]));

/** Aliases accepted for module-style options: null_blk module names. */
const ALIASES: Readonly<Record<string, keyof NullBlkConfig>> = { bs: 'blocksize' };

/** Look up a knob by configfs or module name. */
export function paramInfo(name: string): ParamInfo | undefined {
  const alias = ALIASES[name];
  return PARAM_BY_NAME.get(alias ?? name);
}

/** A fresh configuration with null_blk's defaults. */
export function defaultConfig(): NullBlkConfig {
  const c: Record<string, number | boolean | string> = {};
  for (const p of NULLB_PARAMS) c[p.name] = p.default;
  return c as unknown as NullBlkConfig;
}

/** Whether the knob may change while the device is powered. */
export function isLiveParam(name: string): boolean {
  return paramInfo(name)?.live === true;
}

// ---------------------------------------------------------------------------
// Parsing (configfs stores: kstrtouint/kstrtoul base 0, kstrtobool)

/** kstrtobool: 1/y/Y/t/T/on → true, 0/n/N/f/F/off → false. */
export function parseBool(raw: string, name = 'value'): boolean {
  const s = raw.trim().toLowerCase();
  if (s === '1' || s === 'y' || s === 'yes' || s === 't' || s === 'true' || s === 'on') return true;
  if (s === '0' || s === 'n' || s === 'no' || s === 'f' || s === 'false' || s === 'off') return false;
  throw new NullBlkConfigError('EINVAL', `${name}: "${raw}" is not a boolean (1/0, y/n, on/off)`);
}

/** kstrto*(..., 0): decimal, 0x hex, leading-0 octal; `signed` allows a minus. */
export function parseInteger(raw: string, name = 'value', signed = false): number {
  const s = raw.trim();
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m || m[2] === undefined) throw new NullBlkConfigError('EINVAL', `${name}: "${raw}" is not an integer`);
  const body = m[2];
  let v: number;
  if (/^0[xX]/.test(body)) v = parseInt(body.slice(2), 16);
  else if (body.length > 1 && body.startsWith('0')) v = parseInt(body.slice(1), 8);
  else v = parseInt(body, 10);
  if (m[1] === '-') {
    if (!signed) throw new NullBlkConfigError('EINVAL', `${name}: "${raw}" must not be negative`);
    v = -v;
  }
  if (!Number.isSafeInteger(v)) throw new NullBlkConfigError('EINVAL', `${name}: "${raw}" is out of range`);
  return v;
}

/** Parse one attribute value (string or already-typed) for `name`. */
export function parseParamValue(name: string, value: string | number | boolean): number | boolean | string {
  const p = paramInfo(name);
  if (!p) throw new NullBlkConfigError('EINVAL', `unknown null_blk attribute "${name}"`);
  switch (p.type) {
    case 'bool':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'number') {
        if (value === 0 || value === 1) return value === 1;
        throw new NullBlkConfigError('EINVAL', `${name}: ${value} is not a boolean`);
      }
      return parseBool(value, name);
    case 'string':
      if (typeof value !== 'string') throw new NullBlkConfigError('EINVAL', `${name}: expected a string`);
      if (name === 'timeout' || name === 'requeue' || name === 'init_hctx') checkFault(name, value);
      return value.trim();
    case 'int':
    case 'uint':
    case 'ulong': {
      const signed = p.type === 'int';
      let v: number;
      if (typeof value === 'number') {
        if (!Number.isSafeInteger(value)) throw new NullBlkConfigError('EINVAL', `${name}: ${value} is not an integer`);
        v = value;
      } else if (typeof value === 'boolean') {
        throw new NullBlkConfigError('EINVAL', `${name}: expected an integer`);
      } else v = parseInteger(value, name, signed);
      if (!signed && v < 0) throw new NullBlkConfigError('EINVAL', `${name}: ${v} must not be negative`);
      if ((p.type === 'uint' && v > 0xffff_ffff) || (signed && (v > INT_MAX || v < -INT_MAX - 1)))
        throw new NullBlkConfigError('EINVAL', `${name}: ${v} is out of range for ${p.type}`);
      return v;
    }
  }
}

function checkFault(name: string, value: string): FaultSpec | undefined {
  try {
    return parseFaultSpec(value);
  } catch (e) {
    if (e instanceof FaultParseError) throw new NullBlkConfigError('EINVAL', `${name}: ${e.message}`);
    throw e;
  }
}

/**
 * Build a configuration from module-style options (`{ gb: 4, bs: 4096, ... }`
 * or configfs names, values as strings or typed). `gb` is converted to `size`
 * MiB. Unknown names are rejected. Values are parsed, not yet validated.
 */
export function configFromOptions(options: Readonly<Record<string, string | number | boolean | undefined>> = {}, base: NullBlkConfig = defaultConfig()): NullBlkConfig {
  const c = { ...base };
  const rec = c as unknown as Record<string, number | boolean | string>;
  for (const [k, v] of Object.entries(options)) {
    if (v === undefined) continue;
    if (k === 'gb') {
      const gb = parseParamValue('size', v);
      rec.size = (gb as number) * 1024;
      continue;
    }
    const p = paramInfo(k);
    if (!p) throw new NullBlkConfigError('EINVAL', `unknown null_blk parameter "${k}"`);
    rec[p.name] = parseParamValue(p.name, v);
  }
  return c;
}

// ---------------------------------------------------------------------------
// Validation (null_validate_conf + null_init_zoned_dev + rnull block size)

function isPow2(n: number): boolean {
  return n > 0 && Number.isInteger(Math.log2(n));
}

/** Limits of the host the device is created on. */
export interface HostLimits {
  /** nr_cpu_ids: logical submission CPUs of the block layer. */
  nrCpuIds: number;
  /** The module-level poll_queues value: the most a device may ask for. */
  maxPollQueues: number;
  /** nr_online_nodes (1). */
  nrOnlineNodes?: number;
}

export interface ValidatedConfig {
  /** The configuration with null_blk's adjustments applied. */
  config: NullBlkConfig;
  /** One line per silent adjustment null_blk makes (pr_info / pr_warn text). */
  notes: string[];
  /** Parsed fault-injection specs (undefined = not configured). */
  faults: { timeout?: FaultSpec; requeue?: FaultSpec; init_hctx?: FaultSpec };
}

/**
 * Check a configuration before a device is built, with null_blk's rules and
 * messages. Throws NullBlkConfigError (EINVAL) on the first hard error.
 */
export function validateConfig(input: NullBlkConfig, host: HostLimits): ValidatedConfig {
  const c = { ...input };
  const notes: string[] = [];
  const bad = (msg: string): never => {
    throw new NullBlkConfigError('EINVAL', msg);
  };

  // queue_mode: 1 is gone; 0 (bio) is accepted and served by blk-mq with a note,
  // as current null_blk does (its bio-based path was removed in 2024).
  if (c.queue_mode === NULL_Q_RQ) bad('queue_mode=1: legacy IO path is no longer available');
  if (c.queue_mode !== NULL_Q_BIO && c.queue_mode !== NULL_Q_MQ) bad(`queue_mode=${c.queue_mode}: must be 0 (bio) or 2 (multiqueue)`);
  if (c.irqmode < NULL_IRQ_NONE || c.irqmode > NULL_IRQ_TIMER) bad(`irqmode=${c.irqmode}: must be 0 (none), 1 (softirq) or 2 (timer)`);

  // Block size (rnull GenDiskBuilder::validate_block_size): 512..=PAGE_SIZE, power of two.
  if (!isPow2(c.blocksize) || c.blocksize < 512 || c.blocksize > PAGE_SIZE)
    bad(`blocksize=${c.blocksize}: invalid block size, must be a power of two between 512 and ${PAGE_SIZE}`);
  if (c.size <= 0) bad(`size=${c.size}: device size must be at least 1 MiB`);

  const nodes = host.nrOnlineNodes ?? 1;
  if (c.home_node !== NUMA_NO_NODE && (c.home_node < 0 || c.home_node >= nodes)) {
    notes.push('invalid home_node value');
    c.home_node = NUMA_NO_NODE;
  }

  // submit_queues: per-node, else clamp to nr_cpu_ids, 0 → 1.
  if (c.use_per_node_hctx) {
    if (c.submit_queues !== nodes) notes.push(`submit_queues param is set to ${nodes}.`);
    c.submit_queues = nodes;
  } else if (c.submit_queues > host.nrCpuIds) {
    notes.push(`submit_queues clamped to nr_cpu_ids (${host.nrCpuIds})`);
    c.submit_queues = host.nrCpuIds;
  } else if (c.submit_queues === 0) c.submit_queues = 1;
  if (c.poll_queues > host.maxPollQueues) {
    notes.push(`poll_queues clamped to ${host.maxPollQueues}`);
    c.poll_queues = host.maxPollQueues;
  }

  // blk_mq_alloc_tag_set: depth 0 → EINVAL, > BLK_MQ_MAX_DEPTH → reduced.
  if (c.hw_queue_depth === 0) bad('hw_queue_depth=0: queue depth must be at least 1');
  if (c.hw_queue_depth > BLK_MQ_MAX_DEPTH) {
    notes.push(`blk-mq: reduced tag depth to ${BLK_MQ_MAX_DEPTH}`);
    c.hw_queue_depth = BLK_MQ_MAX_DEPTH;
  }

  // Memory allocation may sleep, so memory-backed devices block; a cache is
  // meaningless without memory backing.
  if (c.memory_backed) c.blocking = true;
  else if (c.cache_size !== 0) {
    notes.push('cache_size ignored without memory_backed');
    c.cache_size = 0;
  }
  if (c.mbps > MBPS_MAX) {
    notes.push(`mbps clamped to ${MBPS_MAX}`);
    c.mbps = MBPS_MAX;
  }

  // Discard needs somewhere to free pages from (rnull: EINVAL; null_blk: ignored).
  if (c.discard && !c.memory_backed) bad('discard requires memory_backed=1 (discard option is meaningless without memory backing)');
  if (c.discard && c.zoned) {
    notes.push('discard option is ignored in zoned mode');
    c.discard = false;
  }

  if (c.max_sectors !== 0 && c.max_sectors < c.blocksize >> 9) bad(`max_sectors=${c.max_sectors}: smaller than one ${c.blocksize}-byte block`);

  if (c.zoned) {
    if (!c.zone_size || !isPow2(c.zone_size)) bad(`zone_size=${c.zone_size}: zone_size must be power-of-two`);
    if (c.zone_size > c.size) bad(`zone_size=${c.zone_size}: Zone size larger than device capacity (${c.size} MB)`);
    if (!c.zone_capacity) c.zone_capacity = c.zone_size;
    if (c.zone_capacity > c.zone_size) bad(`zone capacity (${c.zone_capacity} MB) larger than zone size (${c.zone_size} MB)`);
  }

  const faults: ValidatedConfig['faults'] = {};
  const t = checkFault('timeout', c.timeout);
  if (t) faults.timeout = t;
  const r = checkFault('requeue', c.requeue);
  if (r) faults.requeue = r;
  const h = checkFault('init_hctx', c.init_hctx);
  if (h) faults.init_hctx = h;

  return { config: c, notes, faults };
}

/** Render one value the way configfs shows it (bools as 0/1). */
export function formatParamValue(v: number | boolean | string): string {
  if (typeof v === 'boolean') return v ? '1' : '0';
  return String(v);
}

/** The knob table as aligned text (for README / `nvmelab null params`). */
export function formatParamTable(): string {
  const rows = NULLB_PARAMS.map((p) => [
    p.moduleName ? `${p.name} (${p.moduleName})` : p.name,
    p.type,
    formatParamValue(p.default) + (p.unit ? ` ${p.unit}` : ''),
    (p.live ? '[live] ' : '') + (p.configfs ? '' : '[param] ') + p.doc,
  ]);
  const head = ['name', 'type', 'default', 'meaning'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(w[i] ?? 0))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}
