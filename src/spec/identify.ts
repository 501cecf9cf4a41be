// Identify data structures (NVMe 1.4 §5.15.2), as field offset/size tables.
// All multi-byte fields are little-endian; ASCII fields are space padded.
import { bf } from './layout.ts';
export type { ByteField } from './layout.ts';

/** Identify Controller data structure, CNS 01h (Figure 247). 4096 bytes. */
export const ID_CTRL = {
  VID: bf(0, 2),
  SSVID: bf(2, 2),
  SN: bf(4, 20), // ASCII, space padded
  MN: bf(24, 40), // ASCII
  FR: bf(64, 8), // ASCII
  RAB: bf(72, 1),
  IEEE: bf(73, 3),
  CMIC: bf(76, 1),
  MDTS: bf(77, 1), // 2^n × CAP.MPSMIN pages; 0 = no limit
  CNTLID: bf(78, 2),
  VER: bf(80, 4),
  RTD3R: bf(84, 4),
  RTD3E: bf(88, 4),
  OAES: bf(92, 4),
  CTRATT: bf(96, 4),
  RRLS: bf(100, 2),
  CNTRLTYPE: bf(111, 1), // 1 = I/O controller
  FGUID: bf(112, 16),
  CRDT1: bf(128, 2),
  CRDT2: bf(130, 2),
  CRDT3: bf(132, 2),
  OACS: bf(256, 2),
  ACL: bf(258, 1),
  AERL: bf(259, 1), // 0's based
  FRMW: bf(260, 1),
  LPA: bf(261, 1),
  ELPE: bf(262, 1), // 0's based
  NPSS: bf(263, 1), // 0's based
  AVSCC: bf(264, 1),
  APSTA: bf(265, 1),
  WCTEMP: bf(266, 2),
  CCTEMP: bf(268, 2),
  MTFA: bf(270, 2),
  HMPRE: bf(272, 4),
  HMMIN: bf(276, 4),
  TNVMCAP: bf(280, 16),
  UNVMCAP: bf(296, 16),
  RPMBS: bf(312, 4),
  EDSTT: bf(316, 2),
  DSTO: bf(318, 1),
  FWUG: bf(319, 1),
  KAS: bf(320, 2),
  HCTMA: bf(322, 2),
  MNTMT: bf(324, 2),
  MXTMT: bf(326, 2),
  SANICAP: bf(328, 4),
  HMMINDS: bf(332, 4),
  HMMAXD: bf(336, 2),
  NSETIDMAX: bf(338, 2),
  ENDGIDMAX: bf(340, 2),
  ANATT: bf(342, 1),
  ANACAP: bf(343, 1),
  ANAGRPMAX: bf(344, 4),
  NANAGRPID: bf(348, 4),
  PELS: bf(352, 4),
  SQES: bf(512, 1), // 3:0 required, 7:4 maximum (log2)
  CQES: bf(513, 1),
  MAXCMD: bf(514, 2),
  NN: bf(516, 4),
  ONCS: bf(520, 2),
  FUSES: bf(522, 2),
  FNA: bf(524, 1),
  VWC: bf(525, 1),
  AWUN: bf(526, 2),
  AWUPF: bf(528, 2),
  NVSCC: bf(530, 1),
  NWPC: bf(531, 1),
  ACWU: bf(532, 2),
  SGLS: bf(536, 4),
  MNAN: bf(540, 4),
  SUBNQN: bf(768, 256), // UTF-8, NUL padded
  PSD0: bf(2048, 32), // power state descriptors 0..31, 32 bytes each
  VS: bf(3072, 1024),
} as const;

/** Power State Descriptor (Figure 248), relative to PSDn. */
export const PSD = {
  MP: bf(0, 2), // max power, centiwatts
  FLAGS: bf(3, 1), // bit0 MXPS, bit1 NOPS
  ENLAT: bf(4, 4),
  EXLAT: bf(8, 4),
  RRT: bf(12, 1),
  RRL: bf(13, 1),
  RWT: bf(14, 1),
  RWL: bf(15, 1),
  IDLP: bf(16, 2),
  IPS: bf(18, 1),
  ACTP: bf(20, 2),
  APW_APS: bf(22, 1),
} as const;

/** OAES bits (Figure 247). */
export const OAES = { NS_ATTR: 1 << 8, FW_ACTIVATION: 1 << 9, ANA_CHANGE: 1 << 11, PLEA: 1 << 12, LBA_STATUS: 1 << 13, EG_EVENT: 1 << 14 } as const;
/** LPA bits (Figure 247). */
export const LPA = { SMART_PER_NS: 1 << 0, CMD_EFFECTS: 1 << 1, EXTENDED: 1 << 2, TELEMETRY: 1 << 3, PERSISTENT_EVENT: 1 << 4 } as const;
/** VWC byte (Figure 247): bit 0 present, bits 2:1 = 11b flush with NSID FFFFFFFFh supported. */
export const VWC = { PRESENT: 1 << 0, FLUSH_BROADCAST: 0x3 << 1 } as const;
/** FRMW byte: bit 0 slot 1 read-only, bits 3:1 number of slots. */
export const FRMW = { SLOT1_RO: 1 << 0, NSLOTS_SHIFT: 1 } as const;
/** SGLS bits (Figure 247). */
export const SGLS = {
  SUPPORTED_NO_ALIGN: 0x1,
  SUPPORTED_DWORD_ALIGN: 0x2,
  KEYED: 1 << 2,
  BIT_BUCKET: 1 << 16,
  BYTE_ALIGNED_METADATA: 1 << 17,
  EXCESS_LENGTH: 1 << 18,
  MPTR_SGL: 1 << 19,
  ADDRESS_AS_OFFSET: 1 << 20,
} as const;
/** CNTRLTYPE values. */
export const CNTRLTYPE = { IO: 1, DISCOVERY: 2, ADMIN: 3 } as const;

/** Identify Namespace data structure, CNS 00h (Figure 245). 4096 bytes. */
export const ID_NS = {
  NSZE: bf(0, 8),
  NCAP: bf(8, 8),
  NUSE: bf(16, 8),
  NSFEAT: bf(24, 1), // bit0 thin provisioning, bit2 DAE (deallocated/unwritten error)
  NLBAF: bf(25, 1), // 0's based
  FLBAS: bf(26, 1), // 3:0 format index, bit 4 extended metadata
  MC: bf(27, 1),
  DPC: bf(28, 1),
  DPS: bf(29, 1),
  NMIC: bf(30, 1),
  RESCAP: bf(31, 1),
  FPI: bf(32, 1),
  DLFEAT: bf(33, 1), // 2:0 read behaviour after deallocate (001b = zeroes), bit 3 WZ deallocate
  NAWUN: bf(34, 2),
  NAWUPF: bf(36, 2),
  NACWU: bf(38, 2),
  NABSN: bf(40, 2),
  NABO: bf(42, 2),
  NABSPF: bf(44, 2),
  NOIOB: bf(46, 2),
  NVMCAP: bf(48, 16),
  NPWG: bf(64, 2),
  NPWA: bf(66, 2),
  NPDG: bf(68, 2),
  NPDA: bf(70, 2),
  NOWS: bf(72, 2),
  ANAGRPID: bf(92, 4),
  NSATTR: bf(99, 1),
  NVMSETID: bf(100, 2),
  ENDGID: bf(102, 2),
  NGUID: bf(104, 16),
  EUI64: bf(120, 8),
  LBAF0: bf(128, 4), // LBA formats 0..15, 4 bytes each
} as const;
/** LBA Format entry (Figure 246): MS 15:0 metadata bytes, LBADS 23:16 (log2 block size), RP 25:24. */
export const LBAF = { MS_MASK: 0xffff, LBADS_SHIFT: 16, LBADS_MASK: 0xff, RP_SHIFT: 24 } as const;
export const lbaf = (lbads: number, ms = 0, rp = 0): number => ((ms & 0xffff) | ((lbads & 0xff) << 16) | ((rp & 3) << 24)) >>> 0;
export const MAX_LBAF = 16;
/** NSFEAT bits. */
export const NSFEAT = { THINP: 1 << 0, NSABP: 1 << 1, DAE: 1 << 2, UIDREUSE: 1 << 3, OPTPERF: 1 << 4 } as const;
/** DLFEAT: deallocated blocks read as zeroes, Write Zeroes may deallocate. */
export const DLFEAT = { READ_ZEROES: 0x1, WZ_DEALLOC: 1 << 3 } as const;

/** Namespace Identification Descriptor (CNS 03h, Figure 249): NIDT u8, NIDL u8, 2 reserved, then NID. */
export const NS_DESC = { NIDT: 0, NIDL: 1, HEADER: 4 } as const;
export const NIDT = { EUI64: 1, NGUID: 2, UUID: 3, CSI: 4 } as const;
export const NIDT_LEN: Readonly<Record<number, number>> = { 1: 8, 2: 16, 3: 16, 4: 1 };
/** Command Set Identifiers. */
export const CSI = { NVM: 0, KV: 1, ZNS: 2 } as const;
