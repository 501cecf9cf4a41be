// Verify building blocks: crc32c known answers, and the block header that
// lets a read-back name misdirected, stale and corrupted blocks.
import test from 'ava';
import { crc32c } from '../../host/tools/fio/index.ts';
import { checkBlock, fillBlock, HEADER_SIZE, type VerifyContext } from '../../host/tools/fio/verify.ts';

test('crc32c known answers (RFC 3720 / iSCSI test vectors)', (t) => {
  t.is(crc32c(Buffer.from('123456789')), 0xe3069283);
  t.is(crc32c(new Uint8Array(32)), 0x8a9136aa);
  t.is(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  const inc = Uint8Array.from({ length: 32 }, (_, i) => i);
  t.is(crc32c(inc), 0x46dd794e);
  // Chaining equals one pass; odd lengths and offsets take the byte path.
  const b = Buffer.from('The quick brown fox jumps over the lazy dog');
  t.is(crc32c(b, 5, b.length, crc32c(b, 0, 5)), crc32c(b));
  t.is(crc32c(b, 3, 20), crc32c(b.subarray(3, 20)));
});

const CTX: VerifyContext = { kind: 'crc32c', pattern: undefined, job: 0 };

test('a good block passes; every kind of damage is named', (t) => {
  const blk = { offset: 8192, len: 4096, seed: 1234, numberio: 7 };
  const buf = new Uint8Array(4096);
  fillBlock(CTX, buf, 4096, blk);
  t.is(checkBlock(CTX, 'd0', buf, blk), undefined);
  for (const kind of ['md5', 'sha256'] as const) {
    const c = { ...CTX, kind };
    fillBlock(c, buf, 4096, blk);
    t.is(checkBlock(c, 'd0', buf, blk), undefined, kind);
  }
  fillBlock(CTX, buf, 4096, blk);
  // Payload bit flip.
  const bad = buf.slice();
  bad[HEADER_SIZE + 10] ^= 0x80;
  const p = checkBlock(CTX, 'd0', bad, blk);
  t.is(p?.badByte, HEADER_SIZE + 10);
  t.regex(p?.message ?? '', /^crc32c: verify failed at file d0 offset 8192, length 4096 \(requested block: offset=8192, length=4096\)\n {7}Expected CRC: [0-9a-f]{8}\n {7}Received CRC: [0-9a-f]{8}\n {7}first bad byte at offset 8274/);
  // Magic.
  const m = buf.slice();
  m[0] = 0;
  t.regex(checkBlock(CTX, 'd0', m, blk)?.message ?? '', /bad magic header/);
  // A block written for another offset (misdirected write) is self-consistent but elsewhere.
  const other = new Uint8Array(4096);
  fillBlock(CTX, other, 4096, { ...blk, offset: 12288 });
  t.regex(checkBlock(CTX, 'd0', other, blk)?.message ?? '', /bad header offset 12288, wanted 8192/);
  // An older write still in place (lost write): right offset, old seed.
  const stale = new Uint8Array(4096);
  fillBlock(CTX, stale, 4096, { ...blk, seed: 99 });
  t.regex(checkBlock(CTX, 'd0', stale, blk)?.message ?? '', /bad header rand_seed 99, wanted 1234/);
  // Zeroes (never written / discarded).
  t.regex(checkBlock(CTX, 'd0', new Uint8Array(4096), blk)?.message ?? '', /bad magic header 0, wanted acca/);
});

test('pattern verify names the first byte off the pattern', (t) => {
  const c: VerifyContext = { kind: 'pattern', pattern: Uint8Array.from([0xde, 0xad, 0xbe, 0xef]), job: 0 };
  const blk = { offset: 0, len: 512, seed: 0, numberio: 0 };
  const buf = new Uint8Array(512);
  fillBlock(c, buf, 512, blk);
  t.deepEqual([...buf.subarray(0, 6)], [0xde, 0xad, 0xbe, 0xef, 0xde, 0xad]);
  t.is(checkBlock(c, 'd0', buf, blk), undefined);
  buf[301] = 0;
  const p = checkBlock(c, 'd0', buf, blk);
  t.is(p?.badByte, 301);
  t.regex(p?.message ?? '', /^pattern: verify failed at file d0 offset 0, length 512 \(requested block: offset=0, length=512\)\n {7}first bad byte at offset 301/);
});

test('Prng.fillWords gives the same sequence as u32() (verify payloads depend on it)', async (t) => {
  const { Prng } = await import('../../host/tools/fio/rand.ts');
  const a = new Prng(5);
  const b = new Prng(5);
  const w = new Uint32Array(100);
  for (let round = 0; round < 2; round++) {
    a.fillWords(w);
    for (let i = 0; i < w.length; i++) t.is(w[i], b.u32());
  }
});
