// Stand-alone fio runner with in-process rnull disks (until the host daemon
// provides disks over its control channel):
//
//   node --import tsx host/tools/fio/main.ts --null=gb=1,memory_backed=1 fixtures/jobs/verify-crc32c.fio
//   node --import tsx host/tools/fio/main.ts --null=nr_devices=2 --name=r --filename=nullb1 --rw=randread --size=64m
//
// --null=key=value,… are null_blk module parameters (see `nvmelab null params`);
// the devices are nullb0, nullb1, … Everything else is fio's command line.
import { createNullDevices } from '../../drivers/rnull/index.ts';
import { runFio } from './cli.ts';
import { blockLayerHost } from './host.ts';

function parseNullParams(spec: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of spec.split(',')) {
    if (kv.trim() === '') continue;
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--null: expected key=value, got "${kv}"`);
    out[kv.slice(0, eq).trim()] = kv.slice(eq + 1).trim();
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  let nullSpec = 'nr_devices=1,gb=1,memory_backed=1,irqmode=1';
  const rest: string[] = [];
  for (const a of argv) {
    if (a.startsWith('--null=')) nullSpec = a.slice('--null='.length);
    else rest.push(a);
  }
  let params: Record<string, string>;
  try {
    params = parseNullParams(nullSpec);
  } catch (e) {
    process.stderr.write(`fio: ${(e as Error).message}\n`);
    return 1;
  }
  let devs;
  try {
    devs = await createNullDevices(params, { nrCpus: 2 });
  } catch (e) {
    process.stderr.write(`fio: --null: ${(e as Error).message}\n`);
    return 1;
  }
  const ac = new AbortController();
  const onSig = (): void => ac.abort();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  try {
    return await runFio(rest, { host: blockLayerHost(), stdout: process.stdout, stderr: process.stderr, signal: ac.signal });
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
    await devs.registry.destroy();
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`fio: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 2;
});
