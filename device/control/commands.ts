// The control-channel command table moved to src/control/commands.ts (the host
// daemon speaks QMP too, and host/ must not import device/). Re-exported here
// so existing device-side imports keep working.
export * from '../../src/control/commands.ts';
