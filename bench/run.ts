// `npm run bench` = node --import tsx bench/run.ts [--only PREFIX]... [--quick] [--repeat N]
// PREFIX is a scenario id or a leading part of one, by whole `/` segments.
// Imports every bench/<area>-*.ts, runs the scenarios, prints a table and
// writes bench/results/latest.json plus a timestamped copy.
import { readdirSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { registeredScenarios, summarize } from './lib.ts';
import type { Measurement, Scenario, Summary } from './lib.ts';

const here = dirname(fileURLToPath(import.meta.url));
function parseFlags() {
  try {
    return parseArgs({ options: { only: { type: 'string', multiple: true }, quick: { type: 'boolean', default: false }, repeat: { type: 'string' } } });
  } catch (e) {
    console.error(`bench: ${e instanceof Error ? e.message : String(e)} (flags: --only PREFIX, --quick, --repeat N)`);
    process.exit(2);
  }
}
const { values } = parseFlags();
const repeats = values.repeat !== undefined ? Number(values.repeat) : 3;
if (!Number.isInteger(repeats) || repeats < 1) { console.error(`--repeat must be a positive integer`); process.exit(2); }
const quick = values.quick === true;
const only = values.only ?? [];

const files = readdirSync(here).filter((f) => /^[a-z0-9]+-.*\.ts$/.test(f) && f !== 'run.ts' && f !== 'lib.ts').sort();
const all: Scenario[] = [];
for (const f of files) {
  const mod = (await import(pathToFileURL(join(here, f)).href)) as { scenarios?: Scenario[] };
  if (Array.isArray(mod.scenarios)) for (const s of mod.scenarios) if (!all.some((x) => x.id === s.id)) all.push(s);
}
for (const s of registeredScenarios()) if (!all.some((x) => x.id === s.id)) all.push(s);
// A prefix matches whole path segments: `rnull/randread/4k/qd1` is that scenario and its
// variants (`…/qd1/…`), not `…/qd128`; a prefix ending in `/` or naming a whole segment works too.
const matches = (id: string, p: string): boolean => id === p || id.startsWith(p.endsWith('/') ? p : `${p}/`);
const unknown = only.filter((p) => !all.some((s) => matches(s.id, p)));
if (unknown.length > 0) {
  console.error(`--only ${unknown[0]}: no such scenario or prefix (scenarios: ${all.map((s) => s.id).join(', ')})`);
  process.exit(2);
}
const selected = all.filter((s) => only.length === 0 || only.some((p) => matches(s.id, p)));
// References run too (first), so ratios are measured in the same run.
const wanted = new Set(selected.map((s) => s.id));
for (const s of selected) if (s.reference !== undefined && !wanted.has(s.reference) && all.some((x) => x.id === s.reference)) wanted.add(s.reference);
const toRun = all.filter((s) => wanted.has(s.id));

interface Row { scenario: string; runs: number; iops?: Summary; mbps?: Summary; lat_us?: { p50: number; p99: number; p999: number }; cpu_pct?: { host?: number; device?: number }; extra?: Record<string, Summary>; ratio?: { to: string; value: number | null }; error?: string }
const rows: Row[] = [];
for (const s of toRun) {
  const ms: Measurement[] = [];
  let error: string | undefined;
  for (let i = 0; i < repeats; i++) {
    try { ms.push(await s.run({ quick, durationMs: quick ? 300 : 2000 })); } catch (e) { error = e instanceof Error ? e.message : String(e); break; }
  }
  const row: Row = { scenario: s.id, runs: ms.length };
  const nums = (f: (m: Measurement) => number | undefined): number[] => ms.map(f).filter((x): x is number => typeof x === 'number');
  if (nums((m) => m.iops).length > 0) row.iops = summarize(nums((m) => m.iops));
  if (nums((m) => m.mbps).length > 0) row.mbps = summarize(nums((m) => m.mbps));
  const lats = ms.map((m) => m.lat_us).filter((x) => x !== undefined);
  if (lats.length > 0) {
    const med = (k: 'p50' | 'p99' | 'p999'): number => summarize(lats.map((l) => l[k])).median;
    row.lat_us = { p50: med('p50'), p99: med('p99'), p999: med('p999') };
  }
  const cpu = ms.map((m) => m.cpu_pct).filter((x) => x !== undefined);
  if (cpu.length > 0) row.cpu_pct = { host: summarize(cpu.map((c) => c.host ?? 0)).median, device: summarize(cpu.map((c) => c.device ?? 0)).median };
  const keys = new Set(ms.flatMap((m) => Object.keys(m.extra ?? {})));
  if (keys.size > 0) { row.extra = {}; for (const k of keys) row.extra[k] = summarize(nums((m) => m.extra?.[k])); }
  if (error !== undefined) row.error = error;
  rows.push(row);
}
for (const s of toRun) {
  if (s.reference === undefined) continue;
  const row = rows.find((r) => r.scenario === s.id);
  const ref = rows.find((r) => r.scenario === s.reference);
  if (row === undefined) continue;
  let v: number | null = null;
  if (ref !== undefined) {
    if ((s.ratioOf ?? 'iops') === 'iops' && row.iops !== undefined && ref.iops !== undefined && ref.iops.median > 0) v = row.iops.median / ref.iops.median;
    if (s.ratioOf === 'lat_p50' && row.lat_us !== undefined && ref.lat_us !== undefined && ref.lat_us.p50 > 0) v = row.lat_us.p50 / ref.lat_us.p50;
  }
  row.ratio = { to: s.reference, value: v };
}

const fmt = (n: number | undefined): string => (n === undefined ? '-' : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : n.toFixed(n < 10 ? 2 : 0));
const table = rows.map((r) => ({
  scenario: r.scenario, runs: String(r.runs),
  'iops min/med/max': r.iops ? `${fmt(r.iops.min)}/${fmt(r.iops.median)}/${fmt(r.iops.max)}` : '-',
  'MB/s': fmt(r.mbps?.median), 'p50 us': fmt(r.lat_us?.p50), 'p99 us': fmt(r.lat_us?.p99),
  extra: Object.entries(r.extra ?? {}).map(([k, v]) => `${k}=${fmt(v.median)}`).join(' '),
  ratio: r.ratio ? `${r.ratio.value === null ? '-' : r.ratio.value.toFixed(3)} (to ${r.ratio.to})` : '',
  error: r.error ?? '',
}));
const cols = Object.keys(table[0] ?? { scenario: '' }) as (keyof (typeof table)[number])[];
const widths = cols.map((c) => Math.max(c.length, ...table.map((r) => r[c].length)));
console.log(cols.map((c, i) => c.padEnd(widths[i] as number)).join('  '));
for (const r of table) console.log(cols.map((c, i) => r[c].padEnd(widths[i] as number)).join('  '));

let commit = '';
try { commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: here, encoding: 'utf8' }).trim(); } catch { commit = 'unknown'; }
const when = new Date().toISOString();
const out = { when, node: process.version, cpus: availableParallelism(), commit, quick, repeats, results: rows };
const dir = join(here, 'results');
mkdirSync(dir, { recursive: true });
const json = JSON.stringify(out, null, 2) + '\n';
writeFileSync(join(dir, 'latest.json'), json);
writeFileSync(join(dir, `${when.replace(/[:.]/g, '-')}.json`), json);
if (rows.some((r) => r.error !== undefined)) process.exitCode = 1;
