// Adapts the rnvme driver's NvmeController to NvmeControllerPort. Admin
// commands go through the raw passthrough (adminCommand) so that a failing
// command reports its NVMe status the way nvme-cli shows it, instead of
// turning into an exception.
import { probeNvme, RnvmeError, type NvmeController, type RnvmeOptions } from '../drivers/rnvme/index.ts';
import { ADMIN } from '../../src/spec/admin.ts';
import { FEAT_CDW10 } from '../../src/spec/features.ts';
import { GET_LOG } from '../../src/spec/admin.ts';
import type { Logger } from '../../src/util/log.ts';
import type { NvmeAdminResult, NvmeControllerPort, NvmeControllerSummary } from './nvme-port.ts';

const IDENTIFY_SIZE = 4096;

/** Status of an RnvmeError carrying one (EIO from the device), else rethrow. */
function statusOf(e: unknown): number {
  if (e instanceof RnvmeError && e.nvmeStatus !== undefined) return e.nvmeStatus;
  throw e;
}

export class RnvmePort implements NvmeControllerPort {
  constructor(readonly ctrl: NvmeController, private readonly url: string) {}

  get name(): string {
    return this.ctrl.name;
  }

  summary(): NvmeControllerSummary {
    const i = this.ctrl.info();
    return { name: i.name, url: this.url, state: i.state, namespaces: i.namespaces.map((n) => ({ nsid: n.nsid, disk: n.disk })) };
  }

  private async raw(cmd: Parameters<NvmeController['adminCommand']>[0], data?: Parameters<NvmeController['adminCommand']>[1]): Promise<NvmeAdminResult> {
    const r = await this.ctrl.adminCommand(cmd, data);
    return { status: r.status, result: r.dw0 >>> 0, ...(r.data !== undefined && r.status === 0 ? { data: r.data } : {}) };
  }

  // Identify (§5.15): CDW10.CNS selects the structure.
  identify(cns: number, nsid: number): Promise<NvmeAdminResult> {
    return this.raw({ opc: ADMIN.IDENTIFY, nsid, cdw10: cns }, { dir: 'in', len: IDENTIFY_SIZE });
  }

  // Get Log Page (§5.14): NUMDL in CDW10 31:16, NUMDU in CDW11, LPOL/LPOU in CDW12/13.
  getLogPage(lid: number, nsid: number, len: number, o: { lsp?: number; lpo?: number; rae?: boolean } = {}): Promise<NvmeAdminResult> {
    if (len % 4 !== 0) return Promise.reject(new Error(`log length ${len} is not a multiple of 4`));
    const numd = len / 4 - 1;
    const off = o.lpo ?? 0;
    const cdw10 = (lid | (((o.lsp ?? 0) & GET_LOG.LSP_MASK) << GET_LOG.LSP_SHIFT) | (o.rae === true ? GET_LOG.RAE : 0) | ((numd & 0xffff) << 16)) >>> 0;
    return this.raw(
      { opc: ADMIN.GET_LOG_PAGE, nsid, cdw10, cdw11: numd >>> 16, cdw12: off % 0x1_0000_0000, cdw13: Math.floor(off / 0x1_0000_0000) },
      { dir: 'in', len },
    );
  }

  getFeature(fid: number, nsid: number, sel: number, cdw11: number, dataLen?: number): Promise<NvmeAdminResult> {
    const cdw10 = (fid | ((sel & FEAT_CDW10.SEL_MASK) << FEAT_CDW10.SEL_SHIFT)) >>> 0;
    return this.raw({ opc: ADMIN.GET_FEATURES, nsid, cdw10, cdw11: cdw11 >>> 0 }, dataLen !== undefined && dataLen > 0 ? { dir: 'in', len: dataLen } : undefined);
  }

  setFeature(fid: number, nsid: number, cdw11: number, save: boolean, data?: Uint8Array): Promise<NvmeAdminResult> {
    const cdw10 = (fid | (save ? FEAT_CDW10.SV : 0)) >>> 0;
    return this.raw({ opc: ADMIN.SET_FEATURES, nsid, cdw10, cdw11: cdw11 >>> 0 }, data !== undefined ? { dir: 'out', len: data.length, data } : undefined);
  }

  async format(nsid: number, cdw10: number): Promise<NvmeAdminResult> {
    const r = await this.raw({ opc: ADMIN.FORMAT_NVM, nsid, cdw10 });
    // The block size may have changed: re-read the namespaces (nvme-cli does BLKRRPART).
    if (r.status === 0) await this.ctrl.rescan();
    return r;
  }

  async flush(nsid: number): Promise<NvmeAdminResult> {
    try {
      await this.ctrl.flush(nsid === 0 || nsid === 0xffffffff ? undefined : nsid);
      return { status: 0, result: 0 };
    } catch (e) {
      return { status: statusOf(e), result: 0 };
    }
  }

  reset(): Promise<void> {
    return this.ctrl.reset();
  }

  rescan(): Promise<void> {
    return this.ctrl.rescan();
  }

  shutdown(): Promise<void> {
    return this.ctrl.shutdown();
  }
}

/** Attach the device daemon at `url` and probe it with rnvme. */
export async function attachRnvme(
  url: string,
  o: { token?: string; index: number; log: Logger; driverOptions?: Record<string, number | boolean> },
): Promise<NvmeControllerPort> {
  const ctrl = await probeNvme(url, { token: o.token, log: o.log, ...(o.driverOptions !== undefined ? { options: o.driverOptions as Partial<RnvmeOptions> } : {}) });
  return new RnvmePort(ctrl, url);
}
