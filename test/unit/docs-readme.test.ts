// The README stays true: its generated tables match the code, it shows the
// three commands a newcomer needs, every relative link (and #anchor) in
// README.md and docs/*.md resolves, repository paths it names exist, and its
// inline fixtures example is the one that runs as a test.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { render, README, ROOT, SECTIONS } from '../../scripts/gen-readme.ts';
import { MAIN_JOB_FLAGS } from '../../host/tools/main-job-flags.ts';

const readme = readFileSync(README, 'utf8');

/** Markdown without fenced code blocks (links and headings inside them are not real). */
function stripFences(md: string): string {
  return md.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces → '-', duplicates get -1, -2, … */
function anchors(md: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of stripFences(md).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = (m[1] ?? '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/<[^>]+>/g, '').replace(/`/g, '');
    const base = text.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').trim().replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Link targets of inline links `[text](target)` outside code. */
function links(md: string): string[] {
  const text = stripFences(md).replace(/`[^`\n]*`/g, (s) => (s.includes('](') ? '' : s));
  const out: string[] = [];
  for (const m of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push(m[1] ?? '');
  return out;
}

function docFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(ROOT, 'docs', f));
  return [README, ...docs];
}

test('README.md is up to date with scripts/gen-readme.ts', (t) => {
  const r = render(readme);
  t.deepEqual(r.missing, [], 'README.md lacks these generated sections');
  t.deepEqual(r.unknown, [], 'README.md has generated sections the generator does not know');
  t.deepEqual(r.changed, [], 'stale: run `node --import tsx scripts/gen-readme.ts`');
  t.is(r.text, readme);
});

test('every generator section renders a non-empty markdown table', (t) => {
  for (const [name, gen] of Object.entries(SECTIONS)) {
    const body = gen();
    t.regex(body, /^\|.*\|$/m, name);
    // A header row is followed by its separator row, and every row of one table has the same cell count.
    for (const block of body.split(/\n\n+/).filter((b) => b.startsWith('|'))) {
      const rows = block.split('\n');
      t.regex(rows[1] ?? '', /^\|(---\|)+$/, `${name}: separator row`);
      const cells = (row: string): number => row.replace(/\\\|/g, '').split('|').length;
      const n = cells(rows[0] ?? '');
      for (const row of rows) t.is(cells(row), n, `${name}: ${row}`);
    }
  }
});

test('the generated tables name what the code defines', (t) => {
  // Spot checks that the sections really come from the code's tables.
  t.regex(readme, /\| `cmb_size_mb` \| int [^|]*\| `0` \|/);
  t.regex(readme, /\| `logical_block_size` \| 512 \\\| 4096 \| `4096` \|/);
  t.regex(readme, /\| `irqmode` \| uint \| `1` \|/);
  t.regex(readme, /\| `io_timeout` \| `30000` ms \|/);
  t.regex(readme, /\| `verify_fatal` \| 0 \|/);
  t.regex(readme, /\| `nvmelab nvme id-ctrl` \|/);
  t.regex(readme, /\| `--fixture NAME` \|/);
  for (const f of ['flaky-media', 'dropped-completions', 'lost-interrupts', 'slow-device', 'fatal-controller', 'never-ready', 'surprise-removal', 'liar', 'bit-rot', 'power-cut', 'hostile-dma', 'irq-storm']) {
    t.true(readme.includes(`[\`${f}\`](fixtures/plans/${f}.json)`), f);
  }
});

test('the README shows npm install, npm start and npm test in its Quick start', (t) => {
  const qs = /## Quick start\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
  const block = /```sh\n([\s\S]*?)```/.exec(qs)?.[1] ?? '';
  for (const cmd of ['npm install', 'npm start', 'npm test']) t.regex(block, new RegExp(`^${cmd}\\b`, 'm'), cmd);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  for (const s of ['start', 'test', 'test:interop', 'bench', 'device', 'host']) t.truthy(pkg.scripts[s], `npm run ${s} is documented`);
});

test('the main-job section lists every `npm start` flag with its default', (t) => {
  // The table is generated from host/tools/main-job-flags.ts (MAIN_JOB_FLAGS);
  // it must sit in the main-job section, next to the prose about `npm start`.
  const section = /## The main job[^\n]*\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
  t.true(section.includes('<!-- BEGIN GENERATED: main-job-flags -->'), 'the generated flag table is in the main-job section');
  t.true(MAIN_JOB_FLAGS.length >= 4, 'found the main job flag table');
  for (const f of MAIN_JOB_FLAGS) {
    t.true(section.includes(`--${f.name}`), `--${f.name} documented`);
    if (f.default !== undefined) t.true(section.includes(`| ${f.default} |`), `--${f.name} default ${f.default}`);
  }
});

test('every relative link in README.md and docs/*.md points at an existing file (and heading)', (t) => {
  const problems: string[] = [];
  let checked = 0;
  for (const file of docFiles()) {
    const md = readFileSync(file, 'utf8');
    for (const target of links(md)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      checked++;
      const [path = '', frag] = target.split('#', 2);
      const dest = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
      const where = `${relative(ROOT, file)}: (${target})`;
      if (!existsSync(dest)) {
        problems.push(`${where}: no such file`);
        continue;
      }
      if (frag !== undefined && frag !== '' && dest.endsWith('.md') && statSync(dest).isFile()) {
        if (!anchors(readFileSync(dest, 'utf8')).has(frag)) problems.push(`${where}: no heading #${frag}`);
      }
    }
  }
  t.deepEqual(problems, []);
  t.true(checked > 10, 'the README links its docs');
});

test('repository paths the README names in code spans exist', (t) => {
  const problems: string[] = [];
  const top = /^(?:src|device|host|fixtures|test|bench|docs|scripts|bin|\.ci)\/[\w./-]*$/;
  for (const m of readme.matchAll(/(?:`|\s)((?:src|device|host|fixtures|test|bench|docs|scripts|bin|\.ci)\/[\w./*<>-]+)/g)) {
    const p = (m[1] ?? '').replace(/[.,;:)]+$/, '');
    if (!top.test(p) || p.includes('*') || p.includes('<') || /my-driver|\/PORT/.test(p)) continue;
    if (p.startsWith('test/integration/my-')) continue;
    if (p.startsWith('bench/results/')) continue; // written by `npm run bench`, not in a fresh clone
    if (!existsSync(join(ROOT, p))) problems.push(p);
  }
  t.deepEqual([...new Set(problems)], []);
});

test('the inline fixtures example is the test that runs in test/integration/faults-example.test.ts', (t) => {
  const block = /```ts\n(\/\/ test\/integration\/my-driver-faults\.test\.ts\n[\s\S]*?)```/.exec(readme)?.[1];
  t.truthy(block, 'README has the example test file');
  const real = readFileSync(join(ROOT, 'test/integration/faults-example.test.ts'), 'utf8');
  const realLines = new Set(real.split('\n').map((l) => l.trim()));
  const body = (block ?? '').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('//') && !l.startsWith('import '));
  t.true(body.length > 5);
  for (const l of body) t.true(realLines.has(l.trim()), `not in faults-example.test.ts: ${l}`);
  // Names it imports are exported where it imports them from.
  const idx = readFileSync(join(ROOT, 'fixtures/index.ts'), 'utf8');
  const prom = readFileSync(join(ROOT, 'fixtures/promises.ts'), 'utf8');
  for (const n of ['faultyDisk', 'runWorkload', 'verifyDurable']) t.regex(idx, new RegExp(`export[^\\n]*\\b${n}\\b`), n);
  for (const n of ['assertWorkloadPromises', 'assertNoLeaks', 'captureLogger']) t.regex(prom, new RegExp(`export[^\\n]*\\b${n}\\b`), n);
});

test('gen-readme --check exits 1 on a stale README and --file rewrites it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nvmelab-docs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stale = join(dir, 'README.md');
  writeFileSync(stale, readme.replace(/(<!-- BEGIN GENERATED: rnvme-options -->\n)[\s\S]*?(<!-- END GENERATED: rnvme-options -->)/, '$1| stale |\n$2'));
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/gen-readme.ts'), ...args], { encoding: 'utf8', timeout: 60_000 });
  const check = run('--check', '--file', stale);
  t.is(check.status, 1, check.stderr);
  t.regex(check.stderr, /out of date in: rnvme-options/);
  const fix = run('--file', stale);
  t.is(fix.status, 0, fix.stderr);
  t.is(readFileSync(stale, 'utf8'), readme);
});
