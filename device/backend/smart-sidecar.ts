// Persistent SMART counters for a controller whose namespaces are file-backed:
// a small JSON sidecar next to the first backing file. At open, a sidecar that
// still says `running` means the last run ended without a normal shutdown
// (CC.SHN or a clean daemon exit): an unsafe shutdown (NVMe 1.4 §5.14.1.2).
import { readFileSync, writeFileSync, renameSync } from 'node:fs';

export interface PersistedSmart {
  powerCycles: number;
  unsafeShutdowns: number;
  powerOnMs: number;
  dataUnitsRead: number;
  dataUnitsWritten: number;
  hostReadCommands: number;
  hostWriteCommands: number;
  mediaErrors: number;
  running: boolean;
}

export const emptySmart = (): PersistedSmart => ({
  powerCycles: 0, unsafeShutdowns: 0, powerOnMs: 0, dataUnitsRead: 0, dataUnitsWritten: 0,
  hostReadCommands: 0, hostWriteCommands: 0, mediaErrors: 0, running: false,
});

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

export class SmartSidecar {
  constructor(readonly path: string) {}

  /** Load (missing or corrupt file = fresh counters). */
  load(): PersistedSmart {
    try {
      const raw: unknown = JSON.parse(readFileSync(this.path, 'utf8'));
      if (typeof raw !== 'object' || raw === null) return emptySmart();
      const r = raw as Record<string, unknown>;
      return {
        powerCycles: num(r.powerCycles), unsafeShutdowns: num(r.unsafeShutdowns), powerOnMs: num(r.powerOnMs),
        dataUnitsRead: num(r.dataUnitsRead), dataUnitsWritten: num(r.dataUnitsWritten),
        hostReadCommands: num(r.hostReadCommands), hostWriteCommands: num(r.hostWriteCommands),
        mediaErrors: num(r.mediaErrors), running: r.running === true,
      };
    } catch {
      return emptySmart();
    }
  }

  /** Write atomically (temp file + rename). Errors are returned, not thrown. */
  save(s: PersistedSmart): Error | undefined {
    try {
      const tmp = `${this.path}.tmp`;
      writeFileSync(tmp, JSON.stringify(s));
      renameSync(tmp, this.path);
      return undefined;
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  }
}
