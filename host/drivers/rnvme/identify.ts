// Identify Controller / Namespace decoded into plain objects (what the driver
// and an nvme-cli-style tool need), read through the src/spec field tables.
import { ID_CTRL, ID_NS, LBAF, IDENTIFY_SIZE } from '../../../src/spec/index.ts';
import { getAscii, getBf, u32 } from '../../../src/wire/index.ts';

export interface IdCtrl {
  vid: number; ssvid: number; sn: string; mn: string; fr: string;
  rab: number; ieee: number; cmic: number;
  /** Maximum Data Transfer Size: 2^mdts pages of CAP.MPSMIN; 0 = no limit. */
  mdts: number;
  cntlid: number; ver: number; rtd3r: number;
  /** RTD3 Entry Latency in µs (shutdown timeout hint). */
  rtd3e: number;
  oaes: number; ctratt: number; cntrltype: number;
  /** Command Retry Delay Times 1..3, in 100 ms units. */
  crdt: [number, number, number];
  oacs: number; acl: number; aerl: number; frmw: number; lpa: number; elpe: number; npss: number;
  wctemp: number; cctemp: number; hmpre: number;
  sqes: number; cqes: number; maxcmd: number; nn: number; oncs: number; fuses: number; fna: number;
  vwc: number; awun: number; awupf: number; sgls: number; subnqn: string;
}

export function decodeIdCtrl(b: Uint8Array): IdCtrl {
  if (b.length < IDENTIFY_SIZE) throw new RangeError(`identify controller: ${b.length} bytes`);
  const g = (f: { off: number; size: number }): number => getBf(b, 0, f);
  let subnqn = '';
  for (let i = 0; i < ID_CTRL.SUBNQN.size; i++) {
    const c = b[ID_CTRL.SUBNQN.off + i] ?? 0;
    if (c === 0) break;
    subnqn += String.fromCharCode(c);
  }
  return {
    vid: g(ID_CTRL.VID), ssvid: g(ID_CTRL.SSVID), sn: getAscii(b, 0, ID_CTRL.SN), mn: getAscii(b, 0, ID_CTRL.MN),
    fr: getAscii(b, 0, ID_CTRL.FR), rab: g(ID_CTRL.RAB),
    ieee: (b[ID_CTRL.IEEE.off] ?? 0) | ((b[ID_CTRL.IEEE.off + 1] ?? 0) << 8) | ((b[ID_CTRL.IEEE.off + 2] ?? 0) << 16),
    cmic: g(ID_CTRL.CMIC), mdts: g(ID_CTRL.MDTS), cntlid: g(ID_CTRL.CNTLID), ver: g(ID_CTRL.VER), rtd3r: g(ID_CTRL.RTD3R),
    rtd3e: g(ID_CTRL.RTD3E), oaes: g(ID_CTRL.OAES), ctratt: g(ID_CTRL.CTRATT), cntrltype: g(ID_CTRL.CNTRLTYPE),
    crdt: [g(ID_CTRL.CRDT1), g(ID_CTRL.CRDT2), g(ID_CTRL.CRDT3)],
    oacs: g(ID_CTRL.OACS), acl: g(ID_CTRL.ACL), aerl: g(ID_CTRL.AERL), frmw: g(ID_CTRL.FRMW), lpa: g(ID_CTRL.LPA),
    elpe: g(ID_CTRL.ELPE), npss: g(ID_CTRL.NPSS), wctemp: g(ID_CTRL.WCTEMP), cctemp: g(ID_CTRL.CCTEMP), hmpre: g(ID_CTRL.HMPRE),
    sqes: g(ID_CTRL.SQES), cqes: g(ID_CTRL.CQES), maxcmd: g(ID_CTRL.MAXCMD), nn: g(ID_CTRL.NN), oncs: g(ID_CTRL.ONCS),
    fuses: g(ID_CTRL.FUSES), fna: g(ID_CTRL.FNA), vwc: g(ID_CTRL.VWC), awun: g(ID_CTRL.AWUN), awupf: g(ID_CTRL.AWUPF),
    sgls: g(ID_CTRL.SGLS), subnqn,
  };
}

export interface LbaFormat {
  /** Metadata bytes per block. */
  ms: number;
  /** log2 of the block size. */
  lbads: number;
  rp: number;
}

export interface IdNs {
  nsze: number; ncap: number; nuse: number; nsfeat: number; nlbaf: number; flbas: number;
  mc: number; dpc: number; dps: number; nmic: number; dlfeat: number;
  npwg: number; npwa: number; npdg: number; npda: number; nows: number;
  nguid: Uint8Array; eui64: Uint8Array;
  lbaf: LbaFormat[];
  /** The format in use (FLBAS bits 3:0). */
  lbafIndex: number;
  /** Logical block size in bytes of the format in use. */
  blockSize: number;
}

export function decodeIdNs(b: Uint8Array): IdNs {
  if (b.length < IDENTIFY_SIZE) throw new RangeError(`identify namespace: ${b.length} bytes`);
  const g = (f: { off: number; size: number }): number => getBf(b, 0, f);
  const nlbaf = g(ID_NS.NLBAF);
  const lbaf: LbaFormat[] = [];
  for (let i = 0; i <= Math.min(nlbaf, 15); i++) {
    const v = u32(b, ID_NS.LBAF0.off + 4 * i);
    lbaf.push({ ms: v & LBAF.MS_MASK, lbads: (v >>> LBAF.LBADS_SHIFT) & LBAF.LBADS_MASK, rp: (v >>> LBAF.RP_SHIFT) & 3 });
  }
  const flbas = g(ID_NS.FLBAS);
  const idx = flbas & 0xf;
  const lbads = lbaf[idx]?.lbads ?? 0;
  return {
    nsze: g(ID_NS.NSZE), ncap: g(ID_NS.NCAP), nuse: g(ID_NS.NUSE), nsfeat: g(ID_NS.NSFEAT), nlbaf, flbas,
    mc: g(ID_NS.MC), dpc: g(ID_NS.DPC), dps: g(ID_NS.DPS), nmic: g(ID_NS.NMIC), dlfeat: g(ID_NS.DLFEAT),
    npwg: g(ID_NS.NPWG), npwa: g(ID_NS.NPWA), npdg: g(ID_NS.NPDG), npda: g(ID_NS.NPDA), nows: g(ID_NS.NOWS),
    nguid: b.slice(ID_NS.NGUID.off, ID_NS.NGUID.off + ID_NS.NGUID.size),
    eui64: b.slice(ID_NS.EUI64.off, ID_NS.EUI64.off + ID_NS.EUI64.size),
    lbaf, lbafIndex: idx, blockSize: lbads >= 9 && lbads <= 16 ? 1 << lbads : 0,
  };
}

/** Active NSIDs from an Identify CNS 02h page (zero-terminated list of u32). */
export function decodeNsList(b: Uint8Array): number[] {
  const out: number[] = [];
  for (let off = 0; off + 4 <= Math.min(b.length, IDENTIFY_SIZE); off += 4) {
    const id = u32(b, off);
    if (id === 0) break;
    out.push(id);
  }
  return out;
}
