// The hand encoder for hot message types (codec.ts encodeMessage) must
// produce msgpack that decodes to exactly what the generic encoder's output
// decodes to, for every size class of integers and byte strings.
import test from 'ava';
import { Packr, Unpackr } from 'msgpackr';
import { decodeFrame, encodeMessage } from '../../src/protocol/codec.ts';
import { ProtocolError } from '../../src/protocol/errors.ts';
import type { Message, Side } from '../../src/protocol/messages.ts';

const generic = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

const ints = [0, 1, 127, 128, 255, 256, 65535, 65536, 0xffff_ffff, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER];
const sizes = [0, 1, 16, 17, 255, 256, 4096, 65535, 65536, 70000];

function bytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

function cases(): [Message, Side][] {
  const out: [Message, Side][] = [];
  for (const v of ints) {
    const id = Math.min(v, 0xffff_ffff);
    out.push([{ t: 'region_read', id, region: 'bar0', off: v, len: Math.min(v, 4096) }, 'device']);
    out.push([{ t: 'region_write', region: 'bar5', off: v, data: bytes(4) }, 'device']);
    out.push([{ t: 'region_write', id, region: 'config', off: v, data: bytes(2) }, 'device']);
    out.push([{ t: 'dma_read', id, iova: v, len: Math.min(v, 4096) }, 'host']);
    out.push([{ t: 'dma_write', iova: v, data: bytes(8) }, 'host']);
    out.push([{ t: 'irq', vec: id }, 'host']);
    out.push([{ t: 'ok', id }, 'host']);
  }
  for (const n of sizes) {
    out.push([{ t: 'dma_write', iova: 4096, data: bytes(n) }, 'host']);
    out.push([{ t: 'region_write', region: 'bar2', off: 8, data: bytes(n) }, 'device']);
    out.push([{ t: 'ok', id: 9, data: bytes(n) }, 'device']);
  }
  return out;
}

function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bin: Buffer.from(v).toString('hex') };
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

test('hot encoder output decodes exactly like the generic encoder output', (t) => {
  for (const [m, receiver] of cases()) {
    const mine = encodeMessage(m);
    const theirs = generic.pack(m);
    t.deepEqual(plain(unpackr.unpack(mine)), plain(unpackr.unpack(theirs)), JSON.stringify(plain(m)).slice(0, 200));
    const r = decodeFrame(Buffer.from(mine), receiver);
    const got = r.items?.[0];
    t.false(got instanceof ProtocolError, got instanceof ProtocolError ? got.message : '');
    t.deepEqual(plain(got), plain(m));
  }
});

test('views returned earlier stay intact while later messages are encoded', (t) => {
  const first = encodeMessage({ t: 'dma_write', iova: 1, data: bytes(1000) });
  const copy = Buffer.from(first);
  // Enough traffic to roll over the encoder's buffer several times.
  for (let i = 0; i < 2000; i++) encodeMessage({ t: 'dma_write', iova: i, data: bytes(1000) });
  t.true(Buffer.from(first).equals(copy));
});

test('out-of-range fields fall back to the generic encoder (the receiver rejects them)', (t) => {
  const bad = { t: 'region_read', id: 1, region: 'bar0', off: -1, len: 4 } as unknown as Message;
  const r = decodeFrame(Buffer.from(encodeMessage(bad)), 'device');
  const got = r.items?.[0];
  t.true(got instanceof ProtocolError);
  t.is((got as ProtocolError).code, 'bad_message');
  const frac = { t: 'irq', vec: 1.5 } as unknown as Message;
  const r2 = decodeFrame(Buffer.from(encodeMessage(frac)), 'host');
  t.true(r2.items?.[0] instanceof ProtocolError);
});
