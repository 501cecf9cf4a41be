// Channel reference scenarios (shared design BENCH.md): the cost of the wire
// itself between two real processes, through the same Channel and transport
// code the device daemon and the host PCI core use (connectWebSocket +
// Channel side 'host' here; webSocketServerOptions + wrapWebSocket + Channel
// side 'device' in bench/channel-peer/peer.ts). The rnvme scenarios are
// measured against these.
//
//   channel/rtt            one region_read (8 bytes) at a time: the QD1 floor
//   channel/req/qd32       the same request, 32 in flight (pipelined request path)
//   channel/posted/k16     host → device posted region_write (4 bytes), 16 per frame
//   channel/posted/k16-d2h device → host posted irq, 16 per frame
//   channel/bulk/4k-h2d    host → device posted region_write of 4 KiB, 16 per frame
//   channel/bulk/4k-d2h    device → host posted dma_write of 4 KiB, 16 per frame
//
// One-way streams are windowed by an ordinary request (a "barrier"): messages
// are applied in order, so its answer proves everything before it was applied.
// The barrier costs one message per 128 (h2d) or 1024 (d2h) posted ones.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Channel } from '../src/protocol/channel.ts';
import { connectWebSocket } from '../src/protocol/transport.ts';
import type { ProtocolError } from '../src/protocol/errors.ts';
import type { DataOk, PostedMessage, RegionReadMsg } from '../src/protocol/messages.ts';
import { percentile } from './lib.ts';
import type { Measurement, RunOptions, Scenario } from './lib.ts';

const PEER = join(dirname(fileURLToPath(import.meta.url)), 'channel-peer', 'peer.ts');
const PER_FRAME = 16;
const PAGE = 4096;

interface Peer {
  ch: Channel;
  /** Device process CPU µs and posted messages it applied so far. */
  stats(): Promise<{ cpuUs: number; posted: number }>;
  stop(): Promise<void>;
}

async function startPeer(): Promise<Peer> {
  // CHANNEL_PEER_NODE_ARGS: extra node options for the peer (e.g. --cpu-prof when profiling).
  const extraArgs = (process.env.CHANNEL_PEER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const proc = spawn(process.execPath, [...extraArgs, '--import', 'tsx', PEER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const rl = createInterface({ input: proc.stdout });
      rl.once('line', (l) => {
        rl.close();
        const p = (JSON.parse(l) as { port?: unknown }).port;
        if (typeof p === 'number') resolve(p);
        else reject(new Error(`channel peer said ${l}`));
      });
      proc.once('exit', (c) => reject(new Error(`channel peer exited (${c}) before listening`)));
    });
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
  const tr = await connectWebSocket(`ws://127.0.0.1:${port}/`);
  const ch = new Channel(tr, { side: 'host' });
  await ch.hello();
  const stats = async (): Promise<{ cpuUs: number; posted: number }> => {
    const ok = await ch.request({ t: 'region_read', region: 'bar4', off: 0, len: 16 });
    const v = new DataView(ok.data.buffer, ok.data.byteOffset, ok.data.byteLength);
    return { cpuUs: v.getFloat64(0, true), posted: v.getFloat64(8, true) };
  };
  const stop = async (): Promise<void> => {
    ch.bye('bench done');
    proc.stdin.end();
    const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  };
  return { ch, stats, stop };
}

/** Run `body` against a fresh peer, adding CPU figures for both processes over the measured window. */
async function withPeer(body: (peer: Peer, mark: () => void) => Promise<Measurement & { wallMs: number }>): Promise<Measurement> {
  const peer = await startPeer();
  try {
    let host0 = process.cpuUsage();
    let dev0 = 0;
    let marking: Promise<void> = Promise.resolve();
    const mark = (): void => {
      // Start of the measured window (after warm-up).
      host0 = process.cpuUsage();
      marking = peer.stats().then((s) => { dev0 = s.cpuUs; });
    };
    const m = await body(peer, mark);
    await marking;
    const host = process.cpuUsage(host0);
    const dev = (await peer.stats()).cpuUs - dev0;
    const { wallMs, ...rest } = m;
    const hostUs = host.user + host.system;
    // CPU per logical operation is the stable figure on a shared, noisy machine.
    const ops = ((m.iops ?? 0) * wallMs) / 1000;
    return {
      ...rest,
      cpu_pct: { host: (hostUs / 1000 / wallMs) * 100, device: (dev / 1000 / wallMs) * 100 },
      extra: { ...(rest.extra ?? {}), host_cpu_us_per_op: ops > 0 ? hostUs / ops : 0, dev_cpu_us_per_op: ops > 0 ? dev / ops : 0 },
    };
  } finally {
    await peer.stop();
  }
}

// ---------------------------------------------------------------------------
// Requests: one at a time (rtt) or pipelined.

async function requests(qd: number, opts: RunOptions): Promise<Measurement> {
  return withPeer(async ({ ch }, mark) => {
    const warmMs = opts.quick ? 100 : 300;
    const cap = 1 << 21;
    const lat = new Float64Array(cap);
    let n = 0;
    let measuring = false;
    let stopAt = 0;
    let inflight = 0;
    let t0 = 0;
    let tEnd = 0;
    let finish: () => void = () => {};
    let failure: Error | undefined;
    const msgs: RegionReadMsg[] = [];
    const starts = new Float64Array(qd);
    const cbs: ((err: ProtocolError | undefined, ok: DataOk | undefined) => void)[] = [];
    const issue = (slot: number): void => {
      starts[slot] = performance.now();
      inflight++;
      ch.requestCb(msgs[slot] as RegionReadMsg, cbs[slot] as (err: ProtocolError | undefined, ok: DataOk | undefined) => void);
    };
    for (let s = 0; s < qd; s++) {
      msgs.push({ t: 'region_read', region: 'bar0', off: 0, len: 8 });
      cbs.push((err) => {
        inflight--;
        const now = performance.now();
        if (err !== undefined) failure ??= err;
        if (measuring && n < cap) lat[n++] = (now - (starts[s] as number)) * 1000;
        if (failure === undefined && now < stopAt) issue(s);
        else if (inflight === 0) {
          tEnd = now;
          finish();
        }
      });
    }
    const phase = (ms: number, measure: boolean): Promise<void> => new Promise<void>((res) => {
      finish = res;
      measuring = measure;
      t0 = performance.now();
      stopAt = t0 + ms;
      for (let s = 0; s < qd; s++) issue(s);
    });
    await phase(warmMs, false);
    mark();
    await phase(opts.durationMs, true);
    if (failure !== undefined) throw failure;
    const wallMs = tEnd - t0;
    const sorted = lat.subarray(0, n).sort();
    return {
      iops: (n / wallMs) * 1000,
      lat_us: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9) },
      wallMs,
    };
  });
}

// ---------------------------------------------------------------------------
// One-way host → device: PER_FRAME posted region_writes per event-loop turn
// (the channel corks them into one frame), a barrier request every 8 turns,
// at most 4 barriers outstanding.

async function hostToDevice(payload: number, opts: RunOptions): Promise<Measurement> {
  return withPeer(async ({ ch }, mark) => {
    const turnsPerBarrier = 8;
    const window = 4;
    const data = new Uint8Array(payload).fill(0x5a);
    const msg: PostedMessage = { t: 'region_write', region: 'bar0', off: 0, data };
    const barrier: RegionReadMsg = { t: 'region_read', region: 'bar0', off: 0, len: 4 };
    let posted = 0;
    let outstanding = 0;
    let turn = 0;
    let stopAt = 0;
    let running = false;
    let scheduled = false;
    let tEnd = 0;
    let failure: Error | undefined;
    let finish: () => void = () => {};
    const onBarrier = (err: ProtocolError | undefined): void => {
      outstanding--;
      if (err !== undefined) failure ??= err;
      if (running) kick();
      else if (outstanding === 0) {
        tEnd = performance.now();
        finish();
      }
    };
    const tick = (): void => {
      scheduled = false;
      if (!running) return;
      for (let i = 0; i < PER_FRAME; i++) {
        msg.off = (posted * payload) & 0xfffff;
        ch.post(msg);
        posted++;
      }
      turn++;
      if (turn % turnsPerBarrier === 0) {
        outstanding++;
        ch.requestCb(barrier, onBarrier);
        if (performance.now() >= stopAt || failure !== undefined) running = false;
      }
      kick();
    };
    function kick(): void {
      if (running && !scheduled && outstanding < window) {
        scheduled = true;
        setImmediate(tick);
      }
    }
    const phase = (ms: number): Promise<{ posted: number; ms: number }> => new Promise((res) => {
      const p0 = posted;
      const t0 = performance.now();
      stopAt = t0 + ms;
      running = true;
      finish = () => res({ posted: posted - p0, ms: tEnd - t0 });
      kick();
    });
    await phase(opts.quick ? 100 : 300);
    mark();
    const r = await phase(opts.durationMs);
    if (failure !== undefined) throw failure;
    const rate = (r.posted / r.ms) * 1000;
    return { iops: rate, mbps: (rate * payload) / 1e6, wallMs: r.ms };
  });
}

// ---------------------------------------------------------------------------
// One-way device → host: the peer streams PER_FRAME posted messages per turn
// (irq or 4 KiB dma_write); each stream request of 1024 is answered after its
// last message; two stream requests outstanding keep the peer busy.

async function deviceToHost(kind: 'irq' | 'dma', opts: RunOptions): Promise<Measurement> {
  return withPeer(async ({ ch }, mark) => {
    const perRequest = 1024;
    const window = 2;
    const mem = new Uint8Array(1 << 20);
    let received = 0;
    ch.onPosted((m) => {
      received++;
      // Apply like the host PCI core: copy DMA data into host memory.
      if (m.t === 'dma_write') mem.set(m.data, m.iova % (mem.length - m.data.length + 1));
    });
    const req: RegionReadMsg = { t: 'region_read', region: kind === 'dma' ? 'bar2' : 'bar3', off: perRequest, len: 4 };
    let outstanding = 0;
    let stopAt = 0;
    let tEnd = 0;
    let failure: Error | undefined;
    let finish: () => void = () => {};
    const onDone = (err: ProtocolError | undefined): void => {
      outstanding--;
      if (err !== undefined) failure ??= err;
      const now = performance.now();
      if (now < stopAt && failure === undefined) send();
      else if (outstanding === 0) {
        tEnd = now;
        finish();
      }
    };
    function send(): void {
      outstanding++;
      ch.requestCb(req, onDone);
    }
    const phase = (ms: number): Promise<{ received: number; ms: number }> => new Promise((res) => {
      const r0 = received;
      const t0 = performance.now();
      stopAt = t0 + ms;
      finish = () => res({ received: received - r0, ms: tEnd - t0 });
      for (let i = 0; i < window; i++) send();
    });
    await phase(opts.quick ? 100 : 300);
    mark();
    const r = await phase(opts.durationMs);
    if (failure !== undefined) throw failure;
    const rate = (r.received / r.ms) * 1000;
    return { iops: rate, ...(kind === 'dma' ? { mbps: (rate * PAGE) / 1e6 } : {}), wallMs: r.ms };
  });
}

export const scenarios: Scenario[] = [
  { id: 'channel/rtt', run: (o) => requests(1, o) },
  { id: 'channel/req/qd32', reference: 'channel/rtt', run: (o) => requests(32, o) },
  { id: 'channel/posted/k16', run: (o) => hostToDevice(4, o) },
  { id: 'channel/posted/k16-d2h', reference: 'channel/posted/k16', run: (o) => deviceToHost('irq', o) },
  { id: 'channel/bulk/4k-h2d', run: (o) => hostToDevice(PAGE, o) },
  { id: 'channel/bulk/4k-d2h', reference: 'channel/bulk/4k-h2d', run: (o) => deviceToHost('dma', o) },
];
