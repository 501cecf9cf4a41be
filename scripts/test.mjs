#!/usr/bin/env node
// `npm test`: type-check, then ava (TAP), then one closing line
// "N passed, N failed[, N skipped]" that CI reads. Exit code = failure of either step.
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';

const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', 'tsconfig.json'], { stdio: 'inherit' });
const typeOk = tsc.status === 0;
if (!typeOk) console.error('type-check failed');

const extra = process.argv.slice(2);
const ava = spawn(process.execPath, ['node_modules/ava/entrypoints/cli.mjs', '--tap', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
let passed = 0, failed = 0, skipped = 0;
const rl = createInterface({ input: ava.stdout });
rl.on('line', (line) => {
  process.stdout.write(line + '\n');
  if (/^ok \d+/.test(line)) {
    if (/# SKIP|# TODO/i.test(line)) skipped++; else passed++;
  } else if (/^not ok \d+/.test(line)) {
    if (/# TODO/i.test(line)) skipped++; else failed++;
  }
});
ava.on('close', (code) => {
  if (!typeOk) failed++;
  const ok = typeOk && code === 0;
  if (code !== 0 && failed === 0) failed = 1; // ava crashed without a per-test result
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(ok ? 0 : 1);
});
