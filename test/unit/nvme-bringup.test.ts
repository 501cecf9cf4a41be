// Linux-order bring-up against the controller in-process, and a first I/O.
import test from 'ava';
import { NvmeTestHost } from '../helpers/nvme-host.ts';
import { ID_CTRL, ID_NS } from '../../src/spec/identify.ts';
import { getAscii, getBf } from '../../src/wire/le.ts';
import { NVM } from '../../src/spec/nvm.ts';

test('bring-up in Linux order, then write and read back', async (t) => {
  const { host, ctrl } = await NvmeTestHost.inProcess({ serial: 'SN123' });
  t.teardown(() => host.close());
  const r = await host.bringUp({ ioQueues: 2 });
  t.is(getAscii(r.idCtrl, 0, ID_CTRL.SN), 'SN123');
  t.is(getBf(r.idCtrl, 0, ID_CTRL.SQES), 0x66);
  t.is(getBf(r.idCtrl, 0, ID_CTRL.CQES), 0x44);
  t.is(getBf(r.idCtrl, 0, ID_CTRL.OAES) & 0x100, 0x100);
  t.deepEqual(r.nsids, [1]);
  const ns = r.idNs.get(1) ?? new Uint8Array();
  t.is(getBf(ns, 0, ID_NS.NSZE), (1 << 30) / 4096);
  // A later admin command completes only after the AER before it was parked.
  await host.expectOk(host.admin({ opc: 0x0a, cdw10: 0x07 }), 'get features');
  t.is(ctrl.aer.outstanding.length, 1);
  t.is(ctrl.aer.outstanding[0]?.sqe.cid, 31);
  const data = host.buf(8192);
  host.mem.view(data, 8192).set(Array.from({ length: 8192 }, (_, i) => (i * 7) & 0xff));
  const w = await host.io(1, { opc: NVM.WRITE, nsid: 1, prp1: data, prp2: data + 4096, cdw10: 10, cdw12: 1 });
  t.is(w.status, 0);
  const rd = host.buf(8192);
  const rr = await host.io(2, { opc: NVM.READ, nsid: 1, prp1: rd, prp2: rd + 4096, cdw10: 10, cdw12: 1 });
  t.is(rr.status, 0);
  t.deepEqual(host.mem.view(rd, 8192), host.mem.view(data, 8192));
});
