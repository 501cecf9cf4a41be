// nvme-cli's output shapes for the decoded admin data: `-o json` with
// nvme-cli's field names (nvme-print-json.c conventions: id-ctrl vid/ssvid/
// sn/mn/fr/…, id-ns nsze/ncap/nuse/flbas/lbafs[{ms,ds,rp}], smart-log
// critical_warning/temperature/avail_spare/…, error-log errors[], list
// Devices[]) and the human "field : value" layout. Decoding uses the spec
// tables of src/spec (NVMe 1.4 §5.15.2 Identify, §5.14.1 log pages).
import { ID_CTRL, ID_NS, PSD, LBAF, MAX_LBAF } from '../../src/spec/identify.ts';
import { SMART, ERROR_ENTRY, FW_SLOT } from '../../src/spec/log.ts';
import type { ByteField } from '../../src/spec/layout.ts';

type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };
export type JsonObject = { [k: string]: JsonValue };

function need(buf: Uint8Array, len: number, what: string): void {
  if (buf.length < len) throw new Error(`${what}: controller returned ${buf.length} bytes, expected ${len}`);
}

/** Little-endian unsigned field; 128-bit counters above 2^53 lose precision like nvme-cli's long double. */
export function uint(buf: Uint8Array, f: ByteField): number {
  let v = 0;
  for (let i = f.size - 1; i >= 0; i--) v = v * 256 + (buf[f.off + i] ?? 0);
  return v;
}

/** ASCII field, trailing spaces and NULs trimmed (fw-log revisions, `nvme list`'s sysfs-style strings). */
export function ascii(buf: Uint8Array, f: ByteField): string {
  let s = '';
  for (let i = 0; i < f.size; i++) {
    const c = buf[f.off + i] ?? 0;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : c === 0 ? '\0' : '.';
  }
  return s.replace(/[\0 ]+$/, '');
}

/**
 * ASCII field as nvme-cli's id-ctrl prints it (`"%-.*s"` over the field): the
 * bytes up to the first NUL, space padding kept. SN/MN/FR are space padded by
 * definition (NVMe 2.0 Base §5.17.2.1, Identify Controller bytes 23:04, 63:24,
 * 71:64), so `jq .sn` sees e.g. "nvmelab0            " exactly as with nvme-cli.
 */
export function asciiPadded(buf: Uint8Array, f: ByteField): string {
  let s = '';
  for (let i = 0; i < f.size; i++) {
    const c = buf[f.off + i] ?? 0;
    if (c === 0) break;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.';
  }
  return s;
}

function hexBytes(buf: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += (buf[off + i] ?? 0).toString(16).padStart(2, '0');
  return s;
}

const hex = (v: number, w = 0): string => `0x${v.toString(16).padStart(w, '0')}`;

// ── Identify Controller ─────────────────────────────────────────────────────

// Fields src/spec/identify.ts does not name yet, at their NVMe 2.0 offsets
// (Figure 275: NVM subsystem / management fields, domains, fabrics block at 1792).
const bf = (off: number, size: number): ByteField => ({ off, size });
const ID_CTRL_MORE = {
  NVMSR: bf(253, 1), VWCI: bf(254, 1), MEC: bf(255, 1), DOMAINID: bf(356, 2), MEGCAP: bf(368, 16), OCFS: bf(534, 2),
  MAXDNA: bf(544, 16), MAXCNA: bf(560, 4), OAQD: bf(564, 4),
  IOCCSZ: bf(1792, 4), IORCSZ: bf(1796, 4), ICDOFF: bf(1800, 2), FCATT: bf(1802, 1), MSDBD: bf(1803, 1), OFCS: bf(1804, 2),
} as const;

/** nvme-cli's id-ctrl JSON keys in its order (nvme-print-json.c); 'str'/'uuid' entries are decoded specially. */
type CtrlField = readonly [string, ByteField, 'num' | 'str' | 'uuid'];
const CTRL_FIELDS: readonly CtrlField[] = [
  ['vid', ID_CTRL.VID, 'num'], ['ssvid', ID_CTRL.SSVID, 'num'], ['sn', ID_CTRL.SN, 'str'], ['mn', ID_CTRL.MN, 'str'], ['fr', ID_CTRL.FR, 'str'],
  ['rab', ID_CTRL.RAB, 'num'], ['ieee', ID_CTRL.IEEE, 'num'], ['cmic', ID_CTRL.CMIC, 'num'], ['mdts', ID_CTRL.MDTS, 'num'],
  ['cntlid', ID_CTRL.CNTLID, 'num'], ['ver', ID_CTRL.VER, 'num'], ['rtd3r', ID_CTRL.RTD3R, 'num'], ['rtd3e', ID_CTRL.RTD3E, 'num'],
  ['oaes', ID_CTRL.OAES, 'num'], ['ctratt', ID_CTRL.CTRATT, 'num'], ['rrls', ID_CTRL.RRLS, 'num'], ['cntrltype', ID_CTRL.CNTRLTYPE, 'num'],
  ['fguid', ID_CTRL.FGUID, 'uuid'], ['crdt1', ID_CTRL.CRDT1, 'num'], ['crdt2', ID_CTRL.CRDT2, 'num'], ['crdt3', ID_CTRL.CRDT3, 'num'],
  ['nvmsr', ID_CTRL_MORE.NVMSR, 'num'], ['vwci', ID_CTRL_MORE.VWCI, 'num'], ['mec', ID_CTRL_MORE.MEC, 'num'],
  ['oacs', ID_CTRL.OACS, 'num'], ['acl', ID_CTRL.ACL, 'num'], ['aerl', ID_CTRL.AERL, 'num'], ['frmw', ID_CTRL.FRMW, 'num'],
  ['lpa', ID_CTRL.LPA, 'num'], ['elpe', ID_CTRL.ELPE, 'num'], ['npss', ID_CTRL.NPSS, 'num'], ['avscc', ID_CTRL.AVSCC, 'num'],
  ['apsta', ID_CTRL.APSTA, 'num'], ['wctemp', ID_CTRL.WCTEMP, 'num'], ['cctemp', ID_CTRL.CCTEMP, 'num'], ['mtfa', ID_CTRL.MTFA, 'num'],
  ['hmpre', ID_CTRL.HMPRE, 'num'], ['hmmin', ID_CTRL.HMMIN, 'num'], ['tnvmcap', ID_CTRL.TNVMCAP, 'num'], ['unvmcap', ID_CTRL.UNVMCAP, 'num'],
  ['rpmbs', ID_CTRL.RPMBS, 'num'], ['edstt', ID_CTRL.EDSTT, 'num'], ['dsto', ID_CTRL.DSTO, 'num'], ['fwug', ID_CTRL.FWUG, 'num'],
  ['kas', ID_CTRL.KAS, 'num'], ['hctma', ID_CTRL.HCTMA, 'num'], ['mntmt', ID_CTRL.MNTMT, 'num'], ['mxtmt', ID_CTRL.MXTMT, 'num'],
  ['sanicap', ID_CTRL.SANICAP, 'num'], ['hmminds', ID_CTRL.HMMINDS, 'num'], ['hmmaxd', ID_CTRL.HMMAXD, 'num'],
  ['nsetidmax', ID_CTRL.NSETIDMAX, 'num'], ['endgidmax', ID_CTRL.ENDGIDMAX, 'num'], ['anatt', ID_CTRL.ANATT, 'num'],
  ['anacap', ID_CTRL.ANACAP, 'num'], ['anagrpmax', ID_CTRL.ANAGRPMAX, 'num'], ['nanagrpid', ID_CTRL.NANAGRPID, 'num'],
  ['pels', ID_CTRL.PELS, 'num'], ['domainid', ID_CTRL_MORE.DOMAINID, 'num'], ['megcap', ID_CTRL_MORE.MEGCAP, 'num'],
  ['sqes', ID_CTRL.SQES, 'num'], ['cqes', ID_CTRL.CQES, 'num'], ['maxcmd', ID_CTRL.MAXCMD, 'num'], ['nn', ID_CTRL.NN, 'num'],
  ['oncs', ID_CTRL.ONCS, 'num'], ['fuses', ID_CTRL.FUSES, 'num'], ['fna', ID_CTRL.FNA, 'num'], ['vwc', ID_CTRL.VWC, 'num'],
  ['awun', ID_CTRL.AWUN, 'num'], ['awupf', ID_CTRL.AWUPF, 'num'], ['icsvscc', ID_CTRL.NVSCC, 'num'], ['nwpc', ID_CTRL.NWPC, 'num'],
  ['acwu', ID_CTRL.ACWU, 'num'], ['ocfs', ID_CTRL_MORE.OCFS, 'num'], ['sgls', ID_CTRL.SGLS, 'num'], ['mnan', ID_CTRL.MNAN, 'num'],
  ['maxdna', ID_CTRL_MORE.MAXDNA, 'num'], ['maxcna', ID_CTRL_MORE.MAXCNA, 'num'], ['oaqd', ID_CTRL_MORE.OAQD, 'num'],
];
/** After subnqn, as nvme-cli prints them (the fabrics block). */
const CTRL_FABRICS: readonly [string, ByteField][] = [
  ['ioccsz', ID_CTRL_MORE.IOCCSZ], ['iorcsz', ID_CTRL_MORE.IORCSZ], ['icdoff', ID_CTRL_MORE.ICDOFF], ['fcatt', ID_CTRL_MORE.FCATT],
  ['msdbd', ID_CTRL_MORE.MSDBD], ['ofcs', ID_CTRL_MORE.OFCS],
];

/** nvme-cli's UUID text form (nvme_uuid_to_string): 8-4-4-4-12 lowercase hex. */
function uuidString(buf: Uint8Array, off: number): string {
  const h = hexBytes(buf, off, 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Power-scale bits 7:6 of IPS / APWS (nvme_psd_power_scale). */
const powerScale = (b: number): number => (b >> 6) & 3;

/** Identify Controller → nvme-cli JSON (`nvme id-ctrl -o json`). */
export function idCtrlJson(buf: Uint8Array): JsonObject {
  need(buf, 4096, 'identify controller');
  const o: JsonObject = {};
  for (const [k, f, kind] of CTRL_FIELDS) o[k] = kind === 'str' ? asciiPadded(buf, f) : kind === 'uuid' ? uuidString(buf, f.off) : uint(buf, f);
  const nqn = buf.subarray(ID_CTRL.SUBNQN.off, ID_CTRL.SUBNQN.off + ID_CTRL.SUBNQN.size);
  const nul = nqn.indexOf(0);
  const subnqn = Buffer.from(nul < 0 ? nqn : nqn.subarray(0, nul)).toString('utf8');
  // nvme-cli leaves subnqn out when it is empty.
  if (subnqn !== '') o.subnqn = subnqn;
  for (const [k, f] of CTRL_FABRICS) o[k] = uint(buf, f);
  const npss = uint(buf, ID_CTRL.NPSS);
  const psds: JsonValue[] = [];
  for (let i = 0; i <= npss && i < 32; i++) {
    const base = ID_CTRL.PSD0.off + 32 * i;
    const at = (f: ByteField): ByteField => ({ off: base + f.off, size: f.size });
    psds.push({
      max_power: uint(buf, at(PSD.MP)),
      max_power_scale: uint(buf, at(PSD.FLAGS)) & 1,
      'non-operational_state': (uint(buf, at(PSD.FLAGS)) >> 1) & 1,
      entry_lat: uint(buf, at(PSD.ENLAT)),
      exit_lat: uint(buf, at(PSD.EXLAT)),
      read_tput: uint(buf, at(PSD.RRT)),
      read_lat: uint(buf, at(PSD.RRL)),
      write_tput: uint(buf, at(PSD.RWT)),
      write_lat: uint(buf, at(PSD.RWL)),
      idle_power: uint(buf, at(PSD.IDLP)),
      idle_scale: powerScale(uint(buf, at(PSD.IPS))),
      active_power: uint(buf, at(PSD.ACTP)),
      active_power_work: uint(buf, at(PSD.APW_APS)) & 7,
      active_scale: powerScale(uint(buf, at(PSD.APW_APS))),
    });
  }
  o.psds = psds;
  return o;
}

/** nvme-cli's human id-ctrl: "NVME Identify Controller:" then `name      : value` lines. */
export function idCtrlText(j: JsonObject): string {
  const lines = ['NVME Identify Controller:'];
  const str = new Set(['sn', 'mn', 'fr', 'subnqn', 'fguid']);
  const dec = new Set(['rab', 'mdts', 'cntlid', 'rtd3r', 'rtd3e', 'acl', 'aerl', 'elpe', 'npss', 'wctemp', 'cctemp', 'mtfa', 'hmpre', 'hmmin', 'tnvmcap', 'unvmcap', 'edstt', 'dsto', 'fwug', 'kas', 'mntmt', 'mxtmt', 'hmminds', 'hmmaxd', 'nsetidmax', 'endgidmax', 'anatt', 'anagrpmax', 'nanagrpid', 'pels', 'maxcmd', 'nn', 'awun', 'awupf', 'acwu', 'mnan', 'crdt1', 'crdt2', 'crdt3']);
  for (const [k, v] of Object.entries(j)) {
    if (k === 'psds') continue;
    const key = k.padEnd(9);
    if (str.has(k)) lines.push(`${key} : ${String(v)}`);
    else if (typeof v === 'number') lines.push(`${key} : ${dec.has(k) ? String(v) : hex(v)}`);
  }
  const psds = Array.isArray(j.psds) ? j.psds : [];
  psds.forEach((p, i) => {
    if (typeof p !== 'object' || p === null || Array.isArray(p)) return;
    const n = (k: string): number => (typeof p[k] === 'number' ? (p[k] as number) : 0);
    const mp = n('max_power_scale') === 1 ? `${(n('max_power') / 10000).toFixed(4)}W` : `${(n('max_power') / 100).toFixed(2)}W`;
    lines.push(`ps ${String(i).padStart(4)} : mp:${mp} ${n('non-operational_state') === 1 ? 'non-' : ''}operational enlat:${n('entry_lat')} exlat:${n('exit_lat')} rrt:${n('read_tput')} rrl:${n('read_lat')}`);
    lines.push(`            rwt:${n('write_tput')} rwl:${n('write_lat')} idle_power:- active_power:-`);
  });
  return `${lines.join('\n')}\n`;
}

// ── Identify Namespace ──────────────────────────────────────────────────────

const NS_FIELDS: readonly [string, ByteField][] = [
  ['nsze', ID_NS.NSZE], ['ncap', ID_NS.NCAP], ['nuse', ID_NS.NUSE], ['nsfeat', ID_NS.NSFEAT], ['nlbaf', ID_NS.NLBAF],
  ['flbas', ID_NS.FLBAS], ['mc', ID_NS.MC], ['dpc', ID_NS.DPC], ['dps', ID_NS.DPS], ['nmic', ID_NS.NMIC], ['rescap', ID_NS.RESCAP],
  ['fpi', ID_NS.FPI], ['dlfeat', ID_NS.DLFEAT], ['nawun', ID_NS.NAWUN], ['nawupf', ID_NS.NAWUPF], ['nacwu', ID_NS.NACWU],
  ['nabsn', ID_NS.NABSN], ['nabo', ID_NS.NABO], ['nabspf', ID_NS.NABSPF], ['noiob', ID_NS.NOIOB], ['nvmcap', ID_NS.NVMCAP],
  ['npwg', ID_NS.NPWG], ['npwa', ID_NS.NPWA], ['npdg', ID_NS.NPDG], ['npda', ID_NS.NPDA], ['nows', ID_NS.NOWS],
  ['anagrpid', ID_NS.ANAGRPID], ['nsattr', ID_NS.NSATTR], ['nvmsetid', ID_NS.NVMSETID], ['endgid', ID_NS.ENDGID],
];

/** Identify Namespace → nvme-cli JSON (`nvme id-ns -o json`). */
export function idNsJson(buf: Uint8Array): JsonObject {
  need(buf, 4096, 'identify namespace');
  const o: JsonObject = {};
  for (const [k, f] of NS_FIELDS) o[k] = uint(buf, f);
  o.nguid = hexBytes(buf, ID_NS.NGUID.off, ID_NS.NGUID.size);
  o.eui64 = hexBytes(buf, ID_NS.EUI64.off, ID_NS.EUI64.size);
  const n = Math.min(uint(buf, ID_NS.NLBAF) + 1, MAX_LBAF);
  const lbafs: JsonValue[] = [];
  for (let i = 0; i < n; i++) {
    const v = uint(buf, { off: ID_NS.LBAF0.off + 4 * i, size: 4 });
    lbafs.push({ ms: v & LBAF.MS_MASK, ds: (v >>> LBAF.LBADS_SHIFT) & LBAF.LBADS_MASK, rp: (v >>> LBAF.RP_SHIFT) & 3 });
  }
  o.lbafs = lbafs;
  return o;
}

export function idNsText(j: JsonObject, nsid: number): string {
  const lines = [`NVME Identify Namespace ${nsid}:`];
  const dec = new Set(['nlbaf', 'nawun', 'nawupf', 'nacwu', 'nabsn', 'nabo', 'nabspf', 'noiob', 'nvmcap', 'npwg', 'npwa', 'npdg', 'npda', 'nows', 'anagrpid', 'nvmsetid', 'endgid']);
  for (const [k, v] of Object.entries(j)) {
    if (k === 'lbafs') continue;
    const key = k.padEnd(7);
    if (typeof v === 'string') lines.push(`${key} : ${v}`);
    else if (typeof v === 'number') lines.push(`${key} : ${dec.has(k) ? String(v) : hex(v)}`);
  }
  const inUse = typeof j.flbas === 'number' ? j.flbas & 0xf : 0;
  const lbafs = Array.isArray(j.lbafs) ? j.lbafs : [];
  lbafs.forEach((l, i) => {
    if (typeof l !== 'object' || l === null || Array.isArray(l)) return;
    const rp = ['Best', 'Better', 'Good', 'Degraded'][Number(l.rp)] ?? '?';
    lines.push(`lbaf ${String(i).padStart(2)} : ms:${String(l.ms).padEnd(3)} lbads:${String(l.ds).padEnd(2)} rp:${hex(Number(l.rp))} (${rp})${i === inUse ? ' (in use)' : ''}`);
  });
  return `${lines.join('\n')}\n`;
}

/** LBA data size and metadata size of the format in use. */
export function nsFormat(j: JsonObject): { lbaBytes: number; ms: number } {
  const inUse = typeof j.flbas === 'number' ? j.flbas & 0xf : 0;
  const l = Array.isArray(j.lbafs) ? j.lbafs[inUse] : undefined;
  if (typeof l !== 'object' || l === null || Array.isArray(l)) return { lbaBytes: 512, ms: 0 };
  return { lbaBytes: 2 ** Number(l.ds), ms: Number(l.ms) };
}

// ── SMART / Health ──────────────────────────────────────────────────────────

/** SMART / Health log → nvme-cli JSON (`nvme smart-log -o json`). Temperatures in Kelvin, as nvme-cli's JSON. */
export function smartJson(buf: Uint8Array): JsonObject {
  need(buf, 512, 'SMART log');
  const o: JsonObject = {
    critical_warning: uint(buf, SMART.CRITICAL_WARNING),
    temperature: uint(buf, SMART.COMPOSITE_TEMP),
    avail_spare: uint(buf, SMART.AVAIL_SPARE),
    spare_thresh: uint(buf, SMART.AVAIL_SPARE_THRESH),
    percent_used: uint(buf, SMART.PERCENT_USED),
    endurance_grp_critical_warning_summary: uint(buf, SMART.EG_CRIT_WARNING),
    data_units_read: uint(buf, SMART.DATA_UNITS_READ),
    data_units_written: uint(buf, SMART.DATA_UNITS_WRITTEN),
    host_read_commands: uint(buf, SMART.HOST_READ_CMDS),
    host_write_commands: uint(buf, SMART.HOST_WRITE_CMDS),
    controller_busy_time: uint(buf, SMART.CTRL_BUSY_TIME),
    power_cycles: uint(buf, SMART.POWER_CYCLES),
    power_on_hours: uint(buf, SMART.POWER_ON_HOURS),
    unsafe_shutdowns: uint(buf, SMART.UNSAFE_SHUTDOWNS),
    media_errors: uint(buf, SMART.MEDIA_ERRORS),
    num_err_log_entries: uint(buf, SMART.NUM_ERR_LOG_ENTRIES),
    warning_temp_time: uint(buf, SMART.WARN_TEMP_TIME),
    critical_comp_time: uint(buf, SMART.CRIT_TEMP_TIME),
  };
  for (let i = 0; i < 8; i++) {
    const t = uint(buf, { off: SMART.TEMP_SENSOR1.off + 2 * i, size: 2 });
    if (t !== 0) o[`temperature_sensor_${i + 1}`] = t;
  }
  o.thm_temp1_trans_count = uint(buf, SMART.TMT1_COUNT);
  o.thm_temp2_trans_count = uint(buf, SMART.TMT2_COUNT);
  o.thm_temp1_total_time = uint(buf, SMART.TMT1_TIME);
  o.thm_temp2_total_time = uint(buf, SMART.TMT2_TIME);
  return o;
}

const group = (n: number): string => Math.round(n).toLocaleString('en-US');

export function smartText(j: JsonObject, ctrl: string, nsid: number): string {
  const n = (k: string): number => (typeof j[k] === 'number' ? (j[k] as number) : 0);
  const temp = (k: number): string => `${k - 273} °C (${k} K)`;
  const du = (v: number): string => `${group(v)} (${humanBytes(v * 512000)})`;
  const rows: [string, string][] = [
    ['critical_warning', hex(n('critical_warning'))],
    ['temperature', temp(n('temperature'))],
    ['available_spare', `${n('avail_spare')}%`],
    ['available_spare_threshold', `${n('spare_thresh')}%`],
    ['percentage_used', `${n('percent_used')}%`],
    ['endurance group critical warning summary', hex(n('endurance_grp_critical_warning_summary'))],
    ['Data Units Read', du(n('data_units_read'))],
    ['Data Units Written', du(n('data_units_written'))],
    ['host_read_commands', group(n('host_read_commands'))],
    ['host_write_commands', group(n('host_write_commands'))],
    ['controller_busy_time', group(n('controller_busy_time'))],
    ['power_cycles', group(n('power_cycles'))],
    ['power_on_hours', group(n('power_on_hours'))],
    ['unsafe_shutdowns', group(n('unsafe_shutdowns'))],
    ['media_errors', group(n('media_errors'))],
    ['num_err_log_entries', group(n('num_err_log_entries'))],
    ['Warning Temperature Time', group(n('warning_temp_time'))],
    ['Critical Composite Temperature Time', group(n('critical_comp_time'))],
  ];
  for (let i = 1; i <= 8; i++) if (typeof j[`temperature_sensor_${i}`] === 'number') rows.push([`Temperature Sensor ${i}`, temp(n(`temperature_sensor_${i}`))]);
  rows.push(['Thermal Management T1 Trans Count', String(n('thm_temp1_trans_count'))]);
  rows.push(['Thermal Management T2 Trans Count', String(n('thm_temp2_trans_count'))]);
  rows.push(['Thermal Management T1 Total Time', String(n('thm_temp1_total_time'))]);
  rows.push(['Thermal Management T2 Total Time', String(n('thm_temp2_total_time'))]);
  const w = Math.max(...rows.map((r) => r[0].length));
  return `Smart Log for NVME device:${ctrl} namespace-id:${nsid.toString(16)}\n${rows.map(([k, v]) => `${k.padEnd(w)} : ${v}`).join('\n')}\n`;
}

export function humanBytes(b: number): string {
  const u = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let v = b;
  while (v >= 1000 && i < u.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(2)} ${u[i] ?? 'B'}`;
}

// ── Error Information ───────────────────────────────────────────────────────

/** Error Information log (64-byte entries) → nvme-cli JSON {errors: […]}. */
export function errorLogJson(buf: Uint8Array): JsonObject {
  const errors: JsonValue[] = [];
  for (let off = 0; off + 64 <= buf.length; off += 64) {
    const at = (f: ByteField): ByteField => ({ off: off + f.off, size: f.size });
    const status = uint(buf, at(ERROR_ENTRY.STATUS));
    errors.push({
      error_count: uint(buf, at(ERROR_ENTRY.ERROR_COUNT)),
      sqid: uint(buf, at(ERROR_ENTRY.SQID)),
      cmdid: uint(buf, at(ERROR_ENTRY.CID)),
      status_field: status >> 1,
      phase_tag: status & 1,
      parm_error_location: uint(buf, at(ERROR_ENTRY.PARAM_LOCATION)),
      lba: uint(buf, at(ERROR_ENTRY.LBA)),
      nsid: uint(buf, at(ERROR_ENTRY.NSID)),
      vs: uint(buf, at(ERROR_ENTRY.VS_INFO)),
      trtype: uint(buf, at(ERROR_ENTRY.TRTYPE)),
      cs: uint(buf, at(ERROR_ENTRY.CMD_SPECIFIC)),
      trtype_spec_info: uint(buf, at(ERROR_ENTRY.TRTYPE_SPECIFIC)),
    });
  }
  return { errors };
}

export function errorLogText(j: JsonObject, ctrl: string): string {
  const errors = Array.isArray(j.errors) ? j.errors : [];
  const out = [`Error Log Entries for device:${ctrl} entries:${errors.length}`, '.................'];
  errors.forEach((e, i) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return;
    const n = (k: string): number => Number(e[k]);
    out.push(` Entry[${String(i).padStart(2)}]`, '.................');
    out.push(`error_count\t: ${n('error_count')}`, `sqid\t\t: ${n('sqid')}`, `cmdid\t\t: ${hex(n('cmdid'))}`);
    out.push(`status_field\t: ${hex(n('status_field'))}`, `phase_tag\t: ${hex(n('phase_tag'))}`, `parm_err_loc\t: ${hex(n('parm_error_location'))}`);
    out.push(`lba\t\t: ${hex(n('lba'))}`, `nsid\t\t: ${hex(n('nsid'))}`, `vs\t\t: ${hex(n('vs'))}`, `trtype\t\t: ${hex(n('trtype'))}`);
    out.push(`cs\t\t: ${hex(n('cs'))}`, `trtype_spec_info\t: ${hex(n('trtype_spec_info'))}`, '.................');
  });
  return `${out.join('\n')}\n`;
}

// ── Firmware Slot ───────────────────────────────────────────────────────────

/** Firmware Slot log → nvme-cli JSON {DEV: {"Active Firmware Slot (afi)": n, "Firmware Rev Slot N": "…"}}. */
export function fwLogJson(buf: Uint8Array, ctrl: string): JsonObject {
  need(buf, 64, 'firmware slot log');
  const inner: JsonObject = { 'Active Firmware Slot (afi)': uint(buf, FW_SLOT.AFI) };
  for (let i = 0; i < 7; i++) {
    const rev = ascii(buf, { off: FW_SLOT.FRS1.off + 8 * i, size: 8 });
    if (rev !== '') inner[`Firmware Rev Slot ${i + 1}`] = rev;
  }
  return { [ctrl]: inner };
}

export function fwLogText(buf: Uint8Array, ctrl: string): string {
  const lines = [`Firmware Log for device:${ctrl}`, `afi  : ${hex(uint(buf, FW_SLOT.AFI))}`];
  for (let i = 0; i < 7; i++) {
    const f = { off: FW_SLOT.FRS1.off + 8 * i, size: 8 };
    const rev = ascii(buf, f);
    const le = hexBytes(buf.slice(f.off, f.off + 8).reverse(), 0, 8);
    if (rev !== '') lines.push(`frs${i + 1} : 0x${le.replace(/^0+(?=.)/, '')} (${rev})`);
  }
  return `${lines.join('\n')}\n`;
}

// ── raw data ────────────────────────────────────────────────────────────────

/** nvme-cli's hex dump (d()): 16 bytes a row with the offset and ASCII. */
export function hexDump(buf: Uint8Array): string {
  const lines = ['       0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f'];
  for (let off = 0; off < buf.length; off += 16) {
    const row = buf.subarray(off, Math.min(off + 16, buf.length));
    const hexs = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const asc = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${off.toString(16).padStart(4, '0')}: ${hexs.padEnd(47)} "${asc}"`);
  }
  return `${lines.join('\n')}\n`;
}
