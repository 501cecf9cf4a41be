// Identify data structures, filled truthfully (NVMe 1.4 §5.15.2).
import type { NvmeController, Namespace } from './controller.ts';
import { ID_CTRL, ID_NS, OAES, LPA, VWC, FRMW, SGLS, CNTRLTYPE, lbaf, NSFEAT, DLFEAT, NIDT, CSI, PSD } from '../../src/spec/identify.ts';
import { OACS } from '../../src/spec/admin.ts';
import { ONCS } from '../../src/spec/nvm.ts';
import { IDENTIFY_SIZE, SQES_LOG2, CQES_LOG2 } from '../../src/spec/sizes.ts';
import { putAscii, putBf, put8, put16, put32, put64 } from '../../src/wire/le.ts';
import { MAX_NAMESPACES } from './options.ts';
import { ABORT_LIMIT } from './queues.ts';
import { ERROR_LOG_ENTRIES } from './controller.ts';

export const FIRMWARE_REVISION = '1.0';
/** LBA formats offered: index 0 = 512 B, index 1 = 4 KiB. */
export const LBA_FORMATS = [9, 12] as const;

export function identifyController(c: NvmeController): Uint8Array {
  const b = new Uint8Array(IDENTIFY_SIZE);
  const cfg = c.cfg;
  putBf(b, 0, ID_CTRL.VID, c.ids.vendor);
  putBf(b, 0, ID_CTRL.SSVID, c.ids.subsystemVendor);
  putAscii(b, 0, ID_CTRL.SN, cfg.serial);
  putAscii(b, 0, ID_CTRL.MN, cfg.model);
  putAscii(b, 0, ID_CTRL.FR, FIRMWARE_REVISION);
  putBf(b, 0, ID_CTRL.RAB, 6);
  b[ID_CTRL.IEEE.off] = 0x52; // OUI 00-54-52 little-endian, as QEMU
  b[ID_CTRL.IEEE.off + 1] = 0x54;
  b[ID_CTRL.IEEE.off + 2] = 0x00;
  putBf(b, 0, ID_CTRL.MDTS, cfg.mdts);
  putBf(b, 0, ID_CTRL.CNTLID, 0);
  putBf(b, 0, ID_CTRL.VER, c.vs);
  putBf(b, 0, ID_CTRL.OAES, OAES.NS_ATTR); // so a Linux-like host keeps an AER outstanding
  putBf(b, 0, ID_CTRL.CNTRLTYPE, CNTRLTYPE.IO);
  // §5.15.2.2: Command Retry Delay Times, in 100 ms units, selected by a status's CRD field.
  putBf(b, 0, ID_CTRL.CRDT1, cfg.crdt[0]);
  putBf(b, 0, ID_CTRL.CRDT2, cfg.crdt[1]);
  putBf(b, 0, ID_CTRL.CRDT3, cfg.crdt[2]);
  putBf(b, 0, ID_CTRL.OACS, OACS.FORMAT | (cfg.dbcs ? OACS.DBBUF : 0));
  putBf(b, 0, ID_CTRL.ACL, ABORT_LIMIT - 1); // 0's based
  putBf(b, 0, ID_CTRL.AERL, cfg.aerl);
  putBf(b, 0, ID_CTRL.FRMW, FRMW.SLOT1_RO | (1 << FRMW.NSLOTS_SHIFT));
  putBf(b, 0, ID_CTRL.LPA, LPA.CMD_EFFECTS | LPA.EXTENDED);
  putBf(b, 0, ID_CTRL.ELPE, ERROR_LOG_ENTRIES - 1);
  putBf(b, 0, ID_CTRL.NPSS, 0);
  putBf(b, 0, ID_CTRL.WCTEMP, 0x157);
  putBf(b, 0, ID_CTRL.CCTEMP, 0x175);
  let cap = 0;
  for (const ns of c.namespaces.values()) cap += ns.data.sizeBytes;
  putBf(b, 0, ID_CTRL.TNVMCAP, cap);
  putBf(b, 0, ID_CTRL.SQES, (SQES_LOG2 << 4) | SQES_LOG2);
  putBf(b, 0, ID_CTRL.CQES, (CQES_LOG2 << 4) | CQES_LOG2);
  putBf(b, 0, ID_CTRL.MAXCMD, 0);
  putBf(b, 0, ID_CTRL.NN, MAX_NAMESPACES);
  putBf(b, 0, ID_CTRL.ONCS, ONCS.COMPARE | ONCS.WRITE_UNCORRECTABLE | ONCS.DSM | ONCS.WRITE_ZEROES | ONCS.SAVE_SELECT | ONCS.TIMESTAMP | ONCS.VERIFY);
  putBf(b, 0, ID_CTRL.VWC, cfg.vwc ? VWC.PRESENT | VWC.FLUSH_BROADCAST : 0);
  putBf(b, 0, ID_CTRL.SGLS, SGLS.SUPPORTED_NO_ALIGN);
  const nqn = `nqn.2019-08.org.qemu:${cfg.serial}`;
  for (let i = 0; i < nqn.length && i < ID_CTRL.SUBNQN.size - 1; i++) b[ID_CTRL.SUBNQN.off + i] = nqn.charCodeAt(i) & 0x7f;
  // Power state 0: 25 W, entry/exit latency as QEMU.
  const ps0 = ID_CTRL.PSD0.off;
  put16(b, ps0 + PSD.MP.off, 0x9c4);
  put32(b, ps0 + PSD.ENLAT.off, 0x10);
  put32(b, ps0 + PSD.EXLAT.off, 0x4);
  return b;
}

export function identifyNamespace(c: NvmeController, ns: Namespace): Uint8Array {
  const b = new Uint8Array(IDENTIFY_SIZE);
  const d = ns.data;
  putBf(b, 0, ID_NS.NSZE, d.nsze);
  putBf(b, 0, ID_NS.NCAP, d.nsze);
  putBf(b, 0, ID_NS.NUSE, d.nsze);
  putBf(b, 0, ID_NS.NSFEAT, NSFEAT.THINP & 0);
  putBf(b, 0, ID_NS.NLBAF, LBA_FORMATS.length - 1);
  const idx = LBA_FORMATS.indexOf(d.blockShift as 9 | 12);
  putBf(b, 0, ID_NS.FLBAS, idx < 0 ? 0 : idx);
  putBf(b, 0, ID_NS.DLFEAT, DLFEAT.READ_ZEROES | DLFEAT.WZ_DEALLOC);
  putBf(b, 0, ID_NS.NVMCAP, d.sizeBytes);
  putBf(b, 0, ID_NS.NPWG, Math.max(0, 4096 / d.blockSize - 1));
  putBf(b, 0, ID_NS.NOWS, Math.max(0, 4096 / d.blockSize - 1));
  b.set(nguid(c, ns), ID_NS.NGUID.off);
  b.set(eui64(c, ns), ID_NS.EUI64.off);
  LBA_FORMATS.forEach((lbads, i) => put32(b, ID_NS.LBAF0.off + 4 * i, lbaf(lbads, 0, lbads === 12 ? 0 : 2)));
  return b;
}

/** CNS 02h/07h: active NSIDs greater than `after`, ascending, at most 1024. */
export function activeNsList(c: NvmeController, after: number): Uint8Array {
  const b = new Uint8Array(IDENTIFY_SIZE);
  let i = 0;
  for (const nsid of [...c.namespaces.keys()].sort((x, y) => x - y)) {
    if (nsid <= after) continue;
    if (i >= 1024) break;
    put32(b, 4 * i++, nsid);
  }
  return b;
}

/** CNS 03h: Namespace Identification Descriptor list (NGUID, EUI64, CSI). */
export function nsDescriptors(c: NvmeController, ns: Namespace): Uint8Array {
  const b = new Uint8Array(IDENTIFY_SIZE);
  let o = 0;
  const add = (type: number, id: Uint8Array): void => {
    put8(b, o, type);
    put8(b, o + 1, id.length);
    b.set(id, o + 4);
    o += 4 + id.length;
  };
  add(NIDT.EUI64, eui64(c, ns));
  add(NIDT.NGUID, nguid(c, ns));
  add(NIDT.CSI, Uint8Array.of(CSI.NVM));
  return b;
}

/** Stable identifiers derived from the serial and NSID (FNV-1a). */
function hashBytes(s: string, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let h = 0x811c9dc5;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < s.length; k++) h = Math.imul(h ^ s.charCodeAt(k), 0x01000193) >>> 0;
    h = Math.imul(h ^ i, 0x01000193) >>> 0;
    out[i] = h & 0xff;
  }
  return out;
}
function nguid(c: NvmeController, ns: Namespace): Uint8Array {
  return hashBytes(`${c.cfg.serial}/ns${ns.nsid}/nguid`, 16);
}
function eui64(c: NvmeController, ns: Namespace): Uint8Array {
  const e = hashBytes(`${c.cfg.serial}/ns${ns.nsid}/eui`, 8);
  e[0] = 0x52; // OUI-based: 00-54-52 … (IEEE Company ID, as QEMU)
  e[1] = 0x54;
  e[2] = 0x00;
  return e;
}

export { put64 };
