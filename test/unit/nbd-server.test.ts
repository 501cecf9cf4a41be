// NBD server: concurrency (hundreds in flight, data checked), several
// connections on different CPUs, malformed input isolation, connection limit,
// listeners (loopback policy, UNIX sockets), URIs, export add/remove, and the
// block-layer adapter against a real rnull disk.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { rig, pattern, prng } from './nbd-helpers.ts';
import {
  startNbdServer, parseListen, formatNbdUri, parseExportSpec, nbdErrnoFromError, openBlockBackend,
} from '../../host/nbd/index.ts';
import { connectNbd, NbdClient } from '../../host/nbd/client.ts';
import { MemoryBackend } from '../../host/nbd/memory-backend.ts';
import { encodeRequestHeader } from '../../host/nbd/wire.ts';
import * as P from '../../host/nbd/protocol.ts';
import { NullBlkRegistry } from '../../host/drivers/rnull/index.ts';

test('hundreds of requests in flight on one connection, out-of-order completion, data checked', async (t) => {
  const r = await rig({ sizeBytes: 8 * 1024 * 1024 }, { maxInflightPerConnection: 512 });
  const c = await r.open();
  const rand = prng(42);
  const blocks = 2048; // 4 KiB each
  const model = Buffer.alloc(8 * 1024 * 1024);
  const ops: Promise<void>[] = [];
  for (let i = 0; i < 400; i++) {
    const blk = Math.floor(rand() * blocks);
    const d = pattern(4096, i + 1);
    d.copy(model, blk * 4096);
    ops.push(c.write(blk * 4096, d));
  }
  t.true(c.inflight > 100, `${c.inflight} in flight`);
  await Promise.all(ops);
  t.true(r.disk.peakInflight > 50, `disk saw ${r.disk.peakInflight} at once`);
  const reads = [];
  for (let i = 0; i < 512; i++) reads.push(c.read(i * 16384, 16384));
  const got = await Promise.all(reads);
  t.true(Buffer.concat(got).equals(model), 'every byte read back as the model says');
  await r.close();
});

test('several connections run in parallel on different logical CPUs', async (t) => {
  const r = await rig({ nrCpus: 4 });
  const cs = await Promise.all([0, 1, 2, 3].map(() => r.open()));
  await Promise.all(cs.map((c, i) => c.write(i * 65536, Buffer.alloc(65536, i + 1))));
  const cpus = new Set(r.disk.log.map((x) => x.cpu));
  t.is(cpus.size, 4);
  for (let i = 0; i < 4; i++) t.deepEqual(await (cs[(i + 1) % 4] as NbdClient).read(i * 65536, 65536), Buffer.alloc(65536, i + 1));
  await r.close();
});

test('malformed requests close only the offending connection and never touch the disk', async (t) => {
  const r = await rig();
  const good = await r.open();
  await good.write(0, Buffer.alloc(4096, 0x11));
  const before = Buffer.from(r.disk.data);
  const writesBefore = r.disk.log.filter((x) => x.op !== 'read').length;

  // bad magic
  const a = await r.open();
  const h = encodeRequestHeader(0, P.NBD_CMD_WRITE, 1n, 0, 4096);
  h.writeUInt32BE(0x12345678, 0);
  a.sendRaw(Buffer.concat([h, Buffer.alloc(4096, 0xff)]));
  await a.closed;
  // oversized write
  const b = await r.open();
  b.sendRaw(encodeRequestHeader(0, P.NBD_CMD_WRITE, 1n, 0, 0x7fffffff));
  await b.closed;
  // garbage right after the greeting
  const g = await r.raw();
  g.sendRaw(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  await g.closed;
  // an offset beyond 2^53 is refused, not wrapped
  const d = await r.open({ structured: false });
  const big = encodeRequestHeader(0, P.NBD_CMD_READ, 9n, 0, 512);
  big.writeUInt32BE(0xffffffff, 16);
  d.sendRaw(big);
  // (the client has no pending entry for cookie 9, so it will treat the reply as a protocol error and close)
  await d.closed;

  t.true(r.disk.data.equals(before), 'disk unchanged');
  t.is(r.disk.log.filter((x) => x.op !== 'read').length, writesBefore);
  t.true(r.server.stats().protocolErrors >= 3);
  t.deepEqual(await good.read(0, 4096), Buffer.alloc(4096, 0x11));
  await r.close();
});

test('connection limit: extra connections are closed at once, others keep working', async (t) => {
  const r = await rig({}, { maxConnections: 2 });
  const c1 = await r.open();
  const c2 = await r.open();
  const err = await NbdClient.connect({ host: '127.0.0.1', port: r.port }).then(() => undefined, (e: unknown) => e);
  t.truthy(err, 'third connection refused');
  t.is(r.server.stats().rejectedConnections, 1);
  await c1.write(0, Buffer.alloc(512, 5));
  t.deepEqual(await c2.read(0, 512), Buffer.alloc(512, 5));
  await c1.disconnect();
  // a slot is free again once the server has seen the close
  let c3: NbdClient | undefined;
  for (let i = 0; i < 50 && !c3; i++) c3 = await connectNbd({ port: r.port, exportName: 'disk0' }).catch(() => undefined);
  t.truthy(c3);
  c3?.destroy();
  await r.close();
});

test('non-loopback listen addresses need allowRemote', async (t) => {
  const mem = new MemoryBackend({ sizeBytes: 1 << 20 });
  await t.throwsAsync(startNbdServer({ listen: '0.0.0.0:0', exports: [{ name: 'x', backend: mem }] }), { message: /allowRemote/ });
  const s = await startNbdServer({ listen: '0.0.0.0:0', allowRemote: true, exports: [{ name: 'x', backend: mem }] });
  t.regex(s.uris[0] ?? '', /^nbd:\/\/0\.0\.0\.0:\d+\/x$/);
  await s.close();
});

test('UNIX socket listener and nbd+unix URIs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nbd-'));
  const path = join(dir, 'nbd.sock');
  const mem = new MemoryBackend({ sizeBytes: 1 << 20 });
  const s = await startNbdServer({ listen: [`unix:${path}`, '127.0.0.1:0'], exports: [{ name: 'nullb0', backend: mem }] });
  t.is(s.uris[0], `nbd+unix:///nullb0?socket=${path}`);
  t.regex(s.uris[1] ?? '', /^nbd:\/\/127\.0\.0\.1:\d+\/nullb0$/);
  const c = await connectNbd({ uri: s.uris[0] });
  await c.write(0, Buffer.alloc(512, 3));
  const c2 = await connectNbd({ uri: s.uris[1] });
  t.deepEqual(await c2.read(0, 512), Buffer.alloc(512, 3));
  await c.disconnect();
  await c2.disconnect();
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

test('addExport / removeExport: removal drains attached clients', async (t) => {
  const r = await rig();
  const extra = new MemoryBackend({ sizeBytes: 1 << 20 });
  r.server.addExport({ name: 'extra', backend: extra });
  t.throws(() => r.server.addExport({ name: 'extra', backend: extra }), { message: /exists/ });
  const c = await connectNbd({ port: r.port, exportName: 'extra' });
  let release!: () => void;
  extra.hold = new Promise<void>((res) => { release = res; });
  const arrived = new Promise<void>((res) => { extra.onOp = () => res(); });
  const w = c.write(0, Buffer.alloc(512, 8));
  await arrived; // the write is in flight at the disk
  const removed = r.server.removeExport('extra');
  release();
  await removed;
  await w; // the in-flight write was answered before the close
  await c.closed;
  t.deepEqual(extra.data.subarray(0, 512), Buffer.alloc(512, 8));
  const c2 = await NbdClient.connect({ port: r.port });
  await t.throwsAsync(c2.go('extra'));
  t.deepEqual(r.server.stats().exports, ['disk0']);
  await r.close();
});

test('close() is idempotent and refuses new connections', async (t) => {
  const r = await rig();
  await r.close();
  await r.server.close();
  const err = await new Promise<unknown>((resolve) => {
    const s = connect(r.port, '127.0.0.1');
    s.on('error', resolve);
    s.on('connect', () => { s.destroy(); resolve(undefined); });
  });
  t.truthy(err);
});

test('parseListen / formatNbdUri / parseExportSpec', (t) => {
  t.deepEqual(parseListen('127.0.0.1:10809'), { kind: 'tcp', host: '127.0.0.1', port: 10809 });
  t.deepEqual(parseListen('[::1]:0'), { kind: 'tcp', host: '::1', port: 0 });
  t.deepEqual(parseListen(':5000'), { kind: 'tcp', host: '127.0.0.1', port: 5000 });
  t.deepEqual(parseListen('10809'), { kind: 'tcp', host: '127.0.0.1', port: 10809 });
  t.deepEqual(parseListen('unix:/tmp/x.sock'), { kind: 'unix', path: '/tmp/x.sock' });
  t.deepEqual(parseListen('/tmp/y.sock'), { kind: 'unix', path: '/tmp/y.sock' });
  t.deepEqual(parseListen('nbd://127.0.0.1:10810/nvme0n1'), { kind: 'tcp', host: '127.0.0.1', port: 10810 });
  t.deepEqual(parseListen('nbd+unix:///d?socket=/tmp/z'), { kind: 'unix', path: '/tmp/z' });
  t.throws(() => parseListen('host:99999'));
  t.throws(() => parseListen('nonsense'));
  t.is(formatNbdUri({ kind: 'tcp', host: '::1', port: 1 }, 'a b'), 'nbd://[::1]:1/a%20b');
  t.is(formatNbdUri({ kind: 'unix', path: '/s' }, 'nvme0n1'), 'nbd+unix:///nvme0n1?socket=/s');
  t.deepEqual(parseExportSpec('nvme0n1'), { disk: 'nvme0n1', name: 'nvme0n1', readOnly: false });
  t.deepEqual(parseExportSpec('nullb0,ro,name=n,desc=null disk'), { disk: 'nullb0', name: 'n', readOnly: true, description: 'null disk' });
  t.like(parseExportSpec('nbd://127.0.0.1:10809/nvme0n1'), { disk: 'nvme0n1', name: 'nvme0n1', listen: '127.0.0.1:10809' });
  t.throws(() => parseExportSpec('nullb0,bogus=1'));
});

test('errno mapping from block statuses, errno names and numbers', (t) => {
  t.is(nbdErrnoFromError({ status: 3 }), P.NBD_ENOSPC);
  t.is(nbdErrnoFromError({ status: 'BLK_STS_NOTSUPP' }), P.NBD_ENOTSUP);
  t.is(nbdErrnoFromError({ errno: 'EDQUOT' }), P.NBD_ENOSPC);
  t.is(nbdErrnoFromError({ errno: -22 }), P.NBD_EINVAL);
  t.is(nbdErrnoFromError({ code: 'EROFS' }), P.NBD_EPERM);
  t.is(nbdErrnoFromError({ status: 10, errno: 'EIO' }), P.NBD_EIO);
  t.is(nbdErrnoFromError(undefined), P.NBD_EIO);
  t.is(nbdErrnoFromError('weird'), P.NBD_EIO);
});

test('rnull disk through the block layer: data, flush, discard, write zeroes, CPUs', async (t) => {
  const reg = new NullBlkRegistry({ nrCpus: 2 });
  const name = 'nbdtest0';
  reg.create(name);
  for (const [k, v] of [['size', '16'], ['blocksize', '4096'], ['memory_backed', '1'], ['discard', '1'], ['cache_size', '1'], ['irqmode', '1']] as const) {
    await reg.setAttr(name, k, v);
  }
  await reg.power(name, 1);
  const s = await startNbdServer({ listen: '127.0.0.1:0', exports: [{ name, backend: openBlockBackend(name) }] });
  try {
    const c = await connectNbd({ uri: s.uris[0] });
    t.is(c.info?.minBlock, 4096);
    t.true(((c.info?.flags ?? 0) & P.NBD_FLAG_SEND_FLUSH) !== 0, 'rnull cache → FLUSH');
    const d = pattern(256 * 1024, 3);
    const c2 = await connectNbd({ uri: s.uris[0] });
    await Promise.all([c.write(0, d), c2.write(1 << 20, d, P.NBD_CMD_FLAG_FUA)]);
    await c.flush();
    t.deepEqual(await c2.read(0, d.length), d);
    t.deepEqual(await c.read(1 << 20, d.length), d);
    await c.writeZeroes(0, 65536);
    t.deepEqual(await c.read(0, 65536), Buffer.alloc(65536));
    await c.trim(65536, 65536);
    const e = await t.throwsAsync(c.read(16 << 20, 4096));
    t.truthy(e);
    await c.disconnect();
    await c2.disconnect();
  } finally {
    await s.close();
    await reg.remove(name);
  }
});
