// ava runs TypeScript through tsx. On Node 20 the loader does not reach worker
// threads, so tests run in child processes (see shared TOOLCHAIN.md).
export default {
  files: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  concurrency: 2,
  timeout: '120s',
};
