#!/usr/bin/env node
// `npm run test:interop`: the NBD interop suite (test/interop/*.test.ts) with
// Debian's real NBD clients — qemu-io, qemu-img, nbdinfo, nbdcopy, fio's nbd
// engine — against nvmelab's NBD server, on an rnull disk and on an nvme disk
// across processes. A test whose tool is missing is not run, and a "not run:"
// line names the tool. Install them with:
//   apt-get install -y qemu-utils libnbd-bin fio nbdkit qemu-system-common
// Ends with the CI line "N passed, N failed[, N skipped]".
process.argv.splice(2, 0, '--interop');
await import('./test.mjs');
