// The QMP session moved to src/control/qmp.ts (shared with the host daemon;
// host/ must not import device/). Re-exported here so existing device-side
// imports keep working.
export * from '../../src/control/qmp.ts';
