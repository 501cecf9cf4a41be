// How a CLI command reaches a host: over the control channel of a running
// host (--host URL, NVMELAB_HOST, or the state file a `nvmelab host` wrote),
// or in-process through an embedded HostDaemon built from --device/--null for
// this one run. Both go through the same control commands.
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpError } from '../../src/control/commands.ts';
import { connectControl, ControlError, type QmpEvent } from '../control/client.ts';
import { HostDaemon, splitTokenUrl } from '../daemon/host.ts';
import type { Logger } from '../../src/util/log.ts';

export interface HostApi {
  /** Run a control command; rejects with ControlError (class + message). */
  execute(cmd: string, args?: Record<string, unknown>): Promise<unknown>;
  onEvent(fn: (e: QmpEvent) => void): () => void;
  /**
   * Runs a command without waiting behind the ones in flight: QMP answers a
   * connection's commands strictly in order, so a cancel sent on the same
   * connection would wait for the fio-run it cancels. Remote: a second,
   * short-lived connection. Embedded: same as execute.
   */
  executeNow?(cmd: string, args?: Record<string, unknown>): Promise<unknown>;
  /** Embedded: orderly shutdown of the host. Remote: close the connection. */
  close(): Promise<void>;
  readonly embedded: boolean;
}

/** Default place a running host advertises itself ({url, token, pid}, mode 0600). */
export function defaultStateFile(env: Record<string, string | undefined> = process.env): string {
  if (env.NVMELAB_HOST_STATE !== undefined && env.NVMELAB_HOST_STATE !== '') return env.NVMELAB_HOST_STATE;
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return join(env.XDG_RUNTIME_DIR ?? tmpdir(), `nvmelab-${uid}`, 'host.json');
}

/** The embedded API: control commands run in-process on `host`. */
export function embeddedApi(host: HostDaemon): HostApi {
  return {
    embedded: true,
    execute: async (cmd, args) => {
      try {
        return await host.control.run(cmd, args ?? {});
      } catch (e) {
        if (e instanceof QmpError) throw new ControlError(e.errorClass, e.message);
        throw new ControlError('GenericError', e instanceof Error ? e.message : String(e));
      }
    },
    onEvent: (fn) => host.control.onEvent((event, data) => fn({ event, data })),
    executeNow: async (cmd, args) => {
      try {
        return await host.control.run(cmd, args ?? {});
      } catch (e) {
        if (e instanceof QmpError) throw new ControlError(e.errorClass, e.message);
        throw new ControlError('GenericError', e instanceof Error ? e.message : String(e));
      }
    },
    close: () => host.shutdown('one-shot run finished'),
  };
}

export async function remoteApi(url: string, token: string): Promise<HostApi> {
  const c = await connectControl(url, token);
  return {
    embedded: false,
    execute: (cmd, args) => c.execute(cmd, args),
    onEvent: (fn) => c.onEvent(fn),
    executeNow: async (cmd, args) => {
      const side = await connectControl(url, token);
      try {
        return await side.execute(cmd, args);
      } finally {
        side.close();
      }
    },
    close: async () => {
      c.close();
      await c.closed;
    },
  };
}

export interface ConnectOptions {
  host?: string;
  token?: string;
  tokenFile?: string;
  devices: string[];
  nulls: string[];
  logger: Logger;
  env: Record<string, string | undefined>;
}

export class NoHostError extends Error {}

/** Pick and open the way to a host (embedded when --device/--null are given). */
export async function openHost(o: ConnectOptions): Promise<HostApi> {
  if (o.devices.length > 0 || o.nulls.length > 0) {
    const host = new HostDaemon({ logger: o.logger });
    try {
      for (const d of o.devices) await host.attach(d);
      for (const n of o.nulls) await host.createNull(n);
    } catch (e) {
      await host.shutdown('set-up failed');
      throw e;
    }
    return embeddedApi(host);
  }
  let url = o.host ?? o.env.NVMELAB_HOST;
  let token = o.token ?? (o.tokenFile !== undefined ? readToken(o.tokenFile) : undefined) ?? o.env.NVMELAB_HOST_TOKEN;
  if (url === undefined || url === '') {
    const f = defaultStateFile(o.env);
    if (!existsSync(f)) throw new NoHostError('no running host: start one with `nvmelab host`, or give --host URL, --device URL or --null SPEC');
    try {
      const st = JSON.parse(readFileSync(f, 'utf8')) as { url?: unknown; token?: unknown };
      if (typeof st.url !== 'string' || typeof st.token !== 'string') throw new Error('bad contents');
      url = st.url;
      token ??= st.token;
    } catch (e) {
      throw new NoHostError(`${f}: unreadable host state file (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  const split = splitTokenUrl(url);
  token ??= split.token;
  if (token === undefined) throw new NoHostError(`--host ${split.url}: no token (give --token, --token-file, NVMELAB_HOST_TOKEN or URL#TOKEN)`);
  return remoteApi(split.url, token);
}

export function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new NoHostError(`--token-file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  const t = (text.split('\n')[0] ?? '').trim();
  if (t === '') throw new NoHostError(`--token-file ${file}: the first line is empty`);
  return t;
}
