// rnull public API: the null block driver (Linux null_blk feature set) on the
// host blk-mq layer.
//
// Two ways to make devices, as in Linux:
//
//   // modprobe null_blk nr_devices=2 gb=4 bs=4096 irqmode=0
//   const { registry, names } = await createNullDevices({ nr_devices: 2, gb: 4, bs: 4096, irqmode: 0 });
//   // names = ['nullb0', 'nullb1']; open them with openDisk('nullb0') from host/block.
//
//   // configfs: mkdir /sys/kernel/config/nullb/fast; echo … > attrs; echo 1 > power
//   const reg = new NullBlkRegistry({ moduleParams: { poll_queues: 2 } });
//   reg.create('fast');
//   reg.setAttr('fast', 'memory_backed', 1);
//   reg.setAttr('fast', 'size', 1024);                  // MiB
//   reg.setAttr('fast', 'timeout_inject/probability', 100);
//   await reg.power('fast', 1);                          // builds disk "fast"
//   reg.setAttr('fast', 'submit_queues', 2);             // live: resizes hw queues
//   reg.setAttr('fast', 'blocksize', 4096);              // throws NullBlkConfigError code 'EBUSY'
//   reg.getAttr('fast', 'power');                        // '1'
//   reg.features();                                      // 'badblocks,badblocks_once,…'
//   await reg.remove('fast');                            // power off (drains/fails I/O), forget
//
// Errors are NullBlkConfigError with `.code` an errno name: EINVAL (bad value,
// null_blk's message), EBUSY (not live while powered), EEXIST, ENOENT, EFAULT
// (init_hctx fault injection), ENOMEM (live queue resize failed).
//
// The knob table (name, type, default, unit, meaning) is NULLB_PARAMS;
// formatParamTable() renders it for the README / CLI (`nvmelab null params`).

export {
  NULLB_PARAMS, defaultConfig, configFromOptions, validateConfig, formatParamTable, formatParamValue, paramInfo,
  parseParamValue, isLiveParam, NullBlkConfigError,
  NULL_Q_BIO, NULL_Q_MQ, NULL_IRQ_NONE, NULL_IRQ_SOFTIRQ, NULL_IRQ_TIMER,
  type NullBlkConfig, type ParamInfo, type ParamType, type NullBlkErrno, type HostLimits, type ValidatedConfig,
} from './config.ts';
export { NullBlkRegistry, createNullDevices, NULLB_TIMEOUT_MS, type RegistryOptions, type NullBlkDeviceInfo } from './registry.ts';
export { NullbDevice, NullOps, NullbCmd, NullbQueue, type NullbDriverStats } from './driver.ts';
export { FaultAttr, parseFaultSpec, formatFaultSpec, SeededRandom, FAULT_ATTR_DEFAULTS, type FaultSpec } from './fault.ts';
export { NullbStore, MemStatus, type StoreStats } from './memory.ts';
export { BadBlocks } from './badblocks.ts';
export { ZonedDevice, BLK_ZONE_COND, BLK_ZONE_TYPE, ZONE_COND_NAME, type BlkZone, type ZoneMgmtOp } from './zoned.ts';
export { Throttle, mbPerTick, TICKS_PER_SEC, type TimerSource } from './throttle.ts';
