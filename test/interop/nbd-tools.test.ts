// Real NBD clients against nvmelab's NBD server, each target in its own
// process: qemu-io pattern write/verify at many offsets, qemu-img convert /
// compare round trips, nbdinfo, nbdcopy, fio's nbd engine with crc32c verify.
// Skips (with the package to install) when a tool is missing; only runs under
// `npm run test:interop` (NVMELAB_INTEROP=1).
import test, { type ExecutionContext } from 'ava';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  INTEROP, missing, run, shaped, startRnullTarget, startNvmeTarget, nvmeUnavailable, tempDir, seeded, type Target,
} from './harness.ts';

const targets = new Map<string, Target | string>();

test.before(async () => {
  if (!INTEROP) return;
  targets.set('rnull', await startRnullTarget());
  targets.set('nvme', await startNvmeTarget());
});

test.after.always(async () => {
  for (const t of targets.values()) if (typeof t !== 'string') await t.stop();
});

type Body = (t: ExecutionContext, target: Target) => Promise<void>;

/**
 * Register `title` for every target. When a tool or the target is unavailable the
 * test is not registered at all (a line says why), so the run neither fakes a pass
 * nor hides a result behind a skip marker; a target that fails to start fails.
 */
function interop(title: string, tools: readonly string[], body: Body, opts: { unix?: boolean } = {}): void {
  for (const kind of ['rnull', 'nvme']) {
    const why = missing(tools) ?? (kind === 'nvme' ? nvmeUnavailable(opts.unix === true) : undefined);
    if (why !== undefined) {
      console.log(`not run: ${kind}: ${title} — ${why}`);
      continue;
    }
    test.serial(`${kind}: ${title}`, async (t) => {
      const target = targets.get(kind);
      if (target === undefined || typeof target === 'string') {
        t.fail(`the ${kind} target did not start: ${target ?? 'unknown reason'}`);
        return;
      }
      await body(t, target);
    });
  }
}

function uri(target: Target, name: string): string {
  const u = target.uris.get(name);
  if (u === undefined) throw new Error(`${target.kind} has no export ${name}`);
  return u;
}

async function exportSize(u: string): Promise<number> {
  const r = await run('nbdinfo', ['--size', u]);
  if (r.status !== 0) throw new Error(`nbdinfo --size failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

interop('nbdinfo reports size, flags and block sizes; --list shows the exports', ['nbdinfo'], async (t, target) => {
  const u = uri(target, 'img');
  const r = await run('nbdinfo', ['--json', u]);
  t.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { protocol: string; exports: Array<Record<string, unknown>> };
  t.regex(j.protocol, /newstyle-fixed/);
  const e = j.exports[0] ?? {};
  t.true(Number(e['export-size']) > 0);
  t.is(e['is_read_only'], false);
  t.is(e['can_fua'], true);
  t.is(e['can_zero'], true);
  t.is(e['can_multi_conn'], true);
  if (shaped(target)) {
    t.is(e['export-size'], 16 * 1024 * 1024);
    t.is(e['block_size_minimum'], 4096);
    t.is(e['can_trim'], true);
  }
  t.is(e['block_size_maximum'], 32 * 1024 * 1024);
  const text = await run('nbdinfo', [u]);
  t.is(text.status, 0);
  t.regex(text.stdout, /export-size:/);
  if (shaped(target)) {
    const base = u.slice(0, u.lastIndexOf('/'));
    const list = await run('nbdinfo', ['--list', '--json', base]);
    t.is(list.status, 0, list.stderr);
    const names = (JSON.parse(list.stdout) as { exports: Array<{ 'export-name': string }> }).exports.map((x) => x['export-name']).sort();
    t.deepEqual(names, ['big', 'img']);
  }
});

interop('nbd+unix:// (UNIX socket): nbdinfo, qemu-io pattern round trip, visible over TCP too', ['nbdinfo', 'qemu-io'], async (t, target) => {
  const u = target.unixUris?.get('img');
  if (u === undefined) { t.fail(`${target.kind} has no UNIX-socket URI for img`); return; }
  t.regex(u, /^nbd\+unix:\/\/\/img\?socket=\//);
  const info = await run('nbdinfo', ['--json', u]);
  t.is(info.status, 0, info.stderr);
  const e = (JSON.parse(info.stdout) as { exports: Array<Record<string, unknown>> }).exports[0] ?? {};
  t.is(e['export-name'], 'img');
  t.is(e['export-size'], 16 * 1024 * 1024);
  let r = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x3c 1m 192k', '-c', 'read -P 0x3c 1m 192k', u]);
  t.is(r.status, 0, r.stderr);
  t.notRegex(r.stdout + r.stderr, /Pattern verification failed|error/i);
  // Same disk behind both listeners: the TCP export reads what the socket wrote.
  r = await run('qemu-io', ['-f', 'raw', '-c', 'read -P 0x3c 1m 192k', uri(target, 'img')]);
  t.is(r.status, 0, r.stderr);
  t.notRegex(r.stdout + r.stderr, /Pattern verification failed|error/i);
}, { unix: true });

interop('qemu-io write/read-verify patterns at many offsets and sizes', ['qemu-io'], async (t, target) => {
  const u = uri(target, 'big');
  const cases: Array<[number, string]> = [];
  // Aligned and unaligned offsets, small to 1 MiB, spread over the disk.
  const offsets = [0, 512, 4096, 65536 - 512, 1 << 20, (3 << 20) + 1536, 10 << 20, (32 << 20) - 4096, (63 << 20)];
  const sizes = ['512', '4k', '64k', '1m'];
  let p = 0x11;
  for (const off of offsets) for (const sz of sizes) cases.push([off, sz]);
  const args = ['-f', 'raw'];
  for (const [off, sz] of cases) {
    const pat = `0x${(p++ & 0xff).toString(16)}`;
    args.push('-c', `write -P ${pat} ${off} ${sz}`, '-c', `read -P ${pat} ${off} ${sz}`);
  }
  // Sub-sector I/O goes through qemu's read-modify-write against our 512 B minimum.
  args.push('-c', 'write -P 0x5a 100 300', '-c', 'read -P 0x5a 100 300');
  args.push('-c', 'write -z 4096 64k', '-c', 'read -P 0 4096 64k', '-c', 'flush');
  args.push(u);
  const r = await run('qemu-io', args);
  t.is(r.status, 0, r.stderr);
  t.notRegex(r.stdout + r.stderr, /Pattern verification failed|error/i);
  t.is((r.stdout.match(/^read /gm) ?? []).length, cases.length + 2);
});

interop('qemu-io with FUA writes and discard', ['qemu-io'], async (t, target) => {
  const u = uri(target, 'big');
  const r = await run('qemu-io', ['-f', 'raw', '-c', 'write -f -P 0x77 8m 256k', '-c', 'read -P 0x77 8m 256k',
    '-c', 'discard 8m 128k', '-c', 'write -P 0x78 8m 128k', '-c', 'read -P 0x78 8m 128k', '-c', 'read -P 0x77 8320k 128k', u]);
  t.is(r.status, 0, r.stderr);
  t.notRegex(r.stdout + r.stderr, /Pattern verification failed|error/i);
});

interop('qemu-img convert / compare round trip', ['qemu-img', 'nbdinfo'], async (t, target) => {
  const u = uri(target, 'img');
  const size = Math.min(await exportSize(u), 64 << 20);
  const tmp = tempDir();
  try {
    const src = join(tmp.dir, 'src.raw');
    const back = join(tmp.dir, 'back.raw');
    writeFileSync(src, seeded(size, 7));
    let r = await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', src, u]);
    t.is(r.status, 0, r.stderr);
    r = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, u]);
    t.is(r.status, 0, r.stdout + r.stderr);
    r = await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', u, back]);
    t.is(r.status, 0, r.stderr);
    t.true(readFileSync(back).subarray(0, size).equals(readFileSync(src)), 'image read back equals the source');
    // A differing byte is noticed.
    const changed = seeded(size, 7);
    changed[size - 1] = (changed[size - 1] ?? 0) ^ 0xff;
    writeFileSync(src, changed);
    r = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, u]);
    t.is(r.status, 1, 'compare reports the difference');
  } finally {
    tmp.cleanup();
  }
});

interop('nbdcopy file → nbd → file', ['nbdcopy', 'nbdinfo'], async (t, target) => {
  const u = uri(target, 'img');
  const size = Math.min(await exportSize(u), 64 << 20);
  const tmp = tempDir();
  try {
    const src = join(tmp.dir, 'src.raw');
    const dst = join(tmp.dir, 'dst.raw');
    writeFileSync(src, seeded(size, 99));
    let r = await run('nbdcopy', ['--connections=4', '--requests=32', src, u]);
    t.is(r.status, 0, r.stderr);
    r = await run('nbdcopy', ['--connections=2', u, dst]);
    t.is(r.status, 0, r.stderr);
    t.true(readFileSync(dst).subarray(0, size).equals(readFileSync(src)), 'nbdcopy round trip is byte-exact');
  } finally {
    tmp.cleanup();
  }
});

for (const [name, job] of [
  ['randwrite 4k qd32 + crc32c verify', ['--rw=randwrite', '--bs=4k', '--iodepth=32', '--size=16m']],
  ['randrw 16k qd8 + crc32c verify', ['--rw=randrw', '--bs=16k', '--iodepth=8', '--size=16m']],
  ['sequential write 1m qd4 + crc32c verify', ['--rw=write', '--bs=1m', '--iodepth=4', '--size=32m']],
] as const) {
  interop(`fio --ioengine=nbd ${name}`, ['fio-nbd'], async (t, target) => {
    const u = uri(target, 'big');
    const r = await run('fio', ['--name=nbdverify', '--ioengine=nbd', `--uri=${u}`, ...job, '--verify=crc32c',
      '--do_verify=1', '--verify_fatal=1', '--randseed=1234', '--output-format=json']);
    t.is(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { jobs: Array<{ error: number; read: { io_bytes: number }; write: { io_bytes: number } }> };
    const j = out.jobs[0];
    t.is(j?.error, 0);
    t.true((j?.write.io_bytes ?? 0) > 0);
    t.true((j?.read.io_bytes ?? 0) > 0, 'verify read the data back');
  });
}

interface MapExtent { offset: number; length: number; type: number; description: string }

/** The base:allocation type (NBD_STATE_* bits) nbdinfo reported at `offset`. */
function typeAt(map: readonly MapExtent[], offset: number): number | undefined {
  return map.find((e) => offset >= e.offset && offset < e.offset + e.length)?.type;
}

interop('nbdinfo --map and qemu-img map: base:allocation block status tells zeroes from data', ['nbdinfo', 'qemu-io', 'qemu-img'], async (t, target) => {
  const u = uri(target, 'img');
  const size = await exportSize(u);
  if (size < 16 * 1024 * 1024) { t.fail(`img is ${size} bytes, the test needs 16 MiB`); return; }
  // 8..12 MiB: zeroes with 64 KiB of data at 9 MiB (explicit zero writes, so
  // the result does not depend on earlier tests or on WRITE_ZEROES support).
  const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0 8m 4m', '-c', 'write -P 0x5a 9m 64k', u]);
  t.is(w.status, 0, w.stderr);
  const r = await run('nbdinfo', ['--map', '--json', u]);
  t.is(r.status, 0, r.stderr);
  const map = JSON.parse(r.stdout) as MapExtent[];
  // Contiguous extents covering the whole export.
  let at = 0;
  for (const e of map) { t.is(e.offset, at); at += e.length; }
  t.is(at, size);
  // The block layer cannot say what is unallocated, so zero ranges are "zero" (2), never "hole".
  t.is(typeAt(map, 8 * 1024 * 1024), 2);
  t.is(typeAt(map, 9 * 1024 * 1024), 0);
  t.is(typeAt(map, 9 * 1024 * 1024 + 64 * 1024 - 1), 0);
  t.is(typeAt(map, 9 * 1024 * 1024 + 64 * 1024), 2);
  t.is(typeAt(map, 12 * 1024 * 1024 - 1), 2);
  t.true(map.every((e) => (e.type & 1) === 0), 'no holes claimed');
  // qemu-img map sees the same through its NBD block driver.
  const q = await run('qemu-img', ['map', '-f', 'raw', '--output=json', u]);
  t.is(q.status, 0, q.stderr);
  const qm = JSON.parse(q.stdout) as Array<{ start: number; length: number; zero: boolean }>;
  const zeroAt = (off: number): boolean | undefined => qm.find((e) => off >= e.start && off < e.start + e.length)?.zero;
  t.is(zeroAt(8 * 1024 * 1024), true);
  t.is(zeroAt(9 * 1024 * 1024), false);
  t.is(zeroAt(10 * 1024 * 1024), true);
});
