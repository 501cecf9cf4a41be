// Config-space decoding on the host: capability walk (incl. a device that
// tries to trap the host in a loop), MSI-X / PCIe decoding, BAR sizing.
import test from 'ava';
import { barFlags, barSize, decodeMsix, decodePcie, parseIds, walkCapabilities } from '../../host/pci/config.ts';
import { isPciError } from '../../host/pci/index.ts';

function header(): Uint8Array {
  const b = new Uint8Array(256);
  const dv = new DataView(b.buffer);
  dv.setUint16(0x00, 0x1b36, true);
  dv.setUint16(0x02, 0x0010, true);
  dv.setUint16(0x06, 1 << 4, true); // capabilities list
  b[0x08] = 2;
  b[0x09] = 0x02;
  b[0x0a] = 0x08;
  b[0x0b] = 0x01;
  b[0x34] = 0x40;
  // PM at 0x40 → MSI-X at 0x50 → PCIe at 0x60
  b[0x40] = 0x01;
  b[0x41] = 0x50;
  dv.setUint16(0x42, 0x3, true);
  b[0x50] = 0x11;
  b[0x51] = 0x60;
  dv.setUint16(0x52, 63, true); // 64 vectors
  dv.setUint32(0x54, 0x2000 | 0, true);
  dv.setUint32(0x58, 0x3000 | 4, true);
  b[0x60] = 0x10;
  b[0x61] = 0x00;
  dv.setUint16(0x62, 0x0002, true); // endpoint, version 2
  dv.setUint32(0x64, (1 << 28) | 1, true); // FLR, MPS 256
  return b;
}

test('IDs, class code and the capability chain', (t) => {
  const b = header();
  t.like(parseIds(b), { vendor: 0x1b36, device: 0x0010, classCode: 0x010802, revision: 2 });
  t.deepEqual(walkCapabilities(b).map((c) => [c.name, c.offset]), [['pm', 0x40], ['msix', 0x50], ['pcie', 0x60]]);
  t.deepEqual(decodeMsix(b, 0x50), { capOffset: 0x50, tableSize: 64, tableBar: 0, tableOffset: 0x2000, pbaBar: 4, pbaOffset: 0x3000 });
  t.like(decodePcie(b, 0x60), { flr: true, maxPayloadSupported: 256, portType: 0 });
});

test('a looping or out-of-range capability chain is a config error, not a hang', (t) => {
  const b = header();
  b[0x61] = 0x40; // PCIe → PM: loop
  const e = t.throws(() => walkCapabilities(b));
  t.true(isPciError(e) && e.code === 'config');
  const c = header();
  c[0x41] = 0x10; // into the header
  t.throws(() => walkCapabilities(c), { message: /out of range/ });
  const d = header();
  d[0x06] = 0; // no capability list bit
  t.deepEqual(walkCapabilities(d), []);
});

test('BAR sizing from the all-ones read-back', (t) => {
  t.is(barSize(0xfffff000, undefined), 4096);
  t.is(barSize(0xfff00000, undefined), 1 << 20);
  t.is(barSize(0, undefined), 0);
  t.is(barSize(0xffffc00c, 0xffffffff), 16384, '64-bit prefetchable');
  t.is(barSize(0x0000000c, 0xfffffffe), 2 ** 33);
  t.deepEqual(barFlags(0x0c), { io: false, is64: true, prefetchable: true });
  t.deepEqual(barFlags(0x01), { io: true, is64: false, prefetchable: false });
});
