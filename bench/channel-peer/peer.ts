// Device-side peer for the channel benchmarks (bench/channel-raw.ts). A tiny
// "device" that uses the same server-side code as the real daemon
// (webSocketServerOptions + wrapWebSocket + Channel side 'device') and does
// nothing but the work each scenario measures. Not a bench module itself (it
// lives in a subdirectory so bench/run.ts does not import it).
//
// Started as `node --import tsx bench/channel-peer/peer.ts [maxFrame]`; prints
// `{"port":N}` on stdout, serves one host, and exits when that host leaves or
// stdin closes (parent died).
//
// What the host can ask (all on the protocol's normal message types):
//   region_read  bar0 off=* len=L   answer L bytes (round trip)
//   region_write bar0 (posted)      applied: copied into a scratch BAR
//   region_read  bar2 off=N len=4   stream N dma_write of 4 KiB, 16 per event-loop turn, then answer
//   region_read  bar3 off=N len=4   stream N irq, 16 per turn, then answer
//   region_read  bar4 len=16        answer [process CPU µs, posted messages received] as two float64 LE
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { Channel, type Reply } from '../../src/protocol/channel.ts';
import { webSocketServerOptions, wrapWebSocket } from '../../src/protocol/transport.ts';
import { DEFAULT_MAX_FRAME, SUBPROTOCOL, type DeviceInfo, type PostedMessage, type RequestMessage } from '../../src/protocol/messages.ts';

/** Messages the device posts per event-loop turn when streaming (k16). */
export const STREAM_PER_TURN = 16;
const PAGE = 4096;

const maxFrame = Number(process.argv[2] ?? DEFAULT_MAX_FRAME);
const info: DeviceInfo = {
  vendor: 0x1b36, device: 0xbe17, subsystemVendor: 0, subsystemDevice: 0, classCode: 0xff0000,
  regions: [
    { name: 'config', size: 4096, flags: ['read', 'write'] },
    { name: 'bar0', size: 1 << 20, flags: ['read', 'write'] },
    { name: 'bar2', size: 4096, flags: ['read'] },
    { name: 'bar3', size: 4096, flags: ['read'] },
    { name: 'bar4', size: 4096, flags: ['read'] },
  ],
  irqs: { msix: 32 },
};

const bar0 = new Uint8Array(1 << 20);
const page = new Uint8Array(PAGE).fill(0xa5);
const statsBuf = new Uint8Array(16);
const statsView = new DataView(statsBuf.buffer);
let postedIn = 0;

// Stream state: FIFO of answered-when-done requests, drained 16 messages per turn.
interface Stream { kind: 'dma' | 'irq'; left: number; reply: Reply }
const streams: Stream[] = [];
let streamTimer: NodeJS.Immediate | undefined;
let iova = 0;
let ch: Channel | undefined;

const dmaMsg = { t: 'dma_write' as const, iova: 0, data: page };
const irqMsg = { t: 'irq' as const, vec: 0 };

function pump(): void {
  streamTimer = undefined;
  const c = ch;
  if (c === undefined || !c.open) return;
  let budget = STREAM_PER_TURN;
  while (budget > 0 && streams.length > 0) {
    const s = streams[0] as Stream;
    while (budget > 0 && s.left > 0) {
      if (s.kind === 'dma') {
        dmaMsg.iova = iova;
        iova = (iova + PAGE) & 0xfffff;
        c.post(dmaMsg);
      } else {
        irqMsg.vec = (irqMsg.vec + 1) & 31;
        c.post(irqMsg);
      }
      s.left--;
      budget--;
    }
    if (s.left === 0) {
      streams.shift();
      s.reply.data(statsBuf.subarray(0, 4));
    }
  }
  if (streams.length > 0) streamTimer = setImmediate(pump);
}

function onRequest(m: RequestMessage, reply: Reply): void {
  if (m.t !== 'region_read') {
    reply.ok();
    return;
  }
  switch (m.region) {
    case 'bar2':
    case 'bar3':
      streams.push({ kind: m.region === 'bar2' ? 'dma' : 'irq', left: m.off, reply });
      if (streamTimer === undefined) streamTimer = setImmediate(pump);
      return;
    case 'bar4': {
      const u = process.cpuUsage();
      statsView.setFloat64(0, u.user + u.system, true);
      statsView.setFloat64(8, postedIn, true);
      reply.data(statsBuf.subarray(0, Math.min(16, m.len)));
      return;
    }
    default:
      if (m.len > bar0.length) reply.err('bounds', 'read beyond bar0');
      else reply.data(bar0.subarray(0, m.len));
  }
}

function onPosted(m: PostedMessage): void {
  postedIn++;
  if (m.t === 'region_write') {
    // Apply like a BAR write: copy into the region (wrapping to stay inside).
    const off = m.off % (bar0.length - m.data.length + 1);
    bar0.set(m.data, off);
  }
}

const http = createServer((_req, res) => {
  res.writeHead(426);
  res.end();
});
const wss = new WebSocketServer({ ...webSocketServerOptions({ maxFrame }), noServer: true });
http.on('upgrade', (req, socket, head) => {
  if (ch !== undefined || req.headers['sec-websocket-protocol']?.includes(SUBPROTOCOL) !== true) {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const c = new Channel(wrapWebSocket(ws), { side: 'device', maxFrame, info });
    ch = c;
    c.onRequest(onRequest);
    c.onPosted(onPosted);
    c.onClose(() => shutdown(0));
  });
});

function shutdown(code: number): void {
  http.close();
  // Let the close handshake finish, then go.
  setTimeout(() => process.exit(code), 20).unref();
}

process.stdin.on('end', () => shutdown(0));
process.stdin.on('error', () => shutdown(0));
process.stdin.resume();
http.listen(0, '127.0.0.1', () => {
  const a = http.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ port: a.port })}\n`);
});
