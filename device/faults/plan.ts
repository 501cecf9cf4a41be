// Fault plans: the JSON a user writes (fixtures/plans/*.json, --fault-plan
// FILE, the control channel's fault-inject), its types, and the validator.
// A plan is a list of rules: *match* (which commands) → *trigger* (which of
// the matches) → *action* (what goes wrong). Every validation error names
// the JSON path and the problem, e.g.
//   rules[2].trigger.n: expected an integer ≥ 1, got 0
// and all errors are reported at once.

/** Where a rule is evaluated. */
export type RuleHook =
  /** Once per command, before it executes (the default). */
  | 'command'
  /** On every engine timer tick (plan.tickMs), independent of I/O. */
  | 'timer'
  /** When the host sets CC.EN 0→1. */
  | 'enable'
  /** When the host requests a shutdown (CC.SHN). */
  | 'shutdown'
  /** On every doorbell write (SQ tail / CQ head), before the controller acts on it. */
  | 'doorbell';

/** Which commands a rule applies to. Every given field must match (AND); an empty match matches everything. */
export interface Match {
  /** 'admin' = SQ 0, 'io' = any other SQ. */
  queue?: 'admin' | 'io';
  /** Submission queue id(s). */
  qid?: number | number[];
  /** Opcode(s), with `queue` (required with opcode): I/O 0x02 read, 0x01 write, 0x00 flush; admin 0x06 identify, … */
  opcode?: number | number[];
  /** Namespace id. */
  nsid?: number;
  /** LBA range the command overlaps: [first, first+count). Only read/write/compare/verify/write-zeroes/write-uncorrectable carry LBAs. */
  lba?: { first: number; count: number };
  /** Global command sequence numbers (1-based, every command the controller executes): inclusive bounds. */
  commands?: { from?: number; to?: number };
}

/** null_blk's `interval,probability,space,times` (Linux lib/fault-inject.c). */
export interface KernelTrigger {
  kind: 'kernel';
  /** Either the string "interval,probability,space,times" or the four fields. */
  spec?: string;
  interval?: number;
  /** Percent, 0..100. */
  probability?: number;
  space?: number;
  /** -1 = unlimited. */
  times?: number;
}

/** Which matches fire. `times` (where allowed) caps the number of firings. */
export type Trigger =
  | { kind: 'always'; times?: number }
  | { kind: 'once' }
  /** Fire on the n-th, 2n-th, … match. */
  | { kind: 'every'; n: number; times?: number }
  /** Skip the first n matches, then fire on every match. */
  | { kind: 'after'; n: number; times?: number }
  /** Fire with probability p (0..1), drawn from the rule's seeded generator. */
  | { kind: 'probability'; p: number; times?: number }
  | KernelTrigger
  /** Fire on matches between startMs and endMs after the plan was installed. */
  | { kind: 'window'; startMs: number; endMs?: number; times?: number };

/** A delay: fixed, or drawn from a distribution with the rule's seeded generator. */
export type Delay =
  | { ms: number }
  | { dist: 'uniform'; min: number; max: number }
  | { dist: 'exponential'; mean: number; max?: number }
  | { dist: 'normal'; mean: number; sd: number; max?: number };

export type CqeCorruption =
  /** The CQE carries another command id (one not outstanding); the real command never completes. */
  | 'wrong-cid'
  /** The CQE is posted twice. */
  | 'duplicate-cid'
  /** The CQE carries the command id of an earlier, already completed command; the real one never completes. */
  | 'stale-cid'
  /** The CQE is written with the wrong phase tag (the host must not consume it). */
  | 'wrong-phase'
  /** SQ Head Pointer is garbage. */
  | 'wrong-sq-head'
  /** SQ Identifier names another queue. */
  | 'wrong-sq-id'
  /** After the real CQE, a completion for a command id that was never submitted. */
  | 'phantom';

export const CQE_CORRUPTIONS: readonly CqeCorruption[] = ['wrong-cid', 'duplicate-cid', 'stale-cid', 'wrong-phase', 'wrong-sq-head', 'wrong-sq-id', 'phantom'];

export type Action =
  /**
   * Complete with a status (NVMe 1.4 §4.6.1): SCT/SC plus DNR, More and CRD.
   * when 'instead' (default) the command is not executed; 'after' executes it and replaces the status it would have returned.
   */
  | { type: 'status'; sct: number; sc: number; dnr?: boolean; more?: boolean; crd?: number; when?: 'instead' | 'after' }
  /** Hold the command before executing it. */
  | { type: 'delay'; delay: Delay }
  /** Hold every command on the matched command's SQ until `ms` from now (a stalled queue). */
  | { type: 'stall-queue'; ms: number }
  /** The command never completes: 'before' = never executed, 'after' = executed (data written) but its CQE is lost. */
  | { type: 'drop-completion'; stage?: 'before' | 'after' }
  /** The CQE is written but the interrupt that would signal it is lost. */
  | { type: 'drop-interrupt' }
  | { type: 'corrupt-cqe'; variant: CqeCorruption }
  /**
   * doorbell hook: the doorbell write is lost (a posted MMIO write that never lands). Only doorbells
   * of `kind` ('sq' tail / 'cq' head) and `qid` count as matches when given. The next write of the
   * same doorbell carries the new absolute value, so an idle queue stays stuck until the host acts.
   */
  | { type: 'drop-doorbell'; kind?: 'sq' | 'cq'; qid?: number }
  /** Set CSTS.CFS (controller fatal status, §10.5). */
  | { type: 'fatal' }
  /** enable hook: CSTS.RDY stays 0 (as seen by the host) after CC.EN=1. */
  | { type: 'ready-stuck' }
  /** enable hook: CSTS.RDY reads 0 for `ms` after CC.EN=1. */
  | { type: 'slow-enable'; ms: number }
  /** shutdown hook: CSTS.SHST reads "occurring" for `ms` (or never completes when ms is absent). */
  | { type: 'slow-shutdown'; ms?: number }
  /**
   * Media errors on the matched LBA range (match.lba required).
   * kind 'read': Unrecovered Read Error 2/81h; 'write': Write Fault 2/80h.
   * persist 'until-rewritten': once fired, the blocks stay unreadable until written (read only);
   * 'always': a grown defect, every matching command fails; 'transient': only this command fails.
   */
  | { type: 'media-error'; kind: 'read' | 'write'; persist?: 'transient' | 'until-rewritten' | 'always' }
  /** Silent corruption: flip `bits` bits in one block the read covers — on the media ('media', persists) or only in the transferred data ('transfer'). */
  | { type: 'bit-flip'; bits?: number; where?: 'media' | 'transfer' }
  /**
   * A write is torn: only the first `keepBlocks` blocks (default half) reach the media; the rest keep their old data.
   * then: 'drop' (no completion), 'error' (Write Fault), 'power-loss' (cache dropped, device removed;
   * re-plugged after replugAfterMs when given).
   */
  | { type: 'torn-write'; keepBlocks?: number; then?: 'drop' | 'error' | 'power-loss'; replugAfterMs?: number }
  /** Drop every unflushed write in the volatile cache, then remove the device; re-plug after replugAfterMs (absent = stays gone). */
  | { type: 'power-loss'; replugAfterMs?: number }
  /** Close the host connection (4410); re-plug after replugAfterMs (absent = stays gone). */
  | { type: 'surprise-removal'; replugAfterMs?: number }
  /** DMA the host did not allow: outside its windows (write or read), or with bus mastering off. Needs DeviceContext.unchecked. */
  | { type: 'hostile-dma'; kind: 'write-outside' | 'read-outside' | 'bus-master-off'; addr?: number; len?: number }
  /** `count` interrupts on the given vectors: 'io' = the vectors of the I/O CQs, 'unused' = vectors no CQ uses, or explicit numbers. */
  | { type: 'irq-storm'; vectors?: 'io' | 'unused' | number[]; count?: number };

export type ActionType = Action['type'];

export interface Rule {
  /** Name for logs and counters (default: `rule-N`). */
  id?: string;
  /** Where the rule is evaluated (default 'command'). */
  on?: RuleHook;
  match?: Match;
  trigger?: Trigger;
  action: Action;
}

export interface FaultPlan {
  /** One line: what this plan does. */
  description?: string;
  /** Makes every random choice repeat exactly (default 1). */
  seed?: number;
  /** Engine timer period for `on: 'timer'` rules (default 10 ms). */
  tickMs?: number;
  rules: Rule[];
}

/** A plan after validation: ids, hooks and triggers filled in. */
export interface ValidRule {
  readonly id: string;
  readonly on: RuleHook;
  readonly match: Match;
  readonly trigger: Trigger;
  readonly action: Action;
}
export interface ValidPlan {
  readonly description: string;
  readonly seed: number;
  readonly tickMs: number;
  readonly rules: readonly ValidRule[];
}

/** One validation problem: JSON path + what is wrong. */
export interface PlanIssue {
  readonly path: string;
  readonly problem: string;
}

/** Thrown by validatePlan: `issues` lists every problem, the message joins them one per line. */
export class PlanError extends Error {
  override readonly name = 'PlanError';
  constructor(
    readonly issues: readonly PlanIssue[],
    source = 'fault plan',
  ) {
    super(`${source}: ${issues.length} problem${issues.length === 1 ? '' : 's'}\n${issues.map((i) => `  ${i.path}: ${i.problem}`).join('\n')}`);
  }
}

// ---- the validator ----------------------------------------------------------

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 37)}...` : s;
};

class Checker {
  readonly issues: PlanIssue[] = [];
  add(path: string, problem: string): void {
    this.issues.push({ path, problem });
  }
  /** Only the keys in `allowed` may appear. */
  keys(o: Obj, path: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) this.add(`${path}.${k}`, `unknown field (allowed: ${allowed.join(', ')})`);
  }
  int(o: Obj, key: string, path: string, min: number, max: number, required: boolean): number | undefined {
    const v = o[key];
    if (v === undefined) {
      if (required) this.add(`${path}.${key}`, `required (an integer in ${min}..${max})`);
      return undefined;
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      this.add(`${path}.${key}`, `expected an integer in ${min}..${max}, got ${show(v)}`);
      return undefined;
    }
    return v;
  }
  num(o: Obj, key: string, path: string, min: number, max: number, required: boolean): number | undefined {
    const v = o[key];
    if (v === undefined) {
      if (required) this.add(`${path}.${key}`, `required (a number in ${min}..${max})`);
      return undefined;
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      this.add(`${path}.${key}`, `expected a number in ${min}..${max}, got ${show(v)}`);
      return undefined;
    }
    return v;
  }
  bool(o: Obj, key: string, path: string): void {
    const v = o[key];
    if (v !== undefined && typeof v !== 'boolean') this.add(`${path}.${key}`, `expected true or false, got ${show(v)}`);
  }
  oneOf(o: Obj, key: string, path: string, choices: readonly string[], required: boolean): string | undefined {
    const v = o[key];
    if (v === undefined) {
      if (required) this.add(`${path}.${key}`, `required (one of ${choices.join(', ')})`);
      return undefined;
    }
    if (typeof v !== 'string' || !choices.includes(v)) {
      this.add(`${path}.${key}`, `expected one of ${choices.join(', ')}, got ${show(v)}`);
      return undefined;
    }
    return v;
  }
  intOrList(o: Obj, key: string, path: string, min: number, max: number): void {
    const v = o[key];
    if (v === undefined) return;
    const list = Array.isArray(v) ? v : [v];
    if (list.length === 0) this.add(`${path}.${key}`, 'empty list');
    list.forEach((x, i) => {
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min || x > max) {
        this.add(Array.isArray(v) ? `${path}.${key}[${i}]` : `${path}.${key}`, `expected an integer in ${min}..${max}, got ${show(x)}`);
      }
    });
  }
}

const U16 = 0xffff;
const U32 = 0xffff_ffff;
const MAX_MS = 24 * 3600 * 1000;
const LBA_MAX = Number.MAX_SAFE_INTEGER;

/** Every action type the validator accepts (a test checks each one really injects). */
export const ACTION_TYPES: readonly ActionType[] = [
  'status', 'delay', 'stall-queue', 'drop-completion', 'drop-interrupt', 'corrupt-cqe', 'fatal', 'ready-stuck', 'slow-enable',
  'slow-shutdown', 'media-error', 'bit-flip', 'torn-write', 'power-loss', 'surprise-removal', 'hostile-dma', 'irq-storm', 'drop-doorbell',
];
/** Actions that act on one command (need the 'command' hook). */
export const COMMAND_ACTIONS: ReadonlySet<ActionType> = new Set<ActionType>([
  'status', 'delay', 'stall-queue', 'drop-completion', 'drop-interrupt', 'corrupt-cqe', 'media-error', 'bit-flip', 'torn-write',
]);
/** Actions that only make sense on a given hook. */
const HOOK_ONLY: Partial<Record<ActionType, RuleHook>> = { 'ready-stuck': 'enable', 'slow-enable': 'enable', 'slow-shutdown': 'shutdown', 'drop-doorbell': 'doorbell' };
/** Every trigger kind the validator accepts. */
export const TRIGGER_KINDS = ['always', 'once', 'every', 'after', 'probability', 'kernel', 'window'] as const;
const HOOKS: readonly RuleHook[] = ['command', 'timer', 'enable', 'shutdown', 'doorbell'];

/** Parse null_blk's "interval,probability,space,times" (exactly four integers, as lib/fault-inject.c's sscanf). */
export function parseKernelSpec(s: string): { interval: number; probability: number; space: number; times: number } | string {
  const parts = s.split(',').map((x) => x.trim());
  if (parts.length !== 4 || parts.some((p) => !/^-?\d+$/.test(p))) return `expected "interval,probability,space,times" (four integers), got ${show(s)}`;
  const [interval, probability, space, times] = parts.map(Number) as [number, number, number, number];
  if (interval < 0) return 'interval must be ≥ 0';
  if (probability < 0 || probability > 100) return 'probability is a percentage, 0..100';
  if (space < 0) return 'space must be ≥ 0';
  if (times < -1) return 'times must be ≥ 0, or -1 for unlimited';
  return { interval, probability, space, times };
}

function checkMatch(c: Checker, m: unknown, path: string): void {
  if (m === undefined) return;
  if (!isObj(m)) return c.add(path, `expected an object, got ${show(m)}`);
  c.keys(m, path, ['queue', 'qid', 'opcode', 'nsid', 'lba', 'commands']);
  c.oneOf(m, 'queue', path, ['admin', 'io'], false);
  c.intOrList(m, 'qid', path, 0, U16);
  c.intOrList(m, 'opcode', path, 0, 0xff);
  // Opcode 01h is Write on an I/O queue but Create I/O SQ on the admin queue: say which.
  if (m.opcode !== undefined && m.queue === undefined) c.add(`${path}.opcode`, 'needs match.queue ("admin" or "io"): the same opcode means different commands on each');
  c.int(m, 'nsid', path, 1, U32, false);
  if (m.lba !== undefined) {
    if (!isObj(m.lba)) c.add(`${path}.lba`, `expected {"first": N, "count": N}, got ${show(m.lba)}`);
    else {
      c.keys(m.lba, `${path}.lba`, ['first', 'count']);
      c.int(m.lba, 'first', `${path}.lba`, 0, LBA_MAX, true);
      c.int(m.lba, 'count', `${path}.lba`, 1, LBA_MAX, true);
    }
  }
  if (m.commands !== undefined) {
    if (!isObj(m.commands)) c.add(`${path}.commands`, `expected {"from"?: N, "to"?: N}, got ${show(m.commands)}`);
    else {
      c.keys(m.commands, `${path}.commands`, ['from', 'to']);
      const from = c.int(m.commands, 'from', `${path}.commands`, 1, LBA_MAX, false);
      const to = c.int(m.commands, 'to', `${path}.commands`, 1, LBA_MAX, false);
      if (from !== undefined && to !== undefined && to < from) c.add(`${path}.commands`, `to (${to}) is before from (${from})`);
    }
  }
}

function checkTrigger(c: Checker, t: unknown, path: string): void {
  if (t === undefined) return;
  if (!isObj(t)) return c.add(path, `expected an object like {"kind": "once"}, got ${show(t)}`);
  const kind = c.oneOf(t, 'kind', path, TRIGGER_KINDS, true);
  const times = (): void => void c.int(t, 'times', path, 1, LBA_MAX, false);
  switch (kind) {
    case 'always':
      c.keys(t, path, ['kind', 'times']);
      times();
      return;
    case 'once':
      c.keys(t, path, ['kind']);
      return;
    case 'every':
    case 'after':
      c.keys(t, path, ['kind', 'n', 'times']);
      c.int(t, 'n', path, kind === 'every' ? 1 : 0, LBA_MAX, true);
      times();
      return;
    case 'probability':
      c.keys(t, path, ['kind', 'p', 'times']);
      c.num(t, 'p', path, 0, 1, true);
      times();
      return;
    case 'window': {
      c.keys(t, path, ['kind', 'startMs', 'endMs', 'times']);
      const a = c.num(t, 'startMs', path, 0, MAX_MS, true);
      const b = c.num(t, 'endMs', path, 0, MAX_MS, false);
      if (a !== undefined && b !== undefined && b <= a) c.add(`${path}.endMs`, `must be after startMs (${a})`);
      times();
      return;
    }
    case 'kernel': {
      c.keys(t, path, ['kind', 'spec', 'interval', 'probability', 'space', 'times']);
      if (t.spec !== undefined) {
        if (typeof t.spec !== 'string') c.add(`${path}.spec`, `expected a string "interval,probability,space,times", got ${show(t.spec)}`);
        else {
          const r = parseKernelSpec(t.spec);
          if (typeof r === 'string') c.add(`${path}.spec`, r);
        }
        for (const k of ['interval', 'probability', 'space', 'times']) if (t[k] !== undefined) c.add(`${path}.${k}`, 'give either spec or the four fields, not both');
      } else {
        c.int(t, 'interval', path, 0, LBA_MAX, true);
        c.int(t, 'probability', path, 0, 100, true);
        c.int(t, 'space', path, 0, LBA_MAX, false);
        c.int(t, 'times', path, -1, LBA_MAX, false);
        if (t.times === 0) c.add(`${path}.times`, '0 never fires; use -1 for unlimited');
      }
      return;
    }
    default:
  }
}

function checkDelay(c: Checker, d: unknown, path: string): void {
  if (!isObj(d)) return c.add(path, `expected {"ms": N} or {"dist": "uniform"|"exponential"|"normal", ...}, got ${show(d)}`);
  if (d.dist === undefined) {
    c.keys(d, path, ['ms']);
    c.num(d, 'ms', path, 0, MAX_MS, true);
    return;
  }
  const dist = c.oneOf(d, 'dist', path, ['uniform', 'exponential', 'normal'], true);
  if (dist === 'uniform') {
    c.keys(d, path, ['dist', 'min', 'max']);
    const a = c.num(d, 'min', path, 0, MAX_MS, true);
    const b = c.num(d, 'max', path, 0, MAX_MS, true);
    if (a !== undefined && b !== undefined && b < a) c.add(`${path}.max`, `must be ≥ min (${a})`);
  } else if (dist === 'exponential') {
    c.keys(d, path, ['dist', 'mean', 'max']);
    c.num(d, 'mean', path, 0, MAX_MS, true);
    c.num(d, 'max', path, 0, MAX_MS, false);
  } else if (dist === 'normal') {
    c.keys(d, path, ['dist', 'mean', 'sd', 'max']);
    c.num(d, 'mean', path, 0, MAX_MS, true);
    c.num(d, 'sd', path, 0, MAX_MS, true);
    c.num(d, 'max', path, 0, MAX_MS, false);
  }
}

function checkAction(c: Checker, a: unknown, path: string, hook: RuleHook, match: unknown): void {
  if (a === undefined) return c.add(path, `required (an object with "type": one of ${ACTION_TYPES.join(', ')})`);
  if (!isObj(a)) return c.add(path, `expected an object, got ${show(a)}`);
  const type = c.oneOf(a, 'type', path, ACTION_TYPES, true) as ActionType | undefined;
  if (type === undefined) return;
  const only = HOOK_ONLY[type];
  if (only !== undefined && hook !== only) c.add(`${path}.type`, `'${type}' only works with "on": "${only}" (rule has "${hook}")`);
  if (only === undefined && COMMAND_ACTIONS.has(type) && hook !== 'command') c.add(`${path}.type`, `'${type}' acts on a command and needs "on": "command" (rule has "${hook}")`);
  const needLba = (): void => {
    if (!isObj(match) || match.lba === undefined) c.add(`${path}.type`, `'${type}' needs match.lba (the LBA range it affects)`);
  };
  switch (type) {
    case 'status': {
      c.keys(a, path, ['type', 'sct', 'sc', 'dnr', 'more', 'crd', 'when']);
      c.int(a, 'sct', path, 0, 7, true);
      c.int(a, 'sc', path, 0, 0xff, true);
      c.bool(a, 'dnr', path);
      c.bool(a, 'more', path);
      c.int(a, 'crd', path, 0, 3, false);
      c.oneOf(a, 'when', path, ['instead', 'after'], false);
      if (a.sct === 0 && a.sc === 0) c.add(path, 'status 0/00h is success: that injects nothing');
      return;
    }
    case 'delay':
      c.keys(a, path, ['type', 'delay']);
      if (a.delay === undefined) c.add(`${path}.delay`, 'required');
      else checkDelay(c, a.delay, `${path}.delay`);
      return;
    case 'stall-queue':
      c.keys(a, path, ['type', 'ms']);
      c.num(a, 'ms', path, 1, MAX_MS, true);
      return;
    case 'drop-completion':
      c.keys(a, path, ['type', 'stage']);
      c.oneOf(a, 'stage', path, ['before', 'after'], false);
      return;
    case 'corrupt-cqe':
      c.keys(a, path, ['type', 'variant']);
      c.oneOf(a, 'variant', path, CQE_CORRUPTIONS, true);
      return;
    case 'slow-enable':
      c.keys(a, path, ['type', 'ms']);
      c.num(a, 'ms', path, 1, MAX_MS, true);
      return;
    case 'slow-shutdown':
      c.keys(a, path, ['type', 'ms']);
      c.num(a, 'ms', path, 1, MAX_MS, false);
      return;
    case 'media-error':
      c.keys(a, path, ['type', 'kind', 'persist']);
      c.oneOf(a, 'kind', path, ['read', 'write'], true);
      if (c.oneOf(a, 'persist', path, ['transient', 'until-rewritten', 'always'], false) === 'until-rewritten' && a.kind === 'write') {
        c.add(`${path}.persist`, "'until-rewritten' is for read errors (a write fault is cured by the write itself); use 'always' or 'transient'");
      }
      needLba();
      return;
    case 'bit-flip':
      c.keys(a, path, ['type', 'bits', 'where']);
      c.int(a, 'bits', path, 1, 64, false);
      c.oneOf(a, 'where', path, ['media', 'transfer'], false);
      return;
    case 'torn-write':
      c.keys(a, path, ['type', 'keepBlocks', 'then', 'replugAfterMs']);
      c.int(a, 'keepBlocks', path, 0, 0xffff, false);
      c.oneOf(a, 'then', path, ['drop', 'error', 'power-loss'], false);
      c.num(a, 'replugAfterMs', path, 0, MAX_MS, false);
      if (a.replugAfterMs !== undefined && a.then !== 'power-loss') c.add(`${path}.replugAfterMs`, "only meaningful with \"then\": \"power-loss\"");
      return;
    case 'power-loss':
    case 'surprise-removal':
      c.keys(a, path, ['type', 'replugAfterMs']);
      c.num(a, 'replugAfterMs', path, 0, MAX_MS, false);
      return;
    case 'hostile-dma':
      c.keys(a, path, ['type', 'kind', 'addr', 'len']);
      c.oneOf(a, 'kind', path, ['write-outside', 'read-outside', 'bus-master-off'], true);
      c.int(a, 'addr', path, 0, Number.MAX_SAFE_INTEGER, false);
      c.int(a, 'len', path, 1, 1 << 20, false);
      return;
    case 'drop-doorbell':
      c.keys(a, path, ['type', 'kind', 'qid']);
      c.oneOf(a, 'kind', path, ['sq', 'cq'], false);
      c.int(a, 'qid', path, 0, U16, false);
      return;
    case 'irq-storm': {
      c.keys(a, path, ['type', 'vectors', 'count']);
      const v = a.vectors;
      if (v !== undefined && v !== 'io' && v !== 'unused') {
        if (!Array.isArray(v)) c.add(`${path}.vectors`, `expected "io", "unused" or a list of vector numbers, got ${show(v)}`);
        else c.intOrList(a, 'vectors', path, 0, 2047);
      }
      c.int(a, 'count', path, 1, 100_000, false);
      return;
    }
    default:
      c.keys(a, path, ['type']);
  }
}

/**
 * Validate a parsed plan. Returns the plan with defaults filled in, or throws
 * PlanError listing every problem with its JSON path. `source` prefixes the
 * message (e.g. the file name).
 */
export function validatePlan(input: unknown, source = 'fault plan'): ValidPlan {
  const c = new Checker();
  if (!isObj(input)) throw new PlanError([{ path: '$', problem: `expected an object {"rules": [...]}, got ${show(input)}` }], source);
  c.keys(input, '$', ['description', 'seed', 'tickMs', 'rules']);
  if (input.description !== undefined && typeof input.description !== 'string') c.add('$.description', 'expected a string');
  c.int(input, 'seed', '$', 0, U32, false);
  c.num(input, 'tickMs', '$', 1, 60_000, false);
  const rules = input.rules;
  if (!Array.isArray(rules)) c.add('$.rules', rules === undefined ? 'required (a list of rules)' : `expected a list, got ${show(rules)}`);
  const out: ValidRule[] = [];
  const ids = new Set<string>();
  if (Array.isArray(rules)) {
    rules.forEach((r: unknown, i) => {
      const path = `rules[${i}]`;
      if (!isObj(r)) return c.add(path, `expected an object {"match", "trigger", "action"}, got ${show(r)}`);
      c.keys(r, path, ['id', 'on', 'match', 'trigger', 'action']);
      let id = `rule-${i}`;
      if (r.id !== undefined) {
        if (typeof r.id !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(r.id)) c.add(`${path}.id`, `expected 1-64 characters [A-Za-z0-9_.-], got ${show(r.id)}`);
        else id = r.id;
      }
      if (ids.has(id)) c.add(`${path}.id`, `duplicate rule id '${id}'`);
      ids.add(id);
      const hook = (c.oneOf(r, 'on', path, HOOKS, false) ?? 'command') as RuleHook;
      checkMatch(c, r.match, `${path}.match`);
      if (hook !== 'command' && r.match !== undefined) c.add(`${path}.match`, `only "on": "command" rules match commands (rule has "${hook}")`);
      checkTrigger(c, r.trigger, `${path}.trigger`);
      checkAction(c, r.action, `${path}.action`, hook, r.match);
      out.push({ id, on: hook, match: (r.match ?? {}) as Match, trigger: (r.trigger ?? { kind: 'always' }) as Trigger, action: r.action as Action });
    });
  }
  if (c.issues.length > 0) throw new PlanError(c.issues, source);
  return {
    description: typeof input.description === 'string' ? input.description : '',
    seed: typeof input.seed === 'number' ? input.seed : 1,
    tickMs: typeof input.tickMs === 'number' ? input.tickMs : 10,
    rules: out,
  };
}

/** Parse JSON text and validate it; JSON syntax errors become a PlanError too. */
export function parsePlan(text: string, source = 'fault plan'): ValidPlan {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new PlanError([{ path: '$', problem: `not valid JSON: ${e instanceof Error ? e.message : String(e)}` }], source);
  }
  return validatePlan(v, source);
}
