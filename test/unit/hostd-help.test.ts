// Help and tables that scripts (and the README generator) capture: no
// terminal escapes or tabs when stdout is not a terminal, no trailing
// blanks, one line per row, columns split on two or more spaces.
import test from 'ava';
import { COMMANDS } from '../../host/cli/main.ts';
import { NULLB_PARAMS } from '../../host/drivers/rnull/index.ts';
import { OPTIONS } from '../../host/tools/fio/index.ts';
import { formatTable, markdownTable } from '../../host/cli/table.ts';
import { cli } from './hostd-helpers.ts';

const ESC = '\u001b';

function plain(t: { false: (v: boolean, m?: string) => void; true: (v: boolean, m?: string) => void }, what: string, s: string): void {
  t.false(s.includes(ESC), `${what}: no ANSI escapes`);
  t.false(s.includes('\t'), `${what}: no tabs`);
  t.false(s.includes('\r'), `${what}: no carriage returns`);
  t.false(/[ ]+$/m.test(s), `${what}: no trailing blanks`);
  t.true(s.endsWith('\n'), `${what}: ends with a newline`);
}

const cols = (line: string): string[] => line.trim().split(/ {2,}/);

test('nvmelab --help: a command table and an option table, one row per line', async (t) => {
  const r = await cli(['--help']);
  t.is(r.code, 0);
  plain(t, '--help', r.out);
  const lines = r.out.split('\n');
  const cmdStart = lines.indexOf('Commands:');
  const optStart = lines.findIndex((l) => l.startsWith('Global options'));
  t.true(cmdStart >= 0 && optStart > cmdStart);
  const cmdRows = lines.slice(cmdStart + 1, optStart).filter((l) => l !== '');
  t.is(cmdRows.length, COMMANDS.length + 1, 'every command (and help) on its own line');
  for (const l of cmdRows) t.is(cols(l).length, 2, l);
  t.deepEqual(cmdRows.slice(0, COMMANDS.length).map((l) => cols(l)[0]), COMMANDS.map((c) => c.name));
  const optRows = lines.slice(optStart + 1).filter((l) => l.startsWith('  '));
  t.true(optRows.length >= 6);
  for (const l of optRows) {
    t.is(cols(l).length, 2, l);
    t.regex(l, /^ {2}(-[a-z], | {4})--[a-z-]+/, 'each row starts with its flag');
  }
});

test('every command\'s --help has an option table with one line per option', async (t) => {
  for (const c of COMMANDS) {
    if (c.rawArgs === true || c.name === 'fio' || c.name === 'host') continue;
    const r = await cli([...c.name.split(' '), '--help']);
    t.is(r.code, 0, c.name);
    plain(t, `${c.name} --help`, r.out);
    const opts = r.out.split('\n').slice(r.out.split('\n').indexOf('Options:') + 1).filter((l) => l !== '');
    t.is(opts.length, c.flags.length + 1, `${c.name}: one row per flag plus --help`);
    for (const l of opts) t.is(cols(l).length, 2, `${c.name}: ${l}`);
  }
  const host = await cli(['host', '--help']);
  t.is(host.code, 0);
  plain(t, 'host --help', host.out);
});

test('nvmelab fio --cmdhelp: every job option once, name and description columns', async (t) => {
  const r = await cli(['fio', '--cmdhelp']);
  t.is(r.code, 0);
  plain(t, 'fio --cmdhelp', r.out);
  const rows = r.out.split('\n').slice(1).filter((l) => l !== '');
  t.is(rows.length, OPTIONS.length);
  for (const l of rows) t.is(cols(l).length, 2, l);
  t.deepEqual(rows.map((l) => cols(l)[0]), OPTIONS.map((o) => o.name));
  const one = await cli(['fio', '--cmdhelp=iodepth_batch_complete_max']);
  t.is(one.code, 0);
  t.regex(one.out, /^iodepth_batch_complete_max: .+\[default: .+\]\n$/);
});

test('nvmelab null params: four columns per row (normal), Markdown and JSON forms', async (t) => {
  const r = await cli(['null', 'params']);
  t.is(r.code, 0);
  plain(t, 'null params', r.out);
  const rows = r.out.split('\n').filter((l) => l !== '');
  t.deepEqual(cols(rows[0] ?? ''), ['name', 'type', 'default', 'meaning']);
  t.is(rows.length, NULLB_PARAMS.length + 1);
  for (const l of rows) t.is(cols(l).length, 4, l);
  const md = await cli(['null', 'params', '-o', 'markdown']);
  plain(t, 'null params -o markdown', md.out);
  const mdRows = md.out.trimEnd().split('\n');
  t.is(mdRows[0], '| name | type | default | meaning |');
  t.is(mdRows[1], '|---|---|---|---|');
  t.is(mdRows.length, NULLB_PARAMS.length + 2);
  for (const l of mdRows) t.regex(l, /^\|.*\|$/);
  const js = await cli(['null', 'params', '-o', 'json']);
  const params = (JSON.parse(js.out) as { params: { name: string; type: string; configfs: boolean }[] }).params;
  t.deepEqual(params.map((p) => p.name), NULLB_PARAMS.map((p) => p.name));
  t.is((await cli(['null', 'params', '-o', 'yaml'])).code, 2);
});

test('formatTable / markdownTable: empty cells, embedded runs of blanks, pipes', (t) => {
  const s = formatTable(['a', 'b', 'c'], [['x', '', 'one  two'], ['longer', 'y', 'z\tw']]);
  t.is(s, 'a       b  c\nx       -  one two\nlonger  y  z w');
  t.is(markdownTable(['k', 'v'], [['a|b', '']]), '| k | v |\n|---|---|\n| a\\|b | - |');
});
