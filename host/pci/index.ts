// Host PCI core: the typed API drivers use to reach a PCI function across the
// wire — config space, BARs, MSI-X, and host memory behind an IOMMU.
//
//   const fn = await attachFunction('ws://127.0.0.1:PORT/', { token, log });
//   const regs = fn.bar(0);
//   const cap = await regs.read64(0x00);
//   const asq = fn.memory.allocCoherent(32 * 64);      // ring, mapped rw
//   await fn.enableMsix(4);
//   fn.onIrq(1, (vec) => drainCq(vec));
//   const m = fn.memory.mapStreaming(buf, 'from-device'); // zero copy
//   ... m.iova into a PRP ...; m.unmap();
//   fn.onGone(({ code }) => failEverything());
//   await fn.detach();
//
// Everything raw (message building, offsets, IOMMU windows) lives in this
// directory; see types.ts for the contracts.
export * from './types.ts';
export { PciError, pciError, isPciError, PCI_ERROR_CODES, type PciErrorCode } from './errors.ts';
export { attachFunction, attachTransport } from './function.ts';
export { Iommu, type IommuOptions, type IommuWindow, type SlotGate } from './iommu.ts';
export { IovaAllocator } from './iova.ts';
