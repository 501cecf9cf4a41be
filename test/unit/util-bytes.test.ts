// src/util/bytes.ts unchecked primitives, and src/wire/le.ts re-exporting them:
// one little-endian implementation behind both the checked and the hot-path API.
import test from 'ava';
import * as bytes from '../../src/util/bytes.ts';
import * as le from '../../src/wire/le.ts';

test('src/wire/le.ts re-exports the primitives of src/util/bytes.ts (one implementation)', (t) => {
  for (const name of ['u8', 'u16', 'u32', 'u64', 'u64n', 'put8', 'put16', 'put32', 'put64', 'put64n'] as const) {
    t.is(le[name], bytes[name], name);
  }
});

test('unchecked primitives: hex-exact, masked to width, unsigned above 2^31', (t) => {
  const b = new Uint8Array(16);
  bytes.put16(b, 0, 0x1_0302); // masked to 16 bits
  bytes.put32(b, 2, 0xf7f6f5f4);
  bytes.put64(b, 6, 0x0f0e0d0c0b0a09);
  t.is(Buffer.from(b).toString('hex'), '0203f4f5f6f7090a0b0c0d0e0f000000');
  t.is(bytes.u16(b, 0), 0x0302);
  t.is(bytes.u32(b, 2), 0xf7f6f5f4);
  t.is(bytes.u64(b, 6), 0x0f0e0d0c0b0a09);
  bytes.put64n(b, 8, 0xfffe_fdfc_fbfa_f9f8n);
  t.is(bytes.u64n(b, 8), 0xfffe_fdfc_fbfa_f9f8n);
});

test('unchecked primitives past the end: reads give 0, writes are dropped, nothing throws', (t) => {
  const b = Uint8Array.of(1, 2);
  t.is(bytes.u32(b, 0), 0x0201);
  t.is(bytes.u8(b, 5), 0);
  bytes.put32(b, 1, 0xaabbccdd);
  t.deepEqual([...b], [1, 0xdd]);
});

test('checked and unchecked agree where both are defined', (t) => {
  const b = new Uint8Array(8);
  for (const v of [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff]) {
    bytes.setU32(b, 0, v);
    t.is(bytes.u32(b, 0), bytes.getU32(b, 0));
    bytes.put32(b, 4, v);
    t.is(bytes.getU32(b, 4), v);
  }
  bytes.setU64(b, 0, Number.MAX_SAFE_INTEGER);
  t.is(bytes.u64(b, 0), bytes.getU64(b, 0));
});
