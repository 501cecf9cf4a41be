// The device daemon as a separate process on port 0: token auth at the
// upgrade (401), one host at a time (4409), the QMP-style control channel,
// device-remove/device-add (4410), SIGTERM / quit / stdin EOF → exit 0, and
// the edu device driven through a raw protocol Channel from the test.
import test from 'ava';
import { WebSocket } from 'ws';
import { Channel } from '../../src/protocol/channel.ts';
import { connectWebSocket, ConnectError, type Transport } from '../../src/protocol/transport.ts';
import type { PostedMessage } from '../../src/protocol/messages.ts';
import { startDevice, qmp } from '../helpers/daemon.ts';
import { CFG, COMMAND, MSIX } from '../../device/pci/regs.ts';
import { EDU_ID, EDU_MSIX_TABLE, EDU_REG } from '../../device/edu/edu.ts';

function closeCode(tr: Transport): Promise<number> {
  return new Promise((res) => tr.onClose((code) => res(code)));
}

async function host(url: string, token?: string): Promise<Channel> {
  const tr = await connectWebSocket(url, token === undefined ? {} : { token });
  const ch = new Channel(tr, { side: 'host' });
  await ch.hello();
  return ch;
}

test('auth: 401 without or with a wrong token, accepted with Bearer or ?token=; SIGTERM exits 0', async (t) => {
  const dev = await startDevice({ args: ['-device', 'edu'], token: 's3cret' });
  t.teardown(() => dev.stop());
  const e1 = await t.throwsAsync(connectWebSocket(dev.url));
  t.true(e1 instanceof ConnectError && e1.kind === 'unauthorized' && e1.status === 401);
  const e2 = await t.throwsAsync(connectWebSocket(dev.url, { token: 'nope' }));
  t.is((e2 as ConnectError).status, 401);
  await t.throwsAsync(qmp(dev.controlUrl, 'nope'), { message: /401/ });
  const ch = await host(dev.url, 's3cret');
  t.is(ch.session?.info.vendor, 0x1234);
  ch.bye('done');
  const ch2 = await host(`${dev.url}?token=s3cret`);
  t.is(ch2.session?.info.device, 0x11e8);
  const closed = new Promise<number>((res) => ch2.onClose((c) => res(c)));
  t.is(await dev.stop(), 0, 'SIGTERM → clean exit 0');
  t.is(await closed, 1000, 'the host was told goodbye');
});

test('one host at a time (4409); the next host is served after the first leaves', async (t) => {
  const dev = await startDevice({ args: ['-device', 'edu'] });
  t.teardown(() => dev.stop());
  const first = await host(dev.url);
  const tr = await connectWebSocket(dev.url);
  t.is(await closeCode(tr), 4409);
  const left = new Promise<void>((res) => first.onClose(() => res()));
  first.bye('done');
  await left;
  // The daemon notices the close asynchronously: retry until it serves us.
  let second: Channel | undefined;
  for (let i = 0; i < 50 && second === undefined; i++) {
    try {
      second = await host(dev.url);
    } catch {
      // 4409 while the first close is still in flight
    }
  }
  t.truthy(second);
  second?.bye('done');
});

test('control channel: greeting, negotiation, query-*, errors, device-remove → 4410, device-add, quit', async (t) => {
  const dev = await startDevice({ args: ['-device', 'edu'], token: 'tok' });
  t.teardown(() => dev.stop());
  const raw = await qmp(dev.controlUrl, dev.token, { negotiate: false });
  t.deepEqual((raw.greeting.QMP as { capabilities: unknown[] }).capabilities, []);
  await t.throwsAsync(raw.execute('query-status'), { message: /CommandNotFound: Expecting capabilities negotiation/ });
  t.deepEqual(await raw.execute('qmp_capabilities'), {});
  t.deepEqual(await raw.raw('{not json'), { error: { class: 'GenericError', desc: 'JSON parse error' } });
  t.deepEqual(await raw.raw('{"execute":"query-status","bogus":1,"id":7}'), { error: { class: 'GenericError', desc: "QMP input member 'bogus' is unexpected" }, id: 7 });
  t.deepEqual(await raw.raw('[1]'), { error: { class: 'GenericError', desc: 'QMP input must be a JSON object' } });
  const ans = await raw.raw('{"execute":"query-status","id":{"x":[1]}}');
  t.deepEqual(ans.id, { x: [1] }, 'id echoed as given');
  await t.throwsAsync(raw.execute('fault-inject', { plan: {} }), { message: /CommandNotFound/ });

  const status = (await raw.execute('query-status')) as Record<string, unknown>;
  t.like(status, { status: 'running', running: true, hostConnected: false });
  const cmds = (await raw.execute('query-commands')) as { name: string }[];
  t.true(['query-device', 'device-remove', 'device-add', 'quit'].every((n) => cmds.some((c) => c.name === n)));

  const ch = await host(dev.url, 'tok');
  await raw.waitEvent('HOST_CONNECTED');
  await ch.request({ t: 'dma_map', iova: 0x1000, len: 0x1000, prot: 3 });
  const d = (await raw.execute('query-device')) as Record<string, unknown>;
  t.like(d, { type: 'edu', status: 'running', ids: { vendor: 0x1234, device: 0x11e8 }, host: { connected: true, ready: true } });
  t.deepEqual(d.windows, [{ iova: 0x1000, len: 0x1000, prot: 3 }]);
  t.is((d.stats as Record<string, number>).dmaMaps, 1);

  // Surprise removal: the host is closed with 4410, new hosts too, until device-add.
  const removed = new Promise<number>((res) => ch.onClose((c) => res(c)));
  t.deepEqual(await raw.execute('device-remove'), {});
  t.is(await removed, 4410);
  const ev = await raw.waitEvent('DEVICE_DELETED');
  t.truthy((ev.timestamp as { seconds: number }).seconds);
  t.like((await raw.execute('query-status')) as object, { status: 'removed', running: false });
  await t.throwsAsync(raw.execute('device-remove'), { message: /DeviceNotActive/ });
  const tr = await connectWebSocket(dev.url, { token: 'tok' });
  t.is(await closeCode(tr), 4410);
  t.deepEqual(await raw.execute('device-add'), {});
  const back = await host(dev.url, 'tok');
  const cmd = await back.request({ t: 'region_read', region: 'config', off: CFG.COMMAND, len: 2 });
  t.deepEqual([...cmd.data], [0, 0], 'power-on state after re-plug');
  const d2 = (await raw.execute('query-device')) as Record<string, unknown>;
  t.deepEqual(d2.windows, [], 'no windows on a new connection');

  t.deepEqual(await raw.execute('quit'), {});
  t.is(await dev.exited, 0, 'quit → exit 0');
});

test('garbage frames close with 4400, and the daemon serves the next good host', async (t) => {
  const dev = await startDevice({ args: ['-device', 'edu'] });
  t.teardown(() => dev.stop());
  const codeOf = (send: (ws: WebSocket) => void): Promise<number> =>
    new Promise((res, rej) => {
      const ws = new WebSocket(dev.url, ['nvmelab.v1']);
      ws.once('open', () => send(ws));
      ws.once('close', (c) => res(c));
      ws.once('error', rej);
    });
  t.is(await codeOf((ws) => ws.send(Buffer.from([0xc1, 0xff, 0x00]))), 4400, 'not msgpack');
  t.is(await codeOf((ws) => ws.send('{"t":"hello"}')), 4400, 'text frame');
  t.is(await codeOf((ws) => ws.send(Buffer.from([0x81, 0xa1, 0x74, 0xa5, 0x72, 0x65, 0x73, 0x65, 0x74]))), 4400, 'reset before hello');
  const ch = await host(dev.url);
  t.is(ch.session?.info.vendor, 0x1234);
  ch.bye('done');
});

test('parent-death watchdog: stdin EOF exits 0', async (t) => {
  const dev = await startDevice({ args: ['-device', 'edu'] });
  t.teardown(() => dev.stop());
  dev.proc.stdin?.end();
  t.is(await dev.exited, 0);
});

test('bad command lines: one line naming the flag, exit 2', async (t) => {
  for (const args of [['-device', 'edu,dma_bits=x'], ['--nope'], ['--listen', '10.0.0.1:0']]) {
    const e = await t.throwsAsync(startDevice({ args }));
    const m = /stderr:\n(.*)\n$/s.exec(e?.message ?? '');
    t.regex(e?.message ?? '', /exited \(2\)/);
    t.is((m?.[1] ?? '').trim().split('\n').length, 1);
  }
});

test('edu over ws: ID, liveness, factorial + irq, DMA both ways, DMA refused with bus mastering off', async (t) => {
  const dev = await startDevice({ args: ['-device', 'edu'] });
  t.teardown(() => dev.stop());
  const ch = await host(dev.url);
  const base = 0x1_0000_0000;
  const mem = new Uint8Array(0x3000);
  for (let i = 0; i < mem.length; i++) mem[i] = (i * 13 + 1) & 0xff;
  const irqs: number[] = [];
  const irqWaiters: (() => void)[] = [];
  const dmaWrites: PostedMessage[] = [];
  ch.onRequest((m, reply) => {
    if (m.t !== 'dma_read') return reply.err('unknown_type', m.t);
    reply.data(mem.slice(m.iova - base, m.iova - base + m.len));
  });
  ch.onPosted((m) => {
    if (m.t === 'dma_write') {
      dmaWrites.push(m);
      mem.set(m.data, m.iova - base);
    } else if (m.t === 'irq') {
      irqs.push(m.vec);
      irqWaiters.shift()?.();
    }
  });
  const nextIrq = (): Promise<void> => new Promise((res) => irqWaiters.push(res));
  const le32 = (d: Uint8Array): number => ((d[0] ?? 0) | ((d[1] ?? 0) << 8) | ((d[2] ?? 0) << 16) | ((d[3] ?? 0) << 24)) >>> 0;
  const w32 = (region: 'config' | 'bar0', off: number, v: number, len = 4): void => {
    ch.post({ t: 'region_write', region, off, data: Uint8Array.from({ length: len }, (_x, i) => (v >>> (8 * i)) & 0xff) });
  };
  const r32 = async (off: number): Promise<number> => le32((await ch.request({ t: 'region_read', region: 'bar0', off, len: 4 })).data);
  const untilIdle = async (off: number, bit: number): Promise<void> => {
    while (((await r32(off)) & bit) !== 0) { /* poll like a driver */ }
  };

  w32('config', CFG.COMMAND, COMMAND.MEMORY_SPACE | COMMAND.BUS_MASTER, 2);
  w32('config', 0x50 + MSIX.CONTROL, MSIX.CONTROL_ENABLE, 2);
  w32('bar0', EDU_MSIX_TABLE + MSIX.ENTRY_VECTOR_CTRL, 0);
  t.is(await r32(EDU_REG.ID), EDU_ID);
  w32('bar0', EDU_REG.LIVENESS, 0xa5a5_0000);
  t.is(await r32(EDU_REG.LIVENESS), 0x5a5a_ffff);

  let irq = nextIrq();
  w32('bar0', EDU_REG.STATUS, 0x80);
  w32('bar0', EDU_REG.FACTORIAL, 12);
  await irq;
  t.is(await r32(EDU_REG.FACTORIAL), 479001600);
  t.is(await r32(EDU_REG.IRQ_STATUS), 1);
  w32('bar0', EDU_REG.IRQ_ACK, 1);
  t.is(await r32(EDU_REG.IRQ_STATUS), 0);

  await ch.request({ t: 'dma_map', iova: base, len: mem.length, prot: 3 });
  // host → edu buffer, with the completion interrupt.
  irq = nextIrq();
  w32('bar0', EDU_REG.DMA_SRC, 0); w32('bar0', EDU_REG.DMA_SRC + 4, 1); // 0x1_0000_0000
  w32('bar0', EDU_REG.DMA_DST, 0x40000);
  w32('bar0', EDU_REG.DMA_COUNT, 4096);
  w32('bar0', EDU_REG.DMA_CMD, 0x1 | 0x4);
  await irq;
  t.is(await r32(EDU_REG.DMA_CMD) & 0x11, 0, 'done, no error');
  t.is(await r32(EDU_REG.IRQ_STATUS), 0x100);
  // edu buffer → host at +0x2000 (first 1 KiB).
  w32('bar0', EDU_REG.DMA_SRC, 0x40000); w32('bar0', EDU_REG.DMA_SRC + 4, 0);
  w32('bar0', EDU_REG.DMA_DST, 0x2000); w32('bar0', EDU_REG.DMA_DST + 4, 1);
  w32('bar0', EDU_REG.DMA_COUNT, 1024);
  w32('bar0', EDU_REG.DMA_CMD, 0x1 | 0x2);
  await untilIdle(EDU_REG.DMA_CMD, 1);
  t.is(dmaWrites.length, 1);
  t.deepEqual(mem.slice(0x2000, 0x2400), mem.slice(0, 0x400));

  // Bus mastering off: the device refuses locally, nothing reaches the host.
  w32('config', CFG.COMMAND, COMMAND.MEMORY_SPACE, 2);
  w32('bar0', EDU_REG.DMA_CMD, 0x1 | 0x2);
  await untilIdle(EDU_REG.DMA_CMD, 1);
  t.is(await r32(EDU_REG.DMA_CMD) & 0x10, 0x10, 'error bit');
  t.is(dmaWrites.length, 1);
  const ctl = await qmp(dev.controlUrl);
  const d = (await ctl.execute('query-device')) as { stats: Record<string, number>; model: Record<string, number> };
  t.is(d.stats.dmaRefusedBusMaster, 1);
  t.is(d.model.dmaErrors, 1);
  t.deepEqual(irqs, [0, 0]);
  ctl.close();
  ch.bye('done');
});
