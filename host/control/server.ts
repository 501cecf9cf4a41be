// The host's control channel: JSON over a WebSocket at ws://HOST:PORT/control,
// QMP framing (greeting → qmp_capabilities → execute/return/error, events)
// shared with the device daemon (device/control/qmp.ts), always token
// authenticated (Authorization: Bearer TOKEN or ?token=TOKEN) and loopback only:
// the channel can attach devices and run workloads, so it is never exposed.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { QmpSession } from '../../src/control/qmp.ts';
import type { ControlRegistry } from '../../src/control/commands.ts';
import type { Logger } from '../../src/util/log.ts';
import { presentsToken, refuseUpgrade as refuse, tokenDigest, upgradeUrl } from '../../src/protocol/upgrade.ts';

export interface ControlServerOptions {
  /** HOST:PORT; host must be loopback. Default 127.0.0.1:0. */
  listen?: string;
  /** Token clients must present; default: 32 random hex digits. */
  token?: string;
  registry: ControlRegistry;
  log: Logger;
}

export interface ControlServer {
  /** ws://HOST:PORT/control */
  readonly url: string;
  readonly token: string;
  readonly counters: { connections: number; unauthorized: number };
  close(): Promise<void>;
}

/** Split HOST:PORT (IPv6 in brackets). Throws Error naming the bad part. */
export function parseHostPort(s: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):([0-9]{1,5})$/.exec(s);
  if (m === null) throw new Error(`${what} ${s}: expected HOST:PORT`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`${what} ${s}: port out of range`);
  return { host: m[1] ?? m[2] ?? '', port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function generateToken(): string {
  return randomBytes(16).toString('hex');
}

export async function startControlServer(o: ControlServerOptions): Promise<ControlServer> {
  const { host, port } = parseHostPort(o.listen ?? '127.0.0.1:0', '--control');
  if (!isLoopback(host)) throw new Error(`--control ${host}: the control channel listens on loopback only`);
  const token = o.token ?? generateToken();
  if (token === '') throw new Error('--token must not be empty');
  const want = tokenDigest(token);
  const log = o.log.child({ component: 'control' });
  const counters = { connections: 0, unauthorized: 0 };
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1 << 20 });
  const http: Server = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
    res.end('nvmelab host: connect with a WebSocket to /control\n');
  });
  http.on('upgrade', (req: IncomingMessage, sock: Duplex, head: Buffer) => {
    sock.on('error', () => sock.destroy());
    const url = upgradeUrl(req);
    if (url === undefined) {
      refuse(sock, 400, 'Bad Request');
      return;
    }
    if (url.pathname !== '/control') {
      refuse(sock, 404, 'Not Found');
      return;
    }
    if (!presentsToken(req, url, want)) {
      counters.unauthorized++;
      log.warn({ remote: req.socket.remoteAddress }, 'control connection refused: missing or wrong token (401)');
      refuse(sock, 401, 'Unauthorized', 'WWW-Authenticate: Bearer realm="nvmelab-host"\r\n');
      return;
    }
    wss.handleUpgrade(req, sock, head, (ws: WebSocket) => {
      counters.connections++;
      new QmpSession(ws, o.registry, log);
    });
  });
  await new Promise<void>((res, rej) => {
    http.once('error', rej);
    http.listen(port, host, () => {
      http.off('error', rej);
      res();
    });
  });
  const addr = http.address();
  const realPort = typeof addr === 'object' && addr !== null ? addr.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `ws://${shownHost}:${realPort}/control`,
    token,
    counters,
    close: () => {
      closing ??= new Promise<void>((res) => {
        for (const ws of wss.clients) ws.close(1001, 'host shutting down');
        const t = setTimeout(() => {
          for (const ws of wss.clients) ws.terminate();
        }, 500);
        t.unref();
        wss.close();
        http.close(() => {
          clearTimeout(t);
          res();
        });
        http.closeAllConnections();
      });
      return closing;
    },
  };
}
