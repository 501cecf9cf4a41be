// rnull zoned model (null_blk zoned.c): write pointer, open/close/finish/reset, resources.
import test from 'ava';
import { ZonedDevice, BLK_ZONE_COND as C, BLK_ZONE_TYPE, type ZoneWriteProcessor } from '../../host/drivers/rnull/zoned.ts';
import { BLK_STS } from '../../host/block/types.ts';

const ok: ZoneWriteProcessor = { processZoneWrite: () => BLK_STS.OK };
const Z = 2048; // 1 MiB zones in sectors
const mk = (o: Partial<ConstructorParameters<typeof ZonedDevice>[0]> = {}): ZonedDevice =>
  new ZonedDevice({ sizeMiB: 8, zoneSizeMiB: 1, zoneCapacityMiB: 0, zoneNrConv: 1, zoneMaxOpen: 0, zoneMaxActive: 0, ...o });

test('layout: conventional zones first, runt last zone, capacity', (t) => {
  const z = new ZonedDevice({ sizeMiB: 5, zoneSizeMiB: 2, zoneCapacityMiB: 1, zoneNrConv: 1, zoneMaxOpen: 0, zoneMaxActive: 0 });
  const r = z.report(0);
  t.is(r.length, 3);
  t.deepEqual(r[0], { start: 0, len: 4096, wp: 4096, type: BLK_ZONE_TYPE.CONVENTIONAL, cond: C.NOT_WP, capacity: 4096 });
  t.deepEqual(r[1], { start: 4096, len: 4096, wp: 4096, type: BLK_ZONE_TYPE.SEQWRITE_REQ, cond: C.EMPTY, capacity: 2048 });
  t.is(r[2]?.len, 2048); // runt
  t.is(r[2]?.capacity, 2048);
  t.throws(() => new ZonedDevice({ sizeMiB: 8, zoneSizeMiB: 3, zoneCapacityMiB: 0, zoneNrConv: 0, zoneMaxOpen: 0, zoneMaxActive: 0 }), { message: /power-of-two/ });
  const clamp = mk({ zoneNrConv: 99, zoneMaxActive: 100, zoneMaxOpen: 100 });
  t.is(clamp.zoneNrConv, 7);
  t.is(clamp.zoneMaxActive, 0);
  t.is(clamp.zoneMaxOpen, 0);
  t.is(mk({ zoneMaxActive: 2, zoneMaxOpen: 5 }).zoneMaxOpen, 2);
});

test('write pointer: only at wp, implicit open, FULL at capacity, reads past wp limited', (t) => {
  const z = mk();
  t.is(z.write(Z + 8, 8, false, ok), BLK_STS.IOERR); // not at wp
  t.is(z.write(Z, 8, false, ok), BLK_STS.OK);
  t.is(z.condAt(Z), C.IMP_OPEN);
  t.is(z.validReadSectors(Z, 16), 8);
  t.is(z.validReadSectors(Z + 100, 8), 0);
  t.is(z.write(Z + 8, Z - 8, false, ok), BLK_STS.OK);
  t.is(z.condAt(Z), C.FULL);
  t.is(z.nrImpOpen, 0);
  t.is(z.write(Z + Z - 8, 8, false, ok), BLK_STS.IOERR); // full
  t.is(z.write(0, 8, false, ok), BLK_STS.OK); // conventional: anywhere
  t.is(z.write(0, 8, true, ok), BLK_STS.IOERR); // no append to conventional
});

test('zone append returns the written sector; beyond capacity fails', (t) => {
  const z = mk({ zoneCapacityMiB: 0 });
  t.is(z.write(2 * Z, 16, true, ok), BLK_STS.OK);
  t.is(z.lastAppendSector, 2 * Z);
  t.is(z.write(2 * Z, 16, true, ok), BLK_STS.OK);
  t.is(z.lastAppendSector, 2 * Z + 16);
  t.is(z.write(2 * Z, Z, true, ok), BLK_STS.IOERR);
});

test('verbs: open/close/finish/reset by condition, reset_all, no-op cases', (t) => {
  const z = mk();
  t.is(z.mgmt('open', Z), BLK_STS.OK);
  t.is(z.condAt(Z), C.EXP_OPEN);
  t.is(z.mgmt('open', Z), BLK_STS.OK); // open on EXP_OPEN is fine
  t.is(z.mgmt('close', Z), BLK_STS.OK);
  t.is(z.condAt(Z), C.EMPTY); // wp == start → EMPTY
  t.is(z.mgmt('close', Z), BLK_STS.IOERR); // close EMPTY
  z.write(Z, 8, false, ok);
  t.is(z.mgmt('close', Z), BLK_STS.OK);
  t.is(z.condAt(Z), C.CLOSED);
  t.is(z.nrClosed, 1);
  t.is(z.mgmt('finish', Z), BLK_STS.OK);
  t.is(z.condAt(Z), C.FULL);
  t.is(z.nrClosed, 0);
  t.is(z.mgmt('finish', Z), BLK_STS.OK); // finish on FULL is fine
  t.is(z.mgmt('reset', 0), BLK_STS.IOERR); // conventional
  const freed: number[] = [];
  t.is(z.mgmt('reset', Z, (s) => freed.push(s)), BLK_STS.OK);
  t.is(z.condAt(Z), C.EMPTY);
  t.deepEqual(freed, [Z]);
  z.write(3 * Z, 8, false, ok);
  z.mgmt('open', 4 * Z);
  t.is(z.mgmt('reset_all', 0), BLK_STS.OK);
  t.deepEqual([z.nrImpOpen, z.nrExpOpen, z.nrClosed], [0, 0, 0]);
  t.true(z.report(Z).every((r) => r.cond === C.EMPTY));
});

test('resources: max_open closes an implicit open zone or fails with ZONE_OPEN_RESOURCE', (t) => {
  const z = mk({ zoneMaxOpen: 2 });
  t.is(z.write(1 * Z, 8, false, ok), BLK_STS.OK);
  t.is(z.write(2 * Z, 8, false, ok), BLK_STS.OK);
  t.is(z.write(3 * Z, 8, false, ok), BLK_STS.OK); // implicitly closes zone 1
  t.is(z.condAt(Z), C.CLOSED);
  t.is(z.nrImpOpen, 2);
  const e = mk({ zoneMaxOpen: 2 });
  t.is(e.mgmt('open', 1 * Z), BLK_STS.OK);
  t.is(e.mgmt('open', 2 * Z), BLK_STS.OK);
  t.is(e.write(3 * Z, 8, false, ok), BLK_STS.ZONE_OPEN_RESOURCE); // explicit opens are never closed
  t.is(e.mgmt('open', 3 * Z), BLK_STS.ZONE_OPEN_RESOURCE);
});

test('resources: max_active counts open + closed → ZONE_ACTIVE_RESOURCE', (t) => {
  const z = mk({ zoneMaxActive: 2, zoneMaxOpen: 2 });
  z.write(1 * Z, 8, false, ok);
  z.mgmt('close', 1 * Z);
  z.write(2 * Z, 8, false, ok);
  t.is(z.write(3 * Z, 8, false, ok), BLK_STS.ZONE_ACTIVE_RESOURCE);
  t.is(z.mgmt('finish', 3 * Z), BLK_STS.ZONE_ACTIVE_RESOURCE);
  t.is(z.write(1 * Z + 8, 8, false, ok), BLK_STS.OK); // a CLOSED zone may reopen
  z.mgmt('finish', 1 * Z);
  t.is(z.write(3 * Z, 8, false, ok), BLK_STS.OK);
});

test('zone_readonly / zone_offline: writes and verbs fail, same cond again restores EMPTY', (t) => {
  const z = mk();
  z.setCond(2 * Z, C.READONLY);
  t.is(z.write(2 * Z, 8, false, ok), BLK_STS.IOERR);
  t.is(z.mgmt('reset', 2 * Z), BLK_STS.IOERR);
  z.setCond(2 * Z, C.READONLY);
  t.is(z.condAt(2 * Z), C.EMPTY);
  z.setCond(3 * Z, C.OFFLINE);
  t.is(z.checkRead(3 * Z), BLK_STS.IOERR);
  t.throws(() => z.setCond(0, C.OFFLINE), { message: /conventional/ });
});

test('a failing data step leaves the write pointer alone', (t) => {
  const z = mk();
  t.is(z.write(Z, 8, false, { processZoneWrite: () => BLK_STS.IOERR }), BLK_STS.IOERR);
  t.is(z.report(Z, 1)[0]?.wp, Z);
});

test('zone_full: sequential zones start FULL with wp at capacity (null_init_zoned_dev); reset empties them', (t) => {
  const z = mk({ zoneFull: true, zoneCapacityMiB: 0.5 }); // capacity 1024 of 2048 sectors
  const r = z.report(0);
  t.is(r[0]?.cond, C.NOT_WP);
  t.deepEqual(r.slice(1).map((x) => [x.cond, x.wp - x.start]), Array.from({ length: 7 }, () => [C.FULL, 1024]));
  t.is(z.write(Z + 1024, 8, false, ok), BLK_STS.IOERR); // FULL: no writes
  t.is(z.mgmt('reset', Z), BLK_STS.OK);
  t.is(z.condAt(Z), C.EMPTY);
  t.is(z.write(Z, 8, false, ok), BLK_STS.OK);
});
