// Devices created and destroyed at runtime, like null_blk's configfs
// (/sys/kernel/config/nullb/<name>/…): create a named device, set attributes,
// `power=1` builds the disk, `power=0` (or remove) tears it down. Attributes
// that cannot change while powered answer EBUSY; submit_queues/poll_queues
// apply live; `features` lists the supported attributes.
// Also module-parameter style creation: createNullDevices({ nr_devices, ... }).

import type { Logger } from '../../../src/util/log.ts';
import { silentLogger } from '../../../src/util/log.ts';
import type { QueueLimits } from '../../block/types.ts';
import { TagSet, GenDisk } from '../../block/index.ts';
import {
  NULLB_PARAMS, NullBlkConfigError, configFromOptions, defaultConfig, formatParamValue, paramInfo, parseParamValue, parseInteger,
  validateConfig, NULL_Q_BIO, type NullBlkConfig, type HostLimits, type ValidatedConfig,
} from './config.ts';
import { FaultAttr, FAULT_ATTR_DEFAULTS, parseFaultSpec, formatFaultSpec } from './fault.ts';
import { BadBlocks } from './badblocks.ts';
import { NullbDevice, NullOps, makeFaultAttrs, QUEUE_MODE_BIO_NOTE, type NullbDriverStats, type NullbCmd, type NullbQueue } from './driver.ts';
import { BLK_ZONE_COND, ZONE_COND_NAME, ZoneConfigError } from './zoned.ts';
import { nodeTimers, type TimerSource } from './throttle.ts';

/** null_blk's tag set timeout: 5 * HZ. */
export const NULLB_TIMEOUT_MS = 5000;

/** Attributes that are not plain knobs (configfs extras). */
const EXTRA_ATTRS = ['badblocks', 'index', 'power', 'zone_offline', 'zone_readonly'] as const;
const FAULT_GROUPS = { timeout_inject: 'timeout', requeue_inject: 'requeue', init_hctx_fault_inject: 'initHctx' } as const;
const FAULT_FIELDS = ['interval', 'probability', 'space', 'times', 'verbose'] as const;

export interface RegistryOptions {
  /**
   * Module parameters (null_blk names, `gb`/`bs` accepted): defaults for every
   * device, the shared tag set's shape, and the poll_queues ceiling.
   */
  moduleParams?: Readonly<Record<string, string | number | boolean | undefined>>;
  /** Logical CPUs of the block layer (nr_cpu_ids). Default 4. */
  nrCpus?: number;
  /** Request timeout of the tag sets (null_blk: 5 s). */
  timeoutMs?: number;
  logger?: Logger;
  /** Timer source for the throttle and timer-mode completions (tests). */
  timers?: TimerSource;
}

/** What `info()` reports about one device. */
export interface NullBlkDeviceInfo {
  name: string;
  diskName: string | undefined;
  powered: boolean;
  index: number | undefined;
  config: Readonly<NullBlkConfig>;
  notes: readonly string[];
  driver: Readonly<NullbDriverStats> | undefined;
}

/** One configfs directory (struct nullb_device, before/after power). */
class DeviceEntry {
  config: NullBlkConfig;
  readonly badblocks = new BadBlocks();
  /** configfs fault groups (persist across power cycles, like null_blk). */
  faults: { timeout: FaultAttr; requeue: FaultAttr; initHctx: FaultAttr };
  powered = false;
  index: number | undefined = undefined;
  dev: NullbDevice | undefined = undefined;
  disk: GenDisk<NullbCmd, NullbQueue> | undefined = undefined;
  tagSet: TagSet<NullbCmd, NullbQueue> | undefined = undefined;
  notes: string[] = [];
  constructor(readonly name: string, config: NullBlkConfig, readonly fromModule: boolean) {
    this.config = config;
    const v: ValidatedConfig = { config, notes: [], faults: {} };
    for (const k of ['timeout', 'requeue', 'init_hctx'] as const) {
      const s = parseFaultSpec(config[k]);
      if (s) v.faults[k] = s;
    }
    this.faults = makeFaultAttrs(v);
  }
}

const NAME_RE = /^[A-Za-z0-9_.-]{1,32}$/;

export class NullBlkRegistry {
  private readonly entries = new Map<string, DeviceEntry>();
  private readonly byDisk = new Map<string, NullbDevice>();
  private readonly usedIndexes = new Set<number>();
  private readonly moduleConfig: NullBlkConfig;
  private readonly host: HostLimits;
  private readonly timeoutMs: number;
  private readonly logger: Logger;
  private readonly timers: TimerSource;
  private sharedTagSet: TagSet<NullbCmd, NullbQueue> | undefined = undefined;
  private sharedUsers = 0;

  constructor(opts: RegistryOptions = {}) {
    this.moduleConfig = configFromOptions(opts.moduleParams ?? {}, defaultConfig());
    const nrCpus = opts.nrCpus ?? 4;
    if (!Number.isInteger(nrCpus) || nrCpus < 1) throw new NullBlkConfigError('EINVAL', `nrCpus ${nrCpus} must be a positive integer`);
    // null_init: bs > PAGE_SIZE and submit_queues are fixed up at module load.
    this.host = { nrCpuIds: nrCpus, maxPollQueues: this.moduleConfig.poll_queues };
    this.timeoutMs = opts.timeoutMs ?? NULLB_TIMEOUT_MS;
    this.logger = opts.logger ?? silentLogger;
    this.timers = opts.timers ?? nodeTimers;
  }

  /** The configfs `features` file: every attribute, comma separated. */
  features(): string {
    const names = new Set<string>([...NULLB_PARAMS.filter((p) => p.configfs).map((p) => p.name), ...EXTRA_ATTRS]);
    return [...names].sort().join(',');
  }

  /** Names of all configured devices (configfs dirs and module devices). */
  list(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  private entry(name: string): DeviceEntry {
    const e = this.entries.get(name);
    if (!e) throw new NullBlkConfigError('ENOENT', `no null_blk device "${name}"`);
    return e;
  }

  /** mkdir /sys/kernel/config/nullb/<name>: a device with the module defaults, not powered. */
  create(name: string): void {
    if (!NAME_RE.test(name)) throw new NullBlkConfigError('EINVAL', `device name "${name}" must be 1..32 of [A-Za-z0-9_.-]`);
    if (this.entries.has(name) || this.byDisk.has(name)) throw new NullBlkConfigError('EEXIST', `null_blk device "${name}" already exists`);
    this.entries.set(name, new DeviceEntry(name, { ...this.moduleConfig }, false));
  }

  /** Read an attribute as configfs shows it (no trailing newline). */
  getAttr(name: string, key: string): string {
    const e = this.entry(name);
    switch (key) {
      case 'power':
        return e.powered ? '1' : '0';
      case 'index':
        return String(e.index ?? 0);
      case 'badblocks':
        return e.badblocks.show().trimEnd();
      case 'features':
        return this.features();
    }
    const fg = this.faultField(key);
    if (fg) {
      const a = e.faults[fg.group];
      return fg.field === 'verbose' ? '0' : String(a[fg.field]);
    }
    const p = paramInfo(key);
    if (!p) throw new NullBlkConfigError('EINVAL', `unknown null_blk attribute "${key}"`);
    if (p.name === 'timeout' || p.name === 'requeue' || p.name === 'init_hctx') {
      const a = e.faults[p.name === 'init_hctx' ? 'initHctx' : p.name];
      return formatFaultSpec(a.spec());
    }
    return formatParamValue(e.config[p.name]);
  }

  private faultField(key: string): { group: 'timeout' | 'requeue' | 'initHctx'; field: (typeof FAULT_FIELDS)[number] } | undefined {
    const slash = key.indexOf('/');
    if (slash < 0) return undefined;
    const g = key.slice(0, slash) as keyof typeof FAULT_GROUPS;
    const f = key.slice(slash + 1) as (typeof FAULT_FIELDS)[number];
    if (!(g in FAULT_GROUPS) || !FAULT_FIELDS.includes(f)) throw new NullBlkConfigError('EINVAL', `unknown fault attribute "${key}"`);
    return { group: FAULT_GROUPS[g], field: f };
  }

  /**
   * Write an attribute. Knobs that are not live → EBUSY while powered;
   * submit_queues / poll_queues resize a powered device's tag set; badblocks,
   * badblocks_once/partial_io and the fault groups work at any time.
   */
  async setAttr(name: string, key: string, value: string | number | boolean): Promise<void> {
    const e = this.entry(name);
    const str = typeof value === 'string' ? value : typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
    switch (key) {
      case 'power':
        throw new NullBlkConfigError('EINVAL', 'use power(name, 0|1) to power a device on or off');
      case 'index':
      case 'features':
        throw new NullBlkConfigError('EINVAL', `${key} is read-only here`);
      case 'badblocks':
        e.badblocks.store(str);
        return;
      case 'zone_readonly':
      case 'zone_offline':
        this.zoneCond(e, key, str);
        return;
    }
    const fg = this.faultField(key);
    if (fg) {
      if (fg.field === 'verbose') return;
      const v = parseInteger(str, key, fg.field === 'space' || fg.field === 'times');
      const a = e.faults[fg.group];
      a.set({ ...a.spec(), [fg.field]: v });
      return;
    }
    const p = paramInfo(key);
    if (!p) throw new NullBlkConfigError('EINVAL', `unknown null_blk attribute "${key}"`);
    const parsed = parseParamValue(p.name, value);
    if (p.name === 'timeout' || p.name === 'requeue' || p.name === 'init_hctx') {
      const spec = parseFaultSpec(String(parsed)) ?? FAULT_ATTR_DEFAULTS;
      e.faults[p.name === 'init_hctx' ? 'initHctx' : p.name].set(spec);
      (e.config as unknown as Record<string, unknown>)[p.name] = parsed;
      return;
    }
    if (e.powered) {
      if (p.name === 'submit_queues' || p.name === 'poll_queues') {
        await this.applyQueues(e, p.name === 'submit_queues' ? (parsed as number) : e.config.submit_queues, p.name === 'poll_queues' ? (parsed as number) : e.config.poll_queues);
        return;
      }
      if (!p.live) throw new NullBlkConfigError('EBUSY', `${p.name} cannot change while ${name} is powered`);
    }
    (e.config as unknown as Record<string, unknown>)[p.name] = parsed;
    if (e.dev && (p.name === 'badblocks_once' || p.name === 'badblocks_partial_io')) (e.dev.config as unknown as Record<string, unknown>)[p.name] = parsed;
  }

  private zoneCond(e: DeviceEntry, key: 'zone_readonly' | 'zone_offline', str: string): void {
    if (!e.config.zoned) throw new NullBlkConfigError('EINVAL', 'null_blk device is not zoned');
    const zones = e.dev?.zones;
    if (!zones) throw new NullBlkConfigError('EINVAL', 'null_blk device is not yet powered');
    const sector = parseInteger(str, key);
    if (zones.zoneNo(sector) >= zones.nrZones) throw new NullBlkConfigError('EINVAL', 'Sector out of range');
    const store = e.dev?.store;
    try {
      zones.setCond(sector, key === 'zone_readonly' ? BLK_ZONE_COND.READONLY : BLK_ZONE_COND.OFFLINE, store ? (s, l) => store.discard(s, l) : undefined);
    } catch (err) {
      if (err instanceof ZoneConfigError) throw new NullBlkConfigError('EINVAL', err.message);
      throw err;
    }
  }

  /** nullb_update_nr_hw_queues: live resize under I/O. */
  private async applyQueues(e: DeviceEntry, submit: number, poll: number): Promise<void> {
    if (submit === 0) throw new NullBlkConfigError('EINVAL', 'submit_queues must be at least 1');
    if (submit > this.host.nrCpuIds) throw new NullBlkConfigError('EINVAL', `submit_queues ${submit} > nr_cpu_ids ${this.host.nrCpuIds}`);
    if (poll > this.host.maxPollQueues) throw new NullBlkConfigError('EINVAL', `poll_queues ${poll} > module poll_queues ${this.host.maxPollQueues}`);
    const set = e.tagSet;
    if (!set) return;
    const prev = [e.config.submit_queues, e.config.poll_queues] as const;
    e.config.submit_queues = submit;
    e.config.poll_queues = poll;
    if (e.dev) {
      e.dev.config.submit_queues = submit;
      e.dev.config.poll_queues = poll;
    }
    try {
      await set.updateNrHwQueues(submit + poll);
    } catch (err) {
      e.config.submit_queues = prev[0];
      e.config.poll_queues = prev[1];
      if (e.dev) {
        e.dev.config.submit_queues = prev[0];
        e.dev.config.poll_queues = prev[1];
      }
      throw new NullBlkConfigError('ENOMEM', `updating hw queues failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** ida_alloc: lowest free index. */
  private allocIndex(): number {
    let i = 0;
    while (this.usedIndexes.has(i)) i++;
    this.usedIndexes.add(i);
    return i;
  }

  /** Write power: 1 builds the disk (null_add_dev), 0 tears it down (null_del_dev). */
  async power(name: string, on: 0 | 1 | boolean): Promise<void> {
    const e = this.entry(name);
    const want = on === true || on === 1;
    if (want === e.powered) return;
    if (want) await this.powerOn(e);
    else await this.powerOff(e, false);
  }

  private buildTagSet(e: DeviceEntry, c: NullBlkConfig, ops: NullOps): TagSet<NullbCmd, NullbQueue> {
    const flagsFrom = c;
    return new TagSet({
      ops,
      nrHwQueues: c.submit_queues + c.poll_queues,
      queueDepth: c.hw_queue_depth,
      queueMaps: { default: c.submit_queues, read: 0, poll: c.poll_queues },
      blocking: flagsFrom.blocking,
      hctxShared: c.shared_tag_bitmap,
      noSchedByDefault: flagsFrom.no_sched,
      timeoutMs: this.timeoutMs,
      nrCpus: this.host.nrCpuIds,
      logger: this.logger,
    });
  }

  private getSharedTagSet(): TagSet<NullbCmd, NullbQueue> {
    if (this.sharedTagSet) return this.sharedTagSet;
    // null_init_global_tag_set: shaped by the module parameters.
    const v = validateConfig(this.moduleConfig, this.host);
    const mc = v.config;
    const ops = new NullOps((d) => this.byDisk.get(d), () => [mc.submit_queues, mc.poll_queues], mc.hw_queue_depth);
    this.sharedTagSet = this.buildTagSet(new DeviceEntry('(shared)', mc, true), mc, ops);
    return this.sharedTagSet;
  }

  private async powerOn(e: DeviceEntry): Promise<void> {
    const v = validateConfig(e.config, this.host);
    const c = v.config;
    if (e.config.queue_mode === NULL_Q_BIO) v.notes.push(QUEUE_MODE_BIO_NOTE);
    const index = this.allocIndex();
    const diskName = e.fromModule ? `nullb${index}` : e.name;
    const dev = new NullbDevice(diskName, v, e.badblocks, e.faults, { logger: this.logger, timers: this.timers, store: this.keptStores.get(e.name) });
    this.byDisk.set(diskName, dev);
    let tagSet: TagSet<NullbCmd, NullbQueue> | undefined;
    try {
      if (c.shared_tags) tagSet = this.getSharedTagSet();
      else {
        const ops = new NullOps((d) => this.byDisk.get(d), () => [dev.config.submit_queues, dev.config.poll_queues], c.hw_queue_depth);
        tagSet = this.buildTagSet(e, c, ops);
      }
      const disk: GenDisk<NullbCmd, NullbQueue> = new GenDisk<NullbCmd, NullbQueue>({
        name: diskName,
        tagSet,
        capacitySectors: c.size * 2048,
        limits: this.limitsFor(dev, c),
        ...(c.no_sched ? { scheduler: 'none' as const } : {}),
        ...(dev.zones ? { reportZones: (sector: number, nr: number) => this.reportZones(dev, sector, nr) } : {}),
      });
      try {
        disk.add();
      } catch (err) {
        await disk.remove(0);
        throw err;
      }
      e.disk = disk;
      e.tagSet = tagSet;
      if (c.shared_tags) this.sharedUsers++;
    } catch (err) {
      this.byDisk.delete(diskName);
      this.usedIndexes.delete(index);
      if (err instanceof NullBlkConfigError) throw err;
      const msg = err instanceof Error ? err.message : String(err);
      throw new NullBlkConfigError(/EFAULT/.test(msg) ? 'EFAULT' : 'EINVAL', `power on ${e.name}: ${msg}`);
    }
    dev.startThrottle();
    e.dev = dev;
    e.index = index;
    e.notes = v.notes;
    e.powered = true;
    for (const n of v.notes) this.logger.info({ disk: diskName }, n);
    this.logger.info({ disk: diskName }, `disk ${diskName} created`);
  }

  private limitsFor(dev: NullbDevice, c: NullBlkConfig): Partial<QueueLimits> {
    const lim: Partial<QueueLimits> = {
      logicalBlockSize: c.blocksize,
      physicalBlockSize: c.blocksize,
      rotational: c.rotational,
    };
    if (c.max_sectors) lim.maxHwSectors = c.max_sectors;
    if (c.virt_boundary) lim.virtBoundaryMask = 4096 - 1;
    if (c.discard) {
      // max_hw_discard_sectors = UINT_MAX >> 9; write zeroes frees pages too.
      lim.maxDiscardSectors = 0xffffffff >>> 9;
      lim.discardGranularity = c.blocksize;
      lim.maxWriteZeroesSectors = 0xffffffff >>> 9;
    }
    if (c.cache_size > 0) {
      lim.writeCache = true;
      lim.fua = c.fua;
    }
    const z = dev.zones;
    if (z) {
      lim.zoned = 'host-managed';
      lim.zoneSectors = z.zoneSizeSects;
      lim.maxOpenZones = z.zoneMaxOpen;
      lim.maxActiveZones = z.zoneMaxActive;
      lim.maxZoneAppendSectors = Math.min(c.zone_append_max_sectors, z.zoneSizeSects);
    }
    return lim;
  }

  private reportZones(dev: NullbDevice, sector: number, nr: number): import('../../block/types.ts').ZoneInfo[] {
    const zones = dev.zones;
    if (!zones) return [];
    return zones.report(sector, nr).map((z) => ({
      start: z.start, len: z.len, capacity: z.capacity, wp: z.wp,
      type: z.type === 1 ? 'conventional' as const : 'seq-write-required' as const,
      cond: ZONE_COND_CONV[ZONE_COND_NAME[z.cond] ?? 'OFFLINE'] ?? 'offline',
    }));
  }

  /** Power off: end what the driver holds (failing injected timeouts), delete the disk. */
  private async powerOff(e: DeviceEntry, freeStorage: boolean): Promise<void> {
    const dev = e.dev;
    const disk = e.disk;
    if (dev) {
      dev.dying = true;
      dev.throttle?.stop();
      for (const q of dev.queues) q?.drain();
    }
    if (disk) await disk.remove(100);
    if (dev) {
      for (const q of dev.queues) q?.drain();
      this.byDisk.delete(dev.diskName);
    }
    if (e.tagSet && e.tagSet === this.sharedTagSet) this.sharedUsers--;
    if (e.index !== undefined) this.usedIndexes.delete(e.index);
    // Without memory backing nothing is kept; with it, null_blk keeps the data
    // across power cycles until the configfs directory is removed.
    if (freeStorage) dev?.store?.clear();
    e.disk = undefined;
    e.tagSet = undefined;
    e.powered = false;
    e.index = undefined;
    if (!freeStorage && dev?.store) this.keptStores.set(e.name, dev.store);
    e.dev = undefined;
  }

  private readonly keptStores = new Map<string, import('./memory.ts').NullbStore>();

  /** rmdir: power off (draining or failing outstanding I/O), then forget the device. */
  async remove(name: string): Promise<void> {
    const e = this.entry(name);
    if (e.powered) await this.powerOff(e, true);
    this.keptStores.delete(name);
    this.entries.delete(name);
  }

  /** The driver-side device of a powered entry (tests, CLI stats). */
  device(name: string): NullbDevice | undefined {
    return this.entries.get(name)?.dev;
  }

  /** The disk of a powered entry. */
  disk(name: string): GenDisk<NullbCmd, NullbQueue> | undefined {
    return this.entries.get(name)?.disk;
  }

  info(name: string): NullBlkDeviceInfo {
    const e = this.entry(name);
    return { name, diskName: e.dev?.diskName, powered: e.powered, index: e.index, config: { ...e.config }, notes: [...e.notes], driver: e.dev ? { ...e.dev.stats } : undefined };
  }

  /** Module-style device: `nullb<index>`, configured from the module parameters. */
  async addModuleDevice(): Promise<string> {
    const key = `#module${this.entries.size}`;
    const e = new DeviceEntry(key, { ...this.moduleConfig }, true);
    this.entries.set(key, e);
    try {
      await this.powerOn(e);
    } catch (err) {
      this.entries.delete(key);
      throw err;
    }
    // Re-key by its disk name so callers use `nullbN`.
    const disk = e.dev?.diskName ?? key;
    this.entries.delete(key);
    const named = e;
    this.entries.set(disk, named);
    return disk;
  }

  /** Power everything off and forget all devices (module unload). */
  async destroy(): Promise<void> {
    for (const name of [...this.entries.keys()]) await this.remove(name);
    this.sharedTagSet = undefined;
  }
}

const ZONE_COND_CONV: Readonly<Record<string, import('../../block/types.ts').ZoneInfo['cond']>> = {
  NOT_WP: 'not-wp', EMPTY: 'empty', IMP_OPEN: 'imp-open', EXP_OPEN: 'exp-open', CLOSED: 'closed', READONLY: 'read-only', FULL: 'full', OFFLINE: 'offline',
};

/**
 * Module-parameter style creation (modprobe null_blk nr_devices=N …):
 * creates `nullb0` … `nullb{N-1}`, powered. Returns the registry so more
 * devices can be created configfs-style.
 */
export async function createNullDevices(
  params: Readonly<Record<string, string | number | boolean | undefined>> = {},
  opts: Omit<RegistryOptions, 'moduleParams'> = {},
): Promise<{ registry: NullBlkRegistry; names: string[] }> {
  const nrRaw = params.nr_devices ?? 1;
  const nr = typeof nrRaw === 'number' ? nrRaw : parseInteger(String(nrRaw), 'nr_devices');
  const { nr_devices: _ignored, ...rest } = params;
  void _ignored;
  const registry = new NullBlkRegistry({ ...opts, moduleParams: rest });
  // Fault strings must parse at load (null_setup_fault → -EINVAL).
  validateConfig(configFromOptions(rest), { nrCpuIds: opts.nrCpus ?? 4, maxPollQueues: configFromOptions(rest).poll_queues });
  const names: string[] = [];
  try {
    for (let i = 0; i < nr; i++) names.push(await registry.addModuleDevice());
  } catch (err) {
    await registry.destroy();
    throw err;
  }
  return { registry, names };
}
