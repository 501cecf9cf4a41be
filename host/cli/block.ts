// Block-layer commands: list, stat (iostat -x), queue, null (configfs), export.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { UsageError, getInt, getStr, getBool, parseIntArg, type FlagSpec, type Parsed } from './args.ts';
import type { HostApi } from './api.ts';
import type { CommandDef, Io } from './types.ts';
import { computeIostat, formatIostat, iostatJson, type IostatRow } from '../tools/stat.ts';
import { runFio, parseCommandLine, resolveAll, FioConfigError, NULLB_PARAMS, formatParamValue } from './deps.ts';
import { formatTable, markdownTable } from './table.ts';
import type { DiskStat } from '../block/index.ts';

const OUT: FlagSpec = { name: 'output-format', short: 'o', type: 'enum', values: ['normal', 'json'], help: 'output format', default: 'normal' };
const isJson = (p: Parsed): boolean => getStr(p, 'output-format') === 'json';
const NONE = { min: 0, max: 0, names: [] };

/** Splits iostat's trailing `[interval [count]]` off the device names. */
export function splitIostatArgs(pos: readonly string[]): { disks: string[]; intervalS: number | undefined; count: number | undefined } {
  const nums: string[] = [];
  let i = pos.length;
  while (i > 0 && nums.length < 2 && /^[0-9.]+$/.test(pos[i - 1] ?? '')) nums.unshift(pos[--i] ?? '');
  const disks = pos.slice(0, i);
  for (const d of disks) if (!/^[A-Za-z0-9_.-]{1,32}$/.test(d)) throw new UsageError(`'${d}' is not a disk name or interval`);
  let intervalS: number | undefined;
  let count: number | undefined;
  if (nums[0] !== undefined) {
    intervalS = Number(nums[0]);
    if (!Number.isFinite(intervalS) || intervalS <= 0 || intervalS > 86400) throw new UsageError(`interval: '${nums[0]}' must be a number of seconds in (0, 86400]`);
  }
  if (nums[1] !== undefined) count = parseIntArg(nums[1], 'count', 1, 1_000_000);
  return { disks, intervalS, count };
}

interface Snapshot {
  uptimeMs: number;
  disks: Record<string, DiskStat>;
}

async function snapshot(api: HostApi): Promise<Snapshot> {
  const r = (await api.execute('query-blockstats')) as { uptime_ms: number; disks: Record<string, DiskStat> };
  return { uptimeMs: r.uptime_ms, disks: r.disks };
}

const isAborted = (io: Io): boolean => io.signal?.aborted === true;

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((res) => {
    if (signal?.aborted === true) {
      res();
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', done);
      res();
    }, ms);
    const done = (): void => {
      clearTimeout(t);
      res();
    };
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** sysstat's iostat -o JSON envelope, with the sample length added. */
function sysstatJson(reports: { intervalMs: number; rows: IostatRow[] }[]): unknown {
  return {
    sysstat: {
      hosts: [{
        nodename: 'nvmelab', sysname: 'nvmelab', release: '0.1.0',
        statistics: reports.map((r) => ({ interval_ms: Math.round(r.intervalMs * 1000) / 1000, ...iostatJson(r.rows) })),
      }],
    },
  };
}

function splitKv(a: string, what: string): [string, string] {
  const eq = a.indexOf('=');
  if (eq <= 0) throw new UsageError(`${what}: '${a}' is not key=value`);
  return [a.slice(0, eq), a.slice(eq + 1)];
}

export const BLOCK_COMMANDS: CommandDef[] = [
  {
    name: 'list',
    summary: 'list the host\'s disks (rnvme namespaces, rnull devices)',
    synopsis: 'list [-o normal|json]',
    flags: [OUT],
    args: NONE,
    run: async (p, api, io) => {
      const disks = (await api.execute('query-disks')) as { name: string; driver: string; capacityBytes: number; logicalBlockSize: number; controller?: string }[];
      if (isJson(p)) {
        io.stdout.write(`${JSON.stringify({ disks }, null, 2)}\n`);
        return 0;
      }
      const rows = [['NAME', 'DRIVER', 'SIZE', 'LBS', 'CONTROLLER'], ...disks.map((d) => [d.name, d.driver, `${(d.capacityBytes / 2 ** 20).toFixed(0)}M`, String(d.logicalBlockSize), d.controller ?? '-'])];
      const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
      io.stdout.write(`${rows.map((r) => r.map((c, i) => (i < 4 ? c.padEnd((w[i] ?? 0) + 2) : c)).join('')).join('\n')}\n`);
      return 0;
    },
  },
  {
    name: 'stat',
    summary: 'iostat -x: extended block statistics from /sys/block/<dev>/stat',
    synopsis: 'stat [-x] [-y] [-o normal|json] [DISK...] [INTERVAL [COUNT]]',
    details: 'Without INTERVAL, one report covering the time since the host started (iostat\'s "since boot").\n'
      + 'With INTERVAL seconds, the first report is since boot (skip it with -y), then one per interval;\n'
      + 'COUNT reports in all (default: until interrupted).',
    flags: [
      { name: 'extended', short: 'x', type: 'bool', help: 'extended statistics (always on; accepted for iostat compatibility)' },
      { name: 'omit-first', short: 'y', type: 'bool', help: 'omit the first report (statistics since boot)' },
      OUT,
    ],
    args: { min: 0, max: 64, names: ['disk|interval|count'] },
    check: (p) => {
      splitIostatArgs(p.positionals);
    },
    run: async (p, api, io) => {
      const { disks, intervalS, count } = splitIostatArgs(p.positionals);
      const json = isJson(p);
      const pick = (s: Snapshot): string[] => {
        const names = Object.keys(s.disks).sort();
        return disks.length === 0 ? names : disks;
      };
      let prev = await snapshot(api);
      for (const d of disks) if (prev.disks[d] === undefined) {
        io.stderr.write(`nvmelab: stat: no disk '${d}'\n`);
        return 1;
      }
      const reports: { intervalMs: number; rows: IostatRow[] }[] = [];
      const report = (intervalMs: number, rows: IostatRow[]): void => {
        if (json) reports.push({ intervalMs, rows });
        else io.stdout.write(`${formatIostat(rows)}\n`);
      };
      const want = intervalS === undefined ? 1 : (count ?? Infinity);
      let made = 0;
      if (!getBool(p, 'omit-first') || intervalS === undefined) {
        report(prev.uptimeMs, pick(prev).flatMap((d) => {
          const s = prev.disks[d];
          return s === undefined ? [] : [computeIostat(d, undefined, s, Math.max(1, prev.uptimeMs))];
        }));
        made++;
      }
      while (made < want && intervalS !== undefined && io.signal?.aborted !== true) {
        await sleep(intervalS * 1000, io.signal);
        if (isAborted(io)) break;
        const cur = await snapshot(api);
        const el = Math.max(1, cur.uptimeMs - prev.uptimeMs);
        report(el, pick(cur).flatMap((d) => {
          const s = cur.disks[d];
          return s === undefined ? [] : [computeIostat(d, prev.disks[d] ?? s, s, el)];
        }));
        prev = cur;
        made++;
      }
      if (json) io.stdout.write(`${JSON.stringify(sysstatJson(reports), null, 2)}\n`);
      return 0;
    },
  },
  {
    name: 'queue',
    summary: 'show or set /sys/block/<disk>/queue attributes (scheduler, nr_requests, …)',
    synopsis: 'queue <disk> [ATTR | ATTR=VALUE]... [-o normal|json]',
    details: 'Writable: scheduler (none, mq-deadline), nr_requests, max_sectors_kb, write_cache,\nnomerges, io_timeout, iostats, rq_affinity, discard_max_bytes.',
    flags: [OUT],
    args: { min: 1, max: 64, names: ['disk', 'attr'] },
    check: (p) => {
      if (!/^[A-Za-z0-9_.-]{1,32}$/.test(p.positionals[0] ?? '')) throw new UsageError(`'${p.positionals[0] ?? ''}' is not a disk name`);
    },
    run: async (p, api, io) => {
      const [disk, ...items] = p.positionals;
      const out: Record<string, unknown> = {};
      if (items.length === 0) Object.assign(out, await api.execute('queue-get', { disk }));
      for (const it of items) {
        if (it.includes('=')) {
          const [k, v] = splitKv(it, 'queue');
          Object.assign(out, await api.execute('queue-set', { disk, attr: k, value: v }));
        } else Object.assign(out, await api.execute('queue-get', { disk, attr: it }));
      }
      if (isJson(p)) io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      else {
        const w = Math.max(...Object.keys(out).map((k) => k.length));
        io.stdout.write(`${Object.entries(out).map(([k, v]) => `${k.padEnd(w)} : ${String(v)}`).join('\n')}\n`);
      }
      return 0;
    },
  },
  {
    name: 'null create',
    summary: 'create an rnull device (configfs: mkdir, write attributes, power on)',
    synopsis: 'null create NAME [KEY=VALUE]... [power=0]',
    details: 'Keys are null_blk\'s configfs attributes (size in MiB, blocksize, irqmode, memory_backed, …)\nplus gb= (GiB) and bs=. `nvmelab null params` lists them.',
    flags: [],
    args: { min: 1, max: 128, names: ['name', 'key=value'] },
    run: async (p, api, io) => {
      const r = (await api.execute('null-create', { spec: p.positionals.join(',') })) as { name: string };
      io.stdout.write(`${r.name}\n`);
      return 0;
    },
  },
  {
    name: 'null set',
    summary: 'write configfs attributes of an rnull device',
    synopsis: 'null set NAME KEY=VALUE...',
    flags: [],
    args: { min: 2, max: 128, names: ['name', 'key=value'] },
    check: (p) => {
      for (const a of p.positionals.slice(1)) splitKv(a, 'null set');
    },
    run: async (p, api) => {
      const [name, ...kvs] = p.positionals;
      for (const kv of kvs) {
        const [k, v] = splitKv(kv, 'null set');
        await api.execute('null-set', { name, attr: k, value: v });
      }
      return 0;
    },
  },
  {
    name: 'null get',
    summary: 'read configfs attributes of an rnull device (all when none named)',
    synopsis: 'null get NAME [KEY]... [-o normal|json]',
    flags: [OUT],
    args: { min: 1, max: 128, names: ['name', 'key'] },
    run: async (p, api, io) => {
      const [name, ...keys] = p.positionals;
      const out: Record<string, unknown> = {};
      if (keys.length === 0) Object.assign(out, await api.execute('null-get', { name }));
      for (const k of keys) Object.assign(out, await api.execute('null-get', { name, attr: k }));
      if (isJson(p)) io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      else if (keys.length === 1) io.stdout.write(`${String(out[keys[0] ?? ''])}\n`);
      else {
        const w = Math.max(...Object.keys(out).map((k) => k.length));
        io.stdout.write(`${Object.entries(out).map(([k, v]) => `${k.padEnd(w)} : ${String(v)}`).join('\n')}\n`);
      }
      return 0;
    },
  },
  {
    name: 'null power',
    summary: 'power an rnull device on (builds the disk) or off',
    synopsis: 'null power NAME on|off|1|0',
    flags: [],
    args: { min: 2, max: 2, names: ['name', 'state'] },
    check: (p) => {
      if (!['on', 'off', '1', '0'].includes(p.positionals[1] ?? '')) throw new UsageError(`power: '${p.positionals[1] ?? ''}' is not on, off, 1 or 0`);
    },
    run: async (p, api) => {
      await api.execute('null-power', { name: p.positionals[0], on: p.positionals[1] === 'on' || p.positionals[1] === '1' });
      return 0;
    },
  },
  {
    name: 'null remove',
    summary: 'power off and remove an rnull device (configfs rmdir)',
    synopsis: 'null remove NAME',
    flags: [],
    args: { min: 1, max: 1, names: ['name'] },
    run: async (p, api) => {
      await api.execute('null-remove', { name: p.positionals[0] });
      return 0;
    },
  },
  {
    name: 'null list',
    summary: 'list rnull devices',
    synopsis: 'null list [-o normal|json]',
    flags: [OUT],
    args: NONE,
    run: async (p, api, io) => {
      const l = (await api.execute('null-list')) as Record<string, unknown>[];
      if (isJson(p)) {
        io.stdout.write(`${JSON.stringify({ devices: l }, null, 2)}\n`);
        return 0;
      }
      const cols = ['name', 'disk', 'powered', 'size_mib', 'blocksize', 'memory_backed', 'irqmode'];
      const rows = [cols, ...l.map((d) => cols.map((c) => String(d[c] ?? '-')))];
      const w = cols.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
      io.stdout.write(`${rows.map((r) => r.map((c, i) => c.padEnd((w[i] ?? 0) + 2)).join('').trimEnd()).join('\n')}\n`);
      return 0;
    },
  },
  {
    name: 'null features',
    summary: 'configfs features: every attribute an rnull device has',
    synopsis: 'null features',
    flags: [],
    args: NONE,
    run: async (_p, api, io) => {
      const r = (await api.execute('null-features')) as { features: string };
      io.stdout.write(`${r.features}\n`);
      return 0;
    },
  },
  {
    name: 'null params',
    summary: 'the null_blk knob table (name, type, default, meaning); needs no host',
    synopsis: 'null params [-o normal|json|markdown]',
    details: 'Text columns are separated by two or more spaces ("-" for none): `awk -F\'  +\'` splits them.',
    flags: [{ name: 'output-format', short: 'o', type: 'enum', values: ['normal', 'json', 'markdown'], help: 'output format', default: 'normal' }],
    args: NONE,
    run: (p, _api, io) => {
      const fmt = getStr(p, 'output-format') ?? 'normal';
      if (fmt === 'json') {
        const params = NULLB_PARAMS.map((x) => ({
          name: x.name, ...(x.moduleName !== undefined ? { module_name: x.moduleName } : {}), type: x.type, default: x.default,
          ...(x.unit !== undefined ? { unit: x.unit } : {}), configfs: x.configfs, live: x.live === true, doc: x.doc,
        }));
        io.stdout.write(`${JSON.stringify({ params }, null, 2)}\n`);
        return Promise.resolve(0);
      }
      const head = ['name', 'type', 'default', 'meaning'];
      const rows = NULLB_PARAMS.map((x) => [
        x.moduleName !== undefined ? `${x.name} (${x.moduleName})` : x.name,
        x.type,
        formatParamValue(x.default) === '' ? '' : formatParamValue(x.default) + (x.unit !== undefined ? ` ${x.unit}` : ''),
        (x.live === true ? '[live] ' : '') + (x.configfs ? '' : '[param] ') + x.doc,
      ]);
      io.stdout.write(`${fmt === 'markdown' ? markdownTable(head, rows) : formatTable(head, rows)}\n`);
      return Promise.resolve(0);
    },
  },
  {
    name: 'export',
    summary: 'export disks over NBD (or list the exports)',
    synopsis: 'export [DISK[,ro][,name=NAME][,desc=TEXT] | nbd://HOST:PORT/DISK]... [-o normal|json]',
    details: 'Prints one nbd:// URI per export. With a one-shot host (--device/--null) it serves until interrupted.',
    flags: [OUT],
    args: { min: 0, max: 64, names: ['export'] },
    run: async (p, api, io) => {
      const uris: string[] = [];
      for (const spec of p.positionals) uris.push(...((await api.execute('nbd-export', { spec })) as { uris: string[] }).uris);
      if (p.positionals.length === 0) {
        const l = (await api.execute('query-nbd')) as { name: string; disk: string; uris: string[] }[];
        if (isJson(p)) io.stdout.write(`${JSON.stringify({ exports: l }, null, 2)}\n`);
        else io.stdout.write(l.map((e) => `${e.name} (${e.disk}): ${e.uris.join(' ')}\n`).join(''));
        return 0;
      }
      io.stdout.write(isJson(p) ? `${JSON.stringify({ uris }, null, 2)}\n` : `${uris.join('\n')}\n`);
      if (api.embedded) await sleep(2 ** 31 - 1, io.signal);
      return 0;
    },
  },
  {
    name: 'unexport',
    summary: 'remove an NBD export (attached clients drain and disconnect)',
    synopsis: 'unexport NAME',
    flags: [],
    args: { min: 1, max: 1, names: ['name'] },
    run: async (p, api) => {
      await api.execute('nbd-unexport', { name: p.positionals[0] });
      return 0;
    },
  },
  {
    name: 'fio',
    summary: 'run fio-compatible jobs (job files or --name=… options) against the host\'s disks',
    synopsis: 'fio [--output-format=normal|json] [job files...] [--name=JOB --filename=DISK --rw=… ...]',
    flags: [],
    args: { min: 0, max: Infinity, names: [] },
    rawArgs: true,
    run: async (p, api, io) => runFioCommand(p.positionals, api, io),
  },
];

/** Reads the job files fio will need, so a remote host gets their text. */
function localFiles(argv: readonly string[], io: Io): Record<string, string> {
  const files: Record<string, string> = {};
  const read = io.readFile ?? ((f: string) => readFileSync(f, 'utf8'));
  for (const a of argv) if (!a.startsWith('-') && existsSync(a)) files[a] = read(a);
  return files;
}

/**
 * The environment variables the job files name as ${VAR}, with the values
 * this CLI sees: fio expands them where the job file is read, which for
 * nvmelab is the host (maybe another process), so the CLI sends its own.
 * Only the names referenced are sent, never the whole environment.
 */
function referencedEnv(files: Record<string, string>, env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const text of Object.values(files)) {
    for (const m of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
      const name = m[1] ?? '';
      const v = env[name];
      if (v !== undefined) out[name] = v;
    }
  }
  return out;
}

/** fio's options and job files checked locally: the one-line error, or undefined when they are fine. */
export function checkFioArgs(argv: readonly string[], io: Io): string | undefined {
  const read = io.readFile ?? ((f: string) => readFileSync(f, 'utf8'));
  try {
    resolveAll(parseCommandLine(argv), read, io.env);
  } catch (e) {
    if (e instanceof FioConfigError) return `fio: ${e.message}`;
    throw e;
  }
  return undefined;
}

/** Pre-validates fio's arguments locally (exit 2 naming the bad option), then runs them inside the host. */
export async function runFioCommand(argv: readonly string[], api: HostApi | undefined, io: Io): Promise<number> {
  const local = argv.some((a) => a === '--help' || a === '-h' || a === '--version' || a.startsWith('--cmdhelp'));
  if (local || api === undefined) {
    return runFio(argv, { host: { open: () => undefined }, stdout: io.stdout, stderr: io.stderr });
  }
  const files = localFiles(argv, io);
  const run = randomUUID();
  let defaultFilename: string | undefined;
  if (api.embedded) {
    const disks = (await api.execute('query-disks')) as { name: string }[];
    if (disks.length === 1) defaultFilename = disks[0]?.name;
  }
  const off = api.onEvent((e) => {
    if (e.event !== 'FIO_OUTPUT' || e.data.run !== run) return;
    const s = typeof e.data.data === 'string' ? e.data.data : '';
    (e.data.stream === 'stderr' ? io.stderr : io.stdout).write(s);
  });
  // Not api.execute: that would queue behind the fio-run it is meant to stop.
  const onAbort = (): void => void (api.executeNow ?? api.execute)('fio-cancel', { run }).catch(() => undefined);
  io.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const env = referencedEnv(files, io.env ?? process.env);
    const r = (await api.execute('fio-run', {
      argv: [...argv], files, run, env, ...(defaultFilename !== undefined ? { defaultFilename } : {}),
    })) as { exitCode: number };
    return r.exitCode;
  } finally {
    off();
    io.signal?.removeEventListener('abort', onAbort);
  }
}

export { getInt };
