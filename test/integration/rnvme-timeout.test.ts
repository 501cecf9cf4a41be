// Linux's timeout ladder driven by a real fault in the device daemon (the
// fault engine's drop-completion, injected over the control channel): the
// lost Read times out → Abort (the controller has nothing to abort) → second
// timeout → controller reset → the Read is requeued and completes with the
// right data; I/O carries on. An admin command that times out resets the
// controller directly and fails (admin commands are not retried).
import test from 'ava';
import { BLK_STS, REQ_OP } from '../../host/block/index.ts';
import { probeNvme } from '../../host/drivers/rnvme/index.ts';
import { ADMIN, FID, NVM } from '../../src/spec/index.ts';
import { captureLogger } from '../../fixtures/promises.ts';
import { injectedBy, rig, submitP } from './rnvme-helpers.ts';

const ARGS = ['-device', 'nvme,serial=TMO', '-device', 'nvme-ns,nsid=1,size=2M'];

test('dropped Read: timeout → Abort → second timeout → reset → requeued, data intact, I/O resumes', async (t) => {
  const { c, cap, ctrl } = await rig(t, ARGS, { io_queues: 1, io_timeout: 300 });
  const bd = ctrl.disks[0]?.open();
  if (bd === undefined) return t.fail('no disk');
  const w = new Uint8Array(8192);
  for (let i = 0; i < w.length; i++) w[i] = (i * 7 + 3) & 0xff;
  t.is(await submitP(bd, REQ_OP.WRITE, 4096, w, 0, 0), BLK_STS.OK);

  await c.execute('fault-inject', { rule: { id: 'lost', match: { queue: 'io', opcode: NVM.READ }, trigger: { kind: 'once' }, action: { type: 'drop-completion', stage: 'before' } } });
  const r = new Uint8Array(8192);
  t.is(await submitP(bd, REQ_OP.READ, 4096, r, 0, 0), BLK_STS.OK);
  t.deepEqual(r, w);
  t.is(await injectedBy(c, 'lost'), 1, 'the fault really fired');

  t.is(ctrl.stats.timeouts, 2);
  t.is(ctrl.stats.aborts, 1);
  t.is(ctrl.stats.resets, 1);
  const ladder = cap.grep(/QID 1 timeout|Abort status|resetting|reset/);
  const iAbort = ladder.findIndex((l) => /QID 1 timeout, aborting req_op:/.test(l));
  const iReset = ladder.findIndex((l) => /QID 1 timeout, reset controller/.test(l));
  t.true(iAbort >= 0 && iReset > iAbort, ladder.join('\n'));
  // QEMU-like Abort: success, DW0 bit 0 = 1 ("not aborted") — the device never saw the command.
  t.true(cap.grep(/Abort status: 0x0/).length === 1, ladder.join('\n'));
  t.deepEqual(ctrl.state.history.slice(-3), ['live -> resetting', 'resetting -> connecting', 'connecting -> live']);

  // I/O resumes on the re-created queues.
  for (let i = 0; i < 8; i++) {
    const b = new Uint8Array(4096);
    t.is(await submitP(bd, REQ_OP.READ, 4096 + (i % 2) * 4096, b, 0, 0), BLK_STS.OK);
    t.deepEqual(b, w.subarray((i % 2) * 4096, (i % 2) * 4096 + 4096));
  }
  bd.close();
});

test('dropped admin command: admin timeout → controller reset; the command fails, the next one works', async (t) => {
  const { c, cap, ctrl } = await rig(t, ARGS, { io_queues: 1, admin_timeout: 300 });
  await c.execute('fault-inject', { rule: { id: 'lost', match: { queue: 'admin', opcode: ADMIN.GET_FEATURES }, trigger: { kind: 'once' }, action: { type: 'drop-completion' } } });
  await t.throwsAsync(ctrl.getFeatures(FID.NUMBER_OF_QUEUES));
  t.true(cap.grep(/QID 0 timeout, reset controller/).length === 1, cap.lines.join('\n'));
  // The reset runs after the failure is reported; wait for it through the state machine's history.
  for (let i = 0; i < 2000 && !(ctrl.stats.resets === 1 && ctrl.state.label === 'live'); i++) await new Promise((r) => setTimeout(r, 5));
  t.is(ctrl.stats.resets, 1);
  t.is(ctrl.state.label, 'live');
  await t.notThrowsAsync(ctrl.getFeatures(FID.NUMBER_OF_QUEUES));
  const bd = ctrl.disks[0]?.open();
  if (bd === undefined) return t.fail('no disk');
  t.is(await submitP(bd, REQ_OP.READ, 0, new Uint8Array(4096), 0, 0), BLK_STS.OK);
  bd.close();
});

test('orderly shutdown: queues deleted and SHST complete without warnings; a controller that never completes shutdown is bounded by shutdown_timeout', async (t) => {
  const { dev, c, cap, ctrl } = await rig(t, ARGS, { io_queues: 2 });
  await ctrl.shutdown();
  t.deepEqual(cap.grep(/delete (SQ|CQ)|shutdown incomplete/), []);
  t.is(ctrl.state.label, 'dead');

  await c.execute('fault-inject', { rule: { id: 'stuck', on: 'shutdown', trigger: { kind: 'once' }, action: { type: 'slow-shutdown' } } });
  const cap2 = captureLogger();
  const ctrl2 = await probeNvme(dev.url, { log: cap2.log, options: { io_queues: 1, shutdown_timeout: 200 } });
  await ctrl2.shutdown(); // returns: bounded by the shutdown timeout (RTD3E 0 → the option)
  t.is(cap2.grep(/Device shutdown incomplete; abort shutdown/).length, 1, cap2.lines.join('\n'));
  t.is(ctrl2.state.label, 'dead');
  t.is(await injectedBy(c, 'stuck'), 1);
});
