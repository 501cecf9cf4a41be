// Channel over the in-memory transport: handshake, every message type,
// corking, ordering, flow control, bye/close, and a malformed-input corpus
// from a raw peer that bypasses the channel.
import test from 'ava';
import { setImmediate as turn } from 'node:timers/promises';
import { Unpackr } from 'msgpackr';
import { Channel, type ChannelOptions, type Reply } from '../../src/protocol/channel.ts';
import { encodeBatch, encodeValue } from '../../src/protocol/codec.ts';
import { ChannelClosedError, ProtocolError } from '../../src/protocol/errors.ts';
import {
  CloseCode, type DeviceInfo, type Message, type PostedMessage, type RequestMessage,
} from '../../src/protocol/messages.ts';
import { createMemoryTransportPair, type Transport } from '../../src/protocol/transport.ts';

const info: DeviceInfo = {
  vendor: 0x1b36, device: 0x0010, subsystemVendor: 0x1af4, subsystemDevice: 0x1100, classCode: 0x010802,
  regions: [{ name: 'config', size: 4096, flags: ['read', 'write'] }, { name: 'bar0', size: 16384, flags: ['read', 'write'] }],
  irqs: { msix: 8 },
};

/** Wait, turn by turn, until `cond` holds (no timers; fails after many turns). */
async function until(cond: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    if (cond()) return;
    await turn();
  }
  throw new Error(`never happened: ${what}`);
}

/** A toy device model: a 16 KiB bar0 RAM that applies posted writes synchronously. */
class ToyDevice {
  readonly bar0 = new Uint8Array(16384);
  readonly posted: PostedMessage[] = [];
  readonly requests: RequestMessage[] = [];
  /** Replies held back when `defer` is set. */
  readonly held: Reply[] = [];
  defer = false;
  constructor(readonly ch: Channel) {
    ch.onPosted((m) => {
      this.posted.push(m);
      if (m.t === 'region_write') this.bar0.set(m.data, m.off);
    });
    ch.onRequest((m, reply) => {
      this.requests.push(m);
      if (this.defer) {
        this.held.push(reply);
        return;
      }
      switch (m.t) {
        case 'region_read':
          reply.data(this.bar0.slice(m.off, m.off + m.len));
          return;
        case 'region_write':
          this.bar0.set(m.data, m.off);
          reply.ok();
          return;
        default:
          reply.ok();
      }
    });
  }
}

function pair(opts: { device?: Partial<ChannelOptions>; host?: Partial<ChannelOptions>; maxFrame?: number } = {}) {
  const { a, b } = createMemoryTransportPair(opts.maxFrame === undefined ? {} : { maxFrame: opts.maxFrame });
  const host = new Channel(a, { side: 'host', ...opts.host });
  const device = new Channel(b, { side: 'device', info, ...opts.device });
  return { host, device, a, b, model: new ToyDevice(device) };
}

/** A raw peer: the host end of a memory pair without a channel, for hand-made frames. */
function rawHostAgainstDevice(device?: Partial<ChannelOptions>, maxFrame?: number) {
  const { a, b } = createMemoryTransportPair(maxFrame === undefined ? {} : { maxFrame });
  const ch = new Channel(b, { side: 'device', info, ...device });
  const model = new ToyDevice(ch);
  const unpackr = new Unpackr({ useRecords: false });
  const got: Message[] = [];
  let closed: { code: number; reason: string } | undefined;
  a.onFrame((f) => {
    if (typeof f === 'string') return;
    const v: unknown = unpackr.unpack(f);
    for (const m of Array.isArray(v) ? v : [v]) got.push(m as Message); // test-only view of our own device's output
  });
  a.onClose((code, reason) => {
    closed = { code, reason };
  });
  const sendValue = (v: unknown): void => a.send(encodeValue(v));
  const hello = async (): Promise<void> => {
    sendValue({ t: 'hello', id: 0, proto: 1, maxFrame: 1 << 20 });
    await until(() => got.some((m) => m.t === 'ok' && m.id === 0), 'hello ok');
  };
  return { a: a as Transport & { sendText(s: string): void }, ch, model, got, sendValue, hello, closed: () => closed };
}

test('hello negotiates maxFrame (min), maxOutstanding (each side its own) and returns info', async (t) => {
  const { host, device } = pair({ host: { maxFrame: 1 << 20, maxOutstanding: 64 }, device: { maxFrame: 65536, maxOutstanding: 32 } });
  let seen = 0;
  device.onHello(() => seen++);
  const r = await host.hello();
  t.is(r.proto, 1);
  t.is(r.maxFrame, 65536);
  t.is(r.maxOutstanding, 32);
  t.deepEqual(r.info, info);
  t.is(host.maxFrame, 65536);
  t.is(device.maxFrame, 65536);
  t.is(device.maxOutstandingOut, 64);
  t.is(seen, 1);
  await t.throwsAsync(host.hello(), { instanceOf: ProtocolError });
});

test('every message type crosses a channel pair', async (t) => {
  const { host, device, model } = pair();
  await host.hello();
  // host → device
  host.post({ t: 'region_write', region: 'bar0', off: 8, data: Uint8Array.of(1, 2, 3, 4) });
  const rd = await host.request({ t: 'region_read', region: 'bar0', off: 8, len: 4 });
  t.deepEqual([...rd.data], [1, 2, 3, 4]);
  await host.request({ t: 'region_write', region: 'bar0', off: 12, data: Uint8Array.of(9) });
  t.is(model.bar0[12], 9);
  await host.request({ t: 'dma_map', iova: 2 ** 40, len: 8192, prot: 3 });
  await host.request({ t: 'dma_unmap', iova: 2 ** 40, len: 8192 });
  await host.request({ t: 'reset' });
  t.deepEqual(model.requests.map((m) => m.t), ['region_read', 'region_write', 'dma_map', 'dma_unmap', 'reset']);
  // device → host
  const hostPosted: PostedMessage[] = [];
  const hostMem = new Uint8Array(8192).fill(7);
  host.onPosted((m) => {
    hostPosted.push(m);
    if (m.t === 'dma_write') hostMem.set(m.data, m.iova);
  });
  host.onRequest((m, reply) => {
    if (m.t === 'dma_read') reply.data(hostMem.slice(m.iova, m.iova + m.len));
    else reply.err('unknown_type', 'no');
  });
  device.post({ t: 'dma_write', iova: 16, data: Uint8Array.of(0xaa, 0xbb) });
  device.post({ t: 'irq', vec: 2 });
  const dr = await device.request({ t: 'dma_read', iova: 15, len: 4 });
  t.deepEqual([...dr.data], [7, 0xaa, 0xbb, 7]);
  t.deepEqual(hostPosted.map((m) => m.t), ['dma_write', 'irq']);
  // bye
  const closed = new Promise<number>((resolve) => device.onClose((c) => resolve(c)));
  host.bye('test over');
  t.is(await closed, CloseCode.normal);
  t.false(host.open);
  t.false(device.open);
});

test('corking: N posts in one turn leave as one frame', async (t) => {
  const { host, device, model } = pair();
  await host.hello();
  const f0 = host.counters.framesOut;
  const in0 = device.counters.framesIn;
  for (let i = 0; i < 100; i++) host.post({ t: 'region_write', region: 'bar0', off: i * 4, data: Uint8Array.of(i, 0, 0, 0) });
  const rd = host.request({ t: 'region_read', region: 'bar0', off: 99 * 4, len: 4 });
  t.is(host.counters.framesOut, f0); // nothing left yet: corked until the end of the turn
  const r = await rd;
  t.is(host.counters.framesOut - f0, 1);
  t.is(device.counters.framesIn - in0, 1);
  t.is(model.posted.length, 100);
  t.deepEqual([...r.data], [99, 0, 0, 0]);
});

test('corking splits a batch so that no frame exceeds maxFrame', async (t) => {
  const { host, device } = pair({ maxFrame: 16384, host: { maxFrame: 16384 }, device: { maxFrame: 16384 } });
  await host.hello();
  const sizes: number[] = [];
  const got: number[] = [];
  host.onPosted((m) => {
    if (m.t === 'dma_write') got.push(m.iova);
  });
  const f0 = device.counters.framesOut;
  const b0 = device.counters.bytesOut;
  for (let i = 0; i < 20; i++) device.post({ t: 'dma_write', iova: i * 4096, data: new Uint8Array(4000).fill(i) });
  await until(() => got.length === 20, 'all dma_writes');
  const frames = device.counters.framesOut - f0;
  sizes.push((device.counters.bytesOut - b0) / frames);
  t.true(frames >= 5 && frames <= 7, `${frames} frames`);
  t.deepEqual(got, Array.from({ length: 20 }, (_, i) => i * 4096));
  t.throws(() => device.post({ t: 'dma_write', iova: 0, data: new Uint8Array(16384) }), { instanceOf: ProtocolError });
});

test('ordering: posted writes before a read take effect before it is answered; device writes before its irq', async (t) => {
  const { host, device } = pair();
  await host.hello();
  const results: number[] = [];
  for (let round = 0; round < 50; round++) {
    host.post({ t: 'region_write', region: 'bar0', off: 0, data: Uint8Array.of(round, 0, 0, 0) });
    const r = host.request({ t: 'region_read', region: 'bar0', off: 0, len: 4 });
    host.post({ t: 'region_write', region: 'bar0', off: 0, data: Uint8Array.of(0xff, 0, 0, 0) });
    results.push((await r).data[0] ?? -1);
  }
  t.deepEqual(results, Array.from({ length: 50 }, (_, i) => i));
  // device side: data, then completion entry, then irq — the host applies both writes first
  const mem = new Uint8Array(8192);
  const atIrq: number[] = [];
  host.onPosted((m) => {
    if (m.t === 'dma_write') mem.set(m.data, m.iova);
    else if (m.t === 'irq') atIrq.push(mem[0] ?? 0, mem[4096] ?? 0);
  });
  device.post({ t: 'dma_write', iova: 0, data: Uint8Array.of(0x11) });
  device.post({ t: 'dma_write', iova: 4096, data: Uint8Array.of(0x22) });
  device.post({ t: 'irq', vec: 1 });
  await until(() => atIrq.length === 2, 'irq');
  t.deepEqual(atIrq, [0x11, 0x22]);
});

test('maxOutstanding: excess incoming requests from a peer ignoring the cap get err busy', async (t) => {
  const p = rawHostAgainstDevice({ maxOutstanding: 2 });
  await p.hello();
  p.model.defer = true;
  const reqs = [1, 2, 3, 4, 5].map((id) => ({ t: 'region_read', id, region: 'bar0', off: 0, len: 4 }));
  p.a.send(encodeBatch(reqs as Message[]));
  await until(() => p.got.filter((m) => m.t === 'err').length === 3, 'busy answers');
  const errs = p.got.filter((m) => m.t === 'err');
  t.deepEqual(errs.map((m) => (m.t === 'err' ? [m.id, m.code] : [])), [[3, 'busy'], [4, 'busy'], [5, 'busy']]);
  t.is(p.ch.counters.busyRejected, 3);
  t.is(p.model.held.length, 2);
  for (const r of p.model.held.splice(0)) r.data(Uint8Array.of(1, 2, 3, 4));
  await until(() => p.got.filter((m) => m.t === 'ok').length === 3, 'held answers');
  // A slot is free again.
  p.model.defer = false;
  p.sendValue({ t: 'region_read', id: 6, region: 'bar0', off: 0, len: 4 });
  await until(() => p.got.some((m) => m.t === 'ok' && m.id === 6), 'id 6 answered');
  t.pass();
});

test('maxOutstanding: outgoing requests beyond the peer cap wait in FIFO, posted writes keep their place', async (t) => {
  const { host, device, model } = pair({ device: { maxOutstanding: 2 } });
  await host.hello();
  model.defer = true;
  const done: number[] = [];
  const ps = [0, 1, 2, 3, 4].map((i) => host.request({ t: 'region_read', region: 'bar0', off: i * 4, len: 4 }).then((r) => done.push(r.data[0] ?? -1)));
  host.post({ t: 'region_write', region: 'bar0', off: 16, data: Uint8Array.of(42, 0, 0, 0) });
  await until(() => model.held.length === 2, 'two requests at the device');
  t.is(host.counters.inFlight, 2);
  t.is(host.counters.queued, 4);
  t.is(model.posted.length, 0); // the write waits behind the queued reads
  model.defer = false;
  // Answer the two held ones: slots free, the rest flows.
  for (const r of model.held.splice(0)) r.data(Uint8Array.of(0xee, 0, 0, 0));
  await Promise.all(ps);
  t.deepEqual(done, [0xee, 0xee, 0, 0, 0]);
  await until(() => model.posted.length === 1, 'write applied');
  t.is(device.counters.busyRejected, 0);
  t.true(host.counters.requestsQueued >= 3);
});

test('bye fails outstanding requests on both ends', async (t) => {
  const { host, device, model } = pair();
  await host.hello();
  model.defer = true;
  const hostReq = host.request({ t: 'region_read', region: 'bar0', off: 0, len: 4 });
  host.onRequest(() => {
    /* never answers */
  });
  const devReq = device.request({ t: 'dma_read', iova: 0, len: 4 });
  await until(() => model.held.length === 1, 'request held');
  device.bye('going away');
  const e1 = await t.throwsAsync(hostReq, { instanceOf: ChannelClosedError });
  const e2 = await t.throwsAsync(devReq, { instanceOf: ChannelClosedError });
  t.is(e1?.linkCloseCode, CloseCode.normal);
  t.is(e2?.linkCloseCode, CloseCode.normal);
  // Late answers are dropped quietly; new requests fail at once.
  for (const r of model.held) r.ok();
  await t.throwsAsync(host.request({ t: 'reset' }), { instanceOf: ChannelClosedError });
  t.false(host.post({ t: 'region_write', region: 'bar0', off: 0, data: Uint8Array.of(1) }));
});

test('a close the host did not ask for (4410) fails outstanding requests with that code', async (t) => {
  const { host, device, model } = pair();
  await host.hello();
  model.defer = true;
  const closeSeen = new Promise<number>((resolve) => host.onClose((c) => resolve(c)));
  const req = host.request({ t: 'region_read', region: 'bar0', off: 0, len: 4 });
  await until(() => model.held.length === 1, 'held');
  device.close(CloseCode.removed, 'device removed');
  const e = await t.throwsAsync(req, { instanceOf: ChannelClosedError });
  t.is(e?.linkCloseCode, CloseCode.removed);
  t.is(await closeSeen, CloseCode.removed);
});

test('handlers: a throwing handler answers err internal; a second answer is ignored', async (t) => {
  const { host, device } = pair();
  await host.hello();
  device.onRequest((m, reply) => {
    if (m.t === 'reset') throw new Error('boom');
    reply.ok();
    reply.err('internal', 'second answer');
  });
  const e = await t.throwsAsync(host.request({ t: 'reset' }), { instanceOf: ProtocolError });
  t.is(e?.code, 'internal');
  await host.request({ t: 'dma_map', iova: 0, len: 4096, prot: 1 });
  t.is(device.counters.handlerErrors, 1);
  t.is(host.counters.unmatchedReplies, 0);
});

test('a read answer of the wrong length rejects the request with bad_message', async (t) => {
  const { host, device } = pair();
  await host.hello();
  device.onRequest((_m, reply) => reply.data(Uint8Array.of(1)));
  const e = await t.throwsAsync(host.request({ t: 'region_read', region: 'bar0', off: 0, len: 4 }), { instanceOf: ProtocolError });
  t.is(e?.code, 'bad_message');
});

test('no-promise request path calls back exactly once', async (t) => {
  const { host } = pair();
  await host.hello();
  const seen: number[] = [];
  await new Promise<void>((resolve) => {
    for (let i = 0; i < 64; i++) {
      host.requestCb({ t: 'region_read', region: 'bar0', off: i * 4, len: 4 }, (err, r) => {
        t.is(err, undefined);
        seen.push(r?.data.length ?? -1);
        if (seen.length === 64) resolve();
      });
    }
  });
  t.is(seen.length, 64);
});

// ---------------------------------------------------------------------------
// Malformed corpus from a raw peer

test('text frame → close 4400', async (t) => {
  const p = rawHostAgainstDevice();
  await p.hello();
  p.a.sendText('{"t":"reset","id":1}');
  await until(() => p.closed() !== undefined, 'close');
  t.is(p.closed()?.code, CloseCode.protocolError);
  t.is(p.ch.counters.fatalFrames, 1);
});

test('random bytes (seeded) and truncated msgpack → close 4400', async (t) => {
  let seed = 12345;
  const rnd = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed >>> 24;
  };
  for (const frame of [
    Uint8Array.from({ length: 32 }, () => rnd()).map((b, i) => (i === 0 ? 0xdf : b)), // map32 header claiming 4G entries
    Uint8Array.of(0x82, 0xa1, 0x74), // truncated map
    new Uint8Array(0),
  ]) {
    const p = rawHostAgainstDevice();
    await p.hello();
    p.a.send(frame);
    await until(() => p.closed() !== undefined, 'close');
    t.is(p.closed()?.code, CloseCode.protocolError);
  }
});

test('oversize frame → close 1009', async (t) => {
  const p = rawHostAgainstDevice({ maxFrame: 16384 }, 16384);
  await p.hello();
  p.sendValue({ t: 'region_write', region: 'bar0', off: 0, data: new Uint8Array(20000) });
  await until(() => p.closed() !== undefined, 'close');
  t.is(p.closed()?.code, CloseCode.tooBig);
});

test('the channel itself refuses frames above the negotiated maxFrame with 1009', async (t) => {
  // transport allows 1 MiB, the channel negotiated 16 KiB
  const p = rawHostAgainstDevice({ maxFrame: 16384 });
  await p.hello();
  p.sendValue({ t: 'region_write', region: 'bar0', off: 0, data: new Uint8Array(20000) });
  await until(() => p.closed() !== undefined, 'close');
  t.is(p.closed()?.code, CloseCode.tooBig);
});

test('hello not first → err state and close 4400', async (t) => {
  const p = rawHostAgainstDevice();
  p.sendValue({ t: 'region_read', id: 3, region: 'bar0', off: 0, len: 4 });
  await until(() => p.closed() !== undefined, 'close');
  t.is(p.closed()?.code, CloseCode.protocolError);
  t.deepEqual(p.got, [{ t: 'err', id: 3, code: 'state', msg: 'region_read before hello' }]);
  // a posted message first is just as fatal
  const q = rawHostAgainstDevice();
  q.sendValue({ t: 'region_write', region: 'bar0', off: 0, data: Uint8Array.of(1) });
  await until(() => q.closed() !== undefined, 'close');
  t.is(q.closed()?.code, CloseCode.protocolError);
  t.is(q.model.posted.length, 0);
});

test('second hello → err state, connection stays; version mismatch → err version and 4400', async (t) => {
  const p = rawHostAgainstDevice();
  await p.hello();
  p.sendValue({ t: 'hello', id: 1, proto: 1, maxFrame: 65536 });
  await until(() => p.got.some((m) => m.t === 'err' && m.id === 1), 'err');
  t.like(p.got.find((m) => m.t === 'err' && m.id === 1), { code: 'state' });
  t.is(p.closed(), undefined);
  const q = rawHostAgainstDevice();
  q.sendValue({ t: 'hello', id: 0, proto: 2, maxFrame: 65536 });
  await until(() => q.closed() !== undefined, 'close');
  t.like(q.got[0], { t: 'err', id: 0, code: 'version' });
  t.is(q.closed()?.code, CloseCode.protocolError);
});

test('a batch with malformed elements: they get err (if they had an id) or are dropped; the rest runs in order', async (t) => {
  const p = rawHostAgainstDevice();
  await p.hello();
  p.sendValue([
    { t: 'region_write', region: 'bar0', off: 0, data: Uint8Array.of(1) },
    { t: 'region_read', id: 10, region: 'bar0', off: -1, len: 4 }, // negative offset
    { t: 'irq', vec: 1 }, // wrong direction, no id: dropped
    { t: 'irq', id: 11, vec: 1 }, // wrong direction with id
    { t: 'warp', id: 12 }, // unknown type
    { t: 'region_read', id: 13, region: 'bar0', off: 2 ** 53, len: 4 }, // huge
    { t: 'region_read', id: 14, region: 'bar0', off: 0.5, len: 4 }, // fractional
    { t: 'region_write', region: 'bar0', off: 1, data: 'text' }, // wrong type, no id: dropped
    { t: 'region_write', region: 'bar0', off: 1, data: Uint8Array.of(2) },
    { t: 'region_read', id: 15, region: 'bar0', off: 0, len: 2 },
  ]);
  await until(() => p.got.some((m) => m.id === 15), 'last answer');
  const answers = p.got.filter((m) => m.id !== undefined && m.id >= 10);
  t.deepEqual(answers.map((m) => [m.id, m.t === 'err' ? m.code : 'ok']), [
    [10, 'bad_message'], [11, 'unknown_type'], [12, 'unknown_type'], [13, 'bad_message'], [14, 'bad_message'], [15, 'ok'],
  ]);
  const last = answers.at(-1);
  t.deepEqual(last?.t === 'ok' ? [...(last.data ?? [])] : [], [1, 2]);
  t.is(p.ch.counters.malformed, 7);
  t.is(p.closed(), undefined);
});

test('a 10,000-message batch of requests is answered in order', async (t) => {
  const p = rawHostAgainstDevice();
  await p.hello();
  const batch = Array.from({ length: 10_000 }, (_, i) => ({ t: 'region_read', id: i + 1, region: 'bar0', off: (i % 4096) * 4, len: 4 }));
  p.sendValue(batch);
  await until(() => p.got.length === 10_001, '10,000 answers');
  const ids = p.got.slice(1).map((m) => (m.t === 'ok' ? m.id : -1));
  t.deepEqual(ids, batch.map((m) => m.id));
  t.is(p.ch.counters.busyRejected, 0);
  t.is(p.closed(), undefined);
});

test('duplicate outstanding id → err bad_message; unmatched answers are counted', async (t) => {
  const p = rawHostAgainstDevice();
  await p.hello();
  p.model.defer = true;
  p.sendValue([{ t: 'reset', id: 7 }, { t: 'reset', id: 7 }, { t: 'ok', id: 999 }]);
  await until(() => p.got.some((m) => m.t === 'err' && m.id === 7), 'dup err');
  t.like(p.got.find((m) => m.t === 'err'), { code: 'bad_message' });
  t.is(p.ch.counters.unmatchedReplies, 1);
});
