// The NVMe spec as data: one import for everything in src/spec/.
export * from './registers.ts';
export * from './status.ts';
export * from './admin.ts';
export * from './nvm.ts';
export * from './identify.ts';
export * from './log.ts';
export * from './features.ts';
export * from './sizes.ts';
