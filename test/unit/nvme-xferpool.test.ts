// Device transfer buffers (device/nvme/dma.ts): recycled per power-of-two
// class, never handed out twice while taken, foreign buffers ignored.
import test from 'ava';
import { takeTransferBuffer, releaseTransferBuffer } from '../../device/nvme/dma.ts';

test('classes are powers of two from 4 KiB; a released buffer comes back, a taken one never twice', (t) => {
  t.is(takeTransferBuffer(1).length, 4096);
  t.is(takeTransferBuffer(4096).length, 4096);
  t.is(takeTransferBuffer(4097).length, 8192);
  t.is(takeTransferBuffer(131072).length, 131072);
  t.is(takeTransferBuffer(512 * 1024 + 512).length, 1024 * 1024);
  const a = takeTransferBuffer(20000);
  const b = takeTransferBuffer(20000);
  t.not(a, b);
  releaseTransferBuffer(a);
  const c = takeTransferBuffer(30000);
  t.is(c, a);
  t.not(takeTransferBuffer(20000), a);
  releaseTransferBuffer(new Uint8Array(5000)); // not a class size: ignored
  t.not(takeTransferBuffer(5000).length, 5000);
});
