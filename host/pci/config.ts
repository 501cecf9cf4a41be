// PCI configuration space as the host reads it: header offsets, the
// capability-list walk and capability decoders, BAR sizing arithmetic.
// Pure functions over a config-space snapshot, so they are unit-testable
// without a device. [raw] The register offsets themselves are src/spec/pci.ts.
import type { MsixInfo, PciCapability, PciIds, PcieInfo, PmInfo } from './types.ts';
import { pciError } from './errors.ts';
import { CAP_ID, CAP_MIN_OFFSET, CFG, EXT_CONFIG_START, MSIX, PCIE, PM, STATUS } from '../../src/spec/pci.ts';

/** The standard (non-extended) config space the host walks. */
export const CONFIG_HEADER_BYTES = EXT_CONFIG_START;
/** The MSI address a host programs (x86 LAPIC window); data carries the vector. */
export const MSI_ADDRESS = 0xfee0_0000;

function u8(b: Uint8Array, off: number): number {
  const v = b[off];
  if (v === undefined) throw pciError('bounds', `config offset 0x${off.toString(16)} beyond the snapshot`);
  return v;
}
export function cfgU16(b: Uint8Array, off: number): number {
  return u8(b, off) | (u8(b, off + 1) << 8);
}
export function cfgU32(b: Uint8Array, off: number): number {
  return (cfgU16(b, off) | (cfgU16(b, off + 2) << 16)) >>> 0;
}

/** IDs and class code from the header. */
export function parseIds(b: Uint8Array): PciIds {
  return {
    vendor: cfgU16(b, CFG.VENDOR_ID),
    device: cfgU16(b, CFG.DEVICE_ID),
    subsystemVendor: cfgU16(b, CFG.SUBSYSTEM_VENDOR_ID),
    subsystemDevice: cfgU16(b, CFG.SUBSYSTEM_ID),
    revision: u8(b, CFG.REVISION_ID),
    classCode: u8(b, CFG.CLASS_PROG) | (u8(b, CFG.CLASS_PROG + 1) << 8) | (u8(b, CFG.CLASS_PROG + 2) << 16),
    headerType: u8(b, CFG.HEADER_TYPE),
  };
}

const CAP_NAMES: Record<number, string> = {
  [CAP_ID.PM]: 'pm', [CAP_ID.MSI]: 'msi', [CAP_ID.VENDOR]: 'vendor', [CAP_ID.PCIE]: 'pcie', [CAP_ID.MSIX]: 'msix',
};

/**
 * Walk the capability list (§6.7): start at Capabilities Pointer (bits 1:0
 * reserved, masked off), follow Next pointers. A device cannot trap the host:
 * a pointer into the header (< 0x40), past the snapshot, or a loop ends the
 * walk with an error.
 */
export function walkCapabilities(b: Uint8Array): PciCapability[] {
  if ((cfgU16(b, CFG.STATUS) & STATUS.CAP_LIST) === 0) return [];
  const caps: PciCapability[] = [];
  const seen = new Set<number>();
  let ptr = u8(b, CFG.CAPABILITIES_PTR) & 0xfc;
  while (ptr !== 0) {
    if (ptr < CAP_MIN_OFFSET || ptr + 2 > b.length) throw pciError('config', `capability pointer 0x${ptr.toString(16)} out of range`);
    if (seen.has(ptr)) throw pciError('config', `capability list loops at 0x${ptr.toString(16)}`);
    seen.add(ptr);
    const id = u8(b, ptr);
    caps.push({ id, offset: ptr, name: CAP_NAMES[id] ?? `cap-0x${id.toString(16).padStart(2, '0')}` });
    ptr = u8(b, ptr + 1) & 0xfc;
  }
  return caps;
}

export function decodeMsix(b: Uint8Array, capOffset: number): MsixInfo {
  const ctrl = cfgU16(b, capOffset + MSIX.CONTROL);
  const table = cfgU32(b, capOffset + MSIX.TABLE);
  const pba = cfgU32(b, capOffset + MSIX.PBA);
  return {
    capOffset,
    tableSize: (ctrl & MSIX.CONTROL_TABLE_SIZE_MASK) + 1,
    tableBar: table & MSIX.BIR_MASK,
    tableOffset: (table & ~MSIX.BIR_MASK) >>> 0,
    pbaBar: pba & MSIX.BIR_MASK,
    pbaOffset: (pba & ~MSIX.BIR_MASK) >>> 0,
  };
}

export function decodePcie(b: Uint8Array, capOffset: number): PcieInfo {
  const caps = cfgU16(b, capOffset + PCIE.CAPS);
  const devcap = cfgU32(b, capOffset + PCIE.DEVCAP);
  return {
    capOffset,
    portType: (caps >> 4) & 0xf,
    flr: (devcap & PCIE.DEVCAP_FLR) !== 0,
    maxPayloadSupported: 128 << (devcap & 0x7),
  };
}

export function decodePm(b: Uint8Array, capOffset: number): PmInfo {
  return { capOffset, version: cfgU16(b, capOffset + PM.PMC) & 0x7 };
}

/** A BAR's low dword decoded (§6.2.5.1). */
export interface BarFlags {
  io: boolean;
  is64: boolean;
  prefetchable: boolean;
}
export function barFlags(low: number): BarFlags {
  return { io: (low & 1) !== 0, is64: (low & 0x7) === 0x4, prefetchable: (low & 0x8) !== 0 };
}

/**
 * Size from the value read back after writing all-ones: the address bits the
 * device hard-wires to zero give the size. `high` is the upper dword's
 * read-back for a 64-bit BAR. Returns 0 for an unimplemented BAR.
 */
export function barSize(lowReadback: number, highReadback: number | undefined): number {
  const lowMask = (lowReadback & ~0xf) >>> 0;
  if (highReadback === undefined) {
    if (lowMask === 0) return 0;
    return (~lowMask >>> 0) + 1;
  }
  const mask = BigInt(highReadback >>> 0) * 2n ** 32n + BigInt(lowMask);
  if (mask === 0n) return 0;
  const size = (~mask & (2n ** 64n - 1n)) + 1n;
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw pciError('config', `64-bit BAR of ${size} bytes is too large`);
  return Number(size);
}
