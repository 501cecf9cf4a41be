// The host daemon's entry point (`npm run host -- …`, `nvmelab host …`):
//   node --import tsx host/main.ts [--attach ws://HOST:PORT/[#TOKEN]]... [--null nullb0,gb=1]... [--export DISK]...
// Ready → `control ws://HOST:PORT/control` on stdout; logs on stderr.
import { runCli } from './cli/main.ts';

runCli(['host', ...process.argv.slice(2)], { stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), 100).unref();
  },
  (e: unknown) => {
    process.stderr.write(`nvmelab host: fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
