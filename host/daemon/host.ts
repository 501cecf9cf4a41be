// HostDaemon: the host process's state — attached NVMe controllers, rnull
// devices, NBD exports, the control channel — and its orderly shutdown.
import { writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { ControlRegistry } from '../../src/control/commands.ts';
import { getDisk, listDisks, openDisk } from '../block/index.ts';
import { NullBlkRegistry } from '../drivers/rnull/index.ts';
import { startNbdServer, blockDeviceBackend, parseExportSpec, type NbdServer } from '../nbd/index.ts';
import { silentLogger, type Logger } from '../../src/util/log.ts';
import { startControlServer, type ControlServer } from '../control/server.ts';
import type { NvmeControllerPort } from './nvme-port.ts';
import { parseNullSpec } from './null-spec.ts';
import { attachRnvme } from './rnvme-adapter.ts';
import { registerHostCommands } from '../control/commands.ts';

export interface HostDaemonOptions {
  logger?: Logger;
  /** Logical CPUs of the block layer (rnull's nr_cpu_ids). Default 2. */
  nrCpus?: number;
  /** Attaches a controller (default: the rnvme driver). Tests pass a fake. */
  attacher?: (url: string, o: AttachOptions & { index: number; log: Logger }) => Promise<NvmeControllerPort>;
}

export interface AttachOptions {
  token?: string;
  /** rnvme options (io_queues, io_queue_depth, …) as key → value. */
  driverOptions?: Record<string, number | boolean>;
}

/** One disk as `nvmelab list` and query-disks show it. */
export interface DiskSummary {
  name: string;
  driver: 'rnvme' | 'rnull' | 'other';
  capacityBytes: number;
  logicalBlockSize: number;
  controller?: string;
}

/** Split `ws://host:port/#token` into URL and token. */
export function splitTokenUrl(url: string): { url: string; token?: string } {
  const hash = url.indexOf('#');
  if (hash < 0) return { url };
  const t = url.slice(hash + 1);
  return t === '' ? { url: url.slice(0, hash) } : { url: url.slice(0, hash), token: decodeURIComponent(t) };
}

export class HostDaemon {
  readonly log: Logger;
  readonly nrCpus: number;
  readonly nullb: NullBlkRegistry;
  readonly control = new ControlRegistry();
  private readonly controllers = new Map<string, NvmeControllerPort>();
  private nextCtrl = 0;
  private nbd: NbdServer | undefined;
  private controlServer: ControlServer | undefined;
  private stateFile: string | undefined;
  private shuttingDown: Promise<void> | undefined;
  private readonly attacher: NonNullable<HostDaemonOptions['attacher']>;
  private readonly doneWaiters: (() => void)[] = [];
  /** Resolves once shutdown() finished. */
  readonly done: Promise<void>;

  constructor(o: HostDaemonOptions = {}) {
    this.log = o.logger ?? silentLogger;
    this.nrCpus = o.nrCpus ?? 2;
    this.nullb = new NullBlkRegistry({ nrCpus: this.nrCpus, logger: this.log.child({ component: 'rnull' }) });
    this.attacher = o.attacher ?? attachRnvme;
    this.done = new Promise<void>((r) => this.doneWaiters.push(r));
    registerHostCommands(this.control, this);
  }

  get stopping(): boolean {
    return this.shuttingDown !== undefined;
  }

  // ── NVMe controllers ────────────────────────────────────────────────────

  /** Attach a device daemon (rnvme probe) → controller nvmeN with disks nvmeNn1…. */
  async attach(rawUrl: string, o: AttachOptions = {}): Promise<NvmeControllerPort> {
    if (this.stopping) throw new Error('host is shutting down');
    const { url, token: urlToken } = splitTokenUrl(rawUrl);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new Error(`--attach ${url}: not a URL (ws://HOST:PORT/)`);
    }
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new Error(`--attach ${url}: expected a ws:// or wss:// URL`);
    const index = this.nextCtrl++;
    const ctrl = await this.attacher(url, { ...o, token: o.token ?? urlToken, index, log: this.log });
    this.controllers.set(ctrl.name, ctrl);
    this.control.emit('CONTROLLER_ATTACHED', { controller: ctrl.name, url, disks: ctrl.summary().namespaces.map((n) => n.disk) });
    return ctrl;
  }

  /** Orderly shutdown of one controller and removal of its disks. */
  async detach(name: string): Promise<void> {
    const c = this.controllers.get(name);
    if (c === undefined) throw new Error(`no controller '${name}'`);
    await this.unexportWhere((disk) => c.summary().namespaces.some((n) => n.disk === disk));
    this.controllers.delete(name);
    await c.shutdown();
    this.control.emit('CONTROLLER_DETACHED', { controller: name });
  }

  listControllers(): NvmeControllerPort[] {
    return [...this.controllers.values()];
  }

  controller(name: string): NvmeControllerPort | undefined {
    return this.controllers.get(name);
  }

  /** The controller and nsid behind a namespace disk (nvme0n1) or controller name (nvme0). */
  resolveNvme(dev: string): { ctrl: NvmeControllerPort; nsid: number } | undefined {
    const name = dev.replace(/^\/dev\//, '');
    const c = this.controllers.get(name);
    if (c !== undefined) return { ctrl: c, nsid: 0 };
    for (const ctrl of this.controllers.values()) {
      const ns = ctrl.summary().namespaces.find((n) => n.disk === name);
      if (ns !== undefined) return { ctrl, nsid: ns.nsid };
    }
    return undefined;
  }

  // ── rnull ───────────────────────────────────────────────────────────────

  /** `--null NAME,k=v,…`: configfs create + attribute writes + power on. Returns the device name. */
  async createNull(spec: string): Promise<string> {
    if (this.stopping) throw new Error('host is shutting down');
    const s = parseNullSpec(spec);
    let name = s.name;
    if (name === '') {
      let i = 0;
      while (this.nullb.has(`nullb${i}`) || getDisk(`nullb${i}`) !== undefined) i++;
      name = `nullb${i}`;
    }
    this.nullb.create(name);
    try {
      for (const [k, v] of s.attrs) await this.nullb.setAttr(name, k, v);
      if (s.power) await this.nullb.power(name, 1);
    } catch (e) {
      await this.nullb.remove(name).catch(() => undefined);
      throw e;
    }
    this.control.emit('NULL_CREATED', { name, powered: s.power });
    return name;
  }

  /**
   * Power an rnull device on or off. Powering off deletes its disk (as
   * null_blk's del_gendisk), so its NBD exports are removed first: an export
   * must not outlive its disk (a later power-on builds a new one).
   */
  async powerNull(name: string, on: boolean): Promise<void> {
    if (!on) await this.unexportNullDisk(name);
    await this.nullb.power(name, on ? 1 : 0);
  }

  /** configfs rmdir: power off (dropping the disk's NBD exports) and forget the device. */
  async removeNull(name: string): Promise<void> {
    await this.unexportNullDisk(name);
    await this.nullb.remove(name);
  }

  private async unexportNullDisk(name: string): Promise<void> {
    const disk = this.nullb.info(name).diskName; // ENOENT for an unknown device
    if (disk !== undefined) await this.unexportWhere((d) => d === disk);
  }

  // ── disks ───────────────────────────────────────────────────────────────

  disks(): DiskSummary[] {
    const nvme = new Map<string, string>();
    for (const c of this.controllers.values()) for (const n of c.summary().namespaces) nvme.set(n.disk, c.name);
    const nullDisks = new Set(this.nullb.list().map((n) => this.nullb.info(n).diskName).filter((d): d is string => d !== undefined));
    return listDisks().flatMap((name) => {
      const d = getDisk(name);
      if (d === undefined) return [];
      const ctrl = nvme.get(name);
      return [{
        name,
        driver: ctrl !== undefined ? 'rnvme' : nullDisks.has(name) ? 'rnull' : 'other',
        capacityBytes: d.capacityBytes,
        logicalBlockSize: d.limits.logicalBlockSize,
        ...(ctrl !== undefined ? { controller: ctrl } : {}),
      } satisfies DiskSummary];
    });
  }

  // ── NBD ─────────────────────────────────────────────────────────────────

  /** Start the NBD server (once). */
  async startNbd(o: { listen?: string[]; readOnly?: boolean; maxConnections?: number; allowRemote?: boolean } = {}): Promise<NbdServer> {
    if (this.nbd !== undefined) return this.nbd;
    this.nbd = await startNbdServer({
      listen: o.listen !== undefined && o.listen.length > 0 ? o.listen : ['127.0.0.1:10809'],
      readOnly: o.readOnly,
      maxConnections: o.maxConnections,
      allowRemote: o.allowRemote,
      logger: this.log.child({ component: 'nbd' }),
    });
    return this.nbd;
  }

  get nbdServer(): NbdServer | undefined {
    return this.nbd;
  }

  /** Export a disk (`nullb0`, `nvme0n1,ro,name=x`, `nbd://127.0.0.1:10809/nvme0n1`). Returns its URIs. */
  async exportDisk(spec: string): Promise<string[]> {
    const s = parseExportSpec(spec);
    const disk = getDisk(s.disk);
    if (disk === undefined) throw new Error(`no disk '${s.disk}' to export`);
    const srv = this.nbd ?? (await this.startNbd({ listen: s.listen !== undefined ? [s.listen] : undefined }));
    srv.addExport({
      name: s.name,
      backend: blockDeviceBackend(openDisk(s.disk), { nrCpus: disk.tagSet.nrCpus, readOnly: s.readOnly }),
      readOnly: s.readOnly,
      description: s.description ?? `nvmelab ${s.disk}`,
    });
    this.exportDisks.set(s.name, s.disk);
    this.control.emit('NBD_EXPORT_ADDED', { name: s.name, disk: s.disk });
    return srv.urisFor(s.name);
  }

  private readonly exportDisks = new Map<string, string>();

  async unexport(name: string): Promise<void> {
    if (this.nbd === undefined || !this.exportDisks.has(name)) throw new Error(`no NBD export '${name}'`);
    this.exportDisks.delete(name);
    await this.nbd.removeExport(name);
  }

  exports(): { name: string; disk: string; uris: string[] }[] {
    const srv = this.nbd;
    return [...this.exportDisks].map(([name, disk]) => ({ name, disk, uris: srv?.urisFor(name) ?? [] }));
  }

  private async unexportWhere(pred: (disk: string) => boolean): Promise<void> {
    for (const [name, disk] of [...this.exportDisks]) if (pred(disk)) await this.unexport(name).catch(() => undefined);
  }

  // ── control channel ─────────────────────────────────────────────────────

  /**
   * Start the control channel (loopback, token). With `stateFile`, writes
   * {url, token, pid} there (mode 0600) so that a CLI finds this host.
   */
  async startControl(o: { listen?: string; token?: string; stateFile?: string } = {}): Promise<ControlServer> {
    if (this.controlServer !== undefined) return this.controlServer;
    this.controlServer = await startControlServer({ listen: o.listen, token: o.token, registry: this.control, log: this.log });
    if (o.stateFile !== undefined) {
      const dir = o.stateFile.replace(/\/[^/]*$/, '');
      if (dir !== '' && dir !== o.stateFile) mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(o.stateFile, `${JSON.stringify({ url: this.controlServer.url, token: this.controlServer.token, pid: process.pid })}\n`, { mode: 0o600 });
      this.stateFile = o.stateFile;
    }
    return this.controlServer;
  }

  // ── shutdown ────────────────────────────────────────────────────────────

  /**
   * Orderly shutdown: NBD exports close (clients drain), every controller
   * shuts down (CC.SHN, flushes its namespaces), rnull devices power off,
   * then the control channel closes. Idempotent; errors are logged, never thrown.
   */
  shutdown(reason = 'shutdown'): Promise<void> {
    this.shuttingDown ??= (async () => {
      this.log.info({ reason }, 'host shutting down');
      this.control.emit('SHUTDOWN', { reason });
      const step = async (what: string, f: () => Promise<void>): Promise<void> => {
        try {
          await f();
        } catch (e) {
          this.log.error({ err: e instanceof Error ? e.message : String(e) }, `shutdown: ${what} failed`);
        }
      };
      if (this.nbd !== undefined) {
        const srv = this.nbd;
        await step('NBD close', () => srv.close());
      }
      for (const c of [...this.controllers.values()]) {
        this.controllers.delete(c.name);
        await step(`${c.name} shutdown`, () => c.shutdown());
      }
      await step('rnull power-off', () => this.nullb.destroy());
      if (this.controlServer !== undefined) {
        const cs = this.controlServer;
        await step('control close', () => cs.close());
      }
      if (this.stateFile !== undefined) rmSync(this.stateFile, { force: true });
      for (const w of this.doneWaiters) w();
    })();
    return this.shuttingDown;
  }
}

