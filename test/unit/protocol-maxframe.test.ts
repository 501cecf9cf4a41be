// maxFrame end to end over a real WebSocket: the host proposes the minimum
// (8192), the device library (device/pci) splits DMA at the channel's
// maxPayload, and no frame either way exceeds the negotiated limit — also
// when many maximal messages are corked in one turn.
import test from 'ava';
import { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { Channel } from '../../src/protocol/channel.ts';
import { connectWebSocket, webSocketServerOptions, wrapWebSocket, type Transport } from '../../src/protocol/transport.ts';
import { MIN_MAX_FRAME, type PostedMessage } from '../../src/protocol/messages.ts';
import { ProtocolError } from '../../src/protocol/errors.ts';
import { silentLogger } from '../../src/util/log.ts';
import { PciFunction } from '../../device/pci/function.ts';
import { COMMAND, CFG } from '../../device/pci/regs.ts';
import { EduDevice } from '../../device/edu/edu.ts';

/** Record the size of every frame a transport receives. */
function recording(tr: Transport, sizes: number[]): Transport {
  return {
    send: (f) => tr.send(f),
    close: (c, r) => tr.close(c, r),
    onFrame: (cb) => tr.onFrame((f) => {
      sizes.push(typeof f === 'string' ? f.length : f.length);
      cb(f);
    }),
    onClose: (cb) => tr.onClose(cb),
    get open() {
      return tr.open;
    },
  };
}

test('DMA both ways and corked bursts respect a negotiated 8 KiB maxFrame over ws', async (t) => {
  const fn = new PciFunction(new EduDevice({ dmaBits: 53, vectors: 4 }), silentLogger);
  const devFrames: number[] = [];
  // The daemon accepts 1 MiB; the host's smaller proposal wins.
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...webSocketServerOptions({ maxFrame: 1 << 20 }) });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  t.teardown(() => new Promise<void>((r) => wss.close(() => r())));
  wss.on('connection', (ws) => {
    const dev = new Channel(recording(wrapWebSocket(ws), devFrames), { side: 'device', maxFrame: 1 << 20, info: () => fn.info() });
    fn.bind(dev);
  });
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
  const hostFrames: number[] = [];
  const host = new Channel(recording(await connectWebSocket(url, { maxFrame: MIN_MAX_FRAME }), hostFrames), { side: 'host', maxFrame: MIN_MAX_FRAME });
  t.teardown(() => host.close());
  const r = await host.hello();
  t.is(r.maxFrame, MIN_MAX_FRAME);
  const maxPayload = host.maxPayload;

  const mem = new Uint8Array(256 * 1024);
  for (let i = 0; i < mem.length; i++) mem[i] = (i * 7) & 0xff;
  const writes: number[] = [];
  host.onPosted((m: PostedMessage) => {
    if (m.t === 'dma_write') {
      writes.push(m.data.length);
      mem.set(m.data, m.iova);
    }
  });
  const reads: number[] = [];
  host.onRequest((m, reply) => {
    if (m.t !== 'dma_read') return reply.err('unknown_type', m.t);
    reads.push(m.len);
    reply.data(mem.subarray(m.iova, m.iova + m.len));
  });
  host.post({ t: 'region_write', region: 'config', off: CFG.COMMAND, data: Uint8Array.of(COMMAND.MEMORY_SPACE | COMMAND.BUS_MASTER, 0) });
  await host.request({ t: 'dma_map', iova: 0, len: mem.length, prot: 3 });

  // Device → host read of 100 KiB: split into dma_reads whose answers fit.
  const got = await fn.ctx.dmaRead(3, 100_000);
  t.true(got.every((x, i) => x === (((i + 3) * 7) & 0xff)));
  t.true(reads.length >= Math.ceil(100_000 / maxPayload));
  t.true(reads.every((n) => n <= maxPayload));

  // Device → host write of 100 KiB in one call: split, all corked in one turn.
  const src = Uint8Array.from({ length: 100_000 }, (_x, i) => (i * 13) & 0xff);
  t.true(fn.ctx.dmaWrite(128 * 1024, src));
  const done = await fn.ctx.dmaRead(0, 4); // ordered after the posted writes
  t.is(done.length, 4);
  t.true(writes.every((n) => n <= maxPayload));
  t.deepEqual(mem.subarray(128 * 1024, 128 * 1024 + src.length), src);

  // Host side: a read larger than maxPayload is refused before the handler; exactly maxPayload works.
  const e = await t.throwsAsync(host.request({ t: 'region_read', region: 'bar0', off: 0, len: maxPayload + 1 }));
  t.true(e instanceof ProtocolError);
  t.is((e as ProtocolError).code, 'size');
  // Many full-size posted writes in one turn are split into frames that fit.
  for (let i = 0; i < 8; i++) host.post({ t: 'region_write', region: 'bar0', off: 0x80, data: new Uint8Array(maxPayload >> 1) });
  await host.request({ t: 'region_read', region: 'config', off: 0, len: 4 });

  t.true(devFrames.length > 0 && hostFrames.length > 0);
  t.true(devFrames.every((n) => n <= MIN_MAX_FRAME), `device received ${Math.max(...devFrames)}`);
  t.true(hostFrames.every((n) => n <= MIN_MAX_FRAME), `host received ${Math.max(...hostFrames)}`);
  t.true(host.open);
});
