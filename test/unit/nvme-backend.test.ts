// Namespace stores: sparse RAM, file reopen, volatile write cache and power loss, uncorrectable marks.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RamStore } from '../../device/backend/store.ts';
import { NamespaceData, UncorrectableError } from '../../device/backend/namespace.ts';

test('sparse RAM: a 1 TiB store costs only the pages written', (t) => {
  const s = new RamStore(2 ** 40);
  s.write(2 ** 40 - 4096, new Uint8Array(4096).fill(7));
  const b = new Uint8Array(8192);
  s.read(2 ** 40 - 8192, b);
  t.is(b[0], 0);
  t.is(b[8191], 7);
  t.is(s.allocatedBytes(), 4096);
  s.deallocate(2 ** 40 - 4096, 4096);
  t.is(s.allocatedBytes(), 0);
});

test('write cache: unflushed writes are lost by dropVolatile, flushed ones survive', async (t) => {
  const ns = new NamespaceData({ nsid: 1, sizeBytes: 1 << 20, blockSize: 512 });
  ns.write(0, 1, new Uint8Array(512).fill(1));
  await ns.flush();
  ns.write(1, 1, new Uint8Array(512).fill(2));
  ns.write(2, 1, new Uint8Array(512).fill(3), true); // FUA
  ns.deallocate(0, 1);
  t.true(ns.cache.dirtyPages > 0);
  const b = new Uint8Array(1536);
  ns.read(0, 3, b);
  t.deepEqual([b[0], b[512], b[1024]], [0, 2, 3]);
  ns.dropVolatile();
  ns.read(0, 3, b);
  t.deepEqual([b[0], b[512], b[1024]], [1, 0, 3]);
});

test('uncorrectable marks fail reads until rewritten', (t) => {
  const ns = new NamespaceData({ nsid: 1, sizeBytes: 1 << 20, blockSize: 4096 });
  ns.markUncorrectable(3, 2);
  t.throws(() => ns.read(0, 8, new Uint8Array(8 * 4096)), { instanceOf: UncorrectableError });
  ns.write(3, 2, new Uint8Array(8192));
  t.notThrows(() => ns.read(0, 8, new Uint8Array(8 * 4096)));
});

test('file store: created if missing, data back after reopen once flushed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nvme-be-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'ns1.img');
  const a = new NamespaceData({ nsid: 1, sizeBytes: 1 << 20, blockSize: 4096, file });
  a.write(5, 1, new Uint8Array(4096).fill(9));
  a.write(6, 1, new Uint8Array(4096).fill(8));
  await a.flush();
  a.write(7, 1, new Uint8Array(4096).fill(6)); // never flushed: lost on "power loss"
  a.dropVolatile();
  a.close();
  const b = new NamespaceData({ nsid: 1, sizeBytes: 1 << 20, blockSize: 4096, file });
  const buf = new Uint8Array(3 * 4096);
  b.read(5, 3, buf);
  t.deepEqual([buf[0], buf[4096], buf[8192]], [9, 8, 0]);
  b.close();
});
