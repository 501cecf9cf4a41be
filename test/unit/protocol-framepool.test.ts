// The Channel recycles frame buffers (PERF2, docs/perf.md "Device data
// path"): a frame handed to the transport's sendOwned must stay intact until
// the transport calls done(), a buffer is reused only after done() without an
// error, and messages encoded into the codec's transient buffer survive the
// wait queue. A fake transport holds frames like a busy socket would.
import test from 'ava';
import { Channel } from '../../src/protocol/channel.ts';
import { decodeFrame, encodeMessageTransient, encodeMessage } from '../../src/protocol/codec.ts';
import type { DeviceInfo, Message } from '../../src/protocol/messages.ts';
import { createMemoryTransportPair, type Transport } from '../../src/protocol/transport.ts';

const info: DeviceInfo = {
  vendor: 0x1b36, device: 0x0010, subsystemVendor: 0x1af4, subsystemDevice: 0x1100, classCode: 0x010802,
  regions: [{ name: 'config', size: 4096, flags: ['read', 'write'] }, { name: 'bar0', size: 16384, flags: ['read', 'write'] }],
  irqs: { msix: 8 },
};

interface Held {
  frame: Uint8Array;
  copy: Uint8Array;
  done: ((err?: Error | null) => void) | undefined;
}

/** A transport that keeps every frame (as the socket would) and a private copy to compare against. */
function holdingTransport(owned: boolean): Transport & { held: Held[] } {
  const held: Held[] = [];
  const tr: Transport & { held: Held[] } = {
    held,
    send: (frame) => {
      held.push({ frame, copy: Uint8Array.prototype.slice.call(frame), done: undefined });
    },
    close: () => undefined,
    onFrame: () => undefined,
    onClose: () => undefined,
    open: true,
  };
  if (owned) {
    tr.sendOwned = (frame, done) => {
      held.push({ frame, copy: Uint8Array.prototype.slice.call(frame), done });
    };
  }
  return tr;
}

function decode(frame: Uint8Array): Message[] {
  const r = decodeFrame(frame, 'host');
  if (r.fatal !== undefined) throw new Error(r.fatal.message);
  return r.items.map((m) => {
    if (!('t' in m)) throw new Error('malformed message');
    return m;
  });
}

function pattern(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

test('a held frame is never overwritten; buffers are reused only after done() without error', (t) => {
  const tr = holdingTransport(true);
  const ch = new Channel(tr, { side: 'device' });
  const sent: Uint8Array[] = [];
  const released = new Set<number>();
  // 40 frames of mixed sizes (one message, several, large ones that outgrow the first buffer).
  for (let f = 0; f < 40; f++) {
    const k = 1 + (f % 5);
    for (let i = 0; i < k; i++) {
      const data = pattern(f % 3 === 0 ? 20000 + i * 1000 : 4096, f * 10 + i);
      sent.push(data.slice());
      ch.post({ t: 'dma_write', iova: f * 0x10000 + i * 0x1000, data });
      data.fill(0xee); // the caller may reuse its data at once (encoded during post)
    }
    ch.flush();
    // Release every other frame, one with an error: its buffer must never come back.
    const h = tr.held[f];
    if (h !== undefined && f % 2 === 1) {
      h.done?.(f === 7 ? new Error('socket closed') : null);
      if (f !== 7) released.add(f);
    }
  }
  t.is(tr.held.length, 40);
  let n = 0;
  for (const [i, h] of tr.held.entries()) {
    if (released.has(i)) continue;
    // Frames not released (or failed) must be byte-identical to what was sent.
    t.deepEqual(Buffer.from(h.frame), Buffer.from(h.copy));
  }
  for (const h of tr.held) for (const m of decode(h.copy)) {
    if (m.t !== 'dma_write') continue;
    const want = sent[n++];
    t.truthy(want);
    t.deepEqual(Buffer.from(m.data), Buffer.from(want ?? []));
  }
  t.is(n, sent.length);
  // Reuse happened (fewer distinct buffers than frames) and never for a buffer still held or failed.
  const buffers = new Map<ArrayBufferLike, number[]>();
  tr.held.forEach((h, i) => buffers.set(h.frame.buffer, [...(buffers.get(h.frame.buffer) ?? []), i]));
  t.true(buffers.size < 40);
  for (const idx of buffers.values()) {
    for (let j = 0; j + 1 < idx.length; j++) {
      const i = idx[j] ?? 0;
      t.true(i % 2 === 1 && i !== 7, `frame ${i}'s buffer was reused although not released`);
    }
  }
});

test('without sendOwned every frame is a copy of its own', (t) => {
  const tr = holdingTransport(false);
  const ch = new Channel(tr, { side: 'device' });
  for (let f = 0; f < 10; f++) {
    ch.post({ t: 'dma_write', iova: f, data: pattern(5000, f) });
    ch.post({ t: 'irq', vec: 1 });
    ch.flush();
  }
  t.is(new Set(tr.held.map((h) => h.frame.buffer)).size, 10);
  for (const h of tr.held) t.deepEqual(Buffer.from(h.frame), Buffer.from(h.copy));
});

test('transient encodes equal encodeMessage and survive the wait queue (copied)', async (t) => {
  const m: Message = { t: 'dma_write', iova: 0x1000, data: pattern(3000, 1) };
  t.deepEqual(Buffer.from(encodeMessageTransient(m)), Buffer.from(encodeMessage(m)));
  // The device takes 4 requests at a time, so most of the host's writes wait in its queue,
  // each encoded into the transient buffer that the next request overwrites.
  const { a, b } = createMemoryTransportPair();
  const host = new Channel(a, { side: 'host' });
  const device = new Channel(b, { side: 'device', info, maxOutstanding: 4 });
  const got: Uint8Array[] = [];
  device.onRequest((req, reply) => {
    if (req.t === 'region_write') got.push(Uint8Array.prototype.slice.call(req.data));
    reply.ok();
  });
  await host.hello();
  const N = 300;
  const done = Array.from({ length: N }, (_, i) => {
    const data = pattern(100 + (i % 7) * 500, i);
    const p = host.request({ t: 'region_write', region: 'bar0', off: i * 4, data });
    data.fill(0); // the caller may reuse its data at once
    return p;
  });
  t.true(host.counters.queued > 0, 'requests waited for the peer');
  await Promise.all(done);
  t.is(got.length, N);
  for (let i = 0; i < N; i++) t.deepEqual(Buffer.from(got[i] ?? []), Buffer.from(pattern(100 + (i % 7) * 500, i)), `write ${i}`);
  host.close();
});
