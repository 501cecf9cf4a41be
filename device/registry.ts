// Device types, QEMU-style: a type registers its name, a one-line
// description, its option table (every knob with default and meaning, in one
// place, after null_blk's configfs table) and a factory. The daemon's command
// line `-device NAME,key=value,...` is resolved against this table:
//
//   -device nvme,serial=abc -device nvme-ns,nsid=1,size=1G -device nvme-ns,nsid=2,size=64M
//
// A 'function' type is the PCI function the daemon serves (exactly one per
// daemon). A 'child' type (nvme-ns) attaches to the nearest preceding
// function of its `parent` type and is handed to that function's factory.
// Every validation error is one line naming the device and the option.
import type { Logger } from '../src/util/log.ts';
import type { ControlRegistry } from '../src/control/commands.ts';
import type { DeviceModel } from './pci/model.ts';

export type OptionType = 'string' | 'int' | 'size' | 'bool' | 'enum';
export type OptionValue = string | number | boolean;

/** One device option. */
export interface OptionSpec {
  readonly name: string;
  /**
   * 'int': decimal or 0x-hex integer; 'size': bytes with an optional binary
   * suffix (K, M, G, T; `1G` = 2^30, as QEMU); 'bool': on/off, true/false,
   * yes/no, 1/0, or the bare key for on; 'enum': one of `choices`.
   */
  readonly type: OptionType;
  /** Value when not given. Omit for options that are required or have no default (then absent = undefined). */
  readonly default?: OptionValue;
  readonly required?: boolean;
  /** int/size: inclusive bounds. */
  readonly min?: number;
  readonly max?: number;
  /** size: must be a multiple of this. */
  readonly multipleOf?: number;
  /** enum: the allowed values. */
  readonly choices?: readonly string[];
  /** string: allowed shape and length. */
  readonly pattern?: RegExp;
  readonly maxLength?: number;
  /** One line: what it does (shown by --help-devices). */
  readonly doc: string;
}

/** Validated option values of one `-device`. Getters throw on a programming error (wrong type / unknown name). */
export class DeviceOptions {
  constructor(
    readonly type: string,
    private readonly values: ReadonlyMap<string, OptionValue>,
    /** Names the user gave explicitly (not defaults). */
    readonly given: ReadonlySet<string>,
  ) {}

  has(name: string): boolean {
    return this.values.has(name);
  }
  str(name: string): string {
    const v = this.values.get(name);
    if (typeof v !== 'string') throw new Error(`${this.type}: option '${name}' is not a string option with a value`);
    return v;
  }
  optStr(name: string): string | undefined {
    return this.values.has(name) ? this.str(name) : undefined;
  }
  int(name: string): number {
    const v = this.values.get(name);
    if (typeof v !== 'number') throw new Error(`${this.type}: option '${name}' is not a numeric option with a value`);
    return v;
  }
  optInt(name: string): number | undefined {
    return this.values.has(name) ? this.int(name) : undefined;
  }
  bool(name: string): boolean {
    const v = this.values.get(name);
    if (typeof v !== 'boolean') throw new Error(`${this.type}: option '${name}' is not a bool option with a value`);
    return v;
  }
  /** Plain object of all values (for logs and query-device). */
  toJSON(): Record<string, OptionValue> {
    return Object.fromEntries(this.values);
  }
}

/** What a factory gets besides its options. */
export interface CreateEnv {
  readonly log: Logger;
  /** Register control-channel commands and emit events. */
  readonly control: ControlRegistry;
  /** Values of daemon flags added with registerDaemonFlag (device/options.ts), e.g. 'fault-plan'. */
  readonly flags: ReadonlyMap<string, readonly string[]>;
}

/** A child device given on the command line after its parent. */
export interface ChildDevice {
  readonly type: string;
  readonly options: DeviceOptions;
}

interface DeviceTypeBase {
  readonly name: string;
  /** One line. */
  readonly description: string;
  readonly options: readonly OptionSpec[];
}

/** A PCI function the daemon can serve. */
export interface FunctionDeviceType extends DeviceTypeBase {
  readonly kind: 'function';
  /** Child type names this function accepts (e.g. ['nvme-ns']). */
  readonly children?: readonly string[];
  /** Build the model. Throw OptionError (one line) for a bad combination of options. */
  create(options: DeviceOptions, children: readonly ChildDevice[], env: CreateEnv): DeviceModel | Promise<DeviceModel>;
}

/** Something attached to a function (a namespace): validated here, interpreted by the parent's factory. */
export interface ChildDeviceType extends DeviceTypeBase {
  readonly kind: 'child';
  /** The function type it attaches to. */
  readonly parent: string;
}

export type DeviceType = FunctionDeviceType | ChildDeviceType;

/** A command-line error: one line naming the device and option. */
export class OptionError extends Error {
  override readonly name = 'OptionError';
}

const types = new Map<string, DeviceType>();

/** Register a device type (at module load). Throws on a duplicate name or a malformed option table. */
export function registerDevice(t: DeviceType): void {
  if (!/^[a-z][a-z0-9-]*$/.test(t.name)) throw new Error(`device type name '${t.name}' must be lower-case-with-dashes`);
  if (types.has(t.name)) throw new Error(`device type '${t.name}' is already registered`);
  const seen = new Set<string>();
  for (const o of t.options) {
    if (seen.has(o.name)) throw new Error(`device type '${t.name}': option '${o.name}' declared twice`);
    seen.add(o.name);
    if (o.type === 'enum' && (o.choices === undefined || o.choices.length === 0)) {
      throw new Error(`device type '${t.name}': enum option '${o.name}' has no choices`);
    }
    if (o.default !== undefined) checkValue(t.name, o, o.default); // a bad default is a programming error
  }
  types.set(t.name, t);
}

export function getDeviceType(name: string): DeviceType | undefined {
  return types.get(name);
}

export function listDeviceTypes(): DeviceType[] {
  return [...types.values()].sort((a, b) => a.name.localeCompare(b.name));
}

// --- QEMU-style property lists ----------------------------------------------

/** `NAME,key=value,...` split QEMU's way: `,,` is a literal comma; a bare `key` means `key=on`. */
export function parseDeviceSpec(spec: string): { name: string; props: [string, string | undefined][] } {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i];
    if (c === ',') {
      if (spec[i + 1] === ',') {
        cur += ',';
        i++;
        continue;
      }
      parts.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  parts.push(cur);
  let name = parts[0] ?? '';
  const rest = parts.slice(1);
  // QEMU also accepts `driver=NAME` as the first property.
  if (name.startsWith('driver=')) name = name.slice('driver='.length);
  if (name === '') throw new OptionError(`-device '${spec}': missing device type name`);
  const props: [string, string | undefined][] = [];
  for (const p of rest) {
    if (p === '') throw new OptionError(`-device ${name}: empty property in '${spec}'`);
    const eq = p.indexOf('=');
    if (eq === 0) throw new OptionError(`-device ${name}: property '${p}' has no name`);
    props.push(eq < 0 ? [p, undefined] : [p.slice(0, eq), p.slice(eq + 1)]);
  }
  return { name, props };
}

const SIZE_SHIFT: Record<string, number> = { '': 0, b: 0, k: 10, m: 20, g: 30, t: 40, p: 50 };

/** Parse a size: `4096`, `4K`, `64M`, `1G`, `1GiB`, `2T` (binary multiples, as QEMU). */
export function parseSize(s: string): number | undefined {
  const m = /^(\d+)\s*([kmgtpb]?)(?:i?b)?$/i.exec(s.trim());
  if (m === null) return undefined;
  const shift = SIZE_SHIFT[(m[2] ?? '').toLowerCase()];
  if (shift === undefined) return undefined;
  const v = Number(m[1]) * 2 ** shift;
  return Number.isSafeInteger(v) ? v : undefined;
}

/** Parse an integer: decimal, or hex with 0x. */
export function parseInteger(s: string): number | undefined {
  const t = s.trim();
  let v: number;
  if (/^-?\d+$/.test(t)) v = Number(t);
  else if (/^0x[0-9a-f]+$/i.test(t)) v = Number.parseInt(t.slice(2), 16);
  else return undefined;
  return Number.isSafeInteger(v) ? v : undefined;
}

const TRUE_WORDS = new Set(['on', 'true', 'yes', '1']);
const FALSE_WORDS = new Set(['off', 'false', 'no', '0']);

function parseValue(dev: string, o: OptionSpec, raw: string | undefined): OptionValue {
  const where = `-device ${dev}: option '${o.name}'`;
  if (raw === undefined) {
    if (o.type === 'bool') return true;
    throw new OptionError(`${where} needs a value (${o.name}=...)`);
  }
  let v: OptionValue;
  switch (o.type) {
    case 'string':
      v = raw;
      break;
    case 'enum':
      v = raw;
      break;
    case 'bool': {
      const w = raw.toLowerCase();
      if (TRUE_WORDS.has(w)) v = true;
      else if (FALSE_WORDS.has(w)) v = false;
      else throw new OptionError(`${where}: expected on/off, got '${raw}'`);
      break;
    }
    case 'int': {
      const n = parseInteger(raw);
      if (n === undefined) throw new OptionError(`${where}: expected an integer, got '${raw}'`);
      v = n;
      break;
    }
    case 'size': {
      const n = parseSize(raw);
      if (n === undefined) throw new OptionError(`${where}: expected a size like 4096, 64M or 1G, got '${raw}'`);
      v = n;
      break;
    }
  }
  checkValue(dev, o, v);
  return v;
}

function checkValue(dev: string, o: OptionSpec, v: OptionValue): void {
  const where = `-device ${dev}: option '${o.name}'`;
  switch (o.type) {
    case 'string':
    case 'enum':
      if (typeof v !== 'string') throw new OptionError(`${where}: expected a string`);
      if (o.type === 'enum' && !(o.choices ?? []).includes(v)) {
        throw new OptionError(`${where}: expected one of ${(o.choices ?? []).join('|')}, got '${v}'`);
      }
      if (o.maxLength !== undefined && v.length > o.maxLength) throw new OptionError(`${where}: longer than ${o.maxLength} characters`);
      if (o.pattern !== undefined && !o.pattern.test(v)) throw new OptionError(`${where}: '${v}' does not match ${o.pattern}`);
      return;
    case 'bool':
      if (typeof v !== 'boolean') throw new OptionError(`${where}: expected on/off`);
      return;
    case 'int':
    case 'size':
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new OptionError(`${where}: expected an integer`);
      if (o.min !== undefined && v < o.min) throw new OptionError(`${where}: ${v} is below the minimum ${o.min}`);
      if (o.max !== undefined && v > o.max) throw new OptionError(`${where}: ${v} is above the maximum ${o.max}`);
      if (o.multipleOf !== undefined && v % o.multipleOf !== 0) throw new OptionError(`${where}: ${v} is not a multiple of ${o.multipleOf}`);
      return;
  }
}

/** Validate one `-device` property list against its type. */
export function resolveOptions(t: DeviceType, props: readonly [string, string | undefined][]): DeviceOptions {
  const values = new Map<string, OptionValue>();
  const given = new Set<string>();
  const byName = new Map(t.options.map((o) => [o.name, o]));
  for (const [k, raw] of props) {
    const o = byName.get(k);
    if (o === undefined) {
      const known = t.options.map((x) => x.name).join(', ');
      throw new OptionError(`-device ${t.name}: unknown option '${k}' (known: ${known || 'none'})`);
    }
    if (given.has(k)) throw new OptionError(`-device ${t.name}: option '${k}' given twice`);
    given.add(k);
    values.set(k, parseValue(t.name, o, raw));
  }
  for (const o of t.options) {
    if (values.has(o.name)) continue;
    if (o.required) throw new OptionError(`-device ${t.name}: option '${o.name}' is required (${o.doc})`);
    if (o.default !== undefined) values.set(o.name, o.default);
  }
  return new DeviceOptions(t.name, values, given);
}

/** The function the daemon will serve, with its options and children. */
export interface ResolvedDevice {
  readonly type: FunctionDeviceType;
  readonly options: DeviceOptions;
  readonly children: readonly ChildDevice[];
}

/**
 * Resolve the command line's `-device` values (in order). Exactly one
 * function; each child attaches to the preceding function of its parent type.
 * `defaultType` is used when no function is given (children alone are an error).
 */
export function resolveDevices(specs: readonly string[], defaultType: string): ResolvedDevice {
  let fn: { type: FunctionDeviceType; options: DeviceOptions; children: ChildDevice[] } | undefined;
  for (const spec of specs) {
    const { name, props } = parseDeviceSpec(spec);
    const t = types.get(name);
    if (t === undefined) {
      throw new OptionError(`-device ${name}: unknown device type (known: ${listDeviceTypes().map((x) => x.name).join(', ')})`);
    }
    const options = resolveOptions(t, props);
    if (t.kind === 'function') {
      if (fn !== undefined) throw new OptionError(`-device ${name}: a daemon serves one PCI function, and -device ${fn.type.name} was already given`);
      fn = { type: t, options, children: [] };
    } else {
      if (fn === undefined || fn.type.name !== t.parent) {
        throw new OptionError(`-device ${name}: must follow the -device ${t.parent} it attaches to`);
      }
      if (fn.type.children !== undefined && !fn.type.children.includes(t.name)) {
        throw new OptionError(`-device ${name}: cannot attach to ${fn.type.name}`);
      }
      fn.children.push({ type: t.name, options });
    }
  }
  if (fn === undefined) {
    const t = types.get(defaultType);
    if (t === undefined || t.kind !== 'function') throw new OptionError(`no -device given and default device '${defaultType}' is not available`);
    fn = { type: t, options: resolveOptions(t, []), children: [] };
  }
  return fn;
}

/** The options table of every registered type (for --help-devices and the README). */
export function formatDeviceHelp(): string {
  const lines: string[] = [];
  for (const t of listDeviceTypes()) {
    const head = t.kind === 'child' ? `${t.name} (attaches to a preceding -device ${t.parent})` : t.name;
    lines.push(`-device ${head}`, `  ${t.description}`);
    if (t.options.length === 0) {
      lines.push('  (no options)', '');
      continue;
    }
    const rows = t.options.map((o) => [o.name, typeLabel(o), o.required ? '(required)' : o.default === undefined ? '-' : fmtDefault(o.default), o.doc]);
    const w0 = Math.max(6, ...rows.map((r) => (r[0] ?? '').length));
    const w1 = Math.max(4, ...rows.map((r) => (r[1] ?? '').length));
    const w2 = Math.max(7, ...rows.map((r) => (r[2] ?? '').length));
    lines.push(`  ${'option'.padEnd(w0)}  ${'type'.padEnd(w1)}  ${'default'.padEnd(w2)}  meaning`);
    for (const r of rows) lines.push(`  ${(r[0] ?? '').padEnd(w0)}  ${(r[1] ?? '').padEnd(w1)}  ${(r[2] ?? '').padEnd(w2)}  ${r[3] ?? ''}`);
    lines.push('');
  }
  return lines.join('\n');
}

function typeLabel(o: OptionSpec): string {
  if (o.type === 'enum') return (o.choices ?? []).join('|');
  if (o.type === 'bool') return 'on|off';
  return o.type;
}

function fmtDefault(v: OptionValue): string {
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (typeof v === 'string') return v === '' ? "''" : v;
  return String(v);
}
