// Per-command success and malformed variants with their exact status codes.
import test from 'ava';
import { NvmeTestHost } from '../helpers/nvme-host.ts';
import { ADMIN, CNS } from '../../src/spec/admin.ts';
import { NVM } from '../../src/spec/nvm.ts';
import { FID } from '../../src/spec/features.ts';
import { LID } from '../../src/spec/log.ts';
import { S, dnr, statusName } from '../../src/spec/status.ts';
import { REG, sqTailDoorbell, cqHeadDoorbell } from '../../src/spec/registers.ts';
import { u64 } from '../../src/wire/le.ts';
import { SGL_TYPE } from '../../src/wire/sgl.ts';
import { buildPrps, prpListPagesNeeded } from '../../src/wire/prp.ts';

async function up(cfg = {}) {
  const { host, ctrl } = await NvmeTestHost.inProcess(cfg);
  const r = await host.bringUp({ ioQueues: 2 });
  return { host, ctrl, aer: r.aer };
}
const st = (s: number): string => statusName(s);

test('admin: unsupported opcode, SGL and fuse', async (t) => {
  const { host } = await up();
  t.teardown(() => host.close());
  t.is(st((await host.admin({ opc: ADMIN.NS_MANAGEMENT })).status), st(dnr(S.INVALID_OPCODE)));
  t.is(st((await host.admin({ opc: 0x7e })).status), st(dnr(S.INVALID_OPCODE)));
  t.is(st((await host.admin({ opc: ADMIN.GET_FEATURES, cdw10: 7, psdt: 1 })).status), st(dnr(S.INVALID_FIELD)));
  t.is(st((await host.admin({ opc: ADMIN.GET_FEATURES, cdw10: 7, fuse: 1 })).status), st(S.INVALID_FIELD));
});

test('create/delete queues: every check', async (t) => {
  const { host } = await up();
  t.teardown(() => host.close());
  const cq = host.buf(4096);
  const A = (s: object) => host.admin({ opc: 0, ...s }).then((c) => st(c.status));
  // Create CQ
  t.is(await A({ opc: ADMIN.CREATE_IO_CQ, prp1: cq, cdw10: 0 | (15 << 16), cdw11: 3 }), st(dnr(S.INVALID_QUEUE_IDENTIFIER)));
  t.is(await A({ opc: ADMIN.CREATE_IO_CQ, prp1: cq, cdw10: 1 | (15 << 16), cdw11: 3 }), st(dnr(S.INVALID_QUEUE_IDENTIFIER)));
  t.is(await A({ opc: ADMIN.CREATE_IO_CQ, prp1: cq, cdw10: 65 | (15 << 16), cdw11: 3 }), st(dnr(S.INVALID_QUEUE_IDENTIFIER)));
  t.is(await A({ opc: ADMIN.CREATE_IO_CQ, prp1: cq, cdw10: 5, cdw11: 3 }), st(dnr(S.INVALID_QUEUE_SIZE)));
  t.is(await A({ opc: ADMIN.CREATE_IO_CQ, prp1: cq, cdw10: (5 | (4096 << 16)) >>> 0, cdw11: 3 }), st(dnr(S.INVALID_QUEUE_SIZE)));
  t.is(await A({ opc: ADMIN.CREATE_IO_CQ, prp1: cq + 8, cdw10: 5 | (15 << 16), cdw11: 3 }), st(dnr(S.PRP_OFFSET_INVALID)));
  t.is(await A({ opc: ADMIN.CREATE_IO_CQ, prp1: cq, cdw10: 5 | (15 << 16), cdw11: (3 | (65 << 16)) >>> 0 }), st(dnr(S.INVALID_INTERRUPT_VECTOR)));
  t.is(await A({ opc: ADMIN.CREATE_IO_CQ, prp1: cq, cdw10: 5 | (15 << 16), cdw11: 2 }), st(dnr(S.INVALID_FIELD)));
  t.is(await A({ opc: ADMIN.CREATE_IO_CQ, prp1: cq, cdw10: 5 | (15 << 16), cdw11: (3 | (5 << 16)) >>> 0 }), st(0));
  // Create SQ
  const sq = host.buf(4096);
  t.is(await A({ opc: ADMIN.CREATE_IO_SQ, prp1: sq, cdw10: 5 | (15 << 16), cdw11: 1 }), st(dnr(S.COMPLETION_QUEUE_INVALID)));
  t.is(await A({ opc: ADMIN.CREATE_IO_SQ, prp1: sq, cdw10: 5 | (15 << 16), cdw11: (1 | (9 << 16)) >>> 0 }), st(dnr(S.COMPLETION_QUEUE_INVALID)));
  t.is(await A({ opc: ADMIN.CREATE_IO_SQ, prp1: sq, cdw10: 1 | (15 << 16), cdw11: (1 | (5 << 16)) >>> 0 }), st(dnr(S.INVALID_QUEUE_IDENTIFIER)));
  t.is(await A({ opc: ADMIN.CREATE_IO_SQ, prp1: sq, cdw10: 5 | (0 << 16), cdw11: (1 | (5 << 16)) >>> 0 }), st(dnr(S.INVALID_QUEUE_SIZE)));
  t.is(await A({ opc: ADMIN.CREATE_IO_SQ, prp1: sq + 4, cdw10: 5 | (15 << 16), cdw11: (1 | (5 << 16)) >>> 0 }), st(dnr(S.PRP_OFFSET_INVALID)));
  t.is(await A({ opc: ADMIN.CREATE_IO_SQ, prp1: sq, cdw10: 5 | (15 << 16), cdw11: (0 | (5 << 16)) >>> 0 }), st(dnr(S.INVALID_FIELD)));
  t.is(await A({ opc: ADMIN.CREATE_IO_SQ, prp1: sq, cdw10: 5 | (15 << 16), cdw11: (1 | (5 << 16)) >>> 0 }), st(0));
  // Delete
  t.is(await A({ opc: ADMIN.DELETE_IO_CQ, cdw10: 5 }), st(S.INVALID_QUEUE_DELETION));
  t.is(await A({ opc: ADMIN.DELETE_IO_SQ, cdw10: 0 }), st(dnr(S.INVALID_QUEUE_IDENTIFIER)));
  t.is(await A({ opc: ADMIN.DELETE_IO_SQ, cdw10: 9 }), st(dnr(S.INVALID_QUEUE_IDENTIFIER)));
  t.is(await A({ opc: ADMIN.DELETE_IO_SQ, cdw10: 5 }), st(0));
  t.is(await A({ opc: ADMIN.DELETE_IO_CQ, cdw10: 0 }), st(dnr(S.INVALID_QUEUE_IDENTIFIER)));
  t.is(await A({ opc: ADMIN.DELETE_IO_CQ, cdw10: 5 }), st(0));
  t.is(await A({ opc: ADMIN.DELETE_IO_CQ, cdw10: 5 }), st(dnr(S.INVALID_QUEUE_IDENTIFIER)));
});

test('identify variants', async (t) => {
  const { host } = await up();
  t.teardown(() => host.close());
  const b = host.buf(4096);
  const I = (cns: number, nsid: number, cdw11 = 0) => host.admin({ opc: ADMIN.IDENTIFY, prp1: b, cdw10: cns, nsid, cdw11 }).then((c) => st(c.status));
  t.is(await I(CNS.NS, 0), st(dnr(S.INVALID_NAMESPACE_OR_FORMAT)));
  t.is(await I(CNS.NS, 0xffffffff), st(dnr(S.INVALID_NAMESPACE_OR_FORMAT)));
  t.is(await I(CNS.NS, 257), st(dnr(S.INVALID_NAMESPACE_OR_FORMAT)));
  host.mem.view(b, 4096).fill(0xaa);
  t.is(await I(CNS.NS, 7), st(0)); // valid but inactive: zeroes
  t.true(host.mem.view(b, 4096).every((x) => x === 0));
  t.is(await I(CNS.ACTIVE_NS_LIST, 0xfffffffe), st(dnr(S.INVALID_NAMESPACE_OR_FORMAT)));
  t.is(await I(CNS.NS_DESC_LIST, 1), st(0));
  t.is(host.mem.view(b, 4096)[0], 1); // EUI64 descriptor first
  t.is(await I(CNS.NS_DESC_LIST, 9), st(dnr(S.INVALID_FIELD)));
  t.is(await I(CNS.CS_CTRL, 0, 2 << 24), st(dnr(S.INVALID_FIELD)));
  t.is(await I(0x55, 0), st(dnr(S.INVALID_FIELD)));
});

test('features: number of queues sequence error, saveable, not ns specific, coalescing get/set', async (t) => {
  const { host } = await up();
  t.teardown(() => host.close());
  const F = (opc: number, cdw10: number, cdw11 = 0, nsid = 0) => host.admin({ opc, cdw10: cdw10 >>> 0, cdw11, nsid });
  t.is(st((await F(ADMIN.SET_FEATURES, FID.NUMBER_OF_QUEUES, 0x00010001)).status), st(dnr(S.COMMAND_SEQUENCE_ERROR)));
  const g = await F(ADMIN.GET_FEATURES, FID.NUMBER_OF_QUEUES);
  t.is(g.dw0, 63 | (63 << 16));
  t.is(st((await F(ADMIN.SET_FEATURES, FID.ARBITRATION | (1 << 31), 0)).status), st(dnr(S.FEATURE_NOT_SAVEABLE)));
  t.is(st((await F(ADMIN.SET_FEATURES, FID.ARBITRATION, 0, 1)).status), st(dnr(S.FEATURE_NOT_NS_SPECIFIC)));
  t.is(st((await F(ADMIN.SET_FEATURES, FID.APST, 0)).status), st(dnr(S.INVALID_FIELD)));
  t.is(st((await F(ADMIN.SET_FEATURES, FID.INTERRUPT_COALESCING, 0x0a03)).status), st(0));
  t.is((await F(ADMIN.GET_FEATURES, FID.INTERRUPT_COALESCING)).dw0, 0x0a03);
  t.is((await F(ADMIN.GET_FEATURES, FID.INTERRUPT_COALESCING | (1 << 8))).dw0, 0); // default
  t.is((await F(ADMIN.GET_FEATURES, FID.VOLATILE_WRITE_CACHE | (3 << 8))).dw0, 4); // changeable
  t.is(st((await F(ADMIN.SET_FEATURES, FID.ERROR_RECOVERY, 0, 0)).status), st(dnr(S.INVALID_NAMESPACE_OR_FORMAT)));
  t.is(st((await F(ADMIN.SET_FEATURES, FID.ERROR_RECOVERY, 1 << 16, 1)).status), st(dnr(S.INVALID_FIELD)));
  t.is(st((await F(ADMIN.SET_FEATURES, FID.ERROR_RECOVERY, 5, 1)).status), st(0));
  t.is((await F(ADMIN.GET_FEATURES, FID.ERROR_RECOVERY, 0, 1)).dw0, 5);
  t.is(st((await F(ADMIN.SET_FEATURES, FID.TEMPERATURE_THRESHOLD, 3 << 20)).status), st(dnr(S.INVALID_FIELD)));
  t.is(st((await F(ADMIN.SET_FEATURES, FID.INTERRUPT_VECTOR_CONFIG, 0)).status), st(dnr(S.INVALID_FIELD)));
  t.is(st((await F(ADMIN.SET_FEATURES, FID.VOLATILE_WRITE_CACHE, 0)).status), st(0));
  t.is((await F(ADMIN.GET_FEATURES, FID.VOLATILE_WRITE_CACHE)).dw0, 0);
  // Timestamp: 8 bytes in, read back ≥ what was set, origin = host.
  const ts = host.buf(4096);
  new DataView(host.mem.view(ts, 8).buffer, host.mem.view(ts, 8).byteOffset).setUint32(0, 1_000_000, true);
  t.is(st((await host.admin({ opc: ADMIN.SET_FEATURES, cdw10: FID.TIMESTAMP, prp1: ts })).status), st(0));
  const ts2 = host.buf(4096);
  t.is(st((await host.admin({ opc: ADMIN.GET_FEATURES, cdw10: FID.TIMESTAMP, prp1: ts2 })).status), st(0));
  t.true(u64(host.mem.view(ts2, 8), 0) % 2 ** 48 >= 1_000_000);
  t.is((host.mem.view(ts2, 8)[6] ?? 0) >> 1, 1);
});

test('get log page: error log has real entries, SMART counts, bad offset/LID/NSID', async (t) => {
  const { host } = await up();
  t.teardown(() => host.close());
  const b = host.buf(4096);
  const L = (lid: number, numd: number, extra: object = {}) => host.admin({ opc: ADMIN.GET_LOG_PAGE, prp1: b, cdw10: (lid | ((numd - 1) << 16)) >>> 0, ...extra });
  await host.io(1, { opc: NVM.READ, nsid: 1, cdw10: 0xffffffff, cdw11: 0xff, prp1: b }); // LBA out of range
  t.is(st((await L(LID.ERROR_INFO, 16)).status), st(0));
  const e = host.mem.view(b, 64);
  t.true(u64(e, 0) >= 1);
  t.is(e[8], 1); // SQID of the failed read
  t.is(((e[12] ?? 0) | ((e[13] ?? 0) << 8)) >> 1, dnr(S.LBA_OUT_OF_RANGE));
  const data = host.buf(4096);
  await host.io(1, { opc: NVM.WRITE, nsid: 1, prp1: data, cdw10: 0 });
  t.is(st((await L(LID.SMART, 128, { nsid: 0xffffffff })).status), st(0));
  const sm = host.mem.view(b, 512);
  t.is(u64(sm, 48), 1); // data units written (rounded up)
  t.is(u64(sm, 80), 1); // host write commands
  t.is(u64(sm, 112), 1); // power cycles
  t.is(st((await L(LID.SMART, 128, { nsid: 9 })).status), st(dnr(S.INVALID_NAMESPACE_OR_FORMAT)));
  t.is(st((await L(LID.SMART, 128, { cdw12: 2 })).status), st(dnr(S.INVALID_FIELD)));
  t.is(st((await L(LID.SMART, 128, { cdw12: 512 })).status), st(dnr(S.INVALID_FIELD)));
  t.is(st((await L(0x42, 16)).status), st(dnr(S.INVALID_LOG_PAGE)));
  t.is(st((await L(LID.FW_SLOT, 128)).status), st(0));
  t.is(host.mem.view(b, 1)[0], 1);
  t.is(st((await L(LID.CMD_EFFECTS, 1024)).status), st(0));
  t.is((host.mem.view(b, 4096)[4 * ADMIN.IDENTIFY] ?? 0) & 1, 1);
  t.is(st((await L(LID.CHANGED_NS, 1024)).status), st(0));
});

test('AER: limit, abort, invalid doorbell events with and without an AER outstanding', async (t) => {
  const { host, ctrl, aer } = await up({ aerl: 1 });
  t.teardown(() => host.close());
  // Without an outstanding AER beyond the first: AERL=1 allows 2.
  const second = host.admin({ opc: ADMIN.ASYNC_EVENT_REQUEST });
  const third = await host.admin({ opc: ADMIN.ASYNC_EVENT_REQUEST });
  t.is(st(third.status), st(S.AER_LIMIT_EXCEEDED));
  // Invalid doorbell: no such queue → Error event info 00h, log page 01h.
  host.write32(sqTailDoorbell(40), 1);
  const ev = await aer;
  t.is(ev?.status, 0);
  t.is(ev?.dw0, 0x010000);
  // Error type now masked until log 01h is read: the next invalid write is queued, not delivered.
  host.write32(cqHeadDoorbell(1), 9999);
  await host.expectOk(host.admin({ opc: ADMIN.GET_FEATURES, cdw10: 7 }), 'sync');
  t.is(ctrl.aer.queue.length, 1);
  const b = host.buf(4096);
  await host.expectOk(host.admin({ opc: ADMIN.GET_LOG_PAGE, prp1: b, cdw10: (1 | (15 << 16)) >>> 0 }), 'log');
  const ev2 = await second;
  t.is(ev2.dw0, 0x010100); // invalid doorbell write value
  // No AER outstanding now: an invalid doorbell only gets logged.
  host.write32(sqTailDoorbell(40), 1);
  await host.expectOk(host.admin({ opc: ADMIN.GET_FEATURES, cdw10: 7 }), 'sync');
  t.is(ctrl.aer.queue.length, 0);
  t.true(ctrl.stats.invalidDoorbells >= 3);
  // Abort an AER.
  const a = host.admin({ opc: ADMIN.ASYNC_EVENT_REQUEST, cid: 30 });
  const ab = await host.admin({ opc: ADMIN.ABORT, cdw10: (0 | (30 << 16)) >>> 0 });
  t.is(ab.dw0, 0);
  t.is(st((await a).status), st(S.ABORT_REQUESTED));
  const ab2 = await host.admin({ opc: ADMIN.ABORT, cdw10: (1 | (5 << 16)) >>> 0 });
  t.is(ab2.dw0, 1);
  t.is(st((await host.admin({ opc: ADMIN.ABORT, cdw10: 33 })).status), st(dnr(S.INVALID_FIELD)));
});

test('NVM: range, namespace, MDTS, PRP offsets, SGL, compare, uncorrectable, zeroes, dsm, flush', async (t) => {
  const { host } = await up({ mdts: 2, namespaces: [{ nsid: 1, sizeBytes: 1 << 20, blockSize: 512 }, { nsid: 2, sizeBytes: 1 << 20, blockSize: 4096 }] });
  t.teardown(() => host.close());
  const b = host.buf(64 << 10);
  const IO = (s: object) => host.io(1, { opc: NVM.READ, nsid: 1, prp1: b, ...s }).then((c) => st(c.status));
  t.is(await IO({ nsid: 0 }), st(dnr(S.INVALID_NAMESPACE_OR_FORMAT)));
  t.is(await IO({ nsid: 0xffffffff }), st(dnr(S.INVALID_NAMESPACE_OR_FORMAT)));
  t.is(await IO({ nsid: 3 }), st(dnr(S.INVALID_FIELD)));
  t.is(await IO({ opc: 0x7f }), st(dnr(S.INVALID_OPCODE)));
  t.is(await IO({ cdw10: 2047, cdw12: 1 }), st(dnr(S.LBA_OUT_OF_RANGE)));
  t.is(await IO({ cdw10: 2047, cdw12: 0 }), st(0));
  t.is(await IO({ cdw12: 32 }), st(dnr(S.INVALID_FIELD))); // 33 × 512 > 16 KiB MDTS
  t.is(await IO({ prp1: b + 2 }), st(dnr(S.PRP_OFFSET_INVALID)));
  t.is(await IO({ prp1: b + 512, cdw12: 7, prp2: b + 4096 + 8 }), st(dnr(S.PRP_OFFSET_INVALID)));
  t.is(await IO({ prp1: b + 512, cdw12: 7, prp2: b + 4096 }), st(0));
  // PRP list: 16 KiB at an offset needs 4 more pages → list.
  const list = host.buf(4096);
  const pages = [b + 512, b + 4096, b + 8192, b + 12288, b + 16384];
  const pr = buildPrps(pages, 4096, [list]);
  for (const l of pr.lists) host.mem.write(l.addr, l.data);
  t.is(prpListPagesNeeded(5, 4096), 1);
  t.is(await IO({ prp1: pr.prp1, prp2: pr.prp2, cdw12: 31 }), st(0));
  host.mem.view(list, 8)[0] = 8; // misaligned entry
  t.is(await IO({ prp1: pr.prp1, prp2: pr.prp2, cdw12: 31 }), st(dnr(S.PRP_OFFSET_INVALID)));
  host.blocked = [{ addr: list, len: 4096 }];
  t.is(await IO({ prp1: pr.prp1, prp2: pr.prp2, cdw12: 31 }), st(S.DATA_TRANSFER_ERROR));
  host.blocked = [{ addr: b, len: 4096 }];
  t.is(await IO({ opc: NVM.WRITE }), st(S.DATA_TRANSFER_ERROR));
  host.blocked = [];
  // SGL: data block; last segment with two blocks; bad type; length mismatch.
  const dataBlock = { addr: b, len: 1024, type: SGL_TYPE.DATA_BLOCK, subtype: 0 };
  t.is(await IO({ psdt: 1, sgl1: dataBlock, cdw12: 1 }), st(0));
  t.is(await IO({ psdt: 1, sgl1: dataBlock, cdw12: 0 }), st(dnr(S.DATA_SGL_LENGTH_INVALID)));
  t.is(await IO({ psdt: 1, sgl1: { ...dataBlock, type: SGL_TYPE.BIT_BUCKET } }), st(dnr(S.SGL_DESCRIPTOR_TYPE_INVALID)));
  t.is(await IO({ psdt: 3, sgl1: dataBlock }), st(dnr(S.INVALID_FIELD)));
  const seg = host.buf(4096);
  const { writeSglDesc } = await import('../../src/wire/sgl.ts');
  writeSglDesc(host.mem.view(seg, 32), 0, { addr: b, len: 512, type: 0, subtype: 0 });
  writeSglDesc(host.mem.view(seg, 32), 16, { addr: b + 8192, len: 512, type: 0, subtype: 0 });
  t.is(await IO({ psdt: 1, sgl1: { addr: seg, len: 32, type: SGL_TYPE.LAST_SEGMENT, subtype: 0 }, cdw12: 1 }), st(0));
  t.is(await IO({ psdt: 1, sgl1: { addr: seg, len: 20, type: SGL_TYPE.LAST_SEGMENT, subtype: 0 }, cdw12: 1 }), st(dnr(S.INVALID_SGL_SEGMENT_DESCRIPTOR)));
  t.is(await IO({ psdt: 1, sgl1: { addr: seg, len: 32, type: SGL_TYPE.SEGMENT, subtype: 0 }, cdw12: 1 }), st(dnr(S.INVALID_SGL_SEGMENT_DESCRIPTOR)));
  writeSglDesc(host.mem.view(seg, 32), 0, { addr: seg, len: 16, type: SGL_TYPE.LAST_SEGMENT, subtype: 0 });
  t.is(await IO({ psdt: 1, sgl1: { addr: seg, len: 32, type: SGL_TYPE.SEGMENT, subtype: 0 }, cdw12: 1 }), st(dnr(S.INVALID_NUMBER_OF_SGL_DESCRIPTORS)));
  // Compare / uncorrectable / write zeroes / dsm / verify / flush.
  host.mem.view(b, 512).fill(0x5a);
  t.is(await IO({ opc: NVM.WRITE, cdw10: 5 }), st(0));
  t.is(await IO({ opc: NVM.COMPARE, cdw10: 5 }), st(0));
  host.mem.view(b, 1)[0] = 0;
  t.is(await IO({ opc: NVM.COMPARE, cdw10: 5 }), st(dnr(S.COMPARE_FAILURE)));
  t.is(await IO({ opc: NVM.WRITE_UNCORRECTABLE, cdw10: 5 }), st(0));
  t.is(await IO({ cdw10: 5 }), st(S.UNRECOVERED_READ_ERROR));
  t.is(await IO({ opc: NVM.VERIFY, cdw10: 4, cdw12: 3 }), st(S.UNRECOVERED_READ_ERROR));
  t.is(await IO({ opc: NVM.WRITE, cdw10: 5 }), st(0));
  t.is(await IO({ cdw10: 5 }), st(0));
  t.is(await IO({ opc: NVM.WRITE_ZEROES, cdw10: 5 }), st(0));
  host.mem.view(b, 512).fill(1);
  t.is(await IO({ cdw10: 5 }), st(0));
  t.true(host.mem.view(b, 512).every((x) => x === 0));
  t.is(await IO({ opc: NVM.WRITE_ZEROES, cdw10: 2048 }), st(dnr(S.LBA_OUT_OF_RANGE)));
  t.is(await IO({ opc: NVM.FLUSH, nsid: 0xffffffff }), st(0));
  t.is(await IO({ opc: NVM.FLUSH, nsid: 2 }), st(0));
  t.is(await IO({ opc: NVM.FLUSH, nsid: 0 }), st(dnr(S.INVALID_NAMESPACE_OR_FORMAT)));
  t.is(await IO({ fuse: 1 }), st(S.INVALID_FIELD));
});

test('command ids with a generation counter are echoed bit-exact', async (t) => {
  const { host } = await up();
  t.teardown(() => host.close());
  const b = host.buf(4096);
  for (const cid of [0x0000, 0x1001, 0xf03f, 0xffff, 0x8abc]) {
    const c = await host.io(1, { opc: NVM.READ, nsid: 1, prp1: b, cid });
    t.is(c.cid, cid);
    t.is(c.sqid, 1);
  }
});

test('CC register: RO writes ignored, enable guards → CFS, shutdown completes', async (t) => {
  const { host } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  host.write32(REG.VS, 0x12345678);
  t.is(await host.read32(REG.VS), 0x00010400);
  t.is(await host.read32(0x900), 0);
  host.write32(REG.AQA, 0); // sizes 0
  host.write32(REG.ASQ, 0x1000_0000);
  host.write32(REG.ACQ, 0x1000_1000);
  host.write32(REG.CC, 0x00460001);
  t.is(await host.read32(REG.CSTS), 2); // CFS, not RDY
  host.write32(REG.CC, 0);
  t.is(await host.read32(REG.CSTS), 0);
  const r = await host.bringUp({ ioQueues: 1, aer: false });
  t.true(r.nsids.length === 1);
  host.write32(REG.CC, 0x00464001); // SHN normal
  const csts = await host.waitCsts((v) => ((v >> 2) & 3) === 2);
  t.is(csts & 1, 1);
});
