// Format NVM with another LBA format: the namespace's disk is rebuilt with the new
// logical block size and capacity, and I/O works on it. (It used to keep the old
// 512 B block size after the format, so writes failed with EIO.)
import test from 'ava';
import { startDevice } from '../helpers/daemon.ts';
import { getDisk } from '../../host/block/index.ts';
import { probeNvme } from '../../host/drivers/rnvme/index.ts';

test('format to a 4 KiB LBA format rebuilds nvme0n1 with 4 KiB blocks; data I/O works after it', async (t) => {
  const dev = await startDevice({ args: ['-device', 'nvme,serial=FMT1', '-device', 'nvme-ns,nsid=1,size=8M,logical_block_size=512'] });
  t.teardown(() => dev.stop());
  const ctrl = await probeNvme(dev.url, { options: { io_queues: 1, io_timeout: 20000 } });
  t.teardown(() => ctrl.shutdown());
  const name = `${ctrl.name}n1`;
  t.is(getDisk(name)?.limits.logicalBlockSize, 512);

  await ctrl.format(1, { lbaf: 1 }); // LBAF 1 = 4 KiB (LBADS 12)
  const disk = getDisk(name);
  if (disk === undefined) return t.fail(`${name} is gone after the format`);
  t.is(disk.limits.logicalBlockSize, 4096);
  t.is(disk.capacityBytes, 8 << 20);

  const bd = disk.open();
  const data = new Uint8Array(8192).map((_, i) => (i * 7) & 0xff);
  await bd.write(disk.capacityBytes - 8192, data);
  t.deepEqual(await bd.read(disk.capacityBytes - 8192, 8192), data);
  await t.throwsAsync(bd.write(512, new Uint8Array(512)), undefined, 'a 512 B write on a 4 KiB-block disk is refused before queueing');
  bd.close();
});
