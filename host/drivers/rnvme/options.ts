// rnvme driver options: Linux nvme / nvme-pci module parameters, per
// controller instead of global. Every knob with its default and one line of
// meaning in one table (README / CLI print it with formatOptionTable()).
// Validated before anything touches the device.
import { RnvmeError } from './errors.ts';

export interface RnvmeOptions {
  /** I/O queues with interrupts (Linux: one per possible CPU). 0 = admin-only controller. */
  io_queues: number;
  /** Extra polled I/O queues (no interrupt vector; REQ_FLAG.POLLED requests go there). */
  poll_queues: number;
  /** Entries per I/O queue; capped by CAP.MQES+1. */
  io_queue_depth: number;
  /** Put I/O submission queues in the controller memory buffer when CMBSZ.SQS. */
  use_cmb_sqes: boolean;
  /** Use shadow doorbells (Doorbell Buffer Config) when OACS bit 8 is set. */
  use_dbbuf: boolean;
  /** Use SGLs when the average segment is at least this many bytes (0 = never). */
  sgl_threshold: number;
  /** Retries of a failed command without DNR. */
  max_retries: number;
  /** I/O command timeout, ms. */
  io_timeout: number;
  /** Admin command timeout, ms. */
  admin_timeout: number;
  /** Lower bound of the shutdown timeout, ms (RTD3E may raise it, to at most 60 s). */
  shutdown_timeout: number;
  /** Interrupt coalescing aggregation threshold in completions (0 = leave coalescing off). */
  coalescing_thr: number;
  /** Interrupt coalescing aggregation time in 100 µs units (0..255). */
  coalescing_time: number;
  /** Logical CPUs (software queues) of the tag set; 0 = io_queues (at least 1). */
  nr_cpus: number;
  /** Transfers up to this many bytes go through a gated per-queue data slot instead of a dma_map (0 = always map). */
  data_slot_size: number;
  /** Data slots per I/O queue (capped by the queue depth); when all are busy, requests are mapped. */
  data_slots: number;
}

export interface OptionInfo {
  name: keyof RnvmeOptions;
  type: 'int' | 'bool';
  default: number | boolean;
  min?: number;
  max?: number;
  unit?: string;
  doc: string;
}

/** The option table (Linux drivers/nvme/host/pci.c and core.c module parameters). */
export const RNVME_OPTIONS: readonly OptionInfo[] = [
  { name: 'io_queues', type: 'int', default: 2, min: 0, max: 1024, doc: 'I/O queues with MSI-X interrupts (IV = qid)' },
  { name: 'poll_queues', type: 'int', default: 0, min: 0, max: 1024, doc: 'polled I/O queues without interrupts (REQ_FLAG.POLLED I/O)' },
  { name: 'io_queue_depth', type: 'int', default: 1024, min: 2, max: 4095, doc: 'entries per I/O queue, capped by CAP.MQES+1' },
  { name: 'use_cmb_sqes', type: 'bool', default: true, doc: 'I/O SQs in the controller memory buffer when CMBSZ.SQS' },
  { name: 'use_dbbuf', type: 'bool', default: true, doc: 'shadow doorbells + EventIdx when OACS.DBBUF (bit 8)' },
  { name: 'sgl_threshold', type: 'int', default: 32768, min: 0, max: 2 ** 31, unit: 'bytes', doc: 'use SGLs when the average segment is at least this (0 = PRPs only)' },
  { name: 'max_retries', type: 'int', default: 5, min: 0, max: 255, doc: 'retries of a failed command without DNR' },
  { name: 'io_timeout', type: 'int', default: 30000, min: 1, max: 2 ** 31, unit: 'ms', doc: 'I/O timeout (then CSTS, poll, Abort, reset)' },
  { name: 'admin_timeout', type: 'int', default: 60000, min: 1, max: 2 ** 31, unit: 'ms', doc: 'admin command timeout (then reset)' },
  { name: 'shutdown_timeout', type: 'int', default: 5000, min: 1, max: 60000, unit: 'ms', doc: 'wait for CSTS.SHST complete (raised by RTD3E, ≤ 60 s)' },
  { name: 'coalescing_thr', type: 'int', default: 0, min: 0, max: 256, doc: 'interrupt coalescing threshold in completions (Set Features 08h; 0 = off)' },
  { name: 'coalescing_time', type: 'int', default: 0, min: 0, max: 255, unit: '100us', doc: 'interrupt coalescing time' },
  { name: 'data_slot_size', type: 'int', default: 16384, min: 0, max: 1 << 20, unit: 'bytes', doc: 'transfers up to this size use a host-gated data slot (no dma_map per I/O; 0 = map every request)' },
  { name: 'data_slots', type: 'int', default: 256, min: 0, max: 65536, doc: 'gated data slots per I/O queue (capped by the queue depth)' },
  { name: 'nr_cpus', type: 'int', default: 0, min: 0, max: 4096, doc: 'logical CPUs (software queues) of the tag set; 0 = io_queues' },
];

export const DEFAULT_OPTIONS: Readonly<RnvmeOptions> = Object.freeze(
  Object.fromEntries(RNVME_OPTIONS.map((o) => [o.name, o.default])) as unknown as RnvmeOptions,
);

/** Validate a partial option set and fill in defaults. Throws RnvmeError EINVAL naming the option. */
export function resolveOptions(over: Partial<RnvmeOptions> = {}): RnvmeOptions {
  if (over === null || typeof over !== 'object') throw new RnvmeError('EINVAL', 'rnvme options must be an object');
  const out = { ...DEFAULT_OPTIONS } as RnvmeOptions;
  const rec = out as unknown as Record<string, number | boolean>;
  for (const [k, v] of Object.entries(over)) {
    const info = RNVME_OPTIONS.find((o) => o.name === k);
    if (info === undefined) throw new RnvmeError('EINVAL', `rnvme: unknown option '${k}'`);
    if (v === undefined) continue;
    if (info.type === 'bool') {
      if (typeof v !== 'boolean') throw new RnvmeError('EINVAL', `rnvme: option '${k}' must be a boolean, got ${String(v)}`);
    } else if (typeof v !== 'number' || !Number.isInteger(v) || v < (info.min ?? 0) || v > (info.max ?? Number.MAX_SAFE_INTEGER)) {
      throw new RnvmeError('EINVAL', `rnvme: option '${k}' must be an integer in ${info.min ?? 0}..${info.max ?? '∞'}, got ${String(v)}`);
    }
    rec[k] = v as number | boolean;
  }
  if (out.io_queues === 0 && out.poll_queues > 0) throw new RnvmeError('EINVAL', 'rnvme: poll_queues needs at least one interrupt-driven io queue');
  return out;
}

/** The option table as text (name, default, unit, meaning). */
export function formatOptionTable(): string {
  const rows = RNVME_OPTIONS.map((o) => [o.name, String(o.default), o.unit ?? '', o.doc]);
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length), ['option', 'default', 'unit'][i]?.length ?? 0));
  const line = (r: string[]): string => r.map((c, i) => (i < 3 ? c.padEnd(w[i] ?? 0) : c)).join('  ');
  return [line(['option', 'default', 'unit', 'meaning']), ...rows.map(line)].join('\n');
}
