// Fuzz the device daemon's two boundaries as a real process (PROTOCOL.md
// "Corner cases", "Control channel"): the host ws endpoint gets random bytes,
// truncated msgpack and well-formed-looking messages with wrong field types;
// expected: the documented err code or close code, and the daemon keeps
// serving a fresh good host (bring-up + I/O). Seeded. (QMP: fuzz-qmp.test.ts.)
import test from 'ava';
import { WebSocket } from 'ws';
import { startDevice, type DeviceDaemon } from '../helpers/daemon.ts';
import { NvmeTestHost } from '../helpers/nvme-host.ts';
import { encodeValue } from '../../src/protocol/codec.ts';
import { ERROR_CODES } from '../../src/protocol/messages.ts';
import { NVM } from '../../src/spec/nvm.ts';
import { Mulberry32 } from '../../src/util/prng.ts';
import { Unpackr } from 'msgpackr';

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

let dev: DeviceDaemon;
test.before(async () => {
  dev = await startDevice({ args: ['-device', 'nvme,serial=fuzz', '-device', 'nvme-ns,nsid=1,size=8M'] });
});
test.after.always(async () => {
  await dev.stop();
});

function randBytes(r: Mulberry32, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = r.below(256);
  return b;
}

function open(): Promise<WebSocket> {
  return new Promise((res, rej) => {
    const ws = new WebSocket(dev.url, ['nvmelab.v1'], { perMessageDeflate: false });
    ws.once('open', () => res(ws));
    ws.once('error', rej);
  });
}
const closed = (ws: WebSocket): Promise<number> =>
  new Promise((res) => {
    if (ws.readyState === WebSocket.CLOSED) res(-1);
    else ws.once('close', (c) => res(c));
  });

/** True when a frame is not one msgpack value (the receiver must close 4400). */
function undecodable(frame: Uint8Array | string): boolean {
  if (typeof frame === 'string' || frame.length === 0) return true;
  try {
    unpackr.unpack(frame);
    return false;
  } catch {
    return true;
  }
}

/** Send hello and wait for its ok; resolves with a function that waits for the answer to an id. */
async function hello(ws: WebSocket): Promise<(id: number) => Promise<Record<string, unknown>>> {
  const answers = new Map<number, Record<string, unknown>>();
  const waiters = new Map<number, (m: Record<string, unknown>) => void>();
  ws.on('message', (data: Buffer) => {
    const v = unpackr.unpack(data) as unknown;
    for (const m of Array.isArray(v) ? v : [v]) {
      const msg = m as Record<string, unknown>;
      if (typeof msg.id !== 'number') continue;
      const w = waiters.get(msg.id);
      if (w !== undefined) {
        waiters.delete(msg.id);
        w(msg);
      } else answers.set(msg.id, msg);
    }
  });
  const wait = (id: number): Promise<Record<string, unknown>> =>
    new Promise((res, rej) => {
      const a = answers.get(id);
      if (a !== undefined) return res(a);
      waiters.set(id, res);
      ws.once('close', (c) => rej(new Error(`closed ${c} before answer to ${id}`)));
    });
  ws.send(encodeValue({ t: 'hello', id: 1, proto: 1, maxFrame: 1 << 20 }));
  const h = await wait(1);
  if (h.t !== 'ok') throw new Error(`hello: ${JSON.stringify(h)}`);
  return wait;
}

const TYPES = ['hello', 'region_read', 'region_write', 'dma_map', 'dma_unmap', 'dma_read', 'dma_write', 'irq', 'reset', 'ok', 'err', 'zap', ''];
const FIELDS = ['region', 'off', 'len', 'data', 'iova', 'prot', 'vec', 'proto', 'maxFrame', 'code', 'msg'];

function wrongValue(r: Mulberry32): unknown {
  switch (r.below(12)) {
    case 0: return -1 - r.below(100);
    case 1: return 2 ** 53 + r.below(1000) * 2;
    case 2: return 1.5 + r.below(10);
    case 3: return 'x'.repeat(r.below(40));
    case 4: return ['config', 'bar0', 'bar1', 'bar2', 'bar4', 'bar9', 'pba'][r.below(7)];
    case 5: return null;
    case 6: return r.below(2) === 0;
    case 7: return [1, 2, 3];
    case 8: return { a: 1 };
    case 9: return randBytes(r, r.below(16));
    case 10: return r.nextU32();
    default: return r.below(0x2000);
  }
}

for (const seed of [21, 22]) {
  test.serial(`host ws: garbage before and after hello closes 4400 (seed ${seed})`, async (t) => {
    const r = new Mulberry32(seed);
    const hi = encodeValue({ t: 'hello', id: 1, proto: 1, maxFrame: 1 << 20 });
    for (let i = 0; i < 12; i++) {
      let frame: Uint8Array | string;
      switch (r.below(4)) {
        case 0: frame = randBytes(r, 1 + r.below(64)); break;
        case 1: frame = hi.subarray(0, 1 + r.below(hi.length - 1)); break; // truncated msgpack
        case 2: frame = 'text frame ' + String(r.nextU32()); break;
        default: frame = Uint8Array.of(0xc1, ...randBytes(r, r.below(8))); // 0xc1: never used in msgpack
      }
      const afterHello = i % 2 === 1;
      const what = typeof frame === 'string' ? frame : Buffer.from(frame).toString('hex');
      // The previous connection's close may still be in flight at the daemon (4409): try again.
      for (let attempt = 0; ; attempt++) {
        if (attempt > 100) throw new Error('daemon stayed busy');
        const ws = await open();
        const code = closed(ws);
        let wait: ((id: number) => Promise<Record<string, unknown>>) | undefined;
        if (afterHello) {
          wait = await hello(ws).catch(() => undefined);
          if (wait === undefined) {
            if ((await code) === 4409) continue;
            throw new Error('hello failed');
          }
        }
        ws.send(frame);
        if (wait !== undefined && !undecodable(frame)) {
          // One msgpack value after hello: it is a malformed message (dropped or answered), or closes 4400.
          ws.send(encodeValue({ t: 'region_read', id: 99, region: 'config', off: 0, len: 2 }));
          const ans = await wait(99).catch(() => undefined);
          if (ans !== undefined) {
            t.is(ans.t, 'ok', what);
            ws.close(1000);
            await code;
          } else t.is(await code, 4400, what);
          break;
        }
        const c = await code;
        if (c === 4409) continue;
        t.is(c, 4400, what);
        break;
      }
    }
  });

  test.serial(`host ws: wrong-typed messages get err with a documented code, the session keeps working (seed ${seed})`, async (t) => {
    const r = new Mulberry32(seed * 31);
    let ws = await open();
    let code = closed(ws);
    let wait = await hello(ws).catch(() => undefined);
    for (let i = 0; wait === undefined && i < 100; i++) {
      await code;
      ws = await open();
      code = closed(ws);
      wait = await hello(ws).catch(() => undefined);
    }
    if (wait === undefined) throw new Error('no session');
    let id = 100;
    const asked: { id: number; m: Record<string, unknown> }[] = [];
    for (let i = 0; i < 300; i++) {
      const m: Record<string, unknown> = { t: r.below(10) === 0 ? wrongValue(r) : TYPES[r.below(TYPES.length)] };
      const nf = r.below(5);
      for (let k = 0; k < nf; k++) m[FIELDS[r.below(FIELDS.length)] ?? 'x'] = wrongValue(r);
      const withId = r.below(5) !== 0;
      if (withId) m.id = ++id;
      // Sometimes in batches, as PROTOCOL.md allows: each element handled on its own.
      // An `ok`/`err` from the host answers nothing the device asked: dropped, never answered.
      if (withId && m.t !== 'ok' && m.t !== 'err') asked.push({ id: m.id as number, m });
      if (r.below(4) === 0) {
        ws.send(encodeValue([m, { t: 'region_read', id: ++id, region: 'config', off: 0, len: 2 }]));
        asked.push({ id, m: { t: 'region_read', batchedAfter: m } });
      } else ws.send(encodeValue(m));
    }
    for (const a of asked) {
      const ans = await wait(a.id);
      if (ans.t === 'err') t.true((ERROR_CODES as readonly string[]).includes(String(ans.code)), `${JSON.stringify(a.m)} → ${JSON.stringify(ans)}`);
      else t.is(ans.t, 'ok', JSON.stringify(a.m));
    }
    ws.send(encodeValue({ t: 'region_read', id: ++id, region: 'config', off: 0, len: 4 }));
    const last = await wait(id);
    t.is(last.t, 'ok', 'the session still answers');
    ws.close(1000);
    await code;
  });
}

test.serial('a fresh host after all that: bring-up and I/O work; nothing threw', async (t) => {
  let host: NvmeTestHost | undefined;
  for (let i = 0; i < 200 && host === undefined; i++) {
    host = await NvmeTestHost.connect(dev.url).catch(() => undefined);
  }
  if (host === undefined) return t.fail('no host');
  const h = host;
  t.teardown(() => h.close());
  await h.bringUp({ ioQueues: 1, qdepth: 8, aer: false });
  const b = h.buf(4096);
  h.mem.view(b, 4096).fill(7);
  t.is((await h.io(1, { opc: NVM.WRITE, nsid: 1, prp1: b, cdw10: 8, cdw12: 0 })).status, 0);
  t.notRegex(dev.stderr(), /threw|uncaught|TypeError|RangeError/i);
});

