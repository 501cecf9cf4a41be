// The channel over real WebSockets on 127.0.0.1 (port 0), inside the test
// process: ordering with batching on, auth (401), busy (4409), oversize
// (1009), text frames (4400).
import test from 'ava';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { Channel } from '../../src/protocol/channel.ts';
import { ChannelClosedError } from '../../src/protocol/errors.ts';
import { CloseCode, SUBPROTOCOL, type DeviceInfo } from '../../src/protocol/messages.ts';
import { ConnectError, connectWebSocket, webSocketServerOptions, wrapWebSocket } from '../../src/protocol/transport.ts';

const info: DeviceInfo = {
  vendor: 0x1b36, device: 0x11e8, subsystemVendor: 0x1af4, subsystemDevice: 0x1100, classCode: 0x00ff00,
  regions: [{ name: 'bar0', size: 4096, flags: ['read', 'write'] }], irqs: { msix: 1 },
};

/** A minimal in-process daemon: token auth, one host at a time, a RAM bar0. */
async function startServer(opts: { token?: string; maxFrame?: number } = {}) {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    ...webSocketServerOptions(opts.maxFrame === undefined ? {} : { maxFrame: opts.maxFrame }),
    verifyClient: (vi, cb) => {
      if (opts.token === undefined || vi.req.headers.authorization === `Bearer ${opts.token}`) cb(true);
      else cb(false, 401, 'Unauthorized');
    },
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  let attached: Channel | undefined;
  const channels: Channel[] = [];
  wss.on('connection', (ws) => {
    const tr = wrapWebSocket(ws);
    if (attached?.open) {
      tr.close(CloseCode.busy, 'another host is attached');
      return;
    }
    const ch = new Channel(tr, { side: 'device', info, ...(opts.maxFrame === undefined ? {} : { maxFrame: opts.maxFrame }) });
    attached = ch;
    channels.push(ch);
    const bar0 = new Uint8Array(4096);
    ch.onPosted((m) => {
      if (m.t === 'region_write') bar0.set(m.data, m.off);
    });
    ch.onRequest((m, reply) => {
      if (m.t === 'region_read') reply.data(bar0.slice(m.off, m.off + m.len));
      else reply.ok();
    });
  });
  const port = (wss.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/`,
    channels,
    close: () => new Promise<void>((resolve) => {
      for (const c of wss.clients) c.terminate();
      wss.close(() => resolve());
    }),
  };
}

test('ordering over ws with batching: writes before a read are applied before it is answered', async (t) => {
  const srv = await startServer({ token: 's3cret' });
  t.teardown(srv.close);
  const tr = await connectWebSocket(srv.url, { token: 's3cret' });
  const host = new Channel(tr, { side: 'host' });
  const hello = await host.hello();
  t.is(hello.info.device, 0x11e8);
  const reads: Promise<number>[] = [];
  for (let i = 0; i < 300; i++) {
    host.post({ t: 'region_write', region: 'bar0', off: 0, data: Uint8Array.of(i & 0xff, i >> 8, 0, 0) });
    reads.push(host.request({ t: 'region_read', region: 'bar0', off: 0, len: 4 }).then((r) => (r.data[0] ?? 0) | ((r.data[1] ?? 0) << 8)));
  }
  t.deepEqual(await Promise.all(reads), Array.from({ length: 300 }, (_, i) => i));
  t.true(host.counters.framesOut < 10, `${host.counters.framesOut} frames for 600 messages`);
  const closed = new Promise<number>((resolve) => srv.channels[0]?.onClose((c) => resolve(c)));
  host.bye('done');
  t.is(await closed, CloseCode.normal);
});

test('missing or wrong token → ConnectError unauthorized (401)', async (t) => {
  const srv = await startServer({ token: 's3cret' });
  t.teardown(srv.close);
  const e1 = await t.throwsAsync(connectWebSocket(srv.url), { instanceOf: ConnectError });
  t.is(e1?.kind, 'unauthorized');
  t.is(e1?.status, 401);
  const e2 = await t.throwsAsync(connectWebSocket(srv.url, { token: 'nope' }), { instanceOf: ConnectError });
  t.is(e2?.kind, 'unauthorized');
});

test('a second host gets 4409; hello fails with that close code', async (t) => {
  const srv = await startServer();
  t.teardown(srv.close);
  const first = new Channel(await connectWebSocket(srv.url), { side: 'host' });
  await first.hello();
  const second = new Channel(await connectWebSocket(srv.url), { side: 'host' });
  const e = await t.throwsAsync(second.hello(), { instanceOf: ChannelClosedError });
  t.is(e?.linkCloseCode, CloseCode.busy);
  // the first one still works
  await first.request({ t: 'reset' });
  first.bye();
});

test('oversize frame → 1009; text frame → 4400', async (t) => {
  const srv = await startServer({ maxFrame: 16384 });
  t.teardown(srv.close);
  const tr = await connectWebSocket(srv.url);
  const host = new Channel(tr, { side: 'host', maxFrame: 1 << 20 });
  await host.hello(); // negotiates 16 KiB; send a raw frame bigger than that
  const closed = new Promise<number>((resolve) => host.onClose((c) => resolve(c)));
  tr.send(new Uint8Array(20000));
  t.is(await closed, CloseCode.tooBig);

  const ws = new WebSocket(srv.url, [SUBPROTOCOL]);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const code = new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
  ws.send('{"t":"hello"}');
  t.is(await code, CloseCode.protocolError);
});
