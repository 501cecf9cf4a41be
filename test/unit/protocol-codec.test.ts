// Codec: every message type round-trips; malformed values become typed
// errors with stable codes; unparseable frames are fatal with 4400/1009.
import test, { type ExecutionContext } from 'ava';
import { decodeFrame, decodeValue, encodeBatch, encodeMessage, encodeValue, wireUint } from '../../src/protocol/codec.ts';
import { ProtocolError, type ErrorCode } from '../../src/protocol/errors.ts';
import { CloseCode, type DeviceInfo, type Message, type Side } from '../../src/protocol/messages.ts';
import { mulberry32 } from '../../src/util/prng.ts';

const info: DeviceInfo = {
  vendor: 0x1b36, device: 0x0010, subsystemVendor: 0x1af4, subsystemDevice: 0x1100, classCode: 0x010802,
  regions: [{ name: 'config', size: 4096, flags: ['read', 'write'] }, { name: 'bar0', size: 16384, flags: ['read', 'write'] }],
  irqs: { msix: 65 },
};

/** Every message type, each with the side that receives it. */
export const samples: [Message, Side][] = [
  [{ t: 'hello', id: 1, proto: 1, maxFrame: 1 << 20, maxOutstanding: 1024 }, 'device'],
  [{ t: 'region_read', id: 2, region: 'bar0', off: 0x1000, len: 4 }, 'device'],
  [{ t: 'region_write', region: 'bar0', off: 0x1008, data: Uint8Array.of(1, 0, 0, 0) }, 'device'],
  [{ t: 'region_write', id: 3, region: 'config', off: 4, data: Uint8Array.of(6, 0) }, 'device'],
  [{ t: 'dma_map', id: 4, iova: 2 ** 40, len: 1 << 20, prot: 3 }, 'device'],
  [{ t: 'dma_unmap', id: 5, iova: 2 ** 40, len: 1 << 20 }, 'device'],
  [{ t: 'dma_read', id: 6, iova: 2 ** 52 + 4096, len: 4096 }, 'host'],
  [{ t: 'dma_write', iova: 0x10000, data: new Uint8Array(4096).fill(0xa5) }, 'host'],
  [{ t: 'irq', vec: 3 }, 'host'],
  [{ t: 'reset', id: 7 }, 'device'],
  [{ t: 'bye', reason: 'done' }, 'device'],
  [{ t: 'bye', reason: 'done' }, 'host'],
  [{ t: 'ok', id: 8 }, 'host'],
  [{ t: 'ok', id: 9, data: Uint8Array.of(1, 2, 3) }, 'device'],
  [{ t: 'ok', id: 1, proto: 1, maxFrame: 65536, maxOutstanding: 512, info }, 'host'],
  [{ t: 'err', id: 10, code: 'iommu', msg: 'outside any window' }, 'device'],
];

/** Plain-data view for deepEqual: bytes (msgpackr gives Buffers) as number arrays. */
export function norm(m: unknown): unknown {
  if (m instanceof Uint8Array) return { bytes: [...m] };
  if (Array.isArray(m)) return m.map(norm);
  if (typeof m === 'object' && m !== null) {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(m)) o[k] = norm(v);
    return o;
  }
  return m;
}

for (const [i, [msg, receiver]] of samples.entries()) {
  test(`round-trips #${i} ${msg.t}${msg.id === undefined ? '' : ' with id'} to the ${receiver}`, (t) => {
    const r = decodeFrame(encodeMessage(msg), receiver);
    t.is(r.fatal, undefined);
    t.false(r.batch);
    t.is(r.items?.length, 1);
    const got = r.items?.[0];
    t.false(got instanceof ProtocolError, got instanceof ProtocolError ? got.message : '');
    t.deepEqual(norm(got), norm(msg));
  });
}

test('a batch of every type decodes in order', (t) => {
  const toDevice = samples.filter(([, r]) => r === 'device').map(([m]) => m);
  const r = decodeFrame(encodeBatch(toDevice), 'device');
  t.true(r.batch);
  t.deepEqual(norm(r.items), norm(toDevice));
});

test('integers: float64 holding an exact integer, bigint below 2^53 accepted; others rejected', (t) => {
  t.is(wireUint(2 ** 40), 2 ** 40);
  t.is(wireUint(2 ** 53 - 1), 2 ** 53 - 1);
  t.is(wireUint(5n), 5);
  t.is(wireUint(-0), 0);
  for (const bad of [2 ** 53, -1, 1.5, NaN, Infinity, 2n ** 53n, -1n, '4', null, true]) t.is(wireUint(bad), undefined, String(bad));
  // On the wire: a float64 0x4270000000000000 (2^40) is an acceptable offset.
  const r = decodeValue({ t: 'region_read', id: 1, region: 'bar0', off: 2 ** 40, len: 8 }, 'device');
  t.false(r instanceof ProtocolError);
  // A uint64 above 2^53 arrives as bigint and is refused.
  const frame = encodeValue({ t: 'region_read', id: 1, region: 'bar0', off: 2n ** 60n, len: 8 });
  const d = decodeFrame(frame, 'device');
  const e = d.items?.[0];
  t.true(e instanceof ProtocolError);
  t.is(e instanceof ProtocolError ? e.code : undefined, 'bad_message');
  t.is(e instanceof ProtocolError ? e.id : undefined, 1);
});

function expectErr(t: ExecutionContext, v: unknown, receiver: Side, code: ErrorCode, id?: number): void {
  const r = decodeFrame(encodeValue(v), receiver);
  t.is(r.fatal, undefined);
  const e = r.items?.[0];
  if (!(e instanceof ProtocolError)) {
    t.fail(`expected ${code} for ${JSON.stringify(norm(v))}`);
    return;
  }
  t.is(e.code, code, e.message);
  t.is(e.id, id);
}

test('wrong field types, missing fields, bad ranges → bad_message with the id when valid', (t) => {
  expectErr(t, { t: 'region_read', id: 5, region: 'bar0', off: -4, len: 4 }, 'device', 'bad_message', 5);
  expectErr(t, { t: 'region_read', id: 5, region: 'bar0', off: 1.5, len: 4 }, 'device', 'bad_message', 5);
  expectErr(t, { t: 'region_read', id: 5, region: 'bar0', off: NaN, len: 4 }, 'device', 'bad_message', 5);
  expectErr(t, { t: 'region_read', id: 5, region: 'bar0', off: 2 ** 53, len: 4 }, 'device', 'bad_message', 5);
  expectErr(t, { t: 'region_read', id: 5, region: 'bar0', off: '0', len: 4 }, 'device', 'bad_message', 5);
  expectErr(t, { t: 'region_read', id: 5, region: 'bar9', off: 0, len: 4 }, 'device', 'bad_message', 5);
  expectErr(t, { t: 'region_read', id: 5, region: 'bar0', off: 0 }, 'device', 'bad_message', 5);
  expectErr(t, { t: 'region_read', region: 'bar0', off: 0, len: 4 }, 'device', 'bad_message'); // request without id
  expectErr(t, { t: 'region_read', id: -1, region: 'bar0', off: 0, len: 4 }, 'device', 'bad_message');
  expectErr(t, { t: 'region_read', id: 2 ** 32, region: 'bar0', off: 0, len: 4 }, 'device', 'bad_message');
  expectErr(t, { t: 'region_write', region: 'bar0', off: 0, data: 'abcd' }, 'device', 'bad_message');
  expectErr(t, { t: 'region_write', id: 9, region: 'bar0', off: 0, data: [1, 2] }, 'device', 'bad_message', 9);
  expectErr(t, { t: 'dma_map', id: 1, iova: 0, len: 4096, prot: 4 }, 'device', 'bad_message', 1);
  expectErr(t, { t: 'dma_map', id: 1, iova: 0, len: 4096, prot: 0 }, 'device', 'bad_message', 1);
  expectErr(t, { t: 'dma_write', iova: 0 }, 'host', 'bad_message');
  expectErr(t, { t: 'dma_write', id: 3, iova: 0, data: 7 }, 'host', 'bad_message', 3); // posted with id: answered
  expectErr(t, { t: 'irq', vec: -1 }, 'host', 'bad_message');
  expectErr(t, { t: 'bye' }, 'host', 'bad_message');
  expectErr(t, { t: 'err', id: 1, code: 'iommu' }, 'host', 'bad_message', 1);
  expectErr(t, { t: 'ok', id: 1, data: 'x' }, 'host', 'bad_message', 1);
  expectErr(t, { t: 'ok', id: 1, info: { ...info, vendor: 0x10000 } }, 'host', 'bad_message', 1);
  expectErr(t, { t: 'ok', id: 1, info: { ...info, regions: [{ name: 'bar0', size: 1, flags: ['exec'] }] } }, 'host', 'bad_message', 1);
  expectErr(t, { t: 'ok', id: 1, info: { ...info, irqs: { msix: 4096 } } }, 'host', 'bad_message', 1);
  expectErr(t, { t: 'hello', id: 1, proto: 1 }, 'device', 'bad_message', 1);
  expectErr(t, 42, 'device', 'bad_message');
  expectErr(t, 'hello', 'device', 'bad_message');
  expectErr(t, [[{ t: 'reset', id: 1 }]], 'device', 'bad_message'); // nested batch element
});

test('unknown t and wrong direction → unknown_type', (t) => {
  expectErr(t, { t: 'frobnicate', id: 4 }, 'device', 'unknown_type', 4);
  expectErr(t, { t: 7, id: 4 }, 'device', 'unknown_type', 4);
  expectErr(t, { id: 4 }, 'device', 'unknown_type', 4);
  expectErr(t, { t: 'irq', vec: 1 }, 'device', 'unknown_type'); // a host sending irq
  expectErr(t, { t: 'dma_read', id: 2, iova: 0, len: 4 }, 'device', 'unknown_type', 2);
  expectErr(t, { t: 'hello', id: 1, proto: 1, maxFrame: 65536 }, 'host', 'unknown_type', 1); // a device sending hello
  expectErr(t, { t: 'region_read', id: 3, region: 'bar0', off: 0, len: 4 }, 'host', 'unknown_type', 3);
  expectErr(t, { t: 'reset', id: 3 }, 'host', 'unknown_type', 3);
});

test('an unknown err code from a peer is kept readable as internal', (t) => {
  const r = decodeValue({ t: 'err', id: 1, code: 'teapot', msg: 'short and stout' }, 'host');
  t.deepEqual(r, { t: 'err', id: 1, code: 'internal', msg: '[teapot] short and stout' });
});

test('unknown extra fields are ignored', (t) => {
  const r = decodeValue({ t: 'irq', vec: 2, future: { x: 1 } }, 'host');
  t.deepEqual(r, { t: 'irq', vec: 2 });
});

test('fatal frames: text, empty, truncated, trailing bytes, oversize', (t) => {
  const fatalCode = (f: Uint8Array | string, maxFrame?: number): number | undefined => {
    const r = decodeFrame(f, 'device', maxFrame === undefined ? {} : { maxFrame });
    return r.fatal?.closeCode;
  };
  t.is(fatalCode('{"t":"reset"}'), CloseCode.protocolError);
  t.is(fatalCode(new Uint8Array(0)), CloseCode.protocolError);
  const good = encodeMessage({ t: 'region_read', id: 1, region: 'bar0', off: 0, len: 4 });
  for (let cut = 1; cut < good.length; cut++) t.is(fatalCode(good.subarray(0, cut)), CloseCode.protocolError, `cut ${cut}`);
  const twoValues = new Uint8Array(good.length * 2);
  twoValues.set(good);
  twoValues.set(good, good.length);
  t.is(fatalCode(twoValues), CloseCode.protocolError);
  t.is(fatalCode(new Uint8Array(70_000), 65_536), CloseCode.tooBig);
  t.is(fatalCode(Uint8Array.of(0xc1)), undefined); // one value (msgpack "never used"), but not a message
});

test('random bytes and mutated frames never throw out of decodeFrame', (t) => {
  const rnd = mulberry32(0x5eed);
  const goods = samples.map(([m]) => encodeMessage(m));
  let fatal = 0;
  let elements = 0;
  for (let i = 0; i < 3000; i++) {
    let f: Uint8Array;
    if (i % 2 === 0) {
      f = new Uint8Array(1 + Math.floor(rnd() * 64));
      for (let j = 0; j < f.length; j++) f[j] = Math.floor(rnd() * 256);
    } else {
      const g = goods[i % goods.length] ?? Uint8Array.of(0x90);
      f = g.slice();
      const flips = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < flips; k++) f[Math.floor(rnd() * f.length)] = Math.floor(rnd() * 256);
    }
    for (const side of ['host', 'device'] as const) {
      const r = decodeFrame(f, side, { maxFrame: 1 << 20 });
      if (r.fatal !== undefined) {
        fatal++;
        t.true(r.fatal.closeCode === CloseCode.protocolError);
      } else {
        for (const it of r.items) {
          elements++;
          if (it instanceof ProtocolError) t.truthy(it.code);
        }
      }
    }
  }
  t.true(fatal > 0 && elements > 0);
});

test('a 10,000-message batch decodes in order', (t) => {
  const msgs: Message[] = [];
  for (let i = 0; i < 10_000; i++) msgs.push({ t: 'irq', vec: i % 64 });
  const r = decodeFrame(encodeBatch(msgs), 'host');
  t.is(r.items?.length, 10_000);
  t.deepEqual(r.items?.[9_999], { t: 'irq', vec: 9_999 % 64 });
});
