// Registers `-device edu` (the teaching device) with the daemon.
import { registerDevice } from '../registry.ts';
import { EduDevice } from './edu.ts';

export * from './edu.ts';

registerDevice({
  name: 'edu',
  kind: 'function',
  description: "QEMU's educational PCI device (1234:11e8): ID, liveness, factorial, interrupts, a DMA engine with a 4 KiB buffer",
  options: [
    { name: 'dma_bits', type: 'int', default: 53, min: 12, max: 53, doc: 'DMA addresses are masked to this many bits (QEMU edu uses 28; set it to see clamping)' },
    { name: 'vectors', type: 'int', default: 1, min: 1, max: 64, doc: 'MSI-X vectors in the table (all events use vector 0)' },
  ],
  create: (o) => new EduDevice({ dmaBits: o.int('dma_bits'), vectors: o.int('vectors') }),
});
