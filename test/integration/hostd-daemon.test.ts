// The host daemon as a process: attach a real device daemon (token), rnull
// and an NBD export from the command line; the CLI finds it through the
// state file or --host; SIGTERM shuts down in order and exits 0.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevice } from '../helpers/daemon.ts';
import { connectNbd } from '../../host/nbd/index.ts';
import { cli } from '../unit/hostd-helpers.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface HostProc {
  lines: string[];
  controlUrl: string;
  stderr: () => string;
  exited: Promise<number | null>;
  kill: (sig: NodeJS.Signals) => void;
}

function startHost(args: string[], env: Record<string, string | undefined>): Promise<HostProc> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'host/main.ts', '--exit-on-stdin-eof', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (s: string) => (err += s));
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  return new Promise((res, rej) => {
    let out = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      rej(new Error(`host not ready:\n${out}\n${err}`));
    }, 30_000);
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (s: string) => {
      out += s;
      const m = /^control (ws:\/\/\S+)$/m.exec(out);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        res({ lines: out.trimEnd().split('\n'), controlUrl: m[1], stderr: () => err, exited, kill: (sig) => proc.kill(sig) });
      }
    });
    void exited.then((c) => {
      clearTimeout(timer);
      rej(new Error(`host exited ${String(c)} before ready:\n${out}\n${err}`));
    });
  });
}

test('host daemon: attach + null + export at start-up, CLI via state file and --host, SIGTERM → exit 0', async (t) => {
  const dev = await startDevice({ token: 'devtok' });
  t.teardown(() => dev.stop());
  const dir = mkdtempSync(join(tmpdir(), 'hostd-int-'));
  const state = join(dir, 'host.json');
  const env = { NVMELAB_HOST_STATE: state, PATH: process.env.PATH };
  const host = await startHost([
    '--attach', dev.url, '--token', 'devtok', '--rnvme', 'io_queues=1,io_queue_depth=64',
    '--null', 'nullb0,size=64,memory_backed=1', '--export', 'nullb0', '--nbd-listen', '127.0.0.1:0',
    '--control-token', 'ctl', '--state-file', state,
  ], {});
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) {
      host.kill('SIGKILL');
      await host.exited;
    }
  });
  t.regex(host.lines[0] ?? '', /^attached nvme0 ws:\/\/127\.0\.0\.1:\d+\/ nvme0n1$/);
  t.is(host.lines[1], 'null nullb0');
  const exp = /^export (nbd:\/\/127\.0\.0\.1:\d+\/nullb0)$/.exec(host.lines[2] ?? '');
  t.truthy(exp, host.lines.join('\n'));
  t.true(existsSync(state));

  // The CLI finds the host through the state file.
  const ls = await cli(['list', '-o', 'json'], env);
  t.is(ls.code, 0, ls.err);
  const disks = (JSON.parse(ls.out) as { disks: { name: string; driver: string; controller?: string }[] }).disks;
  t.deepEqual(disks.map((d) => [d.name, d.driver]), [['nullb0', 'rnull'], ['nvme0n1', 'rnvme']]);

  // Real nvme-cli JSON from the emulated controller over the wire.
  const at = ['--host', host.controlUrl, '--token', 'ctl'];
  const nl = await cli([...at, 'nvme', 'list', '-o', 'json'], env);
  t.is(nl.code, 0, nl.err);
  const d0 = (JSON.parse(nl.out) as { Devices: Record<string, unknown>[] }).Devices[0];
  t.like(d0, { DevicePath: '/dev/nvme0n1', NameSpace: 1 });
  const sm = await cli([...at, 'nvme', 'smart-log', 'nvme0', '-o', 'json'], env);
  t.is(sm.code, 0, sm.err);
  const smart = JSON.parse(sm.out) as Record<string, number>;
  for (const k of ['critical_warning', 'temperature', 'avail_spare', 'data_units_read', 'data_units_written', 'host_read_commands', 'host_write_commands', 'power_cycles', 'unsafe_shutdowns', 'media_errors', 'num_err_log_entries']) t.is(typeof smart[k], 'number', k);

  // fio over the control channel against the nvme namespace, with verify.
  const fio = await cli([...at, 'fio', '--name=v', '--filename=nvme0n1', '--rw=randwrite', '--bs=4k', '--size=1m', '--iodepth=4', '--verify=crc32c', '--output-format=json'], env);
  t.is(fio.code, 0, fio.err);
  t.is((JSON.parse(fio.out) as { jobs: { write: { total_ios: number }; error: number }[] }).jobs[0]?.write.total_ios, 256);
  const sm2 = JSON.parse((await cli([...at, 'nvme', 'smart-log', 'nvme0', '-o', 'json'], env)).out) as Record<string, number>;
  t.true((sm2.host_write_commands ?? 0) >= (smart.host_write_commands ?? 0) + 256);

  // The NBD export works.
  const nbd = await connectNbd({ uri: exp?.[1] });
  await nbd.write(4096, Buffer.alloc(4096, 0x5a));
  t.deepEqual(await nbd.read(4096, 4096), Buffer.alloc(4096, 0x5a));
  await nbd.disconnect();

  // A wrong token is one line, exit 1.
  const bad = await cli(['--host', host.controlUrl, '--token', 'nope', 'list'], env);
  t.is(bad.code, 1);
  t.regex(bad.err, /401/);

  // The launcher runs the same CLI.
  const viaBin = await new Promise<{ code: number | null; out: string }>((res) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin/nvmelab.js'), 'list'], { cwd: ROOT, env: { ...process.env, ...env } });
    let out = '';
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (s: string) => (out += s));
    p.on('exit', (code) => res({ code, out }));
  });
  t.is(viaBin.code, 0);
  t.regex(viaBin.out, /nvme0n1\s+rnvme/);

  stopped = true;
  host.kill('SIGTERM');
  t.is(await host.exited, 0, host.stderr());
  t.false(existsSync(state), 'state file removed on shutdown');
  t.notRegex(host.stderr(), /"level":(50|60)/, 'no error logs');
  // The device daemon outlived the host and accepts a new one (the old one detached cleanly).
  const again = await cli(['--device', `${dev.url}#devtok`, 'nvme', 'id-ctrl', 'nvme0', '-o', 'json'], env);
  t.is(again.code, 0, again.err);
  t.is(typeof (JSON.parse(again.out) as { vid: number }).vid, 'number');
});

test('host daemon: start-up failure (unreachable device) is one line, exit 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hostd-int-'));
  const host = startHost(['--attach', 'ws://127.0.0.1:1/', '--state-file', join(dir, 'h.json')], {});
  const err = await t.throwsAsync(host);
  t.regex(err?.message ?? '', /exited 1/);
  t.regex(err?.message ?? '', /nvmelab host: .*127\.0\.0\.1:1/);
});
