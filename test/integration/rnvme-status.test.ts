// NVMe error statuses from a real device (fault engine 'status' rules over
// the control channel) through rnvme to the block layer, as Linux does:
// without DNR retried (up to max_retries, then failed), with DNR failed at
// once with the mapped block status and Linux's log line.
import test from 'ava';
import { BLK_STS, REQ_OP } from '../../host/block/index.ts';
import { NVM } from '../../src/spec/index.ts';
import { injectedBy, rig, submitP } from './rnvme-helpers.ts';

test('status without DNR retried; with DNR failed at once (MEDIUM, Linux log line); retries exhausted → error', async (t) => {
  const { c, cap, ctrl } = await rig(t, ['-device', 'nvme,serial=STS', '-device', 'nvme-ns,nsid=1,size=1M'], { io_queues: 1, max_retries: 3 });
  const bd = ctrl.disks[0]?.open();
  if (bd === undefined) return t.fail('no disk');
  const read = (): Promise<number> => submitP(bd, REQ_OP.READ, 0, new Uint8Array(4096), 0, 0);
  const injected = (id: string): Promise<number | undefined> => injectedBy(c, id);

  // Transient Data Transfer Error (0/04h), no DNR: one retry, then success.
  await c.execute('fault-inject', { rule: { id: 'once', match: { queue: 'io', opcode: NVM.READ }, trigger: { kind: 'once' }, action: { type: 'status', sct: 0, sc: 0x04 } } });
  t.is(await read(), BLK_STS.OK);
  t.is(ctrl.stats.retries, 1);
  t.is(await injected('once'), 1);

  // Unrecovered Read Error with DNR: not retried, BLK_STS_MEDIUM, logged like Linux.
  await c.execute('fault-inject', { rule: { id: 'dnr', match: { queue: 'io', opcode: NVM.READ }, trigger: { kind: 'once' }, action: { type: 'status', sct: 2, sc: 0x81, dnr: true } } });
  t.is(await read(), BLK_STS.MEDIUM);
  t.is(ctrl.stats.retries, 1);
  t.deepEqual(cap.grep(/Read\(0x2\) @ LBA/), [`${ctrl.name}n1: Read(0x2) @ LBA 0, 1 blocks, Unrecovered Read Error (sct 0x2 / sc 0x81) DNR`]);

  // A persistent error without DNR: 1 + max_retries attempts, then the mapped status (Write Fault → MEDIUM).
  await c.execute('fault-inject', { rule: { id: 'always', match: { queue: 'io', opcode: NVM.READ }, trigger: { kind: 'always' }, action: { type: 'status', sct: 2, sc: 0x80 } } });
  t.is(await read(), BLK_STS.MEDIUM);
  t.is(await injected('always'), 4);
  t.is(ctrl.stats.retries, 1 + 3);
  await c.execute('fault-clear', {});
  t.is(await read(), BLK_STS.OK);
  bd.close();
});
