// src/spec and src/wire: sizes asserted once, field tables and codecs round-trip.
import test from 'ava';
import * as spec from '../../src/spec/index.ts';
import { encodeSqe, readSqe, sqeSgl1, writeCqe, readCqe, buildPrps, prpListPagesNeeded, u64, SGL_TYPE, putAscii, getAscii } from '../../src/wire/index.ts';

test('structure sizes', (t) => {
  t.is(spec.SQE_SIZE, 64);
  t.is(1 << spec.SQES_LOG2, spec.SQE_SIZE);
  t.is(spec.CQE_SIZE, 16);
  t.is(1 << spec.CQES_LOG2, spec.CQE_SIZE);
  t.is(spec.IDENTIFY_SIZE, 4096);
  t.is(spec.REGISTER_BLOCK_SIZE, 0x1000);
  t.is(spec.MSIX_ENTRY_SIZE, 16);
  t.is(spec.ERROR_LOG_ENTRY_SIZE, 64);
  t.is(spec.SMART_LOG_SIZE, 512);
  t.is(spec.ID_CTRL.SUBNQN.off + spec.ID_CTRL.SUBNQN.size, 1024);
  t.is(spec.ID_CTRL.PSD0.off + 32 * spec.PSD_SIZE, 3072);
  t.is(spec.ID_NS.LBAF0.off + 16 * 4, 192);
  t.is(spec.SMART.TMT2_TIME.off + 4, 232);
  t.is(spec.ERROR_ENTRY.TRTYPE_SPECIFIC.off + 2, 42);
});

test('register offsets and doorbells', (t) => {
  t.is(spec.REG.CC, 0x14);
  t.is(spec.REG.CSTS, 0x1c);
  t.is(spec.REG.CMBMSC, 0x50);
  t.is(spec.sqTailDoorbell(0), 0x1000);
  t.is(spec.cqHeadDoorbell(0), 0x1004);
  t.is(spec.sqTailDoorbell(3), 0x1018);
  t.is(spec.cqHeadDoorbell(1, 1), 0x1000 + 3 * 8);
  t.deepEqual(spec.decodeDoorbell(0x100c), { kind: 'cq', qid: 1 });
  t.is(spec.decodeDoorbell(0x1002), undefined);
});

test('generic field get/set on 32- and 64-bit registers', (t) => {
  // QEMU's default CAP (NVME-BEHAVIOUR §1.1) with CSS bit 6 set.
  const cap = spec.makeReg64(spec.CAP, { MQES: 0x7ff, CQR: 1, TO: 0xf, CSS: 0x41, MPSMAX: 4 });
  t.is(cap, 0x0040_0820_0f01_07ffn);
  t.is(spec.getField(cap, spec.CAP.MPSMAX), 4);
  t.is(spec.getField(cap, spec.CAP.CSS), 0x41);
  const cc = spec.makeReg(spec.CC, { EN: 1, IOSQES: 6, IOCQES: 4 });
  t.is(cc, 0x00460001);
  t.is(spec.getField(cc, spec.CC.IOCQES), 4);
  t.is(spec.setField(cc, spec.CC.SHN, 1), 0x00464001);
  t.is(spec.setField(0xffff_ffff, spec.CC.EN, 0), 0xffff_fffe);
  t.deepEqual(spec.decodeReg(spec.AQA, 0x001f001f), { ASQS: 31, ACQS: 31 });
});

test('status values and names', (t) => {
  t.is(spec.S.LBA_OUT_OF_RANGE, 0x080);
  t.is(spec.S.INVALID_QUEUE_DELETION, 0x10c);
  t.is(spec.S.UNRECOVERED_READ_ERROR, 0x281);
  t.is(spec.dnr(spec.S.INVALID_OPCODE), 0x4001);
  t.is(spec.statusName(spec.dnr(spec.S.LBA_OUT_OF_RANGE)), 'lba out of range (0/80h) DNR');
  t.true(spec.isSuccess(spec.STATUS_DNR));
});

test('SQE and CQE codecs round-trip, cid bit-exact', (t) => {
  const b = encodeSqe({ opc: 0x02, cid: 0xf01f, nsid: 1, prp1: 0x1_2345_6000, prp2: 2 ** 52, cdw10: 7, cdw12: 0x4000_0007, fuse: 1, psdt: 2 });
  const s = readSqe(b, 0);
  t.is(s.opc, 2);
  t.is(s.cid, 0xf01f);
  t.is(s.prp1, 0x1_2345_6000);
  t.is(s.prp2, 2 ** 52);
  t.is(s.fuse, 1);
  t.is(s.psdt, 2);
  t.is(s.cdw12, 0x4000_0007);
  const g = encodeSqe({ opc: 1, cid: 1, sgl1: { addr: 0x5000, len: 0x1234, type: SGL_TYPE.LAST_SEGMENT, subtype: 0 } });
  t.deepEqual(sqeSgl1(readSqe(g, 0)), { addr: 0x5000, len: 0x1234, type: 3, subtype: 0 });
  const c = new Uint8Array(16);
  writeCqe(c, 0, 0xdeadbeef, 0, 5, 3, 0xabcd, spec.dnr(spec.S.INVALID_FIELD), 1);
  t.deepEqual(readCqe(c, 0), { dw0: 0xdeadbeef, dw1: 0, sqhd: 5, sqid: 3, cid: 0xabcd, status: 0x4002, phase: 1 });
});

test('PRP list building chains full list pages', (t) => {
  const ps = 4096;
  const pages = Array.from({ length: 1030 }, (_, i) => 0x10_0000 + i * ps);
  const need = prpListPagesNeeded(pages.length, ps);
  t.is(need, 3);
  const lists = [0x900_0000, 0x900_1000, 0x900_2000];
  const r = buildPrps(pages, ps, lists);
  t.is(r.prp2, lists[0]);
  t.is(r.lists.length, 3);
  const first = r.lists[0]?.data ?? new Uint8Array();
  t.is(u64(first, 511 * 8), lists[1]);
  t.is(u64(first, 0), pages[1]);
  t.is(prpListPagesNeeded(2, ps), 0);
});

test('ascii fields are space padded', (t) => {
  const b = new Uint8Array(4096);
  putAscii(b, 0, spec.ID_CTRL.SN, 'abc');
  t.is(b[4 + 3], 0x20);
  t.is(getAscii(b, 0, spec.ID_CTRL.SN), 'abc');
});
