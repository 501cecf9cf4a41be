// Fuzz the NBD transmission phase against a real server exporting rnull disks:
// random request streams (valid magic with random types/flags/offsets/lengths,
// writes with their payload) and trailing garbage. Each request gets a simple
// reply (an errno for what is invalid) or the connection closes; the server
// never crashes, another connection keeps working meanwhile, a second export
// is untouched, and blocks of the fuzzed disk no request named keep their data.
import test from 'ava';
import { connect, type Socket } from 'node:net';
import { startNbdServer, openBlockBackend, connectNbd } from '../../host/nbd/index.ts';
import { NullBlkRegistry } from '../../host/drivers/rnull/index.ts';
import { NBD_REQUEST_MAGIC, NBD_SIMPLE_REPLY_MAGIC, NBD_OPT_EXPORT_NAME } from '../../host/nbd/protocol.ts';
import { Mulberry32 } from '../../src/util/prng.ts';

const MiB = 1 << 20;
const SIZE = 8 * MiB;
const BLOCK = 4096;

/** A byte stream reader: resolves exact-length reads, or undefined once the socket has closed. */
class Reader {
  private buf = Buffer.alloc(0);
  private want: { n: number; res: (b: Buffer | undefined) => void } | undefined;
  closed = false;
  constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.pump();
    });
    const end = (): void => {
      this.closed = true;
      this.pump();
    };
    sock.on('close', end);
    sock.on('error', end);
  }
  private pump(): void {
    const w = this.want;
    if (w === undefined) return;
    if (this.buf.length >= w.n) {
      this.want = undefined;
      const out = this.buf.subarray(0, w.n);
      this.buf = this.buf.subarray(w.n);
      w.res(Buffer.from(out));
    } else if (this.closed) {
      this.want = undefined;
      w.res(undefined);
    }
  }
  read(n: number): Promise<Buffer | undefined> {
    return new Promise((res) => {
      this.want = { n, res };
      this.pump();
    });
  }
}

/** Fixed-newstyle handshake with NBD_OPT_EXPORT_NAME (simple replies only). */
async function open(port: number, name: string): Promise<{ sock: Socket; rd: Reader; size: bigint }> {
  const sock = connect(port, '127.0.0.1');
  await new Promise<void>((res, rej) => {
    sock.once('connect', () => res());
    sock.once('error', rej);
  });
  const rd = new Reader(sock);
  const greet = await rd.read(18);
  if (greet === undefined) throw new Error('no greeting');
  const cf = Buffer.alloc(4);
  cf.writeUInt32BE(3); // FIXED_NEWSTYLE | NO_ZEROES
  const opt = Buffer.alloc(16 + name.length);
  opt.write('IHAVEOPT', 0, 'latin1');
  opt.writeUInt32BE(NBD_OPT_EXPORT_NAME, 8);
  opt.writeUInt32BE(name.length, 12);
  opt.write(name, 16, 'latin1');
  sock.write(Buffer.concat([cf, opt]));
  const info = await rd.read(10);
  if (info === undefined) throw new Error('export refused');
  return { sock, rd, size: info.readBigUInt64BE(0) };
}

function request(type: number, flags: number, cookie: bigint, offset: bigint, length: number): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt32BE(NBD_REQUEST_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.writeBigUInt64BE(cookie, 8);
  b.writeBigUInt64BE(offset, 16);
  b.writeUInt32BE(length >>> 0, 24);
  return b;
}

const pattern = (len: number, seed: number): Buffer => {
  const r = new Mulberry32(seed);
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = r.below(256);
  return b;
};

async function setup(seed: number): Promise<{ port: number; close: () => Promise<void>; reg: NullBlkRegistry; errors: string[] }> {
  const reg = new NullBlkRegistry({ nrCpus: 2 });
  const names = [`fzn${seed}a`, `fzn${seed}b`];
  for (const n of names) {
    reg.create(n);
    for (const [k, v] of Object.entries({ size: SIZE / MiB, memory_backed: 1, discard: 1, irqmode: 0, blocksize: 512 })) await reg.setAttr(n, k, v);
    await reg.power(n, 1);
  }
  const errors: string[] = [];
  const srv = await startNbdServer({
    listen: '127.0.0.1:0',
    exports: [
      { name: 'fuzz', backend: openBlockBackend(names[0] ?? '') },
      { name: 'other', backend: openBlockBackend(names[1] ?? '') },
    ],
  });
  const a = srv.addresses[0];
  const port = a !== undefined && a.kind === 'tcp' ? a.port : 0;
  return {
    port, reg, errors,
    close: async () => {
      await srv.close();
      await reg.destroy();
    },
  };
}

for (const seed of [41, 42, 43]) {
  test(`random request streams: errno replies or a close; other connections, exports and untouched blocks intact (seed ${seed})`, async (t) => {
    t.timeout(20_000, 'an NBD request got neither a reply nor a close');
    const { port, close } = await setup(seed);
    t.teardown(close);
    // Known data everywhere, through a well-behaved client.
    const good = await connectNbd({ host: '127.0.0.1', port, exportName: 'fuzz' });
    const other = await connectNbd({ host: '127.0.0.1', port, exportName: 'other' });
    const base = pattern(SIZE, seed);
    await good.write(0, base);
    await other.write(0, pattern(SIZE, seed + 1));
    const touched = new Set<number>(); // 4 KiB blocks some fuzz request could legitimately change
    const touch = (off: bigint, len: number): void => {
      if (off >= BigInt(SIZE)) return;
      const o = Number(off);
      for (let b = Math.floor(o / BLOCK); b * BLOCK < Math.min(SIZE, o + Math.max(len, 1)); b++) touched.add(b);
    };
    const r = new Mulberry32(seed);
    let replies = 0;
    let closes = 0;
    for (let conn = 0; conn < 10; conn++) {
      const { sock, rd, size } = await open(port, 'fuzz');
      t.is(size, BigInt(SIZE));
      let cookie = 1n;
      let last = '';
      for (let i = 0; i < 60; i++) {
        const type = r.below(6) === 0 ? r.below(0x10000) : [0, 1, 3, 4, 5, 6, 7, 8, 0, 1][r.below(10)] ?? 0;
        if (type === 2) continue; // NBD_CMD_DISC: a polite close, not what is fuzzed here
        const flags = r.below(3) === 0 ? r.below(0x10000) : [0, 1, 2, 4, 8][r.below(5)] ?? 0;
        const offset = r.below(4) === 0 ? BigInt(r.nextU32()) * BigInt(r.nextU32()) : BigInt(r.below(SIZE / 512 + 64) * 512 + (r.below(8) === 0 ? r.below(512) : 0));
        const length = r.below(4) === 0 ? r.nextU32() : r.below(8) === 0 ? 0 : (1 + r.below(64)) * 512 + (r.below(8) === 0 ? r.below(512) : 0);
        const garbage = r.below(40) === 0;
        if (type === 1 || type === 4 || type === 6) touch(offset, length);
        const c = cookie++;
        if (garbage) {
          last = 'garbage';
          // At least one header's worth with a wrong magic: shorter is just a request still arriving.
          const g = pattern(28 + r.below(40), seed * 1000 + i);
          if (g.readUInt32BE(0) === NBD_REQUEST_MAGIC) g[0] = 0;
          sock.write(g);
        } else {
          sock.write(request(type, flags, c, offset, length));
          if (type === 1 && length <= 32 * MiB) sock.write(Buffer.alloc(length, i)); // the payload, unless the length is beyond any limit
          last = `type ${type} flags ${flags} offset ${offset} length ${length}`;
        }
        const hdr = await Promise.race([rd.read(16), new Promise<'stuck'>((res) => setTimeout(() => res('stuck'), 8000).unref())]);
        if (hdr === 'stuck') throw new Error(`no reply and no close after ${last}`);
        if (hdr === undefined) {
          closes++;
          break;
        }
        t.is(hdr.readUInt32BE(0), NBD_SIMPLE_REPLY_MAGIC, 'simple reply');
        t.is(hdr.readBigUInt64BE(8), c, 'cookie echoed');
        const err = hdr.readUInt32BE(4);
        replies++;
        if (type === 0 && err === 0) {
          const data = await rd.read(length);
          t.truthy(data, 'read payload follows a successful read reply');
        }
        // Meanwhile the well-behaved connection keeps working.
        if (i % 20 === 0) t.is((await other.read(4096, 512)).length, 512);
      }
      sock.destroy();
    }
    t.true(replies > 30, `replies ${replies}, closes ${closes}`);
    // The other export is untouched; blocks no request named keep their data.
    t.true((await other.read(0, SIZE)).equals(pattern(SIZE, seed + 1)), 'other export intact');
    const now = await good.read(0, SIZE);
    let bad = -1;
    for (let b = 0; b < SIZE / BLOCK && bad < 0; b++) {
      if (!touched.has(b) && !now.subarray(b * BLOCK, (b + 1) * BLOCK).equals(base.subarray(b * BLOCK, (b + 1) * BLOCK))) bad = b;
    }
    t.is(bad, -1, `block ${bad} changed though no request named it`);
    await good.disconnect();
    await other.disconnect();
  });
}
