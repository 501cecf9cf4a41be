// The fault engine: a validated plan turned into the controller's fault hooks
// (device/nvme/faults.ts). Only the hooks the current rules need are set, so
// with no plan the controller runs with NO_FAULTS and pays nothing.
//
// Hook points and what they carry:
//   command   beforeExecute: match → trigger → action. Actions that change the
//             command's completion (status after execution, lost CQE, lost
//             interrupt, corrupt CQE, torn write, transfer bit flip) leave a
//             *mark* keyed by (CQ id, command id), consumed when it posts.
//   cqePost / cqeFields / interrupt / dataDma: apply those marks.
//   enable / shutdown: registerAccess sees the CC edges; CSTS reads are
//             rewritten for ready-stuck / slow enable / slow shutdown.
//   timer     a periodic tick (plan.tickMs) for rules with "on": "timer".
// Every injection is counted per rule, logged, and emitted as a
// FAULT_INJECTED control event.
import type { Logger } from '../../src/util/log.ts';
import { sqeSlba, sqeNlb, type Sqe } from '../../src/wire/sqe.ts';
import { REG, CC, CSTS, getField, CSTS_SHST_COMPLETE, CSTS_SHST_OCCURRING, setField } from '../../src/spec/registers.ts';
import { NVM } from '../../src/spec/nvm.ts';
import { S, status as mkStatus, STATUS_DNR, STATUS_MORE, STATUS_CRD_SHIFT } from '../../src/spec/status.ts';
import type { NvmeController } from '../nvme/controller.ts';
import { NO_FAULTS, type CqeFields, type NvmeFaultHooks, type RegAccessKind } from '../nvme/faults.ts';
import { markCommandLost } from '../nvme/admin.ts';
import type { QmpValue } from '../control/commands.ts';
import { COMMAND_ACTIONS, type Action, type CqeCorruption, type ValidPlan, type ValidRule } from './plan.ts';
import { Rng, TriggerState, drawDelay, ruleSeed } from './trigger.ts';

/** CQE fields a corruption may rewrite (the controller's cqeFields hook argument). */
export type CqeFieldsLike = CqeFields;

/** DeviceContext's fixtures-only escape hatch (requested from DEVPCI; feature-detected). */
export interface UncheckedDma {
  dmaRead(iova: number, len: number, cb: (err: Error | undefined, data: Uint8Array | undefined) => void): void;
  dmaWrite(iova: number, data: Uint8Array): void;
  irq(vector: number): void;
}

/** What the engine needs besides the controller: a log, and how to remove / re-add the device. */
export interface FaultEnv {
  log: Logger;
  /** Surprise removal (close 4410). Absent in unit tests without a server: removal actions count as unsupported. */
  removeDevice?(reason: string): void;
  /** Plug the device back in after removeDevice. */
  addDevice?(): void;
  /** Emit a control event. */
  emit?(event: string, data: Record<string, QmpValue | undefined>): void;
}

/** Per-rule counters (query-device, fault-list). */
export interface RuleCounters {
  id: string;
  on: string;
  action: string;
  /** Times the rule's match (or hook) was seen. */
  matches: number;
  /** Injections performed. */
  injected: number;
  /** Firings the running controller could not carry out (a hook or service it lacks). */
  unsupported: number;
}

const LBA_OPCODES: ReadonlySet<number> = new Set([NVM.WRITE, NVM.READ, NVM.WRITE_UNCORRECTABLE, NVM.COMPARE, NVM.WRITE_ZEROES, NVM.VERIFY]);
const READ_OPCODES: ReadonlySet<number> = new Set([NVM.READ, NVM.COMPARE, NVM.VERIFY]);
const WRITE_OPCODES: ReadonlySet<number> = new Set([NVM.WRITE, NVM.WRITE_ZEROES]);

/** A compiled match: sets for fast lookup, undefined = any. */
interface CompiledMatch {
  admin: boolean | undefined;
  qids: ReadonlySet<number> | undefined;
  opcodes: ReadonlySet<number> | undefined;
  nsid: number | undefined;
  lbaFirst: number;
  lbaEnd: number;
  hasLba: boolean;
  cmdFrom: number;
  cmdTo: number;
}

const toSet = (v: number | number[] | undefined): ReadonlySet<number> | undefined => (v === undefined ? undefined : new Set(Array.isArray(v) ? v : [v]));

function compile(r: ValidRule): CompiledMatch {
  const m = r.match;
  return {
    admin: m.queue === undefined ? undefined : m.queue === 'admin',
    qids: toSet(m.qid),
    opcodes: toSet(m.opcode),
    nsid: m.nsid,
    lbaFirst: m.lba?.first ?? 0,
    lbaEnd: m.lba === undefined ? Number.MAX_SAFE_INTEGER : m.lba.first + m.lba.count,
    hasLba: m.lba !== undefined,
    cmdFrom: m.commands?.from ?? 1,
    cmdTo: m.commands?.to ?? Number.MAX_SAFE_INTEGER,
  };
}

class RuleRt {
  readonly m: CompiledMatch;
  readonly rng: Rng;
  readonly trig: TriggerState;
  readonly c: RuleCounters;
  /** media-error 'always': the defect has grown; every matching command now fails. */
  grown = false;
  constructor(
    readonly rule: ValidRule,
    seed: number,
    t0: number,
  ) {
    this.m = compile(rule);
    this.rng = new Rng(seed);
    this.trig = new TriggerState(rule.trigger, this.rng, t0);
    this.c = { id: rule.id, on: rule.on, action: rule.action.type, matches: 0, injected: 0, unsupported: 0 };
  }
}

/** What a command's completion must suffer, decided at beforeExecute. */
interface Mark {
  rt: RuleRt;
  epoch: number;
  kind: 'status' | 'drop' | 'drop-irq' | 'corrupt' | 'torn' | 'flip';
  status?: number;
  variant?: CqeCorruption;
  /** torn write: namespace, first block, old data of the blocks that must revert, blocks kept. */
  torn?: { nsid: number; slba: number; nlb: number; keep: number; old: Uint8Array; then: 'drop' | 'error' | 'power-loss'; replugAfterMs: number | undefined };
  bits?: number;
}

const markKey = (cqid: number, cid: number): number => cqid * 0x10000 + cid;

export class FaultEngine {
  private rules: RuleRt[] = [];
  private cmdRules: RuleRt[] = [];
  private enableRules: RuleRt[] = [];
  private shutdownRules: RuleRt[] = [];
  private timerRules: RuleRt[] = [];
  private doorbellRules: RuleRt[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private t0 = performance.now();
  private seed = 1;
  private tickMs = 10;
  private ruleSeq = 0;
  /** Commands seen by beforeExecute (1-based sequence numbers for match.commands). */
  commands = 0;
  injected = 0;
  private readonly marks = new Map<number, Mark>();
  /** Interrupts to swallow per vector, and the rule that asked for each (oldest first). */
  private readonly dropIrq = new Map<number, RuleRt[]>();
  /** SQ id → performance.now() until which its commands are held. */
  private readonly stallUntil = new Map<number, number>();
  /** Last command id posted per CQ (stale-cid). */
  private readonly lastCid = new Map<number, number>();
  /** Set by cqePost for the cqeFields call that follows in the same post (rules are evaluated in order; the first terminal action wins). */
  private pendingCorrupt: { variant: CqeCorruption; rt: RuleRt } | undefined;
  // enable / shutdown state as the host sees it
  private readyStuck = false;
  private readyAt = 0;
  private failEnable = false;
  private shstAt = 0;
  private removed = false;
  /** Bus mastering has been seen enabled (by the timer tick) since the last removal: see busMasterTurnedOff. */
  private bmeSeen = false;
  private replugTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly log: Logger;
  /** The hooks object installed on the controller (rebuilt when rules change). */
  hooks: NvmeFaultHooks = NO_FAULTS;

  constructor(
    readonly ctrl: NvmeController,
    private readonly env: FaultEnv,
  ) {
    this.log = env.log.child({ cat: 'faults' });
  }

  /**
   * Replace every rule with `plan`'s (its seed and tick become the engine's).
   * Rule seeds, command numbering and counters start over, so loading the
   * same plan again repeats exactly.
   */
  load(plan: ValidPlan): void {
    this.clear();
    this.ruleSeq = 0;
    this.commands = 0;
    this.injected = 0;
    this.lastCid.clear();
    this.pendingCorrupt = undefined;
    this.seed = plan.seed;
    this.tickMs = plan.tickMs;
    this.t0 = performance.now();
    this.add(plan.rules);
  }

  /** Add rules. Throws when an id is already in use (nothing is added then). */
  add(rules: readonly ValidRule[]): string[] {
    const have = new Set(this.rules.map((r) => r.rule.id));
    const ids: string[] = [];
    const rts: RuleRt[] = [];
    for (const r of rules) {
      let id = r.id;
      if (/^rule-\d+$/.test(id)) id = `rule-${this.ruleSeq + rts.length}`;
      if (have.has(id)) throw new Error(`a rule with id '${id}' is already installed (fault-clear it first)`);
      have.add(id);
      const rule: ValidRule = { ...r, id };
      rts.push(new RuleRt(rule, ruleSeed(this.seed, this.ruleSeq + rts.length), this.t0));
      ids.push(id);
    }
    this.ruleSeq += rts.length;
    this.rules.push(...rts);
    this.rebuild();
    for (const rt of rts) this.log.info({ rule: rt.rule.id, on: rt.rule.on, action: rt.rule.action, trigger: rt.rule.trigger }, 'fault rule installed');
    return ids;
  }

  /** Remove one rule by id, or all rules. Returns the number removed. */
  clear(id?: string): number {
    const before = this.rules.length;
    this.rules = id === undefined ? [] : this.rules.filter((r) => r.rule.id !== id);
    const n = before - this.rules.length;
    if (id === undefined) {
      this.marks.clear();
      this.dropIrq.clear();
      this.stallUntil.clear();
      this.readyStuck = false;
      this.readyAt = 0;
      this.failEnable = false;
      this.shstAt = 0;
    }
    this.rebuild();
    return n;
  }

  /** The daemon removed or re-added the device (control events): a removal fault only fires while it is present. */
  setRemoved(removed: boolean): void {
    this.removed = removed;
    this.bmeSeen = false; // a re-plugged device starts with bus mastering off and no host
    if (!removed && this.replugTimer !== undefined) {
      clearTimeout(this.replugTimer); // plugged back in by hand: the pending re-plug is moot
      this.replugTimer = undefined;
    }
  }

  /** A timer tick has seen bus mastering on since the last removal (bus-master-off rules wait for it to go off). */
  get busMasterSeen(): boolean {
    return this.bmeSeen;
  }

  /** Stop timers (daemon shutdown). */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.replugTimer !== undefined) clearTimeout(this.replugTimer);
  }

  /** Rules with their counters. */
  list(): { id: string; on: string; match: unknown; trigger: unknown; action: unknown; counters: RuleCounters }[] {
    return this.rules.map((r) => ({ id: r.rule.id, on: r.rule.on, match: r.rule.match, trigger: r.rule.trigger, action: r.rule.action, counters: { ...r.c } }));
  }

  /** The query-device 'faults' section. */
  report(): { seed: number; commands: number; injected: number; rules: RuleCounters[] } {
    return { seed: this.seed, commands: this.commands, injected: this.injected, rules: this.rules.map((r) => ({ ...r.c })) };
  }

  // ---- hook table ------------------------------------------------------------

  private rebuild(): void {
    this.cmdRules = this.rules.filter((r) => r.rule.on === 'command');
    this.enableRules = this.rules.filter((r) => r.rule.on === 'enable');
    this.shutdownRules = this.rules.filter((r) => r.rule.on === 'shutdown');
    this.timerRules = this.rules.filter((r) => r.rule.on === 'timer');
    this.doorbellRules = this.rules.filter((r) => r.rule.on === 'doorbell');
    const h: NvmeFaultHooks = {};
    if (this.cmdRules.length > 0) {
      h.beforeExecute = (qid, sqe) => this.beforeExecute(qid, sqe);
      const marking = this.cmdRules.some((r) => COMMAND_ACTIONS.has(r.rule.action.type) && r.rule.action.type !== 'delay' && r.rule.action.type !== 'stall-queue');
      if (marking) h.cqePost = (qid, cid, st) => this.cqePost(qid, cid, st);
      if (this.cmdRules.some((r) => r.rule.action.type === 'corrupt-cqe')) {
        h.cqeFields = (qid, f, extra) => this.cqeFields(qid, f, extra);
      }
      if (this.cmdRules.some((r) => r.rule.action.type === 'drop-interrupt')) h.interrupt = (v) => this.interrupt(v);
      if (this.cmdRules.some((r) => r.rule.action.type === 'bit-flip' && r.rule.action.where === 'transfer')) {
        h.dataDma = (qid, dir, addr, data, sqe) => this.dataDma(qid, dir, addr, data, sqe);
      }
    }
    if (this.doorbellRules.length > 0) h.doorbell = (kind, qid) => this.doorbell(kind, qid);
    if (this.enableRules.length > 0 || this.shutdownRules.length > 0) {
      h.registerAccess = (kind, off, value) => this.registerAccess(kind, off, value);
      h.enableOrShutdown = (what) => (what === 'enable' && this.failEnable ? 'fail' : undefined);
    }
    this.hooks = Object.keys(h).length === 0 ? NO_FAULTS : h;
    this.ctrl.faults = this.hooks;
    if (this.timerRules.length > 0 && this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref();
    } else if (this.timerRules.length === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  // ---- accounting --------------------------------------------------------------

  private injectedBy(rt: RuleRt, detail: Record<string, QmpValue | undefined>): void {
    rt.c.injected++;
    this.injected++;
    this.log.info({ rule: rt.rule.id, action: rt.rule.action.type, ...detail }, `fault injected: ${rt.rule.action.type}`);
    this.env.emit?.('FAULT_INJECTED', { rule: rt.rule.id, action: rt.rule.action.type, ...detail });
  }

  private unsupported(rt: RuleRt, why: string): void {
    rt.c.unsupported++;
    this.log.warn({ rule: rt.rule.id, action: rt.rule.action.type }, `fault not injected: ${why}`);
  }

  // ---- command hook --------------------------------------------------------------

  private matches(m: CompiledMatch, qid: number, sqe: Readonly<Sqe>, seq: number): boolean {
    if (m.admin !== undefined && m.admin !== (qid === 0)) return false;
    if (m.qids !== undefined && !m.qids.has(qid)) return false;
    if (m.opcodes !== undefined && !m.opcodes.has(sqe.opc)) return false;
    if (seq < m.cmdFrom || seq > m.cmdTo) return false;
    if (m.nsid !== undefined && sqe.nsid !== m.nsid) return false;
    if (m.hasLba) {
      if (qid === 0 || !LBA_OPCODES.has(sqe.opc)) return false;
      const slba = sqeSlba(sqe);
      if (slba + sqeNlb(sqe) <= m.lbaFirst || slba >= m.lbaEnd) return false;
    }
    return true;
  }

  private beforeExecute(qid: number, sqe: Readonly<Sqe>): number | 'drop' | { delayMs: number } | undefined {
    const seq = ++this.commands;
    const now = performance.now();
    if (this.stallUntil.size > 0) {
      const until = this.stallUntil.get(qid);
      if (until !== undefined) {
        if (until > now) return { delayMs: until - now };
        this.stallUntil.delete(qid);
      }
    }
    for (const rt of this.cmdRules) {
      if (!this.matches(rt.m, qid, sqe, seq)) continue;
      const a = rt.rule.action;
      if (!this.kindApplies(a, qid, sqe)) continue;
      rt.c.matches++;
      // A grown defect fails every matching command without asking the trigger.
      const fire = rt.grown || rt.trig.consider(now);
      if (!fire) continue;
      const r = this.commandAction(rt, a, qid, sqe, now);
      if (r !== undefined) return r;
    }
    return undefined;
  }

  /** Actions restricted to a kind of command (reads for read errors, writes for torn writes, …). */
  private kindApplies(a: Action, qid: number, sqe: Readonly<Sqe>): boolean {
    switch (a.type) {
      case 'media-error':
        return qid !== 0 && (a.kind === 'read' ? READ_OPCODES : WRITE_OPCODES).has(sqe.opc);
      case 'bit-flip':
        return qid !== 0 && sqe.opc === NVM.READ;
      case 'torn-write':
        return qid !== 0 && sqe.opc === NVM.WRITE;
      default:
        return true;
    }
  }

  private cqidOf(qid: number): number {
    return this.ctrl.sqs[qid]?.cq.qid ?? qid;
  }

  private mark(rt: RuleRt, qid: number, cid: number, m: Omit<Mark, 'rt' | 'epoch'>): void {
    this.marks.set(markKey(this.cqidOf(qid), cid), { rt, epoch: this.ctrl.epoch, ...m });
  }

  private commandAction(rt: RuleRt, a: Action, qid: number, sqe: Readonly<Sqe>, now: number): number | 'drop' | { delayMs: number } | undefined {
    const where = { qid, cid: sqe.cid, opcode: sqe.opc };
    switch (a.type) {
      case 'status': {
        let st = mkStatus(a.sct, a.sc);
        if (a.dnr === true) st |= STATUS_DNR;
        if (a.more === true) st |= STATUS_MORE;
        if (a.crd !== undefined) st |= a.crd << STATUS_CRD_SHIFT;
        this.injectedBy(rt, { ...where, status: st });
        if (a.when === 'after') {
          this.mark(rt, qid, sqe.cid, { kind: 'status', status: st });
          return undefined;
        }
        return st;
      }
      case 'delay': {
        const ms = drawDelay(a.delay, rt.rng);
        this.injectedBy(rt, { ...where, delayMs: Math.round(ms * 1000) / 1000 });
        return { delayMs: ms };
      }
      case 'stall-queue': {
        const until = now + a.ms;
        this.stallUntil.set(qid, until);
        this.injectedBy(rt, { ...where, ms: a.ms });
        return { delayMs: a.ms };
      }
      case 'drop-completion':
        this.injectedBy(rt, { ...where, stage: a.stage ?? 'before' });
        if ((a.stage ?? 'before') === 'before') {
          markCommandLost(sqe); // a Delete SQ aborts it (§5.6) instead of waiting for it forever
          return 'drop';
        }
        this.mark(rt, qid, sqe.cid, { kind: 'drop' });
        return undefined;
      case 'drop-interrupt':
        this.mark(rt, qid, sqe.cid, { kind: 'drop-irq' });
        return undefined; // counted when the interrupt is actually swallowed
      case 'corrupt-cqe':
        this.mark(rt, qid, sqe.cid, { kind: 'corrupt', variant: a.variant });
        return undefined; // counted when the CQE is rewritten
      case 'media-error':
        return this.mediaError(rt, a, qid, sqe);
      case 'bit-flip':
        if ((a.where ?? 'media') === 'transfer') {
          this.mark(rt, qid, sqe.cid, { kind: 'flip', bits: a.bits ?? 1 });
          return undefined;
        }
        this.flipOnMedia(rt, sqe, a.bits ?? 1, where);
        return undefined;
      case 'torn-write':
        this.prepareTorn(rt, a, qid, sqe);
        return undefined;
      default:
        // Device-wide actions fired by a command: the command itself is lost with the device.
        this.deviceAction(rt, a, where);
        return a.type === 'power-loss' || a.type === 'surprise-removal' ? 'drop' : undefined;
    }
  }

  /** The part of the command's LBA range inside the rule's range. */
  private overlap(rt: RuleRt, sqe: Readonly<Sqe>): { first: number; count: number } {
    const slba = sqeSlba(sqe);
    const first = Math.max(slba, rt.m.lbaFirst);
    const end = Math.min(slba + sqeNlb(sqe), rt.m.lbaEnd);
    return { first, count: Math.max(0, end - first) };
  }

  private mediaError(rt: RuleRt, a: Extract<Action, { type: 'media-error' }>, qid: number, sqe: Readonly<Sqe>): number | undefined {
    const persist = a.persist ?? 'transient';
    const where = { qid, cid: sqe.cid, opcode: sqe.opc, slba: sqeSlba(sqe), nlb: sqeNlb(sqe) };
    if (a.kind === 'write') {
      if (persist === 'always') rt.grown = true;
      this.injectedBy(rt, { ...where, persist });
      this.ctrl.stats.mediaErrors++;
      return S.WRITE_FAULT;
    }
    if (persist === 'until-rewritten') {
      // NVMe 1.4 §6.16 semantics: the blocks read as Unrecovered Read Error until written again; the controller answers.
      const ns = this.ctrl.namespaces.get(sqe.nsid);
      const o = this.overlap(rt, sqe);
      if (ns === undefined || o.count === 0) return undefined;
      ns.data.markUncorrectable(o.first, o.count);
      this.injectedBy(rt, { ...where, persist, marked: o.count });
      return undefined;
    }
    if (persist === 'always') rt.grown = true;
    this.injectedBy(rt, { ...where, persist });
    this.ctrl.stats.mediaErrors++;
    return S.UNRECOVERED_READ_ERROR;
  }

  /** Silent corruption at rest: flip bits in one block of the read's range on the media, then let the read run. */
  private flipOnMedia(rt: RuleRt, sqe: Readonly<Sqe>, bits: number, where: Record<string, QmpValue>): void {
    const ns = this.ctrl.namespaces.get(sqe.nsid);
    const o = this.overlap(rt, sqe);
    if (ns === undefined || o.count === 0) return;
    const lba = o.first + rt.rng.int(o.count);
    if (lba >= ns.data.nsze) return;
    const bs = ns.data.blockSize;
    const blk = new Uint8Array(bs);
    try {
      ns.data.read(lba, 1, blk);
    } catch {
      return; // an uncorrectable block already fails the read
    }
    for (let i = 0; i < bits; i++) {
      const bit = rt.rng.int(bs * 8);
      blk[bit >> 3] = (blk[bit >> 3] ?? 0) ^ (1 << (bit & 7));
    }
    ns.data.write(lba, 1, blk);
    this.injectedBy(rt, { ...where, lba, bits });
  }

  private prepareTorn(rt: RuleRt, a: Extract<Action, { type: 'torn-write' }>, qid: number, sqe: Readonly<Sqe>): void {
    const ns = this.ctrl.namespaces.get(sqe.nsid);
    const slba = sqeSlba(sqe);
    const nlb = sqeNlb(sqe);
    if (ns === undefined || slba + nlb > ns.data.nsze) return;
    const keep = Math.min(nlb, a.keepBlocks ?? Math.floor(nlb / 2));
    // Snapshot what the media holds now, so the un-kept tail can revert.
    const old = new Uint8Array(nlb * ns.data.blockSize);
    try {
      ns.data.read(slba, nlb, old);
    } catch {
      return;
    }
    this.mark(rt, qid, sqe.cid, { kind: 'torn', torn: { nsid: sqe.nsid, slba, nlb, keep, old, then: a.then ?? 'drop', replugAfterMs: a.replugAfterMs } });
  }

  // ---- completion-side hooks ---------------------------------------------------

  private cqePost(cqid: number, cid: number, status: number): number | 'drop' | 'fail' | undefined {
    if (this.marks.size === 0) return undefined;
    const key = markKey(cqid, cid);
    const m = this.marks.get(key);
    if (m === undefined) return undefined;
    this.marks.delete(key);
    if (m.epoch !== this.ctrl.epoch) return undefined;
    switch (m.kind) {
      case 'status':
        return m.status;
      case 'drop':
        return 'drop';
      case 'drop-irq': {
        const cq = this.ctrl.cqs[cqid];
        if (cq === undefined || !cq.ien) return undefined; // polled CQ: no interrupt to lose
        const q = this.dropIrq.get(cq.iv);
        if (q === undefined) this.dropIrq.set(cq.iv, [m.rt]);
        else q.push(m.rt);
        return undefined;
      }
      case 'corrupt': {
        // Still pending from the previous post: the controller never called cqeFields (it lacks the hook).
        const stale = this.pendingCorrupt;
        if (stale !== undefined) this.unsupported(stale.rt, 'the controller has no cqeFields hook');
        if (m.variant !== undefined) this.pendingCorrupt = { variant: m.variant, rt: m.rt };
        return undefined;
      }
      case 'flip':
        // dataDma consumes this mark during the transfer; still here = nothing was transferred to the host.
        return undefined;
      case 'torn':
        return this.tear(m, cqid, cid, status);
    }
  }

  private tear(m: Mark, cqid: number, cid: number, status: number): number | 'drop' | undefined {
    const t = m.torn;
    if (t === undefined) return undefined;
    const ns = this.ctrl.namespaces.get(t.nsid);
    if (ns === undefined || (status & 0x7ff) !== 0) return undefined; // the write failed anyway
    const bs = ns.data.blockSize;
    const tail = t.nlb - t.keep;
    if (t.then === 'power-loss') {
      // The kept head reached the media; everything still volatile (including the tail) is about to vanish.
      if (t.keep > 0) {
        const head = new Uint8Array(t.keep * bs);
        ns.data.read(t.slba, t.keep, head);
        ns.data.store.write(t.slba * bs, head);
      }
    }
    if (tail > 0) {
      if (t.then === 'power-loss') ns.data.store.write((t.slba + t.keep) * bs, t.old.subarray(t.keep * bs));
      ns.data.write(t.slba + t.keep, tail, t.old.subarray(t.keep * bs));
    }
    this.injectedBy(m.rt, { cqid, cid, slba: t.slba, nlb: t.nlb, kept: t.keep, then: t.then });
    if (t.then === 'error') {
      this.ctrl.stats.mediaErrors++;
      return S.WRITE_FAULT;
    }
    if (t.then === 'power-loss') setImmediate(() => this.powerLoss(m.rt, t.replugAfterMs));
    return 'drop';
  }

  /**
   * Lying completions (NVMe 1.4 §4.6, Figure 121: CID, SQHD, SQID, phase tag P).
   * A host must match CQEs to requests by CID and reject ids it does not own
   * (Linux: "invalid id N completed on queue Q"); a stale phase means "not yet posted".
   */
  private cqeFields(cqid: number, f: CqeFieldsLike, extra: boolean): boolean {
    const pc = this.pendingCorrupt;
    if (pc === undefined) {
      this.lastCid.set(cqid, f.cid);
      return false;
    }
    if (extra) {
      this.pendingCorrupt = undefined;
      if (pc.variant === 'phantom') f.cid = 0x0ffe; // a tag no queue hands out, generation 0
      return false;
    }
    const where = { cqid, cid: f.cid, variant: pc.variant };
    let more = false;
    switch (pc.variant) {
      case 'wrong-cid':
        f.cid = (f.cid ^ 0x8000) & 0xffff; // other generation bits (Linux's genctr lives in 15:12)
        break;
      case 'stale-cid': {
        const last = this.lastCid.get(cqid);
        f.cid = last !== undefined && last !== f.cid ? last : (f.cid ^ 0x8000) & 0xffff;
        break;
      }
      case 'duplicate-cid':
      case 'phantom':
        more = true;
        break;
      case 'wrong-phase':
        f.phase ^= 1;
        break;
      case 'wrong-sq-head':
        f.sqhd = (f.sqhd ^ 0x8000) & 0xffff;
        break;
      case 'wrong-sq-id':
        f.sqid = (f.sqid + 0x100) & 0xffff;
        break;
    }
    if (!more) this.pendingCorrupt = undefined;
    this.lastCid.set(cqid, f.cid);
    this.injectedBy(pc.rt, { ...where, newCid: f.cid });
    return more;
  }

  private interrupt(vector: number): 'drop' | undefined {
    if (this.dropIrq.size === 0) return undefined;
    const q = this.dropIrq.get(vector);
    const rt = q?.shift();
    if (q === undefined || rt === undefined) return undefined;
    if (q.length === 0) this.dropIrq.delete(vector);
    this.injectedBy(rt, { vector });
    return 'drop';
  }

  private dataDma(qid: number, dir: 'to-host' | 'from-host', _addr: number, data: Uint8Array, sqe: Readonly<Sqe> | undefined): 'fail' | undefined {
    if (dir !== 'to-host' || sqe === undefined || this.marks.size === 0) return undefined;
    const key = markKey(this.cqidOf(qid), sqe.cid);
    const m = this.marks.get(key);
    if (m === undefined || m.kind !== 'flip') return undefined;
    this.marks.delete(key);
    const bits = m.bits ?? 1;
    for (let i = 0; i < bits; i++) {
      const bit = m.rt.rng.int(data.length * 8);
      data[bit >> 3] = (data[bit >> 3] ?? 0) ^ (1 << (bit & 7));
    }
    this.injectedBy(m.rt, { qid, cid: sqe.cid, bits, where: 'transfer' });
    return undefined;
  }

  // ---- enable / shutdown -----------------------------------------------------------

  private registerAccess(kind: RegAccessKind, off: number, value: number): number | 'drop' | undefined {
    if (off === REG.CC && kind === 'write') {
      const oldEn = getField(this.ctrl.cc, CC.EN);
      const newEn = getField(value >>> 0, CC.EN);
      const oldShn = getField(this.ctrl.cc, CC.SHN);
      const newShn = getField(value >>> 0, CC.SHN);
      if (oldEn === 0 && newEn === 1) this.onEnable();
      else if (oldEn === 1 && newEn === 0) {
        this.readyStuck = false;
        this.readyAt = 0;
        this.shstAt = 0;
      }
      if (oldShn === 0 && newShn !== 0) this.onShutdown();
      return undefined;
    }
    if (off === REG.CSTS && kind === 'read') {
      let v = value;
      const now = performance.now();
      if (this.readyStuck || now < this.readyAt) v = setField(v, CSTS.RDY, 0);
      if (now < this.shstAt && getField(v, CSTS.SHST) === CSTS_SHST_COMPLETE) v = setField(v, CSTS.SHST, CSTS_SHST_OCCURRING);
      return v === value ? undefined : v;
    }
    return undefined;
  }

  private onEnable(): void {
    this.readyStuck = false;
    this.readyAt = 0;
    this.failEnable = false;
    this.marks.clear();
    this.dropIrq.clear();
    this.stallUntil.clear();
    const now = performance.now();
    for (const rt of this.enableRules) {
      rt.c.matches++;
      if (!rt.trig.consider(now)) continue;
      const a = rt.rule.action;
      switch (a.type) {
        case 'ready-stuck':
          this.readyStuck = true;
          this.injectedBy(rt, {});
          break;
        case 'slow-enable':
          this.readyAt = Math.max(this.readyAt, now + a.ms);
          this.injectedBy(rt, { ms: a.ms });
          break;
        case 'fatal':
          this.failEnable = true;
          this.injectedBy(rt, {});
          break;
        default:
          this.deviceAction(rt, a, {});
      }
    }
  }

  private onShutdown(): void {
    const now = performance.now();
    for (const rt of this.shutdownRules) {
      rt.c.matches++;
      if (!rt.trig.consider(now)) continue;
      const a = rt.rule.action;
      if (a.type === 'slow-shutdown') {
        this.shstAt = a.ms === undefined ? Number.POSITIVE_INFINITY : now + a.ms;
        this.injectedBy(rt, { ms: a.ms });
      } else this.deviceAction(rt, a, {});
    }
  }

  // ---- doorbells ----------------------------------------------------------------------

  private doorbell(kind: 'sq' | 'cq', qid: number): 'drop' | undefined {
    const now = performance.now();
    let drop = false;
    for (const rt of this.doorbellRules) {
      const a = rt.rule.action;
      if (a.type === 'drop-doorbell' && ((a.kind !== undefined && a.kind !== kind) || (a.qid !== undefined && a.qid !== qid))) continue;
      rt.c.matches++;
      if (!rt.trig.consider(now)) continue;
      if (a.type === 'drop-doorbell') {
        drop = true;
        this.injectedBy(rt, { kind, qid });
      } else this.deviceAction(rt, a, { kind, qid });
    }
    return drop ? 'drop' : undefined;
  }

  // ---- timer ------------------------------------------------------------------------

  /** Bus mastering was seen on (a host attached) and is off now. */
  private busMasterTurnedOff(): boolean {
    if (this.ctrl.ctx.busMaster) {
      this.bmeSeen = true;
      return false;
    }
    return this.bmeSeen;
  }

  private tick(): void {
    const now = performance.now();
    for (const rt of this.timerRules) {
      const a = rt.rule.action;
      // A DMA "with bus mastering off" only means something once a host turned it on and then off
      // again (before a host attaches it is off too, and the DMA would reach nobody): wait for that.
      if (a.type === 'hostile-dma' && a.kind === 'bus-master-off' && !this.busMasterTurnedOff()) continue;
      rt.c.matches++;
      if (!rt.trig.consider(now)) continue;
      this.deviceAction(rt, rt.rule.action, {});
    }
  }

  // ---- device-wide actions ------------------------------------------------------------

  private deviceAction(rt: RuleRt, a: Action, where: Record<string, QmpValue>): void {
    switch (a.type) {
      case 'fatal':
        this.injectedBy(rt, where);
        this.ctrl.fatal(`fault injected (rule ${rt.rule.id})`);
        return;
      case 'power-loss':
        // Deferred: the controller must not be reset from inside its own command loop.
        setImmediate(() => this.powerLoss(rt, a.replugAfterMs));
        return;
      case 'surprise-removal':
        setImmediate(() => this.removal(rt, a.replugAfterMs, 'surprise removal', where));
        return;
      case 'hostile-dma':
        this.hostileDma(rt, a);
        return;
      case 'irq-storm':
        this.irqStorm(rt, a);
        return;
      default:
        this.unsupported(rt, `'${a.type}' cannot run on the '${rt.rule.on}' hook`);
    }
  }

  /** Power loss (NVMe 1.4 §5.21.1.6): what the volatile write cache held is gone; then the device drops off the link. */
  private powerLoss(rt: RuleRt, replugAfterMs: number | undefined): void {
    if (this.removed) return;
    let lost = 0;
    for (const ns of this.ctrl.namespaces.values()) lost += ns.data.dropVolatile();
    this.log.warn({ rule: rt.rule.id, pagesLost: lost }, 'power loss: unflushed write cache dropped');
    this.removal(rt, replugAfterMs, 'power loss', { pagesLost: lost });
  }

  private removal(rt: RuleRt, replugAfterMs: number | undefined, why: string, where: Record<string, QmpValue>): void {
    if (this.removed) return;
    const remove = this.env.removeDevice;
    if (remove === undefined) {
      // No server (unit tests): still a power cycle for the controller.
      this.ctrl.resetController(why);
      this.ctrl.cc = 0;
      this.injectedBy(rt, { ...where, removed: false });
      return;
    }
    this.removed = true;
    this.bmeSeen = false;
    this.injectedBy(rt, { ...where, removed: true, replugAfterMs });
    remove(`${why} (fault rule ${rt.rule.id})`);
    if (replugAfterMs === undefined) return;
    this.replugTimer = setTimeout(() => {
      this.replugTimer = undefined;
      this.removed = false;
      this.log.info({ rule: rt.rule.id }, 're-plugging the device');
      this.env.addDevice?.();
    }, replugAfterMs);
    this.replugTimer.unref();
  }

  private unchecked(): UncheckedDma | undefined {
    const u = (this.ctrl.ctx as unknown as { unchecked?: UncheckedDma }).unchecked;
    return u !== undefined && typeof u.dmaWrite === 'function' && typeof u.dmaRead === 'function' && typeof u.irq === 'function' ? u : undefined;
  }

  /** An address no host window covers: just past the highest window (or 1 GiB when there are none). */
  private outsideWindows(len: number): number {
    let end = 0;
    for (const w of this.ctrl.ctx.windows.list()) end = Math.max(end, w.iova + w.len);
    const a = end === 0 ? 0x4000_0000 : end + 0x10_0000;
    return a + len <= Number.MAX_SAFE_INTEGER ? a : 0;
  }

  private hostileDma(rt: RuleRt, a: Extract<Action, { type: 'hostile-dma' }>): void {
    const u = this.unchecked();
    if (u === undefined) return this.unsupported(rt, 'DeviceContext.unchecked is not available in this build');
    const len = a.len ?? 4096;
    switch (a.kind) {
      case 'write-outside': {
        const addr = a.addr ?? this.outsideWindows(len);
        u.dmaWrite(addr, new Uint8Array(len).fill(0xa5));
        this.injectedBy(rt, { kind: a.kind, addr, len });
        return;
      }
      case 'read-outside': {
        const addr = a.addr ?? this.outsideWindows(len);
        u.dmaRead(addr, len, (err) => this.log.info({ rule: rt.rule.id, addr, refused: err?.message ?? null }, 'hostile read answered'));
        this.injectedBy(rt, { kind: a.kind, addr, len });
        return;
      }
      case 'bus-master-off': {
        if (!this.busMasterTurnedOff()) return; // only hostile once the host turned bus mastering off; not a firing
        const w = this.ctrl.ctx.windows.list()[0];
        const addr = a.addr ?? w?.iova ?? this.outsideWindows(len);
        u.dmaWrite(addr, new Uint8Array(Math.min(len, w?.len ?? len)).fill(0x5a));
        this.injectedBy(rt, { kind: a.kind, addr, len });
        return;
      }
    }
  }

  /**
   * Spurious MSI-X messages (PCI 3.0 §6.8): on the I/O CQs' vectors with no new
   * CQE behind them, or on vectors no CQ uses (raw, past the library's mask
   * checks, when the escape hatch exists).
   */
  private irqStorm(rt: RuleRt, a: Extract<Action, { type: 'irq-storm' }>): void {
    const ctx = this.ctrl.ctx;
    const nvec = this.ctrl.msix.vectors;
    const used = new Set<number>();
    for (const cq of this.ctrl.cqs) if (cq !== undefined && cq.ien) used.add(cq.iv);
    let vectors: number[];
    if (Array.isArray(a.vectors)) vectors = a.vectors.filter((v) => v < nvec);
    else if (a.vectors === 'unused') vectors = Array.from({ length: nvec }, (_, i) => i).filter((v) => !used.has(v));
    else vectors = [...used].filter((v) => v !== 0 || used.size === 1);
    if (vectors.length === 0) return; // nothing to storm yet (no I/O queues)
    const count = a.count ?? 64;
    const u = a.vectors === 'unused' ? this.unchecked() : undefined;
    for (let i = 0; i < count; i++) {
      const v = vectors[i % vectors.length] ?? 0;
      // Unused vectors go out raw when the escape hatch exists (the library would hold them pending).
      if (u !== undefined) u.irq(v);
      else ctx.raiseIrq(v);
    }
    ctx.flush();
    this.injectedBy(rt, { vectors: vectors.slice(0, 16), count, raw: u !== undefined });
  }
}
