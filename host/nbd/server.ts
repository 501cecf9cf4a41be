// The NBD server: listeners (TCP, loopback unless allowed otherwise; UNIX
// sockets), the export table, the connection limit and shutdown.
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { unlinkSync, existsSync, lstatSync } from 'node:fs';
import type { Logger } from '../../src/util/log.ts';
import { silentLogger } from '../../src/util/log.ts';
import { NbdConnection, type ConnectionHost, type NbdCounters, type ConnectionLimits } from './connection.ts';
import { NbdExport, type NbdExportOptions } from './export.ts';
import { NBD_DEFAULT_PORT } from './protocol.ts';

/** Where to listen: TCP host:port, or a UNIX socket path. */
export type NbdListenAddress =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string };

/**
 * Parse a listen spec:
 * - `127.0.0.1:10809`, `[::1]:0`, `localhost:10809`, `:10809` (loopback), `10809`
 * - `unix:/path/to/sock` or an absolute path `/path/to/sock`
 * - `nbd://127.0.0.1:10809[/…]`, `nbd+unix:///…?socket=/path`
 */
export function parseListen(spec: string): NbdListenAddress {
  const s = spec.trim();
  if (s.startsWith('unix:')) return unixAddr(s.slice(5));
  if (s.startsWith('/')) return unixAddr(s);
  if (s.startsWith('nbd+unix://')) {
    const u = new URL(s);
    const p = u.searchParams.get('socket');
    if (!p) throw new Error(`listen address '${spec}': nbd+unix URI without ?socket=`);
    return unixAddr(p);
  }
  if (s.startsWith('nbd://')) {
    const u = new URL(s);
    return tcpAddr(u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1', u.port === '' ? String(NBD_DEFAULT_PORT) : u.port, spec);
  }
  if (/^\d+$/.test(s)) return tcpAddr('127.0.0.1', s, spec);
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(s);
  if (!m) throw new Error(`listen address '${spec}': expected host:port, [v6]:port, unix:/path or an absolute path`);
  return tcpAddr(m[1] ?? (m[2] === '' || m[2] === undefined ? '127.0.0.1' : m[2]), m[3] as string, spec);
}

function unixAddr(path: string): NbdListenAddress {
  if (path === '' || path.includes('\0')) throw new Error(`bad UNIX socket path '${path}'`);
  return { kind: 'unix', path };
}
function tcpAddr(host: string, port: string, spec: string): NbdListenAddress {
  const n = Number(port);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`listen address '${spec}': bad port`);
  return { kind: 'tcp', host, port: n };
}

/** True for addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  const v = isIP(host);
  if (v === 4) return host.startsWith('127.');
  if (v === 6) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}

/** The standard URI for an export (as qemu, libnbd and nbdkit print them). */
export function formatNbdUri(addr: NbdListenAddress, exportName: string): string {
  const name = encodeURIComponent(exportName).replace(/%2F/gi, '/');
  if (addr.kind === 'unix') return `nbd+unix:///${name}?socket=${addr.path}`;
  const host = isIP(addr.host) === 6 ? `[${addr.host}]` : addr.host;
  return `nbd://${host}:${addr.port}/${name}`;
}

export interface NbdServerOptions {
  /** One or more listen specs (see parseListen). Default `127.0.0.1:10809`. */
  listen?: string | readonly string[];
  /** Exports available from the start. More can be added with addExport. */
  exports?: readonly NbdExportOptions[];
  /** Make every export read-only regardless of its own setting. */
  readOnly?: boolean;
  /** Simultaneous connections (handshake included); further ones are closed at once. Default 16. */
  maxConnections?: number;
  /** Permit a non-loopback TCP address. Off by default: NBD has no authentication. */
  allowRemote?: boolean;
  /** Requests in flight per connection before reading pauses. Default 256. */
  maxInflightPerConnection?: number;
  /** Queued reply bytes per connection before reading pauses. Default 64 MiB. */
  maxQueuedReplyBytes?: number;
  /** Handshake time limit in ms. Default 10000. */
  handshakeTimeoutMs?: number;
  /** Name of the export an empty export name ("default export") means. Default: the first export. */
  defaultExport?: string;
  logger?: Logger;
}

export interface NbdServerStats extends NbdCounters {
  connections: number;
  totalConnections: number;
  rejectedConnections: number;
  exports: string[];
}

export interface NbdServer {
  /** One URI per (listener, export), e.g. `nbd://127.0.0.1:10809/nullb0`. */
  readonly uris: string[];
  /** The bound addresses (real ports when 0 was asked for). */
  readonly addresses: NbdListenAddress[];
  /** URIs of one export on every listener. */
  urisFor(exportName: string): string[];
  /** Add an export; throws if the name is taken. */
  addExport(opts: NbdExportOptions): void;
  /** Remove an export: new handshakes no longer see it; attached connections drain and close. */
  removeExport(name: string): Promise<void>;
  stats(): NbdServerStats;
  /** Stop listening; let in-flight requests finish and close every connection. Idempotent. */
  close(): Promise<void>;
}

class NbdServerImpl implements NbdServer, ConnectionHost {
  readonly log: Logger;
  readonly counters: NbdCounters = { requests: 0, errors: 0, bytesRead: 0, bytesWritten: 0, protocolErrors: 0 };
  readonly addresses: NbdListenAddress[] = [];
  private readonly exportsByName = new Map<string, NbdExport>();
  private readonly conns = new Set<NbdConnection>();
  private readonly listeners: Server[] = [];
  private readonly unixPaths: string[] = [];
  private readonly limits: ConnectionLimits;
  private readonly maxConnections: number;
  private readonly forceReadOnly: boolean;
  private defaultExport: string | undefined;
  private nextId = 1;
  private nextCpu = 0;
  private totalConnections = 0;
  private rejectedConnections = 0;
  private closing: Promise<void> | undefined;
  private readonly closeWaiters = new Set<() => void>();

  constructor(opts: NbdServerOptions) {
    this.log = opts.logger ?? silentLogger;
    this.maxConnections = opts.maxConnections ?? 16;
    if (!Number.isInteger(this.maxConnections) || this.maxConnections < 1) throw new RangeError('maxConnections must be a positive integer');
    this.forceReadOnly = opts.readOnly ?? false;
    this.defaultExport = opts.defaultExport;
    this.limits = {
      maxInflight: opts.maxInflightPerConnection ?? 256,
      maxQueuedReplyBytes: opts.maxQueuedReplyBytes ?? 64 * 1024 * 1024,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 10_000,
    };
    for (const e of opts.exports ?? []) this.addExport(e);
  }

  get uris(): string[] {
    const out: string[] = [];
    for (const a of this.addresses) for (const name of this.exportsByName.keys()) out.push(formatNbdUri(a, name));
    return out;
  }

  urisFor(exportName: string): string[] {
    return this.addresses.map((a) => formatNbdUri(a, exportName));
  }

  addExport(opts: NbdExportOptions): void {
    if (this.exportsByName.has(opts.name)) throw new Error(`NBD export '${opts.name}' already exists`);
    const exp = new NbdExport({ ...opts, readOnly: (opts.readOnly ?? false) || this.forceReadOnly });
    this.exportsByName.set(opts.name, exp);
    this.log.info({ export: opts.name, size: exp.size, readOnly: exp.readOnly }, 'nbd export added');
  }

  async removeExport(name: string): Promise<void> {
    const exp = this.exportsByName.get(name);
    if (!exp) throw new Error(`no NBD export '${name}'`);
    this.exportsByName.delete(name);
    exp.removed = true;
    const attached = [...this.conns].filter((c) => c.exp === exp);
    for (const c of attached) c.shutdown();
    await this.waitFor(() => attached.every((c) => !c.isOpen));
    this.log.info({ export: name }, 'nbd export removed');
  }

  findExport(name: string): NbdExport | undefined {
    if (name === '') {
      if (this.defaultExport !== undefined) return this.exportsByName.get(this.defaultExport);
      return this.exportsByName.values().next().value;
    }
    return this.exportsByName.get(name);
  }

  listExports(): readonly NbdExport[] { return [...this.exportsByName.values()]; }

  stats(): NbdServerStats {
    return {
      ...this.counters,
      connections: this.conns.size,
      totalConnections: this.totalConnections,
      rejectedConnections: this.rejectedConnections,
      exports: [...this.exportsByName.keys()],
    };
  }

  connectionClosed(conn: NbdConnection): void {
    this.conns.delete(conn);
    this.log.debug({ conn: conn.id }, 'nbd connection closed');
    for (const w of [...this.closeWaiters]) w();
  }

  async listen(specs: readonly string[], allowRemote: boolean): Promise<void> {
    const addrs = specs.map(parseListen);
    for (const a of addrs) {
      if (a.kind === 'tcp' && !allowRemote && !isLoopbackHost(a.host)) {
        throw new Error(`refusing to listen on non-loopback address ${a.host} without allowRemote (NBD has no authentication)`);
      }
    }
    try {
      for (const a of addrs) await this.listenOne(a);
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  private async listenOne(a: NbdListenAddress): Promise<void> {
    const srv = createServer({ noDelay: true }, (sock) => this.onConnection(sock));
    if (a.kind === 'unix') removeStaleSocket(a.path);
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      if (a.kind === 'tcp') srv.listen(a.port, a.host, () => { srv.off('error', reject); resolve(); });
      else srv.listen(a.path, () => { srv.off('error', reject); resolve(); });
    });
    srv.on('error', (err) => this.log.error({ err: err.message }, 'nbd listener error'));
    this.listeners.push(srv);
    if (a.kind === 'unix') {
      this.unixPaths.push(a.path);
      this.addresses.push(a);
    } else {
      const bound = srv.address();
      const port = typeof bound === 'object' && bound !== null ? bound.port : a.port;
      this.addresses.push({ kind: 'tcp', host: a.host, port });
    }
  }

  private onConnection(sock: Socket): void {
    const remote = sock.remoteAddress !== undefined ? `${sock.remoteAddress}:${sock.remotePort ?? ''}` : 'unix';
    if (this.closing) { sock.destroy(); return; }
    if (this.conns.size >= this.maxConnections) {
      this.rejectedConnections++;
      this.log.warn({ remote, limit: this.maxConnections }, 'nbd connection limit reached, closing new connection');
      sock.destroy();
      return;
    }
    this.totalConnections++;
    // Each connection submits on its own logical CPU, round-robin, like
    // separate client threads would land on different CPUs.
    const cpu = this.nextCpu++;
    const conn = new NbdConnection(sock, this, this.limits, this.nextId++, cpu, remote);
    this.conns.add(conn);
    this.log.debug({ conn: conn.id, remote }, 'nbd connection accepted');
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // Stop accepting first; net.Server.close's callback only fires once every
      // connection is gone, so collect it after shutting the connections down.
      const stopped = Promise.all(this.listeners.map((l) => new Promise<void>((r) => l.close(() => r()))));
      for (const c of this.conns) c.shutdown();
      await this.waitFor(() => this.conns.size === 0, 5000);
      for (const c of this.conns) c.destroy();
      await stopped;
      for (const p of this.unixPaths) removeStaleSocket(p);
    })();
    return this.closing;
  }

  /** Resolve when `cond` holds (checked on every connection close), or after `timeoutMs`. */
  private waitFor(cond: () => boolean, timeoutMs?: number): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        if (!cond()) return;
        this.closeWaiters.delete(check);
        if (timer) clearTimeout(timer);
        resolve();
      };
      this.closeWaiters.add(check);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => { this.closeWaiters.delete(check); resolve(); }, timeoutMs);
        timer.unref();
      }
    });
  }
}

function removeStaleSocket(path: string): void {
  try {
    if (existsSync(path) && lstatSync(path).isSocket()) unlinkSync(path);
  } catch { /* not ours to remove, or already gone: listen() reports the real problem */ }
}

/** Start an NBD server; resolves once every listener is bound. */
export async function startNbdServer(opts: NbdServerOptions = {}): Promise<NbdServer> {
  const server = new NbdServerImpl(opts);
  const listen = opts.listen === undefined ? [`127.0.0.1:${NBD_DEFAULT_PORT}`] : typeof opts.listen === 'string' ? [opts.listen] : opts.listen;
  if (listen.length === 0) throw new Error('startNbdServer: no listen address');
  await server.listen(listen, opts.allowRemote ?? false);
  return server;
}
