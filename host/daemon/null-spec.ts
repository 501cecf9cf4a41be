// `--null NAME[,key=value...]`: one rnull device the configfs way
// (mkdir nullb/NAME; echo value > key …; echo 1 > power). Keys are null_blk's
// configfs attributes (size in MiB, blocksize, irqmode, memory_backed, …) plus
// the module-parameter spellings `gb` (size in GiB) and `bs`.
import { paramInfo } from '../drivers/rnull/index.ts';

export interface NullSpec {
  /** Device (and disk) name, e.g. nullb0. Empty: the next free nullbN. */
  name: string;
  /** Attribute writes in order, configfs names (gb already turned into size). */
  attrs: [string, string][];
  /** power=0 given: configure but leave it off. */
  power: boolean;
}

const NAME_RE = /^[A-Za-z0-9_.-]{1,32}$/;
/** configfs fault-injection attributes (timeout_inject/probability, …). */
const FAULT_RE = /^(timeout_inject|requeue_inject|init_hctx_fault_inject)\/(interval|probability|space|times|verbose)$/;
const EXTRA = new Set(['badblocks', 'zone_readonly', 'zone_offline']);

/** Parse one --null value. Throws Error naming the bad part. */
export function parseNullSpec(spec: string): NullSpec {
  const parts = spec.split(',').map((s) => s.trim());
  let name = '';
  if (parts.length > 0 && parts[0] !== undefined && !parts[0].includes('=')) {
    name = parts.shift() ?? '';
    if (!NAME_RE.test(name)) throw new Error(`bad device name '${name}' (1..32 of [A-Za-z0-9_.-])`);
  }
  const out: NullSpec = { name, attrs: [], power: true };
  for (const p of parts) {
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq <= 0) throw new Error(`'${p}' is not key=value`);
    const k = p.slice(0, eq);
    const v = p.slice(eq + 1);
    if (k === 'power') {
      if (v !== '0' && v !== '1') throw new Error(`power=${v}: expected 0 or 1`);
      out.power = v === '1';
      continue;
    }
    if (k === 'gb') {
      if (!/^[0-9]+$/.test(v) || Number(v) < 1) throw new Error(`gb=${v}: expected a positive integer (GiB)`);
      out.attrs.push(['size', String(Number(v) * 1024)]);
      continue;
    }
    if (k === 'nr_devices') throw new Error(`nr_devices: give one --null per device`);
    if (paramInfo(k) === undefined && !FAULT_RE.test(k) && !EXTRA.has(k)) throw new Error(`unknown null_blk option '${k}'`);
    out.attrs.push([k, v]);
  }
  return out;
}
