// Shared bits of the HOSTD tests: an output collector, a runCli wrapper, and
// a fake NVMe controller (NvmeControllerPort) answering from spec-built
// identify/log structures, so control-channel and nvme-cli formatting tests
// need no device daemon.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../host/cli/main.ts';
import type { NvmeAdminResult, NvmeControllerPort, NvmeControllerSummary } from '../../host/daemon/nvme-port.ts';
import { ID_CTRL, ID_NS, lbaf } from '../../src/spec/identify.ts';
import { SMART, ERROR_ENTRY, FW_SLOT, LID } from '../../src/spec/log.ts';
import { CNS } from '../../src/spec/admin.ts';
import type { ByteField } from '../../src/spec/layout.ts';

export interface Captured {
  code: number;
  out: string;
  err: string;
  /** stdout as bytes (raw-binary output). */
  outBytes: Uint8Array;
}

/** A state file path nobody wrote, so the CLI never finds a stray host. */
export function isolatedEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'hostd-'));
  return { PATH: process.env.PATH, NVMELAB_HOST_STATE: join(dir, 'host.json'), ...extra };
}

export async function cli(argv: string[], env: Record<string, string | undefined> = isolatedEnv()): Promise<Captured> {
  const chunks: Buffer[] = [];
  let err = '';
  const code = await runCli(argv, {
    stdout: { write: (s: string | Uint8Array) => chunks.push(typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s)) },
    stderr: { write: (s: string | Uint8Array) => (err += typeof s === 'string' ? s : Buffer.from(s).toString('utf8')) },
    env,
  });
  const outBytes = Buffer.concat(chunks);
  return { code, out: outBytes.toString('utf8'), err, outBytes: new Uint8Array(outBytes) };
}

function put(buf: Uint8Array, f: ByteField, v: number): void {
  let x = v;
  for (let i = 0; i < f.size; i++) {
    buf[f.off + i] = x % 256;
    x = Math.floor(x / 256);
  }
}
function putAscii(buf: Uint8Array, f: ByteField, s: string): void {
  for (let i = 0; i < f.size; i++) buf[f.off + i] = i < s.length ? s.charCodeAt(i) : 0x20;
}

export const FAKE = { vid: 0x1b36, ssvid: 0x1af4, sn: 'FAKE0001', mn: 'nvmelab fake ctrl', fr: '1.2', nn: 1, mdts: 5, oacs: 0x2, elpe: 3, nsze: 0x20000, nuse: 0x100 };

export function fakeIdCtrl(): Uint8Array {
  const b = new Uint8Array(4096);
  put(b, ID_CTRL.VID, FAKE.vid);
  put(b, ID_CTRL.SSVID, FAKE.ssvid);
  putAscii(b, ID_CTRL.SN, FAKE.sn);
  putAscii(b, ID_CTRL.MN, FAKE.mn);
  putAscii(b, ID_CTRL.FR, FAKE.fr);
  put(b, ID_CTRL.MDTS, FAKE.mdts);
  put(b, ID_CTRL.NN, FAKE.nn);
  put(b, ID_CTRL.OACS, FAKE.oacs);
  put(b, ID_CTRL.ELPE, FAKE.elpe);
  put(b, ID_CTRL.SQES, 0x66);
  put(b, ID_CTRL.CQES, 0x44);
  put(b, ID_CTRL.VER, 0x10400);
  put(b, ID_CTRL.PSD0, 2500);
  return b;
}

export function fakeIdNs(): Uint8Array {
  const b = new Uint8Array(4096);
  put(b, ID_NS.NSZE, FAKE.nsze);
  put(b, ID_NS.NCAP, FAKE.nsze);
  put(b, ID_NS.NUSE, FAKE.nuse);
  put(b, ID_NS.NLBAF, 1);
  put(b, ID_NS.FLBAS, 1);
  put(b, { off: ID_NS.LBAF0.off, size: 4 }, lbaf(9));
  put(b, { off: ID_NS.LBAF0.off + 4, size: 4 }, lbaf(12, 8, 1));
  return b;
}

export function fakeSmart(): Uint8Array {
  const b = new Uint8Array(512);
  put(b, SMART.COMPOSITE_TEMP, 310);
  put(b, SMART.AVAIL_SPARE, 100);
  put(b, SMART.AVAIL_SPARE_THRESH, 10);
  put(b, SMART.DATA_UNITS_READ, 7);
  put(b, SMART.DATA_UNITS_WRITTEN, 3);
  put(b, SMART.HOST_READ_CMDS, 1234);
  put(b, SMART.HOST_WRITE_CMDS, 567);
  put(b, SMART.POWER_CYCLES, 2);
  put(b, SMART.UNSAFE_SHUTDOWNS, 1);
  put(b, SMART.MEDIA_ERRORS, 0);
  put(b, SMART.NUM_ERR_LOG_ENTRIES, 1);
  return b;
}

export function fakeErrorLog(entries: number): Uint8Array {
  const b = new Uint8Array(entries * 64);
  put(b, ERROR_ENTRY.ERROR_COUNT, 1);
  put(b, ERROR_ENTRY.SQID, 1);
  put(b, ERROR_ENTRY.CID, 0x1003);
  put(b, ERROR_ENTRY.STATUS, (0x4002 << 1) | 1);
  put(b, ERROR_ENTRY.LBA, 0x800);
  put(b, ERROR_ENTRY.NSID, 1);
  return b;
}

/** A controller answering from the fake structures; records the admin calls. */
export class FakeCtrl implements NvmeControllerPort {
  readonly calls: string[] = [];
  shutDown = false;
  features = new Map<number, number>([[7, 0x00030003]]);
  /** Data buffers of Set Features, by feature id (Get Features returns them). */
  featureData = new Map<number, Uint8Array>();
  constructor(readonly name = 'nvme0', private readonly disks: { nsid: number; disk: string }[] = [{ nsid: 1, disk: 'nvme0n1' }]) {}
  summary(): NvmeControllerSummary {
    return { name: this.name, url: 'ws://fake/', state: this.shutDown ? 'dead' : 'live', namespaces: this.disks };
  }
  identify(cns: number, nsid: number): Promise<NvmeAdminResult> {
    this.calls.push(`identify ${cns} ${nsid}`);
    if (cns === CNS.CTRL) return Promise.resolve({ status: 0, result: 0, data: fakeIdCtrl() });
    if (cns === CNS.NS && nsid === 1) return Promise.resolve({ status: 0, result: 0, data: fakeIdNs() });
    return Promise.resolve({ status: 0x400b, result: 0 }); // Invalid Namespace or Format, DNR
  }
  getLogPage(lid: number, nsid: number, len: number): Promise<NvmeAdminResult> {
    this.calls.push(`get-log ${lid} ${nsid} ${len}`);
    const pad = (b: Uint8Array): Uint8Array => {
      const o = new Uint8Array(len);
      o.set(b.subarray(0, len));
      return o;
    };
    if (lid === LID.SMART) return Promise.resolve({ status: 0, result: 0, data: pad(fakeSmart()) });
    if (lid === LID.ERROR_INFO) return Promise.resolve({ status: 0, result: 0, data: pad(fakeErrorLog(len / 64)) });
    if (lid === LID.FW_SLOT) {
      const b = new Uint8Array(512);
      b[FW_SLOT.AFI.off] = 1;
      putAscii(b, FW_SLOT.FRS1, '1.2');
      return Promise.resolve({ status: 0, result: 0, data: pad(b) });
    }
    return Promise.resolve({ status: 0x4109, result: 0 }); // Invalid Log Page
  }
  getFeature(fid: number): Promise<NvmeAdminResult> {
    this.calls.push(`get-feature ${fid}`);
    const v = this.features.get(fid);
    const data = this.featureData.get(fid);
    return Promise.resolve(v === undefined ? { status: 0x4002, result: 0 } : { status: 0, result: v, ...(data !== undefined ? { data } : {}) });
  }
  setFeature(fid: number, _nsid: number, cdw11: number, _save: boolean, data?: Uint8Array): Promise<NvmeAdminResult> {
    this.calls.push(`set-feature ${fid} ${cdw11}${data !== undefined ? ` data=${Buffer.from(data).toString('hex')}` : ''}`);
    this.features.set(fid, cdw11);
    if (data !== undefined) this.featureData.set(fid, data);
    return Promise.resolve({ status: 0, result: 0 });
  }
  format(nsid: number, cdw10: number): Promise<NvmeAdminResult> {
    this.calls.push(`format ${nsid} ${cdw10}`);
    return Promise.resolve({ status: 0, result: 0 });
  }
  flush(nsid: number): Promise<NvmeAdminResult> {
    this.calls.push(`flush ${nsid}`);
    return Promise.resolve({ status: 0, result: 0 });
  }
  reset(): Promise<void> {
    this.calls.push('reset');
    return Promise.resolve();
  }
  rescan(): Promise<void> {
    this.calls.push('rescan');
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    this.calls.push('shutdown');
    this.shutDown = true;
    return Promise.resolve();
  }
}
