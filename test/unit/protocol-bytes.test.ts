// src/util/bytes.ts: little-endian cursor reader/writer, bounds- and range-checked.
import test from 'ava';
import { ByteReader, ByteWriter, BytesError, getU16, getU32, getU64, getU64n, setU32, setU64 } from '../../src/util/bytes.ts';

test('writer and reader agree, little-endian, hex-checked', (t) => {
  const w = new ByteWriter(24);
  w.u8(0x01).u16(0x0302).u32(0x07060504).u64(0x0f0e0d0c0b0a09).u64n(0x1716151413121110n);
  t.is(w.pos, 23);
  t.is(Buffer.from(w.buf).toString('hex'), '01020304050607090a0b0c0d0e0f00101112131415161700');
  const r = new ByteReader(w.buf);
  t.is(r.u8(), 0x01);
  t.is(r.u16(), 0x0302);
  t.is(r.u32(), 0x07060504);
  t.is(r.u64(), 0x0f0e0d0c0b0a09);
  t.is(r.u64n(), 0x1716151413121110n);
  t.is(r.remaining, 1);
});

test('u32 above 2^31 stays unsigned; u64 as number up to 2^53-1', (t) => {
  const b = new Uint8Array(8);
  setU32(b, 0, 0xffffffff);
  t.is(getU32(b, 0), 0xffffffff);
  setU64(b, 0, Number.MAX_SAFE_INTEGER);
  t.is(getU64(b, 0), Number.MAX_SAFE_INTEGER);
  t.is(getU64n(b, 0), BigInt(Number.MAX_SAFE_INTEGER));
  b[6] = 0x20; // 2^53
  t.throws(() => getU64(b, 0), { instanceOf: BytesError });
  t.is(getU64n(b, 0), 2n ** 53n + 2n ** 48n - 1n); // 0x0020ffffffffffff
});

test('out of bounds and out of range throw BytesError with a clear message', (t) => {
  const b = new Uint8Array(4);
  t.throws(() => getU16(b, 3), { instanceOf: BytesError, message: /2-byte access at offset 3 is outside a 4-byte buffer/ });
  t.throws(() => getU32(b, -1), { instanceOf: BytesError });
  t.throws(() => getU32(b, 0.5), { instanceOf: BytesError });
  t.throws(() => new ByteReader(b).skip(2).u32(), { instanceOf: BytesError });
  t.throws(() => new ByteWriter(b).u16(0x10000), { instanceOf: BytesError });
  t.throws(() => new ByteWriter(b).u8(-1), { instanceOf: BytesError });
  t.throws(() => new ByteWriter(b).bytes(new Uint8Array(5)), { instanceOf: BytesError });
  t.throws(() => new ByteWriter(8).u64(2 ** 53), { instanceOf: BytesError });
  t.throws(() => new ByteWriter(8).u64n(-1n), { instanceOf: BytesError });
});

test('bytes() is a view; seek and zero', (t) => {
  const b = Uint8Array.of(1, 2, 3, 4, 5);
  const r = new ByteReader(b, 1);
  const v = r.bytes(2);
  b[1] = 9;
  t.deepEqual([...v], [9, 3]);
  const w = new ByteWriter(b).seek(2).zero(2);
  t.is(w.pos, 4);
  t.deepEqual([...b], [1, 9, 0, 0, 5]);
});
