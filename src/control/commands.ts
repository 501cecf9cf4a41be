// Control-channel command table (QMP-style, PROTOCOL.md "Control channel"),
// shared by the device daemon and the host daemon (both speak QMP). The
// device daemon registers its built-in commands here; models and fixtures add
// their own (the fault engine adds `fault-inject`, `fault-list`,
// `fault-clear`). A command that is not registered answers CommandNotFound.
// Code inside the daemon may also run commands directly, e.g. a fixture doing
// surprise removal: `await control.run('device-remove', { reason: 'fixture' })`
// and later `control.run('device-add', {})`.

/** QMP error classes (QEMU's qapi/error.json names). */
export type QmpErrorClass = 'GenericError' | 'CommandNotFound' | 'DeviceNotActive' | 'DeviceNotFound';

/** Throw this from a handler to answer `{"error": {"class", "desc"}}`. Any other throw becomes GenericError. */
export class QmpError extends Error {
  override readonly name = 'QmpError';
  constructor(
    readonly errorClass: QmpErrorClass,
    desc: string,
  ) {
    super(desc);
  }
}

/** JSON-safe value a command returns. */
export type QmpValue = null | boolean | number | string | QmpValue[] | { [k: string]: QmpValue | undefined };

/** `arguments` of an `execute` (always an object; `{}` when absent). */
export type QmpArgs = Readonly<Record<string, unknown>>;

export type CommandHandler = (args: QmpArgs) => QmpValue | Promise<QmpValue>;

export interface CommandInfo {
  readonly name: string;
  /** One line shown by `query-commands`. */
  readonly description: string;
}

export type EventListener = (event: string, data: Record<string, QmpValue | undefined>) => void;

/** The table of control commands and the event fan-out. One per daemon. */
export class ControlRegistry {
  private readonly commands = new Map<string, { info: CommandInfo; handler: CommandHandler }>();
  private readonly listeners = new Set<EventListener>();
  private readonly infoProviders = new Map<string, () => QmpValue>();

  /** Add a command. Throws when the name is taken (a programming error, caught at start-up). */
  register(name: string, description: string, handler: CommandHandler): void {
    if (!/^[a-z][a-z0-9_-]*$/.test(name)) throw new Error(`control command name '${name}' is not lower-case-with-dashes`);
    if (this.commands.has(name)) throw new Error(`control command '${name}' is already registered`);
    this.commands.set(name, { info: { name, description }, handler });
  }

  /** Remove a command (returns whether it existed). */
  unregister(name: string): boolean {
    return this.commands.delete(name);
  }

  has(name: string): boolean {
    return this.commands.has(name);
  }

  list(): CommandInfo[] {
    return [...this.commands.values()].map((c) => c.info).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Run a command; rejects with QmpError (CommandNotFound for an unknown name). */
  async run(name: string, args: QmpArgs): Promise<QmpValue> {
    const c = this.commands.get(name);
    if (c === undefined) throw new QmpError('CommandNotFound', `The command ${name} has not been found`);
    return c.handler(args);
  }

  /**
   * Add a section to `query-device` (e.g. the fault engine's counters under
   * 'faults'). Throws when the key is taken.
   */
  provideInfo(key: string, provider: () => QmpValue): void {
    if (this.infoProviders.has(key)) throw new Error(`query-device section '${key}' is already provided`);
    this.infoProviders.set(key, provider);
  }

  /** The extra query-device sections (a provider that throws reports its error text). */
  collectInfo(): Record<string, QmpValue> {
    const out: Record<string, QmpValue> = {};
    for (const [k, p] of this.infoProviders) {
      try {
        out[k] = p();
      } catch (e) {
        out[k] = { error: e instanceof Error ? e.message : String(e) };
      }
    }
    return out;
  }

  /** Broadcast an asynchronous event to every negotiated control client. */
  emit(event: string, data: Record<string, QmpValue | undefined> = {}): void {
    for (const l of this.listeners) {
      try {
        l(event, data);
      } catch {
        // A broken listener must not stop the others.
      }
    }
  }

  /** Subscribe to events; returns the unsubscribe function. */
  onEvent(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

// --- argument helpers for handlers -----------------------------------------

/** A required string argument. */
export function argString(args: QmpArgs, key: string): string {
  const v = args[key];
  if (typeof v !== 'string') throw new QmpError('GenericError', `Parameter '${key}' is missing or not a string`);
  return v;
}

/** An optional integer argument in [min, max]. */
export function argInt(args: QmpArgs, key: string, def: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = args[key];
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new QmpError('GenericError', `Parameter '${key}' expects an integer in [${min}, ${max}]`);
  }
  return v;
}

/** An optional boolean argument. */
export function argBool(args: QmpArgs, key: string, def: boolean): boolean {
  const v = args[key];
  if (v === undefined) return def;
  if (typeof v !== 'boolean') throw new QmpError('GenericError', `Parameter '${key}' expects a boolean`);
  return v;
}
