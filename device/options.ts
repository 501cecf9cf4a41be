// The daemon's command line. Every flag is in DAEMON_FLAGS with its meaning
// and default (printed by --help); every error is one line naming the flag
// (main exits 2). QEMU spellings are accepted: `-device X`, `--device X`,
// `-device=X`, `--device=X`. Other modules may add flags with
// registerDaemonFlag (e.g. the fault engine's --fixture / --fault-plan); their
// values arrive in DaemonOptions.extra.
import { readFileSync } from 'node:fs';
import { isLogLevel, LOG_LEVELS } from '../src/util/log.ts';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7870;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface DaemonFlag {
  /** Long name without dashes, e.g. 'listen'. */
  readonly name: string;
  /** Placeholder for the value; undefined for a boolean switch. */
  readonly value?: string;
  /** May be given more than once (values kept in order). */
  readonly repeatable?: boolean;
  /** Shown in --help. */
  readonly default?: string;
  readonly doc: string;
  /** Also accepted with a single dash (QEMU style). */
  readonly singleDash?: boolean;
}

export const DAEMON_FLAGS: DaemonFlag[] = [
  { name: 'listen', value: 'HOST:PORT', default: `${DEFAULT_HOST}:${DEFAULT_PORT}`, doc: 'address to listen on; port 0 picks a free port. A non-loopback host needs a token' },
  { name: 'device', value: 'NAME,k=v,...', repeatable: true, singleDash: true, default: 'nvme (edu if nvme is not built in)', doc: 'the PCI function to serve, QEMU-style; children such as nvme-ns follow their parent (see --help-devices)' },
  { name: 'token', value: 'TOKEN', doc: 'require this token (Authorization: Bearer TOKEN or ?token=TOKEN); default: NVMELAB_TOKEN, else none on loopback' },
  { name: 'token-file', value: 'FILE', doc: 'read the token from FILE (first line)' },
  { name: 'tls-cert', value: 'FILE', doc: 'PEM certificate: serve wss:// (needs --tls-key)' },
  { name: 'tls-key', value: 'FILE', doc: 'PEM private key for --tls-cert' },
  { name: 'log-level', value: 'LEVEL', default: 'warn (or NVMELAB_LOG_LEVEL)', doc: `log level on stderr: ${LOG_LEVELS.join('|')}` },
  { name: 'exit-on-stdin-eof', doc: 'exit when stdin closes (parent-death watchdog for tests and scripts)' },
  { name: 'help', doc: 'show this help and exit' },
  { name: 'help-devices', doc: 'show every device type with its options, defaults and meaning, and exit' },
];

/** Add a daemon flag (call at module load, before main parses). */
export function registerDaemonFlag(f: DaemonFlag): void {
  if (DAEMON_FLAGS.some((x) => x.name === f.name)) throw new Error(`daemon flag --${f.name} is already registered`);
  DAEMON_FLAGS.push(f);
}

export interface DaemonOptions {
  host: string;
  port: number;
  /** -device values in order. */
  devices: string[];
  /** The token in force (flag > file > NVMELAB_TOKEN), or undefined. */
  token: string | undefined;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  logLevel: string;
  exitOnStdinEof: boolean;
  help: boolean;
  helpDevices: boolean;
  /** Values of flags added with registerDaemonFlag ('' for a switch). */
  extra: Map<string, string[]>;
}

/** Parse `HOST:PORT`, `[V6]:PORT`, `:PORT` (default host) or `HOST` (default port). */
export function parseListen(s: string): { host: string; port: number } {
  let host: string;
  let port: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(s);
  if (v6 !== null) {
    host = v6[1] ?? '';
    port = v6[2];
  } else {
    const i = s.lastIndexOf(':');
    if (i >= 0 && s.indexOf(':') !== i) throw new UsageError(`--listen '${s}': write IPv6 addresses as [ADDR]:PORT`);
    host = i < 0 ? s : s.slice(0, i);
    port = i < 0 ? undefined : s.slice(i + 1);
  }
  if (host === '') host = DEFAULT_HOST;
  let p = DEFAULT_PORT;
  if (port !== undefined) {
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw new UsageError(`--listen '${s}': port must be 0..65535`);
    p = Number(port);
  }
  return { host, port: p };
}

/** True for loopback addresses and 'localhost' (safe to serve without a token). */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}

export function parseDaemonArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): DaemonOptions {
  const o: DaemonOptions = {
    host: DEFAULT_HOST,
    port: DEFAULT_PORT,
    devices: [],
    token: undefined,
    tlsCert: undefined,
    tlsKey: undefined,
    logLevel: env.NVMELAB_LOG_LEVEL ?? 'warn',
    exitOnStdinEof: false,
    help: false,
    helpDevices: false,
    extra: new Map(),
  };
  let tokenFlag: string | undefined;
  let tokenFile: string | undefined;
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const m = /^(--?)([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (m === null) throw new UsageError(`unexpected argument '${arg}' (see --help)`);
    const dashes = m[1] ?? '';
    const name = m[2] ?? '';
    const flag = DAEMON_FLAGS.find((f) => f.name === name);
    if (flag === undefined || (dashes === '-' && flag.singleDash !== true)) throw new UsageError(`unknown option '${dashes}${name}' (see --help)`);
    let value: string | undefined = m[3];
    if (flag.value === undefined) {
      if (value !== undefined) throw new UsageError(`--${name} takes no value`);
    } else if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value (${flag.value})`);
    }
    if (flag.repeatable !== true && seen.has(name)) throw new UsageError(`--${name} given twice`);
    seen.add(name);
    const v = value ?? '';
    switch (name) {
      case 'listen': {
        const l = parseListen(v);
        o.host = l.host;
        o.port = l.port;
        break;
      }
      case 'device':
        if (v === '') throw new UsageError('--device needs a value (NAME,k=v,...)');
        o.devices.push(v);
        break;
      case 'token':
        if (v === '') throw new UsageError('--token must not be empty');
        tokenFlag = v;
        break;
      case 'token-file':
        tokenFile = v;
        break;
      case 'tls-cert':
        o.tlsCert = v;
        break;
      case 'tls-key':
        o.tlsKey = v;
        break;
      case 'log-level':
        if (!isLogLevel(v)) throw new UsageError(`--log-level '${v}': expected one of ${LOG_LEVELS.join('|')}`);
        o.logLevel = v;
        break;
      case 'exit-on-stdin-eof':
        o.exitOnStdinEof = true;
        break;
      case 'help':
        o.help = true;
        break;
      case 'help-devices':
        o.helpDevices = true;
        break;
      default: {
        const list = o.extra.get(name) ?? [];
        list.push(v);
        o.extra.set(name, list);
      }
    }
  }
  if (tokenFlag !== undefined && tokenFile !== undefined) throw new UsageError('--token and --token-file: give one of them');
  if (tokenFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(tokenFile, 'utf8');
    } catch (e) {
      throw new UsageError(`--token-file ${tokenFile}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
    const t = (text.split(/\r?\n/)[0] ?? '').trim();
    if (t === '') throw new UsageError(`--token-file ${tokenFile}: the first line is empty`);
    o.token = t;
  } else if (tokenFlag !== undefined) {
    o.token = tokenFlag;
  } else if (env.NVMELAB_TOKEN !== undefined && env.NVMELAB_TOKEN !== '') {
    o.token = env.NVMELAB_TOKEN;
  }
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key must be given together');
  if (!o.help && !o.helpDevices && o.token === undefined && !isLoopback(o.host)) {
    throw new UsageError(`--listen ${o.host}: refusing to serve a non-loopback address without a token (--token, --token-file or NVMELAB_TOKEN)`);
  }
  return o;
}

/** The --help text. */
export function formatUsage(): string {
  const lines = ['usage: node --import tsx device/main.ts [options]', '', 'The nvmelab device daemon: serves one emulated PCI function over a WebSocket.', ''];
  const rows = DAEMON_FLAGS.map((f) => [`${f.singleDash === true ? `-${f.name}, ` : ''}--${f.name}${f.value === undefined ? '' : ` ${f.value}`}`, f.doc + (f.default === undefined ? '' : ` (default: ${f.default})`)]);
  const w = Math.max(...rows.map((r) => (r[0] ?? '').length));
  for (const r of rows) lines.push(`  ${(r[0] ?? '').padEnd(w)}  ${r[1] ?? ''}`);
  lines.push('', 'Prints one line "listening ws://HOST:PORT/" on stdout when ready; logs go to stderr.');
  lines.push('Control channel (QMP-style JSON): ws://HOST:PORT/control.');
  return lines.join('\n');
}
