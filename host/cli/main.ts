// `nvmelab <command>`: the CLI entry. Global options choose the host (a
// running one over its control channel, or a one-shot embedded one), each
// command parses its own flags strictly, and every usage error is one line
// naming the flag or value, exit 2.
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, parseFlags, formatFlags, getStr, getList, type FlagSpec, type Parsed } from './args.ts';
import { openHost, NoHostError, type HostApi } from './api.ts';
import { NVME_COMMANDS } from './nvme.ts';
import { BLOCK_COMMANDS, runFioCommand, checkFioArgs } from './block.ts';
import { parseNullSpec } from '../daemon/null-spec.ts';
import type { CommandDef, Io } from './types.ts';
import { ControlError } from '../control/client.ts';
import { createLogger, isLogLevel } from '../../src/util/log.ts';
import { runHostCommand, HOST_FLAGS, HOST_SUMMARY } from '../daemon/run.ts';

export type { Io, Out } from './types.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const VERSION = '0.1.0';

/** Options understood before (or anywhere in) any command's arguments. */
export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'host', type: 'string', arg: 'URL', help: 'control channel of a running host, ws://HOST:PORT/control[#TOKEN] (default: NVMELAB_HOST, else the host state file)' },
  { name: 'token', type: 'string', arg: 'TOKEN', help: 'control token (default: NVMELAB_HOST_TOKEN, else the state file)' },
  { name: 'token-file', type: 'string', arg: 'FILE', help: 'read the control token from FILE' },
  { name: 'device', type: 'string', repeat: true, arg: 'URL', help: 'one-shot run: embedded host attached to this device daemon (ws://HOST:PORT/[#TOKEN])' },
  { name: 'null', type: 'string', repeat: true, arg: 'SPEC', help: 'one-shot run: embedded host with this rnull device (NAME,key=value,…)' },
  { name: 'log-level', type: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], arg: 'LEVEL', help: 'log level on stderr: fatal, error, warn, info, debug, trace or silent', default: 'warn' },
];

const HOST_CMD: CommandDef = {
  name: 'host',
  summary: HOST_SUMMARY,
  synopsis: 'host [--attach URL[#TOKEN]]... [--null SPEC]... [--export DISK]... [--control HOST:PORT] [options]',
  flags: HOST_FLAGS,
  args: { min: 0, max: 0, names: [] },
  run: () => Promise.resolve(0),
};

const DEVICE_CMD: CommandDef = {
  name: 'device',
  summary: 'run a device daemon (same options as device/main.ts; see `nvmelab device --help`)',
  synopsis: 'device [--listen HOST:PORT] [-device nvme,…] [-device nvme-ns,…] ...',
  flags: [],
  args: { min: 0, max: Infinity, names: [] },
  rawArgs: true,
  run: () => Promise.resolve(0),
};

const ADMIN_COMMANDS: CommandDef[] = [
  {
    name: 'attach',
    summary: 'attach a device daemon to the running host (rnvme probe)',
    synopsis: 'attach URL[#TOKEN] [--device-token TOKEN]',
    flags: [{ name: 'device-token', type: 'string', arg: 'TOKEN', help: 'the device daemon\'s token' }],
    args: { min: 1, max: 1, names: ['url'] },
    run: async (p, api, io) => {
      const tok = getStr(p, 'device-token');
      const r = (await api.execute('host-attach', { url: p.positionals[0], ...(tok !== undefined ? { token: tok } : {}) })) as { name: string; namespaces: { disk: string }[] };
      io.stdout.write(`${r.name}: ${r.namespaces.map((n) => n.disk).join(' ')}\n`);
      return 0;
    },
  },
  {
    name: 'detach',
    summary: 'orderly shutdown and removal of a controller',
    synopsis: 'detach nvmeN',
    flags: [],
    args: { min: 1, max: 1, names: ['controller'] },
    run: async (p, api) => {
      await api.execute('host-detach', { controller: p.positionals[0] });
      return 0;
    },
  },
  {
    name: 'status',
    summary: 'the running host\'s state',
    synopsis: 'status',
    flags: [],
    args: { min: 0, max: 0, names: [] },
    run: async (_p, api, io) => {
      io.stdout.write(`${JSON.stringify(await api.execute('query-status'), null, 2)}\n`);
      return 0;
    },
  },
  {
    name: 'shutdown',
    summary: 'shut the running host down cleanly',
    synopsis: 'shutdown',
    flags: [],
    args: { min: 0, max: 0, names: [] },
    run: async (_p, api) => {
      await api.execute('quit');
      return 0;
    },
  },
];

export const COMMANDS: CommandDef[] = [HOST_CMD, DEVICE_CMD, ...BLOCK_COMMANDS, ...NVME_COMMANDS, ...ADMIN_COMMANDS];
/** Commands that need no host. */
const LOCAL = new Set(['null params']);
const GROUPS = ['nvme', 'null'];

const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', type: 'bool', help: 'this help' };

export function mainUsage(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return `usage: nvmelab [global options] <command> [options] [args]

nvmelab: an NVMe device daemon, a Linux-like host block layer (rnvme, rnull),
and the tools people know (fio, nvme-cli, iostat) on top.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join('\n')}
  ${'help [command]'.padEnd(w)}  help for a command

Global options (anywhere before a literal --):
${formatFlags([...GLOBAL_FLAGS, HELP_FLAG, { name: 'version', type: 'bool', help: 'print the version' }])}

Commands other than host/device talk to a running host (\`nvmelab host\`) or,
with --device/--null, to a one-shot embedded host that exits afterwards.
`;
}

export function commandHelp(c: CommandDef): string {
  if (c.name === 'fio') return runFioHelp();
  const flags = [...c.flags, HELP_FLAG];
  return `usage: nvmelab ${c.synopsis}\n\n${c.summary}\n${c.details !== undefined ? `\n${c.details}\n` : ''}\nOptions:\n${formatFlags(flags)}\n`;
}

function runFioHelp(): string {
  return 'usage: nvmelab fio [job files...] [--name=JOB --filename=DISK --rw=randread ...]\n\nRuns fio-compatible jobs inside the host. `nvmelab fio --help` shows the runner\'s options; `--cmdhelp` lists every job option.\n';
}

function findCommand(argv: readonly string[]): { cmd: CommandDef; rest: string[] } | { group: string } | undefined {
  const [a, b] = argv;
  if (a === undefined) return undefined;
  if (GROUPS.includes(a)) {
    const c = b !== undefined ? COMMANDS.find((x) => x.name === `${a} ${b}`) : undefined;
    return c !== undefined ? { cmd: c, rest: argv.slice(2) } : { group: a };
  }
  const c = COMMANDS.find((x) => x.name === a);
  return c !== undefined ? { cmd: c, rest: argv.slice(1) } : undefined;
}

function groupHelp(g: string): string {
  const cs = COMMANDS.filter((c) => c.name.startsWith(`${g} `));
  const w = Math.max(...cs.map((c) => c.name.length));
  return `usage: nvmelab ${g} <subcommand> [options]\n\n${cs.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join('\n')}\n\n\`nvmelab ${g} <subcommand> --help\` for details.\n`;
}

/** Pulls the global options out of argv (up to a literal `--`). */
export function extractGlobals(argv: readonly string[]): { globals: Parsed; rest: string[] } {
  const names = new Set(GLOBAL_FLAGS.map((f) => f.name));
  const mine: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const m = /^--([a-z-]+)(=.*)?$/.exec(a);
    if (m !== null && names.has(m[1] ?? '')) {
      mine.push(a);
      if (m[2] === undefined) {
        const v = argv[i + 1];
        if (v === undefined) throw new UsageError(`--${m[1] ?? ''}: missing value`);
        mine.push(v);
        i++;
      }
      continue;
    }
    rest.push(a);
  }
  return { globals: parseFlags(mine, GLOBAL_FLAGS), rest };
}

/** Runs the CLI; returns the exit code. Never throws for user errors. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const fail = (msg: string, code = 2): number => {
    io.stderr.write(`nvmelab: ${msg}\n`);
    return code;
  };
  // `device` passes everything through untouched (QEMU-style -device options).
  if (argv[0] === 'device') return runDevice(argv.slice(1));
  let globals: Parsed;
  let rest: string[];
  try {
    ({ globals, rest } = extractGlobals(argv));
  } catch (e) {
    if (e instanceof UsageError) return fail(e.message);
    throw e;
  }
  if (rest[0] === '--version') {
    io.stdout.write(`nvmelab ${VERSION}\n`);
    return 0;
  }
  if (rest.length === 0 || rest[0] === '--help' || rest[0] === '-h') {
    (rest.length === 0 ? io.stderr : io.stdout).write(mainUsage());
    return rest.length === 0 ? 2 : 0;
  }
  if (rest[0] === 'help') {
    const f = findCommand(rest.slice(1));
    if (rest.length === 1) io.stdout.write(mainUsage());
    else if (f === undefined) return fail(`help: unknown command '${rest.slice(1).join(' ')}'`);
    else io.stdout.write('group' in f ? groupHelp(f.group) : commandHelp(f.cmd));
    return 0;
  }
  const found = findCommand(rest);
  if (found === undefined) return fail(`unknown command '${rest[0] ?? ''}' (see nvmelab --help)`);
  if ('group' in found) {
    const sub = rest[1];
    if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
      (sub === undefined ? io.stderr : io.stdout).write(groupHelp(found.group));
      return sub === undefined ? 2 : 0;
    }
    return fail(`${found.group}: unknown subcommand '${sub}' (see nvmelab ${found.group} --help)`);
  }
  const { cmd } = found;
  const level = getStr(globals, 'log-level') ?? io.env.NVMELAB_LOG_LEVEL ?? 'warn';
  const logger = createLogger('nvmelab', isLogLevel(level) ? level : 'warn');

  if (cmd.name === 'host') {
    // The host command takes --null itself; give it back the globals it shares.
    return runHostCommand([...globalsBack(globals), ...found.rest], io, logger);
  }

  let parsed: Parsed;
  if (cmd.rawArgs === true) {
    parsed = { flags: new Map(), positionals: found.rest };
  } else {
    if (found.rest.includes('--help') || found.rest.includes('-h')) {
      io.stdout.write(commandHelp(cmd));
      return 0;
    }
    try {
      parsed = parseFlags(found.rest, cmd.flags);
      const { min, max, names } = cmd.args;
      if (parsed.positionals.length < min) throw new UsageError(`${cmd.name}: missing ${names[parsed.positionals.length] ?? 'argument'}`);
      if (parsed.positionals.length > max) throw new UsageError(`${cmd.name}: unexpected argument '${parsed.positionals[max] ?? ''}'`);
      cmd.check?.(parsed);
    } catch (e) {
      if (e instanceof UsageError) return fail(e.message.startsWith(cmd.name) ? e.message : `${cmd.name}: ${e.message}`);
      throw e;
    }
  }
  if (cmd.name === 'fio') {
    if (parsed.positionals.some((a) => a === '--help' || a === '-h' || a === '--version' || a.startsWith('--cmdhelp'))) return runFioCommand(parsed.positionals, undefined, io);
    const bad = checkFioArgs(parsed.positionals, io);
    if (bad !== undefined) return fail(bad);
  }
  // One-shot host options are checked before anything starts.
  try {
    for (const n of getList(globals, 'null')) {
      try {
        parseNullSpec(n);
      } catch (e) {
        throw new UsageError(`--null ${n}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    for (const d of getList(globals, 'device')) checkWsUrl(d, '--device');
  } catch (e) {
    if (e instanceof UsageError) return fail(e.message);
    throw e;
  }
  let api: HostApi | undefined;
  try {
    if (!LOCAL.has(cmd.name)) {
      api = await openHost({
        host: getStr(globals, 'host'), token: getStr(globals, 'token'), tokenFile: getStr(globals, 'token-file'),
        devices: getList(globals, 'device'), nulls: getList(globals, 'null'), logger, env: io.env,
      });
    }
    return await cmd.run(parsed, api ?? noHost(), io);
  } catch (e) {
    if (e instanceof NoHostError || e instanceof UsageError) return fail(e.message, e instanceof UsageError ? 2 : 1);
    if (e instanceof ControlError) return fail(`${cmd.name}: ${e.message}`, 1);
    return fail(`${cmd.name}: ${e instanceof Error ? e.message : String(e)}`, 1);
  } finally {
    await api?.close().catch(() => undefined);
  }
}

/** ws:// or wss:// URL (a #TOKEN fragment allowed). */
export function checkWsUrl(u: string, flag: string): void {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new UsageError(`${flag} ${u}: not a URL (ws://HOST:PORT/)`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new UsageError(`${flag} ${u}: expected ws:// or wss://`);
}

function globalsBack(g: Parsed): string[] {
  const out: string[] = [];
  for (const [k, v] of g.flags) {
    if (k === 'device') for (const d of Array.isArray(v) ? v : []) out.push('--attach', d);
    else if (Array.isArray(v)) for (const x of v) out.push(`--${k}`, x);
    else out.push(`--${k}`, String(v));
  }
  return out;
}

function noHost(): HostApi {
  const no = (): never => {
    throw new NoHostError('this command needs a host');
  };
  return { embedded: true, execute: () => Promise.reject(new NoHostError('this command needs a host')), onEvent: no, close: () => Promise.resolve() };
}

/** `nvmelab device …` = node --import tsx device/main.ts …, signals forwarded. */
function runDevice(args: readonly string[]): Promise<number> {
  return new Promise((res) => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'device/main.ts'), ...args], { stdio: 'inherit', cwd: process.cwd() });
    const fwd = (sig: NodeJS.Signals) => (): void => {
      child.kill(sig);
    };
    const onInt = fwd('SIGINT');
    const onTerm = fwd('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    child.on('exit', (code, sig) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      res(code ?? (sig !== null ? 128 + 2 : 1));
    });
    child.on('error', () => res(1));
  });
}
