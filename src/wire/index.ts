// [raw] NVMe wire structures shared by the device and the host driver.
export * from './le.ts';
export * from './sqe.ts';
export * from './cqe.ts';
export * from './prp.ts';
export * from './sgl.ts';
