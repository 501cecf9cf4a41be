// The fault engine's public API (device side).
//
//   attachFaults(ctrl, env)   called by the nvme factory: reads --fixture /
//                             --fault-plan, installs the engine on the
//                             controller, registers the control commands
//                             fault-inject / fault-list / fault-clear and the
//                             query-device 'faults' section.
//   loadFixture(name), loadPlanFile(path), validatePlan(json)
//
// Importing this module registers the daemon flags --fixture NAME and
// --fault-plan FILE (both repeatable; their rules are merged in order).
// Plans: see plan.ts (types + validator) and docs/fixtures.md.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NvmeController } from '../nvme/controller.ts';
import { registerDaemonFlag } from '../options.ts';
import { OptionError, type CreateEnv } from '../registry.ts';
import { argString, QmpError, type ControlRegistry, type QmpArgs, type QmpValue } from '../control/commands.ts';
import { FaultEngine, type FaultEnv } from './engine.ts';
import { parsePlan, PlanError, validatePlan, type ValidPlan, type ValidRule } from './plan.ts';

export { FaultEngine, type FaultEnv, type RuleCounters, type CqeFieldsLike, type UncheckedDma } from './engine.ts';
export { validatePlan, parsePlan, parseKernelSpec, PlanError, CQE_CORRUPTIONS, ACTION_TYPES, TRIGGER_KINDS } from './plan.ts';
export type { FaultPlan, Rule, Match, Trigger, Action, ActionType, Delay, CqeCorruption, RuleHook, ValidPlan, ValidRule, PlanIssue } from './plan.ts';
export { Rng, TriggerState, drawDelay, ruleSeed } from './trigger.ts';

/** fixtures/plans/ in this checkout. */
export const FIXTURE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'plans');

/** Names of the ready-made fixtures (fixtures/plans/*.json; index.json lists them with their descriptions). */
export function listFixtures(): string[] {
  try {
    return readdirSync(FIXTURE_DIR)
      .filter((f) => f.endsWith('.json') && f !== 'index.json')
      .map((f) => f.slice(0, -5))
      .sort();
  } catch {
    return [];
  }
}

/** Load and validate a ready-made fixture by name. Throws PlanError (unknown name or invalid plan). */
export function loadFixture(name: string): ValidPlan {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name) || !listFixtures().includes(name)) {
    throw new PlanError([{ path: '$', problem: `unknown fixture '${name}' (known: ${listFixtures().join(', ')})` }], `--fixture ${name}`);
  }
  return parsePlan(readFileSync(resolve(FIXTURE_DIR, `${name}.json`), 'utf8'), `fixture ${name}`);
}

/** Load and validate a plan file. Throws PlanError (unreadable file or invalid plan). */
export function loadPlanFile(file: string): ValidPlan {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PlanError([{ path: '$', problem: `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}` }], `--fault-plan ${file}`);
  }
  return parsePlan(text, `--fault-plan ${file}`);
}

/** Concatenate plans: the first plan's seed and tick win; rule ids must stay unique. */
export function mergePlans(plans: readonly ValidPlan[]): ValidPlan | undefined {
  const first = plans[0];
  if (first === undefined) return undefined;
  const rules: ValidRule[] = [];
  const seen = new Set<string>();
  plans.forEach((p, pi) => {
    for (const r of p.rules) {
      let id = r.id;
      if (seen.has(id)) id = `${id}.${pi}`;
      seen.add(id);
      rules.push({ ...r, id });
    }
  });
  return { description: plans.map((p) => p.description).filter((d) => d !== '').join(' + '), seed: first.seed, tickMs: first.tickMs, rules };
}

let flagsRegistered = false;
/** Register --fixture / --fault-plan with the daemon's command line (idempotent; done at import). */
export function registerFaultFlags(): void {
  if (flagsRegistered) return;
  flagsRegistered = true;
  registerDaemonFlag({ name: 'fixture', value: 'NAME', repeatable: true, doc: `run a ready-made fault fixture from fixtures/plans/ (${listFixtures().join(', ') || 'none found'})` });
  registerDaemonFlag({ name: 'fault-plan', value: 'FILE', repeatable: true, doc: 'run the fault plan in FILE (JSON; see docs/fixtures.md)' });
}
registerFaultFlags();

/** The plan the daemon flags ask for, or undefined. Throws OptionError (exit 2) with every problem listed. */
export function planFromFlags(flags: ReadonlyMap<string, readonly string[]>): ValidPlan | undefined {
  const plans: ValidPlan[] = [];
  try {
    for (const name of flags.get('fixture') ?? []) plans.push(loadFixture(name));
    for (const file of flags.get('fault-plan') ?? []) plans.push(loadPlanFile(file));
  } catch (e) {
    if (e instanceof PlanError) throw new OptionError(e.message);
    throw e;
  }
  return mergePlans(plans);
}

/**
 * Build the engine for a controller and wire it to the daemon: flags, control
 * commands, query-device section, events, removal through the control table.
 * With no plan the controller keeps NO_FAULTS until fault-inject adds rules.
 */
export function attachFaults(ctrl: NvmeController, env: Pick<CreateEnv, 'log' | 'control' | 'flags'>): FaultEngine {
  const plan = planFromFlags(env.flags);
  const control = env.control;
  const fenv: FaultEnv = {
    log: env.log,
    removeDevice: (reason) => {
      control.run('device-remove', { reason }).catch((e: unknown) => env.log.warn({ err: e }, 'fault engine: device-remove failed'));
    },
    addDevice: () => {
      control.run('device-add', {}).catch((e: unknown) => env.log.warn({ err: e }, 'fault engine: device-add failed'));
    },
    emit: (event, data) => control.emit(event, data),
  };
  const engine = new FaultEngine(ctrl, fenv);
  if (plan !== undefined) {
    engine.load(plan);
    env.log.warn({ rules: plan.rules.length, seed: plan.seed, description: plan.description }, 'fault plan active');
  }
  registerFaultCommands(control, engine);
  control.onEvent((event) => {
    if (event === 'DEVICE_DELETED') engine.setRemoved(true);
    else if (event === 'DEVICE_ADDED') engine.setRemoved(false);
    else if (event === 'SHUTDOWN') engine.close();
  });
  return engine;
}

/** fault-inject / fault-list / fault-clear and query-device's 'faults' section. */
export function registerFaultCommands(control: ControlRegistry, engine: FaultEngine): void {
  control.register(
    'fault-inject',
    'add fault rules: {"rule": {...}} | {"plan": {...}} | {"fixture": NAME}; "replace": true drops the current rules first',
    (args) => {
      const plan = planFromArgs(args);
      const replace = args.replace === true;
      if (args.replace !== undefined && typeof args.replace !== 'boolean') throw new QmpError('GenericError', "Parameter 'replace' expects a boolean");
      try {
        if (replace) {
          engine.load(plan);
          return { rules: plan.rules.map((r) => r.id) };
        }
        return { rules: engine.add(plan.rules) };
      } catch (e) {
        throw new QmpError('GenericError', e instanceof Error ? e.message : String(e));
      }
    },
  );
  control.register('fault-list', 'installed fault rules with their match, trigger, action and counters', () => toQmp(engine.list()));
  control.register('fault-clear', 'remove one fault rule ({"id": ID}) or all of them', (args) => {
    const id = args.id === undefined ? undefined : argString(args, 'id');
    const n = engine.clear(id);
    if (id !== undefined && n === 0) throw new QmpError('GenericError', `no fault rule with id '${id}'`);
    return { cleared: n };
  });
  control.provideInfo('faults', () => toQmp(engine.report()));
}

function planFromArgs(args: QmpArgs): ValidPlan {
  const given = ['rule', 'plan', 'fixture'].filter((k) => args[k] !== undefined);
  if (given.length !== 1) throw new QmpError('GenericError', "fault-inject takes exactly one of 'rule', 'plan' or 'fixture'");
  try {
    if (args.fixture !== undefined) return loadFixture(argString(args, 'fixture'));
    if (args.rule !== undefined) return validatePlan({ rules: [args.rule] }, 'fault-inject rule');
    return validatePlan(args.plan, 'fault-inject plan');
  } catch (e) {
    if (e instanceof PlanError) throw new QmpError('GenericError', e.message);
    throw e;
  }
}

function toQmp(v: unknown): QmpValue {
  return JSON.parse(JSON.stringify(v) ?? 'null') as QmpValue;
}
