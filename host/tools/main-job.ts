// The main job (`npm start`): the whole bench in one command. Starts a device
// daemon (its own process, port 0, default NVMe controller with one
// namespace, parent-death watchdog), a host in this process, attaches it
// (rnvme probe over ws), creates an rnull device, runs the same fio-style job
// with verify on each — random 4 KiB reads and writes — prints the results
// side by side (NVMe over the wire vs null in-process), shuts everything down
// in order (NBD-less host shutdown: rnvme CC.SHN → CSTS.SHST, rnull power-off,
// device daemon SIGTERM) and exits 0.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HostDaemon } from '../daemon/host.ts';
import { UsageError, parseFlags, formatFlags, getBool, getInt, getStr } from '../cli/args.ts';
import { MAIN_JOB_FLAGS } from './main-job-flags.ts';
import { createLogger, isLogLevel } from '../../src/util/log.ts';
import { getDisk } from '../block/index.ts';
import { parseCommandLine, resolveAll, runJobs, formatJson, formatNormal, blockLayerHost, type FioJson } from './fio/index.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const FLAGS = MAIN_JOB_FLAGS;

const USAGE = `usage: npm start -- [options]     (node --import tsx host/tools/main-job.ts [options])

The main job: a device daemon with an emulated NVMe controller (one namespace)
in its own process, and a host with the blk-mq block layer, the rnvme driver
attached to it over ws, and an rnull device; the same fio-style job (random
4 KiB reads and writes, verify=crc32c) runs on each, results side by side.

Options:
${formatFlags(FLAGS)}
`;

interface Device {
  proc: ChildProcess;
  url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Spawn the device daemon with a stdin watchdog; resolve on its ready line. */
function startDevice(logLevel: string): Promise<Device> {
  const proc = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'device/main.ts'), '--listen', '127.0.0.1:0', '--exit-on-stdin-eof', '--log-level', logLevel], {
    cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NVMELAB_TOKEN: '' },
  });
  let err = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (s: string) => {
    err += s;
    if (logLevel !== 'silent' && logLevel !== 'warn' && logLevel !== 'error' && logLevel !== 'fatal') process.stderr.write(s);
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  return new Promise((res, rej) => {
    let out = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      rej(new Error(`device daemon did not get ready in 30 s\n${err}`));
    }, 30_000);
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (s: string) => {
      out += s;
      const m = /listening (wss?:\/\/\S+)/.exec(out);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        res({ proc, url: m[1], stderr: () => err, exited });
      }
    });
    void exited.then((c) => {
      clearTimeout(timer);
      rej(new Error(`device daemon exited (${String(c)}) before it was ready\n${err}`));
    });
  });
}

async function stopDevice(d: Device): Promise<number | null> {
  if (d.proc.exitCode !== null || d.proc.signalCode !== null) return d.proc.exitCode;
  d.proc.kill('SIGTERM');
  const t = setTimeout(() => d.proc.kill('SIGKILL'), 10_000);
  const code = await d.exited;
  clearTimeout(t);
  d.proc.stdin?.destroy();
  return code;
}

// ── formatting (fio's units: IOPS with k suffix, MiB/s, usec) ───────────────

function iops(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(2)}k`;
  return v.toFixed(0);
}
function bw(kib: number): string {
  const mib = kib / 1024;
  return mib >= 1 ? `${mib.toFixed(1)}MiB/s (${((kib * 1024) / 1e6).toFixed(1)}MB/s)` : `${kib.toFixed(0)}KiB/s`;
}
function usec(ns: number): string {
  const u = ns / 1000;
  return u >= 10_000 ? `${(u / 1000).toFixed(2)}ms` : u >= 100 ? `${u.toFixed(0)}us` : `${u.toFixed(2)}us`;
}

interface Column {
  title: string;
  json: FioJson;
}

function sideBySide(cols: Column[]): string {
  const rows: [string, ...string[]][] = [];
  const add = (label: string, f: (j: FioJson) => string): void => {
    rows.push([label, ...cols.map((c) => f(c.json))]);
  };
  const job = (j: FioJson) => j.jobs[0];
  for (const dir of ['read', 'write'] as const) {
    add(`${dir}: IOPS`, (j) => iops(job(j)?.[dir].iops ?? 0));
    add(`${dir}: BW`, (j) => bw(job(j)?.[dir].bw ?? 0));
    add(`${dir}: ios`, (j) => String(job(j)?.[dir].total_ios ?? 0));
    add(`${dir}: clat avg`, (j) => usec(job(j)?.[dir].clat_ns.mean ?? 0));
    add(`${dir}: clat p50/p99/p99.9`, (j) => {
      const p = job(j)?.[dir].clat_ns.percentile ?? {};
      return ['50.000000', '99.000000', '99.900000'].map((k) => usec(p[k] ?? 0)).join(' / ');
    });
  }
  add('verify (crc32c)', (j) => {
    const x = job(j);
    if (x === undefined) return 'no job';
    const bad = x.verify_errors?.length ?? 0;
    return x.error === 0 && bad === 0 ? 'OK' : `FAILED (${bad} bad blocks, err=${x.error})`;
  });
  add('disk util', (j) => (j.disk_util[0] !== undefined ? `${j.disk_util[0].util.toFixed(2)}%` : '-'));
  const header: [string, ...string[]] = ['', ...cols.map((c) => c.title)];
  const all = [header, ...rows];
  const w = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd((w[i] ?? 0) + 3)).join('').trimEnd();
  return [line(header), line(w.map((x) => '-'.repeat(x))), ...rows.map(line)].join('\n');
}

// ── the job ─────────────────────────────────────────────────────────────────

async function main(argv: string[]): Promise<number> {
  let p;
  try {
    p = parseFlags(argv, FLAGS);
    if (p.positionals.length > 0) throw new UsageError(`unexpected argument '${p.positionals[0] ?? ''}'`);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`main-job: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (getBool(p, 'help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const runtime = getInt(p, 'runtime') ?? 3;
  const iodepth = getInt(p, 'iodepth') ?? 32;
  const bs = getStr(p, 'bs') ?? '4k';
  const size = getStr(p, 'size') ?? '256m';
  const level = getStr(p, 'log-level') ?? process.env.NVMELAB_LOG_LEVEL ?? 'warn';
  const log = createLogger('main-job', isLogLevel(level) ? level : 'warn');
  const say = (s: string): void => void process.stdout.write(`${s}\n`);

  const jobArgs = (disk: string): string[] => [
    `--name=${disk}`, `--filename=${disk}`, '--rw=randrw', '--rwmixread=50', `--bs=${bs}`, `--size=${size}`,
    `--iodepth=${iodepth}`, '--time_based=1', `--runtime=${runtime}`, '--verify=crc32c', '--verify_fatal=1', '--randseed=1234',
  ];
  // Validate the job (and --bs/--size) before starting anything.
  try {
    resolveAll(parseCommandLine(jobArgs('x')), () => '');
  } catch (e) {
    process.stderr.write(`main-job: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }

  say(`nvmelab main job: random ${bs} reads+writes (50/50), iodepth=${iodepth}, ${runtime} s per disk, verify=crc32c`);
  const ac = new AbortController();
  let interrupted = false;
  const onSig = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    ac.abort();
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  // Watchdog: nothing here may hang — each job is bounded by runtime + verify.
  const watchdog = setTimeout(() => {
    process.stderr.write('main-job: watchdog: the run took far too long, aborting\n');
    ac.abort();
  }, (runtime * 2 + 60) * 1000 * 2);
  watchdog.unref();

  let device: Device | undefined;
  const host = new HostDaemon({ logger: log, nrCpus: 2 });
  let failed = false;
  try {
    device = await startDevice(level);
    say(`device   daemon pid ${device.proc.pid ?? '?'} listening ${device.url} (NVMe controller, 1 namespace)`);
    const ctrl = await host.attach(device.url);
    const nvmeDisk = ctrl.summary().namespaces[0]?.disk;
    if (nvmeDisk === undefined) throw new Error(`${ctrl.name} has no namespace`);
    const describe = (name: string): string => {
      const d = getDisk(name);
      return d === undefined ? name : `${name} (${(d.capacityBytes / 2 ** 20).toFixed(0)} MiB, ${d.limits.logicalBlockSize} B blocks)`;
    };
    say(`host     ${ctrl.name}: ${describe(nvmeDisk)} — rnvme over the wire`);
    const nullDisk = await host.createNull('nullb0,gb=1,memory_backed=1');
    say(`host     ${describe(nullDisk)} — rnull in-process`);
    say('');

    const cols: Column[] = [];
    for (const [disk, title] of [[nvmeDisk, `${nvmeDisk} (rnvme, over ws)`], [nullDisk, `${nullDisk} (rnull, in-process)`]] as const) {
      if (ac.signal.aborted) break;
      process.stdout.write(`fio      ${disk}: running… `);
      const jobs = resolveAll(parseCommandLine(jobArgs(disk)), () => '');
      const res = await runJobs(jobs, { host: blockLayerHost(), signal: ac.signal, onNote: (s) => log.info(s) });
      const json = formatJson(res);
      const j = json.jobs[0];
      say(`done (${(((j?.read.total_ios ?? 0) + (j?.write.total_ios ?? 0))).toLocaleString('en-US')} I/Os${res.exitCode === 0 ? ', verify OK' : ', ERRORS'})`);
      if (getBool(p, 'full')) say(formatNormal(res));
      if (res.exitCode !== 0) failed = true;
      cols.push({ title, json });
    }
    say('');
    if (cols.length > 0) say(sideBySide(cols));
    say('');
  } catch (e) {
    failed = true;
    process.stderr.write(`main-job: ${e instanceof Error ? e.message : String(e)}\n`);
  } finally {
    clearTimeout(watchdog);
    const names = host.listControllers().map((c) => c.name);
    await host.shutdown('main job done');
    const code = device !== undefined ? await stopDevice(device) : null;
    if (device !== undefined) {
      say(`shutdown ${names.length > 0 ? `${names.join(', ')}: orderly (CC.SHN → CSTS.SHST complete), ` : ''}nullb0 powered off, device daemon exited ${String(code)}`);
      if (code !== 0) {
        failed = true;
        process.stderr.write(`main-job: device daemon exit code ${String(code)}\n${device.stderr()}`);
      }
    }
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
  if (interrupted) return 130;
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), 200).unref();
  },
  (e: unknown) => {
    process.stderr.write(`main-job: fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
