// The FioHost for this process's block layer: jobs open disks registered with
// host/block (rnull, rnvme, …) by name; "Disk stats" come from GenDisk.stat().
import { getDisk, openDisk } from '../../block/index.ts';
import type { FioHost } from './types.ts';

export function blockLayerHost(): FioHost {
  return {
    open: (name) => openDisk(name),
    stat: (name) => getDisk(name)?.stat(),
    cpus: (name) => getDisk(name)?.tagSet.nrCpus ?? 1,
  };
}
