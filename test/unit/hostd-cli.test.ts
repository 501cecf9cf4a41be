// The nvmelab CLI's contract: every bad flag or value is answered with one
// line naming it and exit code 2, before any host is started; every command
// and option has help text.
import test from 'ava';
import { cli } from './hostd-helpers.ts';
import { COMMANDS } from '../../host/cli/main.ts';
import { HOST_FLAGS } from '../../host/daemon/run.ts';

// [argv, text the one error line must contain]
const BAD: [string[], string][] = [
  [['frobnicate'], 'frobnicate'],
  [['nvme', 'frobnicate'], 'frobnicate'],
  [['null', 'frob'], 'frob'],
  [['nvme', 'id-ctrl'], 'device'],
  [['nvme', 'id-ctrl', 'nvme0', 'extra'], 'extra'],
  [['nvme', 'id-ctrl', 'nvme0', '--bogus'], '--bogus'],
  [['nvme', 'id-ctrl', 'nvme0', '-o', 'xml'], '-o'],
  [['nvme', 'id-ctrl', 'nvme0', '--output-format=yaml'], '--output-format'],
  [['nvme', 'id-ns', 'nvme0n1', '-n', 'abc'], '-n'],
  [['nvme', 'id-ns', 'nvme0n1', '--namespace-id=0x1ffffffff'], '--namespace-id'],
  [['nvme', 'smart-log', 'nvme0', '-n'], '-n'],
  [['nvme', 'error-log', 'nvme0', '-e', '0'], '-e'],
  [['nvme', 'get-log', 'nvme0', '-l', '512'], '--log-id'],
  [['nvme', 'get-log', 'nvme0', '-i', '2'], '--log-len'],
  [['nvme', 'get-log', 'nvme0', '-i', '2', '-l', '6'], '--log-len'],
  [['nvme', 'get-log', 'nvme0', '-i', '2', '-l', '8', '--lpo=2'], '--lpo'],
  [['nvme', 'get-feature', 'nvme0'], '--feature-id'],
  [['nvme', 'get-feature', 'nvme0', '-f', '256'], '-f'],
  [['nvme', 'get-feature', 'nvme0', '-f', '7', '-s', '4'], '-s'],
  [['nvme', 'set-feature', 'nvme0', '-f', '8'], '--value'],
  [['nvme', 'set-feature', 'nvme0', '-f', '8', '-v', '-3'], '-v'],
  [['nvme', 'format', 'nvme0n1', '--lbaf=16'], '--lbaf'],
  [['nvme', 'format', 'nvme0n1', '--ses=9'], '--ses'],
  [['nvme', 'flush', 'nvme0n1', '-n', '1', '-n', '2'], '-n'],
  [['stat', '0'], 'interval'],
  [['stat', 'nullb0', '1', '0'], 'count'],
  [['stat', 'bad/name'], 'bad/name'],
  [['stat', '-z'], '-z'],
  [['queue'], 'disk'],
  [['queue', '../etc'], '../etc'],
  [['null', 'power', 'x', 'maybe'], 'maybe'],
  [['null', 'set', 'x', 'novalue'], 'novalue'],
  [['null', 'create'], 'name'],
  [['list', 'extra'], 'extra'],
  [['--log-level', 'loud', 'list'], '--log-level'],
  [['--host'], '--host'],
  [['--null', 'nullb0,bogus=1', 'list'], 'bogus'],
  [['--null', 'nullb0,gb=x', 'list'], 'gb'],
  [['--device', 'http://127.0.0.1:1/', 'list'], '--device'],
  [['--device', 'not a url', 'list'], '--device'],
  [['fio', '--name=x', '--rw=sideways'], 'sideways'],
  [['fio', '--name=x', '--no_such_option=1'], 'no_such_option'],
  [['fio', '/nonexistent/job.fio'], '/nonexistent/job.fio'],
  [['host', '--wat'], '--wat'],
  [['host', '--attach', 'http://x/'], '--attach'],
  [['host', '--cpus', '0'], '--cpus'],
  [['host', '--null', 'nullb0,power=2'], 'power'],
  [['host', '--export', 'nullb0,frob'], 'frob'],
  [['host', '--null', 'nullb0', '--nbd-listen', '0.0.0.0:0'], '--nbd-listen'], // NBD off loopback needs --nbd-allow-remote
  [['host', '--nbd-listen', 'nbd+unix://x'], '--nbd-listen'],
  [['host', 'stray'], 'stray'],
  [['host', '--token', 'a', '--token-file', '/x'], '--token'],
];

for (const [argv, needle] of BAD) {
  test(`bad usage: nvmelab ${argv.join(' ')}`, async (t) => {
    const r = await cli(argv);
    t.is(r.code, 2, r.err);
    t.is(r.out, '');
    const lines = r.err.trimEnd().split('\n');
    t.is(lines.length, 1, `one line expected, got:\n${r.err}`);
    t.true(lines[0]?.includes(needle), `'${lines[0] ?? ''}' should name '${needle}'`);
  });
}

test('no command: usage on stderr, exit 2; --help: usage on stdout, exit 0', async (t) => {
  const a = await cli([]);
  t.is(a.code, 2);
  t.regex(a.err, /usage: nvmelab/);
  const b = await cli(['--help']);
  t.is(b.code, 0);
  for (const c of COMMANDS) t.true(b.out.includes(`  ${c.name} `), `main help lists ${c.name}`);
  t.regex(b.out, /--host=URL/);
  const v = await cli(['--version']);
  t.regex(v.out, /^nvmelab \d+\.\d+\.\d+\n$/);
});

test('every command has help naming each of its options', async (t) => {
  for (const c of COMMANDS) {
    if (c.name === 'device' || c.name === 'fio') continue; // delegated: their own help
    const r = await cli([...c.name.split(' '), '--help']);
    t.is(r.code, 0, `${c.name} --help: ${r.err}`);
    t.true(r.out.startsWith('usage: nvmelab '), `${c.name}: ${r.out.slice(0, 60)}`);
    t.true(r.out.includes(c.summary), `${c.name} help shows its summary`);
    const flags = c.name === 'host' ? HOST_FLAGS : c.flags;
    for (const f of flags) t.true(r.out.includes(`--${f.name}`), `${c.name} help names --${f.name}`);
    const h = await cli(['help', ...c.name.split(' ')]);
    t.is(h.code, 0);
    t.true(h.out.includes(c.summary));
  }
  for (const g of ['nvme', 'null']) {
    const r = await cli([g, '--help']);
    t.is(r.code, 0);
    for (const c of COMMANDS.filter((x) => x.name.startsWith(`${g} `))) t.true(r.out.includes(c.name));
  }
});

test('fio --help and --cmdhelp come from the runner, need no host', async (t) => {
  const r = await cli(['fio', '--help']);
  t.is(r.code, 0);
  t.regex(r.out, /usage: fio/);
  const c = await cli(['fio', '--cmdhelp=iodepth']);
  t.is(c.code, 0);
  t.regex(c.out, /iodepth/);
});

test('a command that needs a host says how to get one (exit 1)', async (t) => {
  const r = await cli(['nvme', 'list']);
  t.is(r.code, 1);
  t.regex(r.err, /no running host/);
  t.is(r.err.trimEnd().split('\n').length, 1);
});

test('null params prints the knob table without a host', async (t) => {
  const r = await cli(['null', 'params']);
  t.is(r.code, 0);
  t.regex(r.out, /irqmode/);
  t.regex(r.out, /memory_backed/);
});
