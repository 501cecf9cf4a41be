// Device and host in separate processes over ws: Linux-order bring-up, I/O,
// file-backed data across a restart after Flush, unsafe shutdown in SMART.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevice, qmp } from '../helpers/daemon.ts';
import { NvmeTestHost } from '../helpers/nvme-host.ts';
import { NVM } from '../../src/spec/nvm.ts';
import { ADMIN } from '../../src/spec/admin.ts';
import { ID_CTRL } from '../../src/spec/identify.ts';
import { getAscii } from '../../src/wire/le.ts';
import { u64 } from '../../src/wire/le.ts';

interface NvmeSection {
  ready: boolean;
  namespaces: { nsid: number; sizeBytes: number; lbads: number; backend: string; allocatedBytes: number }[];
  sqs: { qid: number; size: number; inflight: number; pending: number }[];
  cqs: { qid: number; size: number; head: number; tail: number }[];
  counters: { commands: number };
  aer: { outstanding: number };
}

const smart = async (h: NvmeTestHost): Promise<Uint8Array> => {
  const b = h.buf(4096);
  await h.expectOk(h.admin({ opc: ADMIN.GET_LOG_PAGE, prp1: b, nsid: 0xffffffff, cdw10: (2 | (127 << 16)) >>> 0 }), 'smart');
  return h.mem.view(b, 512).slice();
};

test('bring-up over ws in Linux order, data survives a restart after Flush, unsafe shutdown counted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nvme-int-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'ns1.img');
  const args = ['-device', 'nvme,serial=INTEG1', '-device', `nvme-ns,nsid=1,size=16M,file=${file}`, '-device', 'nvme-ns,nsid=2,size=8M,logical_block_size=512'];
  const dev = await startDevice({ args });
  t.teardown(() => dev.stop());
  const h = await NvmeTestHost.connect(dev.url);
  const r = await h.bringUp({ ioQueues: 2 });
  t.is(getAscii(r.idCtrl, 0, ID_CTRL.SN), 'INTEG1');
  t.deepEqual(r.nsids, [1, 2]);
  t.true(h.trace.indexOf('write CC=0') < h.trace.indexOf('write AQA=0x1f001f ASQ ACQ'));
  const b = h.buf(8192);
  h.mem.view(b, 8192).forEach((_, i, a) => (a[i] = (i * 13) & 0xff));
  t.is((await h.io(1, { opc: NVM.WRITE, nsid: 1, prp1: b, prp2: b + 4096, cdw10: 100, cdw12: 1 })).status, 0);
  t.is((await h.io(2, { opc: NVM.FLUSH, nsid: 0xffffffff })).status, 0);
  t.is(u64(await smart(h), 144), 0); // no unsafe shutdown yet
  // query-device has an `nvme` section: namespaces, queues, counters.
  const q = await qmp(dev.controlUrl, dev.token);
  const info = ((await q.execute('query-device')) as { nvme?: NvmeSection }).nvme;
  q.close();
  t.is(info?.ready, true);
  t.deepEqual(info?.namespaces.map((n) => [n.nsid, n.sizeBytes, n.lbads, n.backend]), [[1, 16 << 20, 12, 'file'], [2, 8 << 20, 9, 'ram']]);
  t.true((info?.namespaces[0]?.allocatedBytes ?? 0) > 0);
  t.deepEqual(info?.sqs.map((s) => [s.qid, s.size, s.inflight, s.pending]), [[0, 32, 1, 0], [1, 64, 0, 0], [2, 64, 0, 0]]); // the AER holds one admin slot
  t.deepEqual(info?.cqs.map((c) => [c.qid, c.size, c.head === c.tail]), [[0, 32, true], [1, 64, true], [2, 64, true]]);
  t.true((info?.counters.commands ?? 0) >= 10);
  t.is(info?.aer.outstanding, 1);
  h.close();
  dev.proc.kill('SIGKILL'); // no CC.SHN, no clean exit: unsafe
  await dev.exited;

  const dev2 = await startDevice({ args });
  t.teardown(() => dev2.stop());
  const h2 = await NvmeTestHost.connect(dev2.url);
  await h2.bringUp({ ioQueues: 1, aer: false });
  const rb = h2.buf(8192);
  t.is((await h2.io(1, { opc: NVM.READ, nsid: 1, prp1: rb, prp2: rb + 4096, cdw10: 100, cdw12: 1 })).status, 0);
  const expect = new Uint8Array(8192).map((_, i) => (i * 13) & 0xff);
  t.deepEqual(h2.mem.view(rb, 8192), expect);
  const s = await smart(h2);
  t.is(u64(s, 112), 2); // power cycles
  t.is(u64(s, 144), 1); // unsafe shutdowns
  h2.close();
});
