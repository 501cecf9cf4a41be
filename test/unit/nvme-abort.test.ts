// Abort (NVMe 1.4 §5.1): a command held before execution (a fault's delay) is
// really aborted; a command still waiting in its SQ is aborted when it would be
// fetched; an executing or unknown command is reported "not aborted"; more
// waiting Aborts than ACL+1 get Abort Command Limit Exceeded.
import test from 'ava';
import { NvmeTestHost } from '../helpers/nvme-host.ts';
import { ADMIN } from '../../src/spec/admin.ts';
import { NVM } from '../../src/spec/nvm.ts';
import { FID } from '../../src/spec/features.ts';
import { S, statusName } from '../../src/spec/status.ts';
import type { Cqe } from '../../src/wire/cqe.ts';
import type { NvmeController } from '../../device/nvme/controller.ts';

const st = (s: number): string => statusName(s);
const sync = (h: NvmeTestHost) => h.expectOk(h.admin({ opc: ADMIN.GET_FEATURES, cdw10: FID.NUMBER_OF_QUEUES }), 'sync');
const abortCmd = (h: NvmeTestHost, sqid: number, cid: number) => h.admin({ opc: ADMIN.ABORT, cdw10: (sqid | (cid << 16)) >>> 0 });

async function until(h: NvmeTestHost, pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 40 && !pred(); i++) await sync(h);
  if (!pred()) throw new Error(`not reached: ${what}`);
}

/** Hold every command whose CID is in `held` (the fault engine's delay action), far longer than any test. */
function holdCids(ctrl: NvmeController, held: Set<number>): void {
  ctrl.faults = { beforeExecute: (_qid, sqe) => (held.has(sqe.cid) ? { delayMs: 600_000 } : undefined) };
}

test('a held (fault-delayed) write is aborted: Command Abort Requested, CDW0 bit 0 = 0, data never written', async (t) => {
  const { host, ctrl } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, aer: false });
  const q = host.queues.get(1);
  if (q === undefined) return t.fail();
  const b = host.buf(4096);
  host.mem.view(b, 4096).fill(0xa5);
  const cid = 0x3007; // generation 3, tag 7
  holdCids(ctrl, new Set([cid]));
  const w = host.submit(q, { opc: NVM.WRITE, nsid: 1, prp1: b, cdw10: 10, cid });
  await until(host, () => ctrl.sqs[1]?.inflight === 1, 'write held');
  const ab = await abortCmd(host, 1, cid);
  t.is(st(ab.status), st(S.SUCCESS));
  t.is(ab.dw0 & 1, 0); // aborted
  const c = await w;
  t.is(st(c.status), st(S.ABORT_REQUESTED));
  t.is(c.cid, cid);
  t.is(ctrl.sqs[1]?.inflight, 0);
  // Executed nothing: LBA 10 still reads zeros.
  const r = host.buf(4096);
  t.is((await host.submit(q, { opc: NVM.READ, nsid: 1, prp1: r, cdw10: 10 })).status, 0);
  t.true(host.mem.view(r, 4096).every((x) => x === 0));
  // Nothing left to abort now: "not aborted".
  t.is((await abortCmd(host, 1, cid)).dw0 & 1, 1);
});

test('a command still in the SQ is aborted when fetched; extra Aborts report not aborted; ACL+1 limit', async (t) => {
  const { host, ctrl } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, qdepth: 4, aer: false });
  const q = host.queues.get(1);
  if (q === undefined) return t.fail();
  const b = host.buf(4096);
  // Four held reads take every command slot of the 4-entry SQ; a fifth SQE then waits in the SQ.
  const held = new Set<number>();
  holdCids(ctrl, held);
  const heldPs: Promise<Cqe>[] = [];
  for (let i = 0; i < 4; i++) {
    if (i === 3) await until(host, () => ctrl.sqs[1]?.inflight === 3, 'three held');
    const cid = host.nextCid(q);
    held.add(cid);
    heldPs.push(host.submit(q, { opc: NVM.READ, nsid: 1, prp1: b, cid }));
  }
  await until(host, () => ctrl.sqs[1]?.inflight === 4, 'four held');
  const waitingCid = host.nextCid(q);
  let waitingCqe: Cqe | undefined;
  void host.submit(q, { opc: NVM.READ, nsid: 1, prp1: b, cid: waitingCid }).then((c) => (waitingCqe = c));
  await sync(host);
  t.is(ctrl.sqs[1]?.inflight, 4);
  t.is(ctrl.info().sqs.find((s) => s.qid === 1)?.pending, 1);
  // ACL = 3 (0's based): four Aborts may wait, the fifth is refused.
  const acl = new Uint8Array(await identifyAcl(host));
  t.is(acl[0], 3);
  const waits = [0, 1, 2, 3].map(() => abortCmd(host, 1, waitingCid));
  await sync(host);
  t.is(st((await abortCmd(host, 1, waitingCid)).status), st(S.ABORT_COMMAND_LIMIT_EXCEEDED));
  t.is(waitingCqe, undefined);
  // Abort one held read: its slot frees, the waiting SQE is fetched and aborted unexecuted.
  const first = [...held][0] ?? 0;
  t.is((await abortCmd(host, 1, first)).dw0 & 1, 0);
  const ws = await Promise.all(waits);
  t.deepEqual(ws.map((c) => st(c.status)), ws.map(() => st(S.SUCCESS)));
  t.is(ws.filter((c) => (c.dw0 & 1) === 0).length, 1); // exactly one of them aborted it
  await until(host, () => waitingCqe !== undefined, 'aborted CQE');
  t.is(st(waitingCqe?.status ?? -1), st(S.ABORT_REQUESTED));
  // Release the other held reads the same way (no timers left behind).
  for (const cid of [...held].slice(1)) t.is((await abortCmd(host, 1, cid)).dw0 & 1, 0);
  for (const c of await Promise.all(heldPs)) t.is(st(c.status), st(S.ABORT_REQUESTED));
});

test('Aborts waiting on an SQ that is deleted complete "not aborted"', async (t) => {
  const { host, ctrl } = await NvmeTestHost.inProcess();
  t.teardown(() => host.close());
  await host.bringUp({ ioQueues: 1, qdepth: 2, aer: false });
  const q = host.queues.get(1);
  if (q === undefined) return t.fail();
  const b = host.buf(4096);
  const held = new Set<number>();
  holdCids(ctrl, held);
  const h1 = host.nextCid(q);
  held.add(h1);
  const hp1 = host.submit(q, { opc: NVM.READ, nsid: 1, prp1: b, cid: h1 });
  await until(host, () => ctrl.sqs[1]?.inflight === 1, 'held 1');
  const h2 = host.nextCid(q);
  held.add(h2);
  const hp2 = host.submit(q, { opc: NVM.READ, nsid: 1, prp1: b, cid: h2 });
  await until(host, () => ctrl.sqs[1]?.inflight === 2, 'held 2');
  const w = host.nextCid(q);
  void host.submit(q, { opc: NVM.READ, nsid: 1, prp1: b, cid: w });
  const ab = abortCmd(host, 1, w);
  await sync(host);
  const del = host.admin({ opc: ADMIN.DELETE_IO_SQ, cdw10: 1 });
  t.is((await ab).dw0 & 1, 1);
  // The held reads end with Aborted - SQ Deletion once released.
  for (const cid of [h1, h2]) void abortCmd(host, 1, cid);
  for (const c of await Promise.all([hp1, hp2])) t.true([st(S.ABORTED_SQ_DELETION), st(S.ABORT_REQUESTED)].includes(st(c.status)));
  t.is((await del).status, 0);
});

async function identifyAcl(host: NvmeTestHost): Promise<Uint8Array> {
  const b = host.buf(4096);
  await host.expectOk(host.admin({ opc: ADMIN.IDENTIFY, prp1: b, cdw10: 1 }), 'identify');
  return host.mem.view(b + 258, 1).slice();
}
