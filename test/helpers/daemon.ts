// Start a device daemon as a separate process for integration tests:
// port 0, parent-death watchdog (stdin pipe + --exit-on-stdin-eof, so an ava
// timeout never leaves an orphan), ready line parsed from stdout, stderr kept
// for failure messages. Plus `qmp()`, a tiny client for the control channel.
//
//   const dev = await startDevice({ args: ['-device', 'edu'], token: 't0k' });
//   t.teardown(() => dev.stop());
//   const ctl = await qmp(dev.controlUrl, dev.token);
//   await ctl.execute('query-status');
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { WebSocket } from 'ws';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface StartDeviceOptions {
  /** Extra daemon arguments, e.g. ['-device', 'nvme,serial=x', '-device', 'nvme-ns,nsid=1,size=64M']. */
  args?: string[];
  /** Token the daemon requires (passed as NVMELAB_TOKEN). Default: none (loopback, no auth). */
  token?: string;
  /** Extra environment. */
  env?: Record<string, string>;
  /** How long to wait for the ready line (default 20 s). */
  readyTimeoutMs?: number;
}

export interface DeviceDaemon {
  /** Device channel, e.g. ws://127.0.0.1:41234/ */
  url: string;
  /** Control channel, e.g. ws://127.0.0.1:41234/control */
  controlUrl: string;
  /** The token in force ('' when none). */
  token: string;
  proc: ChildProcess;
  /** Everything the daemon wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (null if killed by a signal) once the process exits. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5 s); resolves with the exit code. Idempotent. */
  stop(graceMs?: number): Promise<number | null>;
}

/** Spawn `node --import tsx device/main.ts --listen 127.0.0.1:0 --exit-on-stdin-eof ...args`. */
export function startDevice(opts: StartDeviceOptions = {}): Promise<DeviceDaemon> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), ...(opts.env ?? {}) };
  delete env.NVMELAB_TOKEN;
  if (opts.token !== undefined) env.NVMELAB_TOKEN = opts.token;
  if (opts.env?.NVMELAB_TOKEN !== undefined) env.NVMELAB_TOKEN = opts.env.NVMELAB_TOKEN;
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', 'device/main.ts', '--listen', '127.0.0.1:0', '--exit-on-stdin-eof', ...(opts.args ?? [])],
    { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let err = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (s: string) => {
    err += s;
  });
  const exited = new Promise<number | null>((res) => {
    proc.once('exit', (code) => res(code));
  });
  let stopping: Promise<number | null> | undefined;
  const stop = (graceMs = 5000): Promise<number | null> => {
    if (stopping !== undefined) return stopping;
    stopping = (async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      proc.stdin?.destroy();
      return code;
    })();
    return stopping;
  };

  return new Promise<DeviceDaemon>((resolvePromise, reject) => {
    let out = '';
    let done = false;
    const timer = setTimeout(() => {
      fail(new Error(`device daemon not ready within ${opts.readyTimeoutMs ?? 20000} ms; stderr:\n${err}`));
    }, opts.readyTimeoutMs ?? 20000);
    const fail = (e: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      void stop(500);
      reject(e);
    };
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (s: string) => {
      if (done) return;
      out += s;
      const m = /^listening (wss?):\/\/([^/\s]+)\/\s*$/m.exec(out);
      if (m === null) return;
      done = true;
      clearTimeout(timer);
      const base = `${m[1]}://${m[2]}`;
      resolvePromise({
        url: `${base}/`,
        controlUrl: `${base}/control`,
        token: opts.token ?? opts.env?.NVMELAB_TOKEN ?? '',
        proc,
        stderr: () => err,
        exited,
        stop,
      });
    });
    proc.once('error', (e) => fail(e));
    proc.once('exit', (code, sig) => fail(new Error(`device daemon exited (${code ?? sig}) before ready; stderr:\n${err}`)));
  });
}

/** One QMP reply or event, as parsed JSON. */
export type QmpMessage = Record<string, unknown>;

export interface QmpClient {
  /** The greeting (`{"QMP": {...}}`). */
  greeting: QmpMessage;
  /** Run a command; resolves with `return`, rejects with Error(`${class}: ${desc}`) carrying `.errorClass`. */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown>;
  /** Send raw text (for malformed-input tests) and wait for the next non-event message. */
  raw(text: string): Promise<QmpMessage>;
  /** Events received so far. */
  events: QmpMessage[];
  /** Resolves with the next event named `name` (or an already received one not yet waited for). */
  waitEvent(name: string, timeoutMs?: number): Promise<QmpMessage>;
  /** Close code once closed. */
  closed: Promise<number>;
  close(): void;
}

/** Connect to the control channel, read the greeting, negotiate capabilities (unless `negotiate: false`). */
export async function qmp(controlUrl: string, token = '', opts: { negotiate?: boolean } = {}): Promise<QmpClient> {
  const headers: Record<string, string> = {};
  if (token !== '') headers.authorization = `Bearer ${token}`;
  const ws = new WebSocket(controlUrl, { headers, perMessageDeflate: false });
  const queue: QmpMessage[] = [];
  const waiters: ((m: QmpMessage) => void)[] = [];
  const events: QmpMessage[] = [];
  const eventWaiters: { name: string; cb: (m: QmpMessage) => void }[] = [];
  const consumed = new Set<QmpMessage>();
  let closeCode: (c: number) => void = () => {};
  const closed = new Promise<number>((r) => {
    closeCode = r;
  });
  ws.on('message', (data) => {
    let m: QmpMessage;
    try {
      m = JSON.parse(String(data)) as QmpMessage;
    } catch {
      return;
    }
    if (typeof m.event === 'string') {
      events.push(m);
      const i = eventWaiters.findIndex((w) => w.name === m.event);
      if (i >= 0) {
        const [w] = eventWaiters.splice(i, 1);
        consumed.add(m);
        w?.cb(m);
      }
      return;
    }
    const w = waiters.shift();
    if (w !== undefined) w(m);
    else queue.push(m);
  });
  ws.on('close', (code) => {
    closeCode(code);
    const err = { error: { class: 'GenericError', desc: `control channel closed (${code})` } };
    for (const w of waiters.splice(0)) w(err);
  });
  const next = (): Promise<QmpMessage> =>
    new Promise((res) => {
      const m = queue.shift();
      if (m !== undefined) res(m);
      else if (ws.readyState === WebSocket.CLOSED) res({ error: { class: 'GenericError', desc: 'control channel closed' } });
      else waiters.push(res);
    });
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
    ws.once('unexpected-response', (_req, r) => rej(new Error(`control channel: HTTP ${r.statusCode ?? 0}`)));
  });
  const greeting = await next();
  let seq = 0;
  const execute = async (command: string, args?: Record<string, unknown>): Promise<unknown> => {
    const id = `c${++seq}`;
    const msg: Record<string, unknown> = { execute: command, id };
    if (args !== undefined) msg.arguments = args;
    ws.send(JSON.stringify(msg));
    const r = await next();
    if (r.error !== undefined) {
      const e = r.error as { class?: string; desc?: string };
      throw Object.assign(new Error(`${e.class ?? '?'}: ${e.desc ?? '?'}`), { errorClass: e.class });
    }
    return r.return;
  };
  const client: QmpClient = {
    greeting,
    execute,
    raw: (text) => {
      ws.send(text);
      return next();
    },
    events,
    waitEvent: (name, timeoutMs = 10000) =>
      new Promise((res, rej) => {
        const have = events.find((e) => e.event === name && !consumed.has(e));
        if (have !== undefined) {
          consumed.add(have);
          res(have);
          return;
        }
        const timer = setTimeout(() => rej(new Error(`no ${name} event within ${timeoutMs} ms`)), timeoutMs);
        eventWaiters.push({
          name,
          cb: (m) => {
            clearTimeout(timer);
            res(m);
          },
        });
      }),
    closed,
    close: () => ws.close(),
  };
  if (opts.negotiate ?? true) await execute('qmp_capabilities');
  return client;
}
