// NBD fixed-newstyle handshake: every option we implement, the error replies,
// and the transmission flags / block sizes derived from the disk.
import test from 'ava';
import { rig } from './nbd-helpers.ts';
import { NbdClient, NbdOptionError } from '../../host/nbd/client.ts';
import { encodeOptionRequest } from '../../host/nbd/wire.ts';
import * as P from '../../host/nbd/protocol.ts';

test('greeting advertises FIXED_NEWSTYLE | NO_ZEROES', async (t) => {
  const r = await rig();
  const c = await r.raw();
  t.is(c.handshakeFlags, P.NBD_FLAG_FIXED_NEWSTYLE | P.NBD_FLAG_NO_ZEROES);
  await r.close();
});

test('NBD_OPT_EXPORT_NAME with NO_ZEROES enters transmission', async (t) => {
  const r = await r0();
  const c = await r.raw();
  const info = await c.exportName('disk0');
  t.is(info.size, 4 * 1024 * 1024);
  t.true((info.flags & P.NBD_FLAG_HAS_FLAGS) !== 0);
  await c.write(0, Buffer.alloc(512, 7));
  t.deepEqual(await c.read(0, 512), Buffer.alloc(512, 7));
  await c.disconnect();
  await r.close();
});

test('NBD_OPT_EXPORT_NAME without NO_ZEROES gets the 124 zero bytes', async (t) => {
  const r = await r0();
  const c = await NbdClient.connect({ host: '127.0.0.1', port: r.port, clientFlags: P.NBD_FLAG_C_FIXED_NEWSTYLE });
  const info = await c.exportName('disk0');
  t.is(info.size, 4 * 1024 * 1024);
  // If the padding were missing or too long, this read would desynchronise.
  t.deepEqual(await c.read(0, 512), Buffer.alloc(512));
  await c.disconnect();
  await r.close();
});

test('NBD_OPT_EXPORT_NAME for an unknown export closes the connection', async (t) => {
  const r = await r0();
  const c = await r.raw();
  await t.throwsAsync(c.exportName('nope'));
  await c.closed;
  t.is(r.server.stats().protocolErrors, 1);
  await r.close();
});

test('empty export name selects the default export', async (t) => {
  const r = await r0();
  const c = await r.raw();
  const info = await c.go('', [P.NBD_INFO_NAME]);
  t.is(info.name, 'disk0');
  await r.close();
});

test('NBD_OPT_LIST returns every export with its description', async (t) => {
  const r = await r0();
  r.server.addExport({ name: 'second', backend: r.disk, readOnly: true, description: 'same disk, ro' });
  const c = await r.raw();
  t.deepEqual(await c.list(), [{ name: 'disk0', description: 'test disk' }, { name: 'second', description: 'same disk, ro' }]);
  // still in option haggling afterwards
  t.is((await c.go('second')).flags & P.NBD_FLAG_READ_ONLY, P.NBD_FLAG_READ_ONLY);
  await r.close();
});

test('NBD_OPT_LIST with data is NBD_REP_ERR_INVALID', async (t) => {
  const r = await r0();
  const c = await r.raw();
  const rep = await c.option(P.NBD_OPT_LIST, Buffer.from('x'));
  t.is(rep[0]?.type, P.NBD_REP_ERR_INVALID);
  await r.close();
});

test('NBD_OPT_INFO reports export, name, description, block size and stays in haggling', async (t) => {
  const r = await rig({ logicalBlockSize: 4096, maxIoBytes: 64 * 1024 });
  const c = await r.raw();
  const info = await c.infoOrGo(P.NBD_OPT_INFO, 'disk0', [P.NBD_INFO_NAME, P.NBD_INFO_DESCRIPTION, P.NBD_INFO_BLOCK_SIZE]);
  t.is(info.size, 4 * 1024 * 1024);
  t.is(info.name, 'disk0');
  t.is(info.description, 'test disk');
  t.is(info.minBlock, 4096);
  t.is(info.preferredBlock, 4096);
  t.is(info.maxBlock, 32 * 1024 * 1024);
  const go = await c.go('disk0');
  t.is(go.size, info.size);
  await c.disconnect();
  await r.close();
});

test('NBD_OPT_GO on an unknown export is NBD_REP_ERR_UNKNOWN and haggling continues', async (t) => {
  const r = await r0();
  const c = await r.raw();
  const e = await t.throwsAsync(c.go('missing'), { instanceOf: NbdOptionError });
  t.is(e?.type, P.NBD_REP_ERR_UNKNOWN);
  await c.go('disk0');
  t.deepEqual(await c.read(0, 512), Buffer.alloc(512));
  await r.close();
});

test('NBD_OPT_GO with inconsistent lengths is NBD_REP_ERR_INVALID', async (t) => {
  const r = await r0();
  const c = await r.raw();
  const d = Buffer.alloc(4 + 5 + 2);
  d.writeUInt32BE(5, 0); d.write('disk0', 4); d.writeUInt16BE(3, 9); // claims 3 info requests, sends none
  t.is((await c.option(P.NBD_OPT_GO, d))[0]?.type, P.NBD_REP_ERR_INVALID);
  const d2 = Buffer.alloc(4 + 2); d2.writeUInt32BE(1000, 0); // name longer than the option
  t.is((await c.option(P.NBD_OPT_GO, d2))[0]?.type, P.NBD_REP_ERR_INVALID);
  await r.close();
});

test('unknown options, STARTTLS and extended headers are NBD_REP_ERR_UNSUP', async (t) => {
  const r = await r0();
  const c = await r.raw();
  for (const opt of [0x1234, P.NBD_OPT_STARTTLS, P.NBD_OPT_EXTENDED_HEADERS, 0xffffffff]) {
    const rep = await c.option(opt, Buffer.from('some payload'));
    t.is(rep.length, 1);
    t.is(rep[0]?.type, P.NBD_REP_ERR_UNSUP, `option ${opt}`);
  }
  await c.go('disk0');
  await r.close();
});

test('NBD_OPT_ABORT is acknowledged and the server closes', async (t) => {
  const r = await r0();
  const c = await r.raw();
  const rep = await c.abort();
  t.is(rep?.type, P.NBD_REP_ACK);
  await r.close();
});

test('NBD_OPT_STRUCTURED_REPLY: ACK, SEND_DF advertised, reads use structured chunks', async (t) => {
  const r = await r0();
  const c = await r.raw();
  t.true(await c.structuredReply());
  const info = await c.go('disk0');
  t.true((info.flags & P.NBD_FLAG_SEND_DF) !== 0);
  await c.write(4096, Buffer.alloc(1024, 0xab));
  t.deepEqual(await c.read(4096, 1024, P.NBD_CMD_FLAG_DF), Buffer.alloc(1024, 0xab));
  await r.close();
});

test('without structured replies SEND_DF is not advertised', async (t) => {
  const r = await r0();
  const c = await r.open({ structured: false });
  t.is((c.info?.flags ?? 0) & P.NBD_FLAG_SEND_DF, 0);
  await r.close();
});

test('transmission flags follow the disk: write cache, FUA, trim, rotational, multi-conn', async (t) => {
  const r = await rig({ writeCache: true, fua: true, discard: true, rotational: true });
  const c = await r.open();
  const f = c.info?.flags ?? 0;
  for (const [bit, name] of [[P.NBD_FLAG_HAS_FLAGS, 'HAS_FLAGS'], [P.NBD_FLAG_SEND_FLUSH, 'FLUSH'], [P.NBD_FLAG_SEND_FUA, 'FUA'],
    [P.NBD_FLAG_SEND_TRIM, 'TRIM'], [P.NBD_FLAG_SEND_WRITE_ZEROES, 'WRITE_ZEROES'], [P.NBD_FLAG_ROTATIONAL, 'ROTATIONAL'],
    [P.NBD_FLAG_CAN_MULTI_CONN, 'MULTI_CONN']] as const) {
    t.true((f & bit) !== 0, name);
  }
  t.is(f & P.NBD_FLAG_READ_ONLY, 0);
  await r.close();

  const r2 = await rig({ writeCache: false, discard: false });
  const c2 = await r2.open();
  const f2 = c2.info?.flags ?? 0;
  t.is(f2 & P.NBD_FLAG_SEND_FLUSH, 0, 'no cache → no FLUSH');
  t.is(f2 & P.NBD_FLAG_SEND_TRIM, 0, 'no discard → no TRIM');
  await r2.close();
});

test('read-only export: READ_ONLY flag, no write-type flags', async (t) => {
  const r = await rig({}, {}, { readOnly: true });
  const c = await r.open();
  const f = c.info?.flags ?? 0;
  t.true((f & P.NBD_FLAG_READ_ONLY) !== 0);
  t.is(f & (P.NBD_FLAG_SEND_TRIM | P.NBD_FLAG_SEND_WRITE_ZEROES | P.NBD_FLAG_SEND_FUA), 0);
  await r.close();
});

test('server-wide readOnly forces every export read-only', async (t) => {
  const r = await rig({}, { readOnly: true });
  const c = await r.open();
  t.true(((c.info?.flags ?? 0) & P.NBD_FLAG_READ_ONLY) !== 0);
  await r.close();
});

test('unknown client flags close the connection', async (t) => {
  const r = await r0();
  const c = await NbdClient.connect({ host: '127.0.0.1', port: r.port, clientFlags: 0x80 | P.NBD_FLAG_C_FIXED_NEWSTYLE });
  await c.closed;
  t.is(r.server.stats().protocolErrors, 1);
  await r.close();
});

test('bad option magic closes the connection', async (t) => {
  const r = await r0();
  const c = await r.raw();
  const b = encodeOptionRequest(P.NBD_OPT_LIST, Buffer.alloc(0));
  b.writeUInt32BE(0xdeadbeef, 0);
  c.sendRaw(b);
  await c.closed;
  t.is(r.server.stats().protocolErrors, 1);
  await r.close();
});

test('an oversized option length closes the connection without buffering it', async (t) => {
  const r = await r0();
  const c = await r.raw();
  const b = encodeOptionRequest(P.NBD_OPT_GO, Buffer.alloc(0));
  b.writeUInt32BE(0x7fffffff, 12);
  c.sendRaw(b);
  await c.closed;
  t.is(r.server.stats().protocolErrors, 1);
  await r.close();
});

test('the handshake has a time limit', async (t) => {
  const r = await rig({}, { handshakeTimeoutMs: 50 });
  const c = await r.raw();
  await c.closed; // no options sent: the server gives up
  t.is(r.server.stats().protocolErrors, 1);
  await r.close();
});

/** Default rig. */
function r0(): ReturnType<typeof rig> { return rig(); }
