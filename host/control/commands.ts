// The host's control-channel commands. The CLI goes through these for every
// command, in-process (an embedded host: ControlRegistry.run) or over the
// WebSocket (a running host), so both paths behave the same. Binary data
// (identify, log pages) travels as base64.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { QmpError, argString, argInt, argBool, type ControlRegistry, type QmpValue, type QmpArgs } from '../../src/control/commands.ts';
import { getDisk, type DiskStat, type QueueAttr } from '../block/index.ts';
import { NullBlkConfigError } from '../drivers/rnull/index.ts';
import { parseBool } from '../drivers/rnull/config.ts';
import { runFio, blockLayerHost } from '../tools/fio/index.ts';
import type { HostDaemon } from '../daemon/host.ts';
import type { NvmeAdminResult } from '../daemon/nvme-port.ts';

/** Every /sys/block/<dev>/queue attribute host/block knows, in sysfs's listing order. */
export const QUEUE_ATTRS: readonly QueueAttr[] = [
  'chunk_sectors', 'discard_granularity', 'discard_max_bytes', 'discard_max_hw_bytes', 'dma_alignment', 'fua',
  'hw_sector_size', 'io_poll', 'io_timeout', 'iostats', 'logical_block_size', 'max_active_zones', 'max_hw_sectors_kb',
  'max_open_zones', 'max_sectors_kb', 'max_segment_size', 'max_segments', 'nomerges', 'nr_hw_queues', 'nr_requests',
  'nr_zones', 'physical_block_size', 'rotational', 'rq_affinity', 'scheduler', 'virt_boundary_mask', 'write_cache',
  'write_zeroes_max_bytes', 'zone_append_max_bytes', 'zoned',
];

const isQueueAttr = (s: string): s is QueueAttr => (QUEUE_ATTRS as readonly string[]).includes(s);

function generic(e: unknown): QmpError {
  if (e instanceof QmpError) return e;
  // NullBlkConfigError's message already starts with its errno ("EBUSY: …").
  if (e instanceof NullBlkConfigError) return new QmpError('GenericError', e.message.startsWith(`${e.code}:`) ? e.message : `${e.code}: ${e.message}`);
  return new QmpError('GenericError', e instanceof Error ? e.message : String(e));
}

/** Wrap a handler so that any error becomes a QmpError with the error's message. */
function wrap(f: (a: QmpArgs) => Promise<QmpValue> | QmpValue): (a: QmpArgs) => Promise<QmpValue> {
  return async (a) => {
    try {
      return await f(a);
    } catch (e) {
      throw generic(e);
    }
  };
}

function argStr(a: QmpArgs, k: string, def?: string): string {
  if (a[k] === undefined && def !== undefined) return def;
  return argString(a, k);
}

function statJson(s: DiskStat): QmpValue {
  return { ...s };
}

function adminJson(ctrl: string, nsid: number, r: NvmeAdminResult): QmpValue {
  return { controller: ctrl, nsid, status: r.status, result: r.result, ...(r.data !== undefined ? { data: Buffer.from(r.data).toString('base64') } : {}) };
}

/** Register the host daemon's commands on `reg`. */
export function registerHostCommands(reg: ControlRegistry, host: HostDaemon): void {
  const fioRuns = new Map<string, AbortController>();

  reg.register('query-status', 'host state: running or shutting-down, pid, controllers, disks', () => ({
    status: host.stopping ? 'shutting-down' : 'running',
    pid: process.pid,
    controllers: host.listControllers().length,
    disks: host.disks().length,
  }));
  reg.register('query-commands', 'every control command with one line of help', () => reg.list().map((c) => ({ name: c.name, description: c.description })));
  reg.register('query-disks', 'disks of the block layer (name, driver, capacity, block size, controller)', () => host.disks().map((d) => ({ ...d })));
  reg.register('query-controllers', 'attached NVMe controllers and their namespaces', () => host.listControllers().map((c) => {
    const s = c.summary();
    return { ...s, namespaces: s.namespaces.map((n) => ({ ...n })) };
  }));
  reg.register('query-blockstats', '/sys/block/<dev>/stat counters: {disk?} → {uptime_ms, disks: {name: counters}}', wrap((a) => {
    const only = a.disk === undefined ? undefined : argString(a, 'disk');
    const out: Record<string, QmpValue> = {};
    const uptimeMs = performance.now();
    for (const d of host.disks()) {
      if (only !== undefined && d.name !== only) continue;
      const gd = getDisk(d.name);
      if (gd !== undefined) out[d.name] = statJson(gd.stat());
    }
    if (only !== undefined && out[only] === undefined) throw new QmpError('DeviceNotFound', `no disk '${only}'`);
    return { uptime_ms: uptimeMs, disks: out };
  }));

  reg.register('host-attach', 'attach a device daemon: {url, token?} → controller summary', wrap(async (a) => {
    const c = await host.attach(argString(a, 'url'), { token: a.token === undefined ? undefined : argString(a, 'token') });
    const s = c.summary();
    return { ...s, namespaces: s.namespaces.map((n) => ({ ...n })) };
  }));
  reg.register('host-detach', 'orderly shutdown and removal of a controller: {controller}', wrap(async (a) => {
    await host.detach(argString(a, 'controller'));
    return {};
  }));

  reg.register('nvme-admin', 'admin passthrough: {device, op: identify|get-log|get-feature|set-feature|format|flush|reset|rescan, …}', wrap(async (a) => {
    const dev = argString(a, 'device');
    const r = host.resolveNvme(dev);
    if (r === undefined) throw new QmpError('DeviceNotFound', `${dev}: no such NVMe controller or namespace`);
    const nsidArg = a.nsid === undefined ? r.nsid : argInt(a, 'nsid', 0, 0, 0xffffffff);
    const op = argString(a, 'op');
    const c = r.ctrl;
    switch (op) {
      case 'identify':
        return adminJson(c.name, nsidArg, await c.identify(argInt(a, 'cns', 1, 0, 0xff), nsidArg));
      case 'get-log':
        return adminJson(c.name, nsidArg, await c.getLogPage(argInt(a, 'lid', 0, 0, 0xff), nsidArg, argInt(a, 'len', 512, 4, 1 << 20), {
          lsp: argInt(a, 'lsp', 0, 0, 0x7f), lpo: argInt(a, 'lpo', 0), rae: argBool(a, 'rae', false),
        }));
      case 'get-feature':
        return adminJson(c.name, nsidArg, await c.getFeature(argInt(a, 'fid', 0, 0, 0xff), nsidArg, argInt(a, 'sel', 0, 0, 3), argInt(a, 'cdw11', 0, 0, 0xffffffff), argInt(a, 'len', 0, 0, 4096)));
      case 'set-feature': {
        const data = a.data === undefined ? undefined : new Uint8Array(Buffer.from(argString(a, 'data'), 'base64'));
        return adminJson(c.name, nsidArg, await c.setFeature(argInt(a, 'fid', 0, 0, 0xff), nsidArg, argInt(a, 'cdw11', 0, 0, 0xffffffff), argBool(a, 'save', false), data));
      }
      case 'format':
        return adminJson(c.name, nsidArg, await c.format(nsidArg, argInt(a, 'cdw10', 0, 0, 0xffffffff)));
      case 'flush':
        return adminJson(c.name, nsidArg, await c.flush(nsidArg));
      case 'reset':
        await c.reset();
        return { controller: c.name, nsid: nsidArg, status: 0, result: 0 };
      case 'rescan':
        await c.rescan();
        return { controller: c.name, nsid: nsidArg, status: 0, result: 0 };
      default:
        throw new QmpError('GenericError', `Parameter 'op': unknown admin operation '${op}'`);
    }
  }));

  reg.register('null-create', 'create an rnull device the configfs way: {spec: "NAME,key=value,…"} → {name}', wrap(async (a) => ({ name: await host.createNull(argString(a, 'spec')) })));
  reg.register('null-mkdir', 'configfs mkdir: {name} (not powered)', wrap((a) => {
    host.nullb.create(argString(a, 'name'));
    return {};
  }));
  reg.register('null-set', 'write a configfs attribute: {name, attr, value}', wrap(async (a) => {
    const v = a.value;
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw new QmpError('GenericError', "Parameter 'value' is missing");
    const name = argString(a, 'name');
    const attr = argString(a, 'attr');
    // configfs 'power' is an attribute like the others (echo 1 > power); powering
    // off deletes the disk, so it goes through the host (NBD exports dropped first).
    if (attr === 'power') await host.powerNull(name, typeof v === 'boolean' ? v : parseBool(String(v), 'power'));
    else await host.nullb.setAttr(name, attr, v);
    return {};
  }));
  reg.register('null-get', 'read configfs attributes: {name, attr?} → {attr: value}', wrap((a) => {
    const name = argString(a, 'name');
    if (a.attr !== undefined) {
      const k = argString(a, 'attr');
      return { [k]: host.nullb.getAttr(name, k) };
    }
    host.nullb.info(name); // ENOENT for a device that does not exist, as reading its configfs dir would
    const out: Record<string, QmpValue> = {};
    for (const k of host.nullb.features().split(',')) {
      try {
        out[k] = host.nullb.getAttr(name, k);
      } catch {
        // zone_* and friends are write-only on some devices.
      }
    }
    return out;
  }));
  reg.register('null-power', 'power a device on or off: {name, on: boolean}', wrap(async (a) => {
    await host.powerNull(argString(a, 'name'), argBool(a, 'on', true));
    return {};
  }));
  reg.register('null-remove', 'rmdir: power off and forget a device: {name}', wrap(async (a) => {
    await host.removeNull(argString(a, 'name'));
    return {};
  }));
  reg.register('null-list', 'rnull devices: [{name, disk, powered, size_mib, blocksize, memory_backed, irqmode}]', () => host.nullb.list().map((n) => {
    const i = host.nullb.info(n);
    return { name: n, disk: i.diskName ?? null, powered: i.powered, size_mib: i.config.size, blocksize: i.config.blocksize, memory_backed: i.config.memory_backed, irqmode: i.config.irqmode };
  }));
  reg.register('null-features', "configfs 'features': every attribute", () => ({ features: host.nullb.features() }));

  reg.register('queue-get', '/sys/block/<disk>/queue attributes: {disk, attr?} → {attr: value}', wrap((a) => {
    const name = argString(a, 'disk');
    const d = getDisk(name);
    if (d === undefined) throw new QmpError('DeviceNotFound', `no disk '${name}'`);
    const attrs = a.attr === undefined ? QUEUE_ATTRS : [argString(a, 'attr')];
    const out: Record<string, QmpValue> = {};
    for (const k of attrs) {
      if (!isQueueAttr(k)) throw new QmpError('GenericError', `unknown queue attribute '${k}'`);
      out[k] = d.getAttr(k);
    }
    return out;
  }));
  reg.register('queue-set', 'write a queue attribute: {disk, attr, value}', wrap(async (a) => {
    const name = argString(a, 'disk');
    const d = getDisk(name);
    if (d === undefined) throw new QmpError('DeviceNotFound', `no disk '${name}'`);
    const k = argString(a, 'attr');
    if (!isQueueAttr(k)) throw new QmpError('GenericError', `unknown queue attribute '${k}'`);
    await d.setAttr(k, argString(a, 'value'));
    return { [k]: d.getAttr(k) };
  }));

  reg.register('nbd-export', 'export a disk over NBD: {spec: "DISK[,ro][,name=N]" | "nbd://HOST:PORT/DISK"} → {uris}', wrap(async (a) => ({ uris: await host.exportDisk(argString(a, 'spec')) })));
  reg.register('nbd-unexport', 'remove an NBD export (clients drain): {name}', wrap(async (a) => {
    await host.unexport(argString(a, 'name'));
    return {};
  }));
  reg.register('query-nbd', 'NBD exports and their URIs', () => host.exports().map((e) => ({ ...e })));

  reg.register('fio-run', 'run fio inside the host: {argv, files?: {path: text}, env?: {NAME: value} (for ${NAME} in job files), run?} → {exitCode}; output as FIO_OUTPUT events {run, stream, data}', wrap(async (a) => {
    const argv = a.argv;
    if (!Array.isArray(argv) || !argv.every((x): x is string => typeof x === 'string')) throw new QmpError('GenericError', "Parameter 'argv' must be an array of strings");
    const files = (a.files ?? {}) as Record<string, unknown>;
    if (typeof files !== 'object' || files === null || Array.isArray(files)) throw new QmpError('GenericError', "Parameter 'files' must be an object");
    const env = (a.env ?? {}) as Record<string, unknown>;
    if (typeof env !== 'object' || env === null || Array.isArray(env) || !Object.values(env).every((x) => typeof x === 'string')) {
      throw new QmpError('GenericError', "Parameter 'env' must be an object of strings");
    }
    const run = argStr(a, 'run', randomUUID());
    // A reused id would let fio-cancel reach the wrong run and the first run's end drop the second's entry.
    if (fioRuns.has(run)) throw new QmpError('GenericError', `Parameter 'run': fio run '${run}' is already running`);
    const ac = new AbortController();
    fioRuns.set(run, ac);
    const emit = (stream: 'stdout' | 'stderr') => ({
      write: (s: string): boolean => {
        reg.emit('FIO_OUTPUT', { run, stream, data: s });
        return true;
      },
    });
    try {
      const exitCode = await runFio(argv, {
        host: blockLayerHost(),
        stdout: emit('stdout'),
        stderr: emit('stderr'),
        signal: ac.signal,
        // ${VAR} in job files: the caller's values (the CLI's environment) win over the host's.
        env: { ...process.env, ...(env as Record<string, string>) },
        ...(a.defaultFilename !== undefined ? { defaultFilename: argString(a, 'defaultFilename') } : {}),
        readFile: (p) => {
          const t = files[p];
          return typeof t === 'string' ? t : readFileSync(p, 'utf8');
        },
      });
      return { exitCode };
    } finally {
      fioRuns.delete(run);
    }
  }));
  reg.register('fio-cancel', 'stop a running fio-run: {run}', wrap((a) => {
    const ac = fioRuns.get(argString(a, 'run'));
    ac?.abort();
    return { cancelled: ac !== undefined };
  }));

  reg.register('quit', 'shut the host down (orderly NVMe shutdown, NBD close)', () => {
    setImmediate(() => void host.shutdown('quit'));
    return {};
  });
}
