// The daemon side of fault fixtures: --fixture / --fault-plan at start (bad
// plans exit 2 with every problem listed), and fault-inject / fault-list /
// fault-clear / query-device over the control channel.
import test from 'ava';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { startFaultyDevice } from '../../fixtures/index.ts';

test('--fault-plan with errors: exit 2, one line per problem with its JSON path', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nvmelab-badplan-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify({ rules: [{ trigger: { kind: 'every', n: 0 }, action: { type: 'status', sct: 0 } }] }));
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'device/main.ts', '--listen', '127.0.0.1:0', '--fault-plan', file], { encoding: 'utf8', timeout: 20000 });
  t.is(r.status, 2, r.stderr);
  t.regex(r.stderr, /2 problems/);
  t.regex(r.stderr, /rules\[0\]\.trigger\.n: expected an integer in 1\.\./);
  t.regex(r.stderr, /rules\[0\]\.action\.sc: required/);
  const u = spawnSync(process.execPath, ['--import', 'tsx', 'device/main.ts', '--listen', '127.0.0.1:0', '--fixture', 'nope'], { encoding: 'utf8', timeout: 20000 });
  t.is(u.status, 2, u.stderr);
  t.regex(u.stderr, /unknown fixture 'nope' \(known: bit-rot, dropped-completions/);
});

test('control channel: fixture at start, fault-inject / fault-list / fault-clear, counts in query-device', async (t) => {
  const dev = await startFaultyDevice({ fixture: 'fatal-controller' });
  t.teardown(() => dev.stop());
  const c = await dev.control();
  const cmds = ((await c.execute('query-commands')) as { name: string }[]).map((x) => x.name);
  for (const n of ['fault-inject', 'fault-list', 'fault-clear']) t.true(cmds.includes(n), n);
  t.deepEqual((await dev.faults()).rules.map((r) => r.id), ['cfs']);

  t.deepEqual(await dev.inject({ id: 'slow', match: { queue: 'io' }, action: { type: 'delay', delay: { ms: 1 } } }), ['slow']);
  const ids = await dev.inject({ rules: [{ on: 'enable', action: { type: 'slow-enable', ms: 5 } }] });
  t.is(ids.length, 1);
  const list = (await c.execute('fault-list')) as { id: string; counters: { injected: number } }[];
  t.deepEqual(list.map((r) => r.id), ['cfs', 'slow', ids[0]]);

  await t.throwsAsync(dev.inject({ id: 'slow', action: { type: 'fatal' } }), { message: /already installed/ });
  await t.throwsAsync(c.execute('fault-inject', { rule: { action: { type: 'status', sct: 9, sc: 1 } } }), { message: /rule\.action\.sct|action\.sct: expected an integer in 0\.\.7, got 9/ });
  await t.throwsAsync(c.execute('fault-inject', {}), { message: /exactly one of 'rule', 'plan' or 'fixture'/ });
  await t.throwsAsync(c.execute('fault-inject', { fixture: 'nope' }), { message: /unknown fixture/ });

  t.is(await dev.clear('slow'), 1);
  await t.throwsAsync(dev.clear('slow'), { message: /no fault rule with id 'slow'/ });
  t.deepEqual(await c.execute('fault-inject', { fixture: 'lost-interrupts', replace: true }), { rules: ['no-irq'] });
  t.is(await dev.clear(), 1);
  const rep = await dev.faults();
  t.deepEqual(rep.rules, []);
  t.is(rep.injected, 0);
});
