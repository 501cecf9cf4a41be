// NBD transmission phase: every command and flag, simple and structured
// replies, error mapping, alignment policy.
import test from 'ava';
import { rig, pattern } from './nbd-helpers.ts';
import { NbdClientError } from '../../host/nbd/client.ts';
import { encodeRequestHeader } from '../../host/nbd/wire.ts';
import * as P from '../../host/nbd/protocol.ts';
import { BLK_STS, BlockError } from '../../host/block/types.ts';

const MiB = 1024 * 1024;

for (const structured of [false, true]) {
  const mode = structured ? 'structured' : 'simple';

  test(`${mode}: WRITE then READ returns the data at many offsets and sizes`, async (t) => {
    const r = await rig();
    const c = await r.open({ structured });
    let seed = 1;
    for (const [off, len] of [[0, 512], [512, 4096], [8192, 65536], [MiB - 512, 1024], [4 * MiB - 4096, 4096], [123 * 512, 7 * 512]] as const) {
      const d = pattern(len, seed++);
      await c.write(off, d);
      t.deepEqual(await c.read(off, len), d, `[${off}, +${len})`);
      t.deepEqual(r.disk.data.subarray(off, off + len), d);
    }
    await c.disconnect();
    await r.close();
  });

  test(`${mode}: errors carry the NBD errno`, async (t) => {
    const r = await rig();
    const c = await r.open({ structured });
    const size = 4 * MiB;
    const e1 = await t.throwsAsync(c.read(size - 512, 1024), { instanceOf: NbdClientError });
    t.is(e1?.errno, P.NBD_EINVAL, 'read past the end → EINVAL');
    const e2 = await t.throwsAsync(c.write(size, Buffer.alloc(512)), { instanceOf: NbdClientError });
    t.is(e2?.errno, P.NBD_ENOSPC, 'write past the end → ENOSPC');
    const e3 = await t.throwsAsync(c.writeZeroes(size - 512, 4096), { instanceOf: NbdClientError });
    t.is(e3?.errno, P.NBD_ENOSPC);
    const e4 = await t.throwsAsync(c.read(0, 0), { instanceOf: NbdClientError });
    t.is(e4?.errno, P.NBD_EINVAL, 'zero length');
    const e5 = await t.throwsAsync(c.request(P.NBD_CMD_CACHE, 0, 512), { instanceOf: NbdClientError });
    t.is(e5?.errno, P.NBD_EINVAL, 'unadvertised command');
    const e6 = await t.throwsAsync(c.request(77, 0, 512), { instanceOf: NbdClientError });
    t.is(e6?.errno, P.NBD_EINVAL, 'unknown command');
    const e7 = await t.throwsAsync(c.write(0, Buffer.alloc(512), P.NBD_CMD_FLAG_NO_HOLE), { instanceOf: NbdClientError });
    t.is(e7?.errno, P.NBD_EINVAL, 'flag not valid for WRITE');
    const e8 = await t.throwsAsync(c.read(0, 512, 0x100), { instanceOf: NbdClientError });
    t.is(e8?.errno, P.NBD_EINVAL, 'unknown flag');
    const e9 = await t.throwsAsync(c.read(0, 33 * MiB), { instanceOf: NbdClientError });
    t.is(e9?.errno, P.NBD_EINVAL, 'read above the maximum payload');
    // The connection survives all of that.
    await c.write(0, Buffer.alloc(512, 1));
    t.deepEqual(await c.read(0, 512), Buffer.alloc(512, 1));
    t.is(r.server.stats().protocolErrors, 0);
    await r.close();
  });

  test(`${mode}: block-layer statuses map to NBD errnos`, async (t) => {
    const r = await rig();
    const c = await r.open({ structured });
    const cases: Array<[unknown, number]> = [
      [new BlockError(BLK_STS.NOSPC), P.NBD_ENOSPC],
      [new BlockError(BLK_STS.IOERR), P.NBD_EIO],
      [new BlockError(BLK_STS.MEDIUM), P.NBD_EIO],
      [new BlockError(BLK_STS.NOTSUPP), P.NBD_ENOTSUP],
      [new BlockError(BLK_STS.INVAL), P.NBD_EINVAL],
      [new BlockError(BLK_STS.ZONE_ACTIVE_RESOURCE), P.NBD_EOVERFLOW],
      [new BlockError(BLK_STS.RESV_CONFLICT), P.NBD_EPERM],
      [new BlockError(BLK_STS.OFFLINE), P.NBD_ESHUTDOWN],
      [new Error('plain'), P.NBD_EIO],
    ];
    for (const [err, errno] of cases) {
      r.disk.failHook = () => err;
      const e = await t.throwsAsync(c.read(0, 512), { instanceOf: NbdClientError });
      t.is(e?.errno, errno, String(err));
      const w = await t.throwsAsync(c.write(0, Buffer.alloc(512)), { instanceOf: NbdClientError });
      t.is(w?.errno, errno);
    }
    r.disk.failHook = undefined;
    if (structured) {
      r.disk.failHook = () => new BlockError(BLK_STS.MEDIUM, 'bad sector 7');
      const e = await t.throwsAsync(c.read(0, 512));
      t.is(e?.message, 'bad sector 7', 'structured error chunks carry the message');
      r.disk.failHook = undefined;
    }
    t.deepEqual(await c.read(0, 512), Buffer.alloc(512));
    await r.close();
  });
}

test('FUA: native on a cached disk with FUA, write+flush without, plain without a cache', async (t) => {
  const r = await rig({ writeCache: true, fua: true });
  const c = await r.open();
  await c.write(0, Buffer.alloc(4096, 1), P.NBD_CMD_FLAG_FUA);
  t.like(r.disk.log.at(-1), { op: 'write', fua: true });
  await r.close();

  const r2 = await rig({ writeCache: true, fua: false });
  const c2 = await r2.open();
  await c2.write(0, Buffer.alloc(4096, 1), P.NBD_CMD_FLAG_FUA);
  t.deepEqual(r2.disk.log.slice(-2).map((x) => [x.op, x.fua]), [['write', false], ['flush', false]]);
  t.is(r2.disk.dirtyWrites, 0);
  await r2.close();

  const r3 = await rig({ writeCache: false });
  const c3 = await r3.open();
  await c3.write(0, Buffer.alloc(4096, 1), P.NBD_CMD_FLAG_FUA);
  t.deepEqual(r3.disk.log.map((x) => x.op), ['write']);
  await r3.close();
});

test('FLUSH reaches a cached disk; a no-cache disk needs none', async (t) => {
  const r = await rig({ writeCache: true });
  const c = await r.open();
  await c.write(0, Buffer.alloc(4096, 1));
  t.is(r.disk.dirtyWrites, 4096);
  await c.flush();
  t.is(r.disk.dirtyWrites, 0);
  t.is(r.disk.log.at(-1)?.op, 'flush');
  await c.flush(P.NBD_CMD_FLAG_FUA); // FUA is valid on every command
  await r.close();

  const r2 = await rig({ writeCache: false });
  const c2 = await r2.open();
  await c2.flush();
  t.is(r2.disk.log.length, 0);
  await r2.close();
});

test('TRIM discards whole blocks inside the range only', async (t) => {
  const r = await rig({ logicalBlockSize: 4096, discard: true });
  const c = await r.open({ exportName: 'disk0' });
  // GO asked for block sizes, but TRIM is advisory: an unaligned range is trimmed to whole blocks.
  await c.write(0, Buffer.alloc(16384, 0xee));
  await c.trim(1000, 12000);
  t.deepEqual(r.disk.log.filter((x) => x.op === 'discard').map((x) => [x.offset, x.length]), [[4096, 8192]]);
  t.deepEqual(await c.read(0, 4096), Buffer.alloc(4096, 0xee));
  t.deepEqual(await c.read(4096, 8192), Buffer.alloc(8192));
  await c.trim(0, 100); // no whole block: success, nothing discarded
  t.is(r.disk.log.filter((x) => x.op === 'discard').length, 1);
  await r.close();
});

test('TRIM on a disk without discard is EINVAL (flag not advertised)', async (t) => {
  const r = await rig({ discard: false });
  const c = await r.open();
  const e = await t.throwsAsync(c.trim(0, 4096), { instanceOf: NbdClientError });
  t.is(e?.errno, P.NBD_EINVAL);
  await r.close();
});

test('WRITE_ZEROES: zeroes, NO_HOLE → noUnmap, large ranges split', async (t) => {
  const r = await rig({ maxIoBytes: 4096 });
  const c = await r.open();
  await c.write(0, Buffer.alloc(65536, 0x55));
  await c.writeZeroes(4096, 8192);
  t.like(r.disk.log.at(-1), { op: 'writeZeroes', offset: 4096, length: 8192, noUnmap: false });
  await c.writeZeroes(16384, 4096, P.NBD_CMD_FLAG_NO_HOLE);
  t.like(r.disk.log.at(-1), { op: 'writeZeroes', noUnmap: true });
  const got = await c.read(0, 65536);
  const want = Buffer.alloc(65536, 0x55);
  want.fill(0, 4096, 12288);
  want.fill(0, 16384, 20480);
  t.deepEqual(got, want);
  // 2 MiB of zeroes on a disk taking 4 KiB per request: split into 256 KiB units.
  await c.writeZeroes(0, 2 * MiB);
  t.true(r.disk.data.subarray(0, 2 * MiB).every((b) => b === 0));
  await r.close();
});

test('read-only export: WRITE, TRIM, WRITE_ZEROES → EPERM; reads work', async (t) => {
  const r = await rig({}, {}, { readOnly: true });
  r.disk.data.fill(9, 0, 512);
  const c = await r.open();
  for (const op of [() => c.write(0, Buffer.alloc(512)), () => c.trim(0, 512), () => c.writeZeroes(0, 512)]) {
    const e = await t.throwsAsync(op(), { instanceOf: NbdClientError });
    t.is(e?.errno, P.NBD_EPERM);
  }
  t.deepEqual(await c.read(0, 512), Buffer.alloc(512, 9));
  t.is(r.disk.log.filter((x) => x.op !== 'read').length, 0);
  await r.close();
});

test('client that negotiated block sizes gets EINVAL for unaligned requests', async (t) => {
  const r = await rig({ logicalBlockSize: 4096 });
  const c = await r.open(); // connectNbd requests NBD_INFO_BLOCK_SIZE
  for (const op of [() => c.read(100, 4096), () => c.write(4096, Buffer.alloc(100)), () => c.writeZeroes(1, 4096)]) {
    const e = await t.throwsAsync(op(), { instanceOf: NbdClientError });
    t.is(e?.errno, P.NBD_EINVAL);
  }
  t.is(r.disk.log.length, 0, 'nothing reached the disk');
  await r.close();
});

test('client without block-size negotiation gets byte-granular I/O (read-modify-write)', async (t) => {
  const r = await rig({ logicalBlockSize: 4096 });
  const c = await r.raw();
  await c.exportName('disk0');
  const model = Buffer.alloc(64 * 1024);
  let seed = 100;
  for (const [off, len] of [[1, 1], [4095, 2], [100, 9000], [8192, 4096], [12000, 100], [20000, 30000]] as const) {
    const d = pattern(len, seed++);
    d.copy(model, off);
    await c.write(off, d);
  }
  t.true((await c.read(0, 64 * 1024)).equals(model));
  t.deepEqual(await c.read(4093, 7), model.subarray(4093, 4100));
  await c.writeZeroes(10, 5000);
  model.fill(0, 10, 5010);
  t.true((await c.read(0, 64 * 1024)).equals(model));
  // Everything that reached the disk was block-aligned.
  t.true(r.disk.log.every((x) => x.offset % 4096 === 0 && x.length % 4096 === 0));
  await r.close();
});

test('concurrent sub-block writes to the same block never lose each other', async (t) => {
  const r = await rig({ logicalBlockSize: 4096 });
  const c = await r.raw();
  await c.exportName('disk0');
  // 64 writes of 64 bytes each, all inside block 0..0, in flight together.
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 64; i++) writes.push(c.write(i * 64, Buffer.alloc(64, i + 1)));
  await Promise.all(writes);
  const got = await c.read(0, 4096);
  for (let i = 0; i < 64; i++) t.true(got.subarray(i * 64, i * 64 + 64).every((b) => b === i + 1), `chunk ${i}`);
  await r.close();
});

test('reads and writes larger than the disk max I/O are split', async (t) => {
  const r = await rig({ maxIoBytes: 8192 });
  const c = await r.open();
  const d = pattern(MiB, 7);
  await c.write(MiB, d);
  t.true((await c.read(MiB, MiB)).equals(d));
  t.true(r.disk.log.every((x) => x.length <= 8192));
  t.true(r.disk.peakInflight > 1, 'pieces run in parallel');
  await r.close();
});

test('READ with DF above the maximum payload is EOVERFLOW', async (t) => {
  const r = await rig({ sizeBytes: 64 * MiB });
  const c = await r.open({ structured: true });
  const e = await t.throwsAsync(c.read(0, 33 * MiB, P.NBD_CMD_FLAG_DF), { instanceOf: NbdClientError });
  t.is(e?.errno, P.NBD_EOVERFLOW);
  await r.close();
});

test('DISC: in-flight requests are answered, then the server closes', async (t) => {
  const r = await rig();
  const c = await r.open();
  const w = c.write(0, Buffer.alloc(65536, 3));
  const rd = c.read(0, 512);
  await c.request(P.NBD_CMD_DISC, 0, 0);
  await w;
  t.is((await rd).length, 512);
  await c.closed;
  t.deepEqual(r.disk.data.subarray(0, 65536), Buffer.alloc(65536, 3));
  await r.close();
});

test('a WRITE above the maximum payload closes only that connection', async (t) => {
  const r = await rig();
  const good = await r.open();
  const bad = await r.open();
  bad.sendRaw(encodeRequestHeader(0, P.NBD_CMD_WRITE, 1n, 0, 64 * MiB));
  await bad.closed;
  await good.write(0, Buffer.alloc(512, 4));
  t.deepEqual(await good.read(0, 512), Buffer.alloc(512, 4));
  t.is(r.server.stats().protocolErrors, 1);
  await r.close();
});
