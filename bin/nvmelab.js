#!/usr/bin/env node
// nvmelab launcher: re-exec node with the tsx loader on the TypeScript CLI,
// passing signals through and exiting with the child's code.
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const child = spawn(process.execPath, ['--import', 'tsx', resolve(root, 'host/cli/index.ts'), ...process.argv.slice(2)], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 1)));
child.on('error', (e) => {
  process.stderr.write(`nvmelab: cannot start node: ${e.message}\n`);
  process.exit(1);
});
