#!/usr/bin/env node
// nvmelab launcher: re-exec node with the tsx loader on the TypeScript CLI,
// passing signals through and exiting with the child's code.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const child = spawn(process.execPath, ['--import', 'tsx', resolve(root, 'host/cli/index.ts'), ...process.argv.slice(2)], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
// A child killed by a signal exits like a shell reports it: 128 + the signal number.
child.on('exit', (code, signal) => process.exit(code ?? 128 + ((signal !== null ? constants.signals[signal] : undefined) ?? 0)));
child.on('error', (e) => {
  process.stderr.write(`nvmelab: cannot start node: ${e.message}\n`);
  process.exit(1);
});
