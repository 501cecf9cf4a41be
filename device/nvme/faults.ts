// Fault hook points (no-op by default). The fault-fixture engineer implements
// these; the controller consults a hook only when it is set, so an unused hook
// costs one property check. Every hook is synchronous and returns what the
// controller should do instead of the normal path ("undefined" = proceed).
import type { Sqe } from '../../src/wire/sqe.ts';

export type RegAccessKind = 'read' | 'write';

/** The CQE fields a fault hook may rewrite (NVMe 1.4 §4.6, Figure 121). `status` excludes the phase tag. */
export interface CqeFields {
  dw0: number;
  sqhd: number;
  sqid: number;
  cid: number;
  status: number;
  phase: number;
}

export interface NvmeFaultHooks {
  /** A BAR0 register access. Return a number to replace a read's value or a write's value; 'drop' to ignore a write. */
  registerAccess?(kind: RegAccessKind, off: number, value: number): number | 'drop' | undefined;
  /** A doorbell write. 'drop' ignores it; a number replaces the value. */
  doorbell?(kind: 'sq' | 'cq', qid: number, value: number): number | 'drop' | undefined;
  /** Before fetching `count` SQEs from SQ `qid`. 'fail' behaves like a failed DMA (CSTS.CFS). */
  sqeFetch?(qid: number, head: number, count: number): 'fail' | undefined;
  /** Before executing a command. A number is a status to complete with instead; 'drop' never completes it (a lost command); 'delay' holds it for `ms`. */
  beforeExecute?(qid: number, sqe: Readonly<Sqe>): number | 'drop' | { delayMs: number } | undefined;
  /** Before a data DMA of a command (`sqe`: the command). 'fail' = the DMA is refused (Data Transfer Error); the hook may corrupt `data` in place. */
  dataDma?(qid: number, dir: 'to-host' | 'from-host', addr: number, data: Uint8Array, sqe: Readonly<Sqe>): 'fail' | undefined;
  /** Before posting a CQE. A number replaces the status; 'drop' loses the completion; 'fail' = CQE DMA failure (CFS). */
  cqePost?(qid: number, cid: number, status: number): number | 'drop' | 'fail' | undefined;
  /**
   * Rewrite a CQE before it is staged (after cqePost): `f` is a reused object,
   * edit it in place (wrong command id, phase, SQ head/id…). Return true to
   * stage one more CQE right after it, built by a second call with
   * extra=true (duplicates, phantom completions) — skipped when the CQ is full.
   */
  cqeFields?(qid: number, f: CqeFields, extra: boolean): boolean;
  /** Before raising an interrupt. 'drop' loses it. */
  interrupt?(vector: number): 'drop' | undefined;
  /** CC.EN 0→1 or CC.SHN: 'fail' makes enable end in CFS / shutdown never complete. */
  enableOrShutdown?(what: 'enable' | 'shutdown'): 'fail' | undefined;
}

/** The default: no hooks. */
export const NO_FAULTS: NvmeFaultHooks = Object.freeze({});
