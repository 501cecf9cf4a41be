// A small, strict option parser for the nvmelab CLI: GNU long options
// (--name=value, --name value), short aliases (-n 1), typed values (int
// accepts 0x hex as nvme-cli does), repeatable options, and help text built
// from the same table. Every error is a UsageError whose message names the
// option or value; the CLI prints it on one line and exits 2.

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type FlagType = 'string' | 'bool' | 'int' | 'enum';

export interface FlagSpec {
  /** Long name without dashes. */
  name: string;
  /** One-letter alias. */
  short?: string;
  type: FlagType;
  /** Allowed values (enum). */
  values?: readonly string[];
  /** Bounds (int). */
  min?: number;
  max?: number;
  repeat?: boolean;
  /** Placeholder in the help text (VALUE). */
  arg?: string;
  help: string;
  default?: string;
}

export type FlagValue = string | number | boolean | string[];

export interface Parsed {
  flags: Map<string, FlagValue>;
  positionals: string[];
}

/** Integer: decimal or 0x hex, safe range. */
export function parseIntArg(raw: string, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const s = raw.trim();
  let v: number;
  if (/^0x[0-9a-f]+$/i.test(s)) v = parseInt(s.slice(2), 16);
  else if (/^-?[0-9]+$/.test(s)) v = Number(s);
  else throw new UsageError(`${what}: '${raw}' is not an integer`);
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new UsageError(`${what}: ${raw} is out of range (${min}..${max === Number.MAX_SAFE_INTEGER ? '∞' : max})`);
  return v;
}

function convert(spec: FlagSpec, raw: string, shown: string): FlagValue {
  switch (spec.type) {
    case 'int':
      return parseIntArg(raw, shown, spec.min ?? 0, spec.max ?? Number.MAX_SAFE_INTEGER);
    case 'enum':
      if (!(spec.values ?? []).includes(raw)) throw new UsageError(`${shown}: '${raw}' is not one of ${(spec.values ?? []).join(', ')}`);
      return raw;
    case 'bool':
      if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
      if (['0', 'false', 'no', 'off'].includes(raw)) return false;
      throw new UsageError(`${shown}: '${raw}' is not a boolean`);
    default:
      if (raw === '') throw new UsageError(`${shown}: empty value`);
      return raw;
  }
}

/**
 * Parse `argv` against `specs`. `--` ends options. Options may follow
 * positionals. Unknown options, missing values and bad values throw UsageError.
 */
export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[]): Parsed {
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short !== undefined).map((s) => [s.short ?? '', s]));
  const flags = new Map<string, FlagValue>();
  const positionals: string[] = [];
  const set = (spec: FlagSpec, v: FlagValue, shown: string): void => {
    if (spec.repeat === true) {
      const prev = flags.get(spec.name);
      flags.set(spec.name, [...(Array.isArray(prev) ? prev : []), String(v)]);
    } else {
      if (flags.has(spec.name)) throw new UsageError(`${shown}: given more than once`);
      flags.set(spec.name, v);
    }
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let spec: FlagSpec | undefined;
    let inline: string | undefined;
    let shown: string;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      inline = eq < 0 ? undefined : a.slice(eq + 1);
      shown = `--${name}`;
      spec = byLong.get(name);
      if (spec === undefined) throw new UsageError(`unknown option '${shown}'`);
    } else if (a.startsWith('-') && a.length > 1 && !/^-[0-9]/.test(a)) {
      const name = a.slice(1, 2);
      shown = `-${name}`;
      const rest = a.slice(2);
      inline = rest === '' ? undefined : rest.startsWith('=') ? rest.slice(1) : rest;
      spec = byShort.get(name);
      if (spec === undefined) throw new UsageError(`unknown option '${a.length > 2 && !a.includes('=') ? a : shown}'`);
    } else {
      positionals.push(a);
      continue;
    }
    if (spec.type === 'bool') {
      set(spec, inline === undefined ? true : convert(spec, inline, shown), shown);
      continue;
    }
    let raw = inline;
    if (raw === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('-') && next.length > 1 && !/^-[0-9]/.test(next))) throw new UsageError(`${shown}: missing value`);
      raw = next;
      i++;
    }
    set(spec, convert(spec, raw, shown), shown);
  }
  return { flags, positionals };
}

export function getStr(p: Parsed, k: string): string | undefined {
  const v = p.flags.get(k);
  return typeof v === 'string' ? v : undefined;
}
export function getInt(p: Parsed, k: string): number | undefined {
  const v = p.flags.get(k);
  return typeof v === 'number' ? v : undefined;
}
export function getBool(p: Parsed, k: string): boolean {
  return p.flags.get(k) === true;
}
export function getList(p: Parsed, k: string): string[] {
  const v = p.flags.get(k);
  return Array.isArray(v) ? v : [];
}

/** Options part of a help text, aligned. */
export function formatFlags(specs: readonly FlagSpec[]): string {
  const left = specs.map((s) => {
    const long = `--${s.name}${s.type === 'bool' ? '' : `=${s.arg ?? (s.type === 'enum' ? (s.values ?? []).join('|') : s.type === 'int' ? 'N' : 'VALUE')}`}`;
    return s.short !== undefined ? `-${s.short}, ${long}` : `    ${long}`;
  });
  // One line per option (scripts and the README capture these): a flag longer
  // than the column just pushes its text right, two spaces still between.
  const w = Math.min(40, Math.max(...left.map((l) => l.length)));
  return specs
    .map((s, i) => {
      const l = left[i] ?? '';
      const extra = [s.default !== undefined ? `default ${s.default}` : '', s.repeat === true ? 'repeatable' : ''].filter((x) => x !== '').join(', ');
      const text = `${s.help}${extra !== '' ? ` (${extra})` : ''}`;
      return `  ${l.padEnd(w)}  ${text}`;
    })
    .join('\n');
}
