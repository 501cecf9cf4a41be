// Fuzz both QMP control channels as real processes (PROTOCOL.md "Control
// channel"): the device daemon's /control and the host daemon's control
// server. Malformed JSON, non-objects, wrong member types, unexpected members,
// unknown commands, random arguments of wrong types, huge arguments, and
// commands before qmp_capabilities: each is answered by one QMP error object
// (class + one-line desc) or a return, and the channel keeps working. Seeded.
import test from 'ava';
import { spawn } from 'node:child_process';
import { resolve, dirname, join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { startDevice, qmp, type QmpClient } from '../helpers/daemon.ts';
import { Mulberry32 } from '../../src/util/prng.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Seeded malformed QMP inputs. */
function qmpCorpus(r: Mulberry32, commands: readonly string[]): string[] {
  const out: string[] = [];
  const junk = (): unknown => {
    switch (r.below(8)) {
      case 0: return r.nextU32();
      case 1: return 'y'.repeat(r.below(30));
      case 2: return null;
      case 3: return [r.below(5), 'a'];
      case 4: return { nested: { deeper: [r.below(3)] } };
      case 5: return -r.below(1e6) / 7;
      case 6: return true;
      default: return 'n' + String(r.nextU32());
    }
  };
  for (let i = 0; i < 60; i++) {
    switch (r.below(9)) {
      case 0: out.push('{"execute": "query-status"'.slice(0, 1 + r.below(25))); break; // truncated JSON
      case 1: out.push(String.fromCharCode(...Array.from({ length: 1 + r.below(20) }, () => 1 + r.below(255)))); break;
      case 2: out.push(JSON.stringify(junk())); break; // not an object
      case 3: out.push(JSON.stringify({ execute: junk(), id: i })); break; // wrong type for execute
      case 4: out.push(JSON.stringify({ execute: commands[r.below(commands.length)], arguments: junk(), id: i })); break;
      case 5: out.push(JSON.stringify({ execute: 'no-such-' + String(r.nextU32()), id: i })); break;
      case 6: out.push(JSON.stringify({ execute: 'query-status', [String(junk())]: 1, id: i })); break; // unexpected member
      case 7: {
        const args: Record<string, unknown> = {};
        for (let k = 0; k < 1 + r.below(4); k++) args[['name', 'nsid', 'size', 'plan', 'id', 'attr', 'value', 'disk', 'x'][r.below(9)] ?? 'x'] = junk();
        out.push(JSON.stringify({ execute: commands[r.below(commands.length)], arguments: args, id: i }));
        break;
      }
      default: out.push(JSON.stringify({ execute: commands[r.below(commands.length)], arguments: { name: 'z'.repeat(200_000 + r.below(100_000)) }, id: i })); // huge argument
    }
  }
  return out;
}

async function fuzzSession(t: import('ava').ExecutionContext, ctl: QmpClient, cmds: readonly string[], seeds: number[]): Promise<void> {
  for (const seed of seeds) {
    for (const text of qmpCorpus(new Mulberry32(seed), cmds)) {
      const a = await ctl.raw(text);
      t.true('error' in a || 'return' in a, `${text.slice(0, 80)} → ${JSON.stringify(a).slice(0, 200)}`);
      if ('error' in a) {
        const er = a.error as { class?: unknown; desc?: unknown };
        t.is(typeof er.class, 'string');
        t.is(typeof er.desc, 'string');
        t.false(String(er.desc).includes('\n'), `one-line desc: ${String(er.desc)}`);
      }
    }
  }
  t.is(typeof (await ctl.execute('query-status')), 'object', 'still serving');
}

async function beforeCapabilities(t: import('ava').ExecutionContext, url: string, token: string): Promise<void> {
  const pre = await qmp(url, token, { negotiate: false });
  t.teardown(() => pre.close());
  t.like(await pre.raw(JSON.stringify({ execute: 'query-status', id: 1 })), { error: { class: 'CommandNotFound' }, id: 1 });
  t.like(await pre.raw('{"execute": "qmp_capabilities"}'), { return: {} });
  t.is(typeof (await pre.execute('query-status')), 'object');
}

test('device /control: malformed input → QMP error objects; the channel keeps working', async (t) => {
  const dev = await startDevice({ args: ['-device', 'nvme,serial=fuzz', '-device', 'nvme-ns,nsid=1,size=8M'] });
  t.teardown(() => dev.stop());
  await beforeCapabilities(t, dev.controlUrl, '');
  const ctl = await qmp(dev.controlUrl);
  t.teardown(() => ctl.close());
  // Commands that do not end the test's daemon (no quit / device-remove).
  await fuzzSession(t, ctl, ['query-status', 'query-device', 'query-commands', 'fault-list', 'fault-clear', 'fault-inject', 'device-add', 'qmp_capabilities'], [31, 32]);
  t.notRegex(dev.stderr(), /threw|uncaught/i);
});

test('host daemon control: malformed input → QMP error objects; the channel keeps working', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fuzz-qmp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const proc = spawn(process.execPath, ['--import', 'tsx', 'host/main.ts', '--exit-on-stdin-eof', '--null', 'nullb0,size=16,memory_backed=1', '--control-token', 'fz'],
    { cwd: ROOT, env: { ...process.env, NVMELAB_HOST_STATE: join(dir, 'host.json') }, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (s: string) => (err += s));
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  const url = await new Promise<string>((res, rej) => {
    let out = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (s: string) => {
      out += s;
      const m = /^control (ws:\/\/\S+)$/m.exec(out);
      if (m?.[1] !== undefined) res(m[1]);
    });
    void exited.then((c) => rej(new Error(`host exited ${String(c)}: ${out}\n${err}`)));
  });
  await beforeCapabilities(t, url, 'fz');
  const ctl = await qmp(url, 'fz');
  t.teardown(() => ctl.close());
  // Commands that cannot end the daemon or start long work (no quit, fio-run, host-attach).
  await fuzzSession(t, ctl, ['query-status', 'query-disks', 'query-blockstats', 'query-nbd', 'query-controllers', 'query-commands', 'null-list',
    'null-get', 'null-set', 'null-create', 'null-mkdir', 'null-power', 'null-features', 'queue-get', 'queue-set', 'nbd-unexport', 'fio-cancel', 'nvme-admin'], [51, 52]);
  // nullb0 is still there and its attributes readable.
  const disks = await ctl.execute('query-disks');
  t.regex(JSON.stringify(disks), /nullb0/);
  t.notRegex(err, /threw|uncaught|TypeError|RangeError/i);
});
