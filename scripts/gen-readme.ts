// Regenerates the marked sections of README.md from the code's own tables,
// so the README cannot drift from what the programs accept:
//
//   <!-- BEGIN GENERATED: name -->
//   ...replaced wholesale...
//   <!-- END GENERATED: name -->
//
//   node --import tsx scripts/gen-readme.ts           rewrite README.md (only if something changed)
//   node --import tsx scripts/gen-readme.ts --check   exit 1 if README.md is out of date (CI / tests)
//   node --import tsx scripts/gen-readme.ts --print NAME   print one section to stdout
//   node --import tsx scripts/gen-readme.ts --file PATH    work on another file (tests)
//
// Every section comes from an exported table, never from parsing --help text:
// device types (device/registry.ts), daemon flags (device/options.ts),
// null_blk knobs (host/drivers/rnull), rnvme options (host/drivers/rnvme),
// fio job options (host/tools/fio), the CLI's command table (host/cli), the
// main job's flags (host/tools/main-job-flags.ts) and
// the ready-made fault fixtures (fixtures/plans/index.json).
//
// Output is deterministic (no environment values, no timestamps), so the
// same tree always generates the same README.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
// Importing devices.ts registers every device type; the nvme type pulls in
// the fault engine, which registers the --fixture / --fault-plan flags.
import '../device/devices.ts';
import { listDeviceTypes, type OptionSpec, type OptionValue } from '../device/registry.ts';
import { DAEMON_FLAGS } from '../device/options.ts';
import { NULLB_PARAMS, formatParamValue } from '../host/drivers/rnull/index.ts';
import { RNVME_OPTIONS } from '../host/drivers/rnvme/index.ts';
import { OPTIONS as FIO_OPTIONS, UNSUPPORTED as FIO_UNSUPPORTED } from '../host/tools/fio/options.ts';
import { COMMANDS, GLOBAL_FLAGS } from '../host/cli/main.ts';
import { HOST_FLAGS } from '../host/daemon/run.ts';
import { MAIN_JOB_FLAGS } from '../host/tools/main-job-flags.ts';
import type { FlagSpec } from '../host/cli/args.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const README = resolve(ROOT, 'README.md');

// ---------------------------------------------------------------------------
// Markdown helpers

/** One table cell: `|` escaped (GFM splits cells on it even inside code spans), no line breaks. */
function cell(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');
}

/** Inline code; a backtick inside would end the span, so use a double fence then. */
function code(s: string): string {
  return s.includes('`') ? `\`\` ${s} \`\`` : `\`${s}\``;
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const out = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) out.push(`| ${r.map(cell).join(' | ')} |`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------
// Sections

/** `1073741824` → `1G` when exact, as the daemon accepts it back. */
function fmtSize(n: number): string {
  const units: [string, number][] = [['T', 2 ** 40], ['G', 2 ** 30], ['M', 2 ** 20], ['K', 2 ** 10]];
  for (const [u, m] of units) if (n >= m && n % m === 0) return `${n / m}${u}`;
  return String(n);
}

function deviceDefault(o: OptionSpec): string {
  if (o.required === true) return '(required)';
  const v: OptionValue | undefined = o.default;
  if (v === undefined) return '—';
  if (typeof v === 'boolean') return code(v ? 'on' : 'off');
  if (typeof v === 'number' && o.type === 'size') return code(fmtSize(v));
  return code(v === '' ? "''" : String(v));
}

function deviceType(o: OptionSpec): string {
  if (o.type === 'enum') return (o.choices ?? []).join(' | ');
  if (o.type === 'bool') return 'on/off';
  const range = o.min !== undefined || o.max !== undefined ? ` ${o.min ?? ''}..${o.max ?? ''}` : '';
  return `${o.type}${range}`;
}

/** Every `-device` type with its option table (device/registry.ts; also `device/main.ts --help-devices`). */
function deviceOptions(): string {
  const parts: string[] = [];
  for (const t of listDeviceTypes()) {
    const head = t.kind === 'child' ? `${code(`-device ${t.name}`)} (follows its ${code(`-device ${t.parent}`)})` : code(`-device ${t.name}`);
    parts.push(`**${head}** — ${t.description}`);
    if (t.options.length === 0) parts.push('(no options)');
    else parts.push(table(['option', 'type', 'default', 'meaning'], t.options.map((o) => [code(o.name), deviceType(o), deviceDefault(o), o.doc])));
  }
  return parts.join('\n\n');
}

/** The device daemon's flags (device/options.ts DAEMON_FLAGS, plus flags other modules registered). */
function daemonFlags(): string {
  return table(
    ['flag', 'default', 'meaning'],
    DAEMON_FLAGS.map((f) => [
      code(`${f.singleDash === true ? `-${f.name}, ` : ''}--${f.name}${f.value === undefined ? '' : ` ${f.value}`}`),
      f.default === undefined ? '—' : f.default,
      f.doc + (f.repeatable === true ? ' (repeatable)' : ''),
    ]),
  );
}

/** null_blk's knob table (host/drivers/rnull NULLB_PARAMS; also `nvmelab null params`). */
function rnullParams(): string {
  return table(
    ['attribute (module param)', 'type', 'default', 'live', 'meaning'],
    NULLB_PARAMS.map((p) => [
      code(p.name) + (p.moduleName !== undefined ? ` (${code(p.moduleName)})` : ''),
      p.type,
      code(formatParamValue(p.default) === '' ? "''" : formatParamValue(p.default)) + (p.unit !== undefined ? ` ${p.unit}` : ''),
      p.live === true ? 'yes' : '',
      (p.configfs ? '' : '(module parameter only) ') + p.doc,
    ]),
  );
}

/** rnvme's options (host/drivers/rnvme RNVME_OPTIONS). */
function rnvmeOptions(): string {
  return table(
    ['option', 'default', 'range', 'meaning'],
    RNVME_OPTIONS.map((o) => [
      code(o.name),
      code(typeof o.default === 'boolean' ? (o.default ? '1' : '0') : String(o.default)) + (o.unit !== undefined ? ` ${o.unit}` : ''),
      o.type === 'bool' ? '0/1' : `${o.min ?? 0}..${o.max ?? ''}`,
      o.doc,
    ]),
  );
}

/** fio job options the runner supports (host/tools/fio OPTIONS), and the known-unsupported ones. */
function fioOptions(): string {
  const t = table(
    ['option', 'default', 'meaning'],
    FIO_OPTIONS.map((o) => [
      code(o.name) + (o.aliases !== undefined && o.aliases.length > 0 ? ` (${o.aliases.map(code).join(', ')})` : ''),
      o.def,
      o.help,
    ]),
  );
  const unsupported = [...FIO_UNSUPPORTED].sort().map(code).join(', ');
  return `${t}\n\nfio options that are known but not supported (a job using one fails with a clear error naming it): ${unsupported}.`;
}

function flagLeft(f: FlagSpec): string {
  const val = f.type === 'bool' ? '' : `=${f.arg ?? (f.type === 'enum' ? (f.values ?? []).join('|') : f.type === 'int' ? 'N' : 'VALUE')}`;
  return `${f.short !== undefined ? `-${f.short}, ` : ''}--${f.name}${val}`;
}

function flagTable(flags: readonly FlagSpec[]): string {
  return table(
    ['option', 'default', 'meaning'],
    flags.map((f) => [code(flagLeft(f)), f.default ?? '—', f.help + (f.repeat === true ? ' (repeatable)' : '')]),
  );
}

/** The CLI's commands (host/cli COMMANDS) and global options. */
function cliCommands(): string {
  const cmds = table(['command', 'what it does'], COMMANDS.map((c) => [code(`nvmelab ${c.name}`), c.summary]));
  return `${cmds}\n\nGlobal options (any command):\n\n${flagTable(GLOBAL_FLAGS)}`;
}

/** `nvmelab host` (the long-lived host daemon) options (host/daemon HOST_FLAGS). */
function hostFlags(): string {
  return flagTable(HOST_FLAGS);
}

/** `npm start -- …` (the main job) options (host/tools/main-job-flags.ts MAIN_JOB_FLAGS). */
function mainJobFlags(): string {
  return flagTable(MAIN_JOB_FLAGS);
}

interface FixtureIndex {
  fixtures: { name: string; file: string; description: string }[];
}

/** The ready-made fault fixtures (fixtures/plans/index.json). */
function fixtures(): string {
  const idx = JSON.parse(readFileSync(resolve(ROOT, 'fixtures/plans/index.json'), 'utf8')) as FixtureIndex;
  if (!Array.isArray(idx.fixtures)) throw new Error('fixtures/plans/index.json: no "fixtures" array');
  return table(
    ['fixture', 'what goes wrong'],
    idx.fixtures.map((f) => [`[${code(f.name)}](fixtures/plans/${f.file})`, f.description]),
  );
}

/** Section name → generator, in README order. */
export const SECTIONS: Readonly<Record<string, () => string>> = {
  'main-job-flags': mainJobFlags,
  'cli-commands': cliCommands,
  'host-flags': hostFlags,
  'daemon-flags': daemonFlags,
  'device-options': deviceOptions,
  'rnull-params': rnullParams,
  'rnvme-options': rnvmeOptions,
  'fio-options': fioOptions,
  fixtures,
};

// ---------------------------------------------------------------------------
// Splicing

const MARK = /<!-- BEGIN GENERATED: ([a-z0-9-]+) -->\n[\s\S]*?<!-- END GENERATED: \1 -->/g;

export interface RenderResult {
  text: string;
  /** Sections whose content changed. */
  changed: string[];
  /** Generator sections with no markers in the text. */
  missing: string[];
  /** Marked sections the generator does not know. */
  unknown: string[];
}

/** Replace every marked section of `text` with freshly generated content. */
export function render(text: string): RenderResult {
  const seen = new Set<string>();
  const changed: string[] = [];
  const unknown: string[] = [];
  const cache = new Map<string, string>();
  const out = text.replace(MARK, (whole, name: string) => {
    const gen = SECTIONS[name];
    if (gen === undefined) {
      unknown.push(name);
      return whole;
    }
    seen.add(name);
    let body = cache.get(name);
    if (body === undefined) {
      body = gen().trimEnd();
      cache.set(name, body);
    }
    const next = `<!-- BEGIN GENERATED: ${name} -->\n${body}\n<!-- END GENERATED: ${name} -->`;
    if (next !== whole && !changed.includes(name)) changed.push(name);
    return next;
  });
  const missing = Object.keys(SECTIONS).filter((n) => !seen.has(n));
  return { text: out, changed, missing, unknown };
}

function main(argv: readonly string[]): number {
  let check = false;
  let print: string | undefined;
  let file = README;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--check') check = true;
    else if (a === '--print' || a === '--file') {
      const v = argv[++i];
      if (v === undefined) return usage(`${a} needs a value`);
      if (a === '--print') print = v;
      else file = resolve(v);
    } else if (a === '--help' || a === '-h') return usage(undefined);
    else return usage(`unknown argument '${a}'`);
  }
  if (print !== undefined) {
    const gen = SECTIONS[print];
    if (gen === undefined) {
      process.stderr.write(`gen-readme: unknown section '${print}' (one of: ${Object.keys(SECTIONS).join(', ')})\n`);
      return 2;
    }
    process.stdout.write(`${gen()}\n`);
    return 0;
  }
  const before = readFileSync(file, 'utf8');
  const r = render(before);
  const label = file === README ? 'README.md' : file;
  for (const n of r.unknown) process.stderr.write(`gen-readme: ${label} has a section '${n}' the generator does not know\n`);
  for (const n of r.missing) process.stderr.write(`gen-readme: ${label} lacks the markers for section '${n}' (<!-- BEGIN GENERATED: ${n} --> … <!-- END GENERATED: ${n} -->)\n`);
  if (check) {
    if (r.changed.length > 0) process.stderr.write(`gen-readme: ${label} is out of date in: ${r.changed.join(', ')} (run: node --import tsx scripts/gen-readme.ts)\n`);
    const ok = r.changed.length === 0 && r.missing.length === 0 && r.unknown.length === 0;
    if (ok) process.stdout.write(`${label} is up to date\n`);
    return ok ? 0 : 1;
  }
  if (r.text !== before) writeFileSync(file, r.text);
  process.stdout.write(r.changed.length > 0 ? `${label}: regenerated ${r.changed.join(', ')}\n` : `${label}: already up to date\n`);
  return r.missing.length > 0 || r.unknown.length > 0 ? 1 : 0;
}

function usage(err: string | undefined): number {
  const text = 'usage: node --import tsx scripts/gen-readme.ts [--check] [--print SECTION] [--file README]\n';
  if (err === undefined) {
    process.stdout.write(text);
    return 0;
  }
  process.stderr.write(`gen-readme: ${err}\n${text}`);
  return 2;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(resolve(entry)).href) {
  process.exitCode = main(process.argv.slice(2));
}
