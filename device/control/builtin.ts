// The daemon's built-in control commands (PROTOCOL.md "Control channel").
// Fault commands (fault-inject, fault-list, fault-clear) are registered by
// the fault engine; until then they answer CommandNotFound.
import type { PciFunction } from '../pci/function.ts';
import type { DeviceServer } from '../server/server.ts';
import { argString, QmpError, type ControlRegistry, type QmpValue } from '../../src/control/commands.ts';

export interface BuiltinDeps {
  server: DeviceServer;
  fn: PciFunction;
  /** Device type and its options as given (for query-device). */
  device: { type: string; options: Record<string, unknown>; children: { type: string; options: Record<string, unknown> }[] };
  /** Start a clean shutdown (answer first, then exit 0). */
  quit(reason: string): void;
  startedAt: number;
}

/** JSON-safe copy (bigint → string, undefined dropped). */
export function toQmp(v: unknown): QmpValue {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? 'null') as QmpValue;
}

export function registerBuiltinCommands(reg: ControlRegistry, d: BuiltinDeps): void {
  reg.register('query-commands', 'list the commands this daemon answers', () => [
    { name: 'qmp_capabilities' },
    ...reg.list().map((c) => ({ name: c.name, description: c.description })),
  ]);

  reg.register('query-status', 'daemon state: running | removed | shutting-down, and whether a host is attached', () => {
    const s = d.server.status;
    return {
      status: s.state,
      running: s.state === 'running',
      hostConnected: s.hostConnected,
      hostRemote: s.hostRemote,
      uptimeMs: Date.now() - d.startedAt,
    };
  });

  reg.register('query-device', 'identity, PCI state, DMA windows, MSI-X, counters and model state (namespaces, queues)', () =>
    toQmp({
      ...d.device,
      ...d.fn.describe(),
      status: d.server.status.state,
      server: { ...d.server.counters },
      ...reg.collectInfo(),
    }),
  );

  reg.register('device-remove', 'surprise removal: close the host connection with 4410 and refuse hosts until device-add', (args) => {
    const reason = args.reason === undefined ? 'device-remove' : argString(args, 'reason');
    if (!d.server.remove(reason)) throw new QmpError('DeviceNotActive', 'the device is already removed');
    return {};
  });

  reg.register('device-add', 'plug the device back in after device-remove (a new host connection finds it at power-on state)', () => {
    if (!d.server.add()) throw new QmpError('GenericError', 'the device is not removed');
    return {};
  });

  reg.register('quit', 'shut the daemon down cleanly (models flush their backing stores), exit 0', () => {
    // Answer first; the shutdown starts on a later turn.
    setImmediate(() => d.quit('quit command'));
    return {};
  });
}
