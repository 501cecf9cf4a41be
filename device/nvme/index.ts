// Registers `-device nvme` (the PCI function) and `-device nvme-ns` (its
// namespaces) with the daemon's device registry.
import { registerDevice } from '../registry.ts';
import { NVME_OPTIONS, NVME_NS_OPTIONS, configFromOptions } from './options.ts';
import { NvmeController } from './controller.ts';
import { attachFaults } from '../faults/index.ts';
import { registerNsControl } from './ns-control.ts';
import { toQmp } from '../control/builtin.ts';

export { NvmeController } from './controller.ts';
export type { NvmeFaultHooks } from './faults.ts';
export { nvmeConfig, type NvmeConfig, type NsConfig } from './options.ts';

registerDevice({
  kind: 'function',
  name: 'nvme',
  description: 'NVMe 1.4 PCIe controller (QEMU hw/nvme behaviour); default: one 1 GiB RAM namespace, 4 KiB blocks',
  options: NVME_OPTIONS,
  children: ['nvme-ns'],
  create: (options, children, env) => {
    const ctrl = new NvmeController(configFromOptions(options, children), env.log);
    // Fault engine: --fixture / --fault-plan, and the fault-* control commands (NO_FAULTS when unused).
    attachFaults(ctrl, env);
    registerNsControl(ctrl, env.control); // ns-add / ns-remove (namespace attach/detach + AEN)
    env.control.provideInfo('nvme', () => toQmp(ctrl.info()));
    return ctrl;
  },
});

registerDevice({
  kind: 'child',
  name: 'nvme-ns',
  parent: 'nvme',
  description: 'NVMe namespace: sparse RAM, or a backing file that keeps its data across restarts',
  options: NVME_NS_OPTIONS,
});
