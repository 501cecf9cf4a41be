// Run-time namespace attach / detach through the control channel, as QEMU's
// namespace attachment does: the namespace appears in (or leaves) the active
// namespace list, its NSID goes onto the Changed Namespace List (log 04h) and,
// when Async Event Configuration bit 8 (Namespace Attribute Notices) is set,
// an asynchronous event Notice / Namespace Attribute Changed / log 04h is
// queued (NVMe 1.4 §5.2 Figure 146, §5.14.1.4, §5.21.1.11).
//
//   ns-add    {"nsid"?: N, "size": "4M" | bytes, "logical_block_size"?: 512 | 4096}  → {"nsid": N}
//   ns-remove {"nsid": N}                                                          → {"nsid": N}
//
// Namespaces added here live in RAM. Commands already fetched for a removed
// namespace finish against its data; later ones get Invalid Namespace (DNR).
import { NamespaceData } from '../backend/namespace.ts';
import { parseSize } from '../registry.ts';
import { argInt, QmpError, type ControlRegistry, type QmpArgs } from '../control/commands.ts';
import { AER_INFO_NOTICE, AER_TYPE } from '../../src/spec/admin.ts';
import { ASYNC_EVENT_CONFIG } from '../../src/spec/features.ts';
import { CHANGED_NS, LID } from '../../src/spec/log.ts';
import type { NvmeController } from './controller.ts';
import { MAX_NAMESPACES } from './options.ts';

const BLOCK_SIZES = [512, 4096] as const;

/**
 * Record a namespace change (§5.14.1.4): the NSID joins the Changed Namespace
 * List once (more than 1024 changes: the list is the single entry FFFFFFFFh),
 * and a Namespace Attribute Notice is queued when the host enabled it.
 */
export function notifyNsChanged(c: NvmeController, nsid: number): void {
  const list = c.changedNs;
  if (list[0] !== CHANGED_NS.OVERFLOW && !list.includes(nsid)) {
    if (list.length >= CHANGED_NS.ENTRIES) list.splice(0, list.length, CHANGED_NS.OVERFLOW);
    else list.push(nsid);
  }
  if ((c.features.asyncEventConfig & ASYNC_EVENT_CONFIG.NS_ATTR) !== 0) {
    c.aer.enqueue(AER_TYPE.NOTICE, AER_INFO_NOTICE.NS_ATTR_CHANGED, LID.CHANGED_NS);
  }
}

/** Attach a new RAM namespace. Throws QmpError for a taken NSID or a bad size. Returns the NSID. */
export function addNamespace(c: NvmeController, o: { nsid?: number; sizeBytes: number; blockSize: number }): number {
  let nsid = o.nsid;
  if (nsid === undefined) {
    nsid = 1;
    while (c.namespaces.has(nsid)) nsid++;
    if (nsid > MAX_NAMESPACES) throw new QmpError('GenericError', `no free NSID ≤ ${MAX_NAMESPACES}`);
  }
  if (c.namespaces.has(nsid)) throw new QmpError('GenericError', `namespace ${nsid} already exists`);
  if (o.sizeBytes < 4096 || o.sizeBytes % o.blockSize !== 0) {
    throw new QmpError('GenericError', `size ${o.sizeBytes} must be ≥ 4096 and a multiple of logical_block_size ${o.blockSize}`);
  }
  const data = new NamespaceData({ nsid, sizeBytes: o.sizeBytes, blockSize: o.blockSize, writeCache: c.cfg.vwc });
  c.namespaces.set(nsid, { nsid, data, tler: 0 });
  c.log.info({ nsid, size: o.sizeBytes, lbs: o.blockSize }, 'namespace attached');
  notifyNsChanged(c, nsid);
  return nsid;
}

/** Detach a namespace: flush its cache, close its store, notify. Throws QmpError when it does not exist. */
export async function removeNamespace(c: NvmeController, nsid: number): Promise<void> {
  const ns = c.namespaces.get(nsid);
  if (ns === undefined) throw new QmpError('GenericError', `no namespace ${nsid}`);
  c.namespaces.delete(nsid);
  notifyNsChanged(c, nsid);
  c.log.info({ nsid }, 'namespace detached');
  await ns.data.flush();
  ns.data.close();
}

function sizeArg(args: QmpArgs): number {
  const v = args.size;
  const n = typeof v === 'string' ? parseSize(v) : typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined;
  if (n === undefined) throw new QmpError('GenericError', "Parameter 'size' expects a size (bytes, or e.g. \"4M\")");
  return n;
}

/** Register ns-add / ns-remove (once per daemon; a second controller reuses the first's commands). */
export function registerNsControl(c: NvmeController, control: ControlRegistry): void {
  if (control.has('ns-add')) return;
  control.register('ns-add', 'attach a RAM namespace at run time: {"size": "4M", "nsid"?: N, "logical_block_size"?: 512|4096}; raises the Namespace Attribute Changed event', (args) => {
    const nsid = args.nsid === undefined ? undefined : argInt(args, 'nsid', 0, 1, MAX_NAMESPACES);
    const blockSize = argInt(args, 'logical_block_size', 4096, 512, 4096);
    if (!(BLOCK_SIZES as readonly number[]).includes(blockSize)) throw new QmpError('GenericError', "Parameter 'logical_block_size' expects 512 or 4096");
    return { nsid: addNamespace(c, { ...(nsid === undefined ? {} : { nsid }), sizeBytes: sizeArg(args), blockSize }) };
  });
  control.register('ns-remove', 'detach a namespace at run time: {"nsid": N}; raises the Namespace Attribute Changed event', async (args) => {
    if (args.nsid === undefined) throw new QmpError('GenericError', "Parameter 'nsid' is missing");
    const nsid = argInt(args, 'nsid', 0, 1, MAX_NAMESPACES);
    await removeNamespace(c, nsid);
    return { nsid };
  });
}
