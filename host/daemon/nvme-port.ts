// What the host daemon and the `nvme` commands need from an attached NVMe
// controller. rnvme's controller is adapted to this shape in rnvme-adapter.ts
// so that the CLI's nvme-cli formatting never depends on driver internals and
// unit tests can use a fake.

/** Completion of one admin command (NVMe 1.4 §4.6: CQE DW0 + status field). */
export interface NvmeAdminResult {
  /** Status field (SCT << 8 | SC); 0 = success. */
  status: number;
  /** Command specific DW0 of the completion (e.g. a feature's value). */
  result: number;
  /** Data returned by the controller (identify / log / feature data), if any. */
  data?: Uint8Array;
}

export interface NvmeControllerSummary {
  /** Controller name, `nvme0`. */
  name: string;
  /** Device daemon URL it was attached from (token removed). */
  url: string;
  /** Controller state (Linux names: live, resetting, connecting, deleting, dead). */
  state: string;
  /** Namespaces exposed as disks: [{nsid, disk}] (disk = 'nvme0n1'). */
  namespaces: { nsid: number; disk: string }[];
}

/** One attached controller. Every method rejects with an Error naming what failed. */
export interface NvmeControllerPort {
  readonly name: string;
  summary(): NvmeControllerSummary;
  /** Identify (CNS, NSID) → 4096 bytes. */
  identify(cns: number, nsid: number): Promise<NvmeAdminResult>;
  /** Get Log Page: lid, nsid, bytes wanted, lsp, lpo (byte offset), rae. */
  getLogPage(lid: number, nsid: number, len: number, opts?: { lsp?: number; lpo?: number; rae?: boolean }): Promise<NvmeAdminResult>;
  getFeature(fid: number, nsid: number, sel: number, cdw11: number, dataLen?: number): Promise<NvmeAdminResult>;
  setFeature(fid: number, nsid: number, cdw11: number, save: boolean, data?: Uint8Array): Promise<NvmeAdminResult>;
  /** Format NVM (cdw10 = lbaf | mset | pi | pil | ses, §5.23). */
  format(nsid: number, cdw10: number): Promise<NvmeAdminResult>;
  /** Flush (NVM command set) for nsid (0xffffffff = all, if VWC says so). */
  flush(nsid: number): Promise<NvmeAdminResult>;
  /** Controller reset (CC.EN 1→0→1) and re-initialisation. */
  reset(): Promise<void>;
  /** Rescan namespaces (add/remove disks as Identify says). */
  rescan(): Promise<void>;
  /** Orderly shutdown (CC.SHN = 01b, wait for CSTS.SHST = 10b) and removal of its disks. */
  shutdown(): Promise<void>;
}
