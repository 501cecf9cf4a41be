// nvmelab's NBD server: exports block-layer disks (nvme0n1, nullb0, …) over
// the Network Block Device protocol so that real clients — qemu-io, qemu-img,
// nbdinfo, nbdcopy, fio --ioengine=nbd, Linux nbd-client — drive the whole
// stack. Public API for the host daemon and tests:
//
//   import { startNbdServer, blockDeviceBackend } from '../nbd/index.ts';
//   const srv = await startNbdServer({
//     listen: ['127.0.0.1:10809', 'unix:/tmp/nvmelab.sock'],
//     exports: [{ name: 'nullb0', backend: blockDeviceBackend(openDisk('nullb0'), { nrCpus }) }],
//     readOnly: false, maxConnections: 16, logger,
//   });
//   console.log(srv.uris);             // ['nbd://127.0.0.1:10809/nullb0', 'nbd+unix:///nullb0?socket=/tmp/nvmelab.sock']
//   srv.addExport({ name: 'nvme0n1', backend, readOnly: true, description: 'rnvme namespace 1' });
//   await srv.removeExport('nvme0n1'); // attached clients drain and disconnect
//   await srv.close();
//
// Host CLI wiring (for the host daemon): `--nbd-listen <spec>` (repeatable,
// default 127.0.0.1:10809; `--nbd-allow-remote` for other addresses) and
// `--export <disk>[,name=<export>][,ro][,desc=<text>]` (repeatable), or
// `--export nbd://127.0.0.1:10809/nvme0n1` which sets both listener and name;
// parseExportSpec() below parses one --export value.
//
// Protocol coverage: fixed newstyle handshake; NBD_OPT_EXPORT_NAME, LIST,
// INFO, GO (INFO_EXPORT, NAME, DESCRIPTION, BLOCK_SIZE), STRUCTURED_REPLY,
// ABORT; other options → NBD_REP_ERR_UNSUP. Commands READ, WRITE (FUA),
// FLUSH, TRIM, WRITE_ZEROES (NO_HOLE, FUA), DISC. See export.ts for the
// alignment policy and connection.ts for the misbehaviour policy.
export { startNbdServer, parseListen, formatNbdUri, isLoopbackHost } from './server.ts';
export type { NbdServer, NbdServerOptions, NbdServerStats, NbdListenAddress } from './server.ts';
export type { NbdExportOptions } from './export.ts';
export type { NbdBackend } from './backend.ts';
export { blockDeviceBackend, openBlockBackend } from './disk.ts';
export type { BlockBackendOptions } from './disk.ts';
export { nbdErrnoFromError } from './errors.ts';
export { NbdClient, connectNbd } from './client.ts';
export type { NbdClientOptions, NbdExportInfo } from './client.ts';

/** One `--export` value of the host CLI. */
export interface NbdExportSpec {
  /** Block-layer disk name (nvme0n1, nullb0). */
  disk: string;
  /** Export name (default: the disk name). */
  name: string;
  readOnly: boolean;
  description?: string;
  /** A listen spec given through an nbd:// URI, if any. */
  listen?: string;
}

/**
 * Parse `--export` values:
 * - `nullb0`, `nullb0,ro`, `nvme0n1,name=fast,desc=rnvme ns 1`
 * - `nbd://127.0.0.1:10809/nvme0n1` or `nbd+unix:///nvme0n1?socket=/tmp/s` (export name = disk name)
 */
export function parseExportSpec(spec: string): NbdExportSpec {
  const s = spec.trim();
  if (s.startsWith('nbd://') || s.startsWith('nbd+unix://')) {
    const u = new URL(s);
    const disk = decodeURIComponent(u.pathname.replace(/^\//, ''));
    if (disk === '') throw new Error(`--export ${spec}: the URI must name a disk (nbd://host:port/<disk>)`);
    const listen = s.startsWith('nbd+unix://') ? `unix:${u.searchParams.get('socket') ?? ''}` : `${u.hostname}:${u.port === '' ? '10809' : u.port}`;
    return { disk, name: disk, readOnly: u.searchParams.get('ro') === '1', listen };
  }
  const [disk, ...opts] = s.split(',');
  if (disk === undefined || !/^[A-Za-z0-9_.-]{1,32}$/.test(disk)) throw new Error(`--export ${spec}: bad disk name`);
  const out: NbdExportSpec = { disk, name: disk, readOnly: false };
  for (const o of opts) {
    const eq = o.indexOf('=');
    const k = eq < 0 ? o : o.slice(0, eq);
    const v = eq < 0 ? '' : o.slice(eq + 1);
    if (k === 'ro' || k === 'readonly') out.readOnly = v === '' || v === '1' || v === 'on' || v === 'true';
    else if (k === 'name' && v !== '') out.name = v;
    else if (k === 'desc' || k === 'description') out.description = v;
    else throw new Error(`--export ${spec}: unknown option '${o}' (ro, name=, desc=)`);
  }
  return out;
}
