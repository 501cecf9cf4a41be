// `nvmelab nvme …`: nvme-cli's admin commands against the host's
// controllers and namespaces, with nvme-cli's output shapes.
import { readFileSync } from 'node:fs';
import { UsageError, getInt, getStr, getBool, type FlagSpec, type Parsed } from './args.ts';
import type { HostApi } from './api.ts';
import type { CommandDef, Io } from './types.ts';
import { idCtrlJson, idCtrlText, idNsJson, idNsText, smartJson, smartText, errorLogJson, errorLogText, fwLogJson, fwLogText, hexDump, nsFormat, humanBytes, type JsonObject } from './nvme-format.ts';
import { CNS } from '../../src/spec/admin.ts';
import { LID } from '../../src/spec/log.ts';
import { S } from '../../src/spec/status.ts';
import { featureName } from '../../src/spec/features.ts';
import { FORMAT } from '../../src/spec/admin.ts';

const OUT: FlagSpec = { name: 'output-format', short: 'o', type: 'enum', values: ['normal', 'json'], help: 'output format', default: 'normal' };
const NSID: FlagSpec = { name: 'namespace-id', short: 'n', type: 'int', max: 0xffffffff, arg: 'NSID', help: 'namespace id (default: the device\'s, or all)' };
const HUMAN: FlagSpec = { name: 'human-readable', short: 'H', type: 'bool', help: 'accepted for nvme-cli compatibility' };
const DEV = { min: 1, max: 1, names: ['device'] };
/** nvme-cli's -b/--raw-binary: the data buffer as it came from the controller, on stdout. */
const RAW: FlagSpec = { name: 'raw-binary', short: 'b', type: 'bool', help: 'write the raw data buffer to stdout (binary)' };
const isRaw = (p: Parsed): boolean => getBool(p, 'raw-binary');
/** -b and -o json both choose the output: refuse the pair rather than guess. */
function checkRaw(p: Parsed): void {
  if (isRaw(p) && getStr(p, 'output-format') === 'json') throw new UsageError('--raw-binary and --output-format=json: choose one');
}
/** Writes the raw buffer; true when -b was given (the caller prints nothing else). */
function emitRaw(io: Io, p: Parsed, data: Uint8Array): boolean {
  if (!isRaw(p)) return false;
  io.stdout.write(data);
  return true;
}

/** Known Set Features data-buffer sizes (NVMe 1.4 §5.21.1): what nvme-cli sends when -l is not given. */
const FEATURE_DATA_LEN = new Map<number, number>([
  [0x0c, 256], // Autonomous Power State Transition: 32 entries of 8 bytes
  [0x0e, 8], // Timestamp
  [0x81, 8], // Host Identifier (16 with EXHID)
]);
/** Largest data buffer set-feature takes (one 4 KiB page; nvme-cli's limit too). */
const MAX_FEATURE_DATA = 4096;

/**
 * The data buffer for `set-feature --data FILE [--data-len N]`, read here
 * (the host may be remote): N bytes, else the feature's known size, else the
 * whole file. Every problem is one UsageError naming the flag.
 */
export function featureData(file: string, fid: number, dataLen: number | undefined, read: (f: string) => Uint8Array = (f) => readFileSync(f)): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = read(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`--data ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : e instanceof Error ? e.message : String(e)}`);
  }
  const len = dataLen ?? FEATURE_DATA_LEN.get(fid) ?? bytes.length;
  if (len === 0) throw new UsageError(`--data ${file}: the file is empty`);
  if (len > MAX_FEATURE_DATA) throw new UsageError(`--data ${file}: ${len} bytes is more than the ${MAX_FEATURE_DATA} a feature takes`);
  if (bytes.length < len) throw new UsageError(`--data ${file}: has ${bytes.length} bytes, ${dataLen !== undefined ? '--data-len' : `feature 0x${fid.toString(16)}`} needs ${len}`);
  return bytes.subarray(0, len);
}

const STATUS_NAMES = new Map<number, string>(Object.entries(S).map(([k, v]) => [v, k]));

/** nvme-cli's "NVMe status: NAME(0xNNN)" for a failed command. */
export function statusLine(status: number): string {
  const code = status & 0x7ff;
  return `NVMe status: ${STATUS_NAMES.get(code) ?? 'UNKNOWN'}(${`0x${status.toString(16)}`})`;
}

interface AdminReply {
  controller: string;
  nsid: number;
  status: number;
  result: number;
  data?: Uint8Array;
}

async function admin(api: HostApi, device: string, op: string, args: Record<string, unknown> = {}): Promise<AdminReply> {
  const r = (await api.execute('nvme-admin', { device, op, ...args })) as Record<string, unknown>;
  return {
    controller: String(r.controller),
    nsid: Number(r.nsid),
    status: Number(r.status),
    result: Number(r.result),
    ...(typeof r.data === 'string' ? { data: new Uint8Array(Buffer.from(r.data, 'base64')) } : {}),
  };
}

const devName = (p: Parsed): string => (p.positionals[0] ?? '').replace(/^\/dev\//, '');

function emit(io: Io, json: boolean, j: unknown, text: () => string): void {
  io.stdout.write(json ? `${JSON.stringify(j, null, 2)}\n` : text());
}

function failed(io: Io, r: AdminReply): boolean {
  if (r.status === 0) return false;
  io.stderr.write(`${statusLine(r.status)}\n`);
  return true;
}

function dataOf(r: AdminReply, what: string): Uint8Array {
  if (r.data === undefined) throw new Error(`${what}: the controller returned no data`);
  return r.data;
}

const isJson = (p: Parsed): boolean => getStr(p, 'output-format') === 'json';

export const NVME_COMMANDS: CommandDef[] = [
  {
    name: 'nvme list',
    summary: 'list NVMe namespaces of every attached controller',
    synopsis: 'nvme list [-o normal|json]',
    flags: [OUT],
    args: { min: 0, max: 0, names: [] },
    run: async (p, api, io) => {
      const ctrls = (await api.execute('query-controllers')) as { name: string; namespaces: { nsid: number; disk: string }[] }[];
      const rows: JsonObject[] = [];
      let index = 0;
      for (const c of ctrls) {
        const idc = await admin(api, c.name, 'identify', { cns: CNS.CTRL, nsid: 0 });
        if (failed(io, idc)) return 1;
        const cj = idCtrlJson(dataOf(idc, 'identify controller'));
        for (const ns of c.namespaces) {
          const idn = await admin(api, ns.disk, 'identify', { cns: CNS.NS, nsid: ns.nsid });
          if (failed(io, idn)) return 1;
          const nj = idNsJson(dataOf(idn, 'identify namespace'));
          const f = nsFormat(nj);
          rows.push({
            NameSpace: ns.nsid, DevicePath: `/dev/${ns.disk}`, GenericPath: `/dev/ng${c.name.slice(4)}n${ns.nsid}`, Firmware: String(cj.fr).trimEnd(),
            Index: index, ModelNumber: String(cj.mn).trimEnd(), SerialNumber: String(cj.sn).trimEnd(),
            UsedBytes: Number(nj.nuse) * f.lbaBytes, MaximumLBA: Number(nj.nsze), PhysicalSize: Number(nj.nsze) * f.lbaBytes, SectorSize: f.lbaBytes,
          });
        }
        index++;
      }
      if (isJson(p)) {
        io.stdout.write(`${JSON.stringify({ Devices: rows }, null, 2)}\n`);
        return 0;
      }
      const cols: [string, number][] = [['Node', 21], ['Generic', 21], ['SN', 20], ['Model', 40], ['Namespace', 9], ['Usage', 26], ['Format', 16], ['FW Rev', 8]];
      const line = (vals: string[]): string => vals.map((v, i) => v.padEnd(cols[i]?.[1] ?? 0)).join(' ').trimEnd();
      const out = [line(cols.map((c) => c[0])), line(cols.map((c) => '-'.repeat(c[1])))];
      for (const r of rows) {
        const usage = `${humanBytes(Number(r.UsedBytes)).padStart(9)} / ${humanBytes(Number(r.PhysicalSize)).padStart(9)}`;
        out.push(line([String(r.DevicePath), String(r.GenericPath), String(r.SerialNumber), String(r.ModelNumber), String(r.NameSpace), usage, `${String(r.SectorSize).padStart(4)}   B +  0 B`, String(r.Firmware)]));
      }
      io.stdout.write(`${out.join('\n')}\n`);
      return 0;
    },
  },
  {
    name: 'nvme id-ctrl',
    summary: 'Identify Controller (CNS 01h), decoded',
    synopsis: 'nvme id-ctrl <device> [-o normal|json] [-b] [-H]',
    flags: [OUT, RAW, HUMAN],
    args: DEV,
    check: checkRaw,
    run: async (p, api, io) => {
      const r = await admin(api, devName(p), 'identify', { cns: CNS.CTRL, nsid: 0 });
      if (failed(io, r)) return 1;
      if (emitRaw(io, p, dataOf(r, 'identify controller'))) return 0;
      const j = idCtrlJson(dataOf(r, 'identify controller'));
      emit(io, isJson(p), j, () => idCtrlText(j));
      return 0;
    },
  },
  {
    name: 'nvme id-ns',
    summary: 'Identify Namespace (CNS 00h), decoded',
    synopsis: 'nvme id-ns <device> [-n NSID] [-o normal|json] [-b] [-H]',
    flags: [NSID, OUT, RAW, HUMAN],
    args: DEV,
    check: checkRaw,
    run: async (p, api, io) => {
      const nsid = getInt(p, 'namespace-id');
      const r = await admin(api, devName(p), 'identify', { cns: CNS.NS, ...(nsid !== undefined ? { nsid } : {}) });
      if (failed(io, r)) return 1;
      if (r.nsid === 0) {
        io.stderr.write(`${devName(p)}: a controller device needs --namespace-id\n`);
        return 2;
      }
      if (emitRaw(io, p, dataOf(r, 'identify namespace'))) return 0;
      const j = idNsJson(dataOf(r, 'identify namespace'));
      emit(io, isJson(p), j, () => idNsText(j, r.nsid));
      return 0;
    },
  },
  {
    name: 'nvme smart-log',
    summary: 'SMART / Health Information log (02h)',
    synopsis: 'nvme smart-log <device> [-n NSID] [-o normal|json] [-b]',
    flags: [NSID, OUT, RAW, HUMAN],
    args: DEV,
    check: checkRaw,
    run: async (p, api, io) => {
      const nsid = getInt(p, 'namespace-id') ?? 0xffffffff;
      const r = await admin(api, devName(p), 'get-log', { lid: LID.SMART, nsid, len: 512 });
      if (failed(io, r)) return 1;
      if (emitRaw(io, p, dataOf(r, 'smart-log'))) return 0;
      const j = smartJson(dataOf(r, 'smart-log'));
      emit(io, isJson(p), j, () => smartText(j, r.controller, nsid));
      return 0;
    },
  },
  {
    name: 'nvme error-log',
    summary: 'Error Information log (01h)',
    synopsis: 'nvme error-log <device> [-e ENTRIES] [-o normal|json] [-b]',
    flags: [{ name: 'log-entries', short: 'e', type: 'int', min: 1, max: 256, help: 'entries to read (default: ELPE+1 from id-ctrl)' }, OUT, RAW],
    args: DEV,
    check: checkRaw,
    run: async (p, api, io) => {
      let n = getInt(p, 'log-entries');
      if (n === undefined) {
        const idc = await admin(api, devName(p), 'identify', { cns: CNS.CTRL, nsid: 0 });
        if (failed(io, idc)) return 1;
        n = Math.min(256, Number(idCtrlJson(dataOf(idc, 'identify controller')).elpe) + 1);
      }
      const r = await admin(api, devName(p), 'get-log', { lid: LID.ERROR_INFO, nsid: 0xffffffff, len: n * 64 });
      if (failed(io, r)) return 1;
      if (emitRaw(io, p, dataOf(r, 'error-log'))) return 0;
      const j = errorLogJson(dataOf(r, 'error-log'));
      emit(io, isJson(p), j, () => errorLogText(j, r.controller));
      return 0;
    },
  },
  {
    name: 'nvme fw-log',
    summary: 'Firmware Slot Information log (03h)',
    synopsis: 'nvme fw-log <device> [-o normal|json] [-b]',
    flags: [OUT, RAW],
    args: DEV,
    check: checkRaw,
    run: async (p, api, io) => {
      const r = await admin(api, devName(p), 'get-log', { lid: LID.FW_SLOT, nsid: 0xffffffff, len: 512 });
      if (failed(io, r)) return 1;
      const data = dataOf(r, 'fw-log');
      if (emitRaw(io, p, data)) return 0;
      emit(io, isJson(p), fwLogJson(data, r.controller), () => fwLogText(data, r.controller));
      return 0;
    },
  },
  {
    name: 'nvme get-log',
    summary: 'Get Log Page, printed as a hex dump (or raw with -b)',
    synopsis: 'nvme get-log <device> -i LID -l LEN [-n NSID] [--lsp=N] [--lpo=N] [--rae] [-o normal|json] [-b]',
    flags: [
      { name: 'log-id', short: 'i', type: 'int', max: 0xff, arg: 'LID', help: 'log page identifier (required)' },
      { name: 'log-len', short: 'l', type: 'int', min: 4, max: 1 << 20, arg: 'LEN', help: 'bytes to read, a multiple of 4 (required)' },
      NSID,
      { name: 'lsp', short: 's', type: 'int', max: 0x7f, help: 'log specific field' },
      { name: 'lpo', short: 'O', type: 'int', help: 'log page offset in bytes, a multiple of 4' },
      { name: 'rae', short: 'r', type: 'bool', help: 'retain asynchronous event' },
      OUT, RAW,
    ],
    args: DEV,
    check: (p) => {
      checkRaw(p);
      if (getInt(p, 'log-id') === undefined) throw new UsageError('--log-id is required');
      const len = getInt(p, 'log-len');
      if (len === undefined) throw new UsageError('--log-len is required');
      if (len % 4 !== 0) throw new UsageError(`--log-len: ${len} is not a multiple of 4`);
      if ((getInt(p, 'lpo') ?? 0) % 4 !== 0) throw new UsageError(`--lpo: ${getInt(p, 'lpo') ?? 0} is not a multiple of 4`);
    },
    run: async (p, api, io) => {
      const lid = getInt(p, 'log-id') ?? 0;
      const nsid = getInt(p, 'namespace-id') ?? 0xffffffff;
      const r = await admin(api, devName(p), 'get-log', { lid, nsid, len: getInt(p, 'log-len') ?? 4, lsp: getInt(p, 'lsp') ?? 0, lpo: getInt(p, 'lpo') ?? 0, rae: getBool(p, 'rae') });
      if (failed(io, r)) return 1;
      const data = dataOf(r, 'get-log');
      if (emitRaw(io, p, data)) return 0;
      emit(io, isJson(p), { log_id: lid, nsid, length: data.length, data: Buffer.from(data).toString('hex') }, () => `Device:${r.controller} log-id:${lid} namespace-id:${`0x${nsid.toString(16)}`}\n${hexDump(data)}`);
      return 0;
    },
  },
  {
    name: 'nvme get-feature',
    summary: 'Get Features',
    synopsis: 'nvme get-feature <device> -f FID [-n NSID] [-s SEL] [-c CDW11] [-l LEN] [-o normal|json] [-b]',
    flags: [
      { name: 'feature-id', short: 'f', type: 'int', max: 0xff, arg: 'FID', help: 'feature identifier (required)' },
      NSID,
      { name: 'sel', short: 's', type: 'int', max: 3, help: '0 current, 1 default, 2 saved, 3 supported capabilities', default: '0' },
      { name: 'cdw11', short: 'c', type: 'int', max: 0xffffffff, help: 'command dword 11' },
      { name: 'data-len', short: 'l', type: 'int', max: 4096, help: 'bytes of feature data to read' },
      OUT, { ...RAW, help: 'write the feature\'s data buffer to stdout (binary); without one, print the value' }, HUMAN,
    ],
    args: DEV,
    check: (p) => {
      checkRaw(p);
      if (getInt(p, 'feature-id') === undefined) throw new UsageError('--feature-id is required');
    },
    run: async (p, api, io) => {
      const fid = getInt(p, 'feature-id') ?? 0;
      const sel = getInt(p, 'sel') ?? 0;
      const r = await admin(api, devName(p), 'get-feature', { fid, sel, cdw11: getInt(p, 'cdw11') ?? 0, len: getInt(p, 'data-len') ?? 0, ...(getInt(p, 'namespace-id') !== undefined ? { nsid: getInt(p, 'namespace-id') } : {}) });
      if (failed(io, r)) return 1;
      if (r.data !== undefined && emitRaw(io, p, r.data)) return 0;
      const selName = ['Current', 'Default', 'Saved', 'Supported capabilities'][sel] ?? '?';
      const j = { feature_id: fid, name: featureName(fid), sel, value: r.result >>> 0, ...(r.data !== undefined ? { data: Buffer.from(r.data).toString('hex') } : {}) };
      emit(io, isJson(p), j, () => `get-feature:${`0x${fid.toString(16).padStart(2, '0')}`} (${featureName(fid)}), ${selName} value:${`0x${(r.result >>> 0).toString(16).padStart(8, '0')}`}\n${r.data !== undefined ? hexDump(r.data) : ''}`);
      return 0;
    },
  },
  {
    name: 'nvme set-feature',
    summary: 'Set Features',
    synopsis: 'nvme set-feature <device> -f FID [-v VALUE] [-d FILE [-l LEN]] [-n NSID] [-s]',
    details: 'With --data, the feature\'s data buffer is read from FILE: --data-len bytes, else the feature\'s\n'
      + 'own size (Timestamp 8, APST 256, Host Identifier 8), else the whole file (at most 4096 bytes).',
    flags: [
      { name: 'feature-id', short: 'f', type: 'int', max: 0xff, arg: 'FID', help: 'feature identifier (required)' },
      { name: 'value', short: 'v', type: 'int', max: 0xffffffff, help: 'new value (command dword 11) (required unless --data is given; then 0)' },
      NSID,
      { name: 'data-len', short: 'l', type: 'int', min: 1, max: MAX_FEATURE_DATA, arg: 'LEN', help: 'bytes of the data buffer (needs --data)' },
      { name: 'data', short: 'd', type: 'string', arg: 'FILE', help: 'file holding the feature\'s data buffer' },
      { name: 'save', short: 's', type: 'bool', help: 'make it persist across power cycles (SV)' },
      OUT,
    ],
    args: DEV,
    check: (p) => {
      if (getInt(p, 'feature-id') === undefined) throw new UsageError('--feature-id is required');
      if (getInt(p, 'data-len') !== undefined && getStr(p, 'data') === undefined) throw new UsageError('--data-len needs --data FILE');
      if (getInt(p, 'value') === undefined && getStr(p, 'data') === undefined) throw new UsageError('--value is required (or a data buffer with --data FILE)');
    },
    run: async (p, api, io) => {
      const fid = getInt(p, 'feature-id') ?? 0;
      const value = getInt(p, 'value') ?? 0;
      const file = getStr(p, 'data');
      const data = file !== undefined ? featureData(file, fid, getInt(p, 'data-len')) : undefined;
      const r = await admin(api, devName(p), 'set-feature', {
        fid, cdw11: value, save: getBool(p, 'save'),
        ...(data !== undefined ? { data: Buffer.from(data).toString('base64') } : {}),
        ...(getInt(p, 'namespace-id') !== undefined ? { nsid: getInt(p, 'namespace-id') } : {}),
      });
      if (failed(io, r)) return 1;
      const j = { feature_id: fid, name: featureName(fid), value, save: getBool(p, 'save'), result: r.result >>> 0, ...(data !== undefined ? { data_len: data.length } : {}) };
      emit(io, isJson(p), j, () => `set-feature:${`0x${fid.toString(16).padStart(2, '0')}`} (${featureName(fid)}), value:${`0x${value.toString(16).padStart(8, '0')}`}, cdw12:00000000, save:${getBool(p, 'save') ? 1 : 0}\n${data !== undefined ? hexDump(data) : ''}`);
      return 0;
    },
  },
  {
    name: 'nvme format',
    summary: 'Format NVM: change the LBA format or erase a namespace',
    synopsis: 'nvme format <device> [-n NSID] [-l LBAF] [-s SES] [-i PI] [-p PIL] [-m MS] [-f]',
    flags: [
      NSID,
      { name: 'lbaf', short: 'l', type: 'int', max: 15, help: 'LBA format index (default: the one in use)' },
      { name: 'ses', short: 's', type: 'int', max: 2, help: 'secure erase: 0 none, 1 user data, 2 crypto', default: '0' },
      { name: 'pi', short: 'i', type: 'int', max: 3, help: 'protection information type', default: '0' },
      { name: 'pil', short: 'p', type: 'int', max: 1, help: 'protection information location', default: '0' },
      { name: 'ms', short: 'm', type: 'int', max: 1, help: 'metadata settings (1 = extended LBA)', default: '0' },
      { name: 'force', short: 'f', type: 'bool', help: 'do not ask (nvmelab never asks)' },
    ],
    args: DEV,
    run: async (p, api, io) => {
      // nvme-cli keeps the format in use when --lbaf is not given.
      let lbaf = getInt(p, 'lbaf');
      if (lbaf === undefined) {
        const idn = await admin(api, devName(p), 'identify', { cns: CNS.NS, ...(getInt(p, 'namespace-id') !== undefined ? { nsid: getInt(p, 'namespace-id') } : {}) });
        if (failed(io, idn)) return 1;
        lbaf = Number(idNsJson(dataOf(idn, 'identify namespace')).flbas) & 0xf;
      }
      // Format NVM CDW10 (NVMe 1.4 §5.23): LBAF 3:0, MSET 4, PI 7:5, PIL 8, SES 11:9.
      const cdw10 = lbaf | ((getInt(p, 'ms') ?? 0) === 1 ? FORMAT.MSET : 0) | ((getInt(p, 'pi') ?? 0) << FORMAT.PI_SHIFT)
        | ((getInt(p, 'pil') ?? 0) === 1 ? FORMAT.PIL : 0) | ((getInt(p, 'ses') ?? 0) << FORMAT.SES_SHIFT);
      const r = await admin(api, devName(p), 'format', { cdw10, ...(getInt(p, 'namespace-id') !== undefined ? { nsid: getInt(p, 'namespace-id') } : {}) });
      if (failed(io, r)) return 1;
      io.stdout.write(`Success formatting namespace:${r.nsid.toString(16)}\n`);
      return 0;
    },
  },
  {
    name: 'nvme flush',
    summary: 'Flush a namespace\'s volatile write cache',
    synopsis: 'nvme flush <device> [-n NSID]',
    flags: [NSID],
    args: DEV,
    run: async (p, api, io) => {
      const r = await admin(api, devName(p), 'flush', getInt(p, 'namespace-id') !== undefined ? { nsid: getInt(p, 'namespace-id') } : {});
      if (failed(io, r)) return 1;
      io.stdout.write('NVMe Flush: success\n');
      return 0;
    },
  },
  {
    name: 'nvme reset',
    summary: 'Reset the controller (CC.EN 1→0→1) and bring it back up',
    synopsis: 'nvme reset <device>',
    flags: [],
    args: DEV,
    run: async (p, api) => {
      await admin(api, devName(p), 'reset');
      return 0;
    },
  },
  {
    name: 'nvme ns-rescan',
    summary: 'Rescan the controller\'s namespaces',
    synopsis: 'nvme ns-rescan <device>',
    flags: [],
    args: DEV,
    run: async (p, api) => {
      await admin(api, devName(p), 'rescan');
      return 0;
    },
  },
];
