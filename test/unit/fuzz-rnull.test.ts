// Fuzz rnull's configuration boundary (null_blk's configfs attributes,
// NULLB_PARAMS): random values for every attribute, set while off or powered,
// then power on. Every refusal is a NullBlkConfigError with an errno code and
// a one-line message; nothing else is thrown. Random *valid* configurations
// power on and off repeatedly, do a little I/O, and leave no disk behind.
import test from 'ava';
import { openDisk, getDisk, BlockError } from '../../host/block/index.ts';
import { NullBlkRegistry, NullBlkConfigError } from '../../host/drivers/rnull/index.ts';
import { NULLB_PARAMS } from '../../host/drivers/rnull/config.ts';
import { Mulberry32 } from '../../src/util/prng.ts';

const VALUES: (string | number | boolean)[] = [
  0, 1, 2, 3, -1, 7, 512, 4096, 8192, 65536, 2 ** 31, 2 ** 32, 2 ** 53, 1.5, NaN, Infinity, true, false,
  '', ' ', '0x10', '010', '1k', 'y', 'n', 'on', 'off', 'maybe', '-0', '+5', '1e3', '99999999999999999999999', '\u0000', 'a'.repeat(500),
  '1,2,3,4', '10,50,0,-1', '1,100,1,1', 'x,y,z,w', '0,0,0,0',
];

let seq = 0;
const uniq = (): string => `fz${process.pid % 1000}_${seq++}`;

function expectConfigError(t: { fail: (m: string) => void; true: (b: boolean, m?: string) => void }, e: unknown, ctx: string): void {
  if (!(e instanceof NullBlkConfigError)) {
    t.fail(`${ctx}: threw ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return;
  }
  t.true(/^E[A-Z]+$/.test(e.code), `${ctx}: code ${e.code}`);
  t.true(!e.message.includes('\n'), `${ctx}: one line`);
}

test('random attribute values: accepted, or NullBlkConfigError with a code; power on succeeds or refuses cleanly', async (t) => {
  const r = new Mulberry32(0x5eed);
  const reg = new NullBlkRegistry({ nrCpus: 2 });
  t.teardown(() => reg.destroy());
  const names = [...NULLB_PARAMS.map((p) => p.name), 'gb', 'bs', 'power', 'nosuch', '', 'index'];
  let refused = 0;
  let powered = 0;
  for (let dev = 0; dev < 40; dev++) {
    const name = uniq();
    reg.create(name);
    // Keep the device small so a successful power-on stays cheap.
    await reg.setAttr(name, 'size', 1 + r.below(64));
    for (let k = 0; k < 6; k++) {
      const key = names[r.below(names.length)] ?? 'size';
      const value = r.below(3) === 0 ? r.nextU32() % 5000 : (VALUES[r.below(VALUES.length)] ?? 0);
      if (key === 'size' && (typeof value !== 'number' || value > 256)) continue;
      if (key === 'cache_size' || key === 'zone_size') continue; // big values only cost memory/time
      try {
        await reg.setAttr(name, key, value);
      } catch (e) {
        expectConfigError(t, e, `${name} ${key}=${String(value)}`);
        refused++;
      }
    }
    try {
      await reg.power(name, 1);
      powered++;
      const bdev = openDisk(name);
      try {
        await bdev.write(0, new Uint8Array(4096).fill(1));
        await bdev.read(0, 4096);
      } catch (e) {
        // A fault-injection attribute may fail the I/O: that is a block status, not a crash.
        t.true(e instanceof BlockError, `${name}: ${String(e)}`);
      }
      // Changing a non-live knob while powered is refused with EBUSY.
      try {
        await reg.setAttr(name, 'blocksize', 4096);
      } catch (e) {
        expectConfigError(t, e, `${name} blocksize while powered`);
      }
      await reg.power(name, 0);
    } catch (e) {
      expectConfigError(t, e, `${name} power on: ${JSON.stringify(reg.info(name))}`);
      refused++;
    }
    await reg.remove(name);
    t.is(getDisk(name), undefined);
  }
  t.true(refused > 10 && powered > 5, `refused ${refused}, powered ${powered}`);
});

test('random valid configurations survive power on/off cycles with data intact (memory backed)', async (t) => {
  const r = new Mulberry32(0xc7c1e);
  const reg = new NullBlkRegistry({ nrCpus: 4 });
  t.teardown(() => reg.destroy());
  for (let dev = 0; dev < 12; dev++) {
    const name = uniq();
    reg.create(name);
    const bs = [512, 1024, 2048, 4096][r.below(4)] ?? 512;
    const cfg: Record<string, number> = {
      size: 4 + r.below(28), blocksize: bs, memory_backed: 1, irqmode: r.below(3), completion_nsec: 1000 * r.below(20),
      submit_queues: 1 + r.below(4), hw_queue_depth: 1 + r.below(64), blocking: r.below(2), no_sched: r.below(2),
      shared_tag_bitmap: r.below(2), discard: r.below(2), cache_size: r.below(3), max_sectors: r.below(2) === 0 ? 0 : 8 * (1 + r.below(64)),
    };
    for (const [k, v] of Object.entries(cfg)) await reg.setAttr(name, k, v);
    const data = new Uint8Array(8192);
    for (let i = 0; i < data.length; i++) data[i] = r.below(256);
    for (let cycle = 0; cycle < 3; cycle++) {
      await reg.power(name, 1);
      const bdev = openDisk(name);
      if (cycle === 0) await bdev.write(bs * 3, data);
      t.deepEqual(await bdev.read(bs * 3, data.length), data, `${name} ${JSON.stringify(cfg)} cycle ${cycle}`);
      await reg.power(name, 0);
      t.is(getDisk(name), undefined, 'powered off: no disk');
      // A live knob changed between cycles.
      await reg.setAttr(name, 'submit_queues', 1 + r.below(4));
    }
    await reg.remove(name);
  }
});
