// The host daemon's public API (HOSTD): one long-lived host process that
// owns the block layer's disks — rnvme controllers attached to device
// daemons over ws, rnull devices — plus the NBD server and a QMP-style
// control channel. The CLI (`nvmelab …`), the main job and tests use it:
//
//   import { HostDaemon } from '../daemon/index.ts';
//   const host = new HostDaemon({ logger, nrCpus: 2 });
//   const ctrl = await host.attach('ws://127.0.0.1:4000/', { token });  // → { name: 'nvme0', disks: ['nvme0n1'] }
//   await host.createNull('nullb0,gb=1,irqmode=1');                       // configfs create + set + power
//   const ctl = await host.startControl({ listen: '127.0.0.1:0' });      // → { url: 'ws://127.0.0.1:PORT/control', token }
//   await host.startNbd({ listen: ['127.0.0.1:0'] }); host.exportDisk('nullb0');
//   const code = await host.runCli(['fio', '--name=j', '--filename=nullb0', '--rw=randread'], out, err);
//   await host.shutdown('SIGTERM');   // NBD close → rnvme orderly shutdown (CC.SHN) → rnull power-off
//
// Control channel commands (JSON over ws, QMP framing shared with the device
// daemon's device/control/qmp.ts; `query-commands` lists them): query-status,
// query-disks, query-controllers, query-blockstats, host-attach {url, token?},
// host-detach {controller}, nvme-admin {device, op: identify|get-log|
// get-feature|set-feature|format|flush|reset|rescan, …} (data as base64),
// null-create {spec} / null-mkdir / null-set / null-get / null-power /
// null-remove / null-list / null-features, queue-get / queue-set,
// nbd-export {spec} / nbd-unexport {name} / query-nbd, fio-run {argv, files?,
// run?} (fio's output arrives as FIO_OUTPUT events {run, stream, data} before
// the answer {exitCode}) / fio-cancel {run}, quit. Events: CONTROLLER_ATTACHED,
// CONTROLLER_DETACHED, NULL_CREATED, NBD_EXPORT_ADDED, SHUTDOWN.
export { HostDaemon, type HostDaemonOptions, type DiskSummary, type AttachOptions } from './host.ts';
export type { NvmeControllerPort, NvmeControllerSummary, NvmeAdminResult } from './nvme-port.ts';
export { parseNullSpec, type NullSpec } from './null-spec.ts';
