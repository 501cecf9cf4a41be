// The host block layer's entry point: classes implementing host/block/types.ts.
export * from './types.ts';
export { TagSet, MAX_DEPTH } from './tagset.ts';
export { RequestQueue, DEFAULT_LIMITS, validateLimits, RESOURCE_DELAY_MS } from './queue.ts';
export type { Hctx } from './queue.ts';
export { GenDisk, BlockDeviceImpl, getDisk, listDisks, openDisk } from './disk.ts';
export { DEADLINE_DEFAULTS } from './sched.ts';
