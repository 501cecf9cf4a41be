// Options of `-device nvme` and `-device nvme-ns`, QEMU-style, each with its
// default and a one-line meaning (the README prints this table through
// device/registry.ts formatDeviceHelp). Validated before the device exists.
import type { OptionSpec, DeviceOptions, ChildDevice } from '../registry.ts';
import { OptionError } from '../registry.ts';

export const NVME_OPTIONS: readonly OptionSpec[] = [
  { name: 'serial', type: 'string', default: 'NVMELAB0001', maxLength: 20, pattern: /^[\x20-\x7e]+$/, doc: 'Identify SN (ASCII, ≤ 20 chars)' },
  { name: 'model', type: 'string', default: 'nvmelab NVMe Ctrl', maxLength: 40, pattern: /^[\x20-\x7e]+$/, doc: 'Identify MN (ASCII, ≤ 40 chars)' },
  { name: 'max_ioqpairs', type: 'int', default: 64, min: 1, max: 65535, doc: 'I/O queue pairs the controller supports' },
  { name: 'msix_qsize', type: 'int', default: 65, min: 1, max: 2048, doc: 'MSI-X vectors (queue interrupt vectors 0..n-1)' },
  { name: 'mqes', type: 'int', default: 2047, min: 1, max: 65535, doc: 'CAP.MQES: largest queue, 0\'s based' },
  { name: 'mdts', type: 'int', default: 7, min: 1, max: 9, doc: 'Maximum Data Transfer Size: 2^mdts × 4 KiB' },
  { name: 'aerl', type: 'int', default: 3, min: 0, max: 255, doc: 'Async Event Request Limit, 0\'s based' },
  { name: 'aer_max_queued', type: 'int', default: 64, min: 1, max: 4096, doc: 'Queued asynchronous events kept before dropping' },
  { name: 'cmb_size_mb', type: 'int', default: 0, min: 0, max: 1024, doc: 'Controller memory buffer in MiB (BAR2; SQs may live there); 0 = none' },
  { name: 'vwc', type: 'bool', default: true, doc: 'Volatile write cache present (Identify VWC, Feature 06h)' },
  { name: 'dbcs', type: 'bool', default: true, doc: 'Doorbell Buffer Config (shadow doorbells, OACS bit 8)' },
  { name: 'burst', type: 'int', default: 32, min: 1, max: 65536, doc: 'SQEs fetched per SQ per arbitration round (capped by Feature 01h AB)' },
  { name: 'crdt1', type: 'int', default: 0, min: 0, max: 65535, doc: 'Identify CRDT1: Command Retry Delay for CRD=1, in 100 ms units' },
  { name: 'crdt2', type: 'int', default: 0, min: 0, max: 65535, doc: 'Identify CRDT2: Command Retry Delay for CRD=2, in 100 ms units' },
  { name: 'crdt3', type: 'int', default: 0, min: 0, max: 65535, doc: 'Identify CRDT3: Command Retry Delay for CRD=3, in 100 ms units' },
];

export const NVME_NS_OPTIONS: readonly OptionSpec[] = [
  { name: 'nsid', type: 'int', min: 1, max: 256, doc: 'Namespace ID (default: the next free one)' },
  { name: 'size', type: 'size', default: 1 << 30, min: 4096, doc: 'Capacity in bytes (1G, 64M, 2T, …)' },
  { name: 'logical_block_size', type: 'enum', default: '4096', choices: ['512', '4096'], doc: 'Logical block size in bytes' },
  { name: 'file', type: 'string', doc: 'Backing file (created if missing, reopened with its data); absent = sparse RAM' },
];

/** Identify NN: highest NSID supported (QEMU's NVME_MAX_NAMESPACES). */
export const MAX_NAMESPACES = 256;

export interface NsConfig {
  nsid: number;
  sizeBytes: number;
  blockSize: number;
  file?: string;
}

export interface NvmeConfig {
  serial: string;
  model: string;
  maxIoQpairs: number;
  msixQsize: number;
  mqes: number;
  mdts: number;
  aerl: number;
  aerMaxQueued: number;
  cmbSizeMb: number;
  vwc: boolean;
  dbcs: boolean;
  burst: number;
  /** Identify CRDT1..3 (NVMe 1.4 §5.15.2.2), 100 ms units; a host sets ACRE (Feature 16h) to get CRD in statuses. */
  crdt: [number, number, number];
  namespaces: NsConfig[];
}

export const DEFAULT_NS: NsConfig = { nsid: 1, sizeBytes: 1 << 30, blockSize: 4096 };

/** Defaults for unit tests and embedders; `over` replaces fields. */
export function nvmeConfig(over: Partial<NvmeConfig> = {}): NvmeConfig {
  return {
    serial: 'NVMELAB0001', model: 'nvmelab NVMe Ctrl', maxIoQpairs: 64, msixQsize: 65, mqes: 2047, mdts: 7, aerl: 3,
    aerMaxQueued: 64, cmbSizeMb: 0, vwc: true, dbcs: true, burst: 32, crdt: [0, 0, 0], namespaces: [{ ...DEFAULT_NS }], ...over,
  };
}

/** Build the config from validated options; throws OptionError (one line) for bad combinations. */
export function configFromOptions(o: DeviceOptions, children: readonly ChildDevice[]): NvmeConfig {
  const namespaces: NsConfig[] = [];
  const used = new Set<number>();
  let next = 1;
  for (const ch of children) {
    if (ch.type !== 'nvme-ns') throw new OptionError(`-device ${ch.type}: cannot attach to nvme`);
    let nsid = ch.options.optInt('nsid');
    if (nsid === undefined) {
      while (used.has(next)) next++;
      nsid = next;
    }
    if (nsid > MAX_NAMESPACES) throw new OptionError(`-device nvme-ns: option 'nsid': no free NSID ≤ ${MAX_NAMESPACES}`);
    if (used.has(nsid)) throw new OptionError(`-device nvme-ns: option 'nsid': ${nsid} is used twice`);
    used.add(nsid);
    const blockSize = Number(ch.options.str('logical_block_size'));
    const sizeBytes = ch.options.int('size');
    if (sizeBytes % blockSize !== 0) throw new OptionError(`-device nvme-ns,nsid=${nsid}: option 'size': ${sizeBytes} is not a multiple of logical_block_size ${blockSize}`);
    const file = ch.options.optStr('file');
    namespaces.push(file === undefined ? { nsid, sizeBytes, blockSize } : { nsid, sizeBytes, blockSize, file });
  }
  if (namespaces.length === 0) namespaces.push({ ...DEFAULT_NS });
  namespaces.sort((a, b) => a.nsid - b.nsid);
  const cfg = nvmeConfig({
    serial: o.str('serial'), model: o.str('model'), maxIoQpairs: o.int('max_ioqpairs'), msixQsize: o.int('msix_qsize'),
    mqes: o.int('mqes'), mdts: o.int('mdts'), aerl: o.int('aerl'), aerMaxQueued: o.int('aer_max_queued'),
    cmbSizeMb: o.int('cmb_size_mb'), vwc: o.bool('vwc'), dbcs: o.bool('dbcs'), burst: o.int('burst'),
    crdt: [o.int('crdt1'), o.int('crdt2'), o.int('crdt3')], namespaces,
  });
  if (cfg.cmbSizeMb > 0 && (cfg.cmbSizeMb & (cfg.cmbSizeMb - 1)) !== 0) {
    throw new OptionError(`-device nvme: option 'cmb_size_mb': ${cfg.cmbSizeMb} must be a power of two (it is a BAR)`);
  }
  return cfg;
}
