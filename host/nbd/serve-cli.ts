#!/usr/bin/env node
// Stand-alone NBD server (the host daemon's nbd-export does the same inside a
// full host): builds rnull disks (or plain in-memory disks) in this process and
// exports them over NBD. Used by the NBD interop tests and benches.
//
//   node --import tsx host/nbd/serve-cli.ts --null nullb0,size=1024 --listen 127.0.0.1:0
//   → stdout, one line when ready: "nbd://127.0.0.1:40123/nullb0" (space-separated if several)
//
// Options:
//   --null <name>[,size=MiB][,<null_blk attr>=<v>…]  rnull disk via configfs attrs
//        (memory_backed=1 and discard=1 unless given: clients verify data)
//   --memory <name>[,size=MiB][,bs=B]    in-memory disk without the block layer (baseline)
//   --export <disk>[,name=..][,ro][,desc=..]  export options for a disk (default: every disk, rw)
//   --listen <spec>        repeatable; 127.0.0.1:10809 | [::1]:0 | unix:/path (default 127.0.0.1:10809)
//   --allow-remote         permit non-loopback listen addresses
//   --read-only            every export read-only
//   --max-connections <n>  default 16
//   --nr-cpus <n>          logical CPUs of the rnull tag sets (default 4)
//   --log-level <lvl>      pino level on stderr (default warn)
//   --watchdog-stdin       exit when stdin reaches EOF (parent died)
import { parseArgs } from 'node:util';
import { parseIntArg } from '../cli/args.ts';
import { createLogger } from '../../src/util/log.ts';
import { NullBlkRegistry } from '../drivers/rnull/index.ts';
import { startNbdServer, parseExportSpec, type NbdExportOptions, type NbdExportSpec } from './index.ts';
import { openBlockBackend } from './disk.ts';
import { MemoryBackend } from './memory-backend.ts';
import type { NbdBackend } from './backend.ts';

function parseKv(spec: string, what: string): { name: string; kv: Map<string, string> } {
  const [name, ...rest] = spec.split(',');
  if (name === undefined || !/^[A-Za-z0-9_.-]{1,32}$/.test(name)) throw new Error(`${what} ${spec}: bad disk name`);
  const kv = new Map<string, string>();
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new Error(`${what} ${spec}: expected key=value, got '${p}'`);
    kv.set(p.slice(0, eq), p.slice(eq + 1));
  }
  return { name, kv };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      null: { type: 'string', multiple: true },
      memory: { type: 'string', multiple: true },
      export: { type: 'string', multiple: true },
      listen: { type: 'string', multiple: true },
      'allow-remote': { type: 'boolean' },
      'read-only': { type: 'boolean' },
      'max-connections': { type: 'string' },
      'nr-cpus': { type: 'string' },
      'log-level': { type: 'string' },
      'watchdog-stdin': { type: 'boolean' },
    },
    strict: true,
  });
  const log = createLogger('nbd', values['log-level']);
  if (values['watchdog-stdin']) {
    process.stdin.on('end', () => process.exit(0));
    process.stdin.on('error', () => process.exit(0));
    process.stdin.resume();
  }
  const nrCpus = values['nr-cpus'] !== undefined ? parseIntArg(values['nr-cpus'], '--nr-cpus', 1, 1024) : 4;
  const backends = new Map<string, NbdBackend>();
  const nullSpecs = values.null ?? [];
  let registry: NullBlkRegistry | undefined;
  if (nullSpecs.length > 0) {
    registry = new NullBlkRegistry({ nrCpus, logger: log });
    for (const spec of nullSpecs) {
      const { name, kv } = parseKv(spec, '--null');
      if (!kv.has('memory_backed')) kv.set('memory_backed', '1');
      if (!kv.has('discard')) kv.set('discard', '1');
      registry.create(name);
      for (const [k, v] of kv) await registry.setAttr(name, k, v);
      await registry.power(name, 1);
      backends.set(name, openBlockBackend(name));
    }
  }
  for (const spec of values.memory ?? []) {
    const { name, kv } = parseKv(spec, '--memory');
    // The buffer is one Node Buffer (< 4 GiB); NBD block sizes are powers of two up to 64 KiB.
    const mib = parseIntArg(kv.get('size') ?? '1024', `--memory ${name} size`, 1, 4095);
    const bs = parseIntArg(kv.get('bs') ?? '512', `--memory ${name} bs`, 512, 65536);
    if ((bs & (bs - 1)) !== 0) throw new Error(`--memory ${name} bs: ${bs} is not a power of two`);
    backends.set(name, new MemoryBackend({ sizeBytes: mib * 1024 * 1024, logicalBlockSize: bs, maxIoBytes: 1024 * 1024 }));
  }
  if (backends.size === 0) throw new Error('nothing to export: give --null or --memory');

  const specs = new Map<string, NbdExportSpec>();
  for (const e of values.export ?? []) { const s = parseExportSpec(e); specs.set(s.disk, s); }
  const exports: NbdExportOptions[] = [];
  for (const [disk, backend] of backends) {
    const s = specs.get(disk);
    if (specs.size > 0 && !s) continue;
    exports.push({ name: s?.name ?? disk, backend, readOnly: s?.readOnly ?? false, description: s?.description ?? `nvmelab ${disk}` });
  }
  for (const s of specs.values()) if (!backends.has(s.disk)) throw new Error(`--export ${s.disk}: no such disk`);
  const listen = [...(values.listen ?? []), ...[...specs.values()].flatMap((s) => (s.listen ? [s.listen] : []))];

  const server = await startNbdServer({
    listen: listen.length > 0 ? listen : undefined,
    exports,
    readOnly: values['read-only'] ?? false,
    maxConnections: values['max-connections'] !== undefined ? parseIntArg(values['max-connections'], '--max-connections', 1, 4096) : 16,
    allowRemote: values['allow-remote'] ?? false,
    logger: log,
  });
  process.stdout.write(server.uris.join(' ') + '\n');

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await server.close();
    if (registry) for (const n of registry.list()) await registry.remove(n).catch(() => undefined);
    process.exit(0);
  };
  process.on('SIGINT', () => { void stop(); });
  process.on('SIGTERM', () => { void stop(); });
}

main().catch((e: unknown) => {
  process.stderr.write(`nbd serve: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
