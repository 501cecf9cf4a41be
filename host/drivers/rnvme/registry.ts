// Host-wide controller registry: nvme0, nvme1, … (lowest free instance, like
// Linux's nvme_instance_ida).
import type { NvmeController } from './controller.ts';

const controllers = new Map<number, NvmeController>();

export function allocInstance(): number {
  let i = 0;
  while (controllers.has(i)) i++;
  return i;
}
export function registerController(c: NvmeController): void { controllers.set(c.instance, c); }
export function unregisterController(c: NvmeController): void {
  if (controllers.get(c.instance) === c) controllers.delete(c.instance);
}
/** Every controller not yet removed, by instance. */
export function listControllers(): NvmeController[] {
  return [...controllers.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
}
/** Look a controller up by name ('nvme0'). */
export function getController(name: string): NvmeController | undefined {
  const m = /^nvme(\d+)$/.exec(name);
  return m === null ? undefined : controllers.get(Number(m[1]));
}
