// Wire protocol v1: one import for users of the protocol (docs/protocol.md).
export * from './messages.ts';
export * from './errors.ts';
export * from './codec.ts';
export * from './transport.ts';
export * from './channel.ts';
