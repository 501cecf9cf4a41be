// PCI configuration-space layout used by the device library. The register
// offsets and bits are the spec's (src/spec/pci.ts, shared with the host);
// what is this library's own choice is where it places its capabilities.
export {
  BAR, CAP_ID, CAP_MIN_OFFSET, CFG, COMMAND, CONFIG_SPACE_SIZE, EXT_CONFIG_START, MSIX, PCIE, PM, STATUS,
} from '../../src/spec/pci.ts';

/** Where this library places its capabilities (a fixed, documented chain: 0x40 → 0x50 → 0x60). */
export const CAP_OFFSET = {
  PM: 0x40,
  MSIX: 0x50,
  PCIE: 0x60,
} as const;
