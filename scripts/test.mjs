#!/usr/bin/env node
// `npm test`: type-check, then ava, then one closing line
// "N passed, N failed[, N skipped]" that CI reads. Exit code: non-zero if either step failed.
//
// ava's own summary is parsed rather than its TAP output: ava 6's TAP reporter
// crashes when a test file times out, losing every later result.
//
// `--interop` runs the NBD interop suite instead (npm run test:interop): no
// type-check, ava.interop.config.js, NVMELAB_INTEROP=1.
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';

const args = process.argv.slice(2);
const interop = args[0] === '--interop';
if (interop) args.shift();

let typeOk = true;
if (!interop) {
  const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  typeOk = tsc.status === 0;
  if (!typeOk) console.error('type-check failed');
}

const avaArgs = interop ? ['--config', 'ava.interop.config.js', ...args] : args;
const ava = spawn(process.execPath, ['node_modules/ava/entrypoints/cli.mjs', ...avaArgs], {
  stdio: ['ignore', 'pipe', 'pipe'],
  env: { ...process.env, FORCE_COLOR: '0', ...(interop ? { NVMELAB_INTEROP: '1' } : {}) },
});
const count = { passed: 0, failed: 0, skipped: 0 };
const summary = [
  [/^\s*(\d+) tests? passed/, 'passed'],
  [/^\s*(\d+) tests? failed/, 'failed'],
  [/^\s*(\d+) tests? remained pending/, 'failed'],
  [/^\s*(\d+) uncaught exceptions?/, 'failed'],
  [/^\s*(\d+) unhandled rejections?/, 'failed'],
  [/^\s*(\d+) tests? skipped/, 'skipped'],
  [/^\s*(\d+) tests? todo/, 'skipped'],
  [/^\s*(\d+) known failures?/, 'skipped'],
];
let perTestPass = 0, perTestFail = 0;
function scan(line) {
  if (/^\s*✔/.test(line)) perTestPass++;
  else if (/^\s*✘/.test(line)) perTestFail++;
  for (const [re, key] of summary) {
    const m = re.exec(line);
    if (m) count[key] += Number(m[1]);
  }
}
for (const [stream, out] of [[ava.stdout, process.stdout], [ava.stderr, process.stderr]]) {
  createInterface({ input: stream }).on('line', (line) => { out.write(line + '\n'); scan(line); });
}
ava.on('close', (code) => {
  // ava prints "N tests passed" only when nothing failed; otherwise count the ✔ lines.
  if (count.passed === 0 && perTestPass > 0) count.passed = perTestPass;
  if (count.failed === 0 && perTestFail > 0) count.failed = perTestFail;
  if (!typeOk) count.failed++;
  if (code !== 0 && count.failed === 0) count.failed = 1; // ava itself failed without a per-test result
  const ok = typeOk && code === 0;
  console.log(`${count.passed} passed, ${count.failed} failed${count.skipped ? `, ${count.skipped} skipped` : ''}`);
  process.exit(ok ? 0 : 1);
});
