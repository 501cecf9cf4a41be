// `nvmelab` CLI entry (bin/nvmelab.js re-execs node with tsx on this file).
import { runCli } from './main.ts';

const ac = new AbortController();
let interrupted = 0;
const onInt = (): void => {
  // First ^C: stop long runs (fio, stat, export) cleanly; second: exit now.
  if (++interrupted > 1) process.exit(130);
  ac.abort();
};
const argv = process.argv.slice(2);
// `host` and `device` add their own handlers (clean shutdown / forwarding).
process.on('SIGINT', onInt);

runCli(argv, { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: ac.signal }).then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), 100).unref();
  },
  (e: unknown) => {
    process.stderr.write(`nvmelab: fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
