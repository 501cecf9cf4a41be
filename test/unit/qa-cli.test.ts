// QA walk-through regressions: what a newcomer following README.md hit with
// the CLI against a running host (over the control channel, as `npx nvmelab`
// does): doubled errno prefixes, a silent `null get` of a missing device,
// NBD exports outliving their rnull disk, ${VAR} in job files read from the
// host's environment instead of the caller's, fio's group layout.
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostDaemon } from '../../host/daemon/index.ts';
import { MAIN_JOB_FLAGS } from '../../host/tools/main-job-flags.ts';
import { SECTIONS } from '../../scripts/gen-readme.ts';
import { cli, isolatedEnv } from './hostd-helpers.ts';

interface Rig {
  host: HostDaemon;
  /** CLI args reaching this host. */
  at: string[];
}

async function rig(t: { teardown: (f: () => Promise<void>) => void }): Promise<Rig> {
  const host = new HostDaemon({ attacher: () => Promise.reject(new Error('no devices in this test')) });
  t.teardown(() => host.shutdown('test'));
  const cs = await host.startControl({ token: 'qa' });
  return { host, at: ['--host', cs.url, '--token', cs.token] };
}

test.serial('null set of a non-live attribute names EBUSY once', async (t) => {
  const r = await rig(t);
  t.is((await cli([...r.at, 'null', 'create', 'qanull0'])).code, 0);
  const res = await cli([...r.at, 'null', 'set', 'qanull0', 'blocksize=4096']);
  t.is(res.code, 1);
  t.regex(res.err, /^nvmelab: null set: EBUSY: blocksize\b.*powered\n$/);
  t.is(res.err.match(/EBUSY/g)?.length, 1);
  const missing = await cli([...r.at, 'null', 'remove', 'qanope']);
  t.is(missing.err.match(/ENOENT/g)?.length, 1, missing.err);
});

test.serial('null get of a missing device is ENOENT, not an empty listing', async (t) => {
  const r = await rig(t);
  const res = await cli([...r.at, 'null', 'get', 'qanope']);
  t.is(res.code, 1);
  t.is(res.out, '');
  t.regex(res.err, /ENOENT: no null_blk device "qanope"/);
});

test.serial('powering off or removing an rnull device drops its NBD exports', async (t) => {
  const r = await rig(t);
  await r.host.startNbd({ listen: ['127.0.0.1:0'] });
  for (const [i, how] of [['null', 'remove', 'qanull1'], ['null', 'power', 'qanull1', 'off'], ['null', 'set', 'qanull1', 'power=0']].entries()) {
    t.is((await cli([...r.at, 'null', 'create', 'qanull1'])).code, 0);
    t.is((await cli([...r.at, 'export', 'qanull1'])).code, 0);
    t.deepEqual(r.host.exports().map((e) => e.disk), ['qanull1']);
    const res = await cli([...r.at, ...how]);
    t.is(res.code, 0, `${how.join(' ')}: ${res.err}`);
    t.deepEqual(r.host.exports(), [], how.join(' '));
    t.is((await cli([...r.at, 'export'])).out, '', how.join(' '));
    if (i > 0) t.is((await cli([...r.at, 'null', 'remove', 'qanull1'])).code, 0);
  }
  // Powering on again works; the old export stays gone (a new disk, exported afresh if wanted).
  t.is((await cli([...r.at, 'null', 'create', 'qanull1'])).code, 0);
  t.is((await cli([...r.at, 'null', 'set', 'qanull1', 'power=0'])).code, 0);
  t.is((await cli([...r.at, 'null', 'set', 'qanull1', 'power=1'])).code, 0);
  t.regex((await cli([...r.at, 'list'])).out, /qanull1/);
});

test.serial('${VAR} in a job file comes from the CLI\'s environment, not the host\'s', async (t) => {
  const r = await rig(t);
  t.is(process.env.QA_DISK, undefined);
  t.is((await cli([...r.at, 'null', 'create', 'qanull2', 'memory_backed=1'])).code, 0);
  const dir = mkdtempSync(join(tmpdir(), 'qa-fio-'));
  const job = join(dir, 'env.fio');
  writeFileSync(job, '[global]\nfilename=${QA_DISK}\nsize=64k\nbs=4k\n[w]\nrw=write\n');
  const res = await cli([...r.at, 'fio', job, '--output-format=json'], isolatedEnv({ QA_DISK: 'qanull2' }));
  t.is(res.code, 0, res.err);
  const j = JSON.parse(res.out) as { jobs: { write: { io_bytes: number } }[]; disk_util: { name: string }[] };
  t.is(j.jobs[0]?.write.io_bytes, 65536);
  t.deepEqual(j.disk_util.map((d) => d.name), ['qanull2']);
  // Unset: the one-line error names the variable (checked before anything runs).
  const unset = await cli([...r.at, 'fio', job]);
  t.is(unset.code, 2);
  t.regex(unset.err, /\$\{QA_DISK\} is not set/);
});

test.serial('fio: a missing job file is named once; run status groups are separated as in fio', async (t) => {
  const r = await rig(t);
  const missing = await cli([...r.at, 'fio', '/nonexistent/qa.fio']);
  t.is(missing.code, 2);
  t.is(missing.err, 'nvmelab: fio: /nonexistent/qa.fio: cannot read job file (ENOENT)\n');
  t.is((await cli([...r.at, 'null', 'create', 'qanull3'])).code, 0);
  const res = await cli([...r.at, 'fio', '--filename=qanull3', '--size=64k', '--name=a', '--rw=read', '--name=b', '--rw=write', '--stonewall']);
  t.is(res.code, 0, res.err);
  t.regex(res.out, /\n\nRun status group 0 \(all jobs\):\n {3}READ: [^\n]*\n\nRun status group 1 \(all jobs\):\n {2}WRITE: /);
});

test('the main job\'s flag table is what the README generator prints', (t) => {
  const gen = SECTIONS['main-job-flags'];
  t.not(gen, undefined);
  const body = gen?.() ?? '';
  for (const f of MAIN_JOB_FLAGS) t.true(body.includes(`--${f.name}`), f.name);
  t.regex(body, /\| `--runtime=SECONDS` \| 3 \|/);
});
