// The daemon's network side: one HTTP(S) server, WebSocket upgrades on `/`
// (the device channel, subprotocol nvmelab.v1) and `/control` (QMP-style
// JSON). Token auth at the upgrade (PROTOCOL.md "Transport": Authorization:
// Bearer or ?token=, else HTTP 401 and no WebSocket). One host at a time
// (4409); after device-remove every host connection is closed with 4410
// until device-add.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../../src/util/log.ts';
import { Channel } from '../../src/protocol/channel.ts';
import { CloseCode, DEFAULT_MAX_FRAME, SUBPROTOCOL } from '../../src/protocol/messages.ts';
import { webSocketServerOptions, wrapWebSocket } from '../../src/protocol/transport.ts';
import { presentsToken, refuseUpgrade as refuse, tokenDigest, upgradeUrl } from '../../src/protocol/upgrade.ts';
import type { PciFunction } from '../pci/function.ts';
import type { ControlRegistry } from '../../src/control/commands.ts';
import { QmpSession } from '../../src/control/qmp.ts';

export interface DeviceServerOptions {
  host: string;
  port: number;
  /** Required token; undefined = no authentication (loopback only, checked by the caller). */
  token: string | undefined;
  /** PEM certificate and key: serve wss://. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  fn: PciFunction;
  control: ControlRegistry;
  log: Logger;
  /** Largest frame the device accepts (default 1 MiB). */
  maxFrame?: number;
}

/** A host that has not said hello by then is closed with 4400 (it would hold the device busy forever). */
export const HELLO_TIMEOUT_MS = 10_000;

export type DeviceState = 'running' | 'removed' | 'shutting-down';

export class DeviceServer {
  private readonly http: Server;
  private readonly deviceWss: WebSocketServer;
  private readonly controlWss: WebSocketServer;
  private readonly tokenDigest: Buffer | undefined;
  private hostChannel: Channel | undefined;
  private hostRemote = '';
  private state: DeviceState = 'running';
  private readonly log: Logger;
  readonly scheme: 'ws' | 'wss';
  readonly counters = { hostConnections: 0, busyRefused: 0, removedRefused: 0, unauthorized: 0, controlConnections: 0 };

  constructor(private readonly opts: DeviceServerOptions) {
    this.log = opts.log.child({ component: 'server' });
    this.tokenDigest = opts.token === undefined ? undefined : tokenDigest(opts.token);
    this.scheme = opts.tls === undefined ? 'ws' : 'wss';
    const onRequest = (_req: IncomingMessage, res: ServerResponse): void => {
      res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
      res.end(`nvmelab device daemon: connect with a WebSocket (subprotocol ${SUBPROTOCOL}) to / or /control\n`);
    };
    this.http = opts.tls === undefined ? createHttpServer(onRequest) : createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest);
    const maxFrame = opts.maxFrame ?? DEFAULT_MAX_FRAME;
    this.deviceWss = new WebSocketServer({ ...webSocketServerOptions({ maxFrame }), noServer: true });
    this.controlWss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1 << 20 });
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.http.on('clientError', (_e, socket) => socket.destroy());
  }

  /** Listen; resolves with the bound address (port 0 → the real port). */
  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.opts.port, this.opts.host, () => {
        this.http.off('error', reject);
        const a = this.http.address() as AddressInfo;
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  /** The `listening ws://HOST:PORT/` line. */
  static readyLine(scheme: string, host: string, port: number): string {
    const h = host.includes(':') ? `[${host}]` : host;
    return `listening ${scheme}://${h}:${port}/`;
  }

  get status(): { state: DeviceState; hostConnected: boolean; hostRemote: string | null } {
    return { state: this.state, hostConnected: this.hostChannel !== undefined, hostRemote: this.hostChannel === undefined ? null : this.hostRemote };
  }

  /** Hot-unplug (PROTOCOL.md "Removal"): close the host with 4410 and refuse hosts until add(). */
  remove(reason = 'device removed'): boolean {
    if (this.state !== 'running') return false;
    this.state = 'removed';
    this.log.info({ reason }, 'device removed');
    this.opts.fn.disconnect(CloseCode.removed, reason);
    this.opts.control.emit('DEVICE_DELETED', { device: this.opts.fn.model.name, reason });
    return true;
  }

  /** Plug the device back in. */
  add(): boolean {
    if (this.state !== 'removed') return false;
    this.state = 'running';
    this.log.info('device added');
    this.opts.control.emit('DEVICE_ADDED', { device: this.opts.fn.model.name });
    return true;
  }

  /** Stop accepting, say bye to the host, close control sessions and the listener. */
  async close(reason = 'daemon shutting down'): Promise<void> {
    this.state = 'shutting-down';
    const ch = this.hostChannel;
    if (ch !== undefined && ch.open) ch.bye(reason);
    for (const ws of this.controlWss.clients) ws.close(1001, 'shutting down');
    for (const ws of this.deviceWss.clients) ws.close(1001, 'shutting down');
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      // Give sockets a moment to finish the close handshake, then drop them.
      setTimeout(() => {
        for (const ws of this.controlWss.clients) ws.terminate();
        for (const ws of this.deviceWss.clients) ws.terminate();
        this.http.closeAllConnections?.();
      }, 200).unref();
    });
  }

  private authorized(req: IncomingMessage, url: URL): boolean {
    return this.tokenDigest === undefined || presentsToken(req, url, this.tokenDigest);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const url = upgradeUrl(req);
    if (url === undefined) return refuse(socket, 400, 'Bad Request');
    const path = url.pathname;
    if (path !== '/' && path !== '/control') return refuse(socket, 404, 'Not Found');
    if (!this.authorized(req, url)) {
      this.counters.unauthorized++;
      this.log.warn({ remote: req.socket.remoteAddress, path }, 'connection refused: missing or wrong token (401)');
      return refuse(socket, 401, 'Unauthorized', 'WWW-Authenticate: Bearer realm="nvmelab"\r\n');
    }
    if (this.state === 'shutting-down') return refuse(socket, 503, 'Service Unavailable');
    if (path === '/control') {
      this.controlWss.handleUpgrade(req, socket, head, (ws) => this.onControl(ws, req));
      return;
    }
    this.deviceWss.handleUpgrade(req, socket, head, (ws) => this.onHost(ws, req));
  }

  private onControl(ws: WebSocket, req: IncomingMessage): void {
    this.counters.controlConnections++;
    this.log.debug({ remote: req.socket.remoteAddress }, 'control client connected');
    new QmpSession(ws, this.opts.control, this.log.child({ component: 'control' }));
  }

  private onHost(ws: WebSocket, req: IncomingMessage): void {
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    if (this.state === 'removed') {
      this.counters.removedRefused++;
      this.log.info({ remote }, 'host refused: device removed (4410)');
      ws.close(CloseCode.removed, 'device removed');
      return;
    }
    if (this.state !== 'running') {
      ws.close(1001, 'shutting down');
      return;
    }
    if (this.hostChannel !== undefined || this.opts.fn.connected) {
      this.counters.busyRefused++;
      this.log.info({ remote }, 'host refused: another host is attached (4409)');
      ws.close(CloseCode.busy, 'busy: another host is attached');
      return;
    }
    this.counters.hostConnections++;
    const fn = this.opts.fn;
    const ch = new Channel(wrapWebSocket(ws), {
      side: 'device',
      logger: this.log,
      maxFrame: this.opts.maxFrame ?? DEFAULT_MAX_FRAME,
      info: () => fn.info(),
    });
    this.hostChannel = ch;
    this.hostRemote = remote;
    fn.bind(ch);
    const helloTimer = setTimeout(() => {
      if (ch.session === undefined && ch.open) {
        this.log.warn({ remote }, `no hello within ${HELLO_TIMEOUT_MS} ms: closing (4400)`);
        ch.close(CloseCode.protocolError, 'no hello');
      }
    }, HELLO_TIMEOUT_MS);
    helloTimer.unref();
    ch.onHello((_m, r) => {
      clearTimeout(helloTimer);
      this.log.info({ remote, maxFrame: r.maxFrame }, 'host attached');
      this.opts.control.emit('HOST_CONNECTED', { remote, maxFrame: r.maxFrame });
    });
    ch.onClose((code, reason) => {
      clearTimeout(helloTimer);
      if (this.hostChannel === ch) this.hostChannel = undefined;
      this.log.info({ remote, code, reason }, 'host connection closed');
      this.opts.control.emit('HOST_DISCONNECTED', { remote, code, reason });
    });
  }
}
