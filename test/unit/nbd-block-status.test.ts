// NBD metadata contexts and block status (proto.md "Metadata querying",
// "NBD_CMD_BLOCK_STATUS", base:allocation): LIST/SET_META_CONTEXT option
// parsing and errors, BLOCK_STATUS extents from a disk that knows its holes
// (the in-memory backend) and from one that does not (the export reads the
// range and reports zero blocks as NBD_STATE_ZERO), REQ_ONE, and EINVAL
// without a negotiated context.
import test from 'ava';
import { rig } from './nbd-helpers.ts';
import { NbdClient, NbdClientError, NbdOptionError, connectNbd } from '../../host/nbd/client.ts';
import { startNbdServer } from '../../host/nbd/index.ts';
import { MemoryBackend } from '../../host/nbd/memory-backend.ts';
import type { NbdBackend } from '../../host/nbd/backend.ts';
import * as P from '../../host/nbd/protocol.ts';

const HOLE_ZERO = P.NBD_STATE_HOLE | P.NBD_STATE_ZERO;
const KiB = 1024;

/** Connect, structured replies, SET base:allocation, GO. */
async function withContext(port: number, infos: readonly number[] = [P.NBD_INFO_BLOCK_SIZE]): Promise<NbdClient> {
  const c = await NbdClient.connect({ host: '127.0.0.1', port });
  await c.structuredReply();
  const ctx = await c.metaContext(P.NBD_OPT_SET_META_CONTEXT, 'disk0', [P.NBD_META_BASE_ALLOCATION]);
  if (ctx.length !== 1) throw new Error('base:allocation not selected');
  await c.go('disk0', infos);
  return c;
}

test('LIST_META_CONTEXT: no query or "base:" lists base:allocation; unknown queries list nothing', async (t) => {
  const r = await rig();
  const c = await r.raw();
  t.deepEqual(await c.metaContext(P.NBD_OPT_LIST_META_CONTEXT, 'disk0', []), [{ id: 0, name: 'base:allocation' }]);
  t.deepEqual(await c.metaContext(P.NBD_OPT_LIST_META_CONTEXT, 'disk0', ['base:']), [{ id: 0, name: 'base:allocation' }]);
  t.deepEqual(await c.metaContext(P.NBD_OPT_LIST_META_CONTEXT, 'disk0', ['qemu:dirty-bitmap:x']), []);
  const e = await t.throwsAsync(c.metaContext(P.NBD_OPT_LIST_META_CONTEXT, 'nope', []), { instanceOf: NbdOptionError });
  t.is(e?.type, P.NBD_REP_ERR_UNKNOWN);
  await r.close();
});

test('SET_META_CONTEXT: needs structured replies; malformed data is NBD_REP_ERR_INVALID; ids come back', async (t) => {
  const r = await rig();
  const c = await r.raw();
  const e = await t.throwsAsync(c.metaContext(P.NBD_OPT_SET_META_CONTEXT, 'disk0', ['base:allocation']), { instanceOf: NbdOptionError });
  t.is(e?.type, P.NBD_REP_ERR_INVALID, 'before NBD_OPT_STRUCTURED_REPLY');
  await c.structuredReply();
  for (const bad of [Buffer.from('xx'), Buffer.from([0, 0, 0, 5, 0x64, 0, 0, 0, 1]), Buffer.from([0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0x61])]) {
    const rep = await c.option(P.NBD_OPT_SET_META_CONTEXT, bad);
    t.is(rep[rep.length - 1]?.type, P.NBD_REP_ERR_INVALID, bad.toString('hex'));
  }
  t.deepEqual(await c.metaContext(P.NBD_OPT_SET_META_CONTEXT, 'disk0', ['base:allocation', 'other:thing']),
    [{ id: P.NBD_META_ID_BASE_ALLOCATION, name: 'base:allocation' }]);
  await c.go('disk0');
  const s = await c.blockStatus(0, 64 * KiB);
  t.is(s.contextId, P.NBD_META_ID_BASE_ALLOCATION);
  await r.close();
});

test('BLOCK_STATUS without a negotiated context (or for another export) is EINVAL', async (t) => {
  const r = await rig();
  const plain = await r.open();
  const e = await t.throwsAsync(plain.blockStatus(0, 4096), { instanceOf: NbdClientError });
  t.is(e?.errno, P.NBD_EINVAL);
  // A selection made for another export name does not carry over to GO.
  const srv = await startNbdServer({
    listen: '127.0.0.1:0',
    exports: [{ name: 'a', backend: new MemoryBackend({ sizeBytes: 1 << 20 }) }, { name: 'b', backend: new MemoryBackend({ sizeBytes: 1 << 20 }) }],
  });
  t.teardown(() => srv.close());
  const a0 = srv.addresses[0];
  const c = await NbdClient.connect({ host: '127.0.0.1', port: a0 !== undefined && a0.kind === 'tcp' ? a0.port : 0 });
  t.teardown(() => c.destroy());
  await c.structuredReply();
  await c.metaContext(P.NBD_OPT_SET_META_CONTEXT, 'a', ['base:allocation']);
  await c.go('b');
  t.is((await t.throwsAsync(c.blockStatus(0, 4096), { instanceOf: NbdClientError }))?.errno, P.NBD_EINVAL);
  await r.close();
});

test('a disk that knows its allocation: holes, data, trimmed ranges, REQ_ONE, bounds', async (t) => {
  const r = await rig({ sizeBytes: 1024 * KiB, logicalBlockSize: 4096 });
  const c = await withContext(r.port);
  t.deepEqual((await c.blockStatus(0, 1024 * KiB)).extents, [{ length: 1024 * KiB, flags: HOLE_ZERO }]);
  await c.write(64 * KiB, Buffer.alloc(32 * KiB, 0xab));
  await c.write(512 * KiB, Buffer.alloc(4 * KiB, 0)); // written zeroes are allocated data
  await c.trim(72 * KiB, 8 * KiB);
  t.deepEqual((await c.blockStatus(0, 1024 * KiB)).extents, [
    { length: 64 * KiB, flags: HOLE_ZERO }, { length: 8 * KiB, flags: 0 }, { length: 8 * KiB, flags: HOLE_ZERO },
    { length: 16 * KiB, flags: 0 }, { length: 416 * KiB, flags: HOLE_ZERO }, { length: 4 * KiB, flags: 0 },
    { length: 508 * KiB, flags: HOLE_ZERO },
  ]);
  // A range inside an extent, and REQ_ONE: exactly one descriptor, within the request.
  t.deepEqual((await c.blockStatus(68 * KiB, 8 * KiB)).extents, [{ length: 4 * KiB, flags: 0 }, { length: 4 * KiB, flags: HOLE_ZERO }]);
  t.deepEqual((await c.blockStatus(0, 128 * KiB, P.NBD_CMD_FLAG_REQ_ONE)).extents, [{ length: 64 * KiB, flags: HOLE_ZERO }]);
  // WRITE_ZEROES punches a hole unless NO_HOLE.
  await c.writeZeroes(64 * KiB, 4 * KiB);
  await c.writeZeroes(68 * KiB, 4 * KiB, P.NBD_CMD_FLAG_NO_HOLE);
  t.deepEqual((await c.blockStatus(64 * KiB, 8 * KiB)).extents, [{ length: 4 * KiB, flags: HOLE_ZERO }, { length: 4 * KiB, flags: 0 }]);
  for (const [off, len, flags] of [[1020 * KiB, 8 * KiB, 0], [0, 0, 0], [0, 4096, P.NBD_CMD_FLAG_FUA << 5]] as const) {
    t.is((await t.throwsAsync(c.blockStatus(off, len, flags), { instanceOf: NbdClientError }))?.errno, P.NBD_EINVAL, `${off}+${len} flags ${flags}`);
  }
  await c.disconnect();
  await r.close();
});

/** The in-memory disk seen through the plain NbdBackend interface, without blockStatus (like the block layer). */
function withoutAllocationInfo(m: MemoryBackend): NbdBackend {
  return {
    sizeBytes: m.sizeBytes, logicalBlockSize: m.logicalBlockSize, preferredBlockSize: m.preferredBlockSize, maxIoBytes: m.maxIoBytes,
    writeCache: m.writeCache, fua: m.fua, discard: m.discard, rotational: m.rotational, readOnly: m.readOnly, nrCpus: m.nrCpus,
    read: (o, d, cpu) => m.read(o, d, cpu),
    write: (o, d, f, cpu) => m.write(o, d, f, cpu),
    flush: (cpu) => m.flush(cpu),
    discardRange: (o, l, cpu) => m.discardRange(o, l, cpu),
    writeZeroes: (o, l, n, f, cpu) => m.writeZeroes(o, l, n, f, cpu),
  };
}

test('a disk that cannot tell: zero blocks are NBD_STATE_ZERO (never HOLE), the rest data; the reply may stop short', async (t) => {
  const mem = new MemoryBackend({ sizeBytes: 16 * 1024 * KiB, logicalBlockSize: 512, preferredBlockSize: 4096, maxIoBytes: 128 * KiB });
  const srv = await startNbdServer({ listen: '127.0.0.1:0', exports: [{ name: 'disk0', backend: withoutAllocationInfo(mem) }] });
  t.teardown(() => srv.close());
  const a0 = srv.addresses[0];
  const c = await connectNbd({ host: '127.0.0.1', port: a0 !== undefined && a0.kind === 'tcp' ? a0.port : 0, exportName: 'disk0' });
  t.teardown(() => c.destroy());
  t.is(c.structured, true);
  // connectNbd did not select a context; do it on a second connection.
  const c2 = await withContext(a0 !== undefined && a0.kind === 'tcp' ? a0.port : 0);
  t.teardown(() => c2.destroy());
  await c2.write(8 * KiB, Buffer.alloc(512, 1)); // dirties one 4 KiB grain
  const s = await c2.blockStatus(0, 16 * 1024 * KiB);
  // At most BLOCK_STATUS_SCAN_BYTES (4 MiB) is read per request; the client asks again for the rest.
  t.deepEqual(s.extents, [{ length: 8 * KiB, flags: P.NBD_STATE_ZERO }, { length: 4 * KiB, flags: 0 }, { length: 4096 * KiB - 12 * KiB, flags: P.NBD_STATE_ZERO }]);
  const s2 = await c2.blockStatus(4096 * KiB, 512);
  t.deepEqual(s2.extents, [{ length: 512, flags: P.NBD_STATE_ZERO }]);
  // An unaligned start (from a client that did not ask for block sizes) re-bases on the request offset.
  const c3 = await withContext(a0 !== undefined && a0.kind === 'tcp' ? a0.port : 0, []);
  t.teardown(() => c3.destroy());
  t.deepEqual((await c3.blockStatus(8 * KiB + 100, 5000)).extents, [{ length: 4096 - 100, flags: 0 }, { length: 5000 - 3996, flags: P.NBD_STATE_ZERO }]);
});
